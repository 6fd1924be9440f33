//! Routes that exist only when `TEST_ROUTES` is on (the `test` environment of
//! `wrangler.toml`); configuration refuses that flag in production.

use crate::accounts::repo::Users;
use crate::auth::session;
use crate::context::Ctx;
use crate::domain::{Email, Issue, Role};
use crate::error::{AppError, ErrorCode};
use crate::http::ApiResponse;
use serde_json::json;

/// Panics on purpose, to prove the crash is answered in the API's shape and the next request
/// is served. With `?after=io`, only once a KV read has come back: the panic then happens in a
/// later poll, inside a microtask, rather than in the call from the runtime.
pub async fn panic(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    if cx.query("after")?.as_deref() == Some("io") {
        let _ = cx.sessions()?.probe().await;
    }
    panic!("deliberate panic from the test-only route");
}

/// Reads a small JSON body through the standard boundary and echoes the parsed values, so
/// tests can exercise 415, 413, 400 and 422 handling end to end.
pub async fn echo(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let mut input = cx.input(&["email", "name"]).await?;
    let email = input.required("email", Email::parse);
    let name = input.required("name", parse_name);
    input.finish()?;
    let (Some(email), Some(name)) = (email, name) else {
        return Err(AppError::internal("validated fields missing"));
    };
    ApiResponse::json(200, &json!({"email": email, "name": name}))
}

fn parse_name(raw: &str) -> Result<String, Issue> {
    match raw.trim().chars().count() {
        0 => Err("empty"),
        1..=100 => Ok(raw.trim().to_owned()),
        _ => Err("too_long"),
    }
}

/// Sets a user's role by e-mail (`{"email", "role"}`), so tests can create administrators.
/// In a real deployment use `wrangler d1 execute` (see the README).
pub async fn set_role(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let mut input = cx.input(&["email", "role"]).await?;
    let email = input.required("email", Email::parse);
    let role = input.required("role", |s| Role::parse(s).ok_or("invalid_value"));
    input.finish()?;
    let (Some(email), Some(role)) = (email, role) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let user = Users::new(&*cx.db()?).set_role(&email, role).await?;
    // A privilege change ends every session: the next login carries the new role.
    session::revoke_all(&cx.sessions()?, &user.id, None).await?;
    ApiResponse::json(200, &user.public())
}

/// Increments a user's `session_epoch` without touching KV (`{"email"}`): what a revocation
/// looks like from a location KV has not yet caught up with. Sensitive routes must refuse
/// the old session while ordinary ones still accept it.
pub async fn bump_epoch(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let mut input = cx.input(&["email"]).await?;
    let email = input.required("email", Email::parse);
    input.finish()?;
    let email = email.ok_or_else(|| AppError::internal("validated fields missing"))?;
    let db = cx.db()?;
    let users = Users::new(&db);
    let user = users
        .by_email(&email)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    users.bump_epoch(&user.id).await?;
    Ok(ApiResponse::empty(204))
}

/// Answers 200. Routed twice: under the `test` rate-limit policy (50 per hour per IP by
/// default, for exactness tests) and with no policy at all (the benchmark's baseline for the
/// cost of one limiter check).
pub async fn limited(_cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    #[derive(serde::Serialize)]
    struct Body {
        ok: bool,
    }
    ApiResponse::json(200, &Body { ok: true })
}

/// Reports the size of the Wasm linear memory (the Rust heap lives there), so the benchmark
/// can check that it does not grow with traffic.
pub async fn memory(_cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let bytes = crate::platform::wasm_memory_bytes();
    ApiResponse::json(200, &json!({"wasm_memory_bytes": bytes}))
}

/// Reports this isolate's cache counters and L1 usage, so tests can count database loads.
pub async fn cache_stats(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let (stats, (entries, bytes)) = crate::cache::stats(&cx.config().cache);
    ApiResponse::json(
        200,
        &json!({"stats": stats, "l1": {"entries": entries, "bytes": bytes}}),
    )
}

//! Liveness and readiness.
//!
//! `GET /v1/health` proves the isolate runs and touches nothing else, so it is cheap enough
//! for frequent probes. `GET /v1/health/ready` checks that each binding answers (KV, D1, the
//! Durable Object namespace), concurrently, and names the ones that failed.

use crate::app::Ctx;
use crate::error::{AppError, FieldIssue};
use crate::http::ApiResponse;
use serde_json::json;

/// Binding names, as declared in `wrangler.toml`.
pub const KV_BINDING: &str = "SESSIONS";
pub const D1_BINDING: &str = "DB";
pub const LIMITER_BINDING: &str = "RATE_LIMITER";

/// Answers 200 with the status and the crate version.
pub async fn live(_cx: Ctx) -> Result<ApiResponse, AppError> {
    ApiResponse::json(
        200,
        &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    )
}

/// Answers 200 when every binding responds, else 503 naming each failed one.
pub async fn ready(cx: Ctx) -> Result<ApiResponse, AppError> {
    let (kv, d1, durable_objects) =
        futures_util::join!(check_kv(&cx), check_d1(&cx), check_durable_object(&cx));
    let checks = [("kv", kv), ("d1", d1), ("durable_objects", durable_objects)];
    let failed: Vec<_> = checks.iter().filter(|(_, r)| r.is_err()).collect();
    if failed.is_empty() {
        return ApiResponse::json(
            200,
            &json!({"status": "ok", "checks": {"kv": "ok", "d1": "ok", "durable_objects": "ok"}}),
        );
    }
    let causes: Vec<String> = failed
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    let details = failed
        .iter()
        .map(|(name, _)| FieldIssue::new(*name, "unavailable"))
        .collect();
    Err(AppError::unavailable(causes.join("; "), 5)
        .with_message("One or more dependencies are unavailable.")
        .with_details(details))
}

async fn check_kv(cx: &Ctx) -> worker::Result<()> {
    let kv = cx.env.kv(KV_BINDING)?;
    kv.get("readiness-probe").text().await?;
    Ok(())
}

async fn check_d1(cx: &Ctx) -> worker::Result<()> {
    let db = cx.env.d1(D1_BINDING)?;
    db.prepare("SELECT 1 AS one")
        .first::<serde_json::Value>(None)
        .await?;
    Ok(())
}

async fn check_durable_object(cx: &Ctx) -> worker::Result<()> {
    let ns = cx.env.durable_object(LIMITER_BINDING)?;
    let stub = ns.id_from_name("readiness-probe")?.get_stub()?;
    let resp = stub.fetch_with_str("https://rate-limiter/ping").await?;
    if resp.status_code() == 200 {
        Ok(())
    } else {
        Err(worker::Error::RustError(format!(
            "status {}",
            resp.status_code()
        )))
    }
}

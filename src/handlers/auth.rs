//! Accounts and sessions: signup, login, logout, the caller's sessions, password change.

use crate::accounts::{User, Users};
use crate::app::Ctx;
use crate::auth::kv_store::KvSessions;
use crate::auth::session::{self, Session, SessionStore};
use crate::auth::token::SessionToken;
use crate::auth::{cookie, password};
use crate::config::KV_BINDING;
use crate::domain::{Email, Password};
use crate::error::{AppError, ErrorCode, FieldIssue};
use crate::http::json::Input;
use crate::http::ApiResponse;
use serde::Serialize;
use serde_json::json;

fn sessions(cx: &Ctx) -> Result<KvSessions, AppError> {
    KvSessions::new(&cx.env, KV_BINDING)
}

/// Reads `{"email", "password"}`.
async fn credentials(cx: &mut Ctx) -> Result<(Email, Password), AppError> {
    let mut input = Input::new(cx.json_body().await?, &["email", "password"])?;
    let email = input.required("email", Email::parse);
    let password = input.required("password", Password::parse);
    input.finish()?;
    email
        .zip(password)
        .ok_or_else(|| AppError::internal("validated fields missing"))
}

/// `POST /v1/auth/signup`: creates an account (role `user`); 409 if the e-mail is taken.
pub async fn signup(mut cx: Ctx) -> Result<ApiResponse, AppError> {
    let (email, password) = credentials(&mut cx).await?;
    let hash = password::hash(password.as_bytes(), password::ITERATIONS).await?;
    let db = cx.db()?;
    let user = Users::new(&db).insert(&email, &hash, cx.now).await?;
    Ok(ApiResponse::json(201, &user.public())?
        .with_header("Location", format!("/v1/admin/users/{}", user.id)))
}

/// The one answer for every failed login, whatever the reason.
fn bad_credentials() -> AppError {
    AppError::new(ErrorCode::Unauthenticated).with_message("The e-mail or password is incorrect.")
}

/// `POST /v1/auth/login`: verifies the password and starts a new session.
///
/// Unknown e-mails are checked against [`password::DUMMY_HASH`], so both failures cost one
/// PBKDF2 run and give the same answer. A session the request already carried is deleted:
/// login always issues a fresh token (no session fixation).
pub async fn login(mut cx: Ctx) -> Result<ApiResponse, AppError> {
    let (email, password) = credentials(&mut cx).await?;
    // Per-e-mail limit across all IPs; the key is a digest so no address names an object.
    let email_key = crate::auth::token::digest_hex(email.as_str().as_bytes());
    cx.rate_limit(crate::ratelimit::KeyKind::Email, &email_key)
        .await?;
    let db = cx.db()?;
    let users = Users::new(&db);
    let user = users.by_email(&email).await?;
    let stored = user
        .as_ref()
        .map_or(password::DUMMY_HASH, |u| u.password_hash.as_str());
    let matches = password::verify(password.as_bytes(), stored).await?;
    let Some(mut user) = user.filter(|_| matches) else {
        return Err(bad_credentials());
    };
    if password::needs_rehash(&user.password_hash) {
        let hash = password::hash(password.as_bytes(), password::ITERATIONS).await?;
        user = users.set_password(&user.id, &hash, false).await?;
    }

    let store = sessions(&cx)?;
    if let Some(old) = presented_token(&cx) {
        if let Some(found) = session::authenticate(&store, &old, cx.now, &cx.config.session).await?
        {
            store
                .remove(
                    &found.storage_key,
                    &found.session.user_id,
                    &found.session.id,
                )
                .await?;
        }
    }
    let (token, session) = start_session(&cx, &store, &user).await?;
    Ok(ApiResponse::json(
        200,
        &json!({"user": user.public(), "session_id": session.id}),
    )?
    .with_header(
        "Set-Cookie",
        cookie::set(&token.encode(), cookie_max_age(&cx)),
    ))
}

fn presented_token(cx: &Ctx) -> Option<SessionToken> {
    let header = cx.header("cookie")?;
    SessionToken::parse(cookie::find(&header)?)
}

fn cookie_max_age(cx: &Ctx) -> u64 {
    cx.config.session.absolute_ms / 1000
}

async fn start_session(
    cx: &Ctx,
    store: &KvSessions,
    user: &User,
) -> Result<(SessionToken, Session), AppError> {
    let user_agent = cx.header("user-agent").unwrap_or_default();
    let record = Session::new(
        &user.id,
        user.role,
        user.session_epoch,
        &user_agent,
        cx.now,
        &cx.config.session,
    );
    session::create(store, record, cx.now).await
}

/// `POST /v1/auth/logout`: deletes the current session and the cookie.
pub async fn logout(cx: Ctx) -> Result<ApiResponse, AppError> {
    let (key, session) = cx.principal()?.session()?;
    sessions(&cx)?
        .remove(key, &session.user_id, &session.id)
        .await?;
    Ok(ApiResponse::empty(204).with_header("Set-Cookie", cookie::clear()))
}

/// `POST /v1/auth/logout-all`: revokes every session of the caller, this one included.
pub async fn logout_all(cx: Ctx) -> Result<ApiResponse, AppError> {
    let (_, session) = cx.principal()?.session()?;
    Users::new(&*cx.db()?).bump_epoch(&session.user_id).await?;
    session::revoke_all(&sessions(&cx)?, &session.user_id, None).await?;
    Ok(ApiResponse::empty(204).with_header("Set-Cookie", cookie::clear()))
}

/// `GET /v1/auth/me`: the caller.
pub async fn me(cx: Ctx) -> Result<ApiResponse, AppError> {
    match cx.principal()? {
        crate::auth::Principal::Session { session, .. } => {
            let user = Users::new(&*cx.db()?)
                .by_id(&session.user_id)
                .await?
                .ok_or_else(|| crate::auth::unauthenticated(true))?;
            ApiResponse::json(200, &json!({"kind": "user", "user": user.public()}))
        }
        crate::auth::Principal::Service(svc) => ApiResponse::json(
            200,
            &json!({"kind": "service", "subject": svc.subject, "scopes": svc.scopes}),
        ),
    }
}

#[derive(Serialize)]
struct SessionView<'a> {
    id: &'a str,
    created_at: u64,
    last_seen_at: u64,
    user_agent: &'a str,
    current: bool,
}

/// `GET /v1/auth/sessions`: the caller's sessions, newest first, the current one marked.
pub async fn list_sessions(cx: Ctx) -> Result<ApiResponse, AppError> {
    let (_, current) = cx.principal()?.session()?;
    let mut entries = sessions(&cx)?.list(&current.user_id).await?;
    entries.sort_by_key(|e| std::cmp::Reverse(e.summary.created_at));
    let items: Vec<SessionView> = entries
        .iter()
        .map(|e| {
            let is_current = e.summary.id == current.id;
            SessionView {
                id: &e.summary.id,
                created_at: e.summary.created_at,
                // The index is refreshed at most once per touch interval.
                last_seen_at: if is_current {
                    current.last_seen_at
                } else {
                    e.summary.last_seen_at
                },
                user_agent: &e.summary.user_agent,
                current: is_current,
            }
        })
        .collect();
    ApiResponse::json(200, &json!({ "items": items }))
}

/// `DELETE /v1/auth/sessions/{id}`: revokes one of the caller's sessions. Another user's
/// session id answers 404, exactly like an unknown one.
pub async fn delete_session(cx: Ctx) -> Result<ApiResponse, AppError> {
    let (_, current) = cx.principal()?.session()?;
    let id = cx.param("id").unwrap_or_default();
    let store = sessions(&cx)?;
    let entry = store
        .list(&current.user_id)
        .await?
        .into_iter()
        .find(|e| e.summary.id == id)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    store
        .remove(&entry.storage_key, &current.user_id, &entry.summary.id)
        .await?;
    let resp = ApiResponse::empty(204);
    Ok(if entry.summary.id == current.id {
        resp.with_header("Set-Cookie", cookie::clear())
    } else {
        resp
    })
}

/// `POST /v1/auth/password` with `{"current_password", "new_password"}`: changes the
/// password, revokes every other session, and rotates the current one (new token, new epoch).
pub async fn change_password(mut cx: Ctx) -> Result<ApiResponse, AppError> {
    let mut input = Input::new(cx.json_body().await?, &["current_password", "new_password"])?;
    let current_pw = input.required("current_password", Password::parse_existing);
    let new_pw = input.required("new_password", Password::parse);
    input.finish()?;
    let (current_pw, new_pw) = current_pw
        .zip(new_pw)
        .ok_or_else(|| AppError::internal("validated fields missing"))?;

    let (_, session) = cx.principal()?.session()?;
    let db = cx.db()?;
    let users = Users::new(&db);
    let user = users
        .by_id(&session.user_id)
        .await?
        .ok_or_else(|| crate::auth::unauthenticated(true))?;
    if !password::verify(current_pw.as_bytes(), &user.password_hash).await? {
        return Err(AppError::validation(vec![FieldIssue::new(
            "current_password",
            "incorrect",
        )]));
    }
    let hash = password::hash(new_pw.as_bytes(), password::ITERATIONS).await?;
    let user = users.set_password(&user.id, &hash, true).await?;

    let store = sessions(&cx)?;
    // Every session goes, the current one included; the caller continues on a fresh one.
    session::revoke_all(&store, &user.id, None).await?;
    let (token, _) = start_session(&cx, &store, &user).await?;
    Ok(ApiResponse::empty(204).with_header(
        "Set-Cookie",
        cookie::set(&token.encode(), cookie_max_age(&cx)),
    ))
}

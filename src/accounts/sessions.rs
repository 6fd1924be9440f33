//! The caller's sessions: list them, revoke one.

use crate::auth::cookie;
use crate::auth::session::SessionStore;
use crate::context::Ctx;
use crate::domain::SessionId;
use crate::error::{AppError, ErrorCode};
use crate::http::ApiResponse;
use serde::Serialize;
use serde_json::json;

#[derive(Serialize)]
struct SessionView<'a> {
    id: &'a SessionId,
    created_at: u64,
    last_seen_at: u64,
    user_agent: &'a str,
    current: bool,
}

/// `GET /v1/auth/sessions`: the caller's sessions that can still be used, newest first, the
/// current one marked.
pub async fn list(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let (_, current) = cx.session()?;
    let mut entries = cx.sessions()?.list(&current.user_id).await?;
    // A session that idled out keeps its index entry until KV expires it with the absolute
    // lifetime; it can no longer be used, so it is not listed.
    let (now, policy) = (cx.now(), &cx.config().session);
    entries.retain(|e| e.summary.id == current.id || e.summary.live(now, policy));
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
/// session id answers 404, exactly like an unknown or malformed one.
pub async fn delete(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let (_, current) = cx.session()?;
    let id = cx.id(SessionId::parse)?;
    let store = cx.sessions()?;
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

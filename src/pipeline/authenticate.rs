//! Who is calling: a bearer JWT (a service), else the session cookie (a browser). An
//! `Authorization` header in another scheme is not a credential here and is passed over.

use crate::accounts::repo::Users;
use crate::auth::session::{self, SessionStore};
use crate::auth::token::SessionToken;
use crate::auth::{cookie, csrf, service_token, unauthenticated, Principal};
use crate::context::Ctx;
use crate::error::AppError;
use crate::http::Method;

/// Identifies the caller of a non-public route. Cookie-authenticated unsafe requests must
/// pass the CSRF check; `sensitive` routes also check the session against the user's row
/// (strongly consistent), so a session revoked moments ago in KV cannot use them.
pub async fn authenticate(
    cx: &Ctx,
    method: Method,
    sensitive: bool,
) -> Result<Principal, AppError> {
    let config = cx.config();
    let authorization = cx.header("authorization").unwrap_or_default();
    if let Some(token) = service_token::bearer(&authorization) {
        if token.is_empty() {
            return Err(unauthenticated(false));
        }
        return service_token::verify(token, &config.jwt, cx.now()).map(Principal::Service);
    }

    let cookies = cx.header("cookie").unwrap_or_default();
    let Some(raw) = cookie::find(&cookies) else {
        return Err(unauthenticated(false));
    };
    let token = SessionToken::parse(raw).ok_or_else(|| unauthenticated(true))?;
    if !method.is_safe() {
        csrf::check(
            cx.header("origin").as_deref(),
            cx.header("sec-fetch-site").as_deref(),
            &config.allowed_origins,
            cx.own_origin(),
        )?;
    }
    let store = cx.sessions()?;
    let now = cx.now();
    let found = session::authenticate(&store, &token, now, &config.session)
        .await?
        .ok_or_else(|| unauthenticated(true))?;
    let storage_key = found.storage_key;
    let session = match found.touch {
        Some(touched) => {
            // Best effort: a missed refresh only leaves last_seen_at older than it could be.
            let _ = store.save(&storage_key, &touched, now).await;
            touched
        }
        None => found.session,
    };

    if sensitive {
        let db = cx.db()?;
        let user = Users::new(&db).by_id(&session.user_id).await?;
        let current =
            user.is_some_and(|u| u.session_epoch == session.epoch && u.role == session.role);
        if !current {
            store
                .remove(&storage_key, &session.user_id, &session.id)
                .await?;
            return Err(unauthenticated(true));
        }
    }
    Ok(Principal::Session {
        storage_key,
        session,
    })
}

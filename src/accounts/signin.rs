//! What every way of signing in ends with: the session the request carried (if any) is
//! deleted, a new one starts, and its token goes out in the cookie. Password login, passkey
//! login, passkey sign-up and e-mail links all end here, so none can differ.

use super::User;
use crate::auth::cookie;
use crate::auth::kv_store::KvSessions;
use crate::auth::session::{self, Session, SessionStore, SignIn};
use crate::auth::token::SessionToken;
use crate::context::Ctx;
use crate::error::AppError;
use crate::http::ApiResponse;
use serde_json::json;

/// The session token the request presented, if any.
pub fn presented_token(cx: &Ctx) -> Option<SessionToken> {
    let header = cx.header("cookie")?;
    SessionToken::parse(cookie::find(&header)?)
}

/// The `Set-Cookie` value for a new session, living as long as the session may.
pub fn session_cookie(cx: &Ctx, token: &SessionToken) -> String {
    cookie::set(&token.encode(), cx.config().session.absolute_ms / 1000)
}

/// Starts and stores a session for `user`, who has just proven the account `with` this.
pub async fn start_session(
    cx: &Ctx,
    store: &KvSessions,
    user: &User,
    with: SignIn,
) -> Result<(SessionToken, Session), AppError> {
    let user_agent = cx.header("user-agent").unwrap_or_default();
    let record = Session::new(
        &user.id,
        user.role,
        user.session_epoch,
        &user_agent,
        with,
        cx.now(),
        &cx.config().session,
    );
    session::create(store, record, cx.now()).await
}

/// Ends the presented session, if any, and starts a new one for `user` (no session
/// fixation); returns it and its `Set-Cookie` value.
pub async fn fresh_session(
    cx: &Ctx,
    user: &User,
    with: SignIn,
) -> Result<(Session, String), AppError> {
    let store = cx.sessions()?;
    if let Some(old) = presented_token(cx) {
        let found = session::authenticate(&store, &old, cx.now(), &cx.config().session).await?;
        if let Some(found) = found {
            let s = &found.session;
            store.remove(&found.storage_key, &s.user_id, &s.id).await?;
        }
    }
    let (token, session) = start_session(cx, &store, user, with).await?;
    Ok((session, session_cookie(cx, &token)))
}

/// 200 `{"user", "session_id"}` with the new session's cookie.
pub async fn signed_in(cx: &Ctx, user: &User, with: SignIn) -> Result<ApiResponse, AppError> {
    let (session, cookie) = fresh_session(cx, user, with).await?;
    Ok(ApiResponse::json(
        200,
        &json!({"user": user.public(), "session_id": session.id}),
    )?
    .with_header("Set-Cookie", cookie))
}

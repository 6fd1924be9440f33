//! Accounts: signup, login, logout, the caller, password change, and the administrators'
//! view of users.

use super::notices::{self, Change};
use super::repo::Users;
use super::signin::{self, start_session};
use super::User;
use crate::auth::session::{self, SessionStore, SignIn};
use crate::auth::token::digest_hex;
use crate::auth::{cookie, password, unauthenticated, Principal};
use crate::context::Ctx;
use crate::domain::{Email, Password, UserId};
use crate::error::{AppError, ErrorCode, FieldIssue};
use crate::http::ApiResponse;
use crate::ratelimit::KeyKind;
use serde_json::json;

/// Reads `{"email", "password"}`, the password with `password_rule`: [`Password::parse`] for
/// one being chosen, [`Password::parse_existing`] for one being checked (a login is compared
/// with what is stored, so raising the length rule never locks an account out, and a short
/// guess fails like any wrong one).
async fn credentials(
    cx: &mut Ctx,
    password_rule: fn(&str) -> Result<Password, crate::domain::Issue>,
) -> Result<(Email, Password), AppError> {
    let mut input = cx.input(&["email", "password"]).await?;
    let email = input.required("email", Email::parse);
    let password = input.required("password", password_rule);
    input.finish()?;
    email
        .zip(password)
        .ok_or_else(|| AppError::internal("validated fields missing"))
}

/// The answer to every password route when `PASSWORD_LOGIN` is off.
fn passwords_off(cx: &Ctx) -> Result<(), AppError> {
    if cx.config().password_login {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::NotFound)
            .with_message("Password sign-in is turned off; use a passkey or an e-mail link."))
    }
}

/// `GET /v1/auth/methods`: which ways of signing in this deployment offers, so a sign-in
/// screen shows only those (each one's routes answer 404 while it is off).
pub async fn methods(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let config = cx.config();
    ApiResponse::json(
        200,
        &json!({
            "passkeys": config.webauthn.is_some(),
            "email_links": config.mailer.is_some(),
            "passwords": config.password_login,
        }),
    )
}

/// `POST /v1/auth/signup`: creates an account (role `user`); 409 if the e-mail is taken.
pub async fn signup(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    passwords_off(cx)?;
    let (email, password) = credentials(cx, Password::parse).await?;
    let hash = password::hash(password.as_bytes(), password::ITERATIONS).await?;
    let user = Users::new(&*cx.db()?)
        .insert(&email, &hash, cx.now())
        .await?;
    Ok(ApiResponse::json(201, &user.public())?.with_header("Location", user.location()))
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
pub async fn login(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    passwords_off(cx)?;
    let (email, password) = credentials(cx, Password::parse_existing).await?;
    // Per-e-mail limit across all IPs; the key is a digest so no address names an object.
    cx.limit(KeyKind::Email, &digest_hex(email.as_str().as_bytes()))
        .await?;
    let db = cx.db()?;
    let users = Users::new(&db);
    // An account without a password (made with a passkey) fails like an unknown one.
    let user = users.by_email(&email).await?.filter(|u| u.has_password());
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

    signin::signed_in(cx, &user, SignIn::Password).await
}

/// `POST /v1/auth/logout`: deletes the current session and the cookie.
pub async fn logout(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let (key, session) = cx.session()?;
    cx.sessions()?
        .remove(key, &session.user_id, &session.id)
        .await?;
    Ok(ApiResponse::empty(204).with_header("Set-Cookie", cookie::clear()))
}

/// `POST /v1/auth/logout-all`: revokes every session of the caller, this one included.
pub async fn logout_all(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let user_id = cx.user_id()?;
    Users::new(&*cx.db()?).bump_epoch(user_id).await?;
    session::revoke_all(&cx.sessions()?, user_id, None).await?;
    Ok(ApiResponse::empty(204).with_header("Set-Cookie", cookie::clear()))
}

/// `DELETE /v1/auth/me`: deletes the caller's account, what it owns and every session, and
/// clears the cookie (204). It needs a session that signed in less than
/// [`session::FRESH_PROOF_MS`] ago, by any method: else 403 `REAUTHENTICATION_REQUIRED`, and
/// the client signs in again first. The address is told afterwards.
pub async fn delete_account(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let (_, session) = cx.session()?;
    if !session.recently_signed_in(cx.now()) {
        return Err(AppError::new(ErrorCode::ReauthenticationRequired).with_message(
            "Deleting the account needs a recent sign-in: sign in again, then delete it within \
             five minutes.",
        ));
    }
    let user = Users::new(&*cx.db()?)
        .delete(&session.user_id)
        .await?
        .ok_or_else(|| unauthenticated(true))?;
    session::revoke_all(&cx.sessions()?, &user.id, None).await?;
    cx.cache(&user.id).invalidate().await;
    notices::send(
        cx,
        &user.id,
        Some(user.email.as_str()),
        Change::AccountDeleted,
    );
    Ok(ApiResponse::empty(204).with_header("Set-Cookie", cookie::clear()))
}

/// `GET /v1/auth/me`: the caller.
pub async fn me(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    match cx.principal()? {
        Principal::Session { session, .. } => {
            let user = Users::new(&*cx.db()?)
                .by_id(&session.user_id)
                .await?
                .ok_or_else(|| unauthenticated(true))?;
            ApiResponse::json(200, &json!({"kind": "user", "user": user.public()}))
        }
        Principal::Service(svc) => ApiResponse::json(
            200,
            &json!({"kind": "service", "subject": svc.subject, "scopes": svc.scopes}),
        ),
    }
}

/// `POST /v1/auth/password` with `{"current_password", "new_password"}`: sets the password,
/// revokes every other session, and rotates the current one (new token, new epoch).
///
/// `current_password` proves the account. Within [`session::FRESH_PROOF_MS`] of signing in
/// with a passkey or an e-mail link the session is that proof and it may be left out: that is
/// how an account made with a passkey adds a password, and how a forgotten one is replaced.
/// When it is sent, it is checked.
pub async fn change_password(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    passwords_off(cx)?;
    let fresh = cx.session()?.1.freshly_proven(cx.now());
    let mut input = cx.input(&["current_password", "new_password"]).await?;
    let current_pw = if fresh {
        input.optional("current_password", Password::parse_existing)
    } else {
        input.required("current_password", Password::parse_existing)
    };
    let new_pw = input.required("new_password", Password::parse);
    input.finish()?;
    let new_pw = new_pw.ok_or_else(|| AppError::internal("validated field missing"))?;

    let db = cx.db()?;
    let users = Users::new(&db);
    let user = users
        .by_id(cx.user_id()?)
        .await?
        .ok_or_else(|| unauthenticated(true))?;
    if let Some(current_pw) = current_pw {
        let current = if user.has_password() {
            user.password_hash.as_str()
        } else {
            password::DUMMY_HASH
        };
        if !password::verify(current_pw.as_bytes(), current).await? || !user.has_password() {
            return Err(AppError::validation(vec![FieldIssue::new(
                "current_password",
                "incorrect",
            )]));
        }
    }
    let change = if user.has_password() {
        Change::PasswordChanged
    } else {
        Change::PasswordAdded
    };
    let hash = password::hash(new_pw.as_bytes(), password::ITERATIONS).await?;
    let user = users.set_password(&user.id, &hash, true).await?;

    let store = cx.sessions()?;
    // Every session goes, the current one included; the caller continues on a fresh one.
    session::revoke_all(&store, &user.id, None).await?;
    let (token, _) = start_session(cx, &store, &user, SignIn::Password).await?;
    notices::send(cx, &user.id, Some(user.email.as_str()), change);
    Ok(ApiResponse::empty(204).with_header("Set-Cookie", signin::session_cookie(cx, &token)))
}

/// `GET /v1/admin/users?limit=&cursor=`: every account, oldest first.
pub async fn admin_list(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let page = cx.page::<(u64, UserId)>()?;
    let mut users = Users::new(&*cx.db()?)
        .page(page.after.as_ref(), page.limit + 1)
        .await?;
    let more = users.len() > page.limit as usize;
    users.truncate(page.limit as usize);
    let next_cursor = match users.last() {
        Some(last) if more => Some(cx.cursor(&(last.created_at, &last.id))),
        _ => None,
    };
    let items: Vec<_> = users.iter().map(User::public).collect();
    ApiResponse::json(200, &json!({"items": items, "next_cursor": next_cursor}))
}

/// `GET /v1/admin/users/{id}`: one account (where signup's `Location` points).
pub async fn admin_get(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let id = cx.id(UserId::parse)?;
    let user = Users::new(&*cx.db()?)
        .by_id(&id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    ApiResponse::json(200, &user.public())
}

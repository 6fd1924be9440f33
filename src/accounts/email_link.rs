//! Signing in with a link sent by e-mail: the fallback for a lost passkey. The link carries a
//! one-time token (32 random bytes; only its hash is stored, for 15 minutes, in the database,
//! which spends it atomically: one sign-in per link) in its fragment,
//! so it never reaches a server log; the page posts it. A bare `GET` of the link never signs
//! in, so mail scanners that follow links cannot spend it. The answer is the same, and comes
//! as fast, whether or not an account has the address: the token is stored and the mail sent
//! after the answer, and an address without an account gets a decoy link stored, so the
//! database moves alike. Signing in with a link spends the account's other links.

use super::notices::{self, Change};
use super::repo::{SignInLinks, Users};
use super::signin;
use crate::auth::one_time;
use crate::auth::session::{self, SignIn};
use crate::auth::token::digest_hex;
use crate::auth::webauthn::{b64, b64_encode};
use crate::context::Ctx;
use crate::domain::Email;
use crate::error::{AppError, ErrorCode};
use crate::http::ApiResponse;
use crate::mail::{self, Mail};
use crate::ratelimit::KeyKind;
use serde_json::json;

/// How long a link works.
pub const LIFETIME_MS: u64 = 15 * 60 * 1000;

const KIND: &str = "email-link";

fn mailer(cx: &Ctx) -> Result<crate::config::MailerConfig, AppError> {
    cx.config().mailer.clone().ok_or_else(|| {
        AppError::new(ErrorCode::NotFound).with_message("E-mail links are not enabled.")
    })
}

/// The link for `token`: the page, with the token in the fragment.
pub fn link(base: &str, token: &[u8]) -> String {
    format!(
        "{}/#token={}",
        base.trim_end_matches('/'),
        b64_encode(token)
    )
}

/// `POST /v1/auth/email-link` with `{"email"}`: 202 whether or not an account has that
/// address (no enumeration); when one does, a sign-in link is mailed to it.
pub async fn request(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let mailer = mailer(cx)?;
    let mut input = cx.input(&["email"]).await?;
    let email = input.required("email", Email::parse);
    input.finish()?;
    let email = email.ok_or_else(|| AppError::internal("validated field missing"))?;
    cx.limit(KeyKind::Email, &digest_hex(email.as_str().as_bytes()))
        .await?;
    // Both answers take the same path, and the same work follows them: a link is filed
    // either way (a decoy, which nobody holds, when no account has the address), so neither
    // the answer, its timing nor how far the database moved tells whether the account exists.
    let user = Users::new(&*cx.db()?).by_email(&email).await?;
    let token = one_time::secret()?;
    let (now, expires_at) = (cx.now(), cx.now() + LIFETIME_MS);
    let mail = user.as_ref().map(|_| sign_in_mail(cx, &email, &token));
    let user_id = user.map(|u| u.id);
    let db = cx.db()?;
    let key = one_time::key(KIND, &token);
    cx.after_answer("email_link_not_sent", async move {
        SignInLinks::new(&db)
            .file(&key, user_id.as_ref(), expires_at, now)
            .await?;
        match mail {
            Some(mail) => mail::send(&mailer, &mail).await,
            None => Ok(()),
        }
    });
    ApiResponse::json(
        202,
        &json!({"message": "If an account has this address, a sign-in link is on its way."}),
    )
}

/// The message that carries the link for `token` to `email`.
fn sign_in_mail(cx: &Ctx, email: &Email, token: &[u8]) -> Mail {
    let link = link(&notices::app_base(cx), token);
    let site = notices::site_name(cx);
    Mail {
        to: email.as_str().to_owned(),
        subject: format!("Sign in to {site}"),
        text: format!(
            "Open this link to sign in to {site}. It works once, for 15 minutes:\n\n{link}\n\n\
             If you did not ask for it, ignore this message."
        ),
        link: Some(link),
    }
}

fn invalid_link() -> AppError {
    AppError::new(ErrorCode::Unauthenticated)
        .with_message("This sign-in link is invalid, used or expired; ask for a new one.")
}

/// Reads a token: 32 bytes, base64url.
fn parse_token(raw: &str) -> Result<[u8; 32], &'static str> {
    b64(raw)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or("invalid_format")
}

/// `POST /v1/auth/email-link/verify` with `{"token"}`: spends the link and signs in (200 and
/// a new session, like every other sign-in); 401 when the link is unknown, used or expired.
/// The account's first link proves its address and removes what was set up before it.
pub async fn verify(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    mailer(cx)?;
    let mut input = cx.input(&["token"]).await?;
    let token = input.required("token", parse_token);
    input.finish()?;
    let token = token.ok_or_else(|| AppError::internal("validated field missing"))?;
    let db = cx.db()?;
    let user_id = SignInLinks::new(&db)
        .take(&one_time::key(KIND, &token), cx.now())
        .await?
        .ok_or_else(invalid_link)?;
    let users = Users::new(&db);
    let mut user = users.by_id(&user_id).await?.ok_or_else(invalid_link)?;
    if user.email_proven_at.is_none() {
        // The first proof that the address is this account's: what was set up before it may
        // be someone else's, who signed up with the address first.
        let had_password = user.has_password();
        if let Some((confirmed, passkeys)) = users.confirm_address(&user.id, cx.now()).await? {
            session::revoke_all(&cx.sessions()?, &confirmed.id, None).await?;
            if passkeys > 0 || had_password {
                let change = Change::AddressConfirmed {
                    passkeys,
                    password: had_password,
                };
                notices::send(cx, &confirmed.id, Some(confirmed.email.as_str()), change);
            }
            user = confirmed;
        }
    }
    signin::signed_in(cx, &user, SignIn::EmailLink).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_carries_the_token_in_its_fragment() {
        let token = [7u8; 32];
        let url = link("http://localhost:8787/", &token);
        assert_eq!(
            url,
            format!("http://localhost:8787/#token={}", b64_encode(&token))
        );
        let raw = url.split("token=").nth(1).unwrap();
        assert_eq!(parse_token(raw), Ok(token));
        assert_eq!(parse_token("short"), Err("invalid_format"));
        assert_eq!(parse_token(&b64_encode(&[1u8; 31])), Err("invalid_format"));
    }
}

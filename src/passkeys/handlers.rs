//! The passkey ceremonies (sign-up, adding a passkey, sign-in) and the caller's passkeys.
//!
//! Every ceremony is two requests: options (a challenge, filed with what it is for) and a
//! response the browser's authenticator made for that challenge, verified by the relying
//! party. A response that fails verification gets one answer per ceremony; the broken rule
//! goes to the log line as the error's cause.

use super::ceremony::{self, Purpose};
use super::repo::{Challenges, Deleted, Passkeys};
use super::{parse_name, Passkey, DEFAULT_NAME};
use crate::accounts::notices::{self, Change};
use crate::accounts::repo::{email_taken, Users};
use crate::accounts::signin;
use crate::accounts::User;
use crate::auth::session::SignIn;
use crate::auth::token::digest_hex;
use crate::auth::webauthn::forms::{self, Descriptor};
use crate::auth::webauthn::{self, b64, b64_encode, Rejection, RelyingParty, StoredCredential};
use crate::context::Ctx;
use crate::domain::{Email, PasskeyId, UserId};
use crate::error::{AppError, ErrorCode, FieldIssue};
use crate::http::log::Warning;
use crate::http::{input, ApiResponse};
use crate::ratelimit::KeyKind;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The relying party, or 404 when passkeys are not configured (production without
/// `WEBAUTHN_RP_ID`).
fn relying_party(cx: &Ctx) -> Result<RelyingParty, AppError> {
    cx.config().webauthn.clone().ok_or_else(|| {
        AppError::new(ErrorCode::NotFound).with_message("Passkeys are not configured.")
    })
}

fn options(public_key: Value) -> Result<ApiResponse, AppError> {
    ApiResponse::json(200, &json!({ "publicKey": public_key }))
}

fn descriptors(passkeys: &[Passkey]) -> Vec<Descriptor<'_>> {
    passkeys
        .iter()
        .map(|p| Descriptor {
            id: &p.credential_id,
            transports: &p.transports,
        })
        .collect()
}

/// `POST /v1/auth/passkeys/register/options`. Signed out with `{"email"}`: a passkey-first
/// sign-up (409 if the e-mail has an account; the new account's id is reserved with the
/// challenge). Signed in with `{}`: another passkey for the account, excluding those it has.
pub async fn register_options(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let rp = relying_party(cx)?;
    let mut input = cx.input(&["email"]).await?;
    let email = input.optional("email", Email::parse);
    let signed_in = cx.principal().is_ok();
    match (&email, signed_in) {
        (Some(_), true) => input.reject("email", "not_allowed_when_signed_in"),
        (None, false) if !input.has_issues() => input.reject("email", "required"),
        _ => {}
    }
    input.finish()?;
    let db = cx.db()?;
    let (purpose, handle, name, exclude) = match email {
        Some(email) => {
            cx.limit(KeyKind::Email, &digest_hex(email.as_str().as_bytes()))
                .await?;
            if Users::new(&db).by_email(&email).await?.is_some() {
                return Err(email_taken());
            }
            let user_id = UserId::generate(cx.now());
            let handle = user_id.uuid_bytes();
            let name = email.as_str().to_owned();
            let purpose = Purpose::SignUp {
                user_id,
                email: name.clone(),
            };
            (purpose, handle, name, Vec::new())
        }
        None => {
            let user = current_user(cx, &db).await?;
            let existing = Passkeys::new(&db).of_user(&user.id).await?;
            let handle = user.handle();
            let purpose = Purpose::AddPasskey {
                user_id: user.id.clone(),
            };
            (purpose, handle, user.email.as_str().to_owned(), existing)
        }
    };
    let challenge = ceremony::begin(&Challenges::new(&db), purpose, cx.now()).await?;
    options(forms::creation_options(
        &rp,
        &challenge,
        &handle,
        &name,
        &descriptors(&exclude),
    ))
}

/// The signed-in user behind the caller's session (403 for a service token).
async fn current_user(cx: &Ctx, db: &crate::db::Db) -> Result<User, AppError> {
    let user_id = cx.user_id()?;
    Users::new(db)
        .by_id(user_id)
        .await?
        .ok_or_else(|| crate::auth::unauthenticated(true))
}

/// The answer to a registration that fails verification: 400, naming the broken rule (the
/// client made it; nothing about other accounts is revealed).
fn registration_refused(rejection: Rejection) -> AppError {
    AppError::new(ErrorCode::BadRequest)
        .with_message("The passkey could not be verified.")
        .with_details(vec![FieldIssue::new("credential", rejection.code())])
        .with_cause(format!("webauthn registration: {}", rejection.reason()))
}

/// The answer to a sign-in that fails verification: one 401 whatever the reason.
fn sign_in_refused(rejection: Rejection) -> AppError {
    AppError::new(ErrorCode::Unauthenticated)
        .with_message("The passkey could not be verified.")
        .with_cause(format!("webauthn authentication: {}", rejection.reason()))
}

/// Reads the optional top-level `name` beside the credential.
fn credential_name(body: &Value) -> Result<String, AppError> {
    match body.get("name") {
        None | Some(Value::Null) => Ok(DEFAULT_NAME.to_owned()),
        Some(Value::String(s)) => parse_name(s)
            .map_err(|issue| AppError::validation(vec![FieldIssue::new("name", issue)])),
        Some(_) => Err(AppError::validation(vec![FieldIssue::new(
            "name",
            "expected_string",
        )])),
    }
}

/// `POST /v1/auth/passkeys/register/verify` with a `RegistrationResponseJSON` (and an
/// optional `name`): 201 with the passkey; a sign-up also creates the account and signs in.
pub async fn register_verify(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let rp = relying_party(cx)?;
    let body = cx.json_body().await?;
    input::require_object(&body)?;
    let response = forms::registration(&body).map_err(AppError::validation)?;
    let name = credential_name(&body)?;
    let challenge =
        webauthn::challenge_of(&response.client_data_json).map_err(registration_refused)?;
    let db = cx.db()?;
    let found = ceremony::take(&Challenges::new(&db), &challenge, cx.now()).await?;
    let purpose = found
        .map(|c| c.purpose)
        .ok_or_else(|| registration_refused(Rejection::Challenge))?;
    let credential = rp
        .verify_registration(&response, &challenge)
        .await
        .map_err(registration_refused)?;
    let now = cx.now();
    match purpose {
        Purpose::AddPasskey { user_id } => {
            // Only the account the ceremony was started for may finish it.
            if cx.user_id().ok() != Some(&user_id) {
                return Err(registration_refused(Rejection::Challenge));
            }
            let passkey = Passkeys::new(&db)
                .insert(&user_id, &credential, &name, now)
                .await?;
            let change = Change::PasskeyAdded {
                name: passkey.name.clone(),
            };
            notices::send(cx, &user_id, None, change);
            ApiResponse::json(201, &json!({ "passkey": passkey.public() }))
        }
        Purpose::SignUp { user_id, email } => {
            let email = Email::parse(&email)
                .map_err(|_| AppError::internal("ceremony e-mail does not parse"))?;
            let (user, passkey) = Passkeys::new(&db)
                .sign_up(&user_id, &email, &credential, &name, now)
                .await?;
            let (session, cookie) = signin::fresh_session(cx, &user, SignIn::Passkey).await?;
            Ok(ApiResponse::json(
                201,
                &json!({
                    "passkey": passkey.public(),
                    "user": user.public(),
                    "session_id": session.id,
                }),
            )?
            .with_header("Set-Cookie", cookie)
            .with_header("Location", user.location()))
        }
        Purpose::SignIn { .. } => Err(registration_refused(Rejection::Type)),
    }
}

/// The transports a decoy credential is listed with.
const DECOY_TRANSPORTS: [&str; 2] = ["hybrid", "internal"];

/// A stand-in credential id for an e-mail with no account or an account without a passkey,
/// so the answer does not say which: the same for the same address, unguessable without the
/// secret.
fn decoy_credential(cx: &Ctx, email: &Email) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&cx.config().cursor_secret)
        .expect("HMAC takes any key length");
    mac.update(b"passkey-decoy:");
    mac.update(email.as_str().as_bytes());
    b64_encode(&mac.finalize().into_bytes())
}

/// `POST /v1/auth/passkeys/login/options` with `{}` (the browser offers the passkeys it has
/// for this site) or `{"email"}` (that account's passkeys).
pub async fn login_options(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let rp = relying_party(cx)?;
    let mut input = cx.input(&["email"]).await?;
    let email = input.optional("email", Email::parse);
    input.finish()?;
    // The account's passkeys, or for an e-mail without any (no account, or an account that
    // signs in otherwise) a stand-in credential id.
    let (purpose, passkeys, decoy) = match email {
        None => {
            let purpose = Purpose::SignIn {
                user_id: None,
                named: false,
            };
            (purpose, Vec::new(), None)
        }
        Some(email) => {
            cx.limit(KeyKind::Email, &digest_hex(email.as_str().as_bytes()))
                .await?;
            let found = Passkeys::new(&*cx.db()?).of_address(&email).await?;
            let (user_id, passkeys) = found.map_or((None, Vec::new()), |(id, p)| (Some(id), p));
            let decoy = passkeys.is_empty().then(|| decoy_credential(cx, &email));
            let purpose = Purpose::SignIn {
                user_id,
                named: true,
            };
            (purpose, passkeys, decoy)
        }
    };
    let challenge = ceremony::begin(&Challenges::new(&*cx.db()?), purpose, cx.now()).await?;
    let mut allow = descriptors(&passkeys);
    // Listed as a synced passkey is (`getTransports()` of one on a phone or a laptop), so
    // that it is not told apart from a real entry by its shape.
    let decoy_transports = DECOY_TRANSPORTS.map(str::to_owned);
    allow.extend(decoy.as_deref().map(|id| Descriptor {
        id,
        transports: &decoy_transports,
    }));
    options(forms::request_options(&rp, &challenge, &allow))
}

/// `POST /v1/auth/passkeys/login/verify` with an `AuthenticationResponseJSON`: 200 and a new
/// session, exactly like a password login.
pub async fn login_verify(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let rp = relying_party(cx)?;
    let body = cx.json_body().await?;
    input::require_object(&body)?;
    let response = forms::authentication(&body).map_err(AppError::validation)?;
    let challenge = webauthn::challenge_of(&response.client_data_json).map_err(sign_in_refused)?;
    let db = cx.db()?;
    let found = ceremony::take(&Challenges::new(&db), &challenge, cx.now()).await?;
    let Some(Purpose::SignIn { user_id, named }) = found.map(|c| c.purpose) else {
        return Err(sign_in_refused(Rejection::Challenge));
    };
    let passkeys = Passkeys::new(&db);
    let (passkey, user) = passkeys
        .with_owner(&b64_encode(&response.raw_id))
        .await?
        .filter(|(p, _)| !named || user_id.as_ref() == Some(&p.user_id))
        .ok_or_else(|| sign_in_refused(Rejection::UnknownCredential))?;
    let handle = user.handle();
    let credential_id = b64(&passkey.credential_id)
        .map_err(|_| AppError::internal("stored credential id is not base64url"))?;
    let stored = StoredCredential {
        credential_id: &credential_id,
        public_key_cose: &passkey.public_key,
        sign_count: passkey.sign_count,
        backup_eligible: passkey.backup_eligible,
        user_handle: &handle,
        discoverable: !named,
    };
    let verified = rp
        .verify_authentication(&response, &challenge, &stored)
        .await;
    let assertion = match verified {
        Ok(assertion) => assertion,
        Err(Rejection::Counter) => return Err(cloned(cx, &passkey, None)),
        Err(rejection) => return Err(sign_in_refused(rejection)),
    };
    let counted = passkeys
        .record_use(
            &passkey,
            assertion.sign_count,
            assertion.backed_up,
            cx.now(),
        )
        .await?;
    if !counted {
        return Err(cloned(cx, &passkey, Some(assertion.sign_count)));
    }
    signin::signed_in(cx, &user, SignIn::Passkey).await
}

/// A counter that did not increase: refused, and logged as a possible cloned authenticator.
fn cloned(cx: &mut Ctx, passkey: &Passkey, presented: Option<u32>) -> AppError {
    let mut warning = Warning::new("possible_cloned_authenticator")
        .with("passkey_id", passkey.id.as_str())
        .with("user_id", passkey.user_id.as_str())
        .with("stored_sign_count", passkey.sign_count.to_string());
    if let Some(n) = presented {
        warning = warning.with("presented_sign_count", n.to_string());
    }
    cx.warn(warning);
    sign_in_refused(Rejection::Counter)
}

/// `GET /v1/auth/passkeys`: the caller's passkeys, oldest first.
pub async fn list(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let user_id = cx.user_id()?;
    let passkeys = Passkeys::new(&*cx.db()?).of_user(user_id).await?;
    let items: Vec<_> = passkeys.iter().map(Passkey::public).collect();
    ApiResponse::json(200, &json!({ "items": items }))
}

/// `PATCH /v1/auth/passkeys/{id}` with `{"name"}`: renames one.
pub async fn rename(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let id = cx.id(PasskeyId::parse)?;
    let mut input = cx.input(&["name"]).await?;
    let name = input.required("name", parse_name);
    input.finish()?;
    let name = name.ok_or_else(|| AppError::internal("validated field missing"))?;
    let passkey = Passkeys::new(&*cx.db()?)
        .rename(cx.user_id()?, &id, &name)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    ApiResponse::json(200, &passkey.public())
}

/// `DELETE /v1/auth/passkeys/{id}`: removes one, unless it is the account's last way to sign
/// in (409): the e-mail link is for recovery, not a method to rely on.
pub async fn delete(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let id = cx.id(PasskeyId::parse)?;
    let password_counts = cx.config().password_login;
    let user_id = cx.user_id()?.clone();
    let deleted = Passkeys::new(&*cx.db()?)
        .delete(&user_id, &id, password_counts)
        .await?;
    match deleted {
        Deleted::Yes { name } => {
            notices::send(cx, &user_id, None, Change::PasskeyRemoved { name });
            Ok(ApiResponse::empty(204))
        }
        Deleted::NotFound => Err(AppError::new(ErrorCode::NotFound)),
        Deleted::LastWayIn => Err(AppError::new(ErrorCode::Conflict)
            .with_message("This is the account's last way to sign in; add another passkey first.")
            .with_details(vec![FieldIssue::new("id", "last_credential")])),
    }
}

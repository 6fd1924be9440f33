//! The passkey routes as the OpenAPI document describes them. The WebAuthn JSON forms are
//! described as far as this API reads them; members it does not read are allowed.

use crate::domain::schema;
use crate::http::contract::{headers, op, shared, Op};
use crate::http::Method;
use serde_json::{json, Value};

/// What clients see of a passkey.
pub fn passkey_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name", "credential_id", "algorithm", "transports", "aaguid",
                     "backup_eligible", "backed_up", "created_at", "last_used_at"],
        "additionalProperties": false,
        "properties": {
            "id": schema::id(),
            "name": name(),
            "credential_id": base64url(),
            "algorithm": {"type": "integer", "enum": [-7, -8], "description": "COSE: -7 ES256, -8 EdDSA."},
            "transports": {"type": "array", "items": {"type": "string"}},
            "aaguid": {"type": "string", "description": "The authenticator model (not verified: attestation is not checked)."},
            "backup_eligible": {"type": "boolean"},
            "backed_up": {"type": "boolean"},
            "created_at": {"type": "integer", "minimum": 0},
            "last_used_at": {"type": ["integer", "null"], "minimum": 0},
        },
    })
}

fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": super::MAX_NAME_CHARS,
           "description": "1 to 64 characters once trimmed, no control characters and no bidirectional embeddings, overrides or isolates (U+202A–U+202E, U+2066–U+2069)."})
}

fn base64url() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]*$", "description": "Unpadded base64url."})
}

fn credential(response: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "required": ["id", "rawId", "type", "response"],
        "properties": {
            "id": base64url(),
            "rawId": base64url(),
            "type": {"type": "string", "description": "`public-key`."},
            "response": {"type": "object", "required": required, "properties": response},
            "authenticatorAttachment": {"type": ["string", "null"]},
            "clientExtensionResults": {"type": "object"},
        },
    })
}

fn options_schema(description: &str) -> Value {
    json!({"type": "object", "required": ["publicKey"], "additionalProperties": false,
           "properties": {"publicKey": {"type": "object", "required": ["challenge", "timeout"],
               "description": description,
               "properties": {"challenge": base64url(), "timeout": {"type": "integer"}}}}})
}

fn signed_in() -> Value {
    json!({"type": "object", "required": ["user", "session_id"], "additionalProperties": false,
           "properties": {"user": shared("User"), "session_id": schema::id()}})
}

const NEEDS_SESSION: &str = "FORBIDDEN: a service token cannot use a browser-session route";
const OFF: &str = "NOT_FOUND: passkeys are not configured (production without `WEBAUTHN_RP_ID`)";

/// Every passkey operation.
pub fn operations() -> Vec<Op> {
    // Optional: absent or `null` means none.
    let email_only = json!({"email": {"anyOf": [schema::email(), {"type": "null"}]}});
    let mut registration = credential(
        json!({"clientDataJSON": base64url(), "attestationObject": base64url(),
               "transports": {"type": "array", "items": {"type": "string"}}}),
        &["clientDataJSON", "attestationObject"],
    );
    registration["properties"]["name"] = name();
    let authentication = credential(
        json!({"clientDataJSON": base64url(), "authenticatorData": base64url(),
               "signature": base64url(), "userHandle": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]*$"}}),
        &["clientDataJSON", "authenticatorData", "signature"],
    );
    let none = headers(&[]);
    vec![
        op(Method::Post, "/v1/auth/passkeys/register/options", "passkeyRegisterOptions", "Start a passkey registration")
            .tag("passkeys")
            .body(email_only.clone(), &[])
            .json(200, "`PublicKeyCredentialCreationOptionsJSON` under `publicKey`: signed out with `email`, a sign-up; signed in without it, another passkey for the account.",
                  options_schema("PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3)."), none.clone())
            .error(404, OFF)
            .error(409, "CONFLICT: an account with this e-mail exists")
            .error(422, "VALIDATION_ERROR: `email` is required when signed out and refused when signed in"),
        op(Method::Post, "/v1/auth/passkeys/register/verify", "passkeyRegisterVerify", "Finish a passkey registration")
            .tag("passkeys")
            .body_schema(registration)
            .json(201, "The passkey; for a sign-up also the new account, signed in.",
                  json!({"type": "object", "required": ["passkey"], "additionalProperties": false,
                         "properties": {"passkey": shared("Passkey"), "user": shared("User"), "session_id": schema::id()}}),
                  headers(&[]))
            .error(400, "BAD_REQUEST: the response does not verify (the broken rule in `details`), or its challenge was not issued, was used or has expired")
            .error(404, OFF)
            .error(409, "CONFLICT: the passkey is already registered, or the e-mail was taken meanwhile"),
        op(Method::Post, "/v1/auth/passkeys/login/options", "passkeyLoginOptions", "Start a passkey sign-in")
            .tag("passkeys")
            .body(email_only, &[])
            .json(200, "`PublicKeyCredentialRequestOptionsJSON` under `publicKey`; without `email`, for a discoverable credential.",
                  options_schema("PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3)."), none.clone())
            .error(404, OFF),
        op(Method::Post, "/v1/auth/passkeys/login/verify", "passkeyLoginVerify", "Sign in with a passkey")
            .tag("passkeys")
            .body_schema(authentication)
            .json(200, "Signed in: a new session, its cookie set.", signed_in(), headers(&[("Set-Cookie", "SetSession")]))
            .error(401, "UNAUTHENTICATED: the passkey could not be verified (one answer for every reason)")
            .error(404, OFF),
        op(Method::Get, "/v1/auth/passkeys", "listPasskeys", "The caller's passkeys, oldest first")
            .tag("passkeys")
            .json(200, "Every passkey of the caller.",
                  json!({"type": "object", "required": ["items"], "additionalProperties": false,
                         "properties": {"items": {"type": "array", "items": shared("Passkey")}}}), none.clone())
            .error(403, NEEDS_SESSION),
        op(Method::Patch, "/v1/auth/passkeys/{id}", "renamePasskey", "Rename one of the caller's passkeys")
            .tag("passkeys")
            .body(json!({"name": name()}), &["name"])
            .json(200, "The renamed passkey.", shared("Passkey"), none)
            .error(403, NEEDS_SESSION),
        op(Method::Delete, "/v1/auth/passkeys/{id}", "deletePasskey", "Remove one of the caller's passkeys")
            .tag("passkeys")
            .empty(204, "Removed.", headers(&[]))
            .error(403, NEEDS_SESSION)
            .error(409, "CONFLICT: it is the account's last way to sign in"),
    ]
}

/// The e-mail link operations (in the accounts feature, described here beside the other
/// ways to sign in).
pub fn email_link_operations() -> Vec<Op> {
    vec![
        op(
            Method::Post,
            "/v1/auth/email-link",
            "emailLink",
            "Mail a sign-in link",
        )
        .tag("accounts")
        .body(json!({"email": schema::email()}), &["email"])
        .json(
            202,
            "Accepted, whether or not an account has this address.",
            json!({"type": "object", "required": ["message"], "additionalProperties": false,
                         "properties": {"message": {"type": "string"}}}),
            headers(&[]),
        )
        .error(
            404,
            "NOT_FOUND: e-mail links are not enabled (no mailer configured)",
        )
        .error(503, "UNAVAILABLE: the mail API failed"),
        op(
            Method::Post,
            "/v1/auth/email-link/verify",
            "emailLinkVerify",
            "Sign in with a mailed link's token",
        )
        .tag("accounts")
        .body(
            json!({"token": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"}}),
            &["token"],
        )
        .json(
            200,
            "Signed in: a new session, its cookie set.",
            signed_in(),
            headers(&[("Set-Cookie", "SetSession")]),
        )
        .error(401, "UNAUTHENTICATED: the link is invalid, used or expired")
        .error(
            404,
            "NOT_FOUND: e-mail links are not enabled (no mailer configured)",
        ),
    ]
}

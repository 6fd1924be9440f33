//! The accounts routes as the OpenAPI document describes them.

use crate::auth::session::FRESH_PROOF_MS;
use crate::domain::schema;
use crate::http::contract::{headers, op, shared, Op};
use crate::http::Method;
use serde_json::{json, Value};

/// What clients see of a user.
pub fn user_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "email", "role", "created_at"],
        "additionalProperties": false,
        "properties": {
            "id": schema::id(),
            "email": {"type": "string"},
            "role": schema::role(),
            "created_at": {"type": "integer", "minimum": 0, "description": "Unix milliseconds."},
        },
    })
}

/// What the password routes answer while `PASSWORD_LOGIN` is off.
const PASSWORDS_OFF: &str = "NOT_FOUND: password sign-in is turned off (`PASSWORD_LOGIN=false`)";

/// `current_password`, which a fresh passkey or e-mail link sign-in may leave out.
fn current_password() -> Value {
    let mut schema = schema::existing_password();
    schema["description"] = json!(format!(
        "Required, unless this session began with a passkey or an e-mail link less than {} \
         minutes ago (how an account without a password sets one, and how a forgotten one is \
         replaced). Checked whenever it is sent.",
        FRESH_PROOF_MS / 60_000
    ));
    schema
}

fn session_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "created_at", "last_seen_at", "user_agent", "current"],
        "additionalProperties": false,
        "properties": {
            "id": schema::id(),
            "created_at": {"type": "integer", "minimum": 0},
            "last_seen_at": {"type": "integer", "minimum": 0},
            "user_agent": {"type": "string"},
            "current": {"type": "boolean"},
        },
    })
}

const NEEDS_SESSION: &str = "FORBIDDEN: a service token cannot use a browser-session route";

/// Every accounts operation.
pub fn operations() -> Vec<Op> {
    let credentials = json!({"email": schema::email(), "password": schema::new_password()});
    let none = headers(&[]);
    let on = |what: &str| json!({"type": "boolean", "description": format!("Whether {what} (its routes answer 404 while not).")});
    vec![
        op(Method::Get, "/v1/auth/methods", "signInMethods", "The ways of signing in offered")
            .tag("accounts")
            .json(
                200,
                "What this deployment offers, so a sign-in screen shows only that.",
                json!({"type": "object", "required": ["passkeys", "email_links", "passwords"],
                       "additionalProperties": false,
                       "properties": {
                           "passkeys": on("passkeys are configured"),
                           "email_links": on("e-mail links can be mailed"),
                           "passwords": on("password sign-up, sign-in and changes are on (`PASSWORD_LOGIN`)"),
                       }}),
                none.clone(),
            ),
        op(Method::Post, "/v1/auth/signup", "signup", "Create an account")
            .tag("accounts")
            .body(credentials, &["email", "password"])
            .json(201, "The account (role `user`).", shared("User"), headers(&[("Location", "Location")]))
            .error(404, PASSWORDS_OFF)
            .error(409, "CONFLICT: an account with this e-mail exists")
            .links(201, json!({
                "Login": {"operationId": "login", "requestBody": "$request.body"},
                "AdminGetUser": {"operationId": "adminGetUser", "parameters": {"id": "$response.body#/id"}},
            })),
        op(Method::Post, "/v1/auth/login", "login", "Sign in with e-mail and password")
            .tag("accounts")
            .body(json!({"email": schema::email(), "password": schema::existing_password()}), &["email", "password"])
            .json(
                200,
                "Signed in: a new session, its cookie set.",
                json!({"type": "object", "required": ["user", "session_id"], "additionalProperties": false,
                       "properties": {"user": shared("User"), "session_id": schema::id()}}),
                headers(&[("Set-Cookie", "SetSession")]),
            )
            .error(401, "UNAUTHENTICATED: the e-mail or password is incorrect (one answer for both)")
            .error(404, PASSWORDS_OFF),
        op(Method::Post, "/v1/auth/logout", "logout", "Sign out this session")
            .tag("accounts")
            .empty(204, "The session is deleted and the cookie cleared.", headers(&[("Set-Cookie", "ClearSession")]))
            .error(403, NEEDS_SESSION),
        op(Method::Post, "/v1/auth/logout-all", "logoutAll", "Sign out every session of the caller")
            .tag("accounts")
            .empty(204, "Every session is revoked and the cookie cleared.", headers(&[("Set-Cookie", "ClearSession")]))
            .error(403, NEEDS_SESSION),
        op(Method::Get, "/v1/auth/me", "me", "The caller")
            .tag("accounts")
            .json(
                200,
                "A signed-in user, or a service with its scopes.",
                json!({"oneOf": [
                    {"type": "object", "required": ["kind", "user"], "additionalProperties": false,
                     "properties": {"kind": {"const": "user"}, "user": shared("User")}},
                    {"type": "object", "required": ["kind", "subject", "scopes"], "additionalProperties": false,
                     "properties": {"kind": {"const": "service"}, "subject": {"type": "string"},
                                    "scopes": {"type": "array", "items": {"type": "string"}}}},
                ]}),
                none.clone(),
            ),
        op(Method::Delete, "/v1/auth/me", "deleteAccount", "Delete the caller's account")
            .tag("accounts")
            .empty(204, "The account is gone with its notes, passkeys and sign-in links, every session is revoked, the cookie cleared; the address is told where mail is on.", headers(&[("Set-Cookie", "ClearSession")]))
            .error(403, "FORBIDDEN: a service token cannot use a browser-session route; REAUTHENTICATION_REQUIRED: the session signed in more than five minutes ago (sign in again)"),
        op(Method::Get, "/v1/auth/sessions", "listSessions", "The caller's sessions, newest first")
            .tag("accounts")
            .json(
                200,
                "Every session of the caller, the current one marked.",
                json!({"type": "object", "required": ["items"], "additionalProperties": false,
                       "properties": {"items": {"type": "array", "items": session_schema()}}}),
                none.clone(),
            )
            .error(403, NEEDS_SESSION),
        op(Method::Delete, "/v1/auth/sessions/{id}", "deleteSession", "Revoke one of the caller's sessions")
            .tag("accounts")
            .empty(204, "Revoked (the cookie is cleared when it was the current one).", headers(&[("Set-Cookie", "ClearSessionOptional")]))
            .error(403, NEEDS_SESSION),
        op(Method::Post, "/v1/auth/password", "changePassword", "Set or change the password")
            .tag("accounts")
            .body(json!({"current_password": current_password(), "new_password": schema::new_password()}),
                  &["new_password"])
            .empty(204, "Set: every session revoked, this one continued on a new cookie.", headers(&[("Set-Cookie", "SetSession")]))
            .error(403, NEEDS_SESSION)
            .error(404, PASSWORDS_OFF)
            .error(422, "VALIDATION_ERROR: `current_password` is missing or incorrect"),
        op(Method::Get, "/v1/admin/users", "adminListUsers", "Every account, oldest first")
            .tag("accounts")
            .query("limit", json!({"type": "integer", "minimum": 1, "maximum": 100}), "Page size (default 20).")
            .query("cursor", json!({"type": "string"}), "`next_cursor` of the previous page.")
            .json(
                200,
                "One page of accounts.",
                json!({"type": "object", "required": ["items", "next_cursor"], "additionalProperties": false,
                       "properties": {"items": {"type": "array", "items": shared("User")}, "next_cursor": shared("NextCursor")}}),
                none.clone(),
            )
            .error(400, "BAD_REQUEST: the cursor was not issued by this API")
            .error(422, "VALIDATION_ERROR: `limit` is not an integer from 1 to 100, or a parameter is given twice"),
        op(Method::Get, "/v1/admin/users/{id}", "adminGetUser", "One account")
            .tag("accounts")
            .json(200, "The account.", shared("User"), none),
    ]
}

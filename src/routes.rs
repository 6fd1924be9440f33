//! Every route the API exposes, one per line: method, path, handler, who may call it, its
//! rate-limit policies and caching. The pipeline reads these facts; handlers never re-check
//! them. Tests walk this table (deny by default), so a route added here is covered at once.

use crate::context::{handler, Handler};
use crate::router::{delete, get, patch, post, Route};
use crate::{accounts, health, notes, openapi, passkeys, testing};

/// Rate-limit policies by name (defined in [`crate::ratelimit::DEFAULT_POLICIES`]). Every
/// route has the per-IP policy; authenticated routes add the per-user one; sign-in, signup and
/// password changes add tight per-endpoint ones.
const IP_USER: &[&str] = &["ip", "user"];
const SIGNUP: &[&str] = &["ip", "signup-ip"];
const LOGIN: &[&str] = &["ip", "login-ip", "login-email"];
const EMAIL_LINK: &[&str] = &["ip", "login-ip", "email-link-email"];
const SIGN_IN: &[&str] = &["ip", "login-ip"];
const PASSKEY_OPTIONS: &[&str] = &["ip", "passkey-ip", "passkey-email", "user"];
const PASSWORD_CHANGE: &[&str] = &["ip", "user", "password-user"];
const PASSKEY_REGISTER: &[&str] = &["ip", "signup-ip", "user"];
const NONE: &[&str] = &[];

/// Note bodies may be 64 KiB of text; JSON escaping can roughly double that on the wire.
const NOTE_BODY: usize = 256 * 1024;

/// A WebAuthn response with an attestation statement (certificate chains are a few KiB).
const CREDENTIAL: usize = 32 * 1024;

/// Revalidate every time (`ETag` / `If-None-Match`), never share.
const PRIVATE: &str = "private, no-cache";

/// The route table.
#[rustfmt::skip]
pub static ROUTES: &[Route<Handler>] = &[
    get("/v1/health",                 handler!(health::live)),
    get("/v1/health/ready",           handler!(health::ready)),
    get("/v1/openapi.json",           handler!(openapi::serve)).cache("public, max-age=300"),

    get("/v1/auth/methods",           handler!(accounts::handlers::methods)).cache("public, max-age=300"),
    post("/v1/auth/signup",           handler!(accounts::handlers::signup)).limits(SIGNUP),
    post("/v1/auth/login",            handler!(accounts::handlers::login)).limits(LOGIN),
    post("/v1/auth/logout",           handler!(accounts::handlers::logout)).user().limits(IP_USER),
    post("/v1/auth/logout-all",       handler!(accounts::handlers::logout_all)).user().sensitive().limits(IP_USER),
    get("/v1/auth/me",                handler!(accounts::handlers::me)).user().limits(IP_USER),
    delete("/v1/auth/me",             handler!(accounts::handlers::delete_account)).user().sensitive().limits(IP_USER),
    post("/v1/auth/password",         handler!(accounts::handlers::change_password)).user().sensitive().limits(PASSWORD_CHANGE),
    get("/v1/auth/sessions",          handler!(accounts::sessions::list)).user().limits(IP_USER),
    delete("/v1/auth/sessions/{id}",  handler!(accounts::sessions::delete)).user().limits(IP_USER),
    post("/v1/auth/passkeys/register/options", handler!(passkeys::handlers::register_options)).optional_user().limits(PASSKEY_OPTIONS),
    post("/v1/auth/passkeys/register/verify",  handler!(passkeys::handlers::register_verify)).optional_user().limits(PASSKEY_REGISTER).body_limit(CREDENTIAL),
    post("/v1/auth/passkeys/login/options",    handler!(passkeys::handlers::login_options)).limits(PASSKEY_OPTIONS),
    post("/v1/auth/passkeys/login/verify",     handler!(passkeys::handlers::login_verify)).limits(SIGN_IN).body_limit(CREDENTIAL),
    get("/v1/auth/passkeys",                   handler!(passkeys::handlers::list)).user().limits(IP_USER),
    patch("/v1/auth/passkeys/{id}",            handler!(passkeys::handlers::rename)).user().limits(IP_USER),
    delete("/v1/auth/passkeys/{id}",           handler!(passkeys::handlers::delete)).user().sensitive().limits(IP_USER),
    post("/v1/auth/email-link",                handler!(accounts::email_link::request)).limits(EMAIL_LINK),
    post("/v1/auth/email-link/verify",         handler!(accounts::email_link::verify)).limits(SIGN_IN),
    get("/v1/admin/users",            handler!(accounts::handlers::admin_list)).admin().limits(IP_USER),
    get("/v1/admin/users/{id}",       handler!(accounts::handlers::admin_get)).admin().limits(IP_USER),

    post("/v1/notes",                 handler!(notes::handlers::create)).user().limits(IP_USER).body_limit(NOTE_BODY),
    get("/v1/notes",                  handler!(notes::handlers::list)).user().limits(IP_USER).cache(PRIVATE),
    get("/v1/notes/{id}",             handler!(notes::handlers::get)).user().limits(IP_USER).cache(PRIVATE),
    patch("/v1/notes/{id}",           handler!(notes::handlers::update)).user().limits(IP_USER).body_limit(NOTE_BODY).conditional(),
    delete("/v1/notes/{id}",          handler!(notes::handlers::delete)).user().limits(IP_USER).conditional(),
    get("/v1/admin/notes/{id}",       handler!(notes::handlers::admin_get)).admin().limits(IP_USER),

    get("/v1/_test/panic",            handler!(testing::panic)).test_only(),
    post("/v1/_test/echo",            handler!(testing::echo)).test_only(),
    post("/v1/_test/set-role",        handler!(testing::set_role)).test_only(),
    get("/v1/_test/unlimited",        handler!(testing::limited)).test_only().limits(NONE),
    get("/v1/_test/limited",          handler!(testing::limited)).test_only().limits(&["ip", "test"]),
    get("/v1/_test/memory",           handler!(testing::memory)).test_only().limits(NONE),
    post("/v1/_test/bump-epoch",      handler!(testing::bump_epoch)).test_only(),
    get("/v1/_test/cache-stats",      handler!(testing::cache_stats)).test_only().limits(NONE),
    get("/v1/_test/deprecated",       handler!(testing::limited)).test_only().deprecated(1_767_225_600, 1_830_297_600),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::DEFAULT_POLICIES;
    use crate::router::Access;

    #[test]
    fn every_policy_named_in_the_route_table_exists() {
        for route in ROUTES {
            for name in route.rate_limits {
                assert!(
                    DEFAULT_POLICIES.iter().any(|p| p.name == *name),
                    "{} {} names unknown policy {name}",
                    route.method.as_str(),
                    route.path
                );
            }
        }
    }

    #[test]
    fn every_route_is_limited_per_ip_and_authenticated_ones_per_user() {
        for route in ROUTES.iter().filter(|r| !r.test_only) {
            assert!(route.rate_limits.contains(&"ip"), "{}", route.path);
            if route.access != Access::Public {
                assert!(route.rate_limits.contains(&"user"), "{}", route.path);
            }
        }
    }

    #[test]
    fn no_two_routes_share_a_method_and_path() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    a.method != b.method || a.path != b.path,
                    "{} {} twice",
                    a.method.as_str(),
                    a.path
                );
            }
        }
    }
}

//! Typed settings, parsed and checked once per isolate from the Worker's vars and secrets.
//!
//! Parsing is pure (it takes a lookup function), so every rule is unit-tested natively. A bad
//! value is a [`ConfigError`] naming the variable; the pipeline logs it and answers
//! 500 INTERNAL instead of running with a guess.

use crate::auth::service_token::JwtConfig;
use crate::auth::session::SessionPolicy;
use crate::auth::webauthn::RelyingParty;
use crate::cache::CacheConfig;
use crate::ratelimit::{Policy, DEFAULT_POLICIES};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
pub use sign_in::MailerConfig;
use std::fmt;

/// Binding names, as declared in `wrangler.toml`.
pub const KV_BINDING: &str = "SESSIONS";
pub const D1_BINDING: &str = "DB";
pub const LIMITER_BINDING: &str = "RATE_LIMITER";

/// The deployment environment, from `APP_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

/// Every setting the Worker reads. See the configuration table in the README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `APP_ENV`: `development`, `test` or `production`.
    pub environment: Environment,
    /// `ALLOWED_ORIGINS`: comma-separated exact origins allowed by CORS and CSRF checks.
    pub allowed_origins: Vec<String>,
    /// `MAX_BODY_BYTES`: the largest request body accepted (default 65536).
    pub max_body_bytes: usize,
    /// `TEST_ROUTES`: exposes routes that exist only for tests (never in production).
    pub test_routes: bool,
    /// `SESSION_IDLE_SECS`, `SESSION_ABSOLUTE_SECS`, `SESSION_TOUCH_SECS`,
    /// `SESSION_CACHE_SECS`.
    pub session: SessionPolicy,
    /// Service-token verification settings.
    pub jwt: JwtConfig,
    /// `CURSOR_SECRET`: key for signing pagination cursors (at least 32 bytes).
    pub cursor_secret: Vec<u8>,
    /// Rate-limit policies: the defaults with `RATE_LIMITS` overrides applied.
    pub rate_limits: Vec<Policy>,
    /// `DB_BACKEND`: where data lives.
    pub database: DbBackend,
    /// The read cache: `CACHE_*` and `UPSTASH_REDIS_REST_*`.
    pub cache: CacheConfig,
    /// Passkeys: `WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ORIGINS`,
    /// `WEBAUTHN_USER_VERIFICATION`. `None` in production until `WEBAUTHN_RP_ID` is set (the
    /// passkey routes then answer 404).
    pub webauthn: Option<RelyingParty>,
    /// `PASSWORD_LOGIN`: password sign-up, login and change (default true).
    pub password_login: bool,
    /// How sign-in links are mailed; `None` turns e-mail links off (404).
    pub mailer: Option<MailerConfig>,
    /// `APP_URL`: where the page lives, for links in mail. `None` in development and tests:
    /// the origin the request reached.
    pub app_url: Option<String>,
}

/// The database backend, from `DB_BACKEND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbBackend {
    /// D1 through the `DB` binding (the default).
    D1,
    /// Turso / libSQL over HTTP: `TURSO_URL`, `TURSO_AUTH_TOKEN` (secret),
    /// `TURSO_TIMEOUT_MS` (default 5000).
    Turso {
        url: String,
        auth_token: Option<String>,
        timeout_ms: u64,
    },
}

/// A variable that is present but not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.var, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// The default and largest accepted `MAX_BODY_BYTES`.
const DEFAULT_MAX_BODY: u64 = 64 * 1024;
const LIMIT_MAX_BODY: u64 = 16 * 1024 * 1024;

impl Config {
    /// Parses the settings from `lookup`, which returns a variable's value if it is set.
    pub fn parse(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let err = |var, reason: &str| ConfigError {
            var,
            reason: reason.to_owned(),
        };

        let environment = match lookup("APP_ENV").as_deref().map(str::trim) {
            None | Some("") | Some("production") => Environment::Production,
            Some("development") => Environment::Development,
            Some("test") => Environment::Test,
            Some(_) => {
                return Err(err("APP_ENV", "expected development, test or production"));
            }
        };

        let allowed_origins = lookup("ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|origin| parse_origin(origin).map_err(|r| err("ALLOWED_ORIGINS", &r)))
            .collect::<Result<Vec<_>, _>>()?;

        let max_body_bytes = number(
            &lookup,
            "MAX_BODY_BYTES",
            DEFAULT_MAX_BODY,
            1..=LIMIT_MAX_BODY,
        )? as usize;

        let test_routes = parse_bool(lookup("TEST_ROUTES"))
            .ok_or_else(|| err("TEST_ROUTES", "expected true or false"))?;
        if test_routes && environment == Environment::Production {
            return Err(err("TEST_ROUTES", "must not be enabled in production"));
        }

        let secs = |var, default| number(&lookup, var, default, 1..=MAX_SECS);
        let session = SessionPolicy {
            idle_ms: secs("SESSION_IDLE_SECS", 7 * DAY)? * 1000,
            absolute_ms: secs("SESSION_ABSOLUTE_SECS", 30 * DAY)? * 1000,
            touch_ms: secs("SESSION_TOUCH_SECS", 300)? * 1000,
            cache_ms: number(&lookup, "SESSION_CACHE_SECS", 5, 0..=60)? * 1000,
        };

        let ed25519_keys = lookup("JWT_ED25519_PUBLIC_KEYS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (kid, key) = pair.split_once(':').ok_or_else(|| {
                    err(
                        "JWT_ED25519_PUBLIC_KEYS",
                        "expected kid:base64url-key pairs",
                    )
                })?;
                let bytes: [u8; 32] = B64URL
                    .decode(key.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        err(
                            "JWT_ED25519_PUBLIC_KEYS",
                            "each key must be 32 bytes, base64url",
                        )
                    })?;
                Ok((kid.trim().to_owned(), bytes))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let hs256_secret = match lookup("JWT_HS256_SECRET") {
            None => None,
            Some(s) if s.len() >= 32 => Some(s.into_bytes()),
            Some(_) => return Err(err("JWT_HS256_SECRET", "must be at least 32 bytes")),
        };
        let jwt = JwtConfig {
            issuer: lookup("JWT_ISSUER").unwrap_or_default().trim().to_owned(),
            audience: lookup("JWT_AUDIENCE")
                .map(|a| a.trim().to_owned())
                .unwrap_or_else(|| "edge-api".to_owned()),
            ed25519_keys,
            hs256_secret,
        };
        if jwt.enabled() && jwt.issuer.is_empty() {
            return Err(err(
                "JWT_ISSUER",
                "required when service-token keys are set",
            ));
        }

        let cursor_secret = match lookup("CURSOR_SECRET") {
            Some(s) if s.len() >= 32 => s.into_bytes(),
            Some(_) => return Err(err("CURSOR_SECRET", "must be at least 32 bytes")),
            None => {
                return Err(err(
                    "CURSOR_SECRET",
                    "required (wrangler secret put CURSOR_SECRET)",
                ))
            }
        };

        let mut rate_limits = parse_rate_limits(lookup("RATE_LIMITS").as_deref().unwrap_or(""))
            .map_err(|r| err("RATE_LIMITS", &r))?;
        let leases = flag(&lookup, "RATE_LIMIT_LEASES", true)?;
        for policy in &mut rate_limits {
            policy.lease = leases && Policy::leasable(policy.quota);
        }

        let database = match lookup("DB_BACKEND").as_deref().map(str::trim) {
            None | Some("") | Some("d1") => DbBackend::D1,
            Some("turso") => {
                let url = lookup("TURSO_URL").unwrap_or_default();
                let url = parse_url("TURSO_URL", &url, &["libsql://", "https://", "http://"])?;
                DbBackend::Turso {
                    url,
                    timeout_ms: number(&lookup, "TURSO_TIMEOUT_MS", 5000, 1..=60_000)?,
                    auth_token: lookup("TURSO_AUTH_TOKEN").filter(|t| !t.trim().is_empty()),
                }
            }
            Some(_) => return Err(err("DB_BACKEND", "expected d1 or turso")),
        };

        let cache = cache::parse(&lookup)?;
        let sign_in::SignIn {
            webauthn,
            password_login,
            mailer,
            app_url,
        } = sign_in::parse(&lookup, environment == Environment::Production)?;

        Ok(Self {
            environment,
            allowed_origins,
            max_body_bytes,
            test_routes,
            session,
            jwt,
            cursor_secret,
            rate_limits,
            database,
            cache,
            webauthn,
            password_login,
            mailer,
            app_url,
        })
    }

    /// Returns the policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.rate_limits.iter().find(|p| p.name == name)
    }
}

/// Reads an absolute URL whose scheme is one of `schemes` and which names a host.
fn parse_url(var: &'static str, raw: &str, schemes: &[&str]) -> Result<String, ConfigError> {
    let url = raw.trim();
    let ok = schemes
        .iter()
        .any(|p| url.starts_with(p) && url.len() > p.len());
    if ok {
        Ok(url.to_owned())
    } else {
        Err(ConfigError {
            var,
            reason: format!("expected a URL starting with {}", schemes.join(", ")),
        })
    }
}

/// Reads an integer variable within `range`, or `default` when it is not set. Every number
/// in the configuration (sizes, seconds, milliseconds, counts) is read here.
fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    match lookup(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError {
                var,
                reason: format!(
                    "expected an integer from {} to {}",
                    range.start(),
                    range.end()
                ),
            }),
    }
}

/// Applies `name=limit/seconds` overrides (comma-separated) to the default policies.
fn parse_rate_limits(spec: &str) -> Result<Vec<Policy>, String> {
    let mut policies = DEFAULT_POLICIES.to_vec();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parsed = item.split_once('=').and_then(|(name, quota)| {
            let (limit, secs) = quota.split_once('/')?;
            let limit: u32 = limit.trim().parse().ok().filter(|n| *n > 0)?;
            let secs: u64 = secs
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=MAX_SECS).contains(n))?;
            Some((name.trim(), limit, secs))
        });
        let (name, limit, secs) =
            parsed.ok_or_else(|| format!("`{item}`: expected name=limit/seconds"))?;
        let policy = policies
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("unknown policy `{name}`"))?;
        policy.quota.limit = limit;
        policy.quota.window_ms = secs * 1000;
    }
    Ok(policies)
}

const DAY: u64 = 86_400;
const MAX_SECS: u64 = 365 * DAY;

/// Accepts `scheme://host[:port]` with no path, as browsers send in `Origin`.
fn parse_origin(origin: &str) -> Result<String, String> {
    if origin == "*" {
        return Err("a wildcard cannot be used with credentialed requests".into());
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("`{origin}` must start with https:// or http://"))?;
    if rest.is_empty() || rest.contains('/') || rest.contains(char::is_whitespace) {
        return Err(format!(
            "`{origin}` must be scheme://host[:port] without a path"
        ));
    }
    Ok(origin.to_owned())
}

/// Reads a `true`/`false` variable that defaults to `default` when unset or empty.
fn flag(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match lookup(var).filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        raw => parse_bool(raw).ok_or_else(|| ConfigError {
            var,
            reason: "expected true or false".into(),
        }),
    }
}

fn parse_bool(value: Option<String>) -> Option<bool> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Some(false),
        Some("true") | Some("1") => Some(true),
        Some(_) => None,
    }
}

mod cache;
mod sign_in;

#[cfg(test)]
mod tests;

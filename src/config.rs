//! Typed settings, parsed and checked once per isolate from the Worker's vars and secrets.
//!
//! Parsing is pure (it takes a lookup function), so every rule is unit-tested natively. A bad
//! value is a [`ConfigError`] naming the variable; the pipeline logs it and answers
//! 500 INTERNAL instead of running with a guess.

use crate::auth::session::SessionPolicy;
use crate::cache::{CacheConfig, UpstashConfig};
use crate::ratelimit::{Policy, DEFAULT_POLICIES};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
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
    /// `SESSION_IDLE_SECS`, `SESSION_ABSOLUTE_SECS`, `SESSION_TOUCH_SECS`.
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

/// How service tokens (`Authorization: Bearer <JWT>`) are verified.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwtConfig {
    /// `JWT_ISSUER`: the required `iss`.
    pub issuer: String,
    /// `JWT_AUDIENCE`: the required `aud` (default `edge-api`).
    pub audience: String,
    /// `JWT_ED25519_PUBLIC_KEYS`: `kid:base64url(32-byte key)` pairs, comma-separated.
    pub ed25519_keys: Vec<(String, [u8; 32])>,
    /// `JWT_HS256_SECRET`: optional shared secret (at least 32 bytes) for HS256 tokens.
    pub hs256_secret: Option<Vec<u8>>,
}

impl JwtConfig {
    /// Returns true when some key is configured, i.e. service tokens can be accepted.
    pub fn enabled(&self) -> bool {
        !self.ed25519_keys.is_empty() || self.hs256_secret.is_some()
    }
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
const DEFAULT_MAX_BODY: usize = 64 * 1024;
const LIMIT_MAX_BODY: usize = 16 * 1024 * 1024;

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

        let max_body_bytes = match lookup("MAX_BODY_BYTES") {
            None => DEFAULT_MAX_BODY,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=LIMIT_MAX_BODY).contains(&n) => n,
                _ => {
                    return Err(err(
                        "MAX_BODY_BYTES",
                        &format!("expected an integer from 1 to {LIMIT_MAX_BODY}"),
                    ))
                }
            },
        };

        let test_routes = parse_bool(lookup("TEST_ROUTES"))
            .ok_or_else(|| err("TEST_ROUTES", "expected true or false"))?;
        if test_routes && environment == Environment::Production {
            return Err(err("TEST_ROUTES", "must not be enabled in production"));
        }

        let secs = |var: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(var) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if (1..=MAX_SECS).contains(&n) => Ok(n),
                    _ => Err(err(var, "expected a number of seconds from 1 to 31536000")),
                },
            }
        };
        let session = SessionPolicy {
            idle_ms: secs("SESSION_IDLE_SECS", 7 * DAY)? * 1000,
            absolute_ms: secs("SESSION_ABSOLUTE_SECS", 30 * DAY)? * 1000,
            touch_ms: secs("SESSION_TOUCH_SECS", 300)? * 1000,
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

        let rate_limits = parse_rate_limits(lookup("RATE_LIMITS").as_deref().unwrap_or(""))
            .map_err(|r| err("RATE_LIMITS", &r))?;

        let database = match lookup("DB_BACKEND").as_deref().map(str::trim) {
            None | Some("") | Some("d1") => DbBackend::D1,
            Some("turso") => {
                let url = lookup("TURSO_URL").unwrap_or_default().trim().to_owned();
                let scheme_ok = ["libsql://", "https://", "http://"]
                    .iter()
                    .any(|p| url.starts_with(p) && url.len() > p.len());
                if !scheme_ok {
                    return Err(err(
                        "TURSO_URL",
                        "expected libsql://, https:// or http:// URL",
                    ));
                }
                let timeout_ms = match lookup("TURSO_TIMEOUT_MS") {
                    None => 5000,
                    Some(v) => v
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=60_000).contains(n))
                        .ok_or_else(|| err("TURSO_TIMEOUT_MS", "expected 1 to 60000"))?,
                };
                DbBackend::Turso {
                    url,
                    auth_token: lookup("TURSO_AUTH_TOKEN").filter(|t| !t.trim().is_empty()),
                    timeout_ms,
                }
            }
            Some(_) => return Err(err("DB_BACKEND", "expected d1 or turso")),
        };

        let cache = parse_cache(&lookup)?;

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
        })
    }

    /// Returns the policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.rate_limits.iter().find(|p| p.name == name)
    }
}

/// Reads an integer variable within `range`, or `default` when it is not set.
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

/// The cache settings. L1 is on by default; L2 is on when an Upstash URL is set, and then
/// needs its token.
fn parse_cache(lookup: &impl Fn(&str) -> Option<String>) -> Result<CacheConfig, ConfigError> {
    let upstash = match lookup("UPSTASH_REDIS_REST_URL").map(|u| u.trim().to_owned()) {
        None => None,
        Some(url) if url.is_empty() => None,
        Some(url) => {
            let scheme_ok = ["https://", "http://"]
                .iter()
                .any(|p| url.starts_with(p) && url.len() > p.len());
            if !scheme_ok {
                return Err(ConfigError {
                    var: "UPSTASH_REDIS_REST_URL",
                    reason: "expected an https:// (or http://) URL".into(),
                });
            }
            let token = lookup("UPSTASH_REDIS_REST_TOKEN")
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ConfigError {
                    var: "UPSTASH_REDIS_REST_TOKEN",
                    reason: "required when UPSTASH_REDIS_REST_URL is set (wrangler secret put)"
                        .into(),
                })?;
            Some(UpstashConfig {
                url,
                token,
                timeout_ms: number(lookup, "CACHE_TIMEOUT_MS", 50, 1..=5_000)?,
            })
        }
    };
    Ok(CacheConfig {
        ttl_ms: number(lookup, "CACHE_TTL_SECS", 60, 1..=DAY)? * 1000,
        stale_ms: number(lookup, "CACHE_STALE_SECS", 300, 0..=DAY)? * 1000,
        l1_max_entries: number(lookup, "CACHE_L1_MAX_ENTRIES", 1000, 0..=100_000)? as usize,
        l1_max_bytes: number(lookup, "CACHE_L1_MAX_BYTES", 8 << 20, 1024..=64 << 20)? as usize,
        upstash,
    })
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

fn parse_bool(value: Option<String>) -> Option<bool> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => Some(false),
        Some("true") | Some("1") => Some(true),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("CURSOR_SECRET".into()).or_insert(SECRET.into());
        Config::parse(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert!(c.allowed_origins.is_empty());
        assert_eq!(c.max_body_bytes, 65536);
        assert!(!c.test_routes);
        assert_eq!(c.session.idle_ms, 7 * 86_400_000);
        assert_eq!(c.session.absolute_ms, 30 * 86_400_000);
        assert_eq!(c.session.touch_ms, 300_000);
        assert!(!c.jwt.enabled());
        assert_eq!(c.jwt.audience, "edge-api");
    }

    #[test]
    fn secrets_must_be_long_enough() {
        assert_eq!(
            parse(&[("CURSOR_SECRET", "short")]).unwrap_err().var,
            "CURSOR_SECRET"
        );
        assert_eq!(
            parse(&[("JWT_HS256_SECRET", "short")]).unwrap_err().var,
            "JWT_HS256_SECRET"
        );
        let map: HashMap<&str, &str> = HashMap::new();
        let e = Config::parse(|k| map.get(k).map(|v| v.to_string())).unwrap_err();
        assert_eq!(e.var, "CURSOR_SECRET");
    }

    #[test]
    fn jwt_keys_are_parsed_and_need_an_issuer() {
        let key = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let c = parse(&[
            ("JWT_ED25519_PUBLIC_KEYS", &format!("k1:{key}, k2:{key}")),
            ("JWT_ISSUER", "https://issuer.example"),
        ])
        .unwrap();
        assert_eq!(c.jwt.ed25519_keys.len(), 2);
        assert_eq!(c.jwt.ed25519_keys[1].0, "k2");
        assert!(c.jwt.enabled());
        let e = parse(&[("JWT_ED25519_PUBLIC_KEYS", &format!("k1:{key}"))]).unwrap_err();
        assert_eq!(e.var, "JWT_ISSUER");
        for bad in ["nokid", "k1:AAAA", "k1:!!!"] {
            let e = parse(&[("JWT_ED25519_PUBLIC_KEYS", bad), ("JWT_ISSUER", "i")]).unwrap_err();
            assert_eq!(e.var, "JWT_ED25519_PUBLIC_KEYS", "{bad}");
        }
    }

    #[test]
    fn rate_limits_override_defaults() {
        let c = parse(&[("RATE_LIMITS", "ip=10/1, login-email=2/600")]).unwrap();
        let ip = c.policy("ip").unwrap();
        assert_eq!((ip.quota.limit, ip.quota.window_ms), (10, 1000));
        assert_eq!(c.policy("login-email").unwrap().quota.limit, 2);
        assert_eq!(c.policy("user").unwrap().quota.limit, 600);
        for bad in ["ip=0/60", "ip=5", "nope=1/1", "ip=1/0", "ip"] {
            assert_eq!(
                parse(&[("RATE_LIMITS", bad)]).unwrap_err().var,
                "RATE_LIMITS",
                "{bad}"
            );
        }
    }

    #[test]
    fn database_backend_is_chosen_and_checked() {
        assert_eq!(parse(&[]).unwrap().database, DbBackend::D1);
        let c = parse(&[
            ("DB_BACKEND", "turso"),
            ("TURSO_URL", "libsql://db.example.turso.io"),
            ("TURSO_AUTH_TOKEN", "t"),
        ])
        .unwrap();
        assert_eq!(
            c.database,
            DbBackend::Turso {
                url: "libsql://db.example.turso.io".into(),
                auth_token: Some("t".into()),
                timeout_ms: 5000
            }
        );
        assert_eq!(
            parse(&[("DB_BACKEND", "turso")]).unwrap_err().var,
            "TURSO_URL"
        );
        assert_eq!(
            parse(&[("DB_BACKEND", "pg")]).unwrap_err().var,
            "DB_BACKEND"
        );
        let e = parse(&[
            ("DB_BACKEND", "turso"),
            ("TURSO_URL", "http://x"),
            ("TURSO_TIMEOUT_MS", "0"),
        ]);
        assert_eq!(e.unwrap_err().var, "TURSO_TIMEOUT_MS");
    }

    #[test]
    fn cache_defaults_to_l1_alone_and_l2_needs_a_token() {
        let c = parse(&[]).unwrap().cache;
        assert_eq!((c.ttl_ms, c.stale_ms), (60_000, 300_000));
        assert_eq!((c.l1_max_entries, c.l1_max_bytes), (1000, 8 << 20));
        assert_eq!(c.upstash, None);
        assert!(c.enabled());

        let c = parse(&[
            ("UPSTASH_REDIS_REST_URL", "https://eu1-x.upstash.io"),
            ("UPSTASH_REDIS_REST_TOKEN", "tok"),
            ("CACHE_TIMEOUT_MS", "80"),
            ("CACHE_L1_MAX_ENTRIES", "0"),
        ])
        .unwrap()
        .cache;
        let l2 = c.upstash.clone().unwrap();
        assert_eq!(
            (l2.url.as_str(), l2.token.as_str(), l2.timeout_ms),
            ("https://eu1-x.upstash.io", "tok", 80)
        );
        assert_eq!(c.l1_max_entries, 0);
        assert!(c.enabled());

        let c = parse(&[
            ("UPSTASH_REDIS_REST_URL", "https://x.upstash.io"),
            ("UPSTASH_REDIS_REST_TOKEN", "tok"),
        ])
        .unwrap();
        assert_eq!(
            c.cache.upstash.unwrap().timeout_ms,
            50,
            "default L2 timeout"
        );

        let e = parse(&[("UPSTASH_REDIS_REST_URL", "https://x.upstash.io")]).unwrap_err();
        assert_eq!(e.var, "UPSTASH_REDIS_REST_TOKEN");
        let e = parse(&[
            ("UPSTASH_REDIS_REST_URL", "redis://x"),
            ("UPSTASH_REDIS_REST_TOKEN", "t"),
        ]);
        assert_eq!(e.unwrap_err().var, "UPSTASH_REDIS_REST_URL");
        for (var, bad) in [
            ("CACHE_TTL_SECS", "0"),
            ("CACHE_STALE_SECS", "x"),
            ("CACHE_L1_MAX_BYTES", "10"),
            ("CACHE_L1_MAX_ENTRIES", "-1"),
        ] {
            assert_eq!(parse(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
        }
        let e = parse(&[
            ("UPSTASH_REDIS_REST_URL", "https://x.upstash.io"),
            ("UPSTASH_REDIS_REST_TOKEN", "t"),
            ("CACHE_TIMEOUT_MS", "0"),
        ]);
        assert_eq!(e.unwrap_err().var, "CACHE_TIMEOUT_MS");
    }

    #[test]
    fn session_timeouts_are_configurable() {
        let c = parse(&[("SESSION_IDLE_SECS", "2"), ("SESSION_TOUCH_SECS", "1")]).unwrap();
        assert_eq!(c.session.idle_ms, 2000);
        assert_eq!(c.session.touch_ms, 1000);
        assert_eq!(
            parse(&[("SESSION_IDLE_SECS", "0")]).unwrap_err().var,
            "SESSION_IDLE_SECS"
        );
    }

    #[test]
    fn origins_are_trimmed_and_checked() {
        let c = parse(&[(
            "ALLOWED_ORIGINS",
            " https://a.example, http://localhost:5173 ,",
        )])
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            ["https://a.example", "http://localhost:5173"]
        );
        for bad in ["*", "a.example", "https://a.example/path", "https://"] {
            let e = parse(&[("ALLOWED_ORIGINS", bad)]).unwrap_err();
            assert_eq!(e.var, "ALLOWED_ORIGINS", "{bad}");
        }
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        for bad in ["abc", "0", "-1", "99999999999"] {
            let e = parse(&[("MAX_BODY_BYTES", bad)]).unwrap_err();
            assert_eq!(e.var, "MAX_BODY_BYTES");
            assert!(e.to_string().contains("MAX_BODY_BYTES"));
        }
        assert_eq!(
            parse(&[("MAX_BODY_BYTES", "1024")]).unwrap().max_body_bytes,
            1024
        );
    }

    #[test]
    fn test_routes_are_refused_in_production() {
        assert!(parse(&[("TEST_ROUTES", "true")]).is_err());
        let c = parse(&[("TEST_ROUTES", "true"), ("APP_ENV", "test")]).unwrap();
        assert!(c.test_routes);
        assert!(parse(&[("TEST_ROUTES", "yes"), ("APP_ENV", "test")]).is_err());
        assert!(parse(&[("APP_ENV", "staging")]).is_err());
    }
}

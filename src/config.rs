//! Typed settings, parsed and checked once per isolate from the Worker's vars and secrets.
//!
//! Parsing is pure (it takes a lookup function), so every rule is unit-tested natively. A bad
//! value is a [`ConfigError`] naming the variable; the pipeline logs it and answers
//! 500 INTERNAL instead of running with a guess.

use std::fmt;

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

        Ok(Self {
            environment,
            allowed_origins,
            max_body_bytes,
            test_routes,
        })
    }
}

/// Accepts `scheme://host[:port]` with no path, as browsers send in `Origin`.
fn parse_origin(origin: &str) -> Result<String, String> {
    if origin == "*" {
        return Err("a wildcard cannot be used with credentialed requests".into());
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{origin:?} must start with https:// or http://"))?;
    if rest.is_empty() || rest.contains('/') || rest.contains(char::is_whitespace) {
        return Err(format!(
            "{origin:?} must be scheme://host[:port] without a path"
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

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert!(c.allowed_origins.is_empty());
        assert_eq!(c.max_body_bytes, 65536);
        assert!(!c.test_routes);
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

//! CSRF defence for cookie-authenticated requests with unsafe methods.
//!
//! Browsers attach cookies to cross-site requests, so a state-changing request that relies on
//! the session cookie must prove it comes from an allowed origin: `Origin` on the allow-list,
//! or `Sec-Fetch-Site: same-origin` (sent by every current browser). Requests authenticated by
//! a bearer token are not at risk (browsers never attach those on their own) and skip this
//! check. See the OWASP CSRF Prevention Cheat Sheet, "Verifying Origin With Standard Headers".

use crate::error::{AppError, ErrorCode};

/// Accepts the request when `Origin` is on the allow-list; without `Origin`, when the
/// browser says it is same-origin. An `Origin` that is present decides on its own (`null`
/// included): no browser sends a foreign origin with `Sec-Fetch-Site: same-origin`, so that
/// pair is a forgery, not a browser to accommodate.
pub fn check(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    allowed_origins: &[String],
) -> Result<(), AppError> {
    let allowed = match origin {
        Some(o) => crate::http::cors::is_allowed(allowed_origins, o),
        None => sec_fetch_site == Some("same-origin"),
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::CsrfRejected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["https://app.example".into()]
    }

    #[test]
    fn allowed_origin_or_same_origin_passes() {
        assert!(check(Some("https://app.example"), None, &allowed()).is_ok());
        assert!(check(None, Some("same-origin"), &allowed()).is_ok());
        assert!(check(Some("https://app.example"), Some("cross-site"), &allowed()).is_ok());
    }

    #[test]
    fn everything_else_is_rejected() {
        for (origin, site) in [
            (None, None),
            (Some("https://evil.example"), None),
            (Some("null"), Some("cross-site")),
            // A present Origin decides: a foreign one is refused whatever Sec-Fetch-Site says.
            (Some("https://evil.example"), Some("same-origin")),
            (Some("null"), Some("same-origin")),
            (None, Some("same-site")),
            (None, Some("none")),
        ] {
            let err = check(origin, site, &allowed()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::CsrfRejected);
            assert_eq!(err.status(), 403);
        }
    }
}

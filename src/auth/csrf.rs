//! CSRF defence for cookie-authenticated requests with unsafe methods.
//!
//! Browsers attach cookies to cross-site requests, so a state-changing request that relies on
//! the session cookie must prove it comes from an allowed origin: `Origin` on the allow-list
//! or equal to the API's own origin (the page it serves), or `Sec-Fetch-Site: same-origin` (sent by every current browser). Requests authenticated by
//! a bearer token are not at risk (browsers never attach those on their own) and skip this
//! check. See the OWASP CSRF Prevention Cheat Sheet, "Verifying Origin With Standard Headers".

use crate::error::{AppError, ErrorCode};

/// Accepts the request when `Origin` is on the allow-list or is `own_origin` (the origin the
/// request reached); without `Origin`, when the
/// browser says it is same-origin. An `Origin` that is present decides on its own (`null`
/// included): no browser sends a foreign origin with `Sec-Fetch-Site: same-origin`, so that
/// pair is a forgery, not a browser to accommodate.
pub fn check(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    allowed_origins: &[String],
    own_origin: &str,
) -> Result<(), AppError> {
    let allowed = match origin {
        Some(o) => o == own_origin || crate::http::cors::is_allowed(allowed_origins, o),
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

    const OWN: &str = "https://api.example";

    fn allowed() -> Vec<String> {
        vec!["https://app.example".into()]
    }

    #[test]
    fn allowed_origin_or_same_origin_passes() {
        assert!(check(Some("https://app.example"), None, &allowed(), OWN).is_ok());
        assert!(check(None, Some("same-origin"), &allowed(), OWN).is_ok());
        assert!(check(
            Some("https://app.example"),
            Some("cross-site"),
            &allowed(),
            OWN
        )
        .is_ok());
        // The page the API serves itself.
        assert!(check(Some(OWN), Some("same-origin"), &allowed(), OWN).is_ok());
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
            let err = check(origin, site, &allowed(), OWN).unwrap_err();
            assert_eq!(err.code(), ErrorCode::CsrfRejected);
            assert_eq!(err.status(), 403);
        }
    }
}

//! CORS for browser clients on other origins, driven by the configured allow-list.
//!
//! Sessions use cookies, so responses to an allowed origin carry
//! `Access-Control-Allow-Credentials: true` and echo that exact origin; a wildcard is never
//! sent (browsers refuse `*` with credentials, and configuration rejects it). A request from
//! any other origin gets no CORS headers at all, so the browser withholds the response.
//! See <https://fetch.spec.whatwg.org/#http-cors-protocol>.

use super::{Headers, Method};

/// Request headers a cross-origin client may send, as the preflight answers them.
const ALLOWED_HEADERS: &str = "authorization, content-type, idempotency-key, if-match, \
                               if-none-match, traceparent, x-d1-bookmark, x-request-id";

/// Response headers a cross-origin client may read: every header the API sends that is not
/// CORS-safelisted, a CORS header itself, or a security header meant for the browser alone.
pub const EXPOSED_HEADERS: &str = "Accept-Encoding, Accept-Patch, Allow, Deprecation, ETag, \
    Idempotent-Replayed, Location, \
    RateLimit, RateLimit-Policy, Retry-After, Server-Timing, Sunset, traceparent, \
    WWW-Authenticate, X-D1-Bookmark, X-Request-Id";

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_SECS: &str = "600";

/// Returns true when `origin` is on the allow-list (exact, case-sensitive match as the
/// browser serialises it).
pub fn is_allowed(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|o| o == origin)
}

/// Returns true when the request is a CORS preflight.
pub fn is_preflight(method: Method, origin: Option<&str>, request_method: Option<&str>) -> bool {
    method == Method::Options && origin.is_some() && request_method.is_some()
}

/// Adds the CORS headers for an actual (non-preflight) response.
pub fn apply(headers: &mut Headers, allowed: &[String], origin: Option<&str>) {
    // The answer depends on Origin, so caches must key on it even when no CORS headers go out.
    headers.push(("Vary", "Origin".into()));
    if let Some(origin) = origin.filter(|o| is_allowed(allowed, o)) {
        headers.push(("Access-Control-Allow-Origin", origin.to_owned().into()));
        headers.push(("Access-Control-Allow-Credentials", "true".into()));
        headers.push(("Access-Control-Expose-Headers", EXPOSED_HEADERS.into()));
    }
}

/// Adds the headers of a preflight answer: the route's methods and the allowed request
/// headers, or nothing when the origin is not allowed.
pub fn apply_preflight(
    headers: &mut Headers,
    allowed: &[String],
    origin: Option<&str>,
    allow_methods: &str,
) {
    headers.push(("Vary", "Origin".into()));
    if let Some(origin) = origin.filter(|o| is_allowed(allowed, o)) {
        headers.push(("Access-Control-Allow-Origin", origin.to_owned().into()));
        headers.push(("Access-Control-Allow-Credentials", "true".into()));
        headers.push((
            "Access-Control-Allow-Methods",
            allow_methods.to_owned().into(),
        ));
        headers.push(("Access-Control-Allow-Headers", ALLOWED_HEADERS.into()));
        headers.push(("Access-Control-Max-Age", MAX_AGE_SECS.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["https://app.example".to_string()]
    }

    fn get<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    #[test]
    fn allowed_origin_is_echoed_with_credentials() {
        let mut h = Headers::new();
        apply(&mut h, &allowed(), Some("https://app.example"));
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(get(&h, "vary"), Some("Origin"));
    }

    #[test]
    fn other_origins_get_no_cors_headers() {
        for origin in [
            Some("https://evil.example"),
            Some("https://APP.example"),
            None,
        ] {
            let mut h = Headers::new();
            apply(&mut h, &allowed(), origin);
            apply_preflight(&mut h, &allowed(), origin, "GET");
            assert!(
                h.iter().all(|(n, _)| !n.starts_with("Access-Control")),
                "{origin:?}"
            );
        }
    }

    #[test]
    fn preflight_lists_methods_and_headers() {
        let mut h = Headers::new();
        apply_preflight(
            &mut h,
            &allowed(),
            Some("https://app.example"),
            "GET, HEAD, POST",
        );
        assert_eq!(
            get(&h, "access-control-allow-methods"),
            Some("GET, HEAD, POST")
        );
        assert!(get(&h, "access-control-allow-headers")
            .unwrap()
            .contains("content-type"));
        assert_eq!(get(&h, "access-control-max-age"), Some("600"));
    }

    #[test]
    fn preflight_needs_origin_and_requested_method() {
        assert!(is_preflight(Method::Options, Some("o"), Some("POST")));
        assert!(!is_preflight(Method::Options, None, Some("POST")));
        assert!(!is_preflight(Method::Options, Some("o"), None));
        assert!(!is_preflight(Method::Get, Some("o"), Some("POST")));
    }
}

//! Security headers added to every response, errors included.
//!
//! The API serves JSON only, so the strictest document policies cost nothing: no framing, no
//! sniffing, no referrer, no content sources. See the OWASP Secure Headers Project.

use super::Headers;

/// `Cache-Control` for responses whose route does not choose one: API answers are usually
/// per-user, so nothing is stored unless a route opts in.
pub const DEFAULT_CACHE_CONTROL: &str = "no-store";

const HEADERS: &[(&str, &str)] = &[
    (
        "Strict-Transport-Security",
        "max-age=63072000; includeSubDomains",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// Whether a shared cache may keep an answer with this `Cache-Control` (`public` or
/// `s-maxage`): such an answer must not carry what is true for one client only.
pub fn shared(cache_control: &str) -> bool {
    cache_control.split(',').any(|directive| {
        let name = directive.trim().split('=').next().unwrap_or("").trim_end();
        name.eq_ignore_ascii_case("public") || name.eq_ignore_ascii_case("s-maxage")
    })
}

/// Adds the security headers, and `Cache-Control` unless the response already has one. A
/// response that sets its own `Content-Security-Policy` (the browser page) keeps it.
pub fn apply(headers: &mut Headers, route_cache_control: Option<&'static str>) {
    let has =
        |headers: &Headers, name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let own_csp = has(headers, "content-security-policy");
    for (name, value) in HEADERS {
        if own_csp && *name == "Content-Security-Policy" {
            continue;
        }
        headers.push((name, (*value).into()));
    }
    if !has(headers, "cache-control") {
        let value = route_cache_control.unwrap_or(DEFAULT_CACHE_CONTROL);
        headers.push(("Cache-Control", value.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_s_maxage_are_shared() {
        assert!(shared("public, max-age=300"));
        assert!(shared("max-age=60, S-Maxage=600"));
        assert!(!shared("private, no-cache"));
        assert!(!shared("no-store"));
        assert!(!shared("max-age=60, publicity"));
    }

    #[test]
    fn defaults_to_no_store() {
        let mut h = Headers::new();
        apply(&mut h, None);
        assert!(h.contains(&("Cache-Control", "no-store".into())));
        assert!(h.contains(&("X-Frame-Options", "DENY".into())));
        assert_eq!(h.len(), HEADERS.len() + 1);
    }

    #[test]
    fn a_response_with_its_own_policy_keeps_it() {
        let mut h: Headers = vec![("Content-Security-Policy", "default-src 'self'".into())];
        apply(&mut h, None);
        let csp: Vec<_> = h
            .iter()
            .filter(|(n, _)| *n == "Content-Security-Policy")
            .collect();
        assert_eq!(
            csp,
            [&("Content-Security-Policy", "default-src 'self'".into())]
        );
        assert!(h.contains(&("X-Frame-Options", "DENY".into())));
    }

    #[test]
    fn route_or_response_cache_control_wins() {
        let mut h = Headers::new();
        apply(&mut h, Some("public, max-age=60"));
        assert!(h.contains(&("Cache-Control", "public, max-age=60".into())));

        let mut h: Headers = vec![("Cache-Control", "private".into())];
        apply(&mut h, Some("public, max-age=60"));
        let count = h.iter().filter(|(n, _)| *n == "Cache-Control").count();
        assert_eq!(count, 1);
    }
}

//! The session cookie: building `Set-Cookie` and finding the token in `Cookie`.
//!
//! `__Host-` prefix (RFC 6265bis §4.1.3.2): the browser accepts the cookie only with `Secure`,
//! `Path=/` and no `Domain`, so no subdomain can set or shadow it. `HttpOnly` keeps it from
//! scripts; `SameSite=Lax` keeps it off cross-site subrequests and POSTs.

/// The cookie name.
pub const NAME: &str = "__Host-session";

/// Builds the `Set-Cookie` value that stores `token` for `max_age_secs`.
pub fn set(token: &str, max_age_secs: u64) -> String {
    format!("{NAME}={token}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=Lax")
}

/// Builds the `Set-Cookie` value that deletes the cookie.
pub fn clear() -> String {
    format!("{NAME}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
}

/// Returns the session cookie's value from a `Cookie` header, if present.
pub fn find(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == NAME).then_some(value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_has_every_attribute() {
        let c = set("tok", 2_592_000);
        assert!(c.starts_with("__Host-session=tok; "));
        for attr in [
            "Path=/",
            "Max-Age=2592000",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
        ] {
            assert!(c.split("; ").any(|a| a == attr), "{attr} in {c}");
        }
        assert!(!c.contains("Domain"));
    }

    #[test]
    fn clear_expires_the_cookie() {
        let c = clear();
        assert!(c.starts_with("__Host-session=; "));
        assert!(c.contains("Max-Age=0"));
    }

    #[test]
    fn finds_the_session_among_other_cookies() {
        assert_eq!(find("a=1; __Host-session=xyz; b=2"), Some("xyz"));
        assert_eq!(find("__Host-session=xyz"), Some("xyz"));
        assert_eq!(find("session=xyz; __host-session=abc"), None);
        assert_eq!(find(""), None);
    }
}

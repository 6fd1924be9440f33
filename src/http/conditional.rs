//! Conditional requests (RFC 9110 §13): `If-None-Match` for cheap revalidation (304) and
//! `If-Match` for optimistic concurrency (412). On a change, a matching `If-None-Match`
//! (`*` for "only if it does not exist") is 412 too.

use super::ApiResponse;

/// Returns true when `If-None-Match` matches `current` (weak comparison, RFC 9110 §13.1.2).
pub fn none_match(header: &str, current: &str) -> bool {
    let opaque = |tag: &'_ str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
    let current = opaque(current);
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || opaque(tag) == current)
}

/// Returns true when `If-Match` is satisfied by the representation tagged `current`: `*`, or
/// `current` among its tags by strong comparison, so a weak tag never matches (RFC 9110
/// §13.1.1).
pub fn matches(header: &str, current: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || (tag == current && !tag.starts_with("W/")))
}

/// Returns true when `If-Match` holds for a representation that exists, tagged `etag` if it
/// has a tag: `*` always, else `etag` among its tags by strong comparison ([`matches`]). A
/// representation without a tag matches no tag.
pub fn if_match_holds(header: &str, etag: Option<&str>) -> bool {
    match etag {
        Some(etag) => matches(header, etag),
        None => header.split(',').any(|tag| tag.trim() == "*"),
    }
}

/// Whether a change to a target without an `ETag` may go ahead (RFC 9110 §13.1), given
/// whether the target `exists` (has a current representation): `If-Match` holds only for
/// `*` on a target that exists (no tag can match an untagged one), and `If-None-Match` fails
/// only for `*` ("only if nothing is there") on one that exists.
pub fn untagged_change_allowed(
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    exists: bool,
) -> bool {
    let star = |h: &str| h.split(',').any(|tag| tag.trim() == "*");
    let if_match_holds = if_match.is_none_or(|h| exists && star(h));
    let if_none_match_holds = if_none_match.is_none_or(|h| !(exists && star(h)));
    if_match_holds && if_none_match_holds
}

/// A JSON body with its `etag`: 304 when `if_none_match` matches the ETag, else 200 with
/// `body()`, which is only called for a 200 (a 304 copies none of a cached entry or of the
/// embedded API document).
pub fn respond(
    if_none_match: Option<&str>,
    etag: Option<&str>,
    body: impl FnOnce() -> Vec<u8>,
) -> ApiResponse {
    let unchanged = etag.is_some_and(|etag| if_none_match.is_some_and(|h| none_match(h, etag)));
    let resp = if unchanged {
        ApiResponse::empty(304)
    } else {
        ApiResponse {
            status: 200,
            headers: vec![("Content-Type", "application/json".into())],
            body: body(),
        }
    };
    match etag {
        Some(etag) => resp.with_header("ETag", etag.to_owned()),
        None => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_strongly() {
        for (header, ok) in [
            ("\"v3\"", true),
            ("*", true),
            ("\"v1\", \"v3\"", true),
            ("W/\"v3\"", false),
            ("\"v2\"", false),
            ("garbage", false),
            ("", false),
        ] {
            assert_eq!(matches(header, "\"v3\""), ok, "{header}");
        }
        assert!(!matches("W/\"a\"", "W/\"a\""), "a weak tag never matches");
        assert!(matches("*", "\"v7\""));
        assert!(!matches("\"v03\"", "\"v3\""), "tags compare as octets");
    }

    #[test]
    fn if_match_on_an_untagged_representation_holds_only_for_a_star() {
        assert!(if_match_holds("*", None));
        assert!(if_match_holds("\"a\", *", None));
        assert!(!if_match_holds("\"a\"", None));
        assert!(!if_match_holds("", None));
        assert!(if_match_holds("\"a\"", Some("\"a\"")));
        assert!(!if_match_holds("W/\"a\"", Some("W/\"a\"")));
    }

    #[test]
    fn a_change_to_an_untagged_target_holds_only_for_what_needs_no_tag() {
        for (if_match, if_none_match, exists, allowed) in [
            (None, None, true, true),
            (None, None, false, true),
            (Some("*"), None, true, true),
            (Some("*"), None, false, false),
            (Some("\"a\""), None, true, false),
            (Some("\"a\", *"), None, true, true),
            (Some(""), None, true, false),
            (None, Some("*"), true, false),
            (None, Some("*"), false, true),
            (None, Some("\"a\""), true, true),
            (None, Some("W/\"a\", *"), true, false),
            (Some("*"), Some("\"a\""), true, true),
            (Some("*"), Some("*"), true, false),
        ] {
            assert_eq!(
                untagged_change_allowed(if_match, if_none_match, exists),
                allowed,
                "{if_match:?} {if_none_match:?} {exists}"
            );
        }
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(none_match("\"v3\"", "\"v3\""));
        assert!(none_match("W/\"v3\"", "\"v3\""));
        assert!(none_match("\"v1\", \"v3\"", "\"v3\""));
        assert!(none_match("*", "\"v3\""));
        assert!(!none_match("\"v2\"", "\"v3\""));
        assert!(none_match("W/\"ab\"", "W/\"ab\""));
        assert!(none_match("\"ab\"", "W/\"ab\""));
        assert!(!none_match("W/\"ab\"", "W/\"cd\""));
    }

    #[test]
    fn a_matching_validator_answers_304_without_a_body() {
        let r = respond(Some("\"v2\""), Some("\"v2\""), || {
            unreachable!("a 304 builds no body")
        });
        assert_eq!((r.status, r.body.len()), (304, 0));
        assert_eq!(r.header("etag"), Some("\"v2\""));
        let r = respond(Some("\"v1\""), Some("\"v2\""), || b"{}".to_vec());
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let r = respond(None, None, || b"{}".to_vec());
        assert_eq!((r.status, r.header("etag")), (200, None));
    }
}

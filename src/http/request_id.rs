//! Request ids: adopt a well-formed inbound `X-Request-Id`, otherwise mint a UUIDv7.

/// The longest inbound request id that is adopted.
const MAX_LEN: usize = 128;

/// Returns the inbound id when it is 1–128 characters of `[A-Za-z0-9._=-]`.
///
/// Anything else (empty, too long, spaces, quotes, control characters) is dropped rather than
/// echoed, so a client cannot inject text into logs or response headers through it.
pub fn accept(inbound: Option<&str>) -> Option<&str> {
    let id = inbound?;
    let ok = (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'=' | b'-'));
    ok.then_some(id)
}

/// Returns the request id to use: the accepted inbound one, or a new UUIDv7.
pub fn resolve(inbound: Option<&str>, now_ms: u64) -> String {
    match accept(inbound) {
        Some(id) => id.to_owned(),
        None => crate::ids::uuid_string(crate::ids::uuid_v7(now_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids_are_adopted() {
        for id in ["a", "abc-123", "A.b_c=d-e", &"x".repeat(128)] {
            assert_eq!(accept(Some(id)), Some(id));
        }
    }

    #[test]
    fn malformed_ids_are_replaced() {
        for id in [
            "",
            "has space",
            "quote\"",
            "new\nline",
            "ünï",
            &"x".repeat(129),
        ] {
            assert_eq!(accept(Some(id)), None, "{id:?}");
            let fresh = resolve(Some(id), 1_700_000_000_000);
            assert_eq!(uuid::Uuid::parse_str(&fresh).unwrap().get_version_num(), 7);
        }
        assert_eq!(accept(None), None);
    }
}

//! Opaque pagination cursors, signed with HMAC-SHA256 so a client can neither forge nor
//! alter one: a tampered cursor is a 400, not a query over someone else's position.
//!
//! Form: `base64url(json) "." base64url(first 16 bytes of the HMAC tag)`. The tag also
//! covers a scope (the caller it was issued to), which the cursor does not carry: a cursor
//! presented by anyone else is as invalid as a forged one.

use crate::error::{AppError, ErrorCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{de::DeserializeOwned, Serialize};
use sha2::Sha256;

const TAG_LEN: usize = 16;

fn mac(secret: &[u8], scope: &str, payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    // Length first, so no scope and payload pair can be read as another.
    mac.update(&(scope.len() as u64).to_be_bytes());
    mac.update(scope.as_bytes());
    mac.update(payload.as_bytes());
    mac
}

/// Encodes a cursor position and signs it for `scope`.
pub fn encode<T: Serialize>(secret: &[u8], scope: &str, position: &T) -> String {
    let payload = B64URL.encode(serde_json::to_vec(position).unwrap_or_default());
    let tag = mac(secret, scope, &payload).finalize().into_bytes();
    format!("{payload}.{}", B64URL.encode(&tag[..TAG_LEN]))
}

/// Verifies a cursor for `scope` and decodes it; anything altered, malformed or issued to
/// another scope is 400 BAD_REQUEST.
pub fn decode<T: DeserializeOwned>(
    secret: &[u8],
    scope: &str,
    cursor: &str,
) -> Result<T, AppError> {
    let invalid =
        || AppError::new(ErrorCode::BadRequest).with_message("The pagination cursor is not valid.");
    let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
    let tag = B64URL.decode(tag).map_err(|_| invalid())?;
    mac(secret, scope, payload)
        .verify_truncated_left(&tag)
        .map_err(|_| invalid())?;
    if tag.len() != TAG_LEN {
        return Err(invalid());
    }
    let json = B64URL.decode(payload).map_err(|_| invalid())?;
    serde_json::from_slice(&json).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trips() {
        let c = encode(KEY, "user-a", &(1_700_000_000_000u64, "id-1"));
        let back: (u64, String) = decode(KEY, "user-a", &c).unwrap();
        assert_eq!(back, (1_700_000_000_000, "id-1".to_string()));
    }

    #[test]
    fn a_cursor_is_valid_only_for_its_scope() {
        let c = encode(KEY, "user-a", &7u64);
        for other in ["user-b", "", "user-a ", "user-"] {
            let err = decode::<u64>(KEY, other, &c).unwrap_err();
            assert_eq!(err.status(), 400, "{other:?}");
        }
        // The scope is not in the cursor.
        let (payload, _) = c.split_once('.').unwrap();
        assert_eq!(B64URL.decode(payload).unwrap(), b"7");
    }

    #[test]
    fn tampering_is_rejected() {
        let c = encode(KEY, "s", &(5u64, "a"));
        let (payload, tag) = c.split_once('.').unwrap();
        let forged_payload = B64URL.encode(br#"[6,"a"]"#);
        for bad in [
            format!("{forged_payload}.{tag}"),
            format!("{payload}.AAAAAAAAAAAAAAAAAAAAAA"),
            format!("{payload}.{}", &tag[..4]),
            payload.to_string(),
            String::new(),
        ] {
            let err = decode::<(u64, String)>(KEY, "s", &bad).unwrap_err();
            assert_eq!(err.status(), 400, "{bad}");
        }
        assert!(decode::<(u64, String)>(b"another key another key another!", "s", &c).is_err());
    }
}

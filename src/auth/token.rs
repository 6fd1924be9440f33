//! Session tokens: 32 random bytes, sent to the browser as unpadded base64url and stored
//! server-side only as a SHA-256 digest, so a dump of KV holds no usable session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
/// Length of the base64url form of 32 bytes.
const TOKEN_CHARS: usize = 43;

/// A session token as issued to one client. Never logged: `Debug` prints a short digest.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken([u8; TOKEN_BYTES]);

impl SessionToken {
    /// Draws a new token from the CSPRNG.
    pub fn generate() -> Self {
        Self(crate::ids::random_bytes())
    }

    /// Parses the cookie value; anything that this server could not have issued is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() != TOKEN_CHARS {
            return None;
        }
        let bytes = B64URL.decode(value).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// Returns the value for the cookie.
    pub fn encode(&self) -> String {
        B64URL.encode(self.0)
    }

    /// Returns the storage key: `session:` and the hex SHA-256 of the token bytes.
    pub fn storage_key(&self) -> String {
        let mut key = String::with_capacity(8 + 64);
        key.push_str("session:");
        crate::ids::push_hex(&mut key, &Sha256::digest(self.0));
        key
    }
}

/// Returns the lowercase hex SHA-256 of `bytes`.
pub fn digest_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    crate::ids::push_hex(&mut hex, &Sha256::digest(bytes));
    hex
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.storage_key();
        write!(f, "SessionToken(sha256:{}…)", &key[8..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_the_cookie_form() {
        let t = SessionToken::generate();
        let encoded = t.encode();
        assert_eq!(encoded.len(), TOKEN_CHARS);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(SessionToken::parse(&encoded), Some(t));
    }

    #[test]
    fn tokens_are_unique() {
        assert_ne!(SessionToken::generate(), SessionToken::generate());
    }

    #[test]
    fn foreign_values_are_refused() {
        for bad in ["", "abc", &"A".repeat(42), &"A".repeat(44), &"*".repeat(43)] {
            assert_eq!(SessionToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn storage_key_is_a_digest_not_the_token() {
        let t = SessionToken::parse(&"A".repeat(43)).unwrap();
        let key = t.storage_key();
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            key,
            "session:66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert!(!key.contains(&t.encode()));
        assert!(!format!("{t:?}").contains(&t.encode()));
    }
}

//! Passkeys: signing up and in with WebAuthn credentials, and managing them. The relying
//! party's checks are in [`crate::auth::webauthn`]; this feature holds the ceremonies'
//! state (a challenge in the `webauthn_challenges` table, bound to its ceremony and
//! account), the `passkeys` table, and the handlers.

pub mod ceremony;
#[cfg(not(target_arch = "wasm32"))]
pub mod contract;
pub mod handlers;
pub mod repo;

use crate::domain::{Issue, PasskeyId, UserId};
use serde::Serialize;

/// A passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    pub id: PasskeyId,
    pub user_id: UserId,
    /// The authenticator's credential id, base64url.
    pub credential_id: String,
    /// The COSE_Key as registered.
    pub public_key: Vec<u8>,
    pub algorithm: i64,
    pub sign_count: u32,
    pub transports: Vec<String>,
    pub aaguid: String,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub name: String,
    pub created_at: u64,
    pub last_used_at: Option<u64>,
}

/// What clients see of a passkey: never the public key or the counter.
#[derive(Debug, Clone, Serialize)]
pub struct PublicPasskey<'a> {
    pub id: &'a PasskeyId,
    pub name: &'a str,
    pub credential_id: &'a str,
    pub algorithm: i64,
    pub transports: &'a [String],
    pub aaguid: &'a str,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: u64,
    pub last_used_at: Option<u64>,
}

impl Passkey {
    /// Returns the client-facing representation.
    pub fn public(&self) -> PublicPasskey<'_> {
        PublicPasskey {
            id: &self.id,
            name: &self.name,
            credential_id: &self.credential_id,
            algorithm: self.algorithm,
            transports: &self.transports,
            aaguid: &self.aaguid,
            backup_eligible: self.backup_eligible,
            backed_up: self.backed_up,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        }
    }
}

/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The name a passkey gets when none is given.
pub const DEFAULT_NAME: &str = "Passkey";

/// Parses a passkey name: 1 to 64 characters once trimmed, no control characters.
pub fn parse_name(raw: &str) -> Result<String, Issue> {
    let name = crate::domain::trim_blank(raw);
    if name.is_empty() {
        return Err("required");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("too_long");
    }
    // A name is a label, shown in lists and in the owner's notices: no control characters,
    // and no bidirectional embeddings, overrides or isolates, which reorder the text around
    // them (a name that makes a notice read as something else).
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err("invalid_characters");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(parse_name("  Laptop "), Ok("Laptop".into()));
        assert_eq!(parse_name("\u{feff}"), Err("required"));
        assert_eq!(parse_name(" "), Err("required"));
        assert_eq!(parse_name(&"é".repeat(64)), Ok("é".repeat(64)));
        assert_eq!(parse_name(&"é".repeat(65)), Err("too_long"));
        assert_eq!(parse_name("a\u{7}b"), Err("invalid_characters"));
        for bidi in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}'] {
            assert_eq!(
                parse_name(&format!("Lap{bidi}top")),
                Err("invalid_characters")
            );
        }
        // Right-to-left text itself is a name like any other.
        assert_eq!(parse_name("מחשב נייד"), Ok("מחשב נייד".into()));
    }
}

//! Identifiers: UUIDs in their canonical text form, one type per kind of thing they name.

use super::Issue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Returns true for the canonical text form of a UUID: 36 characters, lowercase hex in
/// 8-4-4-4-12 groups. Only this form is accepted, so one resource has exactly one URL and
/// one cache key.
fn is_canonical_uuid(raw: &str) -> bool {
    raw.len() == 36
        && raw.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses the canonical text form of a UUID (`invalid_format` otherwise).
            pub fn parse(raw: &str) -> Result<Self, Issue> {
                if is_canonical_uuid(raw) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err("invalid_format")
                }
            }

            /// Returns a new UUIDv7 for `unix_ms`.
            pub fn generate(unix_ms: u64) -> Self {
                Self(crate::ids::uuid_v7(unix_ms).to_string())
            }

            /// Returns the canonical text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Returns the UUID's 16 bytes.
            pub fn uuid_bytes(&self) -> [u8; 16] {
                uuid::Uuid::parse_str(&self.0).map_or([0; 16], |u| *u.as_bytes())
            }

            /// Reads 16 bytes back as an id.
            pub fn from_uuid_bytes(bytes: &[u8]) -> Option<Self> {
                let bytes: [u8; 16] = bytes.try_into().ok()?;
                Some(Self(uuid::Uuid::from_bytes(bytes).hyphenated().to_string()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        /// Stored and signed forms (KV records, cursors) are parsed again when read.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// A user account's id (UUIDv7).
    UserId
);
uuid_id!(
    /// A note's id (UUIDv7).
    NoteId
);
uuid_id!(
    /// A passkey's id in this API (UUIDv7); the authenticator's credential id is separate.
    PasskeyId
);
uuid_id!(
    /// A session's public id (UUIDv7), as listed to its owner; never the token.
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_form_is_an_id() {
        let id = "0190b0a0-0000-7000-8000-000000000000";
        assert_eq!(NoteId::parse(id).unwrap().as_str(), id);
        for bad in [
            "",
            "abc",
            "0190B0A0-0000-7000-8000-000000000000",
            "{0190b0a0-0000-7000-8000-000000000000}",
            "0190b0a000007000800000000000000000",
            "urn:uuid:0190b0a0-0000-7000-8000-000000000000",
            "0190b0a0-0000-7000-8000-00000000000g",
            "0190b0a0+0000-7000-8000-000000000000",
        ] {
            assert_eq!(NoteId::parse(bad), Err("invalid_format"), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_parse_and_round_trip_through_json() {
        let id = UserId::generate(1_700_000_000_000);
        assert_eq!(UserId::parse(id.as_str()), Ok(id.clone()));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<UserId>("\"nope\"").is_err());
    }
}

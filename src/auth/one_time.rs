//! One-time records: WebAuthn challenges, and the keys and secrets of e-mail sign-in links.
//! Each is filed under the SHA-256 of its secret (a leaked store reveals no usable value),
//! expires on its own, and is deleted when it is first taken.
//!
//! Challenges live in KV through [`OneTimeStore`]. The KV adapter reads then deletes: KV has
//! no atomic take, so within its propagation delay (up to about a minute) a second location
//! may still read a record already taken elsewhere, and two requests racing in one location
//! may both read it. A replayed WebAuthn response still needs the authenticator's signature
//! over that very challenge; see the README, "Passkeys". A sign-in link, which is all it
//! takes to sign in, is filed in the database instead (`accounts::repo::SignInLinks`), where
//! one statement spends it.

use super::token::digest_hex;
use crate::error::AppError;

/// Where one-time records live. The KV adapter is in `kv_store.rs`; tests use a map.
#[allow(async_fn_in_trait)]
pub trait OneTimeStore {
    /// Stores `value` under `key` for `ttl_secs` (at least 60, KV's minimum).
    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), AppError>;
    /// Reads and deletes the record under `key`.
    async fn take(&self, key: &str) -> Result<Option<String>, AppError>;
}

/// The storage key of a secret of one kind (`webauthn-challenge`, `email-link`).
pub fn key(kind: &str, secret: &[u8]) -> String {
    format!("{kind}:{}", digest_hex(secret))
}

/// Returns 32 random bytes.
pub fn secret() -> Result<[u8; 32], AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::internal(format!("getrandom: {e}")))?;
    Ok(bytes)
}

/// An in-memory [`OneTimeStore`] for native tests.
#[cfg(test)]
pub mod memory {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct MemoryOneTime(pub RefCell<BTreeMap<String, String>>);

    impl OneTimeStore for MemoryOneTime {
        async fn put(&self, key: &str, value: &str, _ttl: u64) -> Result<(), AppError> {
            self.0.borrow_mut().insert(key.into(), value.into());
            Ok(())
        }
        async fn take(&self, key: &str) -> Result<Option<String>, AppError> {
            Ok(self.0.borrow_mut().remove(key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_the_secret() {
        let k = key("email-link", b"secret");
        assert!(k.starts_with("email-link:"));
        assert!(!k.contains("secret"));
        assert_eq!(k.len(), "email-link:".len() + 64);
        assert_ne!(secret().unwrap(), secret().unwrap());
    }
}

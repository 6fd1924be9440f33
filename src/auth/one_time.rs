//! One-time records: WebAuthn challenges, and the keys and secrets of e-mail sign-in links.
//! Each is filed under the SHA-256 of its secret (a leaked store reveals no usable value),
//! expires on its own, and is deleted when it is first taken.
//!
//! Both live in the database, where one `DELETE … RETURNING` takes a record, so of any
//! number of requests racing for one exactly one gets it, in every location: challenges
//! through [`OneTimeStore`] (`passkeys::repo::Challenges`), sign-in links in
//! `accounts::repo::SignInLinks`. KV would not do: it has no atomic take, and a record
//! deleted in one location can still be read in another for up to a minute.

use super::token::digest_hex;
use crate::error::AppError;

/// Where one-time records live. The database adapter is `passkeys::repo::Challenges`; tests
/// use a map.
#[allow(async_fn_in_trait)]
pub trait OneTimeStore {
    /// Stores `value` under `key` until `expires_at` (Unix milliseconds), and may clear the
    /// records that have expired by `now`.
    async fn put(&self, key: &str, value: &str, expires_at: u64, now: u64) -> Result<(), AppError>;
    /// Reads and deletes the record under `key`, in one step: two callers never both get
    /// it. An expired record may still be returned; the caller checks its time.
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
        async fn put(&self, key: &str, value: &str, _: u64, _: u64) -> Result<(), AppError> {
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

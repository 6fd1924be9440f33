//! A ceremony's state between its options and its response: what it is for and for whom,
//! filed in the one-time store under the SHA-256 of its challenge, for the ceremony's
//! timeout, and taken (deleted) by the first response that names it, in one step.

use crate::auth::one_time::{self, OneTimeStore};
use crate::auth::webauthn::forms::TIMEOUT_MS;
use crate::domain::UserId;
use crate::error::AppError;
use serde::{Deserialize, Serialize};

/// What the challenge was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A new account, `user_id` reserved for it, with this e-mail.
    SignUp { user_id: UserId, email: String },
    /// Another passkey for a signed-in account.
    AddPasskey { user_id: UserId },
    /// Signing in: to the named account, to an unknown e-mail (`user_id` none, `named`), or
    /// with a discoverable credential (none, not named).
    SignIn {
        user_id: Option<UserId>,
        named: bool,
    },
}

/// A stored ceremony.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub purpose: Purpose,
    /// When the challenge stops being accepted, Unix milliseconds.
    pub expires_at: u64,
}

/// The stored form: flat, so decoding needs no tagged-enum machinery in the Wasm.
#[derive(Serialize, Deserialize)]
struct Record {
    /// `sign_up`, `add_passkey` or `sign_in`.
    kind: String,
    #[serde(default)]
    user_id: Option<UserId>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    named: bool,
    expires_at: u64,
}

impl Ceremony {
    fn to_record(&self) -> Record {
        let (kind, user_id, email, named) = match &self.purpose {
            Purpose::SignUp { user_id, email } => ("sign_up", Some(user_id), Some(email), false),
            Purpose::AddPasskey { user_id } => ("add_passkey", Some(user_id), None, false),
            Purpose::SignIn { user_id, named } => ("sign_in", user_id.as_ref(), None, *named),
        };
        Record {
            kind: kind.into(),
            user_id: user_id.cloned(),
            email: email.cloned(),
            named,
            expires_at: self.expires_at,
        }
    }

    fn from_record(r: Record) -> Option<Self> {
        let purpose = match (r.kind.as_str(), r.user_id, r.email) {
            ("sign_up", Some(user_id), Some(email)) => Purpose::SignUp { user_id, email },
            ("add_passkey", Some(user_id), None) => Purpose::AddPasskey { user_id },
            ("sign_in", user_id, None) => Purpose::SignIn {
                user_id,
                named: r.named,
            },
            _ => return None,
        };
        Some(Self {
            purpose,
            expires_at: r.expires_at,
        })
    }
}

const KIND: &str = "webauthn-challenge";

/// Issues a challenge for `purpose`: 32 random bytes, stored hashed until the timeout.
pub async fn begin<S: OneTimeStore>(
    store: &S,
    purpose: Purpose,
    now: u64,
) -> Result<[u8; 32], AppError> {
    let challenge = one_time::secret()?;
    let record = Ceremony {
        purpose,
        expires_at: now + TIMEOUT_MS,
    };
    let value = serde_json::to_string(&record.to_record()).map_err(AppError::internal)?;
    store
        .put(
            &one_time::key(KIND, &challenge),
            &value,
            record.expires_at,
            now,
        )
        .await?;
    Ok(challenge)
}

/// Takes the ceremony `challenge` was issued for: `None` when it never was, was already
/// used, or has expired.
pub async fn take<S: OneTimeStore>(
    store: &S,
    challenge: &[u8],
    now: u64,
) -> Result<Option<Ceremony>, AppError> {
    let Some(value) = store.take(&one_time::key(KIND, challenge)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Record>(&value)
        .ok()
        .and_then(Ceremony::from_record)
        .filter(|c| now < c.expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::one_time::memory::MemoryOneTime;
    use futures_util::FutureExt;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        f.now_or_never().expect("memory store never waits")
    }

    #[test]
    fn a_challenge_is_single_use_stored_hashed_and_expires() {
        let store = MemoryOneTime::default();
        let purpose = Purpose::SignIn {
            user_id: None,
            named: false,
        };
        let challenge = run(begin(&store, purpose.clone(), 1_000)).unwrap();
        let stored = store.0.borrow().keys().next().cloned().unwrap();
        assert!(!stored.contains(&crate::auth::webauthn::b64_encode(&challenge)));
        let found = run(take(&store, &challenge, 2_000)).unwrap().unwrap();
        assert_eq!(found.purpose, purpose);
        assert_eq!(found.expires_at, 1_000 + TIMEOUT_MS);
        assert_eq!(run(take(&store, &challenge, 2_000)).unwrap(), None, "used");

        let challenge = run(begin(&store, purpose, 1_000)).unwrap();
        assert_eq!(
            run(take(&store, &challenge, 1_000 + TIMEOUT_MS)).unwrap(),
            None,
            "expired"
        );
        assert_eq!(run(take(&store, b"never issued", 0)).unwrap(), None);
    }

    #[test]
    fn every_purpose_survives_storage() {
        let store = MemoryOneTime::default();
        let user_id = UserId::generate(1);
        for purpose in [
            Purpose::SignUp {
                user_id: user_id.clone(),
                email: "a@b.example".into(),
            },
            Purpose::AddPasskey {
                user_id: user_id.clone(),
            },
            Purpose::SignIn {
                user_id: Some(user_id.clone()),
                named: true,
            },
            Purpose::SignIn {
                user_id: None,
                named: true,
            },
            Purpose::SignIn {
                user_id: None,
                named: false,
            },
        ] {
            let challenge = run(begin(&store, purpose.clone(), 0)).unwrap();
            assert_eq!(
                run(take(&store, &challenge, 1)).unwrap().unwrap().purpose,
                purpose
            );
        }
        // A record of no known shape is no ceremony.
        let key = one_time::key(KIND, b"odd");
        run(store.put(&key, r#"{"kind":"sign_up","expires_at":9}"#, 9, 0)).unwrap();
        assert_eq!(run(take(&store, b"odd", 0)).unwrap(), None);
    }
}

//! Server-side sessions: the record, the expiry rules, the storage port, and the operations
//! (create, authenticate, revoke) written once against that port.
//!
//! # Consistency
//! The KV adapter is eventually consistent: a deleted session can stay readable for up to
//! about a minute in other locations. Routes marked `sensitive` therefore also compare the
//! session's `epoch` with the user's `session_epoch` in D1, which logout-all and password
//! changes increment, so a revoked session can never perform them.

use crate::domain::{Role, SessionId, UserId};
use crate::error::AppError;
use serde::{Deserialize, Serialize};

use super::token::SessionToken;

/// Timeouts, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long expires.
    pub idle_ms: u64,
    /// A session expires this long after login, however active.
    pub absolute_ms: u64,
    /// `last_seen_at` is rewritten at most this often (KV writes are rate-limited per key and
    /// billed).
    pub touch_ms: u64,
    /// How long an isolate serves a record from its own copy (0: always read KV).
    pub cache_ms: u64,
}

/// How a session began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignIn {
    /// A password login or sign-up, and records written before the field existed.
    #[default]
    Password,
    Passkey,
    EmailLink,
}

/// How long after a sign-in with a passkey or an e-mail link the session counts as a
/// fresh proof of the account, in milliseconds (see [`Session::freshly_proven`]).
pub const FRESH_PROOF_MS: u64 = 5 * 60 * 1000;

/// One session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Public id (UUIDv7), used by the session list and `DELETE /v1/auth/sessions/{id}`.
    pub id: SessionId,
    pub user_id: UserId,
    pub role: Role,
    /// The user's `session_epoch` when the session was created.
    pub epoch: i64,
    pub created_at: u64,
    pub last_seen_at: u64,
    pub idle_expires_at: u64,
    pub absolute_expires_at: u64,
    pub user_agent: String,
    #[serde(default)]
    pub signed_in_with: SignIn,
}

/// The longest user agent kept, in bytes.
const MAX_USER_AGENT: usize = 256;

impl Session {
    /// Builds a new session for a user at `now`.
    pub fn new(
        user_id: &UserId,
        role: Role,
        epoch: i64,
        user_agent: &str,
        signed_in_with: SignIn,
        now: u64,
        policy: &SessionPolicy,
    ) -> Self {
        let absolute_expires_at = now + policy.absolute_ms;
        Self {
            id: SessionId::generate(now),
            user_id: user_id.clone(),
            role,
            epoch,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: (now + policy.idle_ms).min(absolute_expires_at),
            absolute_expires_at,
            user_agent: truncate(user_agent, MAX_USER_AGENT).to_owned(),
            signed_in_with,
        }
    }

    /// Returns true while the session is less than [`FRESH_PROOF_MS`] old and began with a
    /// passkey or an e-mail link: proof of the account as strong as its password, so it may
    /// stand in for the current password when setting a new one.
    pub fn freshly_proven(&self, now: u64) -> bool {
        self.signed_in_with != SignIn::Password
            && now.saturating_sub(self.created_at) < FRESH_PROOF_MS
    }

    /// Returns true while the session is less than [`FRESH_PROOF_MS`] old, however it began:
    /// the caller proved the account that recently (for deleting it).
    pub fn recently_signed_in(&self, now: u64) -> bool {
        now.saturating_sub(self.created_at) < FRESH_PROOF_MS
    }

    /// Returns true once either deadline has passed.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.idle_expires_at || now >= self.absolute_expires_at
    }

    /// Returns the session with `last_seen_at` moved to `now`, or `None` when the last write
    /// is recent enough to skip (at most one write per `touch_ms`).
    pub fn touched(&self, now: u64, policy: &SessionPolicy) -> Option<Self> {
        if now.saturating_sub(self.last_seen_at) < policy.touch_ms {
            return None;
        }
        Some(Self {
            last_seen_at: now,
            idle_expires_at: (now + policy.idle_ms).min(self.absolute_expires_at),
            ..self.clone()
        })
    }

    /// Returns how long storage should keep the record, in seconds: until the absolute
    /// deadline, but at least 60 s, the shortest TTL KV accepts.
    pub fn ttl_secs(&self, now: u64) -> u64 {
        (self.absolute_expires_at.saturating_sub(now))
            .div_ceil(1000)
            .max(60)
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A session as listed for its owner (no token, no storage key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: SessionId,
    pub created_at: u64,
    pub last_seen_at: u64,
    pub user_agent: String,
}

impl SessionSummary {
    /// Returns true while the session it sums up can still be used at `now`: its record
    /// expires `idle_ms` after its last use (the index is written with the record, so it
    /// holds the same `last_seen_at`) and `absolute_ms` after its creation.
    pub fn live(&self, now: u64, policy: &SessionPolicy) -> bool {
        now < self.last_seen_at.saturating_add(policy.idle_ms)
            && now < self.created_at.saturating_add(policy.absolute_ms)
    }
}

impl From<&Session> for SessionSummary {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            user_agent: s.user_agent.clone(),
        }
    }
}

/// An entry of a user's session index: where the record is, and what to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub storage_key: String,
    pub summary: SessionSummary,
}

/// Where sessions live. The KV adapter is in `kv_store.rs`; tests use an in-memory map.
#[allow(async_fn_in_trait)]
pub trait SessionStore {
    /// Reads a session record.
    async fn load(&self, key: &str) -> Result<Option<Session>, AppError>;
    /// Writes the record and its entry in the owner's index, both expiring with the session.
    async fn save(&self, key: &str, session: &Session, now: u64) -> Result<(), AppError>;
    /// Deletes the record and its entry in the owner's index.
    async fn remove(
        &self,
        key: &str,
        user_id: &UserId,
        session_id: &SessionId,
    ) -> Result<(), AppError>;
    /// Lists a user's sessions from the index.
    async fn list(&self, user_id: &UserId) -> Result<Vec<IndexEntry>, AppError>;
}

/// Creates and stores a new session; returns the token for the cookie.
pub async fn create<S: SessionStore>(
    store: &S,
    session: Session,
    now: u64,
) -> Result<(SessionToken, Session), AppError> {
    let token = SessionToken::generate();
    store.save(&token.storage_key(), &session, now).await?;
    Ok((token, session))
}

/// The result of presenting a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub storage_key: String,
    pub session: Session,
    /// The record to write back, when `last_seen_at` is due for an update.
    pub touch: Option<Session>,
}

/// Looks a token up. Unknown tokens give `None` (never adopted); expired sessions are deleted
/// and give `None`.
pub async fn authenticate<S: SessionStore>(
    store: &S,
    token: &SessionToken,
    now: u64,
    policy: &SessionPolicy,
) -> Result<Option<Authenticated>, AppError> {
    let key = token.storage_key();
    let Some(session) = store.load(&key).await? else {
        return Ok(None);
    };
    if session.is_expired(now) {
        store.remove(&key, &session.user_id, &session.id).await?;
        return Ok(None);
    }
    let touch = session.touched(now, policy);
    Ok(Some(Authenticated {
        storage_key: key,
        session,
        touch,
    }))
}

/// Deletes every session of `user_id` except the one stored under `keep`; returns how many
/// were deleted.
pub async fn revoke_all<S: SessionStore>(
    store: &S,
    user_id: &UserId,
    keep: Option<&str>,
) -> Result<usize, AppError> {
    let mut revoked = 0;
    for entry in store.list(user_id).await? {
        if Some(entry.storage_key.as_str()) == keep {
            continue;
        }
        store
            .remove(&entry.storage_key, user_id, &entry.summary.id)
            .await?;
        revoked += 1;
    }
    Ok(revoked)
}

/// An in-memory [`SessionStore`] for native tests.
#[cfg(test)]
pub mod memory {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct MemoryStore {
        pub records: RefCell<BTreeMap<String, Session>>,
        pub writes: RefCell<usize>,
    }

    impl SessionStore for MemoryStore {
        async fn load(&self, key: &str) -> Result<Option<Session>, AppError> {
            Ok(self.records.borrow().get(key).cloned())
        }
        async fn save(&self, key: &str, session: &Session, _now: u64) -> Result<(), AppError> {
            *self.writes.borrow_mut() += 1;
            self.records
                .borrow_mut()
                .insert(key.to_owned(), session.clone());
            Ok(())
        }
        async fn remove(&self, key: &str, _user: &UserId, _id: &SessionId) -> Result<(), AppError> {
            self.records.borrow_mut().remove(key);
            Ok(())
        }
        async fn list(&self, user_id: &UserId) -> Result<Vec<IndexEntry>, AppError> {
            Ok(self
                .records
                .borrow()
                .iter()
                .filter(|(_, s)| &s.user_id == user_id)
                .map(|(k, s)| IndexEntry {
                    storage_key: k.clone(),
                    summary: s.into(),
                })
                .collect())
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

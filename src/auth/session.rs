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
mod tests {
    use super::memory::MemoryStore;
    use super::*;
    use futures_util::FutureExt;

    const MIN: u64 = 60_000;
    const POLICY: SessionPolicy = SessionPolicy {
        idle_ms: 30 * MIN,
        absolute_ms: 120 * MIN,
        touch_ms: 5 * MIN,
        cache_ms: 0,
    };

    fn run<F: std::future::Future>(f: F) -> F::Output {
        f.now_or_never().expect("memory store never waits")
    }

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("0190b0a0-0000-7000-8000-0000000000{n:02x}")).unwrap()
    }

    fn new_session(user_id: &UserId, now: u64) -> Session {
        Session::new(
            user_id,
            Role::User,
            0,
            "test-agent",
            SignIn::Password,
            now,
            &POLICY,
        )
    }

    #[test]
    fn idle_and_absolute_deadlines_expire_the_session() {
        let s = new_session(&user(0), 0);
        assert!(!s.is_expired(30 * MIN - 1));
        assert!(s.is_expired(30 * MIN), "idle");
        let mut active = s.clone();
        for t in (0..=120).step_by(10) {
            if let Some(next) = active.touched(t * MIN, &POLICY) {
                active = next;
            }
        }
        assert!(active.is_expired(120 * MIN), "absolute, however active");
        assert!(!active.is_expired(119 * MIN));
    }

    #[test]
    fn touch_is_rate_limited_and_capped_by_the_absolute_deadline() {
        let s = new_session(&user(0), 0);
        assert_eq!(s.touched(5 * MIN - 1, &POLICY), None);
        let t = s.touched(5 * MIN, &POLICY).unwrap();
        assert_eq!(t.last_seen_at, 5 * MIN);
        assert_eq!(t.idle_expires_at, 35 * MIN);
        let late = t.touched(100 * MIN, &POLICY).unwrap();
        assert_eq!(late.idle_expires_at, 120 * MIN);
    }

    #[test]
    fn only_a_recent_passkey_or_e_mail_link_sign_in_is_a_fresh_proof() {
        for (with, fresh) in [
            (SignIn::Password, false),
            (SignIn::Passkey, true),
            (SignIn::EmailLink, true),
        ] {
            let s = Session::new(&user(0), Role::User, 0, "", with, 10 * MIN, &POLICY);
            assert_eq!(s.freshly_proven(10 * MIN), fresh, "{with:?} at once");
            assert_eq!(
                s.freshly_proven(15 * MIN - 1),
                fresh,
                "{with:?} just inside"
            );
            assert!(!s.freshly_proven(15 * MIN), "{with:?} five minutes on");
            // Use moves `last_seen_at`, never the sign-in.
            let touched = s.touched(15 * MIN, &POLICY).unwrap();
            assert!(!touched.freshly_proven(15 * MIN), "{with:?} after a touch");
        }
    }

    #[test]
    fn records_without_a_sign_in_method_read_as_password() {
        let s = new_session(&user(0), 0);
        let mut stored = serde_json::to_value(&s).unwrap();
        assert_eq!(stored["signed_in_with"], "password");
        stored.as_object_mut().unwrap().remove("signed_in_with");
        let read: Session = serde_json::from_value(stored).unwrap();
        assert_eq!(read, s);
        let link = Session::new(&user(0), Role::User, 0, "", SignIn::EmailLink, 0, &POLICY);
        assert_eq!(
            serde_json::to_value(&link).unwrap()["signed_in_with"],
            "email_link"
        );
    }

    #[test]
    fn ttl_follows_the_absolute_deadline_with_kv_minimum() {
        let s = new_session(&user(0), 0);
        assert_eq!(s.ttl_secs(0), 120 * 60);
        assert_eq!(s.ttl_secs(120 * MIN - 1000), 60);
    }

    #[test]
    fn user_agent_is_truncated_on_a_char_boundary() {
        let ua = "é".repeat(200);
        let s = Session::new(&user(0), Role::User, 0, &ua, SignIn::Password, 0, &POLICY);
        assert!(s.user_agent.len() <= 256);
        assert!(ua.starts_with(&s.user_agent));
    }

    #[test]
    fn created_sessions_authenticate_and_unknown_tokens_do_not() {
        let store = MemoryStore::default();
        let (token, session) = run(create(&store, new_session(&user(1), 0), 0)).unwrap();
        let auth = run(authenticate(&store, &token, MIN, &POLICY))
            .unwrap()
            .unwrap();
        assert_eq!(auth.session, session);
        assert_eq!(auth.touch, None);
        let stranger = SessionToken::generate();
        assert_eq!(
            run(authenticate(&store, &stranger, MIN, &POLICY)).unwrap(),
            None
        );
    }

    #[test]
    fn a_summary_is_live_until_either_deadline() {
        let p = POLICY;
        let summary = SessionSummary::from(&new_session(&user(1), 0));
        assert!(summary.live(0, &p));
        assert!(summary.live(p.idle_ms - 1, &p));
        assert!(!summary.live(p.idle_ms, &p), "idle");
        let used = SessionSummary {
            last_seen_at: p.absolute_ms - 1,
            ..summary
        };
        assert!(used.live(p.absolute_ms - 1, &p));
        assert!(!used.live(p.absolute_ms, &p), "absolute");
    }

    #[test]
    fn expired_sessions_are_deleted() {
        let store = MemoryStore::default();
        let (token, _) = run(create(&store, new_session(&user(1), 0), 0)).unwrap();
        assert_eq!(
            run(authenticate(&store, &token, 31 * MIN, &POLICY)).unwrap(),
            None
        );
        assert!(store.records.borrow().is_empty());
    }

    #[test]
    fn revoke_all_keeps_only_the_named_session_of_that_user() {
        let store = MemoryStore::default();
        let (keep, _) = run(create(&store, new_session(&user(1), 0), 0)).unwrap();
        run(create(&store, new_session(&user(1), 0), 0)).unwrap();
        run(create(&store, new_session(&user(1), 0), 0)).unwrap();
        let (other, _) = run(create(&store, new_session(&user(2), 0), 0)).unwrap();
        let revoked = run(revoke_all(&store, &user(1), Some(&keep.storage_key()))).unwrap();
        assert_eq!(revoked, 2);
        assert!(run(authenticate(&store, &keep, 1, &POLICY))
            .unwrap()
            .is_some());
        assert!(run(authenticate(&store, &other, 1, &POLICY))
            .unwrap()
            .is_some());
        assert_eq!(run(store.list(&user(1))).unwrap().len(), 1);
    }
}

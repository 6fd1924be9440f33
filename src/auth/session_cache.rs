//! A short-lived copy of session records in the isolate, so a burst of requests on one
//! session reads KV once (`SESSION_CACHE_SECS`, default 5 s; 0 turns it off).
//!
//! What it changes: within one isolate a record is re-read from KV at most once per TTL, and
//! every write or deletion made through this isolate updates or drops its copy at once. A
//! session revoked through *another* isolate can still be used here for up to the TTL — a
//! few seconds on top of KV's own propagation delay (about a minute), which the session
//! design already accepts; `sensitive` routes check the session against the user's row in the
//! database either way. Expiry is checked on every use, cached or not. Only found records are
//! kept (an unknown token is always looked up), and at most [`MAX_ENTRIES`] of them.

use super::session::Session;
use std::cell::RefCell;
use std::collections::HashMap;

/// The most records one isolate keeps (each a few hundred bytes).
pub const MAX_ENTRIES: usize = 1024;

/// Records by storage key, with the time each was read or written.
#[derive(Debug, Default)]
pub struct SessionCache {
    entries: HashMap<String, (Session, u64)>,
}

impl SessionCache {
    /// The record under `key` if it was cached less than `ttl_ms` before `now`.
    pub fn get(&self, key: &str, now: u64, ttl_ms: u64) -> Option<Session> {
        let (session, at) = self.entries.get(key)?;
        (now.saturating_sub(*at) < ttl_ms).then(|| session.clone())
    }

    /// Keeps `session` under `key` as of `now`, making room when full: first by dropping
    /// entries older than `ttl_ms`, then the oldest one.
    pub fn put(&mut self, key: &str, session: &Session, now: u64, ttl_ms: u64) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(key) {
            self.entries
                .retain(|_, (_, at)| now.saturating_sub(*at) < ttl_ms);
            if self.entries.len() >= MAX_ENTRIES {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(key.to_owned(), (session.clone(), now));
    }

    /// Drops the record under `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

thread_local! {
    /// The isolate's copy.
    static CACHE: RefCell<SessionCache> = RefCell::default();
}

/// Runs `f` with the isolate's cache.
pub fn with<T>(f: impl FnOnce(&mut SessionCache) -> T) -> T {
    CACHE.with(|c| f(&mut c.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::session::{SessionPolicy, SignIn};
    use crate::domain::{Role, UserId};

    fn session(n: u64) -> Session {
        let policy = SessionPolicy {
            idle_ms: 1000,
            absolute_ms: 2000,
            touch_ms: 100,
            cache_ms: 0,
        };
        Session::new(
            &UserId::generate(n),
            Role::User,
            0,
            "ua",
            SignIn::Password,
            n,
            &policy,
        )
    }

    #[test]
    fn copies_live_for_the_ttl_and_writes_replace_them() {
        let mut cache = SessionCache::default();
        let (a, b) = (session(1), session(2));
        cache.put("k", &a, 1_000, 5_000);
        assert_eq!(cache.get("k", 5_999, 5_000), Some(a.clone()));
        assert_eq!(cache.get("k", 6_000, 5_000), None, "expired copy");
        assert_eq!(cache.get("k", 1_000, 0), None, "a TTL of 0 keeps nothing");
        cache.put("k", &b, 7_000, 5_000);
        assert_eq!(cache.get("k", 7_001, 5_000), Some(b));
        cache.remove("k");
        assert_eq!(cache.get("k", 7_001, 5_000), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = SessionCache::default();
        for i in 0..MAX_ENTRIES as u64 {
            cache.put(&format!("k{i}"), &session(i), i, 1_000_000);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        cache.put("new", &session(9), 5_000, 1_000_000);
        assert_eq!(cache.len(), MAX_ENTRIES, "the oldest made room");
        assert!(cache.get("k0", 5_000, 1_000_000).is_none());
        assert!(cache.get("new", 5_000, 1_000_000).is_some());
        // Stale entries go first, all at once.
        cache.put("later", &session(9), 2_000_000, 1_000);
        assert_eq!(cache.len(), 1);
    }
}

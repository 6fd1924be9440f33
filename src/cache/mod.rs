//! Read-through caching of per-user responses in two layers: a bounded L1 in the isolate's
//! memory and an optional L2 in Upstash Redis (over REST), in front of the database.
//!
//! **Versions make invalidation exact.** Every user has a version counter in L2
//! (`<prefix>:u:<user>:ver`); every entry records the version it was filled under, and is
//! used only while that is still the user's current version. A write increments the counter
//! after it commits, so one `INCR` invalidates every note and every list page of that user,
//! in every isolate, before the writer sees its response: a read that follows a write never
//! returns what the write replaced. A read costs one L2 round trip (version and entry
//! pipelined); an L1 hit still asks for the version but skips transferring the entry.
//!
//! **Stampedes.** Concurrent misses for one key in one isolate wait for a single filler
//! (single flight); across isolates a short `SET NX PX` lock elects one filler while the
//! others serve the stale entry, if there is one (stale-while-revalidate), or wait briefly.
//! Waiting is by polling on the request's own timer: a request in workerd must never be
//! woken from another request's context.
//!
//! **Degradation.** An L2 round trip that fails or takes longer than its timeout is skipped:
//! the request reads the database instead (outcome `bypass`), the failure is logged and
//! counted, and the isolate leaves L2 alone for a moment rather than paying the timeout on
//! every request. A version increment that cannot be delivered is kept and delivered before
//! the isolate next reads L2. An entry that does not decode is deleted and is a miss.
//!
//! **Without L2**, versions live in the isolate and L1 entries stay fresh at most
//! [`L1_ONLY_TTL_MS`]: another isolate may serve a note that long after it changed.

mod entry;
mod fill;
mod isolate;
pub mod l1;
pub mod remote;
mod report;
mod settings;
pub mod upstash;

pub use entry::{digest_key, Entry, Fill};
pub use isolate::stats;
pub use report::{Outcome, Report, Stats};
pub use settings::{CacheConfig, UpstashConfig};

use crate::cmd;
use crate::error::AppError;
use crate::http::log::Warning;
use fill::{random_version, Lookup};
use isolate::{with_isolate, Flight, Isolate};
use remote::{Remote, RemoteError, Reply};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

/// Prefix of every key; the number changes when the entry format does, so a deploy never
/// reads entries written by an older build.
pub const KEY_PREFIX: &str = "edge-api:c1";
/// Freshness of L1 entries when there is no L2 to check versions against.
pub const L1_ONLY_TTL_MS: u64 = 5_000;
/// Lifetime of a user's version counter after its last write. Longer than any entry's, so
/// no entry outlives the counter it was checked against.
const VERSION_TTL_MS: u64 = 7 * 24 * 3600 * 1000;
/// How long a refill lock is held at most.
const LOCK_MS: u64 = 2_000;
/// How long L2 is left alone after a failure.
const REMOTE_PAUSE_MS: u64 = 2_000;
/// Waiting for a filler in this isolate: poll interval and budget.
const LOCAL_POLL_MS: u64 = 5;
const LOCAL_WAIT_MS: u64 = 500;
/// Waiting for a filler in another isolate: poll interval and number of polls.
const REMOTE_POLL_MS: u64 = 25;
const REMOTE_POLLS: u32 = 4;
/// Entries larger than this stay out of L2 (Upstash limits request sizes; a list page of
/// large notes can reach megabytes).
const MAX_L2_ENTRY_BYTES: usize = 512 * 1024;
/// Users whose L1-only versions are remembered per isolate before the map (and L1) resets.
const MAX_LOCAL_VERSIONS: usize = 10_000;

/// Time and waiting, supplied by the runtime.
#[allow(async_fn_in_trait)]
pub trait Clock {
    /// Unix milliseconds.
    fn now(&self) -> u64;
    /// Waits `ms` milliseconds on this request's own timer.
    async fn sleep(&self, ms: u64);
}

/// What a request's cache calls leave behind for the pipeline: the outcome and any
/// warnings. Owned by the request; the cache writes into it.
#[derive(Debug, Default)]
pub struct Trail {
    pub report: Option<Report>,
    pub warnings: Vec<Warning>,
}

/// The cache as one request sees it: one user's entries.
pub struct Cache<'a, R, C> {
    config: &'a CacheConfig,
    remote: Option<R>,
    clock: C,
    user: &'a str,
    /// The request id: written into refill locks, so a lock names the request that holds
    /// it, and into warning lines.
    token: &'a str,
    trail: &'a RefCell<Trail>,
}

/// What a read returns: the entry (cached or just loaded), or `None` when the loader found
/// nothing.
pub type Read = Option<Rc<Entry>>;

impl<'a, R: Remote, C: Clock> Cache<'a, R, C> {
    /// The cache of `user`'s entries, using L2 through `remote` when there is one. The
    /// outcome and warnings are written to `trail`.
    pub fn new(
        config: &'a CacheConfig,
        remote: Option<R>,
        clock: C,
        user: &'a str,
        token: &'a str,
        trail: &'a RefCell<Trail>,
    ) -> Self {
        Self {
            config,
            remote,
            clock,
            user,
            token,
            trail,
        }
    }

    fn key(&self, item: &str) -> String {
        format!("{KEY_PREFIX}:u:{}:{item}", self.user)
    }

    fn version_key(&self) -> String {
        self.key("ver")
    }

    fn isolate<T>(&self, f: impl FnOnce(&mut Isolate) -> T) -> T {
        with_isolate(self.config, f)
    }

    fn finish(&self, outcome: Outcome, started: u64, load_ms: u64, error: Option<String>) {
        self.isolate(|i| i.stats.count(outcome));
        let dur_ms = self
            .clock
            .now()
            .saturating_sub(started)
            .saturating_sub(load_ms);
        self.trail.borrow_mut().report = Some(Report {
            outcome,
            dur_ms,
            error,
        });
    }

    /// Records an L2 failure: counted, and L2 is left alone for a moment.
    fn remote_failed(&self, err: &RemoteError) -> String {
        let until = self.clock.now() + REMOTE_PAUSE_MS;
        self.isolate(|i| {
            i.stats.remote_errors += 1;
            i.remote_paused_until = until;
        });
        format!("L2 {err}")
    }

    /// Records a warning for the request's log, beside its own line (which carries the
    /// outcome).
    fn warn(&self, event: &'static str, detail: &str) {
        let warning = Warning::new(event)
            .with("user_id", self.user)
            .with("detail", detail);
        self.trail.borrow_mut().warnings.push(warning);
    }

    fn remote_usable(&self) -> Option<&R> {
        let now = self.clock.now();
        let remote = self.remote.as_ref()?;
        self.isolate(|i| now >= i.remote_paused_until)
            .then_some(remote)
    }

    /// Runs `load`, timing it and counting it.
    async fn load<F, Fut>(&self, load: F) -> (Result<Option<Fill>, AppError>, u64)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Fill>, AppError>>,
    {
        self.isolate(|i| i.stats.loads += 1);
        let started = self.clock.now();
        let result = load().await;
        (result, self.clock.now().saturating_sub(started))
    }

    /// Returns the entry for `item` (a key part such as `note:<id>`), loading it with `load`
    /// on a miss. Only the loader's errors are errors: every cache failure degrades to a
    /// load.
    pub async fn read<F, Fut>(&self, item: &str, load: F) -> Result<Read, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Fill>, AppError>>,
    {
        let started = self.clock.now();
        if !self.config.enabled() {
            let (result, _) = self.load(load).await;
            return Ok(result?.map(|fill| Rc::new(self.entry(fill, 0, 0, 0))));
        }
        let key = self.key(item);
        if self.remote.is_none() {
            return self.read_local(&key, started, load).await;
        }
        let Some(remote) = self.remote_usable() else {
            return self
                .bypass(started, Some("L2 paused after a failure".into()), load)
                .await;
        };
        match self.lookup(remote, &key).await {
            Ok(Lookup::Hit(entry, outcome)) => {
                self.finish(outcome, started, 0, None);
                Ok(Some(entry))
            }
            Ok(Lookup::Refill { version, stale }) => {
                self.refill(remote, &key, version, stale, started, load)
                    .await
            }
            Err(err) => {
                let reason = self.remote_failed(&err);
                self.bypass(started, Some(reason), load).await
            }
        }
    }

    fn entry(&self, fill: Fill, version: i64, fresh_ms: u64, stale_ms: u64) -> Entry {
        let now = self.clock.now();
        Entry {
            version,
            fresh_until: now + fresh_ms,
            stale_until: now + fresh_ms + stale_ms,
            etag: fill.etag,
            body: fill.body,
        }
    }

    async fn bypass<F, Fut>(
        &self,
        started: u64,
        error: Option<String>,
        load: F,
    ) -> Result<Read, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Fill>, AppError>>,
    {
        let (result, load_ms) = self.load(load).await;
        self.finish(Outcome::Bypass, started, load_ms, error);
        Ok(result?.map(|fill| Rc::new(self.entry(fill, 0, 0, 0))))
    }

    /// L1 alone: versions are the isolate's own.
    async fn read_local<F, Fut>(&self, key: &str, started: u64, load: F) -> Result<Read, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Fill>, AppError>>,
    {
        let now = self.clock.now();
        let version = self.isolate(|i| i.local_versions.get(self.user).copied().unwrap_or(0));
        let flight = format!("{key}#{version}");
        let cached = self.isolate(|i| i.l1.get(key, now));
        if let Some(entry) = cached.filter(|e| e.fresh(version, now)) {
            self.finish(Outcome::L1Hit, started, 0, None);
            return Ok(Some(entry));
        }
        if let Some(entry) = self.join_local(key, &flight, version, started).await {
            return Ok(Some(entry));
        }
        let _flight = Flight::start(self.config, flight);
        let (result, load_ms) = self.load(load).await;
        let read = result?.map(|fill| {
            let ttl = self.config.ttl_ms.min(L1_ONLY_TTL_MS);
            let entry = Rc::new(self.entry(fill, version, ttl, 0));
            self.isolate(|i| i.l1.put(key, entry.clone()));
            entry
        });
        self.finish(Outcome::Miss, started, load_ms, None);
        Ok(read)
    }

    /// While another request of this isolate fills `flight`, polls L1 for its entry and, when
    /// it comes, reports this request as coalesced. Returns `None` when there is no such
    /// request or it ended without an entry.
    async fn join_local(
        &self,
        key: &str,
        flight: &str,
        version: i64,
        started: u64,
    ) -> Option<Rc<Entry>> {
        let mut waited = 0;
        while self.isolate(|i| i.inflight.contains(flight)) && waited < LOCAL_WAIT_MS {
            self.clock.sleep(LOCAL_POLL_MS).await;
            waited += LOCAL_POLL_MS;
            let now = self.clock.now();
            let found = self.isolate(|i| i.l1.get(key, now));
            if let Some(entry) = found.filter(|e| e.fresh(version, now)) {
                self.finish(Outcome::Coalesced, started, 0, None);
                return Some(entry);
            }
        }
        None
    }

    /// Advances the user's version after a write has committed. Never fails: an increment
    /// that does not reach L2 is kept and delivered before this isolate reads L2 again.
    pub async fn invalidate(&self) {
        let started = self.clock.now();
        if !self.config.enabled() {
            return;
        }
        if self.remote.is_none() {
            self.isolate(|i| {
                if i.local_versions.len() >= MAX_LOCAL_VERSIONS {
                    // Forgetting versions would bring old entries back: drop them too.
                    i.local_versions.clear();
                    i.l1.clear();
                }
                let next = i.next_local_version;
                i.next_local_version += 1;
                i.local_versions.insert(self.user.to_owned(), next);
            });
            self.finish(Outcome::Invalidated, started, 0, None);
            return;
        }
        self.isolate(|i| i.pending.insert(self.user.to_owned()));
        let error = match self.remote_usable() {
            None => Some("L2 paused after a failure".to_owned()),
            Some(remote) => self
                .deliver_pending(remote)
                .await
                .err()
                .map(|e| self.remote_failed(&e)),
        };
        match error {
            None => self.finish(Outcome::Invalidated, started, 0, None),
            Some(reason) => {
                self.warn("cache_invalidation_deferred", &reason);
                self.finish(Outcome::InvalidationDeferred, started, 0, Some(reason));
            }
        }
    }

    /// Delivers every pending version increment of this isolate in one transaction.
    async fn deliver_pending(&self, remote: &R) -> Result<(), RemoteError> {
        let users: Vec<String> = self.isolate(|i| i.pending.iter().cloned().collect());
        if users.is_empty() {
            return Ok(());
        }
        let mut commands = Vec::with_capacity(users.len() * 3);
        for user in &users {
            let key = format!("{KEY_PREFIX}:u:{user}:ver");
            commands.push(cmd!(
                "SET",
                key,
                random_version(),
                "NX",
                "PX",
                VERSION_TTL_MS
            ));
            commands.push(cmd!("INCR", key));
            commands.push(cmd!("PEXPIRE", key, VERSION_TTL_MS));
        }
        let replies = remote.transaction(&commands).await?;
        if let Some(Reply::Error(e)) = replies.iter().find(|r| matches!(r, Reply::Error(_))) {
            return Err(RemoteError::Protocol(e.clone()));
        }
        self.isolate(|i| {
            for user in &users {
                i.pending.remove(user);
            }
        });
        Ok(())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
use isolate::reset_isolate;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

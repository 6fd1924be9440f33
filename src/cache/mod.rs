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

pub mod l1;
pub mod remote;
pub mod upstash;

use crate::cmd;
use crate::error::AppError;
use l1::L1;
use remote::{Remote, RemoteError, Reply};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
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

/// Cache settings, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// `CACHE_TTL_SECS`: how long an entry is fresh.
    pub ttl_ms: u64,
    /// `CACHE_STALE_SECS`: how long after that it may be served while one request refills it.
    pub stale_ms: u64,
    /// `CACHE_L1_MAX_ENTRIES` (0 turns L1 off) and `CACHE_L1_MAX_BYTES`.
    pub l1_max_entries: usize,
    pub l1_max_bytes: usize,
    /// L2, when `UPSTASH_REDIS_REST_URL` is set.
    pub upstash: Option<UpstashConfig>,
}

/// Where L2 is and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstashConfig {
    /// `UPSTASH_REDIS_REST_URL`.
    pub url: String,
    /// `UPSTASH_REDIS_REST_TOKEN` (a secret).
    pub token: String,
    /// `CACHE_TIMEOUT_MS`: the longest an L2 round trip may take (default 50).
    pub timeout_ms: u64,
}

impl CacheConfig {
    /// True when at least one layer exists.
    pub fn enabled(&self) -> bool {
        self.l1_max_entries > 0 || self.upstash.is_some()
    }
}

/// A cached response: the body and its validator, with the user version it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: i64,
    pub fresh_until: u64,
    pub stale_until: u64,
    pub etag: Option<String>,
    pub body: String,
}

impl Entry {
    /// Bytes held, for the L1 bound.
    pub fn size(&self) -> usize {
        self.body.len() + self.etag.as_ref().map_or(0, String::len)
    }

    fn fresh(&self, version: i64, now: u64) -> bool {
        self.version == version && now < self.fresh_until
    }

    fn usable_stale(&self, version: i64, now: u64) -> bool {
        self.version == version && now < self.stale_until
    }

    /// The L2 form: `<version>|<fresh_until>|<stale_until>|<etag>|<body>`.
    pub fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.version,
            self.fresh_until,
            self.stale_until,
            self.etag.as_deref().unwrap_or(""),
            self.body
        )
    }

    /// Reads the L2 form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(5, '|');
        let version = parts.next()?.parse().ok()?;
        let fresh_until = parts.next()?.parse().ok()?;
        let stale_until = parts.next()?.parse().ok()?;
        let etag = parts.next()?;
        let body = parts.next()?;
        if fresh_until > stale_until || body.is_empty() {
            return None;
        }
        Some(Self {
            version,
            fresh_until,
            stale_until,
            etag: (!etag.is_empty()).then(|| etag.to_owned()),
            body: body.to_owned(),
        })
    }
}

/// What a loader found: a body worth caching (a missing row is `None` and is not cached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub etag: Option<String>,
    pub body: String,
}

/// How a request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    L1Hit,
    L2Hit,
    /// A stale entry of the current version, while another request refills it.
    Stale,
    /// Filled by a concurrent request this one waited for.
    Coalesced,
    /// Read from the database and stored.
    Miss,
    /// Read from the database because L2 failed or is being left alone.
    Bypass,
    /// A write that advanced the user's version.
    Invalidated,
    /// A write whose version increment did not reach L2 (delivered later).
    InvalidationDeferred,
}

impl Outcome {
    /// The name used in `Server-Timing` and the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::L1Hit => "l1-hit",
            Self::L2Hit => "l2-hit",
            Self::Stale => "stale",
            Self::Coalesced => "coalesced",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
            Self::Invalidated => "invalidated",
            Self::InvalidationDeferred => "invalidation-deferred",
        }
    }
}

/// The request's cache outcome, for `Server-Timing` and the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    /// Milliseconds spent in cache operations (excluding the database load).
    pub dur_ms: u64,
    /// Why L2 was skipped, if it was.
    pub error: Option<String>,
}

/// Where a request's [`Report`] is written: shared by the handler's cache and the pipeline.
pub type ReportSlot = Rc<RefCell<Option<Report>>>;

impl Report {
    /// The `Server-Timing` metric, e.g. `cache;desc=l1-hit;dur=0`.
    pub fn server_timing(&self) -> String {
        format!("cache;desc={};dur={}", self.outcome.as_str(), self.dur_ms)
    }
}

/// Per-isolate counters, for the test-only stats route and for operators' logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub l1_hits: u64,
    pub l2_hits: u64,
    pub stale: u64,
    pub coalesced: u64,
    pub misses: u64,
    pub bypasses: u64,
    /// Database loads made through the cache (misses and bypasses).
    pub loads: u64,
    pub remote_errors: u64,
    pub decode_errors: u64,
    pub invalidations: u64,
    pub invalidations_deferred: u64,
}

impl Stats {
    fn count(&mut self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::L1Hit => &mut self.l1_hits,
            Outcome::L2Hit => &mut self.l2_hits,
            Outcome::Stale => &mut self.stale,
            Outcome::Coalesced => &mut self.coalesced,
            Outcome::Miss => &mut self.misses,
            Outcome::Bypass => &mut self.bypasses,
            Outcome::Invalidated => &mut self.invalidations,
            Outcome::InvalidationDeferred => &mut self.invalidations_deferred,
        };
        *slot += 1;
    }
}

/// What the isolate remembers between requests.
struct Isolate {
    l1: L1,
    /// Fills under way in this isolate, by key and version.
    inflight: HashSet<String>,
    /// L2 is left alone until this time.
    remote_paused_until: u64,
    /// Users whose version increment has not reached L2 yet.
    pending: HashSet<String>,
    /// Versions when there is no L2, and the counter they are drawn from.
    local_versions: HashMap<String, i64>,
    next_local_version: i64,
    stats: Stats,
}

thread_local! {
    static ISOLATE: RefCell<Option<Isolate>> = const { RefCell::new(None) };
}

fn with_isolate<T>(config: &CacheConfig, f: impl FnOnce(&mut Isolate) -> T) -> T {
    ISOLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let isolate = slot.get_or_insert_with(|| Isolate {
            l1: L1::new(config.l1_max_entries, config.l1_max_bytes),
            inflight: HashSet::new(),
            remote_paused_until: 0,
            pending: HashSet::new(),
            local_versions: HashMap::new(),
            next_local_version: 1,
            stats: Stats::default(),
        });
        f(isolate)
    })
}

/// This isolate's counters and L1 usage (entries, bytes).
pub fn stats(config: &CacheConfig) -> (Stats, (usize, usize)) {
    with_isolate(config, |i| (i.stats, i.l1.usage()))
}

/// Time and waiting, supplied by the runtime.
#[allow(async_fn_in_trait)]
pub trait Clock {
    /// Unix milliseconds.
    fn now(&self) -> u64;
    /// Waits `ms` milliseconds on this request's own timer.
    async fn sleep(&self, ms: u64);
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
    report: ReportSlot,
}

/// What a read returns: the entry (cached or just loaded), or `None` when the loader found
/// nothing.
pub type Read = Option<Rc<Entry>>;

impl<'a, R: Remote, C: Clock> Cache<'a, R, C> {
    /// The cache of `user`'s entries, using L2 through `remote` when there is one. The
    /// outcome is written to `report`.
    pub fn new(
        config: &'a CacheConfig,
        remote: Option<R>,
        clock: C,
        user: &'a str,
        token: &'a str,
        report: ReportSlot,
    ) -> Self {
        Self {
            config,
            remote,
            clock,
            user,
            token,
            report,
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
        *self.report.borrow_mut() = Some(Report {
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

    /// Writes a structured warning line, like the rate limiter's, beside the request's own
    /// log line (which carries the outcome).
    fn warn(&self, event: &str, detail: &str) {
        let line = serde_json::json!({
            "level": "warn",
            "event": event,
            "request_id": self.token,
            "user_id": self.user,
            "detail": detail,
        });
        #[cfg(target_arch = "wasm32")]
        worker::console_warn!("{line}");
        #[cfg(not(target_arch = "wasm32"))]
        let _ = line; // no console natively
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

    /// One round trip: the user's version, and the entry unless L1 has one.
    async fn lookup(&self, remote: &R, key: &str) -> Result<Lookup, RemoteError> {
        self.deliver_pending(remote).await?;
        let now = self.clock.now();
        let local = self.isolate(|i| i.l1.get(key, now));
        let mut commands = vec![cmd!("GET", self.version_key())];
        if local.is_none() {
            commands.push(cmd!("GET", key));
        }
        let replies = remote.pipeline(&commands).await?;
        let version = match &replies[0] {
            Reply::Nil => self.start_version(remote).await?,
            reply => reply
                .as_int()
                .ok_or_else(|| RemoteError::Protocol(format!("version is {}", reply.kind())))?,
        };
        let now = self.clock.now();
        if let Some(entry) = local.as_ref().filter(|e| e.fresh(version, now)) {
            return Ok(Lookup::Hit(entry.clone(), Outcome::L1Hit));
        }
        let remote_entry = match replies.get(1) {
            Some(reply) => self.decode(remote, key, reply).await?,
            None => None,
        };
        if let Some(entry) = remote_entry.as_ref().filter(|e| e.fresh(version, now)) {
            self.isolate(|i| i.l1.put(key, entry.clone()));
            return Ok(Lookup::Hit(entry.clone(), Outcome::L2Hit));
        }
        let stale = [local, remote_entry]
            .into_iter()
            .flatten()
            .find(|e| e.usable_stale(version, now));
        Ok(Lookup::Refill { version, stale })
    }

    /// Decodes an L2 entry reply; an entry that does not decode is deleted.
    async fn decode(
        &self,
        remote: &R,
        key: &str,
        reply: &Reply,
    ) -> Result<Option<Rc<Entry>>, RemoteError> {
        match reply {
            Reply::Nil => Ok(None),
            Reply::Text(text) => match Entry::decode(text) {
                Some(entry) => Ok(Some(Rc::new(entry))),
                None => {
                    self.isolate(|i| i.stats.decode_errors += 1);
                    self.warn("cache_entry_undecodable", key);
                    remote.pipeline(&[cmd!("DEL", key)]).await?;
                    Ok(None)
                }
            },
            other => Err(RemoteError::Protocol(format!("entry is {}", other.kind()))),
        }
    }

    /// Creates the user's version counter at a random value (so a counter that expired and
    /// is created again never repeats an earlier version), or reads the one a concurrent
    /// request created.
    async fn start_version(&self, remote: &R) -> Result<i64, RemoteError> {
        let replies = remote
            .pipeline(&[
                cmd!(
                    "SET",
                    self.version_key(),
                    random_version(),
                    "NX",
                    "PX",
                    VERSION_TTL_MS
                ),
                cmd!("GET", self.version_key()),
            ])
            .await?;
        replies[1]
            .as_int()
            .ok_or_else(|| RemoteError::Protocol(format!("version is {}", replies[1].kind())))
    }

    /// Fills `key` for `version`, with one filler per key in this isolate and, through the
    /// L2 lock, one across isolates.
    async fn refill<F, Fut>(
        &self,
        remote: &R,
        key: &str,
        version: i64,
        stale: Option<Rc<Entry>>,
        started: u64,
        load: F,
    ) -> Result<Read, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Fill>, AppError>>,
    {
        let flight = format!("{key}#{version}");
        let busy = self.isolate(|i| i.inflight.contains(&flight));
        if busy {
            if let Some(entry) = stale {
                self.finish(Outcome::Stale, started, 0, None);
                return Ok(Some(entry));
            }
            if let Some(entry) = self.join_local(key, &flight, version, started).await {
                return Ok(Some(entry));
            }
        }
        let _flight = Flight::start(self.config, flight);
        let now = self.clock.now();
        let filled = self.isolate(|i| i.l1.get(key, now));
        if let Some(entry) = filled.filter(|e| e.fresh(version, now)) {
            self.finish(Outcome::Coalesced, started, 0, None);
            return Ok(Some(entry));
        }

        match self
            .lock_or_find(remote, key, version, stale.is_some())
            .await
        {
            Ok(Found::Entry(entry)) => {
                self.isolate(|i| i.l1.put(key, entry.clone()));
                self.finish(Outcome::Coalesced, started, 0, None);
                return Ok(Some(entry));
            }
            Ok(Found::Busy) => {
                if let Some(entry) = stale {
                    self.finish(Outcome::Stale, started, 0, None);
                    return Ok(Some(entry));
                }
            }
            Ok(Found::Locked) => {}
            Err(err) => {
                let reason = self.remote_failed(&err);
                return self.bypass(started, Some(reason), load).await;
            }
        }

        let (result, load_ms) = self.load(load).await;
        let Some(fill) = result? else {
            self.finish(Outcome::Miss, started, load_ms, None);
            return Ok(None);
        };
        let entry = Rc::new(self.entry(fill, version, self.config.ttl_ms, self.config.stale_ms));
        self.isolate(|i| i.l1.put(key, entry.clone()));
        let encoded = entry.encode();
        let error = if encoded.len() > MAX_L2_ENTRY_BYTES {
            None // served, but too large to be worth a round trip every time it is read
        } else {
            let px = self.config.ttl_ms + self.config.stale_ms;
            let stored = remote
                .pipeline(&[cmd!("SET", key, encoded, "PX", px)])
                .await;
            stored.err().map(|e| self.remote_failed(&e))
        };
        self.finish(Outcome::Miss, started, load_ms, error);
        Ok(Some(entry))
    }

    /// Takes the refill lock for `key` at `version`, looking at the entry in the same round
    /// trip. When another isolate holds the lock and there is nothing stale to serve, polls
    /// briefly for its entry.
    async fn lock_or_find(
        &self,
        remote: &R,
        key: &str,
        version: i64,
        have_stale: bool,
    ) -> Result<Found, RemoteError> {
        let lock = format!("{key}#{version}:lock");
        let replies = remote
            .pipeline(&[
                cmd!("SET", lock, self.token, "NX", "PX", LOCK_MS),
                cmd!("GET", key),
            ])
            .await?;
        let now = self.clock.now();
        if let Some(entry) = self.decode(remote, key, &replies[1]).await? {
            if entry.fresh(version, now) {
                return Ok(Found::Entry(entry));
            }
        }
        if replies[0] != Reply::Nil {
            return Ok(Found::Locked);
        }
        if have_stale {
            return Ok(Found::Busy);
        }
        for _ in 0..REMOTE_POLLS {
            self.clock.sleep(REMOTE_POLL_MS).await;
            let reply = remote.pipeline(&[cmd!("GET", key)]).await?;
            let now = self.clock.now();
            if let Some(entry) = self.decode(remote, key, &reply[0]).await? {
                if entry.fresh(version, now) {
                    return Ok(Found::Entry(entry));
                }
            }
        }
        // The holder did not fill in time: load without waiting longer.
        Ok(Found::Locked)
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

enum Lookup {
    Hit(Rc<Entry>, Outcome),
    Refill {
        version: i64,
        stale: Option<Rc<Entry>>,
    },
}

enum Found {
    /// Another isolate filled the entry.
    Entry(Rc<Entry>),
    /// This request holds the lock (or gave up waiting for its holder): load.
    Locked,
    /// Another isolate holds the lock; a stale entry can be served meanwhile.
    Busy,
}

/// Marks a fill under way in this isolate until dropped (also when the request is cancelled
/// or the loader fails).
struct Flight<'a> {
    config: &'a CacheConfig,
    key: String,
}

impl<'a> Flight<'a> {
    fn start(config: &'a CacheConfig, key: String) -> Self {
        with_isolate(config, |i| i.inflight.insert(key.clone()));
        Self { config, key }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        with_isolate(self.config, |i| i.inflight.remove(&self.key));
    }
}

/// A starting version: random, below 2^52 so it stays exact everywhere.
fn random_version() -> i64 {
    let bytes = crate::ids::random_bytes::<8>();
    (i64::from_le_bytes(bytes) & ((1 << 52) - 1)).max(1)
}

/// The hex SHA-256 prefix used to name a list page by its parameters.
pub fn digest_key(parts: &str) -> String {
    crate::auth::token::digest_hex(parts.as_bytes())[..32].to_owned()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
fn reset_isolate() {
    ISOLATE.with(|cell| *cell.borrow_mut() = None);
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

//! How a request was served, as reported in `Server-Timing` and the log line, and the
//! isolate's counters.

use serde::Serialize;

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
    pub(super) fn count(&mut self, outcome: Outcome) {
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

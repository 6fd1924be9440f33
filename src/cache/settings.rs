//! Cache settings, parsed by [`crate::config`].

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

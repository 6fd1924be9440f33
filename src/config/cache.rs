//! The read cache's settings: `CACHE_*` and `UPSTASH_REDIS_REST_*`.

use super::{number, parse_url, ConfigError, DAY};
use crate::cache::{CacheConfig, UpstashConfig};

/// The cache settings. L1 is on by default; L2 is on when an Upstash URL is set, and then
/// needs its token.
pub fn parse(lookup: &impl Fn(&str) -> Option<String>) -> Result<CacheConfig, ConfigError> {
    let upstash = match lookup("UPSTASH_REDIS_REST_URL").map(|u| u.trim().to_owned()) {
        None => None,
        Some(url) if url.is_empty() => None,
        Some(url) => {
            let url = parse_url("UPSTASH_REDIS_REST_URL", &url, &["https://", "http://"])?;
            let token = lookup("UPSTASH_REDIS_REST_TOKEN")
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ConfigError {
                    var: "UPSTASH_REDIS_REST_TOKEN",
                    reason: "required when UPSTASH_REDIS_REST_URL is set (wrangler secret put)"
                        .into(),
                })?;
            Some(UpstashConfig {
                url,
                token,
                timeout_ms: number(lookup, "CACHE_TIMEOUT_MS", 50, 1..=5_000)?,
            })
        }
    };
    Ok(CacheConfig {
        ttl_ms: number(lookup, "CACHE_TTL_SECS", 60, 1..=DAY)? * 1000,
        stale_ms: number(lookup, "CACHE_STALE_SECS", 300, 0..=DAY)? * 1000,
        l1_max_entries: number(lookup, "CACHE_L1_MAX_ENTRIES", 1000, 0..=100_000)? as usize,
        l1_max_bytes: number(lookup, "CACHE_L1_MAX_BYTES", 8 << 20, 1024..=64 << 20)? as usize,
        upstash,
    })
}

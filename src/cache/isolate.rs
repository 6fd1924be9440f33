//! What one isolate remembers between requests: L1, fills under way, the L2 pause, pending
//! version increments, L1-only versions and the counters.

use super::l1::L1;
use super::{CacheConfig, Stats};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// What the isolate remembers between requests.
pub(super) struct Isolate {
    pub(super) l1: L1,
    /// Fills under way in this isolate, by key and version.
    pub(super) inflight: HashSet<String>,
    /// L2 is left alone until this time.
    pub(super) remote_paused_until: u64,
    /// Users whose version increment has not reached L2 yet.
    pub(super) pending: HashSet<String>,
    /// Versions when there is no L2, and the counter they are drawn from.
    pub(super) local_versions: HashMap<String, i64>,
    pub(super) next_local_version: i64,
    pub(super) stats: Stats,
}

thread_local! {
    static ISOLATE: RefCell<Option<Isolate>> = const { RefCell::new(None) };
}

pub(super) fn with_isolate<T>(config: &CacheConfig, f: impl FnOnce(&mut Isolate) -> T) -> T {
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

/// Marks a fill under way in this isolate until dropped (also when the request is cancelled
/// or the loader fails).
pub(super) struct Flight<'a> {
    config: &'a CacheConfig,
    key: String,
}

impl<'a> Flight<'a> {
    pub(super) fn start(config: &'a CacheConfig, key: String) -> Self {
        with_isolate(config, |i| i.inflight.insert(key.clone()));
        Self { config, key }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        with_isolate(self.config, |i| i.inflight.remove(&self.key));
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(super) fn reset_isolate() {
    ISOLATE.with(|cell| *cell.borrow_mut() = None);
}

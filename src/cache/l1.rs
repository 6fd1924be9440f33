//! The per-isolate L1: a bounded least-recently-used map from key to [`Entry`].
//!
//! Bounded twice, by entry count and by bytes (keys plus bodies plus a fixed overhead per
//! entry), so a burst of large list pages cannot grow the isolate past its memory. Entries
//! past their `stale_until` are dropped when met; the bounds evict the least recently used.

use super::Entry;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// Bytes charged per entry on top of its key and body: the map slots, the `Rc` and the order
/// index.
const OVERHEAD: usize = 96;

/// A bounded LRU map of cache entries.
#[derive(Debug)]
pub struct L1 {
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    tick: u64,
    slots: HashMap<String, Slot>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, String>,
}

#[derive(Debug)]
struct Slot {
    entry: Rc<Entry>,
    tick: u64,
    size: usize,
}

impl L1 {
    /// An empty map holding at most `max_entries` entries and `max_bytes` bytes. Zero entries
    /// disables it: nothing is stored.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries,
            max_bytes,
            bytes: 0,
            tick: 0,
            slots: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// Returns true when entries can be stored at all.
    pub fn enabled(&self) -> bool {
        self.max_entries > 0
    }

    /// Returns the entry for `key` unless it is past `stale_until`, marking it recently used.
    pub fn get(&mut self, key: &str, now: u64) -> Option<Rc<Entry>> {
        let slot = self.slots.get(key)?;
        if now >= slot.entry.stale_until {
            self.remove(key);
            return None;
        }
        self.tick += 1;
        let tick = self.tick;
        let slot = self.slots.get_mut(key)?;
        self.order.remove(&slot.tick);
        slot.tick = tick;
        self.order.insert(tick, key.to_owned());
        Some(slot.entry.clone())
    }

    /// Stores `entry` under `key`, evicting the least recently used entries until both bounds
    /// hold. An entry larger than the whole byte budget is not stored.
    pub fn put(&mut self, key: &str, entry: Rc<Entry>) {
        self.remove(key);
        let size = key.len() + entry.size() + OVERHEAD;
        if !self.enabled() || size > self.max_bytes {
            return;
        }
        while self.slots.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(slot) = self.slots.remove(&oldest) {
                self.bytes -= slot.size;
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.to_owned());
        self.slots.insert(
            key.to_owned(),
            Slot {
                entry,
                tick: self.tick,
                size,
            },
        );
        self.bytes += size;
    }

    /// Drops the entry for `key`, if any.
    pub fn remove(&mut self, key: &str) {
        if let Some(slot) = self.slots.remove(key) {
            self.order.remove(&slot.tick);
            self.bytes -= slot.size;
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// Returns (entries, bytes) currently held.
    pub fn usage(&self) -> (usize, usize) {
        (self.slots.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &str, stale_until: u64) -> Rc<Entry> {
        Rc::new(Entry {
            version: 1,
            fresh_until: stale_until,
            stale_until,
            etag: None,
            body: body.to_owned(),
        })
    }

    #[test]
    fn evicts_the_least_recently_used_past_the_entry_bound() {
        let mut l1 = L1::new(2, 1 << 20);
        l1.put("a", entry("1", 100));
        l1.put("b", entry("2", 100));
        assert!(l1.get("a", 0).is_some()); // a is now newer than b
        l1.put("c", entry("3", 100));
        assert!(l1.get("b", 0).is_none());
        assert!(l1.get("a", 0).is_some());
        assert!(l1.get("c", 0).is_some());
        assert_eq!(l1.usage().0, 2);
    }

    #[test]
    fn keeps_within_the_byte_bound() {
        let body = "x".repeat(1000);
        let budget = 3 * (1 + body.len() + OVERHEAD);
        let mut l1 = L1::new(100, budget);
        for key in ["a", "b", "c", "d"] {
            l1.put(key, entry(&body, 100));
            assert!(l1.usage().1 <= budget);
        }
        assert_eq!(l1.usage().0, 3);
        assert!(l1.get("a", 0).is_none());
        // Larger than the whole budget: refused, nothing evicted for it.
        l1.put("huge", entry(&"y".repeat(budget), 100));
        assert!(l1.get("huge", 0).is_none());
        assert_eq!(l1.usage().0, 3);
    }

    #[test]
    fn expired_entries_are_dropped_when_met() {
        let mut l1 = L1::new(10, 1 << 20);
        l1.put("a", entry("1", 50));
        assert!(l1.get("a", 49).is_some());
        assert!(l1.get("a", 50).is_none());
        assert_eq!(l1.usage(), (0, 0));
    }

    #[test]
    fn replacing_a_key_keeps_the_accounting_exact() {
        let mut l1 = L1::new(10, 1 << 20);
        l1.put("a", entry("12345", 100));
        l1.put("a", entry("1", 100));
        assert_eq!(l1.usage(), (1, 1 + 1 + OVERHEAD));
        l1.remove("a");
        assert_eq!(l1.usage(), (0, 0));
    }

    #[test]
    fn zero_entries_disables_it() {
        let mut l1 = L1::new(0, 1 << 20);
        l1.put("a", entry("1", 100));
        assert!(l1.get("a", 0).is_none());
        assert!(!l1.enabled());
    }
}

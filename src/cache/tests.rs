//! The cache's decisions, against an in-memory stand-in for L2 and a clock the test moves.

use super::remote::tests::MemoryRemote;
use super::*;
use futures_util::future::join_all;
use std::cell::{Cell, RefCell};

const USER: &str = "u1";
const START: u64 = 1_000_000;

/// A clock whose `sleep` advances time and yields to the other futures of the test.
#[derive(Clone)]
struct TestClock(Rc<Cell<u64>>);

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.get()
    }
    async fn sleep(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
        tokio::task::yield_now().await;
    }
}

struct Fixture {
    config: CacheConfig,
    remote: Rc<MemoryRemote>,
    clock: TestClock,
    loads: Rc<Cell<u32>>,
}

impl Remote for Rc<MemoryRemote> {
    async fn pipeline(&self, commands: &[remote::Command]) -> Result<Vec<Reply>, RemoteError> {
        self.as_ref().pipeline(commands).await
    }
    async fn transaction(&self, commands: &[remote::Command]) -> Result<Vec<Reply>, RemoteError> {
        self.as_ref().transaction(commands).await
    }
}

fn config(with_l2: bool) -> CacheConfig {
    CacheConfig {
        ttl_ms: 60_000,
        stale_ms: 300_000,
        l1_max_entries: 100,
        l1_max_bytes: 1 << 20,
        upstash: with_l2.then(|| UpstashConfig {
            url: "http://l2".into(),
            token: "t".into(),
            timeout_ms: 50,
        }),
    }
}

impl Fixture {
    fn new(with_l2: bool) -> Self {
        reset_isolate();
        let remote = MemoryRemote::default();
        remote.now.set(START);
        Self {
            config: config(with_l2),
            remote: Rc::new(remote),
            clock: TestClock(Rc::new(Cell::new(START))),
            loads: Rc::default(),
        }
    }

    fn cache<'a>(&'a self, trail: &'a RefCell<Trail>) -> Cache<'a, Rc<MemoryRemote>, TestClock> {
        let remote = self.config.upstash.as_ref().map(|_| self.remote.clone());
        Cache::new(
            &self.config,
            remote,
            self.clock.clone(),
            USER,
            "req-1",
            trail,
        )
    }

    /// Reads `item`; the loader answers `body` after a 10 ms "database" wait.
    async fn read(&self, item: &str, body: &str) -> (Option<String>, Outcome) {
        let trail = RefCell::default();
        let cache = self.cache(&trail);
        let loads = self.loads.clone();
        let clock = self.clock.clone();
        let entry = cache
            .read(item, || async move {
                loads.set(loads.get() + 1);
                clock.sleep(10).await;
                Ok(Some(Fill {
                    etag: Some("\"v1\"".into()),
                    body: body.to_owned(),
                }))
            })
            .await
            .unwrap();
        let outcome = trail.borrow().report.as_ref().unwrap().outcome;
        (entry.map(|e| e.body.clone()), outcome)
    }

    async fn invalidate(&self) -> Outcome {
        let trail = RefCell::default();
        let cache = self.cache(&trail);
        cache.invalidate().await;
        let outcome = trail.borrow().report.as_ref().unwrap().outcome;
        outcome
    }

    fn advance(&self, ms: u64) {
        self.clock.0.set(self.clock.0.get() + ms);
        self.remote.now.set(self.clock.0.get());
    }

    fn clear_l1(&self) {
        with_isolate(&self.config, |i| i.l1.clear());
    }
}

#[tokio::test]
async fn a_miss_fills_both_layers_then_each_layer_hits() {
    let f = Fixture::new(true);
    assert_eq!(
        f.read("note:1", "A").await,
        (Some("A".into()), Outcome::Miss)
    );
    assert_eq!(
        f.read("note:1", "B").await,
        (Some("A".into()), Outcome::L1Hit)
    );
    f.clear_l1();
    assert_eq!(
        f.read("note:1", "B").await,
        (Some("A".into()), Outcome::L2Hit)
    );
    assert_eq!(
        f.read("note:1", "B").await,
        (Some("A".into()), Outcome::L1Hit)
    );
    assert_eq!(f.loads.get(), 1);
    let key = format!("{KEY_PREFIX}:u:{USER}:note:1");
    let stored = f.remote.data.borrow()[&key].clone();
    let entry = Entry::decode(&stored.0).unwrap();
    assert_eq!(entry.body, "A");
    assert_eq!(entry.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        stored.1,
        f.clock.now() - 10 + 360_000,
        "L2 expiry is ttl + stale"
    );
}

#[tokio::test]
async fn a_write_invalidates_every_entry_of_the_user_in_both_layers() {
    let f = Fixture::new(true);
    f.read("note:1", "old").await;
    f.read("list:p1", "old page").await;
    assert_eq!(f.invalidate().await, Outcome::Invalidated);
    assert_eq!(
        f.read("note:1", "new").await,
        (Some("new".into()), Outcome::Miss)
    );
    f.clear_l1();
    assert_eq!(
        f.read("list:p1", "new page").await,
        (Some("new page".into()), Outcome::Miss)
    );
    assert_eq!(f.loads.get(), 4);
}

#[tokio::test]
async fn another_isolates_write_is_seen_through_the_version_in_l2() {
    let f = Fixture::new(true);
    f.read("note:1", "old").await;
    // What another isolate's write does: only the counter in L2 moves.
    let ver = format!("{KEY_PREFIX}:u:{USER}:ver");
    let current: i64 = f.remote.data.borrow()[&ver].0.parse().unwrap();
    f.remote.data.borrow_mut().get_mut(&ver).unwrap().0 = (current + 1).to_string();
    assert_eq!(
        f.read("note:1", "new").await,
        (Some("new".into()), Outcome::Miss)
    );
}

#[tokio::test]
async fn the_version_counter_starts_at_a_random_value() {
    let f = Fixture::new(true);
    f.read("note:1", "A").await;
    let ver = format!("{KEY_PREFIX}:u:{USER}:ver");
    let (value, expires) = f.remote.data.borrow()[&ver].clone();
    let value: i64 = value.parse().unwrap();
    assert!(value > 1 && value < 1 << 52, "{value}");
    assert!(expires > f.clock.now() + VERSION_TTL_MS - 1000);
}

#[tokio::test]
async fn concurrent_cold_reads_load_once() {
    let f = Fixture::new(true);
    let reads = (0..50).map(|_| f.read("note:1", "A"));
    let results = join_all(reads).await;
    assert_eq!(f.loads.get(), 1, "one database read");
    let misses = results.iter().filter(|r| r.1 == Outcome::Miss).count();
    assert_eq!(misses, 1);
    assert!(results.iter().all(|r| r.0.as_deref() == Some("A")));
    assert!(results
        .iter()
        .all(|r| matches!(r.1, Outcome::Miss | Outcome::Coalesced)));
}

#[tokio::test]
async fn an_unreachable_l2_degrades_to_the_database_and_is_left_alone_briefly() {
    let f = Fixture::new(true);
    f.remote.down.set(true);
    assert_eq!(
        f.read("note:1", "A").await,
        (Some("A".into()), Outcome::Bypass)
    );
    let trips = f.remote.round_trips.get();
    assert_eq!(
        f.read("note:1", "A").await,
        (Some("A".into()), Outcome::Bypass)
    );
    assert_eq!(f.remote.round_trips.get(), trips, "paused: not asked again");
    assert_eq!(f.loads.get(), 2);
    f.remote.down.set(false);
    f.advance(REMOTE_PAUSE_MS);
    assert_eq!(f.read("note:1", "A").await.1, Outcome::Miss);
    let (stats, _) = stats(&f.config);
    assert_eq!((stats.remote_errors, stats.bypasses), (1, 2));
}

#[tokio::test]
async fn an_increment_that_cannot_be_delivered_is_delivered_before_the_next_read() {
    let f = Fixture::new(true);
    f.read("note:1", "old").await;
    f.remote.down.set(true);
    assert_eq!(f.invalidate().await, Outcome::InvalidationDeferred);
    f.remote.down.set(false);
    f.advance(REMOTE_PAUSE_MS);
    f.clear_l1();
    // The old entry is still in L2 under the old version: it must not come back.
    assert_eq!(
        f.read("note:1", "new").await,
        (Some("new".into()), Outcome::Miss)
    );
    let incrs = f
        .remote
        .log
        .borrow()
        .iter()
        .filter(|c| c[0] == "INCR")
        .count();
    assert_eq!(incrs, 1);
}

#[tokio::test]
async fn an_undecodable_entry_is_deleted_and_is_a_miss() {
    let f = Fixture::new(true);
    f.read("note:1", "A").await;
    f.clear_l1();
    let key = format!("{KEY_PREFIX}:u:{USER}:note:1");
    f.remote
        .data
        .borrow_mut()
        .insert(key.clone(), ("garbage".into(), u64::MAX));
    assert_eq!(
        f.read("note:1", "B").await,
        (Some("B".into()), Outcome::Miss)
    );
    assert!(f
        .remote
        .log
        .borrow()
        .iter()
        .any(|c| c[0] == "DEL" && c[1] == key));
    assert_eq!(stats(&f.config).0.decode_errors, 1);
    // Refilled with a good entry.
    assert!(Entry::decode(&f.remote.data.borrow()[&key].0).is_some());
}

#[tokio::test]
async fn a_stale_entry_is_served_while_another_isolate_refills() {
    let f = Fixture::new(true);
    f.read("note:1", "old").await;
    f.advance(61_000); // past fresh, within stale
    f.clear_l1();
    // Another isolate holds the refill lock for this key and version.
    let ver: i64 = f.remote.data.borrow()[&format!("{KEY_PREFIX}:u:{USER}:ver")]
        .0
        .parse()
        .unwrap();
    let lock = format!("{KEY_PREFIX}:u:{USER}:note:1#{ver}:lock");
    f.remote
        .data
        .borrow_mut()
        .insert(lock.clone(), ("other".into(), u64::MAX));
    assert_eq!(
        f.read("note:1", "new").await,
        (Some("old".into()), Outcome::Stale)
    );
    f.remote.data.borrow_mut().remove(&lock);
    // Without a lock holder this request refills.
    assert_eq!(
        f.read("note:1", "new").await,
        (Some("new".into()), Outcome::Miss)
    );
    assert_eq!(f.loads.get(), 2);
}

#[tokio::test]
async fn a_cold_read_waits_briefly_for_another_isolates_fill_then_loads() {
    let f = Fixture::new(true);
    f.read("note:0", "warm the version").await;
    let ver: i64 = f.remote.data.borrow()[&format!("{KEY_PREFIX}:u:{USER}:ver")]
        .0
        .parse()
        .unwrap();
    let lock = format!("{KEY_PREFIX}:u:{USER}:note:1#{ver}:lock");
    f.remote
        .data
        .borrow_mut()
        .insert(lock, ("other".into(), u64::MAX));
    let before = f.clock.now();
    assert_eq!(
        f.read("note:1", "A").await,
        (Some("A".into()), Outcome::Miss)
    );
    let waited = f.clock.now() - before - 10;
    assert_eq!(waited, u64::from(REMOTE_POLLS) * REMOTE_POLL_MS);
}

#[tokio::test]
async fn without_l2_versions_are_the_isolates_own() {
    let f = Fixture::new(false);
    assert_eq!(f.read("note:1", "A").await.1, Outcome::Miss);
    assert_eq!(
        f.read("note:1", "B").await,
        (Some("A".into()), Outcome::L1Hit)
    );
    assert_eq!(f.invalidate().await, Outcome::Invalidated);
    assert_eq!(
        f.read("note:1", "B").await,
        (Some("B".into()), Outcome::Miss)
    );
    f.advance(L1_ONLY_TTL_MS);
    assert_eq!(
        f.read("note:1", "C").await,
        (Some("C".into()), Outcome::Miss)
    );
    assert_eq!(f.remote.round_trips.get(), 0);
    let results = join_all((0..10).map(|_| f.read("note:2", "D"))).await;
    assert_eq!(results.iter().filter(|r| r.1 == Outcome::Miss).count(), 1);
}

#[tokio::test]
async fn a_missing_row_is_not_cached() {
    let f = Fixture::new(true);
    for _ in 0..2 {
        let trail = RefCell::default();
        let cache = f.cache(&trail);
        let read = cache.read("note:404", || async { Ok(None) }).await.unwrap();
        assert!(read.is_none());
        assert_eq!(
            trail.borrow().report.as_ref().unwrap().outcome,
            Outcome::Miss
        );
    }
    assert_eq!(stats(&f.config).0.loads, 2);
}

#[test]
fn entries_round_trip_through_their_l2_form() {
    let entry = Entry {
        version: 42,
        fresh_until: 10,
        stale_until: 20,
        etag: Some("W/\"abc\"".into()),
        body: r#"{"a":"x|y"}"#.into(),
    };
    assert_eq!(Entry::decode(&entry.encode()), Some(entry.clone()));
    let no_etag = Entry {
        etag: None,
        ..entry
    };
    assert_eq!(Entry::decode(&no_etag.encode()), Some(no_etag));
    for bad in [
        "",
        "garbage",
        "1|2|3",
        "x|1|2||{}",
        "1|30|20||{}",
        "1|2|3||",
    ] {
        assert_eq!(Entry::decode(bad), None, "{bad}");
    }
}

#[test]
fn server_timing_names_the_outcome() {
    let report = Report {
        outcome: Outcome::L1Hit,
        dur_ms: 0,
        error: None,
    };
    assert_eq!(report.server_timing(), "cache;desc=l1-hit;dur=0");
}

#[tokio::test]
async fn entries_too_large_for_l2_are_served_and_kept_in_l1_only() {
    let f = Fixture::new(true);
    let big = "x".repeat(MAX_L2_ENTRY_BYTES);
    assert_eq!(f.read("list:big", &big).await.1, Outcome::Miss);
    let key = format!("{KEY_PREFIX}:u:{USER}:list:big");
    assert!(!f.remote.data.borrow().contains_key(&key));
    assert_eq!(
        f.read("list:big", "other").await,
        (Some(big), Outcome::L1Hit)
    );
}

//! The limiter's decisions against an in-memory counter: quotas, aggregation, failures,
//! the blocked cache, leases, and the guarantee over many isolates.

use super::*;
use crate::ratelimit::{gcra, header_values, KeyKind};
use std::borrow::Cow;
use std::cell::Cell;

/// A limiter that cannot be reached at all: every check fails with the same cause, as every
/// object call does when the binding is missing.
struct Unreachable(String);

impl Limiter for Unreachable {
    async fn acquire(&self, _id: &str, _quota: Quota, _want: u32) -> Result<Grant, String> {
        Err(self.0.clone())
    }
}

/// Exact counters in memory, on a clock the test moves; ids listed in `down` fail.
#[derive(Default)]
struct MemoryLimiter {
    tats: RefCell<HashMap<String, f64>>,
    now: Cell<u64>,
    calls: Cell<u32>,
    down: Vec<&'static str>,
}

impl Limiter for MemoryLimiter {
    async fn acquire(&self, id: &str, quota: Quota, want: u32) -> Result<Grant, String> {
        self.calls.set(self.calls.get() + 1);
        assert!((1..=MAX_LEASE).contains(&want), "asked for {want}");
        if self.down.iter().any(|d| id.starts_with(d)) {
            return Err("connection refused".into());
        }
        let tat = self.tats.borrow().get(id).copied();
        let (grant, tat) = gcra::grant(quota, tat, self.now.get(), want);
        if grant.allowed {
            self.tats.borrow_mut().insert(id.to_owned(), tat);
        }
        Ok(grant)
    }
}

fn policy(name: &'static str, limit: u32, secs: u64, on_error: OnError) -> Policy {
    Policy {
        name,
        key: KeyKind::Ip,
        quota: Quota {
            limit,
            window_ms: secs * 1000,
        },
        on_error,
        lease: Policy::leasable(Quota {
            limit,
            window_ms: secs * 1000,
        }),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use futures_util::FutureExt;
    f.now_or_never().expect("the memory limiter never waits")
}

/// A key no other test uses (the blocked cache is per thread, tests may share one).
fn key(tag: &str) -> String {
    format!("{tag}-{}", crate::ids::uuid_v7(1))
}

#[test]
fn admits_up_to_the_quota_then_answers_429_with_retry_after() {
    let limiter = MemoryLimiter::default();
    let p = policy("t-quota", 3, 60, OnError::Open);
    let k = key("a");
    for remaining in [2, 1, 0] {
        let v = block_on(enforce(&limiter, &[(&p, k.clone())], 0));
        assert!(v.error.is_none());
        assert_eq!(v.checked[0].decision.remaining, remaining);
    }
    let v = block_on(enforce(&limiter, &[(&p, k)], 0));
    let err = v.error.expect("the fourth request is refused");
    assert_eq!(err.status(), 429);
    assert_eq!(err.details()[0].field, "t-quota");
    assert_eq!(err.details()[0].issue, "limit_exceeded");
    // One request comes back every 20 s; all three in 60 s, which `t=` gives on a refusal
    // as on an admission.
    assert_eq!(err.headers(), &[("Retry-After", Cow::from("20"))]);
    let (policy_header, limit_header) = header_values(&v.checked).unwrap();
    assert_eq!(policy_header, r#""t-quota";q=3;w=60"#);
    assert_eq!(limit_header, r#""t-quota";r=0;t=60"#);
}

#[test]
fn every_denying_policy_is_named_and_the_longest_wait_wins() {
    let limiter = MemoryLimiter::default();
    let short = policy("t-short", 1, 10, OnError::Open);
    let long = policy("t-long", 1, 100, OnError::Open);
    let open = policy("t-open", 100, 10, OnError::Open);
    let k = key("b");
    let checks = [(&short, k.clone()), (&long, k.clone()), (&open, k.clone())];
    assert!(block_on(enforce(&limiter, &checks, 0)).error.is_none());
    let v = block_on(enforce(&limiter, &checks, 0));
    let err = v.error.unwrap();
    let named: Vec<_> = err.details().iter().map(|d| d.field.as_ref()).collect();
    assert_eq!(named, ["t-short", "t-long"]);
    assert_eq!(err.headers(), &[("Retry-After", Cow::from("100"))]);
    assert_eq!(v.checked.len(), 3, "every policy reports its headers");
}

#[test]
fn a_blocked_key_is_answered_locally_until_its_retry_time() {
    let limiter = MemoryLimiter::default();
    let p = policy("t-blocked", 1, 10, OnError::Open);
    let k = key("c");
    block_on(enforce(&limiter, &[(&p, k.clone())], 0));
    block_on(enforce(&limiter, &[(&p, k.clone())], 0));
    assert_eq!(limiter.calls.get(), 2);
    // Denied again without asking the counter, with the remaining wait.
    let v = block_on(enforce(&limiter, &[(&p, k.clone())], 4_000));
    assert_eq!(limiter.calls.get(), 2, "answered from the blocked cache");
    assert_eq!(v.error.unwrap().headers()[0].1, "6");
    assert_eq!(v.checked[0].decision.retry_after_ms, 6_000);
    assert_eq!(
        v.checked[0].decision.reset_ms, 6_000,
        "one request's worth: back in full then"
    );
    // After the retry time the counter is asked again and admits.
    limiter.now.set(10_000);
    let v = block_on(enforce(&limiter, &[(&p, k)], 10_000));
    assert_eq!(limiter.calls.get(), 3);
    assert!(v.error.is_none());
}

#[test]
fn a_blocked_key_answered_locally_keeps_both_times() {
    // Three a minute: after the burst one comes back in 20 s, all three in 60 s.
    let limiter = MemoryLimiter::default();
    let p = policy("t-blocked-full", 3, 60, OnError::Open);
    let k = key("c2");
    for _ in 0..4 {
        block_on(enforce(&limiter, &[(&p, k.clone())], 0));
    }
    let calls = limiter.calls.get();
    let v = block_on(enforce(&limiter, &[(&p, k)], 5_000));
    assert_eq!(
        limiter.calls.get(),
        calls,
        "answered from the blocked cache"
    );
    assert_eq!(v.checked[0].decision.retry_after_ms, 15_000);
    assert_eq!(v.checked[0].decision.reset_ms, 55_000);
    assert_eq!(v.error.unwrap().headers()[0].1, "15");
}

#[test]
fn an_unreachable_limiter_fails_open_or_closed_as_the_policy_says() {
    let limiter = MemoryLimiter {
        down: vec!["t-down-"],
        ..MemoryLimiter::default()
    };
    let open = policy("t-down-open", 1, 60, OnError::Open);
    let closed = policy("t-down-closed", 1, 60, OnError::Closed);
    let up = policy("t-up", 5, 60, OnError::Open);
    let k = key("d");

    let v = block_on(enforce(
        &limiter,
        &[(&open, k.clone()), (&up, k.clone())],
        0,
    ));
    assert!(v.error.is_none(), "fail-open admits");
    assert_eq!(
        v.checked.len(),
        1,
        "only the policy that answered has headers"
    );
    assert_eq!(v.warnings.len(), 1);
    let line = v.warnings[0].to_line("r");
    assert!(line.contains(r#""fail":"open""#), "{line}");
    assert!(line.contains(r#""policy":"t-down-open""#), "{line}");

    let v = block_on(enforce(&limiter, &[(&closed, k.clone()), (&up, k)], 0));
    let err = v.error.expect("fail-closed refuses");
    assert_eq!(err.status(), 503);
    assert!(err
        .headers()
        .iter()
        .any(|(n, v)| *n == "Retry-After" && v == "5"));
    assert!(err.cause().unwrap().contains("t-down-closed"));
    assert!(v.warnings[0].to_line("r").contains(r#""fail":"closed""#));
}

#[test]
fn a_missing_binding_fails_each_policy_its_own_way() {
    let open = policy("t-gone-open", 1, 60, OnError::Open);
    let closed = policy("t-gone-closed", 1, 60, OnError::Closed);
    let gone = Unreachable("binding RATE_LIMITER missing".into());
    let v = block_on(enforce(&gone, &[(&open, key("f"))], 0));
    assert!(v.error.is_none());
    assert!(v.warnings[0]
        .to_line("r")
        .contains("binding RATE_LIMITER missing"));
    let v = block_on(enforce(&gone, &[(&closed, key("f"))], 0));
    assert_eq!(v.error.unwrap().status(), 503);
}

#[test]
fn a_closed_failure_outranks_a_denial() {
    let limiter = MemoryLimiter {
        down: vec!["t-x-closed"],
        ..MemoryLimiter::default()
    };
    let closed = policy("t-x-closed", 1, 60, OnError::Closed);
    let tight = policy("t-x-tight", 1, 60, OnError::Open);
    let k = key("e");
    block_on(enforce(&limiter, &[(&tight, k.clone())], 0));
    let v = block_on(enforce(&limiter, &[(&closed, k.clone()), (&tight, k)], 0));
    assert_eq!(v.error.unwrap().status(), 503);
}

#[test]
fn a_busy_key_is_served_from_leases_with_truthful_headers() {
    let limiter = MemoryLimiter::default();
    let p = policy("t-lease", 1000, 60, OnError::Open);
    let k = key("g");
    let local = RefCell::new(Local::default());
    let run = |now| block_on(enforce_in(&local, &limiter, &[(&p, k.clone())], now));
    // Leases grow with the rate seen: ten requests take fewer than ten calls.
    for _ in 0..10 {
        assert!(run(0).error.is_none());
    }
    assert!(limiter.calls.get() < 10, "{} calls", limiter.calls.get());
    // The next period starts with a lease sized by that rate; requests are then admitted
    // locally, `r=` counting down as the lease is used.
    let calls = limiter.calls.get();
    let mut remaining = run(1_500).checked[0].decision.remaining;
    assert_eq!(limiter.calls.get(), calls + 1);
    for _ in 0..5 {
        let now = run(1_500).checked[0].decision.remaining;
        assert_eq!(now, remaining - 1, "r= counts down locally");
        remaining = now;
    }
    assert_eq!(limiter.calls.get(), calls + 1, "served from the lease");
    // An expired lease is never used.
    run(1_500 + LEASE_MS + 1);
    assert_eq!(limiter.calls.get(), calls + 2);
}

#[test]
fn a_steady_client_is_charged_about_what_it_uses() {
    // 2 requests a second against 300 a minute (5 a second come back): the leases taken for
    // it must not drain the quota. Each period's lease is sized by the period before it, so
    // at most about one token a second goes unused.
    let limiter = MemoryLimiter::default();
    let p = policy("t-steady", 300, 60, OnError::Open);
    let k = key("s");
    let local = RefCell::new(Local::default());
    let mut lowest = u32::MAX;
    for i in 0..130 {
        let now = i * 500;
        limiter.now.set(now);
        let v = block_on(enforce_in(&local, &limiter, &[(&p, k.clone())], now));
        assert!(v.error.is_none(), "request {i}");
        lowest = lowest.min(v.checked[0].decision.remaining);
    }
    assert!(lowest >= 280, "remaining fell to {lowest}");
    // A burst afterwards gets what exact counting would leave: nearly the whole quota.
    let now = 130 * 500;
    limiter.now.set(now);
    let admitted = (0..250)
        .filter(|_| {
            block_on(enforce_in(&local, &limiter, &[(&p, k.clone())], now))
                .error
                .is_none()
        })
        .count();
    assert!(admitted >= 240, "{admitted} of a burst of 250");
}

#[test]
fn a_client_just_under_the_refill_keeps_nearly_its_whole_quota() {
    // 4.5 a second against 300 a minute (5 a second come back), for 70 s: exact counting
    // leaves it about 299. Leases sized by a period longer than a lease would hold one token
    // more than a lease's time can spend, lost every period.
    let limiter = MemoryLimiter::default();
    let p = policy("t-near", 300, 60, OnError::Open);
    let k = key("n");
    let local = RefCell::new(Local::default());
    let mut last = None;
    for i in 0..315u64 {
        let now = i * 1000 * 2 / 9;
        limiter.now.set(now);
        let v = block_on(enforce_in(&local, &limiter, &[(&p, k.clone())], now));
        assert!(v.error.is_none(), "request {i}");
        last = Some(v.checked[0].decision);
    }
    let last = last.unwrap();
    assert!(last.remaining >= 294, "{last:?}");
}

#[test]
fn a_lease_never_asks_for_more_than_one_answer_may_admit() {
    let limiter = MemoryLimiter::default();
    let p = policy("t-huge", 1_000_000_000, 60, OnError::Open);
    let k = key("j");
    let local = RefCell::new(Local::default());
    for i in 0..5_000 {
        let v = block_on(enforce_in(&local, &limiter, &[(&p, k.clone())], i / 10));
        assert!(v.error.is_none() && v.warnings.is_empty());
    }
    let v = block_on(enforce_in(&local, &limiter, &[(&p, k)], 1_600));
    let remaining = v.checked[0].decision.remaining;
    assert!(
        remaining >= 1_000_000_000 - 5_000 - MAX_LEASE,
        "{remaining}"
    );
}

#[test]
fn leases_can_be_turned_off() {
    let limiter = MemoryLimiter::default();
    let p = Policy {
        lease: false,
        ..policy("t-exact", 1000, 60, OnError::Open)
    };
    let k = key("k");
    let local = RefCell::new(Local::default());
    for i in 0..30 {
        block_on(enforce_in(&local, &limiter, &[(&p, k.clone())], i));
    }
    assert_eq!(limiter.calls.get(), 30, "one counter call per request");
}

#[test]
fn tight_policies_are_never_leased() {
    let limiter = MemoryLimiter::default();
    let p = policy("t-tight", LEASE_MIN_LIMIT - 1, 60, OnError::Closed);
    let k = key("h");
    let local = RefCell::new(Local::default());
    for i in 0..30 {
        block_on(enforce_in(&local, &limiter, &[(&p, k.clone())], i));
    }
    assert_eq!(limiter.calls.get(), 30, "one counter call per request");
}

#[test]
fn isolates_hammering_one_key_get_exactly_the_quota_together() {
    let limiter = MemoryLimiter::default();
    let p = policy("t-burst", 400, 3600, OnError::Open);
    let k = key("i");
    let isolates: Vec<RefCell<Local>> = (0..3).map(|_| RefCell::default()).collect();
    let mut admitted = 0;
    for round in 0..1_000u64 {
        for local in &isolates {
            let v = block_on(enforce_in(local, &limiter, &[(&p, k.clone())], round));
            admitted += u32::from(v.error.is_none());
        }
    }
    // Never more than the counter allowed (the burst; the refill over 1 s is under one
    // request), and nothing lost while every isolate keeps asking.
    assert_eq!(admitted, 400);
    assert!(
        limiter.calls.get() < 3_000 / 2,
        "{} calls",
        limiter.calls.get()
    );
}

/// The memory counter, except that an answer granting several requests (one that would
/// write) waits until the test opens the gate, while every other answer comes at once: as a
/// Durable Object's output gate holds an answer until its write is stored.
struct Gated {
    counter: MemoryLimiter,
    open: Cell<bool>,
    waiting: RefCell<Vec<std::task::Waker>>,
}

impl Limiter for Gated {
    async fn acquire(&self, id: &str, quota: Quota, want: u32) -> Result<Grant, String> {
        let grant = self.counter.acquire(id, quota, want).await?;
        if grant.granted > 1 {
            std::future::poll_fn(|cx| {
                if self.open.get() {
                    std::task::Poll::Ready(())
                } else {
                    self.waiting.borrow_mut().push(cx.waker().clone());
                    std::task::Poll::Pending
                }
            })
            .await;
        }
        Ok(grant)
    }
}

#[test]
fn tokens_that_land_after_a_denial_are_spent_though_the_key_is_blocked() {
    use std::future::Future;
    let limiter = Gated {
        counter: MemoryLimiter::default(),
        open: Cell::new(false),
        waiting: RefCell::default(),
    };
    let p = policy("t-overtaken", 300, 60, OnError::Open);
    let k = key("o");
    let id = format!("t-overtaken:{k}");
    // A busy key (a rate of 10 in the current period, no tokens left) whose counter has 15
    // requests left.
    let local = RefCell::new(Local::default());
    local.borrow_mut().leases.insert(
        id.clone(),
        Lease {
            tokens: 0,
            expires: 10_500,
            reset_at: 10_000,
            seen: 10,
            since: 9_500,
            asking: false,
        },
    );
    block_on(limiter.counter.acquire(&id, p.quota, 285)).unwrap();

    // Thirty at once: the first asks for a lease of 11 and waits for its write; four more
    // get the counter's last tokens; the rest are refused at once, which blocks the key,
    // while 10 of those 11 are still on their way.
    let checks = [(&p, k.clone())];
    let burst = futures_util::future::join_all(
        (0..30).map(|_| enforce_in(&local, &limiter, &checks, 10_000)),
    );
    let mut burst = std::pin::pin!(burst);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(burst.as_mut().poll(&mut cx).is_pending());
    limiter.open.set(true);
    for waker in limiter.waiting.take() {
        waker.wake();
    }
    let std::task::Poll::Ready(verdicts) = burst.as_mut().poll(&mut cx) else {
        panic!("the burst still waits with the gate open");
    };
    let admitted = verdicts.iter().filter(|v| v.error.is_none()).count();
    assert_eq!(admitted, 5);
    // The first request saw the counter at 4 after its grant, holding 10 more.
    assert_eq!(verdicts[0].checked[0].decision.remaining, 14);
    for v in verdicts.iter().filter(|v| v.error.is_some()) {
        assert_eq!(v.checked[0].decision.remaining, 0);
    }
    // The key is blocked, but the 10 tokens it holds are spent first, without asking the
    // counter; then it is refused from the blocked cache. 15 in all: what the counter had.
    let calls = limiter.counter.calls.get();
    for i in 0..10 {
        let v = block_on(enforce_in(&local, &limiter, &checks, 10_001));
        assert!(v.error.is_none(), "held token {i}");
        assert!(v.checked[0].decision.remaining <= 10);
    }
    let v = block_on(enforce_in(&local, &limiter, &checks, 10_001));
    assert_eq!(v.error.unwrap().status(), 429);
    assert_eq!(limiter.counter.calls.get(), calls, "no counter call");
}

#[test]
fn a_leased_answer_gives_back_what_time_returned() {
    // 300 a minute: one request back every 200 ms. A token held in a lease is used after the
    // counter has refilled: `r=` shows the refill, so it is the whole quota once `t=` is 0.
    let limiter = MemoryLimiter::default();
    let p = policy("t-refill", 300, 60, OnError::Open);
    let k = key("r");
    let local = RefCell::new(Local::default());
    let run = |now| {
        limiter.now.set(now);
        block_on(enforce_in(&local, &limiter, &[(&p, k.clone())], now)).checked[0].decision
    };
    assert_eq!(run(0).remaining, 299);
    // The second request of the period asks for two: it is admitted, one token is held.
    let second = run(100);
    assert_eq!(limiter.calls.get(), 2);
    assert_eq!((second.remaining, second.reset_ms), (298, 500));
    // 800 ms later the counter is rested; the held token is spent without asking it.
    let third = run(900);
    assert_eq!(limiter.calls.get(), 2, "served from the lease");
    assert_eq!((third.remaining, third.reset_ms), (300, 0));
}

#[cfg(not(target_arch = "wasm32"))]
mod property {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

        /// Many isolates with leases never admit more than the counter's GCRA bound allows,
        /// widened only by how long a token may wait in a lease: over any interval of `e` ms,
        /// at most limit + limit × (e + LEASE_MS) / window.
        #[test]
        fn leases_never_admit_more_than_the_counter(
            limit in LEASE_MIN_LIMIT..600u32,
            window_s in 1u64..30,
            events in proptest::collection::vec((0usize..4, 0u64..40), 1..1500),
        ) {
            let limiter = MemoryLimiter::default();
            let p = policy("t-prop", limit, window_s, OnError::Open);
            let k = key("prop");
            let isolates: Vec<RefCell<Local>> = (0..4).map(|_| RefCell::default()).collect();
            let mut now = 1_000_000u64;
            let mut times = Vec::new();
            for (isolate, gap) in events {
                now += gap;
                limiter.now.set(now);
                let v = block_on(enforce_in(&isolates[isolate], &limiter, &[(&p, k.clone())], now));
                if v.error.is_none() {
                    times.push(now);
                }
            }
            let window = window_s as f64 * 1000.0;
            for (i, start) in times.iter().enumerate() {
                for (j, end) in times.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as f64;
                    let e = (end - start) as f64;
                    let bound = f64::from(limit) + f64::from(limit) * (e + LEASE_MS as f64) / window;
                    proptest::prop_assert!(count <= bound + 1e-6, "{count} > {bound} over {e} ms");
                }
            }
        }
    }
}

#[test]
fn no_policies_means_no_verdict() {
    let v = block_on(enforce(&MemoryLimiter::default(), &[], 0));
    assert!(v.error.is_none() && v.checked.is_empty() && v.warnings.is_empty());
    assert_eq!(header_values(&v.checked), None);
}

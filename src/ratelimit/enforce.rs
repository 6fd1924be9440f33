//! Checking a request's policies: the [`Limiter`] port, leases, the per-isolate cache of keys
//! known to be blocked, and the one answer built from every policy's decision (429 with the
//! longest `Retry-After`, or 503 when a fail-closed policy could not be checked).
//!
//! **Leases.** On a policy with a generous quota (at least [`LEASE_MIN_LIMIT`]), an isolate
//! that keeps hitting a key asks its counter for several requests at once: the counter admits
//! them together, exactly as it would one by one, and the isolate admits them locally for at
//! most [`LEASE_MS`]. The size follows the key's rate in this isolate over the last lease
//! period, capped at 1/[`LEASE_FRACTION`] of the quota. Every request admitted from a lease
//! was counted by the counter when the lease was granted, so across any number of isolates no
//! more are admitted than the counter allowed; a token is only ever used up to [`LEASE_MS`]
//! after it was counted, and tokens a lease did not use are lost (the under-admission is at
//! most one lease per isolate per lease period). Tight policies (login, signup, anything below
//! [`LEASE_MIN_LIMIT`]) stay exact per request.
//!
//! **Blocked keys.** A client hammering past its limit would otherwise cost one Durable Object
//! round trip per rejected request; an isolate that saw a denial answers 429 locally until the
//! retry time. This only short-circuits denials, so it can never admit more than the counter
//! would.

use super::gcra::{Decision, Grant, Quota};
use super::{Checked, OnError, Policy};
use crate::error::{AppError, ErrorCode, FieldIssue};
use crate::http::log::Warning;
use std::cell::RefCell;
use std::collections::HashMap;

/// Where the exact counters live: one per `policy:key` id. The runtime adapter is
/// [`super::client::DurableLimiter`]; tests use an in-memory one.
#[allow(async_fn_in_trait)]
pub trait Limiter {
    /// Asks the counter `id` to admit up to `want` requests under `quota` at once (see
    /// [`super::gcra::grant`]); the error says why it could not answer.
    async fn acquire(&self, id: &str, quota: Quota, want: u32) -> Result<Grant, String>;
}

/// Policies with at least this quota use leases.
pub const LEASE_MIN_LIMIT: u32 = 100;
/// How long an isolate may admit from a lease, milliseconds.
pub const LEASE_MS: u64 = 1_000;
/// A lease holds at most this fraction of the quota: 1/20.
pub const LEASE_FRACTION: u32 = 20;
/// And never more than this many requests (what one counter answer may admit).
pub const MAX_LEASE: u32 = 1_000;

/// A limiter that cannot be reached at all (its binding is missing): every check fails with
/// the same cause, and each policy fails open or closed as it says.
pub struct Unreachable(pub String);

impl Limiter for Unreachable {
    async fn acquire(&self, _id: &str, _quota: Quota, _want: u32) -> Result<Grant, String> {
        Err(self.0.clone())
    }
}

/// What checking a set of policies decided.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Every policy that answered, for the `RateLimit` headers.
    pub checked: Vec<Checked>,
    /// The error to answer with: 429 when a policy denies, 503 when a fail-closed policy
    /// could not be checked.
    pub error: Option<AppError>,
    /// One line per policy that could not be checked.
    pub warnings: Vec<Warning>,
}

/// Entries kept in the blocked-key cache at most (a few hundred KB at worst).
const BLOCKED_CAPACITY: usize = 4096;

/// What an isolate holds for one leased key.
#[derive(Debug, Clone, Copy)]
struct Lease {
    /// Requests the isolate may still admit.
    tokens: u32,
    /// The lease ends at this time (Unix ms).
    expires: u64,
    /// The counter's `remaining` after the grant, and when its quota is back (Unix ms).
    remaining: u32,
    reset_at: u64,
    /// Requests this isolate saw for the key since the lease period began.
    seen: u32,
    /// The lease period began at this time.
    since: u64,
    /// A rate-sized request to the counter is under way: others ask for one at a time, so
    /// concurrent requests cannot each take a lease (at most one lease is ever unused).
    asking: bool,
}

/// What one isolate remembers between requests.
#[derive(Debug, Default)]
pub struct Local {
    /// `policy:key` → blocked until (Unix ms).
    blocked: HashMap<String, u64>,
    /// `policy:key` → this isolate's lease and recent rate.
    leases: HashMap<String, Lease>,
}

thread_local! {
    static LOCAL: std::rc::Rc<RefCell<Local>> = std::rc::Rc::default();
}

/// Admits one request from the key's lease, if it has a live one, with the decision to report:
/// `remaining` is the counter's remaining at the grant plus the tokens this isolate still
/// holds. Otherwise returns how many requests to ask the counter for, and whether that ask
/// is the rate-sized one (only one is under way per key).
fn from_lease(
    local: &RefCell<Local>,
    id: &str,
    quota: Quota,
    now: u64,
) -> Result<Decision, (u32, bool)> {
    {
        let map = &mut local.borrow_mut().leases;
        let Some(lease) = map.get_mut(id) else {
            return Err((1, false));
        };
        if lease.expires > now && lease.tokens > 0 {
            lease.tokens -= 1;
            lease.seen += 1;
            return Ok(Decision {
                allowed: true,
                remaining: lease.remaining.saturating_add(lease.tokens),
                reset_ms: lease.reset_at.saturating_sub(now),
                retry_after_ms: 0,
            });
        }
        lease.seen += 1;
        if lease.asking {
            return Err((1, false));
        }
        // The key's rate over the last period sizes the next lease.
        let rate = if now.saturating_sub(lease.since) <= 2 * LEASE_MS {
            lease.seen
        } else {
            0
        };
        let want = rate.clamp(1, (quota.limit / LEASE_FRACTION).clamp(1, MAX_LEASE));
        lease.asking = want > 1;
        Err((want, want > 1))
    }
}

fn blocked_until(local: &RefCell<Local>, id: &str, now: u64) -> Option<u64> {
    let local = local.borrow();
    local.blocked.get(id).copied().filter(|until| *until > now)
}

fn remember_blocked(local: &RefCell<Local>, id: String, until: u64, now: u64) {
    let map = &mut local.borrow_mut().blocked;
    if map.len() >= BLOCKED_CAPACITY {
        map.retain(|_, t| *t > now);
        if map.len() >= BLOCKED_CAPACITY {
            map.clear();
        }
    }
    map.insert(id, until);
}

/// Records a grant: the first request is this one, the rest join the lease. Tokens granted
/// while the lease is live join it and end with it (never later than [`LEASE_MS`] after they
/// were counted); a new lease period starts otherwise.
fn remember_lease(local: &RefCell<Local>, id: &str, grant: Option<&Grant>, sized: bool, now: u64) {
    let map = &mut local.borrow_mut().leases;
    if map.len() >= BLOCKED_CAPACITY && !map.contains_key(id) {
        map.retain(|_, lease| lease.expires > now);
        if map.len() >= BLOCKED_CAPACITY {
            map.clear();
        }
    }
    let lease = map.entry(id.to_owned()).or_insert(Lease {
        tokens: 0,
        expires: now,
        remaining: 0,
        reset_at: now,
        seen: 1,
        since: now,
        asking: false,
    });
    if sized {
        lease.asking = false;
    }
    let Some(grant) = grant.filter(|g| g.allowed) else {
        return;
    };
    if lease.expires <= now {
        // A new period: what was left of the old lease is gone, the rate is counted afresh.
        *lease = Lease {
            tokens: 0,
            expires: now + LEASE_MS,
            remaining: 0,
            reset_at: now,
            seen: if now.saturating_sub(lease.since) < 2 * LEASE_MS {
                lease.seen
            } else {
                1
            },
            since: now,
            asking: lease.asking,
        };
    }
    lease.tokens += grant.granted.saturating_sub(1);
    lease.remaining = grant.remaining;
    lease.reset_at = now + grant.reset_ms;
}

/// Checks every `(policy, key)` concurrently at `now` (the isolate's clock, for the blocked
/// cache; the counters keep their own time).
pub async fn enforce<L: Limiter>(limiter: &L, checks: &[(&Policy, String)], now: u64) -> Verdict {
    let local = LOCAL.with(std::rc::Rc::clone);
    enforce_in(&local, limiter, checks, now).await
}

/// [`enforce`] with the isolate's memory given, so tests can simulate many isolates.
pub async fn enforce_in<L: Limiter>(
    local: &RefCell<Local>,
    limiter: &L,
    checks: &[(&Policy, String)],
    now: u64,
) -> Verdict {
    let results = futures_util::future::join_all(
        checks
            .iter()
            .map(|(policy, key)| check_one(local, limiter, policy, key, now)),
    )
    .await;
    let mut verdict = Verdict::default();
    let mut denied = Vec::new();
    for ((policy, _), result) in checks.iter().zip(results) {
        match result {
            Ok(decision) => {
                if !decision.allowed {
                    denied.push((policy.name, decision.retry_after_ms));
                }
                verdict.checked.push(Checked {
                    policy: policy.name,
                    quota: policy.quota,
                    decision,
                });
            }
            Err(cause) => {
                let fail = match policy.on_error {
                    OnError::Open => "open",
                    OnError::Closed => "closed",
                };
                verdict.warnings.push(
                    Warning::new("rate_limiter_unavailable")
                        .with("policy", policy.name)
                        .with("fail", fail)
                        .with("cause", cause.as_str()),
                );
                if policy.on_error == OnError::Closed {
                    verdict.error = Some(AppError::unavailable(
                        format!("rate limiter for {}: {cause}", policy.name),
                        5,
                    ));
                }
            }
        }
    }
    if verdict.error.is_none() && !denied.is_empty() {
        verdict.error = Some(rate_limited(&denied));
    }
    verdict
}

/// The 429 for every denying policy: each named in `details`, `Retry-After` the longest wait
/// (at least one second).
fn rate_limited(denied: &[(&'static str, u64)]) -> AppError {
    let retry_secs = denied
        .iter()
        .map(|(_, ms)| ms.div_ceil(1000).max(1))
        .max()
        .unwrap_or(1);
    let details = denied
        .iter()
        .map(|(name, _)| FieldIssue::new(*name, "limit_exceeded"))
        .collect();
    AppError::new(ErrorCode::RateLimited)
        .with_details(details)
        .with_header("Retry-After", retry_secs.to_string())
}

async fn check_one<L: Limiter>(
    local: &RefCell<Local>,
    limiter: &L,
    policy: &Policy,
    key: &str,
    now: u64,
) -> Result<Decision, String> {
    let id = format!("{}:{key}", policy.name);
    if let Some(until) = blocked_until(local, &id, now) {
        let wait = until - now;
        return Ok(Decision {
            allowed: false,
            remaining: 0,
            reset_ms: wait,
            retry_after_ms: wait,
        });
    }
    let leased = policy.lease;
    let (want, sized) = if leased {
        match from_lease(local, &id, policy.quota, now) {
            Ok(decision) => return Ok(decision),
            Err(ask) => ask,
        }
    } else {
        (1, false)
    };
    let answer = limiter.acquire(&id, policy.quota, want).await;
    if leased {
        remember_lease(local, &id, answer.as_ref().ok(), sized, now);
    }
    let grant = answer?;
    if !grant.allowed {
        remember_blocked(local, id, now + grant.retry_after_ms, now);
    }
    // With a lease, the request's own view counts the tokens it holds.
    let mut decision = grant.decision();
    decision.remaining = decision
        .remaining
        .saturating_add(grant.granted.saturating_sub(1));
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{gcra, header_values, KeyKind};
    use std::cell::Cell;

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
        // One request comes back every 20 s.
        assert_eq!(err.headers(), &[("Retry-After", "20".to_string())]);
        let (policy_header, limit_header) = header_values(&v.checked).unwrap();
        assert_eq!(policy_header, r#""t-quota";q=3;w=60"#);
        assert_eq!(limit_header, r#""t-quota";r=0;t=20"#);
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
        assert_eq!(err.headers(), &[("Retry-After", "100".to_string())]);
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
        // After the retry time the counter is asked again and admits.
        limiter.now.set(10_000);
        let v = block_on(enforce(&limiter, &[(&p, k)], 10_000));
        assert_eq!(limiter.calls.get(), 3);
        assert!(v.error.is_none());
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
}

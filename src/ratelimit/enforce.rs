//! Checking a request's policies: the [`Limiter`] port, the per-isolate cache of keys known to
//! be blocked, and the one answer built from every policy's decision (429 with the longest
//! `Retry-After`, or 503 when a fail-closed policy could not be checked).
//!
//! A client hammering past its limit would otherwise cost one Durable Object round trip per
//! rejected request; with the cache, an isolate that saw a denial answers 429 locally until
//! the retry time. The cache only short-circuits denials, so it can never admit more than the
//! counter would.

use super::gcra::{Decision, Quota};
use super::{Checked, OnError, Policy};
use crate::error::{AppError, ErrorCode, FieldIssue};
use crate::http::log::Warning;
use std::cell::RefCell;
use std::collections::HashMap;

/// Where the exact counters live: one per `policy:key` id. The runtime adapter is
/// [`super::client::DurableLimiter`]; tests use an in-memory one.
#[allow(async_fn_in_trait)]
pub trait Limiter {
    /// Asks the counter `id` to admit one request under `quota`; the error says why it
    /// could not answer.
    async fn acquire(&self, id: &str, quota: Quota) -> Result<Decision, String>;
}

/// A limiter that cannot be reached at all (its binding is missing): every check fails with
/// the same cause, and each policy fails open or closed as it says.
pub struct Unreachable(pub String);

impl Limiter for Unreachable {
    async fn acquire(&self, _id: &str, _quota: Quota) -> Result<Decision, String> {
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

thread_local! {
    /// `policy:key` → blocked until (Unix ms).
    static BLOCKED: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
}

fn blocked_until(id: &str, now: u64) -> Option<u64> {
    BLOCKED.with(|b| b.borrow().get(id).copied().filter(|until| *until > now))
}

fn remember_blocked(id: String, until: u64, now: u64) {
    BLOCKED.with(|b| {
        let mut map = b.borrow_mut();
        if map.len() >= BLOCKED_CAPACITY {
            map.retain(|_, t| *t > now);
            if map.len() >= BLOCKED_CAPACITY {
                map.clear();
            }
        }
        map.insert(id, until);
    });
}

/// Checks every `(policy, key)` concurrently at `now` (the isolate's clock, for the blocked
/// cache; the counters keep their own time).
pub async fn enforce<L: Limiter>(limiter: &L, checks: &[(&Policy, String)], now: u64) -> Verdict {
    let results = futures_util::future::join_all(
        checks
            .iter()
            .map(|(policy, key)| check_one(limiter, policy, key, now)),
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
    limiter: &L,
    policy: &Policy,
    key: &str,
    now: u64,
) -> Result<Decision, String> {
    let id = format!("{}:{key}", policy.name);
    if let Some(until) = blocked_until(&id, now) {
        let wait = until - now;
        return Ok(Decision {
            allowed: false,
            remaining: 0,
            reset_ms: wait,
            retry_after_ms: wait,
        });
    }
    let decision = limiter.acquire(&id, policy.quota).await?;
    if !decision.allowed {
        remember_blocked(id, now + decision.retry_after_ms, now);
    }
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
        async fn acquire(&self, id: &str, quota: Quota) -> Result<Decision, String> {
            self.calls.set(self.calls.get() + 1);
            if self.down.iter().any(|d| id.starts_with(d)) {
                return Err("connection refused".into());
            }
            let tat = self.tats.borrow().get(id).copied();
            let (decision, tat) = gcra::check(quota, tat, self.now.get());
            if decision.allowed {
                self.tats.borrow_mut().insert(id.to_owned(), tat);
            }
            Ok(decision)
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
    fn no_policies_means_no_verdict() {
        let v = block_on(enforce(&MemoryLimiter::default(), &[], 0));
        assert!(v.error.is_none() && v.checked.is_empty() && v.warnings.is_empty());
        assert_eq!(header_values(&v.checked), None);
    }
}

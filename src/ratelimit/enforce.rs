//! Checking a request's policies: the [`Limiter`] port, leases, the per-isolate cache of keys
//! known to be blocked, and the one answer built from every policy's decision (429 with the
//! longest `Retry-After`, or 503 when a fail-closed policy could not be checked).
//!
//! **Leases.** On a policy with a generous quota (at least [`LEASE_MIN_LIMIT`]), an isolate
//! that keeps hitting a key asks its counter for several requests at once: the counter admits
//! them together, exactly as it would one by one, and the isolate admits them locally for at
//! most [`LEASE_MS`]. The size follows the key's rate in this isolate over the last lease
//! period (what it would use in one lease's time), capped at 1/[`LEASE_FRACTION`] of the
//! quota. Every request admitted from a lease
//! was counted by the counter when the lease was granted, so across any number of isolates no
//! more are admitted than the counter allowed; a token is only ever used up to [`LEASE_MS`]
//! after it was counted, and tokens a lease did not use are lost (the under-admission is at
//! most one lease per isolate per lease period). Nothing else is lost: a grant landing on an
//! empty lease gets its own [`LEASE_MS`], and held tokens are spent before the blocked cache
//! is asked (a grant that writes waits for its write, so a later denial can arrive first and
//! block the key while the grant's tokens are on their way). Tight
//! policies (login, signup, anything below [`LEASE_MIN_LIMIT`]) stay exact per request.
//!
//! **Blocked keys.** A client hammering past its limit would otherwise cost one Durable Object
//! round trip per rejected request; an isolate that saw a denial answers 429 locally until the
//! retry time. This only short-circuits denials, so it can never admit more than the counter
//! would.

use super::gcra::{self, Decision, Grant, Quota};
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
    /// When the counter's quota is back in full, as of its last grant (Unix ms).
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
    /// `policy:key` → blocked until, and back in full at (Unix ms).
    blocked: HashMap<String, (u64, u64)>,
    /// `policy:key` → this isolate's lease and recent rate.
    leases: HashMap<String, Lease>,
}

thread_local! {
    static LOCAL: std::rc::Rc<RefCell<Local>> = std::rc::Rc::default();
}

/// Admits one request from the key's lease, if it has a live one, with the decision to report:
/// `remaining` is what the counter had left as of the grant, given back as time passed (the
/// same GCRA), plus the tokens this isolate still holds; `reset_ms` runs to the grant's reset.
fn from_lease(local: &RefCell<Local>, id: &str, quota: Quota, now: u64) -> Option<Decision> {
    let map = &mut local.borrow_mut().leases;
    let lease = map.get_mut(id)?;
    if lease.expires <= now || lease.tokens == 0 {
        return None;
    }
    lease.tokens -= 1;
    lease.seen += 1;
    let debt = lease.reset_at.saturating_sub(now);
    Some(Decision {
        allowed: true,
        remaining: gcra::remaining_after(quota, debt)
            .saturating_add(lease.tokens)
            .min(quota.limit),
        reset_ms: debt,
        retry_after_ms: 0,
    })
}

/// How many requests to ask the counter for, for a request its lease could not admit, and
/// whether that is the rate-sized ask (only one is under way per key; the others ask for one).
fn lease_ask(local: &RefCell<Local>, id: &str, quota: Quota, now: u64) -> (u32, bool) {
    let map = &mut local.borrow_mut().leases;
    let Some(lease) = map.get_mut(id) else {
        return (1, false);
    };
    lease.seen += 1;
    if lease.asking {
        return (1, false);
    }
    // The key's rate over the last period sizes the next lease: the requests it would see in
    // one lease's time, so a steady client spends its lease before it ends (a period that
    // ran past `LEASE_MS` is scaled down to it; a burst within one is taken as it is).
    let elapsed = now.saturating_sub(lease.since);
    let rate = if elapsed <= 2 * LEASE_MS {
        let per_lease = u64::from(lease.seen) * LEASE_MS / elapsed.max(LEASE_MS);
        u32::try_from(per_lease).unwrap_or(u32::MAX)
    } else {
        0
    };
    let want = rate.clamp(1, (quota.limit / LEASE_FRACTION).clamp(1, MAX_LEASE));
    lease.asking = want > 1;
    (want, want > 1)
}

/// The rate-sized ask under way for a key: when it ends, answered, failed or abandoned (its
/// request dropped), the key may be asked again.
struct Asking<'a> {
    local: &'a RefCell<Local>,
    id: &'a str,
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        if let Some(lease) = self.local.borrow_mut().leases.get_mut(self.id) {
            lease.asking = false;
        }
    }
}

fn blocked_until(local: &RefCell<Local>, id: &str, now: u64) -> Option<(u64, u64)> {
    let local = local.borrow();
    local
        .blocked
        .get(id)
        .copied()
        .filter(|(until, _)| *until > now)
}

fn remember_blocked(local: &RefCell<Local>, id: String, until: (u64, u64), now: u64) {
    let map = &mut local.borrow_mut().blocked;
    if map.len() >= BLOCKED_CAPACITY {
        map.retain(|_, (t, _)| *t > now);
        if map.len() >= BLOCKED_CAPACITY {
            map.clear();
        }
    }
    map.insert(id, until);
}

/// Records a grant: the first request is this one, the rest join the lease. Tokens granted
/// while the lease is live join it and end with it (never later than [`LEASE_MS`] after they
/// were counted); a new lease period starts otherwise.
fn remember_lease(local: &RefCell<Local>, id: &str, grant: Option<&Grant>, now: u64) {
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
        reset_at: now,
        seen: 1,
        since: now,
        asking: false,
    });
    let Some(grant) = grant.filter(|g| g.allowed) else {
        return;
    };
    if lease.since + LEASE_MS <= now {
        // A new period: the rate is counted afresh from this request, so the next lease is
        // sized by this period alone (carried over, the count only grew, and a steady client
        // was charged full leases it never used).
        lease.seen = 1;
        lease.since = now;
    }
    if lease.expires <= now || lease.tokens == 0 {
        // Nothing usable is left: what remained of an old lease is gone, and these tokens,
        // counted at or after `now`, have their own `LEASE_MS` (joined to a lease nearly over,
        // a busy key's third lease in a second expired before it was spent).
        lease.tokens = 0;
        lease.expires = now + LEASE_MS;
    }
    lease.tokens += grant.granted.saturating_sub(1);
    // Grants can land out of order (one that wrote comes later): the counter's reset is the
    // latest one it reported.
    lease.reset_at = lease.reset_at.max(now + grant.reset_ms);
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
    let leased = policy.lease;
    // Tokens this isolate holds were counted when they were granted: they are spent first,
    // even while the key is blocked (a denial, which writes nothing, can come back before a
    // grant counted ahead of it, which waits for its write).
    if leased {
        if let Some(decision) = from_lease(local, &id, policy.quota, now) {
            return Ok(decision);
        }
    }
    if let Some((until, full)) = blocked_until(local, &id, now) {
        return Ok(Decision {
            allowed: false,
            remaining: 0,
            reset_ms: full.saturating_sub(now),
            retry_after_ms: until - now,
        });
    }
    let (want, sized) = if leased {
        lease_ask(local, &id, policy.quota, now)
    } else {
        (1, false)
    };
    let asking = sized.then(|| Asking { local, id: &id });
    let answer = limiter.acquire(&id, policy.quota, want).await;
    if leased {
        remember_lease(local, &id, answer.as_ref().ok(), now);
    }
    drop(asking);
    let grant = answer?;
    if !grant.allowed {
        let until = (now + grant.retry_after_ms, now + grant.reset_ms);
        remember_blocked(local, id, until, now);
    }
    // With a lease, the request's own view counts the tokens it holds.
    let mut decision = grant.decision();
    decision.remaining = decision
        .remaining
        .saturating_add(grant.granted.saturating_sub(1));
    Ok(decision)
}

#[cfg(test)]
#[path = "enforce_tests.rs"]
mod tests;

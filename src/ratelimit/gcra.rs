//! The limiting algorithm: GCRA, the Generic Cell Rate Algorithm (ITU-T I.371).
//!
//! # Why GCRA
//! A quota of `limit` requests per `window` becomes one number of state, the *theoretical
//! arrival time* (TAT): when the key would be fully rested again. Each admitted request pushes
//! the TAT forward by the emission interval `T = window / limit`; a request is admitted while
//! the TAT, after the push, is at most `window` ahead of now. This gives:
//! - a burst of up to `limit` requests at once, then a steady `limit / window` rate, with no
//!   edge effect at window boundaries (a fixed window admits 2×limit across a boundary);
//! - O(1) state per key (one integer) and O(1) work, which keeps each Durable Object write
//!   tiny;
//! - exact `remaining` and reset times for the `RateLimit` headers.
//!
//! Compared with a token bucket it is the same policy with less state (no separate token count
//! and refill time), and the sliding-log alternative needs memory proportional to the limit.
//!
//! The guarantee, checked by a property test: over any interval of length `e` milliseconds,
//! at most `limit + limit × e / window` requests are admitted.

use serde::{Deserialize, Serialize};

/// A quota: at most `limit` requests per `window_ms`, bursts included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub limit: u32,
    pub window_ms: u64,
}

impl Quota {
    /// The time each request "costs": `window / limit`.
    fn interval(&self) -> f64 {
        self.window_ms as f64 / f64::from(self.limit.max(1))
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still admissible right now after this one.
    pub remaining: u32,
    /// Milliseconds until the quota is back: in full when allowed; when denied, until the next
    /// request would be admitted (so `Retry-After` is never earlier than the reset).
    pub reset_ms: u64,
    /// When denied: milliseconds until one request would be admitted.
    pub retry_after_ms: u64,
}

/// Decides one request at `now` given the stored TAT (`None` for a fresh key); returns the
/// decision and the TAT to store (unchanged when denied).
pub fn check(quota: Quota, tat: Option<f64>, now: u64) -> (Decision, f64) {
    let now_f = now as f64;
    let interval = quota.interval();
    let window = quota.window_ms as f64;
    let tat = tat.unwrap_or(now_f).max(now_f);
    let new_tat = tat + interval;
    let ceil_ms = |v: f64| v.max(0.0).ceil() as u64;

    if new_tat - now_f <= window + f64::EPSILON * window {
        let remaining = ((window - (new_tat - now_f)) / interval + 1e-9).floor() as u32;
        (
            Decision {
                allowed: true,
                remaining: remaining.min(quota.limit),
                reset_ms: ceil_ms(new_tat - now_f),
                retry_after_ms: 0,
            },
            new_tat,
        )
    } else {
        (
            Decision {
                allowed: false,
                remaining: 0,
                reset_ms: ceil_ms(new_tat - window - now_f),
                retry_after_ms: ceil_ms(new_tat - window - now_f),
            },
            tat,
        )
    }
}

/// What the object answers: the decision, and how many requests it admitted at once (a
/// lease: `granted` requests counted now, to be admitted by the caller within the lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub allowed: bool,
    pub remaining: u32,
    pub reset_ms: u64,
    pub retry_after_ms: u64,
    /// Requests admitted by this answer (0 when denied).
    pub granted: u32,
}

impl Grant {
    /// The decision for the first of the granted requests, as headers report it.
    pub fn decision(&self) -> Decision {
        Decision {
            allowed: self.allowed,
            remaining: self.remaining,
            reset_ms: self.reset_ms,
            retry_after_ms: self.retry_after_ms,
        }
    }
}

/// Admits up to `want` requests at `now` at once, each exactly as [`check`] would one after
/// another: the grant stops at the first request `check` would deny. Returns the grant (its
/// decision is the last admitted one, or the denial when none is) and the TAT to store.
pub fn grant(quota: Quota, tat: Option<f64>, now: u64, want: u32) -> (Grant, f64) {
    let mut state = tat;
    let mut granted = 0;
    let mut last = None;
    for _ in 0..want.max(1) {
        let (decision, next) = check(quota, state, now);
        if !decision.allowed {
            last = last.or(Some(decision));
            break;
        }
        granted += 1;
        state = Some(next);
        last = Some(decision);
    }
    let d = last.unwrap_or_else(|| check(quota, state, now).0);
    let grant = Grant {
        allowed: granted > 0,
        remaining: d.remaining,
        reset_ms: d.reset_ms,
        retry_after_ms: if granted > 0 { 0 } else { d.retry_after_ms },
        granted,
    };
    (grant, state.unwrap_or(now as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_admits_what_single_checks_would() {
        let (g, tat) = grant(Q, None, 0, 3);
        assert_eq!((g.allowed, g.granted, g.remaining), (true, 3, 2));
        let (g, tat) = grant(Q, Some(tat), 0, 10);
        assert_eq!(
            (g.allowed, g.granted, g.remaining),
            (true, 2, 0),
            "only what is left"
        );
        let (g, _) = grant(Q, Some(tat), 0, 1);
        assert_eq!((g.allowed, g.granted), (false, 0));
        assert_eq!(g.retry_after_ms, 2_000);
    }

    const Q: Quota = Quota {
        limit: 5,
        window_ms: 10_000,
    };

    fn run(quota: Quota, times: &[u64]) -> Vec<bool> {
        let mut tat = None;
        times
            .iter()
            .map(|&t| {
                let (d, next) = check(quota, tat, t);
                tat = Some(next);
                d.allowed
            })
            .collect()
    }

    #[test]
    fn a_full_burst_is_admitted_then_denied() {
        let got = run(Q, &[0; 7]);
        assert_eq!(got, [true, true, true, true, true, false, false]);
    }

    #[test]
    fn remaining_counts_down_and_reset_covers_the_burst() {
        let mut tat = None;
        for expected in (0..5).rev() {
            let (d, next) = check(Q, tat, 1_000);
            tat = Some(next);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected);
        }
        let (d, _) = check(Q, tat, 1_000);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.retry_after_ms, 2_000, "one interval until the next slot");
        assert_eq!(d.reset_ms, d.retry_after_ms);
    }

    #[test]
    fn quota_returns_at_the_steady_rate() {
        // After a burst, one request per 2 s comes back; a full window restores everything.
        assert_eq!(
            run(Q, &[0, 0, 0, 0, 0, 1_999, 2_000]),
            [true, true, true, true, true, false, true]
        );
        let mut times = vec![0; 5];
        times.extend([10_000; 5]);
        assert!(run(Q, &times).iter().all(|a| *a));
    }

    #[test]
    fn denied_requests_do_not_consume_quota() {
        let mut times = vec![0; 5];
        times.extend([100; 50]);
        times.push(2_000);
        assert_eq!(run(Q, &times).last(), Some(&true));
    }

    #[test]
    fn a_limit_of_one_allows_one_per_window() {
        let q = Quota {
            limit: 1,
            window_ms: 60_000,
        };
        assert_eq!(run(q, &[0, 1, 59_999, 60_000]), [true, false, false, true]);
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// Over any sequence, and over every sub-interval of it, admissions never exceed
        /// `limit + limit × elapsed / window`.
        #[test]
        fn never_admits_more_than_burst_plus_rate(
            limit in 1u32..50,
            window_ms in 1u64..100_000,
            gaps in proptest::collection::vec(0u64..5_000, 1..300),
        ) {
            let quota = Quota { limit, window_ms };
            let mut now = 0;
            let mut times = Vec::new();
            for g in gaps {
                now += g;
                times.push(now);
            }
            let admitted: Vec<u64> = times
                .iter()
                .zip(run(quota, &times))
                .filter(|(_, a)| *a)
                .map(|(t, _)| *t)
                .collect();
            for (i, &start) in admitted.iter().enumerate() {
                for (j, &end) in admitted.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as f64;
                    let bound = f64::from(limit)
                        + f64::from(limit) * (end - start) as f64 / window_ms as f64;
                    proptest::prop_assert!(count <= bound + 1e-6, "{count} > {bound}");
                }
            }
        }
    }
}

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

    /// The reservation [`to_store`] writes ahead of the TAT: a tenth of the window, at most
    /// [`MAX_RESERVE_MS`].
    pub fn reserve_ms(&self) -> f64 {
        (self.window_ms as f64 / 10.0).min(MAX_RESERVE_MS)
    }
}

/// How far the stored TAT may run ahead of the true one, at most: see [`to_store`].
pub const MAX_RESERVE_MS: f64 = 1000.0;

/// What the counter must write after admissions moved its TAT to `tat`, given the TAT it last
/// stored: nothing while the stored TAT is at or past `tat`, else `tat` plus the quota's
/// reservation.
///
/// Storing a TAT *ahead* of the true one is always safe: a counter that restarts from it
/// behaves as if a few more requests had been admitted, so it can only admit fewer, never
/// more. Decisions are made from the true TAT in memory, so while the counter lives nothing
/// changes but the number of writes: one per `reserve / interval + 1` admissions instead of one
/// per admission (a busy key on 300 per minute: one write in six). The cost is on a restart
/// while the key is busy: at most the reservation's worth of requests (`reserve / interval`,
/// at most a tenth of the limit) refused that would have been admitted.
pub fn to_store(quota: Quota, tat: f64, stored: Option<f64>) -> Option<f64> {
    match stored {
        Some(stored) if stored >= tat => None,
        _ => Some(tat + quota.reserve_ms()),
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still admissible right now after this one.
    pub remaining: u32,
    /// Milliseconds until the quota is back in full (the `t=` of the `RateLimit` header),
    /// whether or not this request was admitted.
    pub reset_ms: u64,
    /// When denied: milliseconds until one request would be admitted.
    pub retry_after_ms: u64,
}

/// The TAT `quota` decides from at `now`. One more than a window (and the reservation)
/// ahead of `now` can only have been stored under another quota, before the settings changed
/// (a longer window, or a smaller limit and its longer interval): it is held to
/// `now + window`, so a raised quota applies within its own window. That is still at or past
/// the TAT the quota itself could have reached, which is never more than a window ahead.
pub fn held(quota: Quota, tat: Option<f64>, now: u64) -> Option<f64> {
    let most = now as f64 + quota.window_ms as f64;
    tat.map(|t| {
        if t > most + quota.reserve_ms() {
            most
        } else {
            t
        }
    })
}

/// Decides one request at `now` given the stored TAT (`None` for a fresh key, [`held`] to
/// this quota); returns the decision and the TAT to store (unchanged when denied).
pub fn check(quota: Quota, tat: Option<f64>, now: u64) -> (Decision, f64) {
    let now_f = now as f64;
    let interval = quota.interval();
    let window = quota.window_ms as f64;
    let tat = held(quota, tat, now).unwrap_or(now_f).max(now_f);
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
                reset_ms: ceil_ms(tat - now_f),
                retry_after_ms: ceil_ms(new_tat - window - now_f),
            },
            tat,
        )
    }
}

/// What a counter whose quota is back in full `debt_ms` from now admits right now: the
/// `remaining` of [`check`], as it reads later with no requests in between (a lease's view of
/// its counter).
pub fn remaining_after(quota: Quota, debt_ms: u64) -> u32 {
    let window = quota.window_ms as f64;
    let left = ((window - debt_ms as f64) / quota.interval() + 1e-9).floor();
    (left.max(0.0) as u32).min(quota.limit)
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
    fn a_tat_stored_under_a_longer_window_is_held_to_this_one() {
        // Five admissions under 5 per hour leave the TAT an hour ahead.
        let hourly = Quota {
            limit: 5,
            window_ms: 3_600_000,
        };
        let mut tat = None;
        for _ in 0..5 {
            tat = Some(check(hourly, tat, 0).1);
        }
        assert_eq!(tat, Some(3_600_000.0));
        assert!(!check(hourly, tat, 0).0.allowed);
        // Raised to 1,000 a minute: a denial says one interval, not the old hour, and the
        // key is admitted again within the new window.
        let raised = Quota {
            limit: 1000,
            window_ms: 60_000,
        };
        let kept = held(raised, tat, 0);
        assert_eq!(kept, Some(60_000.0));
        let (d, state) = check(raised, tat, 0);
        assert!(!d.allowed);
        assert_eq!(state, 60_000.0);
        assert_eq!(d.retry_after_ms, 60);
        assert!(d.reset_ms <= raised.window_ms);
        assert!(check(raised, kept, 60).0.allowed);
        // A TAT the quota itself stored (with its reservation) is kept as it is.
        assert_eq!(held(raised, Some(60_900.0), 0), Some(60_900.0));
        assert_eq!(held(raised, None, 0), None);
    }

    #[test]
    fn a_full_burst_is_admitted_then_denied() {
        let got = run(Q, &[0; 7]);
        assert_eq!(got, [true, true, true, true, true, false, false]);
    }

    #[test]
    fn remaining_after_continues_what_check_said() {
        let q = Quota {
            limit: 300,
            window_ms: 60_000,
        };
        let (mut tat, mut last) = (None, None);
        for _ in 0..7 {
            let (d, next) = check(q, tat, 0);
            tat = Some(next);
            last = Some(d);
        }
        let d = last.unwrap();
        assert_eq!(remaining_after(q, d.reset_ms), d.remaining);
        // Each interval (200 ms) gives one back; a settled counter has the whole quota.
        assert_eq!(remaining_after(q, d.reset_ms - 200), d.remaining + 1);
        assert_eq!(remaining_after(q, 0), 300);
        assert_eq!(remaining_after(q, 120_000), 0);
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
        assert_eq!(
            d.reset_ms, 10_000,
            "the whole burst until the quota is back in full"
        );
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

        /// A counter that stores reservations ([`to_store`]) and restarts from what it stored
        /// at random moments keeps the same bound, and a restart never costs more than the
        /// reservation.
        #[test]
        fn stored_reservations_never_admit_more(
            limit in 1u32..400,
            window_ms in 1u64..100_000,
            events in proptest::collection::vec((0u64..3_000, 1u32..8, 0u8..100), 1..300),
        ) {
            let quota = Quota { limit, window_ms };
            let (mut now, mut tat, mut stored) = (0u64, None, None);
            let mut admitted: Vec<(u64, u32)> = Vec::new();
            for (gap, want, roll) in events {
                now += gap;
                if roll < 8 {
                    // A restart: the counter comes back with what it stored.
                    if let (Some(t), Some(s)) = (tat, stored) {
                        proptest::prop_assert!(s >= t && s - t <= quota.reserve_ms() + 1e-6);
                    }
                    tat = stored;
                }
                let (g, next) = grant(quota, tat, now, want);
                tat = Some(next);
                if g.granted > 0 {
                    admitted.push((now, g.granted));
                    if let Some(write) = to_store(quota, next, stored) {
                        stored = Some(write);
                    }
                    proptest::prop_assert!(stored >= tat, "stored {stored:?} behind {tat:?}");
                }
            }
            for (i, &(start, _)) in admitted.iter().enumerate() {
                let mut count = 0.0;
                for &(end, n) in &admitted[i..] {
                    count += f64::from(n);
                    let bound = f64::from(limit)
                        + f64::from(limit) * (end - start) as f64 / window_ms as f64;
                    proptest::prop_assert!(count <= bound + 1e-6, "{count} > {bound}");
                }
            }
        }
    }

    #[test]
    fn a_busy_key_writes_once_per_reservation() {
        // 300 a minute: one request every 200 ms, a reservation of 1 s.
        let quota = Quota {
            limit: 300,
            window_ms: 60_000,
        };
        let (mut tat, mut stored, mut writes) = (None, None, 0);
        for i in 0..100u64 {
            let (g, next) = grant(quota, tat, i * 10, 1);
            assert!(g.allowed);
            tat = Some(next);
            if let Some(write) = to_store(quota, next, stored) {
                assert!((write - next - 1000.0).abs() < 1e-9);
                stored = Some(write);
                writes += 1;
            }
        }
        // Each write covers the next 1000 / 200 = 5 admissions.
        assert_eq!(writes, 17);
        // A tight policy (login: 10 a minute) still writes on every admission.
        let tight = Quota {
            limit: 10,
            window_ms: 60_000,
        };
        let (mut tat, mut stored) = (None, None);
        for i in 0..5u64 {
            let (_, next) = grant(tight, tat, i, 1);
            tat = Some(next);
            let write = to_store(tight, next, stored);
            assert!(write.is_some());
            stored = write;
        }
    }
}

//! Rate limiting on Durable Objects: one object per `policy:key` holds an exact GCRA state.
//!
//! Policies are named in the route table and defined here (quota, what the key is, and what
//! happens when the limiter cannot be reached); `RATE_LIMITS` overrides quotas per
//! environment. Responses carry the IETF draft `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers), one list member per policy checked.

pub mod client;
pub mod enforce;
pub mod gcra;
pub mod object;

pub use enforce::{enforce, Limiter, Verdict};

use gcra::{Decision, Quota};
use std::fmt::Write;
use std::net::IpAddr;

/// What a policy counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The client address from `CF-Connecting-IP` (IPv6 grouped by /64).
    Ip,
    /// The authenticated caller.
    User,
    /// The e-mail a login names (checked by the handler once the body is parsed).
    Email,
}

/// What happens when the limiter fails: admit the request (general traffic) or refuse it
/// with 503 (brute-force protection must not disappear when the limiter does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Open,
    Closed,
}

/// A named policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub name: &'static str,
    pub key: KeyKind,
    pub quota: Quota,
    pub on_error: OnError,
    /// Busy keys are served from leases (see [`enforce`]); only generous quotas qualify.
    pub lease: bool,
}

impl Policy {
    /// Whether a quota is generous enough for leases.
    pub const fn leasable(quota: Quota) -> bool {
        quota.limit >= enforce::LEASE_MIN_LIMIT
    }
}

const fn policy(
    name: &'static str,
    key: KeyKind,
    limit: u32,
    secs: u64,
    on_error: OnError,
) -> Policy {
    Policy {
        name,
        key,
        quota: Quota {
            limit,
            window_ms: secs * 1000,
        },
        on_error,
        lease: limit >= enforce::LEASE_MIN_LIMIT,
    }
}

/// Every policy with its default quota.
pub const DEFAULT_POLICIES: &[Policy] = &[
    policy("ip", KeyKind::Ip, 300, 60, OnError::Open),
    policy("user", KeyKind::User, 600, 60, OnError::Open),
    policy("login-ip", KeyKind::Ip, 10, 60, OnError::Closed),
    // Per address, one bucket per way in, so that guessing one account's password does not
    // also shut its owner out of the e-mail link and the passkey.
    policy("login-email", KeyKind::Email, 5, 300, OnError::Closed),
    policy("email-link-email", KeyKind::Email, 5, 300, OnError::Closed),
    policy("passkey-email", KeyKind::Email, 10, 300, OnError::Closed),
    policy("signup-ip", KeyKind::Ip, 5, 3600, OnError::Closed),
    // Passkey ceremony options (each stores a challenge).
    policy("passkey-ip", KeyKind::Ip, 30, 60, OnError::Closed),
    // Password changes: each checks the current password, so a stolen session may not guess
    // it faster than a login could.
    policy("password-user", KeyKind::User, 5, 300, OnError::Closed),
    // Used by the test-only route `/v1/_test/limited`.
    policy("test", KeyKind::Ip, 50, 3600, OnError::Open),
];

/// The client key for IP policies: the address from `CF-Connecting-IP`, IPv6 reduced to its
/// /64 (one subscriber usually holds a whole /64), IPv4-mapped IPv6 treated as IPv4.
/// `X-Forwarded-For` is never trusted: on Cloudflare only `CF-Connecting-IP` is set by the edge.
pub fn client_key(cf_connecting_ip: Option<&str>) -> String {
    let Some(raw) = cf_connecting_ip.map(str::trim).filter(|s| !s.is_empty()) else {
        return "unknown".to_owned();
    };
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => "invalid".to_owned(),
    }
}

/// One checked policy, for the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub policy: &'static str,
    pub quota: Quota,
    pub decision: Decision,
}

/// Renders `RateLimit-Policy` and `RateLimit`, e.g. `"ip";q=300;w=60` and `"ip";r=299;t=60`.
pub fn header_values(checked: &[Checked]) -> Option<(String, String)> {
    if checked.is_empty() {
        return None;
    }
    let (mut policy, mut limit) = (String::new(), String::new());
    for (i, c) in checked.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(
            policy,
            "{sep}\"{}\";q={};w={}",
            c.policy,
            c.quota.limit,
            c.quota.window_ms.div_ceil(1000)
        );
        let _ = write!(
            limit,
            "{sep}\"{}\";r={};t={}",
            c.policy,
            c.decision.remaining,
            // The quota is back in full within one window; a time measured from an isolate's
            // view of a grant that began a little earlier never says more.
            c.decision.reset_ms.min(c.quota.window_ms).div_ceil(1000)
        );
    }
    Some((policy, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_kept_and_ipv6_is_grouped_by_64() {
        assert_eq!(client_key(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(
            client_key(Some("2001:db8:1:2:aaaa::1")),
            client_key(Some("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_eq!(client_key(Some("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_ne!(
            client_key(Some("2001:db8:1:2::1")),
            client_key(Some("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(Some("::ffff:198.51.100.9")), "198.51.100.9");
        assert_eq!(client_key(None), "unknown");
        assert_eq!(client_key(Some("not an ip")), "invalid");
    }

    #[test]
    fn headers_list_every_checked_policy() {
        let d = Decision {
            allowed: true,
            remaining: 299,
            reset_ms: 200,
            retry_after_ms: 0,
        };
        let checked = [
            Checked {
                policy: "ip",
                quota: Quota {
                    limit: 300,
                    window_ms: 60_000,
                },
                decision: d,
            },
            Checked {
                policy: "user",
                quota: Quota {
                    limit: 600,
                    window_ms: 60_000,
                },
                decision: Decision {
                    remaining: 0,
                    reset_ms: 59_001,
                    ..d
                },
            },
        ];
        let (p, r) = header_values(&checked).unwrap();
        assert_eq!(p, r#""ip";q=300;w=60, "user";q=600;w=60"#);
        assert_eq!(r, r#""ip";r=299;t=1, "user";r=0;t=60"#);
        assert_eq!(header_values(&[]), None);
        // Never more than the window.
        let late = [Checked {
            decision: Decision {
                reset_ms: 60_050,
                ..checked[1].decision
            },
            ..checked[1]
        }];
        assert_eq!(header_values(&late).unwrap().1, r#""user";r=0;t=60"#);
    }
}

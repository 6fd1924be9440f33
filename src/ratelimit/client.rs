//! Checks a request's policies against their Durable Objects, concurrently, with a small
//! per-isolate cache of keys known to be blocked.
//!
//! A client hammering past its limit would otherwise cost one Durable Object round trip per
//! rejected request; with the cache, an isolate that saw a denial answers 429 locally until
//! the retry time. The cache only short-circuits denials, so it can never admit more than the
//! object would.

use super::gcra::Decision;
use super::{Checked, OnError, Policy};
use crate::error::{AppError, ErrorCode, FieldIssue};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::{Env, Method, Request, RequestInit};

/// Entries kept in the blocked-key cache at most (a few hundred KB at worst).
const BLOCKED_CAPACITY: usize = 4096;

thread_local! {
    /// `policy:key` → blocked until (Unix ms), with the policy's quota echoed in headers.
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

/// Checks every `(policy, key)` concurrently. Returns what was checked (for the headers) and,
/// when a policy denies or a fail-closed policy cannot be checked, the error to answer with.
/// `traceparent` goes with each call to the objects, so they join the request's trace.
pub async fn check(
    env: &Env,
    checks: &[(&Policy, String)],
    now: u64,
    request_id: &str,
    traceparent: &str,
) -> (Vec<Checked>, Option<AppError>) {
    let results = futures_util::future::join_all(
        checks
            .iter()
            .map(|(p, key)| check_one(env, p, key, now, traceparent)),
    )
    .await;
    let mut checked = Vec::new();
    let mut denied = Vec::new();
    let mut failure = None;
    for ((policy, _), result) in checks.iter().zip(results) {
        match result {
            Ok(decision) => {
                if !decision.allowed {
                    denied.push((policy.name, decision.retry_after_ms));
                }
                checked.push(Checked {
                    policy: policy.name,
                    quota: policy.quota,
                    decision,
                });
            }
            Err(cause) => {
                let line = serde_json::json!({
                    "level": "warn",
                    "event": "rate_limiter_unavailable",
                    "request_id": request_id,
                    "policy": policy.name,
                    "fail": if policy.on_error == OnError::Open { "open" } else { "closed" },
                    "cause": cause,
                });
                worker::console_warn!("{line}");
                if policy.on_error == OnError::Closed {
                    failure = Some(AppError::unavailable(
                        format!("rate limiter for {}: {cause}", policy.name),
                        5,
                    ));
                }
            }
        }
    }
    if let Some(err) = failure {
        return (checked, Some(err));
    }
    if denied.is_empty() {
        return (checked, None);
    }
    let retry_secs = denied
        .iter()
        .map(|(_, ms)| ms.div_ceil(1000).max(1))
        .max()
        .unwrap_or(1);
    let details = denied
        .iter()
        .map(|(name, _)| FieldIssue::new(*name, "limit_exceeded"))
        .collect();
    let err = AppError::new(ErrorCode::RateLimited)
        .with_details(details)
        .with_header("Retry-After", retry_secs.to_string());
    (checked, Some(err))
}

async fn check_one(
    env: &Env,
    policy: &Policy,
    key: &str,
    now: u64,
    traceparent: &str,
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
    let decision = call_object(env, policy, &id, traceparent)
        .await
        .map_err(|e| e.to_string())?;
    if !decision.allowed {
        remember_blocked(id, now + decision.retry_after_ms, now);
    }
    Ok(decision)
}

async fn call_object(
    env: &Env,
    policy: &Policy,
    id: &str,
    traceparent: &str,
) -> worker::Result<Decision> {
    let stub = env
        .durable_object(crate::config::LIMITER_BINDING)?
        .id_from_name(id)?
        .get_stub()?;
    let body = serde_json::to_string(&policy.quota)?;
    let headers = worker::Headers::new();
    headers.set("traceparent", traceparent)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let req = Request::new_with_init("https://rate-limiter/check", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "limiter answered {}",
            resp.status_code()
        )));
    }
    // The object is another program: decode its answer strictly.
    let text = resp.text().await?;
    serde_json::from_str(&text).map_err(|e| worker::Error::RustError(format!("bad answer: {e}")))
}

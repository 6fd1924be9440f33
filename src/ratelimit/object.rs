//! The `RateLimiter` Durable Object class: the exact counter for one `policy:key`.
//!
//! Named through `id_from_name("policy:key")`, so load spreads over many objects and no single
//! object is hot. Durable Objects handle one event at a time and the runtime's input gate
//! holds new events while storage is read, so check-and-update is atomic without locks. The
//! TAT is kept in memory and persisted on every admitted request (SQLite-backed storage, so it
//! survives eviction); an alarm deletes the state once the key is fully rested, so storage
//! never grows with keys that stopped calling.
//!
//! **Writes do not hold the answer up.** The TAT write and the alarm are issued without
//! awaiting them: the runtime's output gate keeps the answer from leaving the object until
//! they are durable, so a caller can never observe a decision whose state could be lost. The
//! alarm is set only when none is pending; when it fires early (the key kept calling) it
//! re-arms itself for the current TAT.
//!
//! Protocol: `GET /check/<limit>/<window_ms>/<want>` admits up to `want` requests at once
//! (a lease, see [`super::enforce`]) and answers a [`super::gcra::Grant`] as JSON; `GET /ping`
//! answers `pong` (readiness). The quota travels in the path, so neither side reads a body.

use super::gcra::{self, Quota};
use std::cell::Cell;
use worker::worker_sys::DurableObjectStorage;
use worker::{durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State};

const TAT_KEY: &str = "tat";

/// Grace after the TAT before the state is deleted, milliseconds.
const REST_GRACE_MS: f64 = 1000.0;

/// The Durable Object holding one key's limiter state.
#[durable_object]
pub struct RateLimiter {
    state: State,
    /// The storage binding itself, for writes issued without awaiting.
    raw: Option<DurableObjectStorage>,
    /// `None` until loaded from storage; `Some(None)` for a fresh key.
    tat: Cell<Option<Option<f64>>>,
    /// An alarm is known to be pending (set by this instance, not yet fired).
    alarm_pending: Cell<bool>,
}

/// The most requests one answer admits.
const MAX_WANT: u32 = super::enforce::MAX_LEASE;

/// Reads `/check/<limit>/<window_ms>/<want>`.
fn quota_from_path(path: &str) -> Option<(Quota, u32)> {
    let mut parts = path.strip_prefix("/check/")?.split('/');
    let quota = Quota {
        limit: parts.next()?.parse().ok()?,
        window_ms: parts.next()?.parse().ok()?,
    };
    let want: u32 = parts.next()?.parse().ok()?;
    let ok = parts.next().is_none()
        && quota.limit > 0
        && quota.window_ms > 0
        && (1..=MAX_WANT).contains(&want);
    ok.then_some((quota, want))
}

impl RateLimiter {
    async fn tat(&self) -> Result<Option<f64>> {
        if let Some(tat) = self.tat.get() {
            return Ok(tat);
        }
        let stored = self.state.storage().get::<f64>(TAT_KEY).await?;
        self.tat.set(Some(stored));
        Ok(stored)
    }

    /// Persists the TAT and, when none is pending, sets the alarm, without waiting for
    /// either (the output gate holds the answer until both are durable).
    fn persist(&self, tat: f64, alarm_at: f64) -> Result<()> {
        let Some(raw) = &self.raw else {
            return Err(worker::Error::RustError("no storage".into()));
        };
        let _ = raw.put(TAT_KEY, wasm_bindgen::JsValue::from_f64(tat))?;
        if !self.alarm_pending.get() {
            let at = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(alarm_at));
            let _ = raw.set_alarm(at, wasm_bindgen::JsValue::NULL.into())?;
            self.alarm_pending.set(true);
        }
        Ok(())
    }

    async fn check(&self, path: &str) -> Result<Response> {
        let Some((quota, want)) = quota_from_path(path) else {
            return Response::error("bad quota", 400);
        };
        let now = worker::Date::now().as_millis();
        let (grant, tat) = gcra::grant(quota, self.tat().await?, now, want);
        if grant.allowed {
            self.tat.set(Some(Some(tat)));
            self.persist(tat, tat + REST_GRACE_MS)?;
        }
        let body = serde_json::to_string(&grant)?;
        Response::ok(body)
    }
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        let inner = state._inner();
        let raw = inner.storage().ok();
        Self {
            state: State::from(inner),
            raw,
            tat: Cell::new(None),
            alarm_pending: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        if path == "/ping" {
            return Response::ok("pong");
        }
        if path.starts_with("/check/") {
            return self.check(&path).await;
        }
        Response::error("not found", 404)
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_pending.set(false);
        let now = worker::Date::now().as_millis() as f64;
        match self.tat().await? {
            Some(tat) if tat > now => {
                // The key kept calling: look again once it can have rested.
                let storage = self.state.storage();
                storage
                    .set_alarm(std::time::Duration::from_millis(
                        (tat - now + REST_GRACE_MS).ceil() as u64,
                    ))
                    .await?;
                self.alarm_pending.set(true);
            }
            _ => {
                self.state.storage().delete_all().await?;
                self.tat.set(Some(None));
            }
        }
        Response::ok("ok")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_travels_in_the_path() {
        let q = Quota {
            limit: 300,
            window_ms: 60_000,
        };
        assert_eq!(quota_from_path("/check/300/60000/15"), Some((q, 15)));
        for bad in [
            "/check/0/60000/1",
            "/check/5/0/1",
            "/check/5/10/0",
            "/check/5/10/1001",
            "/check/5",
            "/check/a/b/c",
            "/check/1/2/3/4",
            "/ping",
        ] {
            assert_eq!(quota_from_path(bad), None, "{bad}");
        }
    }
}

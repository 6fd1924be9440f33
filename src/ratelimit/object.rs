//! The `RateLimiter` Durable Object class: the exact counter for one `policy:key`.
//!
//! Named through `id_from_name("policy:key")`, so load spreads over many objects and no single
//! object is hot. Durable Objects handle one event at a time and the runtime's input gate
//! holds new events while storage is read, so check-and-update is atomic without locks. The
//! TAT is kept in memory and persisted (SQLite-backed storage, so it survives eviction) as a
//! reservation slightly ahead of it, written again only once admissions pass it
//! ([`gcra::to_store`]: a busy key on 300 per minute writes once in six admissions, a tight
//! policy on every one); an alarm deletes the state once the key is fully rested, so storage
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
use crate::answer::at_once;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::worker_sys::{DurableObjectState, DurableObjectStorage};
use worker::{web_sys, Env, Result};

const TAT_KEY: &str = "tat";

/// Grace after the TAT before the state is deleted, milliseconds.
const REST_GRACE_MS: f64 = 1000.0;

/// The Durable Object holding one key's limiter state.
///
/// Written as a plain `wasm_bindgen` class rather than with `#[durable_object]`: its `fetch`
/// reads only the URL (no `worker::Request`, which converts `request.cf`), answers in one
/// crossing, and, like the Worker's own `fetch` export, answers from the call itself when
/// nothing waits, which is every check once the TAT is in memory.
#[wasm_bindgen]
pub struct RateLimiter {
    inner: Rc<Inner>,
}

struct Inner {
    storage: DurableObjectStorage,
    /// `None` until loaded from storage; `Some(None)` for a fresh key.
    tat: Cell<Option<Option<f64>>>,
    /// The TAT last written or loaded: the reservation the stored state already covers.
    stored: Cell<Option<f64>>,
    /// An alarm is known to be pending (set by this instance, not yet fired).
    alarm_pending: Cell<bool>,
}

#[wasm_bindgen(inline_js = r#"
export function answer(status, body) {
  return new Response(body, { status });
}
"#)]
extern "C" {
    /// A plain-text `Response` in one crossing.
    fn answer(status: u16, body: &str) -> web_sys::Response;
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

fn js_error(e: worker::Error) -> JsValue {
    JsValue::from(js_sys::Error::new(&e.to_string()))
}

impl Inner {
    async fn tat(&self) -> Result<Option<f64>> {
        if let Some(tat) = self.tat.get() {
            return Ok(tat);
        }
        let stored = wasm_bindgen_futures::JsFuture::from(self.storage.get(TAT_KEY)?).await?;
        let stored = stored.as_f64();
        self.tat.set(Some(stored));
        self.stored.set(stored);
        Ok(stored)
    }

    /// Persists the TAT's reservation when admissions have passed the stored one and, when
    /// none is pending, sets the alarm, without waiting for either (the output gate holds the
    /// answer until both are durable).
    fn persist(&self, quota: Quota, tat: f64, alarm_at: f64) -> Result<()> {
        if let Some(write) = gcra::to_store(quota, tat, self.stored.get()) {
            let _ = self.storage.put(TAT_KEY, JsValue::from_f64(write))?;
            self.stored.set(Some(write));
        }
        if !self.alarm_pending.get() {
            let at = js_sys::Date::new(&JsValue::from_f64(alarm_at));
            let _ = self.storage.set_alarm(at, JsValue::NULL.into())?;
            self.alarm_pending.set(true);
        }
        Ok(())
    }

    async fn check(&self, path: &str) -> Result<web_sys::Response> {
        let Some((quota, want)) = quota_from_path(path) else {
            return Ok(answer(400, "bad quota"));
        };
        let now = js_sys::Date::now() as u64;
        let loaded = self.tat().await?;
        let held = gcra::held(quota, loaded, now);
        if held != loaded {
            // Stored under a quota since changed: the held TAT replaces it here and in
            // storage, so that a restart does not bring the old one back.
            if let Some(tat) = held {
                let _ = self.storage.put(TAT_KEY, JsValue::from_f64(tat))?;
            }
            self.tat.set(Some(held));
            self.stored.set(held);
        }
        let (grant, tat) = gcra::grant(quota, held, now, want);
        if grant.allowed {
            self.tat.set(Some(Some(tat)));
            self.persist(quota, tat, tat + REST_GRACE_MS)?;
        }
        Ok(answer(200, &serde_json::to_string(&grant)?))
    }

    async fn fetch(&self, path: &str) -> Result<web_sys::Response> {
        if path == "/ping" {
            return Ok(answer(200, "pong"));
        }
        if path.starts_with("/check/") {
            return self.check(path).await;
        }
        Ok(answer(404, "not found"))
    }

    async fn alarm(&self) -> Result<()> {
        self.alarm_pending.set(false);
        let now = js_sys::Date::now();
        match self.tat().await? {
            Some(tat) if tat > now => {
                // The key kept calling: look again once it can have rested.
                let at = js_sys::Date::new(&JsValue::from_f64(tat + REST_GRACE_MS));
                wasm_bindgen_futures::JsFuture::from(
                    self.storage.set_alarm(at, JsValue::NULL.into())?,
                )
                .await?;
                self.alarm_pending.set(true);
            }
            _ => {
                wasm_bindgen_futures::JsFuture::from(self.storage.delete_all()?).await?;
                self.tat.set(Some(None));
                self.stored.set(None);
            }
        }
        Ok(())
    }
}

#[wasm_bindgen]
impl RateLimiter {
    /// Called by the runtime once per object instance.
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, _env: Env) -> std::result::Result<RateLimiter, JsValue> {
        let storage = state.storage()?;
        Ok(Self {
            inner: Rc::new(Inner {
                storage,
                tat: Cell::new(None),
                stored: Cell::new(None),
                alarm_pending: Cell::new(false),
            }),
        })
    }

    /// Answers `GET /check/…` and `GET /ping` (see the module's protocol).
    pub fn fetch(&self, req: web_sys::Request) -> JsValue {
        let url = req.url();
        let (path, _) = crate::http::query::split_url(&url);
        let path = path.to_owned();
        let inner = Rc::clone(&self.inner);
        at_once(async move {
            inner
                .fetch(&path)
                .await
                .map(JsValue::from)
                .map_err(js_error)
        })
    }

    /// Deletes the state once the key has rested, else re-arms for the current TAT.
    pub fn alarm(&self) -> JsValue {
        let inner = Rc::clone(&self.inner);
        at_once(async move {
            inner
                .alarm()
                .await
                .map(|()| JsValue::UNDEFINED)
                .map_err(js_error)
        })
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

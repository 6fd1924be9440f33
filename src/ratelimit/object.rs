//! The `RateLimiter` Durable Object class: the exact counter for one `policy:key`.
//!
//! Named through `id_from_name("policy:key")`, so load spreads over many objects and no single
//! object is hot. Durable Objects handle one event at a time and the runtime's input gate
//! holds new events while storage is read, so check-and-update is atomic without locks. The
//! TAT is kept in memory and persisted on every admitted request (SQLite-backed storage, so it
//! survives eviction); an alarm deletes the state once the key is fully rested, so storage
//! never grows with keys that stopped calling.
//!
//! Protocol: `POST /check` with a [`Quota`] as JSON answers a [`super::gcra::Decision`];
//! `GET /ping` answers `pong` (readiness).

use super::gcra::{self, Quota};
use std::cell::Cell;
use std::time::Duration;
use worker::{durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State};

const TAT_KEY: &str = "tat";

/// The Durable Object holding one key's limiter state.
#[durable_object]
pub struct RateLimiter {
    state: State,
    /// `None` until loaded from storage; `Some(None)` for a fresh key.
    tat: Cell<Option<Option<f64>>>,
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

    async fn check(&self, mut req: Request) -> Result<Response> {
        let Ok(quota) = req.json::<Quota>().await else {
            return Response::error("bad quota", 400);
        };
        if quota.limit == 0 || quota.window_ms == 0 {
            return Response::error("bad quota", 400);
        }
        let now = worker::Date::now().as_millis();
        let (decision, tat) = gcra::check(quota, self.tat().await?, now);
        if decision.allowed {
            self.tat.set(Some(Some(tat)));
            let storage = self.state.storage();
            storage.put(TAT_KEY, tat).await?;
            // Once the TAT has passed the key is fully rested: the state can go.
            storage
                .set_alarm(Duration::from_millis(decision.reset_ms + 1000))
                .await?;
        }
        Response::from_json(&decision)
    }
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            tat: Cell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/check" => self.check(req).await,
            "/ping" => Response::ok("pong"),
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let now = worker::Date::now().as_millis() as f64;
        match self.tat().await? {
            Some(tat) if tat > now => {
                let wait = (tat - now).ceil() as u64 + 1000;
                self.state
                    .storage()
                    .set_alarm(Duration::from_millis(wait))
                    .await?;
            }
            _ => {
                self.state.storage().delete_all().await?;
                self.tat.set(Some(None));
            }
        }
        Response::ok("ok")
    }
}

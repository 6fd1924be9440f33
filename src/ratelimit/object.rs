//! The `RateLimiter` Durable Object class.
//!
//! One instance per limited key (named `policy:key` through `id_from_name`), so load spreads
//! over many objects instead of one global hot spot. The class is bound as `RATE_LIMITER` and
//! backed by SQLite storage (`new_sqlite_classes` in `wrangler.toml`). For now it answers the
//! readiness probe; the counting algorithm plugs in here.

use worker::{durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State};

/// The Durable Object holding one key's limiter state.
#[durable_object]
pub struct RateLimiter {
    _state: State,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self { _state: state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/ping" => Response::ok("pong"),
            _ => Response::error("not found", 404),
        }
    }
}

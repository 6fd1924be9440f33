//! A Rust template for HTTP APIs on Cloudflare Workers.
//!
//! A request enters [`pipeline::edge::serve`], which adapts it, routes it through [`routes::ROUTES`]
//! and lends the handler a [`context::Ctx`]. Everything that decides something (routing,
//! errors, HTTP policy, domain types, configuration, session and limiter rules, the cache
//! engine) is pure and tested natively; only the adapters in [`platform`], [`db`], the KV
//! session store, the limiter's client and object, and [`outbound`] touch the runtime.

pub mod accounts;
pub mod auth;
pub mod cache;
pub mod config;
pub mod context;
pub mod db;
pub mod domain;
pub mod error;
pub mod health;
pub mod http;
pub mod ids;
pub mod mail;
pub mod notes;
pub mod openapi;
pub mod outbound;
pub mod passkeys;
pub mod pipeline;
pub mod platform;
pub mod ratelimit;
pub mod router;
pub mod routes;
pub mod testing;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod architecture;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz;

pub use error::{AppError, ErrorCode};

use std::future::Future;
use std::task::{Context as TaskContext, Poll, Waker};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{web_sys, worker_sys, Context, Env};

/// The Worker's `fetch` handler: takes the runtime's own request and answers its own
/// response (the pipeline's edge reads only what it needs, see [`platform::RawRequest`]).
///
/// The pipeline runs at once, up to its first wait. A request that never waits (routing
/// errors, validation errors, a rate limit served from a lease, anything without storage)
/// is answered from this call: no `Promise`, no microtask, no closure crossing. A request
/// that does wait continues as a `Promise`, which re-polls the same future with a real
/// waker; the runtime accepts either as a handler's result. This replaces
/// `#[event(fetch)]`, whose export always goes through a `Promise` and a microtask.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker_sys::Context) -> JsValue {
    let mut answer = Box::pin(pipeline::edge::serve(req, env, Context::new(ctx)));
    match answer
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(resp) => resp.into(),
        Poll::Pending => {
            wasm_bindgen_futures::future_to_promise(async move { Ok(answer.await.into()) }).into()
        }
    }
}

//! A Rust template for HTTP APIs on Cloudflare Workers.
//!
//! A request enters [`pipeline::edge::serve`], which adapts it, routes it through [`routes::ROUTES`]
//! and lends the handler a [`context::Ctx`]. Everything that decides something (routing,
//! errors, HTTP policy, domain types, configuration, session and limiter rules, the cache
//! engine) is pure and tested natively; only the adapters in [`platform`], [`db`], the KV
//! session store, the limiter's client and object, and [`outbound`] touch the runtime.

pub mod accounts;
pub mod answer;
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

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{web_sys, worker_sys, Context, Env};

/// The Worker's `fetch` handler: takes the runtime's own request and answers its own
/// response (the pipeline's edge reads only what it needs, see [`platform::RawRequest`]).
///
/// The pipeline runs at once ([`answer::at_once`]): a request that never waits is answered
/// from this call, one that waits as a `Promise`. This replaces `#[event(fetch)]`, whose
/// export always goes through a `Promise` and a microtask.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker_sys::Context) -> JsValue {
    answer::at_once(async move {
        Ok(pipeline::edge::serve(req, env, Context::new(ctx))
            .await
            .into())
    })
}

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

use worker::{event, web_sys, Context, Env, Result};

/// Takes the runtime's own request and answers its own response: the pipeline's edge reads
/// only what it needs (see [`platform::RawRequest`]).
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    Ok(pipeline::edge::serve(req, env, ctx).await)
}

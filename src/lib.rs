//! A Rust template for HTTP APIs on Cloudflare Workers.
//!
//! The crate is split so that everything pure (domain types, validation, routing, error
//! mapping, CORS and header policy, configuration) compiles and tests natively, while
//! [`app`], [`handlers`] and the adapters stay a thin layer over the `worker` crate.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod http;
pub mod ids;
pub mod notes;
pub mod outbound;
pub mod ratelimit;
pub mod router;

pub use error::{AppError, ErrorCode};

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(app::handle(req, env).await)
}

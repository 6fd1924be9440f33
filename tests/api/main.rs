//! Integration tests against the real Worker in workerd, one module per feature.
#![cfg(not(target_arch = "wasm32"))]

mod support;

mod accounts;
mod authorization;
mod cache;
mod config;
mod cors;
mod csrf;
mod d1;
mod errors;
mod health;
mod json_input;
mod notes;
mod observability;
mod panic_recovery;
mod rate_limits;
mod routing;
mod service_tokens;
mod sessions;
mod turso;

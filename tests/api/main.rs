//! Integration tests against the real Worker in workerd, one module per feature.
#![cfg(not(target_arch = "wasm32"))]

mod support;

/// Runs each listed `async fn(Backend)` as one test per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod d1 {
            $(#[tokio::test] async fn $name() { super::$name(crate::support::Backend::D1).await })*
        }
        mod turso {
            $(#[tokio::test] async fn $name() { super::$name(crate::support::Backend::Turso).await })*
        }
    };
}

mod accounts;
mod authorization;
mod cache;
mod config;
mod contract;
mod cors;
mod csrf;
mod d1;
mod email_link;
mod errors;
mod health;
mod housekeeping;
mod json_input;
mod notes;
mod observability;
mod panic_recovery;
mod passkeys;
mod rate_limits;
mod routing;
mod service_tokens;
mod sessions;
mod turso;

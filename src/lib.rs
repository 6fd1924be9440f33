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
pub mod housekeeping;
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

/// The Worker's `scheduled` handler (the Cron Trigger in `wrangler.toml`): the clean-up of
/// expired rows ([`housekeeping`]) as of the event's scheduled time, one log line either way.
/// A failure rejects, so the runtime records the run as failed.
#[wasm_bindgen]
pub async fn scheduled(
    event: worker_sys::ScheduledEvent,
    env: Env,
    _ctx: worker_sys::ScheduleContext,
) -> Result<JsValue, JsValue> {
    let now = worker::ScheduledEvent::from(event).schedule().max(0.0) as u64;
    match platform::housekeeping(&env, now).await {
        Ok(line) => {
            platform::log(&line);
            Ok(JsValue::UNDEFINED)
        }
        Err(cause) => {
            let line = serde_json::json!({
                "time": http::log::rfc3339_ms(now), "level": "error", "event": "purge",
                "cause": cause,
            });
            platform::log(&line.to_string());
            Err(JsValue::from_str(&cause))
        }
    }
}

/// What the entry (`scripts/entry.mjs`) answers when the Worker itself fails: a panic traps
/// the Wasm instance, so nothing in it runs again until the runtime re-creates it, and the
/// request it was serving (and any other still waiting on it) would otherwise get the
/// runtime's plain-text 500. Read once per isolate, before any request: the response headers
/// (content type, security headers, `no-store`, `Vary: Origin`), the error body with
/// `request_id` left `null`, for the entry to fill in, so the crash answer keeps the API's
/// shape, and the headers a browser on an allowed origin may read, for the entry's CORS
/// headers (it matches `Origin` against `ALLOWED_ORIGINS` itself: the instance is gone).
#[wasm_bindgen(js_name = crashAnswer)]
pub fn crash_answer() -> String {
    let err = AppError::new(ErrorCode::Internal);
    let mut resp = http::ApiResponse::from_error(&err, "");
    http::security::apply(&mut resp.headers, None);
    http::cors::apply(&mut resp.headers, &[], None);
    let body = serde_json::json!({"error": {
        "code": err.code().as_str(),
        "message": err.message(),
        "details": err.details(),
        "request_id": null,
    }});
    serde_json::json!({
        "headers": resp.headers,
        "body": body,
        "expose_headers": http::cors::EXPOSED_HEADERS,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crash_answer_has_the_api_s_headers_and_error_shape() {
        let answer: serde_json::Value = serde_json::from_str(&crash_answer()).unwrap();
        let headers: Vec<(String, String)> =
            serde_json::from_value(answer["headers"].clone()).unwrap();
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value("Content-Type"), Some("application/json"));
        assert_eq!(value("Cache-Control"), Some("no-store"));
        assert_eq!(value("X-Content-Type-Options"), Some("nosniff"));
        assert!(value("Content-Security-Policy").is_some());
        assert_eq!(value("Vary"), Some("Origin"));
        assert_eq!(answer["expose_headers"], http::cors::EXPOSED_HEADERS);
        assert_eq!(
            answer["body"],
            serde_json::json!({"error": {
                "code": "INTERNAL",
                "message": "An internal error occurred.",
                "details": [],
                "request_id": null,
            }})
        );
    }
}

//! The way every request goes:
//!
//! ```text
//! configuration, adapt the worker request (edge) → request id → trace context → context
//!   → routing: 404 / 405 / OPTIONS / preflight (dispatch)
//!   → per-IP limits ∥ authentication → role check → per-user limits → handler
//!   → error mapping, security / CORS / RateLimit / Server-Timing / id headers, log line (finish)
//!   → worker response (edge)
//! ```
//!
//! Each stage takes the request's [`Ctx`] or plain values and returns values; the handler
//! borrows the same `Ctx`, and what the request did comes back from it as one
//! [`crate::context::Trail`].

mod authenticate;
mod dispatch;
pub mod edge;
pub mod finish;

use crate::config::{Config, ConfigError};
use crate::context::{bad_header, Ctx, Facts, Incoming, Trail};
use crate::error::AppError;
use crate::http::trace::TraceContext;
use crate::http::{request_id, CLOCK_ADVANCE_HEADER};
use crate::ids::now_ms;
use crate::platform::Bindings;
use finish::Finish;
use std::rc::Rc;

/// Runs one request through the whole pipeline with the isolate's settings
/// ([`edge::config`]). Never fails: every error becomes a structured response, handed back
/// with the request's log line and any warnings for the edge to write.
pub async fn handle(
    incoming: Incoming,
    bindings: Bindings,
    config: Result<Rc<Config>, ConfigError>,
) -> finish::Finished {
    let started = now_ms();
    let header = |name: &str| incoming.raw.header(name);
    let request_id = request_id::resolve(header("x-request-id").as_deref(), started);
    let trace = TraceContext::continue_or_start(header("traceparent").as_deref());
    let traceparent = trace.header_value();
    let origin = header("origin");
    let bookmark = header("x-d1-bookmark");
    let (method_token, method) = (incoming.method_token.clone(), incoming.method);

    let (outcome, trail, allowed_origins) = match &config {
        Err(err) => (Err(AppError::internal(err)), Trail::default(), &[][..]),
        Ok(config) => {
            // Read with the request only when test routes are on (`RawRequest::new`).
            let advance = incoming.raw.header(CLOCK_ADVANCE_HEADER);
            let advance = clock_advance(config.test_routes, advance.as_deref());
            let facts = Facts {
                request_id: request_id.clone(),
                traceparent: traceparent.clone(),
                now: started + advance,
                clock_advance: advance,
                bookmark: bookmark.clone(),
            };
            let mut cx = Ctx::new(incoming, config.clone(), bindings, facts);
            let outcome = match bookmark.as_deref() {
                Some(b) if !valid_bookmark(b) => Err(bad_header("x-d1-bookmark")),
                _ => dispatch::dispatch(&mut cx).await,
            };
            (outcome, cx.into_trail(), config.allowed_origins.as_slice())
        }
    };

    finish::finish(
        &Finish {
            request_id: &request_id,
            trace: &trace,
            traceparent: &traceparent,
            method_token: &method_token,
            method,
            origin: origin.as_deref(),
            allowed_origins,
            started,
            ended: now_ms(),
        },
        trail,
        outcome,
    )
}

/// D1 bookmarks are dash-separated hexadecimal groups; anything else is refused before it
/// reaches D1.
pub(crate) fn valid_bookmark(b: &str) -> bool {
    (1..=256).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-')
}

/// The clock advance a test asked for, in milliseconds (0 unless test routes are on; at
/// most a year).
fn clock_advance(test_routes: bool, header: Option<&str>) -> u64 {
    const MAX: u64 = 365 * 24 * 3600 * 1000;
    header
        .filter(|_| test_routes)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |ms| ms.min(MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookmarks_are_hex_groups() {
        assert!(valid_bookmark("0000000a-00000001-00004f2c-abcdef"));
        for bad in ["", "xyz", "00 11", &"a".repeat(257)] {
            assert!(!valid_bookmark(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_clock_moves_only_in_test_environments() {
        assert_eq!(clock_advance(true, Some("2300")), 2300);
        assert_eq!(clock_advance(false, Some("2300")), 0);
        assert_eq!(clock_advance(true, Some("soon")), 0);
        assert_eq!(clock_advance(true, None), 0);
    }
}

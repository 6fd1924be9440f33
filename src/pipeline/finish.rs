//! Finishing a response: security, CORS, `RateLimit`, `Server-Timing`, bookmark, request id
//! and trace headers, then the one log line. Pure: it takes what the request did and returns
//! the response and the lines to write.

use crate::context::Trail;
use crate::error::AppError;
use crate::http::date::http_date;
use crate::http::log::{rfc3339_ms, RequestLog};
use crate::http::trace::TraceContext;
use crate::http::{cors, security, ApiResponse, Method};
use crate::ratelimit;

/// The request facts the last stage needs.
pub struct Finish<'a> {
    pub request_id: &'a str,
    pub trace: &'a TraceContext,
    /// The outgoing `traceparent` (rendered once per request).
    pub traceparent: &'a str,
    pub method_token: &'a str,
    pub method: Option<Method>,
    pub origin: Option<&'a str>,
    /// Origins allowed by CORS (none when the configuration failed to load).
    pub allowed_origins: &'a [String],
    /// Request start and end, Unix milliseconds.
    pub started: u64,
    pub ended: u64,
}

/// The finished response and the log lines to write: the request's line, then warnings.
pub struct Finished {
    pub response: ApiResponse,
    pub line: String,
    pub warnings: Vec<String>,
}

/// Renders the outcome and adds every response header; builds the log line.
pub fn finish(
    facts: &Finish<'_>,
    trail: Trail,
    outcome: Result<ApiResponse, AppError>,
) -> Finished {
    let (mut resp, error) = match outcome {
        Ok(resp) => (resp, None),
        Err(err) => (ApiResponse::from_error(&err, facts.request_id), Some(err)),
    };
    let route = trail.route.map_or("unmatched", |r| r.path);
    // A route's caching applies to its answers, not to its errors (every error is 4xx or 5xx):
    // a 500 or a 429 under a `public, max-age=…` route must not be kept by a shared cache.
    let route_cache = trail
        .route
        .and_then(|r| r.cache_control)
        .filter(|_| resp.status < 400);
    security::apply(&mut resp.headers, route_cache);
    if let Some(dep) = trail.route.and_then(|r| r.deprecation) {
        resp.headers
            .push(("Deprecation", format!("@{}", dep.since).into()));
        resp.headers.push(("Sunset", http_date(dep.sunset).into()));
    }
    if !trail.preflight {
        cors::apply(&mut resp.headers, facts.allowed_origins, facts.origin);
    }
    // A client's remaining quota is its own: an answer a shared cache may keep for others
    // leaves it out (its errors, never stored, keep it).
    let shared = route_cache.is_some_and(security::shared);
    if let Some((policy, limit)) = ratelimit::header_values(&trail.checked).filter(|_| !shared) {
        resp.headers.push(("RateLimit-Policy", policy.into()));
        resp.headers.push(("RateLimit", limit.into()));
    }
    if let Some(bookmark) = trail.bookmark {
        resp.headers.push(("X-D1-Bookmark", bookmark.into()));
    }
    let report = trail.cache.report;
    if let Some(report) = &report {
        resp.headers
            .push(("Server-Timing", report.server_timing().into()));
    }
    resp.headers
        .push(("X-Request-Id", facts.request_id.to_owned().into()));
    resp.headers
        .push(("traceparent", facts.traceparent.to_owned().into()));
    if facts.method == Some(Method::Head) {
        resp.body.clear();
    }

    let line = RequestLog {
        time: rfc3339_ms(facts.started),
        level: RequestLog::level_for(resp.status),
        request_id: facts.request_id,
        trace_id: &facts.trace.trace_id,
        method: facts.method_token,
        route,
        status: resp.status,
        duration_ms: facts.ended.saturating_sub(facts.started),
        user_id: trail.user_id.as_deref(),
        error_code: error.as_ref().map(|e| e.code().as_str()),
        cause: error.as_ref().and_then(|e| e.cause()),
        cache: report.as_ref().map(|r| r.outcome.as_str()),
        cache_error: report.as_ref().and_then(|r| r.error.as_deref()),
    }
    .to_line();
    let warnings = trail
        .warnings
        .iter()
        .chain(&trail.cache.warnings)
        .map(|w| w.to_line(facts.request_id))
        .collect();
    Finished {
        response: resp,
        line,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Outcome, Report};
    use crate::error::ErrorCode;
    use crate::http::log::Warning;
    use crate::ratelimit::gcra::{Decision, Quota};
    use crate::ratelimit::Checked;
    use serde_json::Value;

    fn facts<'a>(
        trace: &'a TraceContext,
        traceparent: &'a str,
        allowed: &'a [String],
        method: Method,
    ) -> Finish<'a> {
        Finish {
            request_id: "req-1",
            trace,
            traceparent,
            method_token: method.as_str(),
            method: Some(method),
            origin: Some("https://app.example"),
            allowed_origins: allowed,
            started: 1_700_000_000_000,
            ended: 1_700_000_000_007,
        }
    }

    fn ip_checked() -> Vec<Checked> {
        vec![Checked {
            policy: "ip",
            quota: Quota {
                limit: 300,
                window_ms: 60_000,
            },
            decision: Decision {
                allowed: true,
                remaining: 299,
                reset_ms: 200,
                retry_after_ms: 0,
            },
        }]
    }

    #[test]
    fn a_routed_answer_carries_every_header_and_one_line() {
        let trace = TraceContext::continue_or_start(None);
        let allowed = vec!["https://app.example".to_string()];
        let trail = Trail {
            route: Some(crate::context::Matched {
                path: "/v1/notes/{id}",
                cache_control: Some("private, no-cache"),
                deprecation: Some(crate::router::Deprecation {
                    since: 1_767_225_600,
                    sunset: 1_830_297_600,
                }),
            }),
            user_id: Some("u1".into()),
            checked: ip_checked(),
            cache: crate::cache::Trail {
                report: Some(Report {
                    outcome: Outcome::L1Hit,
                    dur_ms: 0,
                    error: None,
                }),
                warnings: vec![Warning::new("cache_entry_undecodable").with("detail", "k")],
            },
            warnings: vec![Warning::new("rate_limiter_unavailable").with("fail", "open")],
            bookmark: Some("00-ab".into()),
            ..Trail::default()
        };
        let done = finish(
            &facts(&trace, &trace.header_value(), &allowed, Method::Get),
            trail,
            ApiResponse::json(200, &serde_json::json!({"ok": true})),
        );
        let r = &done.response;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("private, no-cache"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(r.header("ratelimit-policy"), Some(r#""ip";q=300;w=60"#));
        assert_eq!(r.header("ratelimit"), Some(r#""ip";r=299;t=1"#));
        assert_eq!(r.header("x-d1-bookmark"), Some("00-ab"));
        assert_eq!(r.header("server-timing"), Some("cache;desc=l1-hit;dur=0"));
        assert_eq!(r.header("x-request-id"), Some("req-1"));
        assert_eq!(r.header("deprecation"), Some("@1767225600"));
        assert_eq!(r.header("sunset"), Some("Sat, 01 Jan 2028 00:00:00 GMT"));
        assert_eq!(r.header("traceparent"), Some(trace.header_value().as_str()));
        let line: Value = serde_json::from_str(&done.line).unwrap();
        assert_eq!(line["route"], "/v1/notes/{id}");
        assert_eq!(line["status"], 200);
        assert_eq!(line["duration_ms"], 7);
        assert_eq!(line["user_id"], "u1");
        assert_eq!(line["cache"], "l1-hit");
        assert_eq!(line["level"], "info");
        assert_eq!(done.warnings.len(), 2);
        assert!(done
            .warnings
            .iter()
            .all(|w| w.contains("\"request_id\":\"req-1\"")));
    }

    #[test]
    fn an_error_is_rendered_logged_with_its_cause_and_head_has_no_body() {
        let trace = TraceContext::continue_or_start(None);
        let done = finish(
            &facts(&trace, &trace.header_value(), &[], Method::Head),
            Trail::default(),
            Err(AppError::internal("D1_ERROR: boom")),
        );
        assert_eq!(done.response.status, 500);
        assert!(done.response.body.is_empty(), "HEAD answers carry no body");
        assert_eq!(done.response.header("cache-control"), Some("no-store"));
        assert_eq!(done.response.header("access-control-allow-origin"), None);
        assert_eq!(done.response.header("ratelimit"), None);
        let line: Value = serde_json::from_str(&done.line).unwrap();
        assert_eq!(line["route"], "unmatched");
        assert_eq!(line["level"], "error");
        assert_eq!(line["error_code"], ErrorCode::Internal.as_str());
        assert_eq!(line["cause"], "D1_ERROR: boom");
        assert!(done.warnings.is_empty());
    }

    #[test]
    fn a_routes_cache_control_is_for_its_answers_not_its_errors() {
        let trace = TraceContext::continue_or_start(None);
        let trail = || Trail {
            route: Some(crate::context::Matched {
                path: "/v1/openapi.json",
                cache_control: Some("public, max-age=300"),
                deprecation: None,
            }),
            checked: ip_checked(),
            ..Trail::default()
        };
        let run = |outcome| {
            finish(
                &facts(&trace, &trace.header_value(), &[], Method::Get),
                trail(),
                outcome,
            )
            .response
        };
        for status in [200, 304] {
            let ok = run(Ok(ApiResponse::empty(status)));
            assert_eq!(ok.header("cache-control"), Some("public, max-age=300"));
            // A shared cache would hand one client's quota to the next.
            assert_eq!(ok.header("ratelimit"), None, "{status}");
            assert_eq!(ok.header("ratelimit-policy"), None, "{status}");
        }
        for err in [
            AppError::internal("boom"),
            AppError::new(ErrorCode::RateLimited),
            AppError::new(ErrorCode::MethodNotAllowed),
        ] {
            let resp = run(Err(err));
            assert!(resp.status >= 400);
            assert_eq!(
                resp.header("cache-control"),
                Some("no-store"),
                "{}",
                resp.status
            );
            assert_eq!(resp.header("ratelimit"), Some(r#""ip";r=299;t=1"#));
        }
        // An answer a handler built with an error status is an error too.
        let resp = run(Ok(ApiResponse::empty(503)));
        assert_eq!(resp.header("cache-control"), Some("no-store"));
    }

    #[test]
    fn a_preflight_keeps_its_own_cors_headers() {
        let trace = TraceContext::continue_or_start(None);
        let allowed = vec!["https://app.example".to_string()];
        let trail = Trail {
            preflight: true,
            ..Trail::default()
        };
        let done = finish(
            &facts(&trace, &trace.header_value(), &allowed, Method::Options),
            trail,
            Ok(ApiResponse::empty(204)),
        );
        assert_eq!(done.response.header("access-control-allow-origin"), None);
    }
}

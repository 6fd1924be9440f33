//! Request ids, W3C trace context and the one JSON log line per request.

use crate::support::{app, assert_error, header};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn well_formed_request_id_is_echoed() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/nope"))
        .header("x-request-id", "client-req.42_a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "x-request-id"),
        Some("client-req.42_a=b")
    );
    let body = assert_error(resp, 404, "NOT_FOUND").await;
    assert_eq!(body["error"]["request_id"], "client-req.42_a=b");
}

#[tokio::test]
async fn malformed_request_id_is_replaced_with_a_uuid_v7() {
    let app = app();
    for bad in ["has space", "<script>", &"x".repeat(129)] {
        let resp = app
            .client()
            .get(app.at("/v1/health"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = header(resp.headers(), "x-request-id").unwrap();
        assert_ne!(id, bad);
        let uuid = uuid::Uuid::parse_str(id).expect("generated id is a UUID");
        assert_eq!(uuid.get_version_num(), 7);
    }
}

#[tokio::test]
async fn generated_request_ids_are_unique() {
    let app = app();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..20 {
        let resp = app.client().get(app.at("/v1/health")).send().await.unwrap();
        ids.insert(header(resp.headers(), "x-request-id").unwrap().to_owned());
    }
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn traceparent_is_continued_with_a_new_span() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/health"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    let out = header(resp.headers(), "traceparent").unwrap();
    let parts: Vec<&str> = out.split('-').collect();
    assert_eq!(parts.len(), 4, "{out}");
    assert_eq!(parts[0], "00");
    assert_eq!(
        parts[1], "4bf92f3577b34da6a3ce929d0e0e4736",
        "trace id kept"
    );
    assert_ne!(parts[2], "00f067aa0ba902b7", "span id is the Worker's own");
    assert_eq!(parts[2].len(), 16);
    assert_eq!(parts[3], "01", "flags kept");
}

#[tokio::test]
async fn a_later_traceparent_version_is_continued_and_answered_as_version_00() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/health"))
        .header(
            "traceparent",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out = header(resp.headers(), "traceparent").unwrap();
    let parts: Vec<&str> = out.split('-').collect();
    assert_eq!(parts.len(), 4, "{out}");
    assert_eq!(parts[0], "00");
    assert_eq!(
        parts[1], "0af7651916cd43dd8448eb211c80319c",
        "trace id kept"
    );
    assert_ne!(parts[2], "b7ad6b7169203331");
    assert_eq!(parts[3], "01", "flags kept");
}

#[tokio::test]
async fn invalid_traceparent_starts_a_new_trace() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/health"))
        .header("traceparent", "00-zzzz-00f067aa0ba902b7-01")
        .send()
        .await
        .unwrap();
    let out = header(resp.headers(), "traceparent").unwrap();
    let trace_id = out.split('-').nth(1).unwrap();
    assert_eq!(trace_id.len(), 32);
    assert!(trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[tokio::test]
async fn one_json_log_line_per_request_with_the_route_pattern() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/health?token=supersecret-value"))
        .header("x-request-id", "log-line-test-1")
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let line = app.request_log("log-line-test-1").await;
    assert_eq!(line["level"], "info");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/v1/health");
    assert_eq!(line["status"], 200);
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(line["duration_ms"].is_u64());
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    let raw = app.log_lines_with("log-line-test-1").await.join("\n");
    assert!(
        !raw.contains("supersecret"),
        "query strings never reach the log"
    );
}

#[tokio::test]
async fn error_log_lines_carry_the_code_and_unmatched_route() {
    let app = app();
    app.client()
        .get(app.at("/v1/does-not-exist/123"))
        .header("x-request-id", "log-line-test-404")
        .send()
        .await
        .unwrap();
    let line = app.request_log("log-line-test-404").await;
    assert_eq!(line["route"], "unmatched");
    assert_eq!(line["status"], 404);
    assert_eq!(line["error_code"], "NOT_FOUND");
}

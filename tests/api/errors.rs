//! The structured error shape and the promise that internals never leak.

use crate::support::{app, assert_error};

#[tokio::test]
async fn error_body_has_exactly_the_documented_fields() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/missing"))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 404, "NOT_FOUND").await;
    let error = body["error"].as_object().unwrap();
    let mut keys: Vec<_> = error.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "details", "message", "request_id"]);
    assert_eq!(body["error"]["details"], serde_json::json!([]));
}

#[tokio::test]
async fn internal_failures_do_not_leak_details() {
    // A binding failure is an internal cause: the client sees the stable code and message,
    // never the runtime's error text, Rust type names or source paths.
    let app = crate::support::spawn(crate::support::Spawn {
        drop_bindings: vec!["SESSIONS"],
        ..Default::default()
    });
    let resp = app
        .client()
        .get(app.at("/v1/health/ready"))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 503, "UNAVAILABLE").await;
    let text = body.to_string();
    for leak in ["SESSIONS", "Error", "::", ".rs", "undefined", "binding"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

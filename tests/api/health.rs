//! `GET /v1/health` and `GET /v1/health/ready`.

use crate::support::{app, assert_error, assert_security_headers, header, spawn, Spawn};
use serde_json::{json, Value};

#[tokio::test]
async fn health_answers_ok_with_the_version() {
    let app = app();
    let resp = app.client().get(app.at("/v1/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(resp.headers(), "content-type"),
        Some("application/json")
    );
    assert_eq!(header(resp.headers(), "cache-control"), Some("no-store"));
    assert_security_headers(resp.headers());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
}

#[tokio::test]
async fn ready_checks_every_binding() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "checks": {"kv": "ok", "d1": "ok", "durable_objects": "ok"}})
    );
}

#[tokio::test]
async fn ready_names_the_binding_that_fails() {
    let app = spawn(Spawn {
        drop_bindings: vec!["DB", "RATE_LIMITER"],
        ..Spawn::default()
    });
    let resp = app
        .client()
        .get(app.at("/v1/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(resp.headers(), "retry-after"), Some("5"));
    assert_security_headers(resp.headers());
    let body = assert_error(resp, 503, "UNAVAILABLE").await;
    assert_eq!(
        body["error"]["details"],
        json!([
            {"field": "d1", "issue": "unavailable"},
            {"field": "durable_objects", "issue": "unavailable"}
        ])
    );
    // The binding error text stays in the log.
    let text = body.to_string();
    assert!(
        !text.contains("DB") && !text.contains("RATE_LIMITER"),
        "{text}"
    );

    // Liveness does not depend on the bindings.
    let resp = app.client().get(app.at("/v1/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

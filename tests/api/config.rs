//! Configuration is checked once per isolate; a bad value is a logged 500, never a panic.

use crate::support::{assert_error, assert_security_headers, header, spawn, Spawn};

#[tokio::test]
async fn bad_config_value_answers_500_and_logs_the_variable() {
    let app = spawn(Spawn::with_vars(&[("MAX_BODY_BYTES", "lots")]));
    for _ in 0..2 {
        let resp = app
            .client()
            .get(app.at("/v1/health"))
            .header("x-request-id", "bad-config-1")
            .send()
            .await
            .unwrap();
        assert_security_headers(resp.headers());
        let body = assert_error(resp, 500, "INTERNAL").await;
        assert!(!body.to_string().contains("MAX_BODY_BYTES"), "{body}");
    }
    let lines = app.log_lines_with("bad-config-1").await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("MAX_BODY_BYTES") && l.contains("\"level\":\"error\"")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn test_routes_refuse_to_run_in_production() {
    let app = spawn(Spawn::with_vars(&[("APP_ENV", "production")]));
    let resp = app.client().get(app.at("/v1/health")).send().await.unwrap();
    assert_error(resp, 500, "INTERNAL").await;
}

#[tokio::test]
async fn default_environment_has_no_test_routes() {
    let app = spawn(Spawn {
        env: Some(""),
        ..Spawn::with_vars(&[("CURSOR_SECRET", "a-secret-of-at-least-32-bytes-long")])
    });
    // The headers every request reads are read here too (the test clock's is not asked for).
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let resp = app
        .client()
        .get(app.at("/v1/health"))
        .header("x-request-id", "no-test-routes-1")
        .header("traceparent", parent)
        .header("x-test-clock-advance-ms", "60000")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers();
    assert_eq!(header(headers, "x-request-id"), Some("no-test-routes-1"));
    let traceparent = header(headers, "traceparent").unwrap();
    assert!(
        traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "{traceparent}"
    );
    for path in ["/v1/_test/panic", "/v1/_test/echo"] {
        let resp = app.client().get(app.at(path)).send().await.unwrap();
        assert_error(resp, 404, "NOT_FOUND").await;
    }
}

//! Configuration is checked once per isolate; a bad value is a logged 500, never a panic.

use crate::support::{assert_error, assert_security_headers, spawn, Spawn};

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
    let resp = app.client().get(app.at("/v1/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for path in ["/v1/_test/panic", "/v1/_test/echo"] {
        let resp = app.client().get(app.at(path)).send().await.unwrap();
        assert_error(resp, 404, "NOT_FOUND").await;
    }
}

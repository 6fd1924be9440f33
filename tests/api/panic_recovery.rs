//! A request whose handler panics is answered with the API's own 500; the runtime re-creates
//! the Wasm instance and the next request is answered normally. Uses a private instance so
//! the panic cannot disturb other tests.

use crate::support::{assert_error, assert_security_headers, header, spawn, Spawn};

/// The test environment's allowed origin, and one that is not.
const ALLOWED: &str = "https://app.example.test";
const OTHER: &str = "https://evil.example";
/// An inbound trace in version 00, and in a later version with a field after the four.
const V00: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const LATER: &str = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";

#[tokio::test]
async fn next_request_after_a_panic_is_served() {
    let app = spawn(Spawn::default());
    let client = app.client();
    let resp = client.get(app.at("/v1/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // At once, and after an await (the trap then happens inside a microtask), each twice:
    // from the allowed origin with a version-00 trace, then from another origin with a later
    // version's trace, which is continued as Rust continues it.
    for (round, (path, origin, traceparent)) in [
        ("/v1/_test/panic", ALLOWED, V00),
        ("/v1/_test/panic?after=io", ALLOWED, V00),
        ("/v1/_test/panic", OTHER, LATER),
        ("/v1/_test/panic?after=io", OTHER, LATER),
    ]
    .into_iter()
    .enumerate()
    {
        let request_id = format!("panic-round-{round}");
        let resp = client
            .get(app.at(path))
            .header("x-request-id", &request_id)
            .header("origin", origin)
            .header("traceparent", traceparent)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500, "round {round}");
        let headers = resp.headers().clone();
        assert_security_headers(&headers);
        assert_eq!(header(&headers, "cache-control"), Some("no-store"));
        assert_eq!(header(&headers, "x-request-id"), Some(request_id.as_str()));
        let trace = header(&headers, "traceparent").unwrap();
        assert!(
            trace.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && trace.ends_with("-01"),
            "{trace}"
        );
        assert_eq!(trace.len(), 55, "{trace}");
        // As every answer: a browser on an allowed origin may read it, no other may.
        assert_eq!(header(&headers, "vary"), Some("Origin"));
        if origin == ALLOWED {
            assert_eq!(
                header(&headers, "access-control-allow-origin"),
                Some(ALLOWED)
            );
            assert_eq!(
                header(&headers, "access-control-allow-credentials"),
                Some("true")
            );
            let exposed = header(&headers, "access-control-expose-headers").unwrap();
            assert!(
                exposed.contains("X-Request-Id") && exposed.contains("traceparent"),
                "{exposed}"
            );
        } else {
            for name in [
                "access-control-allow-origin",
                "access-control-allow-credentials",
                "access-control-expose-headers",
            ] {
                assert_eq!(header(&headers, name), None, "{name}");
            }
        }
        let body = assert_error(resp, 500, "INTERNAL").await;
        let text = body.to_string();
        assert_eq!(body["error"]["request_id"], request_id.as_str());
        assert!(
            !text.contains("deliberate panic"),
            "panic text leaked: {text}"
        );
        assert!(!text.contains(".rs"), "source path leaked: {text}");
        let line = app.request_log(&request_id).await;
        assert_eq!(line["status"], 500, "{line}");
        assert_eq!(line["error_code"], "INTERNAL", "{line}");

        let resp = client.get(app.at("/v1/health")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "round {round}: served after the panic");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

//! The Turso backend specifically: the same accounts flow over Hrana, readiness naming the
//! backend, and failures of the libSQL server mapped to 503 without its text.

use crate::support::{app_on, assert_error, spawn, Backend, Spawn, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn accounts_work_over_hrana() {
    let app = app_on(Backend::Turso);
    let (email, browser) = app.new_user("turso").await;
    let resp = app
        .as_browser(&browser, Method::GET, "/v1/auth/me")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("x-d1-bookmark").is_none(),
        "no bookmarks on Turso"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["email"], email);
    let resp = app.signup(&email, PASSWORD).await;
    assert_error(resp, 409, "CONFLICT").await;
}

#[tokio::test]
async fn readiness_checks_the_configured_backend() {
    let app = app_on(Backend::Turso);
    let body: Value = app
        .client()
        .get(app.at("/v1/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "checks": {"kv": "ok", "turso": "ok", "durable_objects": "ok"}})
    );
}

#[tokio::test]
async fn unreachable_server_is_503_with_retry_after() {
    // Nothing listens on port 9 of the loopback: connection refused.
    let app = spawn(Spawn::with_vars(&[
        ("DB_BACKEND", "turso"),
        ("TURSO_URL", "http://127.0.0.1:9"),
        ("TURSO_TIMEOUT_MS", "2000"),
    ]));
    let resp = app.signup("nobody@example.test", PASSWORD).await;
    assert!(resp.headers().get("retry-after").is_some());
    let body = assert_error(resp, 503, "UNAVAILABLE").await;
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}

#[tokio::test]
async fn a_refused_token_is_an_internal_error_not_an_outage() {
    let server = crate::support::turso_server();
    let app = spawn(Spawn::with_vars(&[
        ("DB_BACKEND", "turso"),
        ("TURSO_URL", &server.url),
        ("TURSO_AUTH_TOKEN", "not-a-valid-token"),
    ]));
    let resp = app.signup("nobody@example.test", PASSWORD).await;
    let mut body = assert_error(resp, 500, "INTERNAL").await;
    // Nothing of the server's 401 reaches the client (the random request id aside, which
    // may hold any digits).
    body["error"]
        .as_object_mut()
        .unwrap()
        .remove("request_id")
        .expect("a request id");
    assert!(!body.to_string().contains("401"), "{body}");
}

/// Failure injection for the HTTP path: a loopback listener that accepts connections and then
/// either never answers or answers 500, as an overloaded or failing server would. (A real
/// sqld cannot be made to do either on demand.)
fn misbehaving_server(answer: Option<&'static str>) -> String {
    misbehaving_server_recording(answer).0
}

/// Like [`misbehaving_server`], also keeping the raw requests it received.
fn misbehaving_server_recording(
    answer: Option<&'static str>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            // The head may arrive in more than one read: keep reading until it is complete
            // (or the client goes quiet), so the recorded request is never a fragment.
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            record
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&request).into_owned());
            if let Some(answer) = answer {
                let _ = stream.write_all(answer.as_bytes());
            }
            held.push(stream);
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_503_after_the_timeout() {
    let url = misbehaving_server(None);
    let app = spawn(Spawn::with_vars(&[
        ("DB_BACKEND", "turso"),
        ("TURSO_URL", &url),
        ("TURSO_TIMEOUT_MS", "300"),
    ]));
    let started = std::time::Instant::now();
    let resp = app.signup("slow@example.test", PASSWORD).await;
    assert!(resp.headers().get("retry-after").is_some());
    assert_error(resp, 503, "UNAVAILABLE").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_5xx_answer_is_503_without_its_text() {
    let url = misbehaving_server(Some(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 21\r\nconnection: close\r\n\r\nsecret internal state",
    ));
    let app = spawn(Spawn::with_vars(&[
        ("DB_BACKEND", "turso"),
        ("TURSO_URL", &url),
    ]));
    let resp = app.signup("five@example.test", PASSWORD).await;
    let body = assert_error(resp, 503, "UNAVAILABLE").await;
    assert!(!body.to_string().contains("secret"), "{body}");
}

#[tokio::test]
async fn database_calls_carry_the_request_trace() {
    let (url, seen) = misbehaving_server_recording(None);
    let app = spawn(Spawn::with_vars(&[
        ("DB_BACKEND", "turso"),
        ("TURSO_URL", &url),
        ("TURSO_TIMEOUT_MS", "300"),
    ]));
    let resp = app
        .client()
        .post(app.at("/v1/auth/signup"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&json!({"email": "trace@example.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let ours = resp.headers()["traceparent"].to_str().unwrap().to_owned();
    // The listener records on its own thread, which may still be reading when the 503 is in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while seen.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let requests = seen.lock().unwrap().join("\n").to_lowercase();
    assert!(requests.contains("post /v3/pipeline"), "{requests}");
    // Downstream sees the same trace with the Worker's span as parent.
    assert!(
        requests.contains(&format!("traceparent: {ours}")),
        "{requests}"
    );
    assert!(ours.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert!(!ours.contains("00f067aa0ba902b7"));
}

//! CORS: allowed origins get credentialed CORS headers and a 204 preflight; any other
//! origin gets none. The test environment allows `https://app.example.test`.

use crate::support::{app, assert_error, assert_security_headers, header};
use reqwest::Method;

const ALLOWED: &str = "https://app.example.test";
const OTHER: &str = "https://evil.example";

#[tokio::test]
async fn allowed_origin_gets_credentialed_cors_headers() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/health"))
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(header(h, "access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
    assert!(header(h, "access-control-expose-headers")
        .unwrap()
        .contains("X-Request-Id"));
    assert_eq!(header(h, "vary"), Some("Origin"));
}

/// A browser client on an allowed origin can read every header the API sends it: anything not
/// CORS-safelisted, not a CORS header and not meant for the browser alone is exposed.
#[tokio::test]
async fn every_header_a_cross_origin_client_reads_is_exposed() {
    let app = app();
    let not_for_scripts = [
        // CORS-safelisted response headers (Fetch), readable without being exposed.
        "cache-control",
        "content-language",
        "content-length",
        "content-type",
        "expires",
        "last-modified",
        "pragma",
        // For the browser itself (`Set-Cookie` is never readable by scripts).
        "set-cookie",
        "vary",
        "strict-transport-security",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "content-security-policy",
        "date",
    ];
    let (_, user) = app.new_user("expose").await;
    let create = |key: &'static str| {
        app.as_browser(&user, Method::POST, "/v1/notes")
            .header("idempotency-key", key)
            .json(&serde_json::json!({"title": "Exposed"}))
    };
    let mut responses = Vec::new();
    for (method, path) in [
        (Method::GET, "/v1/_test/deprecated"),
        (Method::DELETE, "/v1/health"),
        (Method::GET, "/v1/openapi.json"),
        (Method::GET, "/v1/auth/me"),
    ] {
        let req = app
            .client()
            .request(method, app.at(path))
            .header("origin", ALLOWED);
        responses.push((path.to_owned(), req.send().await.unwrap()));
    }
    let created = create("expose-1").send().await.unwrap();
    assert_eq!(created.status(), 201);
    let location = header(created.headers(), "location").unwrap().to_owned();
    responses.push(("POST /v1/notes".to_owned(), created));
    let replayed = create("expose-1").send().await.unwrap();
    assert_eq!(
        header(replayed.headers(), "idempotent-replayed"),
        Some("true")
    );
    responses.push(("POST /v1/notes, replayed".to_owned(), replayed));
    let read = app.as_browser(&user, Method::GET, &location);
    responses.push((location.clone(), read.send().await.unwrap()));
    // The 415s: a compressed body, and a patch in a format the route does not read.
    let compressed = app
        .as_browser(&user, Method::POST, "/v1/notes")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("{}");
    responses.push((
        "POST /v1/notes, gzip".to_owned(),
        compressed.send().await.unwrap(),
    ));
    let json_patch = app
        .as_browser(&user, Method::PATCH, &location)
        .header("content-type", "application/json-patch+json")
        .body("[]");
    responses.push((
        format!("PATCH {location}, JSON Patch"),
        json_patch.send().await.unwrap(),
    ));

    let mut seen = std::collections::BTreeSet::new();
    for (what, resp) in &responses {
        let h = resp.headers();
        let exposed: Vec<String> = header(h, "access-control-expose-headers")
            .unwrap_or_else(|| panic!("{what}: no Access-Control-Expose-Headers"))
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        for name in h.keys().map(|n| n.as_str()) {
            if name.starts_with("access-control-") || not_for_scripts.contains(&name) {
                continue;
            }
            assert!(
                exposed.iter().any(|e| e == name),
                "{what}: `{name}` is sent but not exposed ({exposed:?})"
            );
            seen.insert(name.to_owned());
        }
    }
    // The checks reached the headers a client acts on.
    for name in [
        "accept-encoding",
        "accept-patch",
        "allow",
        "deprecation",
        "etag",
        "idempotent-replayed",
        "location",
        "ratelimit",
        "sunset",
        "traceparent",
        "www-authenticate",
        "x-request-id",
    ] {
        assert!(seen.contains(name), "`{name}` was never sent: {seen:?}");
    }
}

#[tokio::test]
async fn preflight_from_allowed_origin_is_204() {
    let app = app();
    let resp = app
        .client()
        .request(Method::OPTIONS, app.at("/v1/_test/echo"))
        .header("origin", ALLOWED)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-request-id",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let h = resp.headers();
    assert_eq!(header(h, "access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(h, "access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    let allowed_headers = header(h, "access-control-allow-headers").unwrap();
    assert!(
        allowed_headers.contains("content-type"),
        "{allowed_headers}"
    );
    assert!(
        allowed_headers.contains("x-request-id"),
        "{allowed_headers}"
    );
    assert_eq!(header(h, "access-control-max-age"), Some("600"));
    assert_ne!(header(h, "access-control-allow-origin"), Some("*"));
    assert_security_headers(h);
}

#[tokio::test]
async fn other_origins_get_no_cors_headers() {
    let app = app();
    let preflight = app
        .client()
        .request(Method::OPTIONS, app.at("/v1/health"))
        .header("origin", OTHER)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    let simple = app
        .client()
        .get(app.at("/v1/health"))
        .header("origin", OTHER)
        .send()
        .await
        .unwrap();
    for resp in [preflight, simple] {
        let cors: Vec<_> = resp
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{cors:?}");
    }
}

#[tokio::test]
async fn errors_to_allowed_origins_are_readable() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/nope"))
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(resp.headers(), "access-control-allow-origin"),
        Some(ALLOWED)
    );
    assert_error(resp, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn preflight_for_unknown_path_is_404() {
    let app = app();
    let resp = app
        .client()
        .request(Method::OPTIONS, app.at("/v1/nope"))
        .header("origin", ALLOWED)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
}

//! Routing: 404 for unknown paths, 405 with `Allow`, `HEAD`, and plain `OPTIONS`.

use crate::support::{app, assert_error, assert_security_headers, header};
use reqwest::Method;

#[tokio::test]
async fn unknown_path_is_404() {
    let app = app();
    for path in [
        "/v1/nope",
        "/app.jsx",
        "/favicon.ico",
        "/v2/health",
        "/v1/health/",
        "/v1/health/ready/x",
    ] {
        let resp = app.client().get(app.at(path)).send().await.unwrap();
        assert_security_headers(resp.headers());
        assert_error(resp, 404, "NOT_FOUND").await;
    }
}

/// The page is Workers static assets (`[assets]` in wrangler.toml, `page/_headers`), served
/// before the Worker; every other path reaches the Worker.
#[tokio::test]
async fn the_page_is_served_with_its_own_strict_policy() {
    let app = app();
    for (path, media_type, marker) in [
        ("/", "text/html; charset=utf-8", "<!doctype html>"),
        (
            "/app.js",
            "text/javascript; charset=utf-8",
            "navigator.credentials",
        ),
        (
            "/app.css",
            "text/css; charset=utf-8",
            "prefers-color-scheme",
        ),
    ] {
        let resp = app.client().get(app.at(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        assert_eq!(header(&headers, "content-type"), Some(media_type));
        let csp = header(&headers, "content-security-policy").unwrap();
        assert_eq!(
            csp,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        assert_eq!(headers.get_all("content-security-policy").iter().count(), 1);
        assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        // A page that opened this one keeps no handle on it (to change its address, say).
        assert_eq!(
            header(&headers, "cross-origin-opener-policy"),
            Some("same-origin")
        );
        assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
        assert!(header(&headers, "etag").is_some());
        let body = resp.text().await.unwrap();
        assert!(body.to_lowercase().contains(marker), "{path}");
        for external in ["src=\"http", "href=\"http", "url(http", "import(\"http"] {
            assert!(!body.contains(external), "nothing from elsewhere: {path}");
        }
    }
    // The headers file is configuration, not content: the Worker answers (404).
    let resp = app.client().get(app.at("/_headers")).send().await.unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
    // API answers keep the API's policy.
    let resp = app.client().get(app.at("/v1/health")).send().await.unwrap();
    assert_eq!(
        header(resp.headers(), "content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = app();
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let resp = app
            .client()
            .request(method.clone(), app.at("/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(resp.headers(), "allow"),
            Some("GET, HEAD, OPTIONS"),
            "{method}"
        );
        assert_error(resp, 405, "METHOD_NOT_ALLOWED").await;
    }
}

#[tokio::test]
async fn unrouted_method_is_405_on_known_paths_and_404_elsewhere() {
    let app = app();
    let propfind = Method::from_bytes(b"PROPFIND").unwrap();
    let resp = app
        .client()
        .request(propfind.clone(), app.at("/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(resp.headers(), "allow"), Some("GET, HEAD, OPTIONS"));
    assert_error(resp, 405, "METHOD_NOT_ALLOWED").await;

    let resp = app
        .client()
        .request(propfind, app.at("/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = app();
    let resp = app
        .client()
        .head(app.at("/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(resp.headers(), "content-type"),
        Some("application/json")
    );
    assert!(header(resp.headers(), "x-request-id").is_some());
    assert_security_headers(resp.headers());
    assert!(resp.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn plain_options_lists_allowed_methods() {
    let app = app();
    let resp = app
        .client()
        .request(Method::OPTIONS, app.at("/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(header(resp.headers(), "allow"), Some("GET, HEAD, OPTIONS"));
    assert!(header(resp.headers(), "access-control-allow-origin").is_none());
    assert_security_headers(resp.headers());
    assert!(resp.bytes().await.unwrap().is_empty());

    let resp = app
        .client()
        .request(Method::OPTIONS, app.at("/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn query_strings_do_not_change_routing() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/health?x=1&y"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// RFC 3986 §6.2.2.2: a percent-encoded unreserved character is the character itself, so an
/// over-encoding client reaches the same route and path parameter; other escapes stay as
/// sent and route nowhere new.
#[tokio::test]
async fn over_encoded_paths_reach_the_same_route() {
    let app = app();
    for path in [
        "/v1/%68ealth",
        "/v1/%68%65%61%6C%74%68",
        "/%76%31/health?x=%41",
    ] {
        let resp = app.client().get(app.at(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_security_headers(resp.headers());
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "ok", "{path}");
    }
    for path in [
        "/v1/health%2F",
        "/v1%2Fhealth",
        "/v1/health%20",
        "/v1/%2568ealth",
    ] {
        let resp = app.client().get(app.at(path)).send().await.unwrap();
        assert_error(resp, 404, "NOT_FOUND").await;
    }
}

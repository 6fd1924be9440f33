//! The served API document and deprecation headers.

use crate::support::{app, assert_error, assert_security_headers, header};
use serde_json::Value;

#[tokio::test]
async fn the_document_is_served_as_committed() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=300")
    );
    // Kept by shared caches, so it carries nothing that is true for one client only.
    assert_eq!(header(&headers, "ratelimit"), None);
    assert_eq!(header(&headers, "ratelimit-policy"), None);
    assert_security_headers(&headers);
    let served = resp.bytes().await.unwrap();
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    // The same document, without the committed file's indentation.
    let doc: Value = serde_json::from_slice(&served).unwrap();
    let expected: Value = serde_json::from_slice(&committed).unwrap();
    assert!(
        doc == expected,
        "the Worker serves the committed openapi.json"
    );
    assert_eq!(served.len(), serde_json::to_vec(&expected).unwrap().len());
    assert!(!served.contains(&b'\n'));
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/notes/{id}"]["patch"].is_object());
}

/// 64-bit FNV-1a, the hash `build.rs` tags the document with.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[tokio::test]
async fn the_document_revalidates_with_its_etag() {
    let app = app();
    let get = |if_none_match: Option<String>| {
        let mut req = app.client().get(app.at("/v1/openapi.json"));
        if let Some(tag) = if_none_match {
            req = req.header("If-None-Match", tag);
        }
        req.send()
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = header(first.headers(), "etag")
        .expect("the document has an ETag")
        .to_owned();
    let document = first.bytes().await.unwrap();
    // A strong tag derived from exactly the bytes served.
    assert_eq!(etag, format!("\"{:016x}\"", fnv1a(&document)));

    for held in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"0123456789abcdef\", {etag}"),
        "*".to_owned(),
    ] {
        let resp = get(Some(held.clone())).await.unwrap();
        assert_eq!(resp.status(), 304, "If-None-Match: {held}");
        let headers = resp.headers().clone();
        assert_eq!(header(&headers, "etag"), Some(etag.as_str()));
        assert_eq!(
            header(&headers, "cache-control"),
            Some("public, max-age=300")
        );
        assert_eq!(header(&headers, "content-type"), None);
        assert_eq!(header(&headers, "ratelimit"), None);
        assert_security_headers(&headers);
        assert!(resp.bytes().await.unwrap().is_empty());
    }

    // A tag the document does not have gets the whole document again.
    let resp = get(Some("\"0123456789abcdef\"".to_owned())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "etag"), Some(etag.as_str()));
    assert_eq!(resp.bytes().await.unwrap(), document);

    // `If-Match` holds for the document's strong tag only; a 412 is an error, never stored.
    let if_match = |tag: String| {
        app.client()
            .get(app.at("/v1/openapi.json"))
            .header("If-Match", tag)
            .send()
    };
    let resp = if_match(etag.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap(), document);
    for stale in ["\"0123456789abcdef\"".to_owned(), format!("W/{etag}")] {
        let resp = if_match(stale.clone()).await.unwrap();
        assert_eq!(
            header(resp.headers(), "cache-control"),
            Some("no-store"),
            "If-Match: {stale}"
        );
        // The error is never stored, so the client's quota is on it.
        let limit = header(resp.headers(), "ratelimit").unwrap_or_default();
        assert!(limit.starts_with("\"ip\";r="), "{limit:?}");
        assert_error(resp, 412, "PRECONDITION_FAILED").await;
    }
}

#[tokio::test]
async fn an_error_on_a_publicly_cached_route_is_not_stored() {
    let app = app();
    let resp = app
        .client()
        .delete(app.at("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    let headers = resp.headers().clone();
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert_eq!(header(&headers, "allow"), Some("GET, HEAD, OPTIONS"));
    assert_security_headers(&headers);
    assert_error(resp, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn a_deprecated_route_announces_its_sunset() {
    let app = app();
    let resp = app
        .client()
        .get(app.at("/v1/_test/deprecated"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "deprecation"), Some("@1767225600"));
    assert_eq!(
        header(resp.headers(), "sunset"),
        Some("Sat, 01 Jan 2028 00:00:00 GMT")
    );
    let current = app.client().get(app.at("/v1/health")).send().await.unwrap();
    assert_eq!(header(current.headers(), "deprecation"), None);
}

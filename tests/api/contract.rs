//! The served API document and deprecation headers.

use crate::support::{app, assert_security_headers, header};
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

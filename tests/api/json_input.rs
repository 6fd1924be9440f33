//! The JSON boundary: 415, 413 (declared and streamed), 400 with a location, 422 for unknown
//! and invalid fields, on the test-only echo route. The test environment caps bodies at
//! 1024 bytes.

use crate::support::{app, assert_error, header};
use serde_json::{json, Value};

const ECHO: &str = "/v1/_test/echo";

async fn post(body: impl Into<reqwest::Body>, content_type: Option<&str>) -> reqwest::Response {
    let app = app();
    let mut req = app.client().post(app.at(ECHO)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn valid_body_is_parsed_into_domain_types() {
    let resp = post(
        r#"{"email":"  Ada@Example.COM ","name":" Ada "}"#,
        Some("application/json; charset=utf-8"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"email": "ada@example.com", "name": "Ada"}));
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let resp = post(r#"{"email":"a@b.co","name":"x"}"#, ct).await;
        assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    }
}

/// `{"email":"a@b.co","name":"x"}`, gzipped (`gzip -n -9`).
const GZIPPED: [u8; 47] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x4a, 0xcd, 0x4d, 0xcc,
    0xcc, 0x51, 0xb2, 0x52, 0x4a, 0x74, 0x48, 0xd2, 0x4b, 0xce, 0x57, 0xd2, 0x51, 0xca, 0x4b, 0xcc,
    0x4d, 0x05, 0xf2, 0x2b, 0x94, 0x6a, 0x01, 0xc9, 0x7b, 0x7a, 0xf9, 0x1d, 0x00, 0x00, 0x00,
];

#[tokio::test]
async fn a_compressed_body_is_415_with_accept_encoding_and_identity_is_read() {
    let app = app();
    let send = |body: Vec<u8>, encoding: &str| {
        app.client()
            .post(app.at(ECHO))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body)
            .send()
    };
    let plain = br#"{"email":"a@b.co","name":"x"}"#.to_vec();
    // A gzipped body, and a plain one labelled with a coding it does not have: neither is
    // parsed as if it were plain JSON.
    for (body, encoding) in [
        (GZIPPED.to_vec(), "gzip"),
        (plain.clone(), "br"),
        (plain.clone(), "identity, deflate"),
    ] {
        let resp = send(body, encoding).await.unwrap();
        let headers = resp.headers().clone();
        let body = assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE").await;
        assert_eq!(
            header(&headers, "accept-encoding"),
            Some("identity"),
            "{encoding}"
        );
        assert_eq!(header(&headers, "cache-control"), Some("no-store"));
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("uncompressed"),
            "{body}"
        );
    }
    let resp = send(plain, "identity").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(resp.headers(), "accept-encoding"), None);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"email": "a@b.co", "name": "x"}));
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = app();
    let big = format!(r#"{{"email":"a@b.co","name":"{}"}}"#, "x".repeat(2000));
    let resp = app
        .client()
        .post(app.at(ECHO))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 413, "PAYLOAD_TOO_LARGE").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("1024"));
}

#[tokio::test]
async fn streamed_body_over_the_limit_is_413_without_content_length() {
    let app = app();
    // Chunked transfer: no Content-Length, so the limit must hold while reading. Kept just
    // over the limit so the upload finishes before the early answer closes the connection.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..5).map(|_| Ok(vec![b' '; 256])).collect();
    let stream = futures_util::stream::iter(chunks);
    let resp = app
        .client()
        .post(app.at(ECHO))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn malformed_json_is_400_saying_where() {
    let resp = post(
        "{\n  \"email\": \"a@b.co\",\n  oops\n}",
        Some("application/json"),
    )
    .await;
    let body = assert_error(resp, 400, "BAD_REQUEST").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 3, column 3"), "{message}");

    let resp = post("", Some("application/json")).await;
    let body = assert_error(resp, 400, "BAD_REQUEST").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ends unexpectedly"));
}

#[tokio::test]
async fn unknown_fields_are_422() {
    let resp = post(
        r#"{"email":"a@b.co","name":"x","role":"admin"}"#,
        Some("application/json"),
    )
    .await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "role", "issue": "unknown_field"}])
    );
}

#[tokio::test]
async fn every_invalid_field_is_reported() {
    let resp = post(
        r#"{"email":"not-an-email","name":42}"#,
        Some("application/json"),
    )
    .await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([
            {"field": "email", "issue": "invalid_format"},
            {"field": "name", "issue": "expected_string"}
        ])
    );

    let resp = post(r#"{}"#, Some("application/json")).await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(
        body["error"]["details"],
        json!([
            {"field": "email", "issue": "required"},
            {"field": "name", "issue": "required"}
        ])
    );

    let resp = post(r#"["a"]"#, Some("application/json")).await;
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["issue"], "expected_object");
}

#[tokio::test]
async fn a_repeated_key_is_refused_not_resolved() {
    let resp = post(
        r#"{"email":"a@b.co","name":"first","name":"second"}"#,
        Some("application/json"),
    )
    .await;
    let body = assert_error(resp, 400, "BAD_REQUEST").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("repeats a key"),
        "{body}"
    );
}

#[tokio::test]
async fn deep_nesting_and_huge_numbers_are_400_saying_which() {
    let deep = format!(r#"{{"email":{}{}}}"#, "[".repeat(200), "]".repeat(200));
    for (body, expected) in [
        (
            deep,
            "The request body nests more than 127 levels deep at line 1, column 136.",
        ),
        (
            r#"{"email":"a@b.co","name":1e999}"#.to_owned(),
            "The request body holds a number out of range at line 1, column 30.",
        ),
    ] {
        let resp = post(body, Some("application/json")).await;
        let body = assert_error(resp, 400, "BAD_REQUEST").await;
        assert_eq!(body["error"]["message"], expected, "{body}");
    }
}

#[tokio::test]
async fn thousands_of_unknown_keys_give_a_bounded_error() {
    // A note body may be 256 KiB: room for about 20,000 unknown keys.
    let app = app();
    let (_, user) = app.new_user("many-keys").await;
    let mut fields = serde_json::Map::new();
    for i in 0..20_000 {
        fields.insert(format!("k{i}"), json!(1));
    }
    fields.insert("title".into(), json!("ok"));
    let resp = app
        .as_browser(&user, reqwest::Method::POST, "/v1/notes")
        .json(&Value::Object(fields))
        .send()
        .await
        .unwrap();
    let length = resp.content_length();
    let body = assert_error(resp, 422, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 20);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("19980 more not listed."),
        "{body}"
    );
    assert!(length.is_some_and(|n| n < 2_000), "{length:?} bytes");
}

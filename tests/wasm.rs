//! Tests compiled to wasm32 and run under node: the parts that depend on the JavaScript
//! host (clock, CSPRNG, WebCrypto, the response glue) behave on the real target, not only
//! natively.
#![cfg(target_arch = "wasm32")]

use edge_api::http::trace::TraceContext;
use edge_api::ids;
use wasm_bindgen_test::wasm_bindgen_test;

/// 2026-01-01T00:00:00Z: anything earlier means the clock is not the real one.
const SOME_RECENT_TIME_MS: u64 = 1_767_225_600_000;

#[wasm_bindgen_test]
fn clock_reads_real_time() {
    let now = ids::now_ms();
    assert!(now > SOME_RECENT_TIME_MS, "now_ms() = {now}");
}

#[wasm_bindgen_test]
fn csprng_gives_distinct_bytes() {
    let a = ids::random_bytes::<32>();
    let b = ids::random_bytes::<32>();
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 32]);
}

#[wasm_bindgen_test]
fn uuid_v7_carries_the_current_time() {
    let now = ids::now_ms();
    let id = ids::uuid_v7(now);
    assert_eq!(id.get_version_num(), 7);
    let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
    assert_eq!(secs * 1000 + u64::from(nanos / 1_000_000), now);
}

#[wasm_bindgen_test]
fn new_traces_are_random() {
    let a = TraceContext::continue_or_start(None);
    let b = TraceContext::continue_or_start(None);
    assert_ne!(a.trace_id, b.trace_id);
    assert_eq!(a.trace_id.len(), 32);
}

/// PBKDF2-HMAC-SHA256("password", "salt", 4096), first 32 bytes: the same vector the native
/// implementation is checked against, here computed by WebCrypto.
#[wasm_bindgen_test]
async fn webcrypto_pbkdf2_matches_the_known_vector() {
    let out = edge_api::auth::password::derive(b"password", b"salt", 4096)
        .await
        .unwrap();
    let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
    );
}

#[wasm_bindgen_test]
async fn password_hashes_verify_through_webcrypto() {
    use edge_api::auth::password;
    let stored = password::hash(b"correct horse battery", 1000)
        .await
        .unwrap();
    assert!(password::verify(b"correct horse battery", &stored)
        .await
        .unwrap());
    assert!(!password::verify(b"wrong horse battery", &stored)
        .await
        .unwrap());
}

/// jwt-simple reads time through coarsetime; on wasm32-unknown-unknown that must be the
/// JavaScript clock, or every `exp`/`nbf` check would compare against 1970.
#[wasm_bindgen_test]
fn jwt_simple_clock_reads_real_time() {
    use jwt_simple::prelude::Clock;
    let now = Clock::now_since_epoch().as_secs();
    assert!(now * 1000 > SOME_RECENT_TIME_MS, "coarsetime now = {now}");
    assert!(now.abs_diff(ids::now_ms() / 1000) < 5);
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The W3C WebAuthn Level 3 test vector "ES256 Credential with No Attestation": its assertion
/// verified by WebCrypto, the path the Worker takes (a high-S signature, which must pass).
#[wasm_bindgen_test]
async fn webcrypto_verifies_the_specifications_es256_assertion() {
    use edge_api::auth::webauthn::es256;
    use sha2::{Digest, Sha256};
    let mut point = [0u8; 65];
    point[0] = 4;
    point[1..33].copy_from_slice(&unhex(
        "afefa16f97ca9b2d23eb86ccb64098d20db90856062eb249c33a9b672f26df61",
    ));
    point[33..].copy_from_slice(&unhex(
        "930a56b87a2fca66334b03458abf879717c12cc68ed73290af2e2664796b9220",
    ));
    let auth_data =
        unhex("bfabc37432958b063360d3ad6461c9c4735ae7f8edd46592a5e0f01452b2e4b51900000000");
    let client_data = unhex(concat!(
        "7b2274797065223a22776562617574686e2e676574222c226368616c6c656e6765223a224f63446e5568",
        "5158756c5455506f334a5558543049393770767a7a59425039745a63685879617630314167222c226f72",
        "6967696e223a2268747470733a2f2f6578616d706c652e6f7267222c2263726f73734f726967696e22",
        "3a66616c73657d"
    ));
    let signature = unhex(concat!(
        "3046022100f50a4e2e4409249c4a853ba361282f09841df4dd4547a13a87780218deffcd380221008480",
        "ac0f0b93538174f575bf11a1dd5d78c6e486013f937295ea13653e331e87"
    ));
    let mut message = auth_data.clone();
    message.extend_from_slice(&Sha256::digest(&client_data));
    assert!(es256::valid_key(&point).await);
    assert!(es256::verify(&point, &message, &signature).await);
    // One bit of the signed data changed, or a point off the curve: refused.
    let mut tampered = message.clone();
    tampered[32] ^= 0x04;
    assert!(!es256::verify(&point, &tampered, &signature).await);
    let mut off_curve = point;
    off_curve[64] ^= 1;
    assert!(!es256::valid_key(&off_curve).await);
    assert!(!es256::verify(&off_curve, &message, &signature).await);
}

/// The response as the runtime gets it from `pipeline::edge::into_runtime_response`: status,
/// the named headers and the body text.
async fn handed_over(
    resp: edge_api::http::ApiResponse,
    names: &[&str],
) -> (u16, Vec<Option<String>>, String) {
    let built = edge_api::pipeline::edge::into_runtime_response(resp, "");
    let headers = built.headers();
    let values = names.iter().map(|n| headers.get(n).unwrap()).collect();
    let text = wasm_bindgen_futures::JsFuture::from(built.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap();
    (built.status(), values, text)
}

#[wasm_bindgen_test]
async fn a_text_body_keeps_its_own_type_or_none() {
    use edge_api::http::ApiResponse;
    let json = ApiResponse::json(201, &serde_json::json!({"ok": true})).unwrap();
    let (status, values, text) = handed_over(json, &["content-type"]).await;
    assert_eq!(status, 201);
    assert_eq!(values, [Some("application/json".to_owned())]);
    assert_eq!(text, r#"{"ok":true}"#);

    // A string body would otherwise be typed `text/plain;charset=UTF-8` by the host.
    let mut untyped = ApiResponse::empty(200);
    untyped.body = b"plain".to_vec();
    let (_, values, text) = handed_over(untyped, &["content-type"]).await;
    assert_eq!(values, [None]);
    assert_eq!(text, "plain");
}

#[wasm_bindgen_test]
async fn large_or_binary_bodies_travel_as_bytes_and_bad_headers_are_dropped() {
    use edge_api::http::ApiResponse;
    let large = "a".repeat(40 * 1024);
    let resp = ApiResponse::empty(200)
        .with_header("Content-Type", "text/plain")
        .with_header("X-Split", "one\r\nInjected: two")
        // Not a byte string: the host refuses it, and the header alone is dropped.
        .with_header("X-Euro", "5 €")
        .with_header("X-Kept", "yes");
    let resp = ApiResponse {
        body: large.clone().into_bytes(),
        ..resp
    };
    let (status, values, text) = handed_over(
        resp,
        &["content-type", "x-split", "injected", "x-euro", "x-kept"],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        values,
        [
            Some("text/plain".to_owned()),
            None,
            None,
            None,
            Some("yes".to_owned())
        ]
    );
    assert_eq!(text.len(), large.len());

    // Not UTF-8: bytes, whatever the size.
    let mut binary =
        ApiResponse::empty(200).with_header("Content-Type", "application/octet-stream");
    binary.body = vec![0xff, 0xfe, 0x00, 0x41];
    let built = edge_api::pipeline::edge::into_runtime_response(binary, "");
    let buffer = wasm_bindgen_futures::JsFuture::from(built.array_buffer().unwrap())
        .await
        .unwrap();
    assert_eq!(
        js_sys::Uint8Array::new(&buffer).to_vec(),
        [0xff, 0xfe, 0x00, 0x41]
    );
}

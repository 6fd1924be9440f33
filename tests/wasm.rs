//! Tests compiled to wasm32 and run under node: the parts that depend on the JavaScript
//! host (clock and CSPRNG) behave on the real target, not only natively.
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

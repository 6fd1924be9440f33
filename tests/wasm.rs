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

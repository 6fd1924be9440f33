//! Answering the runtime: an event's work runs at once, and a `Promise` is made only when it
//! has to wait.
//!
//! An async `wasm_bindgen` export always answers through a `Promise`: its executor closure, a
//! task, a `queueMicrotask` and the resolve call, each a crossing between Wasm and JavaScript.
//! Most requests here never wait (routing and validation errors, limits served from a lease,
//! a limiter object whose state is in memory), so [`at_once`] polls the work once first and
//! returns its answer directly; the runtime accepts either a value or a `Promise` from a
//! handler.

use std::future::Future;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::JsValue;

/// Runs `work` up to its first wait: its answer now if it never waits (a failure as a
/// rejected `Promise`), else a `Promise` that polls the same future again with a real waker.
pub fn at_once<F>(work: F) -> JsValue
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let mut work = Box::pin(work);
    match work.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(value)) => value,
        Poll::Ready(Err(error)) => js_sys::Promise::reject(&error).into(),
        Poll::Pending => wasm_bindgen_futures::future_to_promise(work).into(),
    }
}

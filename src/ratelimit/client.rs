//! The [`Limiter`] adapter for the `RateLimiter` Durable Objects: one object per
//! `policy:key`, reached by name through the namespace binding.

use super::enforce::Limiter;
use super::gcra::{Grant, Quota};
use std::cell::OnceCell;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Env, ObjectNamespace};

/// The limiter's Durable Object namespace, for one request. The binding is looked up on the
/// first call that needs an object (a lookup is several crossings), so a request served from
/// a lease or the blocked-key cache never makes it.
pub struct DurableLimiter {
    env: Env,
    binding: &'static str,
    namespace: OnceCell<Result<ObjectNamespace, String>>,
    /// The request's `traceparent`, sent with every call so the objects join its trace.
    traceparent: String,
}

impl DurableLimiter {
    /// Uses the namespace bound as `binding`, tagging calls with `traceparent`.
    pub fn new(env: Env, binding: &'static str, traceparent: &str) -> Self {
        Self {
            env,
            binding,
            namespace: OnceCell::new(),
            traceparent: traceparent.to_owned(),
        }
    }

    fn namespace(&self) -> worker::Result<&ObjectNamespace> {
        let binding = self.binding;
        self.namespace
            .get_or_init(|| {
                self.env
                    .durable_object(binding)
                    .map_err(|e| format!("binding {binding}: {e}"))
            })
            .as_ref()
            .map_err(|e| worker::Error::RustError(e.clone()))
    }

    /// Asks one object to answer `GET /ping` (readiness).
    pub async fn probe(&self) -> Result<(), String> {
        let ping = async {
            let stub = self
                .namespace()?
                .id_from_name("readiness-probe")?
                .get_stub()?;
            stub.fetch_with_str("https://rate-limiter/ping").await
        };
        match ping.await {
            Ok(resp) if resp.status_code() == 200 => Ok(()),
            Ok(resp) => Err(format!("status {}", resp.status_code())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `GET /check/<limit>/<window_ms>/<want>`: the quota travels in the path, so neither
    /// side streams a body; the call and the reading of its answer are one crossing.
    async fn call(&self, id: &str, quota: Quota, want: u32) -> worker::Result<Grant> {
        let url = format!(
            "https://rate-limiter/check/{}/{}/{want}",
            quota.limit, quota.window_ms
        );
        let namespace: &JsValue = self.namespace()?.as_ref();
        let answer = limiter_call(namespace, id, &url, &self.traceparent).map_err(js_error)?;
        let text = JsFuture::from(answer)
            .await
            .map_err(js_error)?
            .as_string()
            .ok_or_else(|| worker::Error::RustError("body is not text".into()))?;
        // The object is another program: decode its answer strictly.
        serde_json::from_str(&text)
            .map_err(|e| worker::Error::RustError(format!("bad answer: {e}")))
    }
}

#[wasm_bindgen(inline_js = r#"
export function limiterCall(namespace, name, url, traceparent) {
  return namespace
    .get(namespace.idFromName(name))
    .fetch(url, { headers: { traceparent } })
    .then((r) => (r.status === 200 ? r.text() : Promise.reject(new Error(`limiter answered ${r.status}`))));
}
"#)]
extern "C" {
    /// Asks the object named `name` for `url` with the request's `traceparent`; resolves to
    /// its answer's text, rejects on any status but 200.
    #[wasm_bindgen(js_name = limiterCall, catch)]
    fn limiter_call(
        namespace: &JsValue,
        name: &str,
        url: &str,
        traceparent: &str,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// The message of a JavaScript error (or its debug form).
fn js_error(e: JsValue) -> worker::Error {
    let message = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{e:?}"));
    worker::Error::RustError(message)
}

impl Limiter for DurableLimiter {
    async fn acquire(&self, id: &str, quota: Quota, want: u32) -> Result<Grant, String> {
        self.call(id, quota, want).await.map_err(|e| e.to_string())
    }
}

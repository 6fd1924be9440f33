//! The [`Limiter`] adapter for the `RateLimiter` Durable Objects: one object per
//! `policy:key`, reached by name through the namespace binding.

use super::enforce::Limiter;
use super::gcra::{Grant, Quota};
use std::cell::OnceCell;
use worker::{Env, Method, ObjectNamespace, Request, RequestInit};

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
    /// side streams a body; the answer is read in one call.
    async fn call(&self, id: &str, quota: Quota, want: u32) -> worker::Result<Grant> {
        let stub = self.namespace()?.id_from_name(id)?.get_stub()?;
        let headers = worker::Headers::new();
        headers.set("traceparent", &self.traceparent)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let url = format!(
            "https://rate-limiter/check/{}/{}/{want}",
            quota.limit, quota.window_ms
        );
        let req = Request::new_with_init(&url, &init)?;
        let resp = stub.fetch_with_request(req).await?;
        if resp.status_code() != 200 {
            return Err(worker::Error::RustError(format!(
                "limiter answered {}",
                resp.status_code()
            )));
        }
        let text = crate::outbound::text(&resp).await?;
        // The object is another program: decode its answer strictly.
        serde_json::from_str(&text)
            .map_err(|e| worker::Error::RustError(format!("bad answer: {e}")))
    }
}

impl Limiter for DurableLimiter {
    async fn acquire(&self, id: &str, quota: Quota, want: u32) -> Result<Grant, String> {
        self.call(id, quota, want).await.map_err(|e| e.to_string())
    }
}

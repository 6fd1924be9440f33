//! The [`Limiter`] adapter for the `RateLimiter` Durable Objects: one object per
//! `policy:key`, reached by name through the namespace binding.

use super::enforce::Limiter;
use super::gcra::{Grant, Quota};
use worker::{Method, ObjectNamespace, Request, RequestInit};

/// The limiter's Durable Object namespace, for one request.
pub struct DurableLimiter {
    namespace: ObjectNamespace,
    /// The request's `traceparent`, sent with every call so the objects join its trace.
    traceparent: String,
}

impl DurableLimiter {
    /// Uses `namespace`, tagging calls with `traceparent`.
    pub fn new(namespace: ObjectNamespace, traceparent: &str) -> Self {
        Self {
            namespace,
            traceparent: traceparent.to_owned(),
        }
    }

    /// Asks one object to answer `GET /ping` (readiness).
    pub async fn probe(&self) -> Result<(), String> {
        let ping = async {
            let stub = self.namespace.id_from_name("readiness-probe")?.get_stub()?;
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
        let stub = self.namespace.id_from_name(id)?.get_stub()?;
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

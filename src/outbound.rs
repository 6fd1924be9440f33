//! Outbound HTTP calls with a deadline, through the runtime's `fetch`: the Turso client and
//! the Upstash cache both POST JSON and must give up on time rather than hold the request.
//!
//! On the deadline the call is aborted (`AbortController`), so the runtime stops waiting for
//! it too.

use futures_util::future::{select, Either};
use std::fmt;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

/// What came back: the status and the body as text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Why no answer came back.
#[derive(Debug)]
pub enum OutboundError {
    /// Nothing within the deadline (milliseconds).
    Timeout(u128),
    /// The request could not be built or sent, or its body not read.
    Transport(String),
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(ms) => write!(f, "no answer within {ms} ms"),
            Self::Transport(e) => write!(f, "{e}"),
        }
    }
}

/// Reads a response's whole body as text in one call (`Response.text()` on the same stream),
/// where `worker`'s own `text()` reads the stream chunk by chunk from Rust, locking and
/// releasing a reader each time.
async fn text(response: &worker::Response) -> worker::Result<String> {
    let promise = worker::web_sys::Response::from(response).text()?;
    let value = wasm_bindgen_futures::JsFuture::from(promise).await?;
    value
        .as_string()
        .ok_or_else(|| worker::Error::RustError("body is not text".into()))
}

/// POSTs `body` as JSON to `url` with `headers`, waiting at most `timeout` for the whole
/// answer (status and body).
pub async fn post_json(
    url: &str,
    headers: &[(&str, &str)],
    body: String,
    timeout: Duration,
) -> Result<Answer, OutboundError> {
    let transport = |e: worker::Error| OutboundError::Transport(e.to_string());
    let h = Headers::new();
    h.set("content-type", "application/json")
        .map_err(transport)?;
    for (name, value) in headers {
        h.set(name, value).map_err(transport)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(h)
        .with_body(Some(body.into()));
    let request = Request::new_with_init(url, &init).map_err(transport)?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let call = Box::pin(async {
        let response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(transport)?;
        let status = response.status_code();
        let body = text(&response).await.map_err(transport)?;
        Ok(Answer { status, body })
    });
    // Bound before returning: the select's temporaries borrow `signal` and `transport`.
    let outcome = match select(call, Box::pin(Delay::from(timeout))).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => {
            controller.abort();
            Err(OutboundError::Timeout(timeout.as_millis()))
        }
    };
    outcome
}

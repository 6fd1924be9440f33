//! The pipeline's edge: the only place that turns `worker` request and environment values
//! into the crate's own types and the finished response back into a `worker::Response`.

use crate::config::{Config, ConfigError};
use crate::context::Incoming;
use crate::http::{ApiResponse, Method};
use crate::platform::{Bindings, RawRequest};
use std::cell::OnceCell;
use std::rc::Rc;

/// Serves one request: adapts it, runs the pipeline, hands the answer back to the runtime.
pub async fn serve(req: worker::Request, env: worker::Env) -> worker::Response {
    let resp = super::handle(adapt(req), Bindings::new(env)).await;
    into_worker_response(resp)
}

/// Adapts the runtime's request: the method token and the path now, the rest (headers,
/// query, body) on demand.
pub fn adapt(req: worker::Request) -> Incoming {
    let raw = RawRequest::new(req);
    let method_token = raw.method();
    Incoming {
        method: Method::parse(&method_token),
        path: raw.path(),
        raw,
        method_token,
    }
}

thread_local! {
    /// Settings parsed once per isolate; a bad value is remembered and reported per request.
    static CONFIG: OnceCell<Result<Rc<Config>, ConfigError>> = const { OnceCell::new() };
}

/// Returns the isolate's settings, parsing them from the bindings on first use.
pub fn config(bindings: &Bindings) -> Result<Rc<Config>, ConfigError> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| Config::parse(|name| bindings.var(name)).map(Rc::new))
            .clone()
    })
}

/// Hands the response to the runtime. Statuses that forbid a body get a null body.
pub fn into_worker_response(resp: ApiResponse) -> worker::Response {
    let headers = worker::Headers::new();
    for (name, value) in &resp.headers {
        // Header values are built by this crate from validated parts; a rejected one is
        // dropped rather than failing the whole response.
        let _ = headers.append(name, value);
    }
    let builder = worker::Response::builder()
        .with_status(resp.status)
        .with_headers(headers);
    if resp.body.is_empty() {
        builder.empty()
    } else {
        builder.fixed(resp.body)
    }
}

//! The pipeline's edge: the only place that turns `worker` request and environment values
//! into the crate's own types and the finished response back into a `worker::Response`.

use crate::config::{Config, ConfigError};
use crate::context::Incoming;
use crate::http::{ApiResponse, Method};
use crate::platform::{Bindings, RawRequest};
use std::cell::OnceCell;
use std::rc::Rc;
use worker::web_sys;

/// Serves one request: adapts it, runs the pipeline, hands the answer back to the runtime.
pub async fn serve(
    req: web_sys::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> web_sys::Response {
    let resp = super::handle(adapt(req), Bindings::new(env, ctx)).await;
    into_runtime_response(resp)
}

/// Adapts the runtime's request: the method token, origin, path and query now (two reads),
/// headers and body on demand.
pub fn adapt(req: web_sys::Request) -> Incoming {
    let raw = RawRequest::new(req);
    let method_token = raw.method();
    let (origin, path, query) = raw.origin_path_and_query();
    Incoming {
        method: Method::parse(&method_token),
        origin,
        path,
        query,
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
pub fn into_runtime_response(resp: ApiResponse) -> web_sys::Response {
    let headers = web_sys::Headers::new().unwrap_or_else(|_| unreachable_headers());
    for (name, value) in &resp.headers {
        // Header values are built by this crate from validated parts; a rejected one is
        // dropped rather than failing the whole response.
        let _ = headers.append(name, value);
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(resp.status);
    init.set_headers(&headers);
    let built = if resp.body.is_empty() {
        web_sys::Response::new_with_opt_str_and_init(None, &init)
    } else {
        let body = js_sys::Uint8Array::from(resp.body.as_slice());
        web_sys::Response::new_with_opt_buffer_source_and_init(Some(&body), &init)
    };
    // Only an invalid status can fail here, and every status comes from this crate.
    built.unwrap_or_else(|_| {
        web_sys::Response::new_with_opt_str_and_init(None, &web_sys::ResponseInit::new())
            .expect("a 200 with no body is always a valid response")
    })
}

/// `new Headers()` cannot fail; this keeps the signature total.
fn unreachable_headers() -> web_sys::Headers {
    panic!("the runtime refused to create an empty Headers object")
}

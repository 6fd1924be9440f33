//! The pipeline's edge: the only place that turns `worker` request and environment values
//! into the crate's own types and the finished response back into a `worker::Response`.

use crate::config::{Config, ConfigError};
use crate::context::Incoming;
use crate::http::{ApiResponse, Headers, Method};
use crate::platform::{respond, Bindings, RawRequest};
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

/// Adapts the runtime's request: the method token, origin, path, query and the headers every
/// request reads now (one crossing), other headers and the body on demand.
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

/// Hands the response to the runtime, in one crossing. Statuses that forbid a body get a
/// null body.
pub fn into_runtime_response(resp: ApiResponse) -> web_sys::Response {
    let head = response_head(&resp.headers);
    // Only an invalid status can fail here, and every status comes from this crate.
    respond(resp.status, &head, &resp.body).unwrap_or_else(|_| {
        web_sys::Response::new_with_opt_str_and_init(None, &web_sys::ResponseInit::new())
            .expect("a 200 with no body is always a valid response")
    })
}

/// The response's headers as `respond` takes them: `name\nvalue\n` each. Header values are
/// built by this crate from validated parts; one the runtime would refuse (a line break) is
/// dropped rather than failing the whole response.
fn response_head(headers: &Headers) -> String {
    let mut head = String::with_capacity(512);
    for (name, value) in headers {
        // Bytes, not chars: a char-set search decodes UTF-8 one code point at a time.
        if value.bytes().any(|b| b == b'\n' || b == b'\r') {
            continue;
        }
        head.push_str(name);
        head.push('\n');
        head.push_str(value);
        head.push('\n');
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_headers_travel_as_one_string_and_line_breaks_are_dropped() {
        let headers: Headers = vec![
            ("Content-Type", "application/json".into()),
            ("Set-Cookie", "a=1; Path=/".into()),
            ("X-Bad", "one\r\nInjected: two".into()),
            ("Set-Cookie", "b=2".into()),
        ];
        assert_eq!(
            response_head(&headers),
            "Content-Type\napplication/json\nSet-Cookie\na=1; Path=/\nSet-Cookie\nb=2\n"
        );
        assert_eq!(response_head(&Headers::new()), "");
    }
}

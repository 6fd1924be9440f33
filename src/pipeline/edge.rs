//! The pipeline's edge: the only place that turns `worker` request and environment values
//! into the crate's own types and the finished response back into a `worker::Response`.

use crate::config::{Config, ConfigError};
use crate::context::Incoming;
use crate::http::{ApiResponse, Headers, Method};
use crate::platform::{respond, respond_bytes, Bindings, RawRequest};
use std::cell::OnceCell;
use std::rc::Rc;
use worker::web_sys;

/// Serves one request: adapts it, runs the pipeline, hands the answer back to the runtime.
pub async fn serve(
    req: web_sys::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> web_sys::Response {
    let bindings = Bindings::new(env, ctx);
    let config = config(&bindings);
    let test_routes = config.as_ref().is_ok_and(|c| c.test_routes);
    let answer = super::handle(adapt(req, test_routes), bindings, config).await;
    let response = into_runtime_response(answer.response, &answer.line);
    for warning in &answer.warnings {
        crate::platform::warn(warning);
    }
    response
}

/// Adapts the runtime's request: the method token, origin, path, query and the headers every
/// request reads now (one crossing; the test clock only when `test_routes`), other headers and
/// the body on demand.
pub fn adapt(req: web_sys::Request, test_routes: bool) -> Incoming {
    let raw = RawRequest::new(req, test_routes);
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

/// Bodies up to this size travel as text in `respond`'s string. Measured inside workerd, a
/// text body costs less than bytes up to about 32 KB (no typed arrays, no buffer to
/// allocate and sweep) and more beyond (it is decoded at the boundary and encoded again by
/// the runtime).
const TEXT_BODY_MAX: usize = 32 * 1024;

/// Hands the response to the runtime with the request's log line, in one crossing. An empty
/// body (every status that forbids one) is a null body; a small UTF-8 body (most JSON
/// answers) travels as text in the same string, any other as bytes.
pub fn into_runtime_response(resp: ApiResponse, line: &str) -> web_sys::Response {
    // Only an invalid status can fail here, and every status comes from this crate.
    let built = match text_body(&resp.body) {
        Some(body) => respond(resp.status, &answer_text(line, &resp.headers, body)),
        None => respond_bytes(
            resp.status,
            &answer_text(line, &resp.headers, ""),
            &resp.body,
        ),
    };
    built.unwrap_or_else(|_| {
        web_sys::Response::new_with_opt_str_and_init(None, &web_sys::ResponseInit::new())
            .expect("a 200 with no body is always a valid response")
    })
}

/// The body as text for `respond`'s string, when it is UTF-8 and at most [`TEXT_BODY_MAX`].
fn text_body(body: &[u8]) -> Option<&str> {
    (body.len() <= TEXT_BODY_MAX)
        .then(|| std::str::from_utf8(body).ok())
        .flatten()
}

/// The string `respond` takes, built in one buffer: the log line (empty for none), `\0`, the
/// headers ([`push_head`]), `\0`, then the body when it is text. Neither the line (JSON, its
/// control characters escaped) nor a header value holds a `\0`, so the two separators are the
/// first two. One string costs one decoding at the boundary and, for the body, none of the
/// typed arrays and buffer a byte body needs.
fn answer_text(line: &str, headers: &Headers, body: &str) -> String {
    let mut text = String::with_capacity(line.len() + 512 + body.len());
    text.push_str(line);
    text.push('\0');
    push_head(&mut text, headers);
    text.push('\0');
    text.push_str(body);
    text
}

/// Appends the response's headers as `respond` takes them: `name\nvalue\n` each. Header
/// values are built by this crate from validated parts; one the runtime would refuse (a line
/// break or a NUL, which would also end the headers early in `respond`'s string) is dropped
/// rather than failing the whole response.
fn push_head(head: &mut String, headers: &Headers) {
    for (name, value) in headers {
        // Bytes, not chars: a char-set search decodes UTF-8 one code point at a time.
        if value.bytes().any(|b| matches!(b, b'\n' | b'\r' | b'\0')) {
            continue;
        }
        head.push_str(name);
        head.push('\n');
        head.push_str(value);
        head.push('\n');
    }
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
            ("X-Nul", "one\0two".into()),
            ("Set-Cookie", "b=2".into()),
        ];
        let head = |headers: &Headers| {
            let mut head = String::new();
            push_head(&mut head, headers);
            head
        };
        assert_eq!(
            head(&headers),
            "Content-Type\napplication/json\nSet-Cookie\na=1; Path=/\nSet-Cookie\nb=2\n"
        );
        assert_eq!(head(&Headers::new()), "");
    }

    #[test]
    fn the_answer_string_is_line_headers_and_body_between_two_nuls() {
        let headers: Headers = vec![("Vary", "Origin".into())];
        let text = answer_text(r#"{"route":"/v1/health"}"#, &headers, r#"{"ok":true}"#);
        assert_eq!(
            text,
            "{\"route\":\"/v1/health\"}\0Vary\nOrigin\n\0{\"ok\":true}"
        );
        // The body may hold NULs (escaped in JSON, but any text): only the first two separate.
        let text = answer_text("", &Headers::new(), "a\0b");
        assert_eq!(text.splitn(3, '\0').collect::<Vec<_>>(), ["", "", "a\0b"]);
    }

    #[test]
    fn small_utf8_bodies_travel_as_text_and_the_rest_as_bytes() {
        assert_eq!(text_body(b""), Some(""));
        assert_eq!(text_body(br#"{"ok":true}"#), Some(r#"{"ok":true}"#));
        assert_eq!(text_body("é".as_bytes()), Some("é"));
        assert_eq!(text_body(&[0xff, 0xfe]), None);
        let at_limit = vec![b'a'; TEXT_BODY_MAX];
        assert!(text_body(&at_limit).is_some());
        assert_eq!(text_body(&vec![b'a'; TEXT_BODY_MAX + 1]), None);
    }
}

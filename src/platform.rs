//! The Workers runtime as the rest of the crate sees it: the incoming request, the
//! bindings (KV, D1, the limiter's Durable Objects) that adapters are opened from, the clock,
//! and the console.
//!
//! Each type here is a small newtype over a `worker` value with the few typed methods the
//! crate needs, so the request context and the handlers never name a `worker` type.

use crate::auth::kv_store::KvSessions;
use crate::config::{DbBackend, D1_BINDING, KV_BINDING, LIMITER_BINDING};
use crate::db::{d1::D1, turso::Turso, Db, DbError};
use crate::error::{AppError, ErrorCode};
use crate::http::{json, query};
use crate::ratelimit::client::DurableLimiter;
use futures_util::StreamExt;
use std::cell::OnceCell;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::web_sys;

#[wasm_bindgen(inline_js = r#"
export function requestHead(req, names, count) {
  const headers = req.headers;
  let head = req.method + "\n" + req.url;
  for (let i = 0; i < count; i++) {
    const value = headers.get(names[i]);
    head += "\n" + (value === null ? "\0" : value);
  }
  return head;
}
function finishResponse(status, text, bytes) {
  const head = text.indexOf("\0");
  const end = text.indexOf("\0", head + 1);
  if (head > 0) console.log(text.slice(0, head));
  let body = bytes;
  if (body === null && end + 1 < text.length) body = text.slice(end + 1);
  const response = new Response(body, { status });
  const headers = response.headers;
  const parts = text.slice(head + 1, end).split("\n");
  let typed = false;
  for (let i = 0; i + 1 < parts.length; i += 2) {
    try {
      if (parts[i].length === 12 && parts[i].toLowerCase() === "content-type") {
        headers.set(parts[i], parts[i + 1]);
        typed = true;
      } else {
        headers.append(parts[i], parts[i + 1]);
      }
    } catch {}
  }
  if (!typed && typeof body === "string") headers.delete("Content-Type");
  return response;
}
export function respond(status, text) {
  return finishResponse(status, text, null);
}
export function respondBytes(status, text, body) {
  return finishResponse(status, text, body.slice());
}
"#)]
extern "C" {
    /// The method, the URL and the first `count` named headers, in one crossing:
    /// `method\nurl\nvalue…`, a missing header as `\0` (neither can occur in a method, a URL
    /// the runtime serialised or a header value).
    #[wasm_bindgen(js_name = requestHead)]
    fn request_head(req: &web_sys::Request, names: &JsValue, count: u32) -> String;
    /// Writes the request's log line and builds its `Response`, in one crossing, from the
    /// status and one string: `line\0name\nvalue\n…\0body` (`edge::answer_text`). A header
    /// the runtime refuses is dropped. The headers are added to the response's own `Headers`:
    /// a separate `Headers` object passed to the constructor would be built and then copied.
    /// `Content-Type` (in any case) replaces the one a text body would otherwise get.
    #[wasm_bindgen(catch)]
    pub(crate) fn respond(status: u16, text: &str) -> Result<web_sys::Response, JsValue>;
    /// [`respond`] for a body that does not travel as text (over 32 KiB, or not UTF-8): the
    /// body goes as bytes (copied), and `text` ends at its second `\0`.
    #[wasm_bindgen(catch, js_name = respondBytes)]
    pub(crate) fn respond_bytes(
        status: u16,
        text: &str,
        body: &[u8],
    ) -> Result<web_sys::Response, JsValue>;
}

/// Headers every request's pipeline reads (request id, trace, CORS and CSRF origin, D1
/// bookmark, the `If-Match` every read answer is checked against, and the test clock when
/// test routes are on), fetched with the method and URL in one crossing. The test clock is
/// last, so that without test routes it is left out.
const READ_WITH_REQUEST: [&str; 6] = [
    "x-request-id",
    "traceparent",
    "origin",
    "x-d1-bookmark",
    "if-match",
    crate::http::CLOCK_ADVANCE_HEADER,
];

thread_local! {
    /// [`READ_WITH_REQUEST`] as a JavaScript array, made once per isolate.
    static READ_NAMES: JsValue = READ_WITH_REQUEST
        .iter()
        .map(|n| JsValue::from_str(n))
        .collect::<js_sys::Array>()
        .into();
}

/// Splits what `requestHead` returned into the method, the URL and the values of
/// [`READ_WITH_REQUEST`]; a value missing from the string counts as absent.
fn parse_head(head: &str) -> (String, String, [Option<String>; READ_WITH_REQUEST.len()]) {
    let mut parts = head.split('\n');
    let method = parts.next().unwrap_or_default().to_owned();
    let url = parts.next().unwrap_or_default().to_owned();
    let read = std::array::from_fn(|_| match parts.next() {
        None | Some("\0") => None,
        Some(value) => Some(value.to_owned()),
    });
    (method, url, read)
}

/// The incoming request as the runtime holds it. The method, the URL and the headers every
/// request needs are read at once ([`RawRequest::new`]); other headers and the body on
/// demand, one crossing each; nothing else is converted (in particular not `request.cf`,
/// which `worker::Request` reads eagerly and this API never uses).
pub struct RawRequest {
    req: web_sys::Request,
    method: String,
    url: String,
    /// The values of [`READ_WITH_REQUEST`], in order.
    read: [Option<String>; READ_WITH_REQUEST.len()],
    headers: OnceCell<web_sys::Headers>,
}

impl RawRequest {
    /// Wraps the runtime's request, reading its method, URL and common headers (the test
    /// clock's only when `test_routes`: it is ignored otherwise).
    pub fn new(req: web_sys::Request, test_routes: bool) -> Self {
        let count = READ_WITH_REQUEST.len() - usize::from(!test_routes);
        let head = READ_NAMES.with(|names| request_head(&req, names, count as u32));
        let (method, url, read) = parse_head(&head);
        Self {
            req,
            method,
            url,
            read,
            headers: OnceCell::new(),
        }
    }

    /// Returns the method token as sent.
    pub fn method(&self) -> String {
        self.method.clone()
    }

    /// Returns the origin (`scheme://host[:port]`), the path (over-encoded characters
    /// decoded, [`query::normalize_path`]) and the query string (without `?`).
    pub fn origin_path_and_query(&self) -> (String, String, String) {
        let (path, query) = query::split_url(&self.url);
        let path = if path.is_empty() { "/" } else { path };
        (
            query::origin(&self.url).to_owned(),
            query::normalize_path(path).into_owned(),
            query.to_owned(),
        )
    }

    /// Returns a header's value (several values joined by `, `, as the runtime does).
    pub fn header(&self, name: &str) -> Option<String> {
        if let Some(i) = READ_WITH_REQUEST.iter().position(|n| *n == name) {
            return self.read[i].clone();
        }
        self.headers
            .get_or_init(|| self.req.headers())
            .get(name)
            .ok()
            .flatten()
    }

    /// Reads at most `limit` bytes of body, stopping as soon as the limit is passed so an
    /// oversized upload is never buffered whole: 413 past the limit (checked against
    /// `declared`, the `Content-Length`, first), 400 when the body cannot be read.
    pub async fn read_body(
        &mut self,
        declared: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u8>, AppError> {
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(json::too_large(limit));
        }
        let unreadable = |cause: String| {
            AppError::new(ErrorCode::BadRequest)
                .with_message("The request body could not be read.")
                .with_cause(cause)
        };
        if declared.is_some() {
            // The runtime holds a declared body to its length: read it in one call rather
            // than chunk by chunk through a stream reader.
            let promise = self
                .req
                .array_buffer()
                .map_err(|e| unreadable(format!("{e:?}")))?;
            let buffer = wasm_bindgen_futures::JsFuture::from(promise)
                .await
                .map_err(|e| unreadable(format!("{e:?}")))?;
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            if bytes.len() > limit {
                return Err(json::too_large(limit));
            }
            return Ok(bytes);
        }
        // No length declared (a chunked upload): stream it, counting as it comes.
        // (`Clone::clone`: the inherent `clone` is JavaScript's `Request.clone()`.)
        let mut req = worker::Request::from(<web_sys::Request as Clone>::clone(&self.req));
        let Ok(mut stream) = req.stream() else {
            return Ok(Vec::new()); // no body at all
        };
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| unreadable(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(json::too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The Worker's bindings and variables, and the request's execution context (for work that
/// finishes after the answer).
#[derive(Clone)]
pub struct Bindings(worker::Env, std::rc::Rc<worker::Context>);

impl Bindings {
    /// Wraps the runtime's environment and the request's context.
    pub fn new(env: worker::Env, ctx: worker::Context) -> Self {
        Self(env, std::rc::Rc::new(ctx))
    }

    /// Runs `work` after the answer has gone (`ctx.waitUntil`); the runtime keeps the request
    /// alive until it ends.
    pub fn wait_until(&self, work: impl std::future::Future<Output = ()> + 'static) {
        self.1.wait_until(work);
    }

    /// Returns a variable or secret by name.
    pub fn var(&self, name: &str) -> Option<String> {
        env_var(&self.0, name)
    }

    /// Opens the session store (KV).
    pub fn sessions(&self, cache_ms: u64) -> Result<KvSessions, AppError> {
        KvSessions::new(&self.0, KV_BINDING, cache_ms)
    }

    /// Opens the configured database: on D1 a session anchored at `constraint` (a bookmark
    /// or `first-primary`), on Turso a client whose calls carry `traceparent`.
    pub fn database(
        &self,
        backend: &DbBackend,
        constraint: Option<&str>,
        traceparent: Option<String>,
    ) -> Result<Db, DbError> {
        open_database(&self.0, backend, constraint, traceparent)
    }

    /// Opens the limiter's Durable Object namespace (looked up on first use); `traceparent`
    /// goes with every call.
    pub fn limiter(&self, traceparent: &str) -> DurableLimiter {
        DurableLimiter::new(self.0.clone(), LIMITER_BINDING, traceparent)
    }
}

/// Time and timers from the Workers runtime.
#[derive(Clone, Copy)]
pub struct RuntimeClock;

impl crate::cache::Clock for RuntimeClock {
    fn now(&self) -> u64 {
        crate::ids::now_ms()
    }

    async fn sleep(&self, ms: u64) {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

/// Opens the database `backend` names (see [`Bindings::database`]).
fn open_database(
    env: &worker::Env,
    backend: &DbBackend,
    constraint: Option<&str>,
    traceparent: Option<String>,
) -> Result<Db, DbError> {
    Ok(match backend {
        DbBackend::D1 => Db::D1(D1::new(env, D1_BINDING, constraint)?),
        DbBackend::Turso {
            url,
            auth_token,
            timeout_ms,
        } => Db::Turso(Turso::new(
            url,
            auth_token.clone(),
            std::time::Duration::from_millis(*timeout_ms),
            traceparent,
        )),
    })
}

/// Returns a variable or secret of `env` by name.
fn env_var(env: &worker::Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
}

/// The scheduled clean-up with the Worker's own settings and database
/// ([`crate::housekeeping`]), at `now` (the event's scheduled time, Unix ms): its log line,
/// or why it could not run.
pub async fn housekeeping(env: &worker::Env, now: u64) -> Result<String, String> {
    let config = crate::config::Config::parse(|name| env_var(env, name))
        .map_err(|e| format!("{}: {}", e.var, e.reason))?;
    let db = open_database(env, &config.database, None, None).map_err(|e| e.to_string())?;
    let purged = crate::housekeeping::purge(&db, now, crate::housekeeping::ROWS_PER_ROUND)
        .await
        .map_err(|e| e.to_string())?;
    Ok(purged.to_line(now))
}

/// Writes one line to the runtime's log (`console.log`). The line is handed over as it is:
/// `worker::console_log!` would format it into a new `String` first.
pub fn log(line: &str) {
    web_sys::console::log_1(&JsValue::from_str(line));
}

/// Writes one warning line (`console.warn`).
pub fn warn(line: &str) {
    web_sys::console::warn_1(&JsValue::from_str(line));
}

/// The size of the Wasm linear memory, where the Rust heap lives (0 natively).
pub fn wasm_memory_bytes() -> u32 {
    #[cfg(target_arch = "wasm32")]
    {
        use wasm_bindgen::JsCast;
        wasm_bindgen::memory()
            .unchecked_into::<js_sys::WebAssembly::Memory>()
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_head_splits_into_method_url_and_headers() {
        let (method, url, read) =
            parse_head("PATCH\nhttps://api.example/v1/notes/1?x=1\nabc\n\0\n\nb-1\n\"v1\"\n\0");
        assert_eq!(method, "PATCH");
        assert_eq!(url, "https://api.example/v1/notes/1?x=1");
        // Present, absent, present but empty, present, present, absent: in
        // READ_WITH_REQUEST's order.
        assert_eq!(
            read,
            [
                Some("abc".to_owned()),
                None,
                Some(String::new()),
                Some("b-1".to_owned()),
                Some("\"v1\"".to_owned()),
                None
            ]
        );
        // Without test routes the test clock is not asked for, and reads as absent.
        assert_eq!(READ_WITH_REQUEST[5], crate::http::CLOCK_ADVANCE_HEADER);
        let (_, _, read) =
            parse_head("GET\nhttps://api.example/\nid\n\0\nhttps://app.example\n\n\0");
        assert_eq!(
            read,
            [
                Some("id".to_owned()),
                None,
                Some("https://app.example".to_owned()),
                Some(String::new()),
                None,
                None
            ]
        );
        // A short answer leaves the rest absent rather than failing.
        let (method, url, read) = parse_head("GET");
        assert_eq!((method.as_str(), url.as_str()), ("GET", ""));
        assert!(read.iter().all(Option::is_none));
    }
}

//! Starts the built Worker in workerd (through `tests/support/serve.mjs`) and gives tests a
//! base URL, an HTTP client and the Worker's log output.
//!
//! [`app`] is one shared instance per test binary with the `test` environment of
//! `wrangler.toml`; [`spawn`] starts a private instance with other settings and stops it on
//! drop. Each instance keeps its state in memory, so every run starts fresh.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running Worker.
pub struct TestApp {
    pub url: String,
    /// Every instance's URL (one unless started with `instances`).
    pub urls: Vec<String>,
    log_path: PathBuf,
    _process: Helper,
}

/// Options for a private instance.
#[derive(Default)]
pub struct Spawn {
    /// `wrangler.toml` environment; `None` means `test`, `Some("")` the top level.
    pub env: Option<&'static str>,
    /// Vars that override the environment's.
    pub vars: Vec<(&'static str, String)>,
    /// Bindings left out, to exercise failure paths.
    pub drop_bindings: Vec<&'static str>,
    /// Keep KV, D1 and Durable Object state in this folder instead of memory, so a later
    /// instance can start from it.
    pub persist: Option<PathBuf>,
    /// Run this many instances, each in its own isolate, sharing bindings and the limiter's
    /// Durable Object namespace (0 or 1: one).
    pub instances: usize,
    /// Leave out the static assets (the page), so the Worker is Miniflare's entry: its
    /// trigger endpoint (`/cdn-cgi/handler/scheduled`) reaches the assets router otherwise.
    pub no_assets: bool,
}

impl Spawn {
    /// Options that only override vars.
    pub fn with_vars(vars: &[(&'static str, &str)]) -> Self {
        Self {
            vars: vars.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ..Self::default()
        }
    }
}

/// Returns the shared instance, starting it on first use.
pub fn app() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| spawn(Spawn::default()))
}

/// Starts a private instance; it stops when the returned value is dropped.
pub fn spawn(opts: Spawn) -> TestApp {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let log_dir = root.join("target/test-logs");
    std::fs::create_dir_all(&log_dir).expect("create log dir");
    let log_path = log_dir.join(format!(
        "worker-{}-{}.log",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let vars: serde_json::Map<String, Value> = opts
        .vars
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.as_str())))
        .collect();

    let mut args: Vec<std::ffi::OsString> = vec![
        "tests/support/serve.mjs".into(),
        "--env".into(),
        opts.env.unwrap_or("test").into(),
        "--vars".into(),
        Value::Object(vars).to_string().into(),
        "--log".into(),
        log_path.clone().into(),
        "--quiet".into(),
    ];
    for binding in &opts.drop_bindings {
        args.extend(["--drop-binding".into(), (*binding).into()]);
    }
    if let Some(dir) = &opts.persist {
        args.extend(["--persist".into(), dir.clone().into()]);
    }
    if opts.instances > 1 {
        args.extend(["--instances".into(), opts.instances.to_string().into()]);
    }
    if opts.no_assets {
        args.push("--no-assets".into());
    }
    let (process, ready) = Helper::start(&args, "the Worker (build first: `make build`)");
    TestApp {
        url: ready["url"].as_str().expect("url in ready line").to_owned(),
        urls: ready["urls"]
            .as_array()
            .expect("urls in ready line")
            .iter()
            .map(|u| u.as_str().unwrap().to_owned())
            .collect(),
        log_path,
        _process: process,
    }
}

/// A helper process (`node <script> …`) that prints one JSON line when ready and stops when
/// its stdin closes, i.e. when this value is dropped or the test process exits.
pub struct Helper(Child);

impl Helper {
    /// Starts `node` with `args` and returns the process and its ready line.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S], what: &str) -> (Self, Value) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("node")
            .current_dir(root)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what} with node (run through `make test`): {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("read {what}'s ready line: {e}"));
        let ready = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{what} did not start (run `make setup`): {e}: {line:?}"));
        (Self(child), ready)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

impl TestApp {
    /// Returns the absolute URL for `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Returns a fresh client. Each test has its own runtime, so clients are not shared.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build client")
    }

    /// Returns the Worker's log lines that contain `needle`, waiting briefly for them to be
    /// flushed (log output reaches the file asynchronously).
    pub async fn log_lines_with(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            let lines: Vec<String> = text
                .lines()
                .filter(|l| l.contains(needle))
                .map(str::to_owned)
                .collect();
            if !lines.is_empty() || Instant::now() > deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Returns everything the Worker has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Where this instance's local D1 says it is: the second group of the bookmark that the
    /// readiness check (which reads the database) answers with, which counts every query run.
    pub async fn d1_position(&self) -> u64 {
        let resp = self
            .client()
            .get(self.at("/v1/health/ready"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let bookmark = resp
            .headers()
            .get("x-d1-bookmark")
            .and_then(|v| v.to_str().ok())
            .expect("the readiness check reads the database");
        let group = bookmark.split('-').nth(1).expect("a bookmark in groups");
        u64::from_str_radix(group, 16).expect("hex")
    }

    /// The mail the Worker has "sent" to `to` so far (its development log lines,
    /// `{"event":"mail",…}`), oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<Value> {
        let needle = format!("\"to\":{}", serde_json::to_string(to).unwrap());
        self.log_text()
            .lines()
            .filter(|l| l.contains(&needle))
            .filter_map(|l| serde_json::from_str::<Value>(&l[l.find('{')?..]).ok())
            .filter(|mail| mail["event"] == "mail" && mail["to"] == to)
            .collect()
    }

    /// The security notices mailed to `to` once there are `count` of them (mail without a
    /// sign-in link), oldest first; fails after 5 s.
    pub async fn notices_to(&self, to: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let notices: Vec<Value> = self
                .mails_to(to)
                .into_iter()
                .filter(|mail| mail["link"].is_null())
                .collect();
            if notices.len() >= count {
                return notices;
            }
            assert!(
                Instant::now() < deadline,
                "{count} notices to {to} were not mailed: {notices:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Returns the single structured request log line for `request_id`, parsed.
    pub async fn request_log(&self, request_id: &str) -> Value {
        let lines = self.log_lines_with(request_id).await;
        let parsed: Vec<Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .filter(|v| v["request_id"] == request_id)
            .collect();
        assert_eq!(parsed.len(), 1, "one log line per request, got {lines:?}");
        parsed.into_iter().next().unwrap()
    }
}

/// Asserts the error body shape and returns it: `{"error":{code,message,details,request_id}}`
/// with `Content-Type: application/json` and the request id echoed in `X-Request-Id`.
pub async fn assert_error(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let headers = resp.headers().clone();
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    // Every 401 carries one challenge (RFC 9110 §15.5.2), in the scheme the API accepts; a
    // 403 only when it refuses a service token's scope (RFC 6750 §3.1).
    let challenges = headers.get_all("www-authenticate").iter().count();
    match (status, header(&headers, "www-authenticate")) {
        (401, Some(challenge)) => {
            assert_eq!(challenges, 1, "one WWW-Authenticate on a 401");
            assert!(challenge.starts_with("Bearer"), "{challenge}");
        }
        (401, None) => panic!("a 401 without WWW-Authenticate"),
        (403, Some(challenge)) => {
            assert_eq!(challenges, 1);
            assert!(
                challenge.starts_with(r#"Bearer error="insufficient_scope", scope=""#),
                "{challenge}"
            );
        }
        (_, challenge) => assert_eq!(challenge, None, "WWW-Authenticate on a {status}"),
    }
    let body: Value = resp.json().await.expect("JSON error body");
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["details"].is_array(), "{body}");
    assert_eq!(
        error["request_id"].as_str(),
        header(&headers, "x-request-id"),
        "request id in body matches header"
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only `error` at top level"
    );
    body
}

/// Returns a header value as a string.
pub fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Asserts the security headers every response carries.
pub fn assert_security_headers(headers: &reqwest::header::HeaderMap) {
    for (name, value) in [
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        assert_eq!(header(headers, name), Some(value), "{name}");
    }
}

/// An allowed origin in the test environment (see `wrangler.toml`).
pub const ORIGIN: &str = "https://app.example.test";
/// A password that satisfies the length rule.
pub const PASSWORD: &str = "correct horse battery staple";

/// Returns an e-mail address no other test uses.
pub fn unique_email(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{nanos}-{n}@example.test")
}

/// A signed-in browser: the `Cookie` header value for its session.
#[derive(Debug, Clone)]
pub struct Browser {
    pub cookie: String,
}

impl TestApp {
    /// Creates an account and returns the response.
    pub async fn signup(&self, email: &str, password: &str) -> reqwest::Response {
        self.client()
            .post(self.at("/v1/auth/signup"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns the response.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.client()
            .post(self.at("/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Creates an account and logs it in.
    pub async fn new_user(&self, tag: &str) -> (String, Browser) {
        let email = unique_email(tag);
        assert_eq!(self.signup(&email, PASSWORD).await.status(), 201);
        let browser = self.browser(&email, PASSWORD).await;
        (email, browser)
    }

    /// Logs an existing account in.
    pub async fn browser(&self, email: &str, password: &str) -> Browser {
        let resp = self.login(email, password).await;
        assert_eq!(resp.status(), 200, "login of {email}");
        Browser {
            cookie: session_cookie(&resp).expect("login sets the session cookie"),
        }
    }

    /// Creates an administrator (through the test-only role route) and logs it in.
    pub async fn new_admin(&self) -> (String, Browser) {
        let email = unique_email("admin");
        assert_eq!(self.signup(&email, PASSWORD).await.status(), 201);
        let resp = self
            .client()
            .post(self.at("/v1/_test/set-role"))
            .json(&serde_json::json!({"email": email, "role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let browser = self.browser(&email, PASSWORD).await;
        (email, browser)
    }

    /// Sends a request as `browser`, from the allowed origin.
    pub fn as_browser(
        &self,
        browser: &Browser,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client()
            .request(method, self.at(path))
            .header("cookie", &browser.cookie)
            .header("origin", ORIGIN)
    }
}

impl TestApp {
    /// GETs `path` as `browser` and returns the JSON body, whatever the status.
    pub async fn get_json(&self, browser: &Browser, path: &str) -> Value {
        self.as_browser(browser, reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Returns `__Host-session=<token>` from a response's `Set-Cookie`, if it sets a session.
pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|v| v.starts_with("__Host-session=") && v.len() > "__Host-session=".len())
        .map(str::to_owned)
}

/// Returns the `Set-Cookie` header values.
pub fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// A real libSQL server (sqld) with JWT auth and migrations applied, one per test binary.
pub struct TursoServer {
    pub url: String,
    pub token: String,
    /// sqld's admin API, which counts the queries the server ran.
    pub admin_url: String,
    _process: Helper,
}

/// Returns the shared sqld, starting it on first use (`tests/support/sqld.mjs`).
pub fn turso_server() -> &'static TursoServer {
    static SERVER: OnceLock<TursoServer> = OnceLock::new();
    SERVER.get_or_init(private_turso_server)
}

/// Starts a private sqld; it stops when dropped.
pub fn private_turso_server() -> TursoServer {
    let (process, ready) = Helper::start(&["tests/support/sqld.mjs"], "sqld");
    TursoServer {
        url: ready["url"].as_str().unwrap().to_owned(),
        token: ready["token"].as_str().unwrap().to_owned(),
        admin_url: ready["admin_url"].as_str().unwrap().to_owned(),
        _process: process,
    }
}

impl TursoServer {
    /// The number of statements sqld has executed, by its own count.
    pub async fn query_count(&self) -> u64 {
        let stats: Value = reqwest::get(format!("{}/v1/namespaces/default/stats", self.admin_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["query_count"]
            .as_u64()
            .expect("query_count in sqld stats")
    }

    /// The first column of the first row `sql` returns, read from sqld directly (Hrana over
    /// HTTP), to see what the Worker left in the database.
    pub async fn scalar(&self, sql: &str, args: &[&str]) -> Value {
        self.rows(sql, args).await[0][0].clone()
    }

    /// Every row `sql` returns, each as its Hrana values (`{"type","value"}`), read from sqld
    /// directly.
    pub async fn rows(&self, sql: &str, args: &[&str]) -> Vec<Vec<Value>> {
        let args: Vec<Value> = args
            .iter()
            .map(|a| serde_json::json!({"type": "text", "value": a}))
            .collect();
        let body = serde_json::json!({"requests": [
            {"type": "execute", "stmt": {"sql": sql, "args": args}},
            {"type": "close"},
        ]});
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/v2/pipeline", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = &answer["results"][0]["response"]["result"]["rows"];
        serde_json::from_value(rows.clone()).unwrap_or_else(|_| panic!("rows: {answer}"))
    }

    /// The vars that point a Worker at this server.
    pub fn worker_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DB_BACKEND", "turso".to_owned()),
            ("TURSO_URL", self.url.clone()),
            ("TURSO_AUTH_TOKEN", self.token.clone()),
        ]
    }
}

/// The database backends every data test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    D1,
    Turso,
}

/// Returns the shared Worker for `backend`: the `test` environment on D1, or the same
/// environment with `DB_BACKEND=turso` pointed at the shared sqld.
pub fn app_on(backend: Backend) -> &'static TestApp {
    match backend {
        Backend::D1 => app(),
        Backend::Turso => {
            static APP: OnceLock<TestApp> = OnceLock::new();
            APP.get_or_init(|| {
                spawn(Spawn {
                    vars: turso_server().worker_vars(),
                    ..Spawn::default()
                })
            })
        }
    }
}

/// A real Redis with the Upstash-compatible REST front before it
/// (`tests/support/redis.mjs`). Dropping it stops both.
pub struct CacheServers {
    /// The REST front's URL and token, as a Worker's `UPSTASH_REDIS_REST_*` would hold them.
    pub url: String,
    pub token: String,
    /// The `redis-server` process, for tests that pause or stop it.
    pub redis_pid: u32,
    _process: Helper,
}

/// Starts a private Redis and REST front.
pub fn cache_servers() -> CacheServers {
    let (process, ready) = Helper::start(&["tests/support/redis.mjs"], "Redis");
    CacheServers {
        url: ready["url"].as_str().unwrap().to_owned(),
        token: ready["token"].as_str().unwrap().to_owned(),
        redis_pid: ready["redis_pid"].as_u64().unwrap() as u32,
        _process: process,
    }
}

impl CacheServers {
    /// The vars that attach a Worker to this L2, plus `extra` (which may override them).
    /// The L2 timeout is 1 s rather than 50 ms: tests that run in parallel on two cores can
    /// stall a loopback round trip past 50 ms, and only the outage test is about the timeout.
    pub fn worker_vars(&self, extra: &[(&'static str, &str)]) -> Spawn {
        let mut vars = vec![
            ("UPSTASH_REDIS_REST_URL", self.url.clone()),
            ("UPSTASH_REDIS_REST_TOKEN", self.token.clone()),
            ("CACHE_TIMEOUT_MS", "1000".to_owned()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        Spawn {
            vars,
            ..Spawn::default()
        }
    }

    /// Runs one Redis command through the REST front and returns its `result`.
    pub async fn command(&self, args: &[&str]) -> Value {
        let resp = reqwest::Client::new()
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&args)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{args:?}");
        let body: Value = resp.json().await.unwrap();
        body["result"].clone()
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`, `KILL`) to `redis-server`.
    pub fn signal_redis(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.redis_pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.redis_pid);
    }
}

//! [`Ctx`]: one request's state, and the methods handlers use to read the request and reach
//! the outside (database, cache, sessions, limiter, clock).
//!
//! The pipeline builds a `Ctx` from the incoming request, fills in what routing and
//! authentication found, lends it to the handler, and reads back what the request did (the
//! limits checked, the cache outcome, warnings, the D1 bookmark) as a [`Trail`] for the
//! final headers and the log line.

use crate::auth::kv_store::KvSessions;
use crate::auth::session::Session;
use crate::auth::{unauthenticated, Principal};
use crate::cache::{self, upstash::Upstash, Cache};
use crate::config::{Config, DbBackend};
use crate::db::{Database, Db};
use crate::domain::{Issue, UserId};
use crate::error::{AppError, ErrorCode, FieldIssue};
use crate::http::log::Warning;
use crate::http::{cursor, input, json, page, query, ApiResponse, Method};
use crate::platform::{Bindings, RawRequest, RuntimeClock};
use crate::ratelimit::client::DurableLimiter;
use crate::ratelimit::{self, Checked, KeyKind, Verdict};
use crate::router::{Deprecation, Params, Route};
use futures_util::future::LocalBoxFuture;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// What a handler returns: a response, or an error the pipeline renders.
pub type Handled<'a> = LocalBoxFuture<'a, Result<ApiResponse, AppError>>;

/// A route handler: a plain function pointer, so the route table stays a `static`.
pub type Handler = for<'a> fn(&'a mut Ctx) -> Handled<'a>;

/// Turns `async fn(&mut Ctx) -> Result<ApiResponse, AppError>` into a [`Handler`].
macro_rules! handler {
    ($f:path) => {{
        const HANDLER: $crate::context::Handler = |cx| Box::pin($f(cx));
        HANDLER
    }};
}
pub(crate) use handler;

/// The cache as handlers use it: L2 through Upstash, time from the runtime.
pub type AppCache<'a> = Cache<'a, Upstash, RuntimeClock>;

/// The request as it arrived, adapted from the runtime.
pub struct Incoming {
    /// The method token as sent (for the log line); `method` is `None` for one the API never
    /// routes.
    pub method_token: String,
    pub method: Option<Method>,
    /// The origin the request reached, `scheme://host[:port]`.
    pub origin: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    /// Headers and body, read on demand.
    pub raw: RawRequest,
}

/// The matched route's pattern, caching and deprecation.
#[derive(Debug, Clone, Copy)]
pub struct Matched {
    pub path: &'static str,
    pub cache_control: Option<&'static str>,
    pub deprecation: Option<Deprecation>,
}

/// What the request did, for the final headers and the log line.
#[derive(Debug, Default)]
pub struct Trail {
    /// What the final stage needs of the matched route, if one matched.
    pub route: Option<Matched>,
    /// The answer is a CORS preflight, which carries its own CORS headers.
    pub preflight: bool,
    /// The caller, for the log line.
    pub user_id: Option<String>,
    /// Rate-limit policies checked, for the `RateLimit` headers.
    pub checked: Vec<Checked>,
    /// The cache's outcome and warnings.
    pub cache: cache::Trail,
    /// Warnings from the rest of the request (the limiter).
    pub warnings: Vec<Warning>,
    /// The D1 bookmark after this request's queries.
    pub bookmark: Option<String>,
}

/// Everything a handler may use for one request.
pub struct Ctx {
    incoming: Incoming,
    config: Rc<Config>,
    bindings: Bindings,
    request_id: String,
    traceparent: String,
    now: u64,
    clock_advance: u64,
    /// The client's `x-d1-bookmark`, already checked.
    bookmark: Option<String>,
    route: Option<&'static Route<Handler>>,
    params: Params,
    principal: Option<Principal>,
    /// The caller as logged and as per-user limits key it (`Principal::log_id`).
    caller: Option<String>,
    db: OnceCell<Rc<Db>>,
    /// One limiter client per request, so its namespace is looked up at most once.
    limiter: OnceCell<DurableLimiter>,
    checked: Vec<Checked>,
    warnings: Vec<Warning>,
    cache_trail: RefCell<cache::Trail>,
    preflight: bool,
}

/// The request-level facts the pipeline decided before building the context.
pub struct Facts {
    pub request_id: String,
    pub traceparent: String,
    /// The request's time, Unix milliseconds.
    pub now: u64,
    /// How far the test clock moves this request's time (0 unless `TEST_ROUTES`).
    pub clock_advance: u64,
    pub bookmark: Option<String>,
}

impl Ctx {
    /// Builds the context for one request.
    pub fn new(incoming: Incoming, config: Rc<Config>, bindings: Bindings, facts: Facts) -> Self {
        Self {
            incoming,
            config,
            bindings,
            request_id: facts.request_id,
            traceparent: facts.traceparent,
            now: facts.now,
            clock_advance: facts.clock_advance,
            bookmark: facts.bookmark,
            route: None,
            params: Params::new(),
            principal: None,
            caller: None,
            db: OnceCell::new(),
            limiter: OnceCell::new(),
            checked: Vec::new(),
            warnings: Vec::new(),
            cache_trail: RefCell::default(),
            preflight: false,
        }
    }

    // ---- the request -------------------------------------------------------------------

    /// Returns a request header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.incoming.raw.header(name)
    }

    /// Returns the origin the request reached, e.g. `https://api.example.com`.
    pub fn own_origin(&self) -> &str {
        &self.incoming.origin
    }

    /// Returns the method, if the API routes it.
    pub fn method(&self) -> Option<Method> {
        self.incoming.method
    }

    /// Returns the path, without the query.
    pub fn path(&self) -> &str {
        &self.incoming.path
    }

    fn query_string(&self) -> &str {
        &self.incoming.query
    }

    /// Returns a query parameter's value, decoded; 422 when it is given more than once.
    pub fn query(&self, name: &str) -> Result<Option<String>, AppError> {
        query::get(self.query_string(), name)
    }

    /// Reads `limit` and `cursor` from the query string (see [`page::params`]); a cursor
    /// is accepted only from the caller it was issued to.
    pub fn page<T: serde::de::DeserializeOwned>(&self) -> Result<page::Page<T>, AppError> {
        page::params(
            self.query_string(),
            &self.config.cursor_secret,
            self.cursor_scope(),
        )
    }

    /// Returns the `next_cursor` for `position`, signed for this caller.
    pub fn cursor<T: serde::Serialize>(&self, position: &T) -> String {
        cursor::encode(&self.config.cursor_secret, self.cursor_scope(), position)
    }

    fn cursor_scope(&self) -> &str {
        self.caller.as_deref().unwrap_or_default()
    }

    /// Returns a path parameter captured by the route pattern.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses the `{id}` path parameter with `parse`. A malformed id names nothing, so it
    /// answers exactly like an unknown one: 404.
    pub fn id<T>(&self, parse: fn(&str) -> Result<T, Issue>) -> Result<T, AppError> {
        self.param("id")
            .and_then(|raw| parse(raw).ok())
            .ok_or_else(|| AppError::new(ErrorCode::NotFound))
    }

    /// Reads the body as JSON: 415 for another media type (on `PATCH`, another patch format)
    /// or a compressed body, 413 past the
    /// route's limit (checked against `Content-Length` first and while streaming), 400 for
    /// bad syntax.
    pub async fn json_body(&mut self) -> Result<serde_json::Value, AppError> {
        let patch = self.method() == Some(Method::Patch);
        json::check_content_type(self.header("content-type").as_deref(), patch)?;
        json::check_content_encoding(self.header("content-encoding").as_deref())?;
        let limit = self
            .route
            .and_then(|r| r.body_limit)
            .unwrap_or(self.config.max_body_bytes);
        let declared = self
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = self.incoming.raw.read_body(declared, limit).await?;
        json::parse(&bytes)
    }

    /// Reads the body as a JSON object whose fields are all in `allowed`, ready to be read
    /// field by field into domain types.
    pub async fn input(&mut self, allowed: &[&str]) -> Result<input::Input, AppError> {
        input::Input::new(self.json_body().await?, allowed)
    }

    // ---- request facts -----------------------------------------------------------------

    /// Returns the request's time, Unix milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Returns the settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Returns the request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Returns the authenticated caller (the pipeline guarantees one on non-public routes).
    pub fn principal(&self) -> Result<&Principal, AppError> {
        self.principal
            .as_ref()
            .ok_or_else(|| unauthenticated(false))
    }

    /// Returns the caller's browser session, or 403 for a service token.
    pub fn session(&self) -> Result<(&str, &Session), AppError> {
        self.principal()?.session()
    }

    /// Returns the signed-in user's id, or 403 for a service token (services own nothing).
    pub fn user_id(&self) -> Result<&UserId, AppError> {
        self.session().map(|(_, s)| &s.user_id)
    }

    // ---- the outside -------------------------------------------------------------------

    /// Returns the database, opening it (a D1 session, or the Turso client) on first use.
    pub fn db(&self) -> Result<Rc<Db>, AppError> {
        self.open_db(false)
    }

    /// Returns the database for a read whose result is cached: on D1, a session that starts
    /// on the primary, so the entry is at least as new as the version it is filed under.
    pub fn db_for_fill(&self) -> Result<Rc<Db>, AppError> {
        self.open_db(true)
    }

    fn open_db(&self, primary: bool) -> Result<Rc<Db>, AppError> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let constraint = match self.config.database {
            DbBackend::D1 if primary => Some("first-primary"),
            _ => self.bookmark.as_deref(),
        };
        let db = self.bindings.database(
            &self.config.database,
            constraint,
            Some(self.traceparent.clone()),
        )?;
        Ok(self.db.get_or_init(|| Rc::new(db)).clone())
    }

    /// Returns `user`'s view of the cache for this request.
    pub fn cache<'a>(&'a self, user: &'a UserId) -> AppCache<'a> {
        let settings = &self.config.cache;
        let remote = settings
            .upstash
            .as_ref()
            .map(|u| Upstash::new(&u.url, &u.token, Duration::from_millis(u.timeout_ms)));
        Cache::new(
            settings,
            remote,
            RuntimeClock,
            user.as_str(),
            &self.request_id,
            &self.cache_trail,
        )
    }

    /// Runs `work` after the answer has gone, so the answer neither waits for it nor reveals
    /// by its timing whether it ran. A failure is logged as the warning `event`.
    pub fn after_answer(
        &self,
        event: &'static str,
        work: impl std::future::Future<Output = Result<(), AppError>> + 'static,
    ) {
        let request_id = self.request_id.clone();
        self.bindings.wait_until(async move {
            if let Err(err) = work.await {
                let warning = Warning::new(event)
                    .with("cause", err.cause().unwrap_or(err.message()).to_owned());
                crate::platform::warn(&warning.to_line(&request_id));
            }
        });
    }

    /// Returns the session store.
    pub fn sessions(&self) -> Result<KvSessions, AppError> {
        self.bindings.sessions(self.config.session.cache_ms)
    }

    /// Returns the rate limiter's counters.
    pub fn limiter(&self) -> &DurableLimiter {
        self.limiter
            .get_or_init(|| self.bindings.limiter(&self.traceparent))
    }

    /// Checks the route's policies that count by `kind` against `key` (e.g. the e-mail a
    /// login names); 429 when one is exhausted.
    pub async fn limit(&mut self, kind: KeyKind, key: &str) -> Result<(), AppError> {
        let verdict = self.check_limits(kind, key).await;
        self.record(verdict)
    }

    /// Checks the route's policies of one kind without recording the outcome, so the
    /// pipeline can run it beside authentication.
    pub async fn check_limits(&self, kind: KeyKind, key: &str) -> Verdict {
        self.check_limits_by(kind, || key.to_owned()).await
    }

    /// Checks the route's per-IP policies, keyed by the client's address; the address is
    /// read only when the route has such a policy.
    pub async fn check_ip_limits(&self) -> Verdict {
        self.check_limits_by(KeyKind::Ip, || {
            ratelimit::client_key(self.header("cf-connecting-ip").as_deref())
        })
        .await
    }

    async fn check_limits_by(&self, kind: KeyKind, key: impl FnOnce() -> String) -> Verdict {
        let names = self.route.map_or(&[][..], |r| r.rate_limits);
        let policies: Vec<_> = names
            .iter()
            .filter_map(|name| self.config.policy(name))
            .filter(|p| p.key == kind)
            .collect();
        if policies.is_empty() {
            return Verdict::default();
        }
        let key = key();
        let checks: Vec<_> = policies.into_iter().map(|p| (p, key.clone())).collect();
        // The clock as the check begins, not as the request did: a lease is timed from the
        // ask, and a request that waited on authentication would otherwise cut its leases
        // short, or spend a token after its lease ended.
        let now = crate::ids::now_ms() + self.clock_advance;
        ratelimit::enforce(self.limiter(), &checks, now).await
    }

    /// Adds a warning line to the request's log output.
    pub fn warn(&mut self, warning: Warning) {
        self.warnings.push(warning);
    }

    /// Keeps what a limit check found for the response headers and the log; returns its
    /// error, if any.
    pub fn record(&mut self, verdict: Verdict) -> Result<(), AppError> {
        self.checked.extend(verdict.checked);
        self.warnings.extend(verdict.warnings);
        verdict.error.map_or(Ok(()), Err)
    }

    // ---- set by the pipeline -----------------------------------------------------------

    /// Enters the matched route with its path parameters.
    pub fn enter(&mut self, route: &'static Route<Handler>, params: Params) {
        self.route = Some(route);
        self.params = params;
    }

    /// Sets the authenticated caller; returns its id for logs and per-user limits.
    pub fn authenticated(&mut self, principal: Principal) -> &str {
        let caller = self.caller.insert(principal.log_id());
        self.principal = Some(principal);
        caller
    }

    /// Marks the answer as a CORS preflight.
    pub fn preflight(&mut self) {
        self.preflight = true;
    }

    /// Ends the request: what it did, for the final headers and the log line.
    pub fn into_trail(self) -> Trail {
        Trail {
            route: self.route.map(|r| Matched {
                path: r.path,
                cache_control: r.cache_control,
                deprecation: r.deprecation,
            }),
            preflight: self.preflight,
            user_id: self.caller,
            checked: self.checked,
            cache: self.cache_trail.into_inner(),
            warnings: self.warnings,
            bookmark: self.db.get().and_then(|db| db.bookmark()),
        }
    }
}

/// Reports an invalid header as a 400 naming it.
pub fn bad_header(name: &'static str) -> AppError {
    AppError::new(ErrorCode::BadRequest)
        .with_message(format!("The {name} header is malformed."))
        .with_details(vec![FieldIssue::new(name, "invalid_format")])
}

//! The route table and the request pipeline that runs every request through it:
//! request id → trace context → configuration → routing (404/405/OPTIONS/CORS preflight) →
//! handler → error mapping → security and CORS headers → one log line.
//!
//! Everything here that decides something delegates to a pure module ([`crate::router`],
//! [`crate::http`], [`crate::error`]); this file only adapts `worker` types to them.

use crate::accounts::Users;
use crate::auth::kv_store::KvSessions;
use crate::auth::session::{self, SessionStore};
use crate::auth::token::SessionToken;
use crate::auth::{cookie, csrf, service_token, unauthenticated, Principal};
use crate::cache::{self, upstash::Upstash, Cache, Clock};
use crate::config::{Config, DbBackend};
use crate::config::{D1_BINDING, KV_BINDING};
use crate::db::{Database, Db};
use crate::error::AppError;
use crate::handlers::{admin, auth, health, testing};
use crate::http::log::{rfc3339_ms, RequestLog};
use crate::http::trace::TraceContext;
use crate::http::{cors, json, request_id, security, ApiResponse, Method};
use crate::ids::now_ms;
use crate::notes::handlers as notes;
use crate::ratelimit::{self, client as limiter, Checked, KeyKind};
use crate::router::{self, Access, Match, Params, Role, Route};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use worker::{Env, Request, Response};

/// What a handler returns: a response, or an error the pipeline renders.
pub type Handled = LocalBoxFuture<'static, Result<ApiResponse, AppError>>;

/// A route handler. Plain function pointers keep the table a `static`.
pub type Handler = fn(Ctx) -> Handled;

/// Rate-limit policies by name. Every route has the per-IP policy; authenticated routes add
/// the per-user one; login and signup add tight per-endpoint ones. The limiter enforces them.
const IP: &[&str] = &["ip"];
const IP_USER: &[&str] = &["ip", "user"];
const SIGNUP: &[&str] = &["ip", "signup-ip"];
const LOGIN: &[&str] = &["ip", "login-ip", "login-email"];

/// Note bodies may be 64 KiB of text; JSON escaping can roughly double that on the wire.
const NOTE_BODY_LIMIT: usize = 256 * 1024;

const USER: Access = Access::Role(Role::User);
const ADMIN: Access = Access::Role(Role::Admin);

/// Defaults for a route entry; each route overrides what it needs.
const fn route(method: Method, path: &'static str, handler: Handler) -> Route<Handler> {
    Route {
        method,
        path,
        handler,
        access: Access::Public,
        sensitive: false,
        rate_limits: IP,
        cache_control: None,
        body_limit: None,
        test_only: false,
    }
}

/// Every route the API exposes. The pipeline reads access, limits and caching from here;
/// handlers never re-check them.
pub static ROUTES: &[Route<Handler>] = &[
    route(Method::Get, "/v1/health", |cx| Box::pin(health::live(cx))),
    route(Method::Get, "/v1/health/ready", |cx| {
        Box::pin(health::ready(cx))
    }),
    Route {
        rate_limits: SIGNUP,
        ..route(Method::Post, "/v1/auth/signup", |cx| {
            Box::pin(auth::signup(cx))
        })
    },
    Route {
        rate_limits: LOGIN,
        ..route(Method::Post, "/v1/auth/login", |cx| {
            Box::pin(auth::login(cx))
        })
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        ..route(Method::Post, "/v1/auth/logout", |cx| {
            Box::pin(auth::logout(cx))
        })
    },
    Route {
        access: USER,
        sensitive: true,
        rate_limits: IP_USER,
        ..route(Method::Post, "/v1/auth/logout-all", |cx| {
            Box::pin(auth::logout_all(cx))
        })
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        ..route(Method::Get, "/v1/auth/me", |cx| Box::pin(auth::me(cx)))
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        ..route(Method::Get, "/v1/auth/sessions", |cx| {
            Box::pin(auth::list_sessions(cx))
        })
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        ..route(Method::Delete, "/v1/auth/sessions/{id}", |cx| {
            Box::pin(auth::delete_session(cx))
        })
    },
    Route {
        access: USER,
        sensitive: true,
        rate_limits: IP_USER,
        ..route(Method::Post, "/v1/auth/password", |cx| {
            Box::pin(auth::change_password(cx))
        })
    },
    Route {
        access: ADMIN,
        sensitive: true,
        rate_limits: IP_USER,
        ..route(Method::Get, "/v1/admin/users", |cx| {
            Box::pin(admin::list_users(cx))
        })
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        body_limit: Some(NOTE_BODY_LIMIT),
        ..route(Method::Post, "/v1/notes", |cx| Box::pin(notes::create(cx)))
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        cache_control: Some("private, no-cache"),
        ..route(Method::Get, "/v1/notes", |cx| Box::pin(notes::list(cx)))
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        cache_control: Some("private, no-cache"),
        ..route(Method::Get, "/v1/notes/{id}", |cx| Box::pin(notes::get(cx)))
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        body_limit: Some(NOTE_BODY_LIMIT),
        ..route(Method::Patch, "/v1/notes/{id}", |cx| {
            Box::pin(notes::update(cx))
        })
    },
    Route {
        access: USER,
        rate_limits: IP_USER,
        ..route(Method::Delete, "/v1/notes/{id}", |cx| {
            Box::pin(notes::delete(cx))
        })
    },
    Route {
        access: ADMIN,
        sensitive: true,
        rate_limits: IP_USER,
        ..route(Method::Get, "/v1/admin/notes/{id}", |cx| {
            Box::pin(notes::admin_get(cx))
        })
    },
    Route {
        test_only: true,
        ..route(Method::Get, "/v1/_test/panic", |cx| {
            Box::pin(testing::panic(cx))
        })
    },
    Route {
        test_only: true,
        ..route(Method::Post, "/v1/_test/echo", |cx| {
            Box::pin(testing::echo(cx))
        })
    },
    Route {
        test_only: true,
        ..route(Method::Post, "/v1/_test/set-role", |cx| {
            Box::pin(testing::set_role(cx))
        })
    },
    Route {
        test_only: true,
        rate_limits: &[],
        ..route(Method::Get, "/v1/_test/unlimited", |cx| {
            Box::pin(testing::limited(cx))
        })
    },
    Route {
        test_only: true,
        rate_limits: &["ip", "test"],
        ..route(Method::Get, "/v1/_test/limited", |cx| {
            Box::pin(testing::limited(cx))
        })
    },
    Route {
        test_only: true,
        rate_limits: &[],
        ..route(Method::Get, "/v1/_test/memory", |cx| {
            Box::pin(testing::memory(cx))
        })
    },
    Route {
        test_only: true,
        ..route(Method::Post, "/v1/_test/bump-epoch", |cx| {
            Box::pin(testing::bump_epoch(cx))
        })
    },
    Route {
        test_only: true,
        rate_limits: &[],
        ..route(Method::Get, "/v1/_test/cache-stats", |cx| {
            Box::pin(testing::cache_stats(cx))
        })
    },
];

/// Everything a handler may use for one request.
pub struct Ctx {
    pub req: Request,
    pub env: Env,
    pub config: Rc<Config>,
    pub params: Params,
    pub request_id: String,
    /// The request's start time, Unix milliseconds.
    pub now: u64,
    /// The authenticated caller; always present on non-public routes.
    pub principal: Option<Principal>,
    /// The route's rate-limit policy names.
    pub rate_limits: &'static [&'static str],
    /// The route's body limit, if it overrides the configured one.
    pub body_limit: Option<usize>,
    /// Policies checked so far, for the `RateLimit` headers.
    checked: Rc<RefCell<Vec<Checked>>>,
    /// The cache outcome, for `Server-Timing` and the log line.
    cache_report: cache::ReportSlot,
    db: DbSlot,
}

/// The cache as handlers use it: L2 through Upstash, time from the runtime.
pub type AppCache<'a> = Cache<'a, Upstash, RuntimeClock>;

/// Time and timers from the Workers runtime.
pub struct RuntimeClock;

impl Clock for RuntimeClock {
    fn now(&self) -> u64 {
        now_ms()
    }

    async fn sleep(&self, ms: u64) {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

/// The request's database handle, opened on first use and shared with the pipeline (which
/// reads the D1 bookmark from it at the end).
#[derive(Clone, Default)]
struct DbSlot {
    db: Rc<OnceCell<Rc<Db>>>,
    /// The client's `x-d1-bookmark`, if any.
    bookmark: Option<String>,
    /// This request's `traceparent`, for outbound calls.
    traceparent: String,
}

impl DbSlot {
    /// Opens the database; `primary` starts a D1 session on the primary rather than any
    /// replica (reads that fill the cache must not come from a lagging replica).
    fn open(&self, env: &Env, config: &Config, primary: bool) -> Result<Rc<Db>, AppError> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let constraint = if primary {
            Some("first-primary")
        } else {
            self.bookmark.as_deref()
        };
        let db = match &config.database {
            DbBackend::D1 => Db::D1(crate::db::d1::D1::new(env, D1_BINDING, constraint)?),
            DbBackend::Turso {
                url,
                auth_token,
                timeout_ms,
            } => Db::Turso(crate::db::turso::Turso::new(
                url,
                auth_token.clone(),
                std::time::Duration::from_millis(*timeout_ms),
                Some(self.traceparent.clone()),
            )),
        };
        Ok(self.db.get_or_init(|| Rc::new(db)).clone())
    }

    fn bookmark(&self) -> Option<String> {
        self.db.get().and_then(|db| db.bookmark())
    }
}

impl Ctx {
    /// Returns the database, opening it (a D1 session, or the Turso client) on first use.
    pub fn db(&self) -> Result<Rc<Db>, AppError> {
        self.db.open(&self.env, &self.config, false)
    }

    /// Returns the database for a read whose result is cached: on D1, a session that starts
    /// on the primary, so the entry is at least as new as the version it is filed under.
    pub fn db_for_fill(&self) -> Result<Rc<Db>, AppError> {
        self.db.open(&self.env, &self.config, true)
    }

    /// Returns `user`'s view of the cache for this request.
    pub fn cache<'a>(&'a self, user: &'a str) -> AppCache<'a> {
        let settings = &self.config.cache;
        let remote = settings.upstash.as_ref().map(|u| {
            Upstash::new(
                &u.url,
                &u.token,
                std::time::Duration::from_millis(u.timeout_ms),
            )
        });
        Cache::new(
            settings,
            remote,
            RuntimeClock,
            user,
            &self.request_id,
            self.cache_report.clone(),
        )
    }

    /// Returns the authenticated caller (the pipeline guarantees one on non-public routes).
    pub fn principal(&self) -> Result<&Principal, AppError> {
        self.principal
            .as_ref()
            .ok_or_else(|| unauthenticated(false))
    }

    /// Checks the route's policies keyed by `kind` (e.g. the e-mail a login names) against
    /// `key`; 429 when one is exhausted.
    pub async fn rate_limit(&self, kind: KeyKind, key: &str) -> Result<(), AppError> {
        let checks: Vec<_> = route_policies(&self.config, self.rate_limits, kind)
            .map(|p| (p, key.to_owned()))
            .collect();
        if checks.is_empty() {
            return Ok(());
        }
        let (checked, err) = limiter::check(
            &self.env,
            &checks,
            self.now,
            &self.request_id,
            &self.db.traceparent,
        )
        .await;
        self.checked.borrow_mut().extend(checked);
        err.map_or(Ok(()), Err)
    }

    /// Returns a path parameter captured by the route pattern.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Returns a request header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.req.headers().get(name).ok().flatten()
    }

    /// Reads the body as JSON: 415 for another media type, 413 past the configured limit
    /// (checked against `Content-Length` first and while streaming), 400 for bad syntax.
    pub async fn json_body(&mut self) -> Result<serde_json::Value, AppError> {
        json::check_content_type(self.header("content-type").as_deref())?;
        let limit = self.body_limit.unwrap_or(self.config.max_body_bytes);
        let bytes = read_limited(&mut self.req, limit).await?;
        json::parse(&bytes)
    }
}

/// Reads at most `limit` bytes of body, stopping as soon as the limit is passed so an
/// oversized upload is never buffered whole.
async fn read_limited(req: &mut Request, limit: usize) -> Result<Vec<u8>, AppError> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(json::too_large(limit));
    }
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new()); // no body at all
    };
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::new(crate::ErrorCode::BadRequest)
                .with_message("The request body could not be read.")
                .with_cause(e)
        })?;
        if body.len() + chunk.len() > limit {
            return Err(json::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

thread_local! {
    /// Settings parsed once per isolate; a bad value is remembered and reported per request.
    static CONFIG: OnceCell<Result<Rc<Config>, crate::config::ConfigError>> =
        const { OnceCell::new() };
}

fn load_config(env: &Env) -> Result<Rc<Config>, crate::config::ConfigError> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| {
            Config::parse(|name| {
                env.var(name)
                    .map(|v| v.to_string())
                    .or_else(|_| env.secret(name).map(|v| v.to_string()))
                    .ok()
            })
            .map(Rc::new)
        })
        .clone()
    })
}

/// The route's policies of one key kind, as configured.
fn route_policies<'c>(
    config: &'c Config,
    names: &'static [&'static str],
    kind: KeyKind,
) -> impl Iterator<Item = &'c ratelimit::Policy> {
    names
        .iter()
        .filter_map(|name| config.policy(name))
        .filter(move |p| p.key == kind)
}

/// Facts about the request that the final stage (headers, log line) needs.
struct Summary {
    route: &'static str,
    cache_control: Option<&'static str>,
    /// CORS headers already set (preflight answers set their own).
    cors_done: bool,
    /// The caller, for the log line.
    user_id: Option<String>,
    /// Rate-limit policies checked, for the `RateLimit` headers.
    checked: Rc<RefCell<Vec<Checked>>>,
    cache_report: cache::ReportSlot,
    db: DbSlot,
}

/// Runs one request through the whole pipeline. Never fails: every error becomes a
/// structured response.
pub async fn handle(req: Request, env: Env) -> Response {
    let started = now_ms();
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let request_id = request_id::resolve(header("x-request-id").as_deref(), started);
    let trace = TraceContext::continue_or_start(header("traceparent").as_deref());
    let origin = header("origin");
    // The raw token: `worker::Method` folds methods it does not know into GET.
    let method_token = req.inner().method();
    let method = Method::parse(&method_token);

    let mut summary = Summary {
        route: "unmatched",
        cache_control: None,
        cors_done: false,
        user_id: None,
        checked: Rc::default(),
        cache_report: Rc::default(),
        db: DbSlot {
            db: Rc::default(),
            bookmark: header("x-d1-bookmark"),
            traceparent: trace.header_value(),
        },
    };
    let config = load_config(&env);
    let result = match &config {
        Ok(config) => {
            dispatch(
                req,
                env,
                config.clone(),
                method,
                &request_id,
                started,
                &mut summary,
            )
            .await
        }
        Err(err) => Err(AppError::internal(err)),
    };

    let (mut resp, error) = match result {
        Ok(resp) => (resp, None),
        Err(err) => (ApiResponse::from_error(&err, &request_id), Some(err)),
    };
    security::apply(&mut resp.headers, summary.cache_control);
    if !summary.cors_done {
        let allowed = config.as_ref().map(|c| c.allowed_origins.as_slice());
        cors::apply(&mut resp.headers, allowed.unwrap_or(&[]), origin.as_deref());
    }
    if let Some((policy, limit)) = ratelimit::header_values(&summary.checked.borrow()) {
        resp.headers.push(("RateLimit-Policy", policy));
        resp.headers.push(("RateLimit", limit));
    }
    if let Some(bookmark) = summary.db.bookmark() {
        resp.headers.push(("X-D1-Bookmark", bookmark));
    }
    let cache_report = summary.cache_report.borrow_mut().take();
    if let Some(report) = &cache_report {
        resp.headers.push(("Server-Timing", report.server_timing()));
    }
    resp.headers.push(("X-Request-Id", request_id.clone()));
    resp.headers.push(("traceparent", trace.header_value()));
    if method == Some(Method::Head) {
        resp.body.clear();
    }

    let line = RequestLog {
        time: rfc3339_ms(started),
        level: RequestLog::level_for(resp.status),
        request_id: &request_id,
        trace_id: &trace.trace_id,
        method: &method_token,
        route: summary.route,
        status: resp.status,
        duration_ms: now_ms().saturating_sub(started),
        user_id: summary.user_id.as_deref(),
        error_code: error.as_ref().map(|e| e.code().as_str()),
        cause: error.as_ref().and_then(|e| e.cause()),
        cache: cache_report.as_ref().map(|r| r.outcome.as_str()),
        cache_error: cache_report.as_ref().and_then(|r| r.error.as_deref()),
    };
    worker::console_log!("{}", line.to_line());

    into_worker_response(resp)
}

/// Routes the request and runs its handler, or answers 404/405/OPTIONS itself.
async fn dispatch(
    req: Request,
    env: Env,
    config: Rc<Config>,
    method: Option<Method>,
    request_id: &str,
    now: u64,
    summary: &mut Summary,
) -> Result<ApiResponse, AppError> {
    let path = req.path();
    if summary
        .db
        .bookmark
        .as_deref()
        .is_some_and(|b| !valid_bookmark(b))
    {
        return Err(AppError::new(crate::ErrorCode::BadRequest)
            .with_message("The x-d1-bookmark header is malformed.")
            .with_details(vec![crate::error::FieldIssue::new(
                "x-d1-bookmark",
                "invalid_format",
            )]));
    }
    let Some(method) = method else {
        // A method the API never routes: 405 on a known path, 404 elsewhere.
        return Err(match router::allow_for(ROUTES, &path, config.test_routes) {
            Some(allow) => method_not_allowed(allow),
            None => AppError::new(crate::ErrorCode::NotFound),
        });
    };

    if method == Method::Options {
        let allow = router::allow_for(ROUTES, &path, config.test_routes)
            .ok_or_else(|| AppError::new(crate::ErrorCode::NotFound))?;
        let headers = req.headers();
        let origin = headers.get("origin").ok().flatten();
        let requested = headers.get("access-control-request-method").ok().flatten();
        let mut resp = ApiResponse::empty(204).with_header("Allow", allow.clone());
        if cors::is_preflight(method, origin.as_deref(), requested.as_deref()) {
            cors::apply_preflight(
                &mut resp.headers,
                &config.allowed_origins,
                origin.as_deref(),
                &allow,
            );
            summary.cors_done = true;
        }
        return Ok(resp);
    }

    let (route, params) = match router::find(ROUTES, method, &path, config.test_routes) {
        Match::Found(route, params) => (route, params),
        Match::MethodNotAllowed(allow) => return Err(method_not_allowed(allow)),
        Match::NotFound => return Err(AppError::new(crate::ErrorCode::NotFound)),
    };
    summary.route = route.path;
    summary.cache_control = route.cache_control;

    // Per-IP limits and authentication run concurrently; per-user limits need the caller.
    let ip = ratelimit::client_key(
        req.headers()
            .get("cf-connecting-ip")
            .ok()
            .flatten()
            .as_deref(),
    );
    let ip_checks: Vec<_> = route_policies(&config, route.rate_limits, KeyKind::Ip)
        .map(|p| (p, ip.clone()))
        .collect();
    let authenticated = async {
        match route.access {
            Access::Public => Ok(None),
            _ => authenticate(&req, &env, &config, &summary.db, route, method, now)
                .await
                .map(Some),
        }
    };
    let ((checked, limited), principal) = futures_util::join!(
        limiter::check(&env, &ip_checks, now, request_id, &summary.db.traceparent),
        authenticated
    );
    summary.checked.borrow_mut().extend(checked);
    if let Some(err) = limited {
        return Err(err);
    }
    let principal = principal?;
    if let Some(principal) = &principal {
        summary.user_id = Some(principal.log_id());
        crate::auth::authorize(principal, route.access)?;
        let user_checks: Vec<_> = route_policies(&config, route.rate_limits, KeyKind::User)
            .map(|p| (p, principal.log_id()))
            .collect();
        let (checked, limited) =
            limiter::check(&env, &user_checks, now, request_id, &summary.db.traceparent).await;
        summary.checked.borrow_mut().extend(checked);
        if let Some(err) = limited {
            return Err(err);
        }
    }

    let cx = Ctx {
        req,
        env,
        config,
        params,
        request_id: request_id.to_owned(),
        now,
        principal,
        rate_limits: route.rate_limits,
        body_limit: route.body_limit,
        checked: summary.checked.clone(),
        cache_report: summary.cache_report.clone(),
        db: summary.db.clone(),
    };
    (route.handler)(cx).await
}

/// Identifies the caller of a non-public route: a bearer JWT (service), else the session
/// cookie. Cookie-authenticated unsafe requests must pass the CSRF check; sensitive routes
/// also check the session against the user's row in D1 (strongly consistent), so a session
/// revoked moments ago in KV cannot use them.
async fn authenticate(
    req: &Request,
    env: &Env,
    config: &Config,
    db: &DbSlot,
    route: &Route<Handler>,
    method: Method,
    now: u64,
) -> Result<Principal, AppError> {
    let headers = req.headers();
    let get = |name: &str| headers.get(name).ok().flatten();

    if let Some(authorization) = get("authorization") {
        let token = authorization
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthenticated(false))?;
        return service_token::verify(token, &config.jwt).map(Principal::Service);
    }

    let cookies = get("cookie").unwrap_or_default();
    let Some(raw) = cookie::find(&cookies) else {
        return Err(unauthenticated(false));
    };
    let token = SessionToken::parse(raw).ok_or_else(|| unauthenticated(true))?;
    if !method.is_safe() {
        csrf::check(
            get("origin").as_deref(),
            get("sec-fetch-site").as_deref(),
            &config.allowed_origins,
        )?;
    }
    let store = KvSessions::new(env, KV_BINDING)?;
    let found = session::authenticate(&store, &token, now, &config.session)
        .await?
        .ok_or_else(|| unauthenticated(true))?;
    let storage_key = found.storage_key;
    let session = match found.touch {
        Some(touched) => {
            // Best effort: a missed refresh only leaves last_seen_at older than it could be.
            let _ = store.save(&storage_key, &touched, now).await;
            touched
        }
        None => found.session,
    };

    if route.sensitive {
        let db = db.open(env, config, false)?;
        let user = Users::new(&db).by_id(&session.user_id).await?;
        let current =
            user.is_some_and(|u| u.session_epoch == session.epoch && u.role == session.role);
        if !current {
            store
                .remove(&storage_key, &session.user_id, &session.id)
                .await?;
            return Err(unauthenticated(true));
        }
    }
    Ok(Principal::Session {
        storage_key,
        session,
    })
}

/// D1 bookmarks are dash-separated hexadecimal groups; anything else is refused before it
/// reaches D1.
fn valid_bookmark(b: &str) -> bool {
    (1..=256).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-')
}

fn method_not_allowed(allow: String) -> AppError {
    AppError::new(crate::ErrorCode::MethodNotAllowed).with_header("Allow", allow)
}

/// Hands the response to the runtime. Statuses that forbid a body get a null body.
fn into_worker_response(resp: ApiResponse) -> Response {
    let headers = worker::Headers::new();
    for (name, value) in &resp.headers {
        // Header values are built by this crate from validated parts; a rejected one is
        // dropped rather than failing the whole response.
        let _ = headers.append(name, value);
    }
    let builder = Response::builder()
        .with_status(resp.status)
        .with_headers(headers);
    if resp.body.is_empty() {
        builder.empty()
    } else {
        builder.fixed(resp.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_named_in_the_route_table_exists() {
        for route in ROUTES {
            for name in route.rate_limits {
                assert!(
                    ratelimit::DEFAULT_POLICIES.iter().any(|p| p.name == *name),
                    "{} {} names unknown policy {name}",
                    route.method.as_str(),
                    route.path
                );
            }
        }
    }

    #[test]
    fn every_route_is_limited_per_ip_and_authenticated_ones_per_user() {
        for route in ROUTES.iter().filter(|r| !r.test_only) {
            assert!(route.rate_limits.contains(&"ip"), "{}", route.path);
            if route.access != Access::Public {
                assert!(route.rate_limits.contains(&"user"), "{}", route.path);
            }
        }
    }
}

//! The route table's shape and the matcher: path patterns with `{param}` segments, 404 for
//! unknown paths and 405 with `Allow` for known paths with the wrong method.
//!
//! Generic over the handler type so the matching rules are unit-tested natively; the real
//! table is [`crate::routes::ROUTES`]. Routes are written with [`get`], [`post`], [`patch`]
//! and [`delete`] and refined by `const` builder methods, so each route is one line:
//! `get("/v1/notes/{id}", h).user().limits(IP_USER).cache("private, no-cache")`.

pub use crate::domain::Role;
use crate::http::Method;

/// Who may call a route. Everything that is not `Public` needs credentials (deny by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed.
    Public,
    /// A signed-in user or service whose role is at least this one.
    Role(Role),
    /// Anyone; the caller is identified when credentials are presented (a session cookie
    /// that no longer works counts as none), so the handler can act for a signed-in user.
    Optional,
}

/// The facts the pipeline reads about a route before its handler runs.
#[derive(Debug, Clone, Copy)]
pub struct Route<H> {
    pub method: Method,
    /// Pattern such as `/v1/notes/{id}`; also the `route` field of the log line.
    pub path: &'static str,
    pub handler: H,
    pub access: Access,
    /// Needs a strongly consistent credential check (password change, admin routes).
    pub sensitive: bool,
    /// Names of the rate-limit policies that apply, checked together before the handler.
    pub rate_limits: &'static [&'static str],
    /// `Cache-Control` for successful answers; `None` means `no-store`.
    pub cache_control: Option<&'static str>,
    /// Largest request body, overriding `MAX_BODY_BYTES` for this route.
    pub body_limit: Option<usize>,
    /// Exists only when `TEST_ROUTES` is on (never in production).
    pub test_only: bool,
    /// Deprecated: answers carry `Deprecation` and `Sunset`, the document says so.
    pub deprecation: Option<Deprecation>,
    /// Its handler evaluates `If-Match` and `If-None-Match` against the resource's `ETag`;
    /// for any other change the pipeline does, knowing the target has no `ETag`.
    pub conditional: bool,
}

/// When a route was deprecated and when it stops answering, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    pub since: u64,
    pub sunset: u64,
}

/// A route with the defaults: public, limited per IP only, `no-store`, the configured body
/// limit, always present.
pub const fn route<H>(method: Method, path: &'static str, handler: H) -> Route<H> {
    Route {
        method,
        path,
        handler,
        access: Access::Public,
        sensitive: false,
        rate_limits: &["ip"],
        cache_control: None,
        body_limit: None,
        test_only: false,
        deprecation: None,
        conditional: false,
    }
}

/// A `GET` route (which also answers `HEAD`).
pub const fn get<H>(path: &'static str, handler: H) -> Route<H> {
    route(Method::Get, path, handler)
}

/// A `POST` route.
pub const fn post<H>(path: &'static str, handler: H) -> Route<H> {
    route(Method::Post, path, handler)
}

/// A `PATCH` route.
pub const fn patch<H>(path: &'static str, handler: H) -> Route<H> {
    route(Method::Patch, path, handler)
}

/// A `DELETE` route.
pub const fn delete<H>(path: &'static str, handler: H) -> Route<H> {
    route(Method::Delete, path, handler)
}

impl<H> Route<H> {
    /// Needs a signed-in user (or a service holding the `user` role).
    #[must_use]
    pub const fn user(mut self) -> Self {
        self.access = Access::Role(Role::User);
        self
    }

    /// Serves anyone, and identifies a signed-in caller (see [`Access::Optional`]).
    #[must_use]
    pub const fn optional_user(mut self) -> Self {
        self.access = Access::Optional;
        self
    }

    /// Needs the `admin` role; implies [`Route::sensitive`].
    #[must_use]
    pub const fn admin(mut self) -> Self {
        self.access = Access::Role(Role::Admin);
        self.sensitive = true;
        self
    }

    /// Checks the session against the user's row (strongly consistent) before running.
    #[must_use]
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Replaces the rate-limit policies.
    #[must_use]
    pub const fn limits(mut self, names: &'static [&'static str]) -> Self {
        self.rate_limits = names;
        self
    }

    /// Sets `Cache-Control` for successful answers.
    #[must_use]
    pub const fn cache(mut self, cache_control: &'static str) -> Self {
        self.cache_control = Some(cache_control);
        self
    }

    /// Overrides `MAX_BODY_BYTES` for this route.
    #[must_use]
    pub const fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// Exists only when `TEST_ROUTES` is on.
    #[must_use]
    pub const fn test_only(mut self) -> Self {
        self.test_only = true;
        self
    }

    /// Deprecated since `since`, answering until `sunset` (Unix seconds): every answer carries
    /// `Deprecation` (RFC 9745) and `Sunset` (RFC 8594), and the document marks it.
    #[must_use]
    pub const fn deprecated(mut self, since: u64, sunset: u64) -> Self {
        self.deprecation = Some(Deprecation { since, sunset });
        self
    }
}

impl<H> Route<H> {
    /// Evaluates `If-Match` and `If-None-Match` in its handler, against the `ETag` of the
    /// resource it changes.
    #[must_use]
    pub const fn conditional(mut self) -> Self {
        self.conditional = true;
        self
    }
}

/// True when `route`'s target can have a current representation (RFC 9110 §13.1): it names
/// an item (`{id}`), or its path also answers `GET`.
pub fn has_representation<H>(routes: &[Route<H>], route: &Route<H>) -> bool {
    route.path.contains('{')
        || routes
            .iter()
            .any(|r| r.method == Method::Get && r.path == route.path)
}

/// Path parameters captured by `{name}` segments, in order.
pub type Params = Vec<(&'static str, String)>;

/// The outcome of matching a method and path against the table.
#[derive(Debug)]
pub enum Match<'r, H> {
    Found(&'r Route<H>, Params),
    /// The path exists with other methods; the value is the `Allow` header.
    MethodNotAllowed(String),
    NotFound,
}

/// Matches `method` and `path` against `routes`, skipping test-only routes unless enabled.
///
/// `HEAD` matches the `GET` route of the same path (RFC 9110 §9.3.2). `OPTIONS` is answered
/// by the pipeline for every known path, so it is always listed in `Allow`.
pub fn find<'r, H>(
    routes: &'r [Route<H>],
    method: Method,
    path: &str,
    test_routes: bool,
) -> Match<'r, H> {
    let lookup = if method == Method::Head {
        Method::Get
    } else {
        method
    };
    let visible = |r: &&Route<H>| test_routes || !r.test_only;
    // The method is compared first, so only routes of the request's method match paths; the
    // other methods are looked at only to answer 405 or 404.
    let found = routes
        .iter()
        .filter(visible)
        .filter(|r| r.method == lookup)
        .find_map(|r| match_path(r.path, path).map(|params| (r, params)));
    if let Some((route, params)) = found {
        return Match::Found(route, params);
    }
    let allowed: Vec<Method> = routes
        .iter()
        .filter(visible)
        .filter(|r| match_path(r.path, path).is_some())
        .map(|r| r.method)
        .collect();
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed(allow_header(&allowed))
    }
}

/// Lists the methods of every route on `path` as an `Allow` value, with `HEAD` for `GET`
/// and `OPTIONS` always, in a fixed order.
pub fn allow_for<H>(routes: &[Route<H>], path: &str, test_routes: bool) -> Option<String> {
    let methods: Vec<Method> = routes
        .iter()
        .filter(|r| (test_routes || !r.test_only) && match_path(r.path, path).is_some())
        .map(|r| r.method)
        .collect();
    (!methods.is_empty()).then(|| allow_header(&methods))
}

fn allow_header(methods: &[Method]) -> String {
    const ORDER: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];
    ORDER
        .iter()
        .filter(|m| match m {
            Method::Head => methods.contains(&Method::Get),
            Method::Options => true,
            m => methods.contains(m),
        })
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Matches one pattern; `{name}` takes exactly one non-empty segment.
fn match_path(pattern: &'static str, path: &str) -> Option<Params> {
    // Most patterns have no parameter, and most that do share no prefix with the path: both
    // are settled without splitting either into segments.
    match pattern.find('{') {
        None => return (pattern == path).then(Params::new),
        Some(i) if !path.starts_with(&pattern[..i]) => return None,
        Some(_) => {}
    }
    let mut params = Params::new();
    let mut pat = pattern.split('/');
    let mut segs = path.split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name, s.to_owned()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &[Route<u8>] = &[
        get("/v1/notes", 1),
        post("/v1/notes", 2),
        get("/v1/notes/{id}", 3),
        delete("/v1/notes/{id}", 4),
        get("/v1/_test/panic", 5).test_only(),
    ];

    #[test]
    fn builders_set_what_they_say() {
        let r = get("/x", 0u8)
            .user()
            .limits(&["ip", "user"])
            .cache("private, no-cache")
            .body_limit(10);
        assert_eq!(r.access, Access::Role(Role::User));
        assert!(!r.sensitive && !r.test_only);
        assert_eq!(r.rate_limits, ["ip", "user"]);
        assert_eq!(r.cache_control, Some("private, no-cache"));
        assert_eq!(r.body_limit, Some(10));
        let a = post("/y", 0u8).admin();
        assert_eq!(a.access, Access::Role(Role::Admin));
        assert!(a.sensitive, "admin routes are sensitive");
        let d = route(Method::Delete, "/z", 0u8);
        assert_eq!(d.access, Access::Public, "public by default");
        assert_eq!(d.rate_limits, ["ip"]);
        assert_eq!(d.cache_control, None);
        assert!(patch("/z", 0u8).sensitive().sensitive);
    }

    #[test]
    fn finds_routes_and_params() {
        let Match::Found(r, params) = find(ROUTES, Method::Get, "/v1/notes/abc", false) else {
            panic!("expected a match");
        };
        assert_eq!(r.handler, 3);
        assert_eq!(params, vec![("id", "abc".to_string())]);
    }

    #[test]
    fn head_uses_the_get_route() {
        let Match::Found(r, _) = find(ROUTES, Method::Head, "/v1/notes", false) else {
            panic!("expected a match");
        };
        assert_eq!(r.handler, 1);
    }

    #[test]
    fn wrong_method_lists_allowed_ones() {
        match find(ROUTES, Method::Put, "/v1/notes/abc", false) {
            Match::MethodNotAllowed(allow) => assert_eq!(allow, "GET, HEAD, DELETE, OPTIONS"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in [
            "/v1/note",
            "/v1/notes/",
            "/v1/notes/a/b",
            "/",
            "/v2/notes",
            "/v1/notes//",
        ] {
            assert!(
                matches!(find(ROUTES, Method::Get, path, false), Match::NotFound),
                "{path}"
            );
        }
    }

    #[test]
    fn test_routes_exist_only_when_enabled() {
        assert!(matches!(
            find(ROUTES, Method::Get, "/v1/_test/panic", false),
            Match::NotFound
        ));
        assert!(matches!(
            find(ROUTES, Method::Get, "/v1/_test/panic", true),
            Match::Found(..)
        ));
        assert_eq!(allow_for(ROUTES, "/v1/_test/panic", false), None);
        assert_eq!(
            allow_for(ROUTES, "/v1/notes", false).as_deref(),
            Some("GET, HEAD, POST, OPTIONS")
        );
    }
}

//! The route table's shape and the matcher: path patterns with `{param}` segments, 404 for
//! unknown paths and 405 with `Allow` for known paths with the wrong method.
//!
//! Generic over the handler type so the matching rules are unit-tested natively; the real
//! table with runtime handlers is in [`crate::app`].

use crate::http::Method;

/// Who may call a route. Everything that is not `Public` needs credentials (deny by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed.
    Public,
    /// A signed-in user or service whose role is at least this one.
    Role(Role),
}

/// Roles, ordered by privilege: a route open to `User` is open to `Admin` too.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    /// Parses the stored form, `user` or `admin`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Returns the stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
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
    let mut allowed: Vec<Method> = Vec::new();
    for route in routes.iter().filter(|r| test_routes || !r.test_only) {
        let Some(params) = match_path(route.path, path) else {
            continue;
        };
        if route.method == lookup {
            return Match::Found(route, params);
        }
        allowed.push(route.method);
    }
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

    const fn route(method: Method, path: &'static str, handler: u8) -> Route<u8> {
        Route {
            method,
            path,
            handler,
            access: Access::Public,
            sensitive: false,
            rate_limits: &[],
            cache_control: None,
            body_limit: None,
            test_only: false,
        }
    }

    const ROUTES: &[Route<u8>] = &[
        route(Method::Get, "/v1/notes", 1),
        route(Method::Post, "/v1/notes", 2),
        route(Method::Get, "/v1/notes/{id}", 3),
        route(Method::Delete, "/v1/notes/{id}", 4),
        Route {
            test_only: true,
            ..route(Method::Get, "/v1/_test/panic", 5)
        },
    ];

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

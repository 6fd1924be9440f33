//! Routing and everything the route table asks for before the handler runs: 404/405,
//! `OPTIONS` and CORS preflight, per-IP limits and authentication (concurrently), the role
//! check, per-user limits.

use super::authenticate::authenticate;
use crate::auth::authorize;
use crate::context::{Ctx, Handler};
use crate::error::{AppError, ErrorCode};
use crate::http::{conditional, cors, json, ApiResponse, Method};
use crate::ratelimit::{KeyKind, Verdict};
use crate::router::{self, Access, Match, Route};
use crate::routes::ROUTES;

/// Routes the request and runs its handler, or answers 404/405/OPTIONS itself.
pub async fn dispatch(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let test_routes = cx.config().test_routes;
    let Some(method) = cx.method() else {
        // A method the API never routes: 405 on a known path, 404 elsewhere.
        return Err(match router::allow_for(ROUTES, cx.path(), test_routes) {
            Some(allow) => method_not_allowed(allow),
            None => AppError::new(ErrorCode::NotFound),
        });
    };
    if method == Method::Options {
        return options(cx);
    }
    let (route, params) = match router::find(ROUTES, method, cx.path(), test_routes) {
        Match::Found(route, params) => (route, params),
        Match::MethodNotAllowed(allow) => return Err(method_not_allowed(allow)),
        Match::NotFound => return Err(AppError::new(ErrorCode::NotFound)),
    };
    cx.enter(route, params);

    // Per-IP limits and authentication run concurrently; per-user limits need the caller.
    let (verdict, principal) = {
        let cx: &Ctx = cx;
        let authenticated = async {
            match route.access {
                Access::Public => Ok(None),
                Access::Role(_) => authenticate(cx, method, route.sensitive).await.map(Some),
                Access::Optional if !presents_credentials(cx) => Ok(None),
                Access::Optional => match authenticate(cx, method, route.sensitive).await {
                    Err(err) if err.code() == ErrorCode::Unauthenticated => Ok(None),
                    other => other.map(Some),
                },
            }
        };
        futures_util::join!(cx.check_ip_limits(), authenticated)
    };
    cx.record(verdict)?;
    if let Some(principal) = principal? {
        let allowed = authorize(&principal, route.access);
        let user = cx.authenticated(principal).to_owned();
        allowed?;
        let verdict: Verdict = cx.check_limits(KeyKind::User, &user).await;
        cx.record(verdict)?;
    }
    if !method.is_safe() && !route.conditional {
        check_change_preconditions(cx, route)?;
    }
    let resp = (route.handler)(cx).await?;
    if matches!(method, Method::Get | Method::Head) {
        check_if_match(cx, &resp)?;
    }
    Ok(resp)
}

/// Preconditions on a change whose handler does not evaluate them (RFC 9110 §13.1.1): such a
/// target has no `ETag`, so an `If-Match` naming tags, or `If-None-Match: *` where the target
/// can exist, is 412 before anything is changed.
fn check_change_preconditions(cx: &Ctx, route: &Route<Handler>) -> Result<(), AppError> {
    let if_match = cx.header("if-match");
    let if_none_match = cx.header("if-none-match");
    if if_match.is_none() && if_none_match.is_none() {
        return Ok(());
    }
    let exists = router::has_representation(ROUTES, route);
    if conditional::untagged_change_allowed(if_match.as_deref(), if_none_match.as_deref(), exists) {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::PreconditionFailed))
    }
}

/// `If-Match` on a read (RFC 9110 §13.1.1, §13.2.2): evaluated against the answer's `ETag`
/// for every route, so an answer the request's `If-Match` does not hold for is 412. A read
/// has no effect to hold back, so checking its answer is checking before the method. It
/// applies when the answer without the preconditions would have been 2xx: 2xx, and a 304
/// from `If-None-Match`, which `If-Match` comes before. The 412 names the answer's `ETag`.
fn check_if_match(cx: &Ctx, resp: &ApiResponse) -> Result<(), AppError> {
    let applies = (200..300).contains(&resp.status) || resp.status == 304;
    match cx.header("if-match") {
        Some(h) if applies && !conditional::if_match_holds(&h, resp.header("ETag")) => {
            let refused = AppError::new(ErrorCode::PreconditionFailed);
            Err(match resp.header("ETag") {
                Some(etag) => refused.with_header("ETag", etag.to_owned()),
                None => refused,
            })
        }
        _ => Ok(()),
    }
}

/// Returns true when the request carries a bearer token or the session cookie.
fn presents_credentials(cx: &Ctx) -> bool {
    cx.header("authorization")
        .is_some_and(|a| crate::auth::service_token::bearer(&a).is_some())
        || cx
            .header("cookie")
            .is_some_and(|c| crate::auth::cookie::find(&c).is_some())
}

/// `OPTIONS`: 204 with `Allow` for every known path (and `Accept-Patch` where it takes
/// `PATCH`); a CORS preflight also gets the CORS answer for the requesting origin.
fn options(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let allow = router::allow_for(ROUTES, cx.path(), cx.config().test_routes)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    let origin = cx.header("origin");
    let requested = cx.header("access-control-request-method");
    let mut resp = ApiResponse::empty(204).with_header("Allow", allow.clone());
    if allow.split(", ").any(|m| m == "PATCH") {
        // The patch formats the path's PATCH reads (RFC 5789 §3.1).
        resp = resp.with_header("Accept-Patch", json::ACCEPT_PATCH);
    }
    if cors::is_preflight(Method::Options, origin.as_deref(), requested.as_deref()) {
        cors::apply_preflight(
            &mut resp.headers,
            &cx.config().allowed_origins,
            origin.as_deref(),
            &allow,
        );
        cx.preflight();
    }
    Ok(resp)
}

fn method_not_allowed(allow: String) -> AppError {
    AppError::new(ErrorCode::MethodNotAllowed).with_header("Allow", allow)
}

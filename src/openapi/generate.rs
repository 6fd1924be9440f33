//! Builds the OpenAPI 3.1 document from the route table and the features' declarations
//! (native builds only; the Worker serves the committed result).

use crate::context::Handler;
use crate::error::ErrorCode;
use crate::http::contract::{error_response, header_ref, headers, Op};
use crate::http::Method;
use crate::router::{Access, Route};
use serde_json::{json, Map, Value};

/// Every declared operation, from the features that own them.
pub fn operations() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(crate::health::contract::operations());
    ops.extend(super::contract::operations());
    ops.extend(crate::accounts::contract::operations());
    ops.extend(crate::notes::contract::operations());
    ops.extend(crate::passkeys::contract::operations());
    ops.extend(crate::passkeys::contract::email_link_operations());
    ops
}

/// The document for the non-test routes of `routes`, each matched with its declaration in
/// `ops`. Panics naming a route without a declaration (the unit tests call it).
pub fn document(routes: &[Route<Handler>], ops: &[Op]) -> Value {
    let mut paths = Map::new();
    for route in routes.iter().filter(|r| !r.test_only) {
        let op = ops
            .iter()
            .find(|o| o.method == route.method && o.path == route.path)
            .unwrap_or_else(|| {
                panic!(
                    "{} {} has no declaration",
                    route.method.as_str(),
                    route.path
                )
            });
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        item[route.method.as_str().to_ascii_lowercase()] = operation(route, op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "edge-api",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "health", "description": "Liveness and readiness."},
            {"name": "meta", "description": "This document."},
            {"name": "accounts", "description": "Sign-up, sessions, the caller, administration."},
            {"name": "notes", "description": "The example resource."},
        ],
        "paths": paths,
        "components": components(),
    })
}

const DESCRIPTION: &str = "A Rust template for HTTP APIs on Cloudflare Workers. Every error \
is the envelope `Error`; every answer carries `X-Request-Id` and `traceparent`. Routes that \
are not public accept a session cookie (`__Host-session`) or a service token (`Authorization: \
Bearer <JWT>`, the scheme in any case; another scheme is not a credential and leaves the \
cookie in charge). **CSRF:** a cookie-authenticated request with an unsafe method must carry \
an `Origin` on the allow-list or equal to the API's own origin, or, without `Origin`, \
`Sec-Fetch-Site: same-origin`; otherwise 403 `CSRF_REJECTED`. Any route answers 400 for a malformed `x-d1-bookmark` header.";

fn operation(route: &Route<Handler>, op: &Op) -> Value {
    let protected = matches!(route.access, Access::Role(_));
    let optional = route.access == Access::Optional;
    let unsafe_method = !route.method.is_safe();
    let mut responses: Vec<(u16, Value)> = op.responses.clone();
    let mut add = |status: u16, description: &str, extra_headers: Value| match responses
        .iter_mut()
        .find(|(s, _)| *s == status)
    {
        Some((_, existing)) => {
            let before = existing["description"].as_str().unwrap_or("").to_owned();
            existing["description"] = json!(format!("{before}; {description}"));
        }
        None => responses.push((status, error_response(description, extra_headers))),
    };
    let retry = headers(&[("Retry-After", "RetryAfter")]);
    if op.body.is_some() {
        add(
            400,
            "BAD_REQUEST: the body is not valid JSON, repeats a key, nests too deep or holds a number out of range",
            json!({}),
        );
        add(
            413,
            "PAYLOAD_TOO_LARGE: the body is over the route's limit",
            json!({}),
        );
        // A PATCH reads merge patches only, and says so in `Accept-Patch`.
        let (media, refusal_headers) = if route.method == Method::Patch {
            (
                "a JSON Merge Patch (`application/merge-patch+json` or `application/json`; \
                 `Accept-Patch` says so)",
                headers(&[
                    ("Accept-Encoding", "AcceptEncoding"),
                    ("Accept-Patch", "AcceptPatch"),
                ]),
            )
        } else {
            (
                "`application/json` (or `application/*+json`)",
                headers(&[("Accept-Encoding", "AcceptEncoding")]),
            )
        };
        add(
            415,
            &format!(
                "UNSUPPORTED_MEDIA_TYPE: the body is not {media}, not UTF-8, or is compressed \
                 (`Content-Encoding`; `Accept-Encoding: identity` says so)"
            ),
            refusal_headers,
        );
        add(
            422,
            "VALIDATION_ERROR: unknown or invalid fields, each in `details` (at most 20)",
            json!({}),
        );
    } else {
        add(
            400,
            "BAD_REQUEST: a malformed header or parameter",
            json!({}),
        );
    }
    if protected {
        add(
            401,
            "UNAUTHENTICATED: no valid session cookie or service token",
            json!({}),
        );
        let forbidden = if unsafe_method {
            "FORBIDDEN: the caller's role is too low; CSRF_REJECTED: a cookie-authenticated \
             request without an allowed `Origin` (or `Sec-Fetch-Site: same-origin`)"
        } else {
            "FORBIDDEN: the caller's role is too low"
        };
        add(
            403,
            forbidden,
            headers(&[("WWW-Authenticate", "WWWAuthenticateScope")]),
        );
    }
    if optional && unsafe_method {
        add(
            403,
            "FORBIDDEN: a service token where a browser session is needed; CSRF_REJECTED: a \
             cookie-authenticated request without an allowed `Origin`",
            json!({}),
        );
    }
    if route.path.contains('{') {
        add(
            404,
            "NOT_FOUND: no such resource for the caller (a malformed id included)",
            json!({}),
        );
    }
    if route.method == Method::Get {
        // The pipeline evaluates `If-Match` on every read (`pipeline::dispatch`).
        add(
            412,
            "PRECONDITION_FAILED: `If-Match` does not hold for the answer (it holds for `*`, \
             or for the answer's own strong `ETag`)",
            headers(&[("ETag", "CurrentETag")]),
        );
    }
    if unsafe_method && !route.conditional {
        // The pipeline evaluates a change's preconditions where the handler does not.
        add(
            412,
            "PRECONDITION_FAILED: `If-Match` names a tag (this resource has no `ETag`; `*` \
             holds where it exists), or `If-None-Match: *` where it exists",
            json!({}),
        );
    }
    if !route.rate_limits.is_empty() {
        let limited = headers(&[
            ("Retry-After", "RetryAfter"),
            ("RateLimit", "RateLimitRequired"),
            ("RateLimit-Policy", "RateLimitPolicyRequired"),
        ]);
        add(
            429,
            "RATE_LIMITED: a rate-limit policy is exhausted (named in `details`)",
            limited,
        );
    }
    add(
        500,
        "INTERNAL: an unexpected fault (the cause is logged, never returned)",
        json!({}),
    );
    if op.storage {
        add(
            503,
            "UNAVAILABLE: a dependency (KV, the database, the limiter) is down",
            retry,
        );
    }

    // Every answer carries the request id and the trace; limited routes their RateLimit
    // fields (on a route a shared cache may keep, only its errors do); deprecated routes their
    // Deprecation and Sunset fields.
    let mut common = vec![
        ("X-Request-Id", "XRequestId"),
        ("traceparent", "Traceparent"),
    ];
    let limited = !route.rate_limits.is_empty();
    let shared = route
        .cache_control
        .is_some_and(crate::http::security::shared);
    if limited && !shared {
        common.extend([
            ("RateLimit", "RateLimit"),
            ("RateLimit-Policy", "RateLimitPolicy"),
        ]);
    }
    if route.deprecation.is_some() {
        common.extend([("Deprecation", "Deprecation"), ("Sunset", "Sunset")]);
    }
    let mut response_map = Map::new();
    responses.sort_by_key(|(s, _)| *s);
    for (status, mut resp) in responses {
        let hs = resp["headers"]
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut all: Map<String, Value> = common
            .iter()
            .map(|(n, c)| ((*n).to_owned(), header_ref(c)))
            .collect();
        if status == 401 {
            all.insert("WWW-Authenticate".to_owned(), header_ref("WWWAuthenticate"));
        }
        if limited && shared && status >= 400 {
            for (name, component) in [
                ("RateLimit", "RateLimit"),
                ("RateLimit-Policy", "RateLimitPolicy"),
            ] {
                all.insert(name.to_owned(), header_ref(component));
            }
        }
        all.extend(hs);
        resp["headers"] = Value::Object(all);
        response_map.insert(status.to_string(), resp);
    }

    let mut params: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true,
                "schema": crate::domain::schema::id()})
        })
        .collect();
    params.extend(op.params.iter().cloned());
    if route.method == Method::Get {
        params.push(
            json!({"name": "If-Match", "in": "header", "required": false,
            "schema": {"type": "string"},
            "description": "Answer only if this holds: `*`, or the answer's strong `ETag` among \
                            the tags given; else 412."}),
        );
    }

    let mut description = String::new();
    if optional {
        description.push_str(
            "Open to anyone; a caller who presents a session cookie or service token is acted for. ",
        );
    }
    if (protected || optional) && unsafe_method {
        description.push_str(
            "Cookie-authenticated calls must pass the CSRF check (see the document's description). ",
        );
    }
    if route.sensitive {
        description.push_str(
            "Sensitive: a session is also checked against the account's current epoch and role. ",
        );
    }
    let mut out = json!({
        "operationId": op.id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": response_map,
        "security": if protected {
            json!([{"sessionCookie": []}, {"bearerJwt": []}])
        } else if optional {
            json!([{}, {"sessionCookie": []}, {"bearerJwt": []}])
        } else {
            json!([])
        },
        "x-rate-limits": route.rate_limits,
    });
    if !description.is_empty() {
        out["description"] = json!(description.trim_end());
    }
    if let Some(schema) = &op.body {
        let limit = route.body_limit.map_or(
            "the configured `MAX_BODY_BYTES` (64 KiB by default)".to_owned(),
            |b| format!("{b} bytes"),
        );
        let content = if route.method == Method::Patch {
            json!({
                "application/merge-patch+json": {"schema": schema},
                "application/json": {"schema": schema},
            })
        } else {
            json!({"application/json": {"schema": schema}})
        };
        out["requestBody"] = json!({
            "required": true,
            "description": format!("At most {limit}. Keys may not repeat."),
            "content": content,
        });
    }
    if let Some(dep) = route.deprecation {
        out["deprecated"] = json!(true);
        out["x-sunset"] = json!(crate::http::date::http_date(dep.sunset));
    }
    out
}

fn components() -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let string = |desc: &str| json!({"schema": {"type": "string"}, "description": desc});
    let required = |desc: &str, schema: Value| json!({"required": true, "schema": schema, "description": desc});
    json!({
        "securitySchemes": {
            "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "__Host-session",
                "description": "The HttpOnly session cookie set by login. Unsafe methods must pass the CSRF check."},
            "bearerJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A service token: EdDSA or HS256, `iss`/`aud` checked, at most one hour; `scope` carries `user`/`admin`."},
        },
        "headers": {
            "XRequestId": required("This request's id (the client's, when well formed).", json!({"type": "string", "pattern": "^[A-Za-z0-9._=-]{1,128}$"})),
            "Traceparent": required("W3C trace context of this request.", json!({"type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$"})),
            "RateLimit": string("Per policy (draft-ietf-httpapi-ratelimit-headers): `r` requests left now, `t` seconds until the quota is back in full, e.g. `\"ip\";r=299;t=60`."),
            "RateLimitPolicy": string("Quota per policy, e.g. `\"ip\";q=300;w=60`."),
            "RateLimitRequired": required("Remaining quota per policy.", json!({"type": "string"})),
            "RateLimitPolicyRequired": required("Quota per policy.", json!({"type": "string"})),
            "WWWAuthenticate": required("The challenge (RFC 9110 §11.6.1): `Bearer`, or `Bearer error=\"invalid_token\"` when a service token was refused.", json!({"type": "string", "pattern": "^Bearer"})),
            "WWWAuthenticateScope": string("`Bearer error=\"insufficient_scope\", scope=\"user\"` (or `admin`) when a service token's scope is too low for the route (RFC 6750 §3.1)."),
            "AcceptEncoding": string("`identity`: the request body must be sent without a content coding."),
            "AcceptPatch": string("`application/merge-patch+json, application/json`: the patch formats the route reads (RFC 5789 §3.1)."),
            "RetryAfter": required("Seconds to wait before retrying.", json!({"type": "string", "pattern": "^[0-9]+$"})),
            "ETag": required("The representation's validator.", json!({"type": "string"})),
            "CurrentETag": string("The current version's `ETag`, so the client can fetch it or retry against it; absent when the answer has none, or when a concurrent write made it unknown."),
            "WeakETag": required("The page's weak validator.", json!({"type": "string", "pattern": "^W/\".*\"$"})),
            "Location": required("The created resource.", json!({"type": "string"})),
            "SetSession": required("`__Host-session=…; Path=/; Max-Age=…; Secure; HttpOnly; SameSite=Lax`.", json!({"type": "string"})),
            "ClearSession": required("Deletes the session cookie.", json!({"type": "string"})),
            "ClearSessionOptional": string("Deletes the session cookie when the current session was revoked."),
            "IdempotentReplayed": string("`true` when the answer replays an earlier request with the same key."),
            "Deprecation": required("When the route was deprecated (RFC 9745).", json!({"type": "string", "pattern": "^@[0-9]+$"})),
            "Sunset": required("When the route stops answering (RFC 8594).", json!({"type": "string"})),
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "additionalProperties": false,
                "properties": {"error": {
                    "type": "object",
                    "required": ["code", "message", "details", "request_id"],
                    "additionalProperties": false,
                    "properties": {
                        "code": {"type": "string", "enum": codes},
                        "message": {"type": "string", "minLength": 1},
                        "details": {"type": "array", "maxItems": crate::error::MAX_DETAILS,
                            "items": {"type": "object", "required": ["field", "issue"], "additionalProperties": false,
                                "properties": {"field": {"type": "string"}, "issue": {"type": "string"}}}},
                        "request_id": {"type": "string"},
                    },
                }},
            },
            "User": crate::accounts::contract::user_schema(),
            "Passkey": crate::passkeys::contract::passkey_schema(),
            "Note": crate::notes::contract::note_schema(false),
            "AdminNote": crate::notes::contract::note_schema(true),
            "NextCursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last."},
        },
    })
}

//! The document's own operation.

use crate::http::contract::{headers, op, Op};
use crate::http::Method;
use serde_json::json;

/// `GET /v1/openapi.json`.
pub fn operations() -> Vec<Op> {
    vec![op(
        Method::Get,
        "/v1/openapi.json",
        "getOpenApi",
        "This OpenAPI document",
    )
    .tag("meta")
    .no_storage()
    .header(
        "If-None-Match",
        json!({"type": "string"}),
        "ETags the client holds.",
    )
    .json(
        200,
        "The OpenAPI 3.1 document.",
        json!({"type": "object", "required": ["openapi", "paths"]}),
        headers(&[("ETag", "ETag")]),
    )
    .empty(
        304,
        "Not modified: `If-None-Match` matches the document's ETag.",
        headers(&[("ETag", "ETag")]),
    )]
}

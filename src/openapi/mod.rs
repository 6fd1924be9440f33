//! The API's contract: an OpenAPI 3.1 document derived from the route table and the
//! declarations each feature keeps beside its types, generated natively, committed as
//! `openapi.json`, and served by `GET /v1/openapi.json`.
//!
//! The Worker embeds the committed bytes: no schema code is linked into the Wasm. A unit test
//! regenerates the document and fails when the committed one differs (`make openapi` writes
//! it), and when a route lacks a declaration or a declaration names no route.

#[cfg(not(target_arch = "wasm32"))]
pub mod contract;
#[cfg(not(target_arch = "wasm32"))]
pub mod generate;

use crate::context::Ctx;
use crate::error::AppError;
use crate::http::{conditional, ApiResponse};

/// The committed document, its indentation dropped by `build.rs`.
pub const DOCUMENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The document's strong `ETag`, a hash of [`DOCUMENT`] written by `build.rs`.
pub const ETAG: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.etag"));

/// `GET /v1/openapi.json`: the document with its `ETag`, or 304 when `If-None-Match` holds it
/// (the document is about 130 KB; a client or cache revalidating after `max-age` gets the
/// answer without it).
pub async fn serve(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let if_none_match = cx.header("if-none-match");
    Ok(conditional::respond(
        if_none_match.as_deref(),
        Some(ETAG),
        || DOCUMENT.to_vec(),
    ))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

//! Route handlers, one module per resource. Each takes a [`crate::app::Ctx`] and returns an
//! [`crate::http::ApiResponse`] or an [`crate::AppError`].

pub mod admin;
pub mod auth;
pub mod health;
pub mod testing;

use crate::app::Ctx;
use crate::error::{AppError, FieldIssue};
use crate::http::{cursor, query};

/// Page sizes for list endpoints.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Reads `limit` and `cursor` from the query string: `limit` 1–100 (default 20, else 422),
/// `cursor` as issued by a previous page and verified with `CURSOR_SECRET` (else 400).
pub fn page_params<T: serde::de::DeserializeOwned>(cx: &Ctx) -> Result<(u32, Option<T>), AppError> {
    let mut limit = DEFAULT_LIMIT;
    let mut after = None;
    for (name, value) in query::pairs(&cx.req.inner().url()) {
        match name.as_ref() {
            "limit" => {
                limit = match value.parse::<u32>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    Ok(_) => {
                        return Err(AppError::validation(vec![FieldIssue::new(
                            "limit",
                            "out_of_range",
                        )])
                        .with_message("limit must be between 1 and 100."))
                    }
                    Err(_) => {
                        return Err(AppError::validation(vec![FieldIssue::new(
                            "limit",
                            "expected_integer",
                        )]))
                    }
                }
            }
            "cursor" => after = Some(cursor::decode(&cx.config.cursor_secret, &value)?),
            _ => {}
        }
    }
    Ok((limit, after))
}

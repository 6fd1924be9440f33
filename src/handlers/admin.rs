//! Administration: routes the route table opens to the `admin` role only.

use crate::accounts::Users;
use crate::app::Ctx;
use crate::error::{AppError, FieldIssue};
use crate::http::{cursor, query, ApiResponse};
use serde_json::json;

/// Page sizes for list endpoints.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Reads `limit` and `cursor` from the query string: `limit` 1–100 (default 20, else 422),
/// `cursor` as issued by a previous page (else 400).
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

/// `GET /v1/admin/users?limit=&cursor=`: every account, oldest first.
pub async fn list_users(cx: Ctx) -> Result<ApiResponse, AppError> {
    let (limit, after) = page_params::<(u64, String)>(&cx)?;
    let mut users = Users::new(&*cx.db()?)
        .page(after.as_ref(), limit + 1)
        .await?;
    let more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let next_cursor = match users.last() {
        Some(last) if more => Some(cursor::encode(
            &cx.config.cursor_secret,
            &(last.created_at, &last.id),
        )),
        _ => None,
    };
    let items: Vec<_> = users.iter().map(|u| u.public()).collect();
    ApiResponse::json(200, &json!({"items": items, "next_cursor": next_cursor}))
}

//! Administration: routes the route table opens to the `admin` role only.

use crate::accounts::Users;
use crate::app::Ctx;
use crate::error::AppError;
use crate::handlers::page_params;
use crate::http::{cursor, ApiResponse};
use serde_json::json;

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

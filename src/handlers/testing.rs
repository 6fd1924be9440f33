//! Routes that exist only when `TEST_ROUTES` is on (the `test` environment of
//! `wrangler.toml`); configuration refuses that flag in production.

use crate::app::Ctx;
use crate::domain::Email;
use crate::error::AppError;
use crate::http::json::{Input, Issue};
use crate::http::ApiResponse;
use serde_json::json;

/// Panics on purpose, to prove the runtime recovers and the next request is served.
pub async fn panic(_cx: Ctx) -> Result<ApiResponse, AppError> {
    panic!("deliberate panic from the test-only route");
}

/// Reads a small JSON body through the standard boundary and echoes the parsed values, so
/// tests can exercise 415, 413, 400 and 422 handling end to end.
pub async fn echo(mut cx: Ctx) -> Result<ApiResponse, AppError> {
    let mut input = Input::new(cx.json_body().await?, &["email", "name"])?;
    let email = input.required("email", Email::parse);
    let name = input.required("name", parse_name);
    input.finish()?;
    let (Some(email), Some(name)) = (email, name) else {
        return Err(AppError::internal("validated fields missing"));
    };
    ApiResponse::json(200, &json!({"email": email.as_str(), "name": name}))
}

fn parse_name(raw: &str) -> Result<String, Issue> {
    match raw.trim().chars().count() {
        0 => Err("empty"),
        1..=100 => Ok(raw.trim().to_owned()),
        _ => Err("too_long"),
    }
}

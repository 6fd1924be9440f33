//! The browser page: one HTML document, its script and its style, embedded in the Worker and
//! served from the API's own origin so the session cookie and the CSRF check work exactly as
//! they do in production. Nothing is loaded from anywhere else, and the policy says so.

use crate::context::Ctx;
use crate::error::AppError;
use crate::http::ApiResponse;

const INDEX: &str = include_str!("../page/index.html");
const SCRIPT: &str = include_str!("../page/app.js");
const STYLE: &str = include_str!("../page/app.css");

/// The page's Content-Security-Policy: its own script and style only (no inline code, no
/// `eval`), requests to its own origin only, no frames, no plugins, no `<base>` tricks.
pub const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// Revalidated on every load (`ETag` is not worth it for three small files), never shared
/// beyond the browser.
const CACHE: &str = "no-cache";

fn asset(content_type: &'static str, body: &'static str) -> ApiResponse {
    ApiResponse {
        status: 200,
        headers: vec![
            ("Content-Type", content_type.into()),
            ("Content-Security-Policy", POLICY.into()),
            ("Cache-Control", CACHE.into()),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// `GET /`: the page.
pub async fn index(_cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    Ok(asset("text/html; charset=utf-8", INDEX))
}

/// `GET /app.js`: its script.
pub async fn script(_cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    Ok(asset("text/javascript; charset=utf-8", SCRIPT))
}

/// `GET /app.css`: its style.
pub async fn style(_cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    Ok(asset("text/css; charset=utf-8", STYLE))
}

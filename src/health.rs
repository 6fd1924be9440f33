//! Liveness and readiness.
//!
//! `GET /v1/health` proves the isolate runs and touches nothing else, so it is cheap enough
//! for frequent probes. `GET /v1/health/ready` checks that each binding answers (KV, the
//! database, the Durable Object namespace), concurrently, and names the ones that failed.

use crate::config::DbBackend;
use crate::context::Ctx;
use crate::db::{stmt, Database};
use crate::error::{AppError, FieldIssue};
use crate::http::ApiResponse;
use serde_json::json;

/// Answers 200 with the status and the crate version.
pub async fn live(_cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    ApiResponse::json(
        200,
        &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    )
}

/// Answers 200 when every dependency responds (KV, the configured database, the Durable
/// Object namespace), else 503 naming each failed one.
pub async fn ready(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let cx: &Ctx = cx;
    let (kv, database, durable_objects) =
        futures_util::join!(check_kv(cx), check_database(cx), check_durable_object(cx));
    let database_name = match cx.config().database {
        DbBackend::D1 => "d1",
        DbBackend::Turso { .. } => "turso",
    };
    let checks = [
        ("kv", kv),
        (database_name, database),
        ("durable_objects", durable_objects),
    ];
    let failed: Vec<_> = checks.iter().filter(|(_, r)| r.is_err()).collect();
    if failed.is_empty() {
        let ok: serde_json::Map<String, serde_json::Value> = checks
            .iter()
            .map(|(name, _)| (name.to_string(), json!("ok")))
            .collect();
        return ApiResponse::json(200, &json!({"status": "ok", "checks": ok}));
    }
    let causes: Vec<String> = failed
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    let details = failed
        .iter()
        .map(|(name, _)| FieldIssue::new(*name, "unavailable"))
        .collect();
    Err(AppError::unavailable(causes.join("; "), 5)
        .with_message("One or more dependencies are unavailable.")
        .with_details(details))
}

async fn check_kv(cx: &Ctx) -> Result<(), String> {
    cx.sessions().map_err(|e| e.to_string())?.probe().await
}

async fn check_database(cx: &Ctx) -> Result<(), String> {
    let db = cx.db().map_err(|e| e.to_string())?;
    db.execute(stmt("SELECT 1 AS one", []))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn check_durable_object(cx: &Ctx) -> Result<(), String> {
    cx.limiter().probe().await
}

/// The health routes as the OpenAPI document describes them.
#[cfg(not(target_arch = "wasm32"))]
pub mod contract {
    use crate::http::contract::{headers, op, Op};
    use crate::http::Method;
    use serde_json::json;

    /// `GET /v1/health` and `GET /v1/health/ready`.
    pub fn operations() -> Vec<Op> {
        vec![
            op(Method::Get, "/v1/health", "live", "Liveness")
                .tag("health")
                .no_storage()
                .json(
                    200,
                    "The isolate runs.",
                    json!({"type": "object", "required": ["status", "version"], "additionalProperties": false,
                           "properties": {"status": {"const": "ok"}, "version": {"type": "string"}}}),
                    headers(&[]),
                ),
            op(Method::Get, "/v1/health/ready", "ready", "Readiness of every dependency")
                .tag("health")
                .json(
                    200,
                    "KV, the database and the Durable Object namespace answer.",
                    json!({"type": "object", "required": ["status", "checks"], "additionalProperties": false,
                           "properties": {"status": {"const": "ok"},
                                          "checks": {"type": "object", "additionalProperties": {"const": "ok"}}}}),
                    headers(&[]),
                ),
        ]
    }
}

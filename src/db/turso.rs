//! The [`Database`] adapter for Turso / libSQL over HTTP (Hrana pipeline, `POST /v3/pipeline`)
//! through the runtime's `fetch`.
//!
//! Each call is one pipeline request that closes its stream, so no baton has to be carried
//! between Worker invocations; [`Database::batch`] runs as a real transaction in that one
//! request (see [`super::hrana`]). Timeouts, connection failures and 5xx answers are
//! [`DbError::Unavailable`] (503 with `Retry-After`); the server's text only reaches the log.

use super::{hrana, Database, DbError, QueryResult, Statement};
use crate::outbound::post_json;
use std::time::Duration;

/// A libSQL server reached over HTTP.
pub struct Turso {
    pipeline_url: String,
    auth_token: Option<String>,
    timeout: Duration,
    traceparent: Option<String>,
}

impl Turso {
    /// Targets `url` (`libsql://`, `https://` or `http://`), authenticating with `auth_token`;
    /// `traceparent` is sent with every call so the database joins the request's trace.
    pub fn new(
        url: &str,
        auth_token: Option<String>,
        timeout: Duration,
        traceparent: Option<String>,
    ) -> Self {
        let base = match url.strip_prefix("libsql://") {
            Some(host) => format!("https://{host}"),
            None => url.to_owned(),
        };
        Self {
            pipeline_url: format!("{}/v3/pipeline", base.trim_end_matches('/')),
            auth_token,
            timeout,
            traceparent,
        }
    }

    async fn pipeline(&self, body: serde_json::Value) -> Result<String, DbError> {
        let bearer = self.auth_token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(tp) = &self.traceparent {
            headers.push(("traceparent", tp.as_str()));
        }
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        let answer = post_json(&self.pipeline_url, &headers, body.to_string(), self.timeout)
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        match answer.status {
            200 => Ok(answer.body),
            status @ 500..=599 => Err(DbError::Unavailable(format!("HTTP {status}"))),
            // A refused token or a wrong URL is a configuration fault, not an outage.
            status => Err(DbError::Query(format!("HTTP {status}"))),
        }
    }
}

impl Database for Turso {
    async fn execute(&self, statement: Statement) -> Result<QueryResult, DbError> {
        let body = self.pipeline(hrana::execute_request(&statement)).await?;
        hrana::parse_execute(&body)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<QueryResult>, DbError> {
        let body = self.pipeline(hrana::batch_request(&statements)).await?;
        hrana::parse_batch(&body, statements.len())
    }

    fn bookmark(&self) -> Option<String> {
        None
    }
}

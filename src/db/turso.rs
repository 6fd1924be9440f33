//! The [`Database`] adapter for Turso / libSQL over HTTP (Hrana pipeline, `POST /v3/pipeline`)
//! through the runtime's `fetch`.
//!
//! Each call is one pipeline request that closes its stream, so no baton has to be carried
//! between Worker invocations; [`Database::batch`] runs as a real transaction in that one
//! request (see [`super::hrana`]). Timeouts, connection failures and 5xx answers are
//! [`DbError::Unavailable`] (503 with `Retry-After`); the server's text only reaches the log.

use super::{hrana, Database, DbError, QueryResult, Statement};
use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

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
        let unavailable = |e: worker::Error| DbError::Unavailable(e.to_string());
        let headers = Headers::new();
        headers
            .set("content-type", "application/json")
            .map_err(unavailable)?;
        if let Some(tp) = &self.traceparent {
            headers.set("traceparent", tp).map_err(unavailable)?;
        }
        if let Some(token) = &self.auth_token {
            headers
                .set("authorization", &format!("Bearer {token}"))
                .map_err(unavailable)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.to_string().into()));
        let request = Request::new_with_init(&self.pipeline_url, &init).map_err(unavailable)?;

        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let sent = Box::pin(fetch.send_with_signal(&signal));
        let timer = Box::pin(Delay::from(self.timeout));
        let mut response = match select(sent, timer).await {
            Either::Left((result, _)) => result.map_err(unavailable)?,
            Either::Right(_) => {
                controller.abort();
                return Err(DbError::Unavailable(format!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                )));
            }
        };
        let status = response.status_code();
        let text = response.text().await.map_err(unavailable)?;
        match status {
            200 => Ok(text),
            500..=599 => Err(DbError::Unavailable(format!("HTTP {status}"))),
            // A refused token or a wrong URL is a configuration fault, not an outage.
            _ => Err(DbError::Query(format!("HTTP {status}"))),
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

//! The L2 adapter for Upstash Redis over its REST API, with `Authorization: Bearer <token>`:
//! one command is `POST /` with its JSON array (answer `{"result": …}`, or `{"error": "…"}`
//! with 400); several are `POST /pipeline`, or `POST /multi-exec` for a transaction, with an
//! array of command arrays (answer: one `{"result"}` or `{"error"}` per command).
//!
//! Values are sent and read as JSON strings (the cache stores UTF-8 text only), so the
//! `Upstash-Encoding: base64` response encoding is not needed. Every answer is decoded
//! strictly: anything unexpected is a [`RemoteError`], which the cache treats as an outage.

use super::remote::{Command, Remote, RemoteError, Reply};
use crate::outbound::{post_json, OutboundError};
use serde_json::Value as Json;
use std::time::Duration;

/// An Upstash database (or anything speaking its REST API).
pub struct Upstash {
    command_url: String,
    pipeline_url: String,
    transaction_url: String,
    authorization: String,
    timeout: Duration,
}

impl Upstash {
    /// Targets the REST `url` with `token`, giving up on a round trip after `timeout`.
    pub fn new(url: &str, token: &str, timeout: Duration) -> Self {
        let base = url.trim_end_matches('/');
        Self {
            command_url: base.to_owned(),
            pipeline_url: format!("{base}/pipeline"),
            transaction_url: format!("{base}/multi-exec"),
            authorization: format!("Bearer {token}"),
            timeout,
        }
    }

    /// POSTs `body` and returns the status and body of the answer.
    async fn call(&self, url: &str, body: String) -> Result<(u16, String), RemoteError> {
        let answer = post_json(
            url,
            &[("authorization", &self.authorization)],
            body,
            self.timeout,
        )
        .await
        .map_err(|e| match e {
            OutboundError::Timeout(_) => RemoteError::Timeout,
            OutboundError::Transport(e) => RemoteError::Unavailable(e),
        })?;
        Ok((answer.status, answer.body))
    }

    async fn batch(&self, url: &str, commands: &[Command]) -> Result<Vec<Reply>, RemoteError> {
        let (status, body) = self.call(url, encode(commands)?).await?;
        decode(status, &body, commands.len())
    }
}

fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, RemoteError> {
    serde_json::to_string(value).map_err(|e| RemoteError::Protocol(e.to_string()))
}

impl Remote for Upstash {
    async fn pipeline(&self, commands: &[Command]) -> Result<Vec<Reply>, RemoteError> {
        if let [command] = commands {
            let (status, body) = self.call(&self.command_url, encode(command)?).await?;
            return decode_single(status, &body).map(|reply| vec![reply]);
        }
        self.batch(&self.pipeline_url, commands).await
    }

    async fn transaction(&self, commands: &[Command]) -> Result<Vec<Reply>, RemoteError> {
        self.batch(&self.transaction_url, commands).await
    }
}

/// Decodes the answer to one command on `POST /`: a refused command is a reply (400 with its
/// error), not an outage.
pub fn decode_single(status: u16, body: &str) -> Result<Reply, RemoteError> {
    let json: Option<Json> = serde_json::from_str(body).ok();
    match (
        status,
        json.as_ref().map(|j| (j.get("result"), j.get("error"))),
    ) {
        (200, Some((Some(result), None))) => reply(result),
        (400, Some((None, Some(Json::String(e))))) => Ok(Reply::Error(e.clone())),
        (200 | 400, _) => Err(RemoteError::Protocol("unexpected answer shape".into())),
        _ => Err(refused(status, json.as_ref())),
    }
}

/// The outage a status other than 200 (or a single command's 400) means, with the error
/// text of the answer when it has one.
fn refused(status: u16, json: Option<&Json>) -> RemoteError {
    if status == 401 {
        return RemoteError::Unavailable(
            "HTTP 401: the token was refused (UPSTASH_REDIS_REST_TOKEN)".into(),
        );
    }
    let text = json
        .and_then(|j| j["error"].as_str())
        .unwrap_or("no error text");
    RemoteError::Unavailable(format!("HTTP {status}: {text}"))
}

/// Decodes a `/pipeline` or `/multi-exec` answer that must carry `expected` replies.
pub fn decode(status: u16, body: &str, expected: usize) -> Result<Vec<Reply>, RemoteError> {
    let json: Option<Json> = serde_json::from_str(body).ok();
    if status != 200 {
        return Err(refused(status, json.as_ref()));
    }
    let Some(Json::Array(items)) = json else {
        return Err(RemoteError::Protocol("expected an array of replies".into()));
    };
    if items.len() != expected {
        return Err(RemoteError::Protocol(format!(
            "expected {expected} replies, got {}",
            items.len()
        )));
    }
    items
        .into_iter()
        .map(|item| match (item.get("result"), item.get("error")) {
            (_, Some(Json::String(e))) => Ok(Reply::Error(e.clone())),
            (Some(result), None) => reply(result),
            _ => Err(RemoteError::Protocol(format!("unexpected reply {item}"))),
        })
        .collect()
}

fn reply(value: &Json) -> Result<Reply, RemoteError> {
    Ok(match value {
        Json::Null => Reply::Nil,
        Json::String(s) => Reply::Text(s.clone()),
        Json::Number(n) => Reply::Int(
            n.as_i64()
                .ok_or_else(|| RemoteError::Protocol(format!("non-integer reply {n}")))?,
        ),
        Json::Array(items) => Reply::Array(items.iter().map(reply).collect::<Result<_, _>>()?),
        other => return Err(RemoteError::Protocol(format!("unexpected reply {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_reply_type() {
        let body = r#"[{"result":"OK"},{"result":7},{"result":null},{"result":["a",1,null]},
                      {"error":"WRONGTYPE Operation against a key holding the wrong kind of value"}]"#;
        assert_eq!(
            decode(200, body, 5).unwrap(),
            [
                Reply::Text("OK".into()),
                Reply::Int(7),
                Reply::Nil,
                Reply::Array(vec![Reply::Text("a".into()), Reply::Int(1), Reply::Nil]),
                Reply::Error(
                    "WRONGTYPE Operation against a key holding the wrong kind of value".into()
                ),
            ]
        );
    }

    #[test]
    fn refuses_answers_of_the_wrong_shape() {
        for (status, body) in [
            (200, r#"{"result":"OK"}"#),
            (200, r#"[{"result":"OK"}]"#),
            (200, r#"[{"result":1.5},{"result":1}]"#),
            (200, r#"[{"nothing":1},{"result":1}]"#),
            (200, "not json"),
        ] {
            assert!(
                matches!(decode(status, body, 2), Err(RemoteError::Protocol(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn error_statuses_are_outages_with_their_text() {
        let e = decode(401, r#"{"error":"Unauthorized"}"#, 1).unwrap_err();
        assert!(matches!(e, RemoteError::Unavailable(m) if m.contains("401")));
        let e = decode(400, r#"{"error":"ERR syntax error"}"#, 1).unwrap_err();
        assert_eq!(
            e,
            RemoteError::Unavailable("HTTP 400: ERR syntax error".into())
        );
        let e = decode(502, "<html>", 1).unwrap_err();
        assert_eq!(
            e,
            RemoteError::Unavailable("HTTP 502: no error text".into())
        );
    }

    #[test]
    fn single_commands_answer_a_result_or_a_refusal() {
        assert_eq!(
            decode_single(200, r#"{"result":"v"}"#),
            Ok(Reply::Text("v".into()))
        );
        assert_eq!(decode_single(200, r#"{"result":null}"#), Ok(Reply::Nil));
        assert_eq!(
            decode_single(400, r#"{"error":"WRONGTYPE x"}"#),
            Ok(Reply::Error("WRONGTYPE x".into()))
        );
        assert!(matches!(
            decode_single(401, r#"{"error":"WRONGPASS invalid or missing auth token"}"#),
            Err(RemoteError::Unavailable(m)) if m.contains("401")
        ));
        assert!(matches!(
            decode_single(503, r#"{"error":"down"}"#),
            Err(RemoteError::Unavailable(m)) if m == "HTTP 503: down"
        ));
        for body in ["[]", "{}", "nope", r#"{"result":1.5}"#] {
            assert!(
                matches!(decode_single(200, body), Err(RemoteError::Protocol(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn counters_read_as_integers_whether_sent_as_text_or_numbers() {
        assert_eq!(Reply::Text("42".into()).as_int(), Some(42));
        assert_eq!(Reply::Int(42).as_int(), Some(42));
        assert_eq!(Reply::Nil.as_int(), None);
    }
}

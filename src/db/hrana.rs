//! The Hrana-over-HTTP wire format (libSQL's protocol, `POST /v3/pipeline`): building
//! requests and decoding responses, with no I/O so every rule is tested natively.
//!
//! Integers travel as decimal strings (exact for all 64 bits), floats as JSON numbers, blobs
//! as base64. A transaction in one round trip is a `batch` whose steps run under conditions:
//! `BEGIN`, each statement only if the previous step succeeded, `COMMIT` only if the last
//! statement did, and `ROLLBACK` if the commit did not happen.
//! See <https://github.com/tursodatabase/libsql/blob/main/docs/HRANA_3_SPEC.md>.

use super::{classify, DbError, QueryResult, Row, Statement, Value};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value as Json};

fn encode_value(v: &Value) -> Json {
    match v {
        Value::Null => json!({"type": "null"}),
        Value::Integer(i) => json!({"type": "integer", "value": i.to_string()}),
        Value::Real(f) => json!({"type": "float", "value": f}),
        Value::Text(s) => json!({"type": "text", "value": s}),
        Value::Blob(b) => json!({"type": "blob", "base64": B64.encode(b)}),
    }
}

fn encode_stmt(s: &Statement) -> Json {
    json!({
        "sql": s.sql,
        "args": s.args.iter().map(encode_value).collect::<Vec<_>>(),
        "want_rows": true,
    })
}

/// Builds a pipeline that executes one statement and closes the stream.
pub fn execute_request(statement: &Statement) -> Json {
    json!({
        "baton": null,
        "requests": [
            {"type": "execute", "stmt": encode_stmt(statement)},
            {"type": "close"},
        ],
    })
}

/// Builds a pipeline that runs `statements` in one transaction and closes the stream.
pub fn batch_request(statements: &[Statement]) -> Json {
    let n = statements.len();
    let mut steps = vec![json!({"stmt": {"sql": "BEGIN", "args": [], "want_rows": false}})];
    for (i, s) in statements.iter().enumerate() {
        steps.push(json!({"stmt": encode_stmt(s), "condition": {"type": "ok", "step": i}}));
    }
    steps.push(json!({
        "stmt": {"sql": "COMMIT", "args": [], "want_rows": false},
        "condition": {"type": "ok", "step": n},
    }));
    steps.push(json!({
        "stmt": {"sql": "ROLLBACK", "args": [], "want_rows": false},
        "condition": {"type": "not", "cond": {"type": "ok", "step": n + 1}},
    }));
    json!({
        "baton": null,
        "requests": [
            {"type": "batch", "batch": {"steps": steps}},
            {"type": "close"},
        ],
    })
}

#[derive(Deserialize)]
struct PipelineResponse {
    #[allow(dead_code)]
    baton: Option<String>,
    #[allow(dead_code)]
    base_url: Option<String>,
    results: Vec<StreamResult>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StreamResult {
    Ok { response: StreamResponse },
    Error { error: HranaError },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StreamResponse {
    Execute { result: StmtResult },
    Batch { result: BatchResult },
    Close {},
}

#[derive(Deserialize)]
struct HranaError {
    message: String,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct BatchResult {
    step_results: Vec<Option<StmtResult>>,
    step_errors: Vec<Option<HranaError>>,
}

#[derive(Deserialize)]
struct StmtResult {
    cols: Vec<Col>,
    rows: Vec<Vec<WireValue>>,
    affected_row_count: u64,
}

#[derive(Deserialize)]
struct Col {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum WireValue {
    Null,
    Integer { value: String },
    Float { value: f64 },
    Text { value: String },
    Blob { base64: String },
}

fn decode_value(v: WireValue) -> Result<Value, DbError> {
    Ok(match v {
        WireValue::Null => Value::Null,
        WireValue::Integer { value } => Value::Integer(
            value
                .parse()
                .map_err(|_| DbError::Protocol(format!("integer {value:?}")))?,
        ),
        WireValue::Float { value } => Value::Real(value),
        WireValue::Text { value } => Value::Text(value),
        WireValue::Blob { base64 } => Value::Blob(
            B64.decode(base64.trim_end_matches('='))
                .or_else(|_| B64.decode(&base64))
                .map_err(|_| DbError::Protocol("blob is not base64".into()))?,
        ),
    })
}

fn decode_result(r: StmtResult) -> Result<QueryResult, DbError> {
    let names: Vec<String> = r
        .cols
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.name.unwrap_or_else(|| format!("column{i}")))
        .collect();
    let mut rows = Vec::with_capacity(r.rows.len());
    for raw in r.rows {
        if raw.len() != names.len() {
            return Err(DbError::Protocol("row width differs from columns".into()));
        }
        let values = raw
            .into_iter()
            .map(decode_value)
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(Row::new(names.iter().cloned().zip(values).collect()));
    }
    Ok(QueryResult {
        rows,
        rows_affected: r.affected_row_count,
    })
}

fn error(e: HranaError) -> DbError {
    let text = match e.code {
        Some(code) => format!("{code}: {}", e.message),
        None => e.message,
    };
    classify(&text)
}

fn parse(body: &str) -> Result<Vec<StreamResult>, DbError> {
    let resp: PipelineResponse = serde_json::from_str(body)
        .map_err(|e| DbError::Protocol(format!("pipeline response: {e}")))?;
    if resp.results.len() != 2 {
        return Err(DbError::Protocol("expected two results".into()));
    }
    Ok(resp.results)
}

/// Decodes the answer to [`execute_request`].
pub fn parse_execute(body: &str) -> Result<QueryResult, DbError> {
    match parse(body)?.into_iter().next() {
        Some(StreamResult::Ok {
            response: StreamResponse::Execute { result },
        }) => decode_result(result),
        Some(StreamResult::Error { error: e }) => Err(error(e)),
        _ => Err(DbError::Protocol("expected an execute result".into())),
    }
}

/// Decodes the answer to [`batch_request`] for `n` statements: their results, or the first
/// statement error (in which case nothing was committed).
pub fn parse_batch(body: &str, n: usize) -> Result<Vec<QueryResult>, DbError> {
    let result = match parse(body)?.into_iter().next() {
        Some(StreamResult::Ok {
            response: StreamResponse::Batch { result },
        }) => result,
        Some(StreamResult::Error { error: e }) => return Err(error(e)),
        _ => return Err(DbError::Protocol("expected a batch result".into())),
    };
    if result.step_results.len() != n + 3 || result.step_errors.len() != n + 3 {
        return Err(DbError::Protocol("batch step count".into()));
    }
    let mut errors = result.step_errors.into_iter();
    let mut results = result.step_results.into_iter();
    // Step 0 is BEGIN; steps 1..=n the statements; n+1 COMMIT; n+2 ROLLBACK.
    if let Some(Some(e)) = errors.next() {
        return Err(error(e));
    }
    results.next();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if let Some(Some(e)) = errors.next() {
            return Err(error(e));
        }
        match results.next().flatten() {
            Some(r) => out.push(decode_result(r)?),
            None => return Err(DbError::Protocol("statement skipped".into())),
        }
    }
    if let Some(Some(e)) = errors.next() {
        return Err(error(e));
    }
    if results.next().flatten().is_none() {
        return Err(DbError::Protocol("transaction was not committed".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::stmt;

    fn ok_execute(result: Json) -> String {
        json!({"baton": null, "base_url": null, "results": [
            {"type": "ok", "response": {"type": "execute", "result": result}},
            {"type": "ok", "response": {"type": "close"}},
        ]})
        .to_string()
    }

    #[test]
    fn values_are_encoded_exactly() {
        let s = stmt(
            "SELECT ?1, ?2, ?3, ?4, ?5",
            [
                Value::Integer(i64::MAX),
                Value::Real(1.5),
                Value::Text("x".into()),
                Value::Null,
                Value::Blob(vec![1, 2]),
            ],
        );
        let req = execute_request(&s);
        let args = &req["requests"][0]["stmt"]["args"];
        assert_eq!(
            args[0],
            json!({"type": "integer", "value": "9223372036854775807"})
        );
        assert_eq!(args[1], json!({"type": "float", "value": 1.5}));
        assert_eq!(args[2], json!({"type": "text", "value": "x"}));
        assert_eq!(args[3], json!({"type": "null"}));
        assert_eq!(args[4], json!({"type": "blob", "base64": "AQI="}));
        assert_eq!(req["requests"][1]["type"], "close");
    }

    #[test]
    fn rows_decode_with_exact_integers() {
        let body = ok_execute(json!({
            "cols": [{"name": "id", "decltype": "TEXT"}, {"name": "n", "decltype": "INTEGER"}],
            "rows": [[{"type": "text", "value": "a"}, {"type": "integer", "value": "9007199254740993"}]],
            "affected_row_count": 0, "last_insert_rowid": null, "replication_index": "1",
            "rows_read": 1, "rows_written": 0, "query_duration_ms": 0.1
        }));
        let r = parse_execute(&body).unwrap();
        assert_eq!(r.rows[0].text("id").unwrap(), "a");
        assert_eq!(r.rows[0].int("n").unwrap(), 9_007_199_254_740_993);
    }

    #[test]
    fn unexpected_shapes_are_protocol_errors() {
        for body in [
            "not json",
            "{}",
            r#"{"baton":null,"base_url":null,"results":[]}"#,
            &ok_execute(json!({"cols": [{"name": "a"}], "rows": [[]], "affected_row_count": 0})),
            &ok_execute(
                json!({"cols": [{"name": "a"}], "rows": [[{"type": "integer", "value": "1.5"}]], "affected_row_count": 0}),
            ),
            &ok_execute(
                json!({"cols": [{"name": "a"}], "rows": [[{"type": "weird"}]], "affected_row_count": 0}),
            ),
        ] {
            assert!(
                matches!(parse_execute(body), Err(DbError::Protocol(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn statement_errors_are_classified() {
        let body = json!({"baton": null, "base_url": null, "results": [
            {"type": "error", "error": {"message": "UNIQUE constraint failed: users.email", "code": "SQLITE_CONSTRAINT"}},
            {"type": "ok", "response": {"type": "close"}},
        ]})
        .to_string();
        assert!(matches!(
            parse_execute(&body),
            Err(DbError::UniqueViolation(_))
        ));
    }

    #[test]
    fn batches_are_wrapped_in_a_transaction() {
        let req = batch_request(&[stmt("INSERT 1", []), stmt("INSERT 2", [])]);
        let steps = req["requests"][0]["batch"]["steps"].as_array().unwrap();
        let sql: Vec<_> = steps
            .iter()
            .map(|s| s["stmt"]["sql"].as_str().unwrap())
            .collect();
        assert_eq!(sql, ["BEGIN", "INSERT 1", "INSERT 2", "COMMIT", "ROLLBACK"]);
        assert_eq!(steps[2]["condition"], json!({"type": "ok", "step": 1}));
        assert_eq!(steps[3]["condition"], json!({"type": "ok", "step": 2}));
        assert_eq!(steps[4]["condition"]["type"], "not");
    }

    fn stmt_result() -> Json {
        json!({"cols": [], "rows": [], "affected_row_count": 1})
    }

    #[test]
    fn batch_results_and_errors_are_decoded() {
        let ok = json!({"baton": null, "base_url": null, "results": [
            {"type": "ok", "response": {"type": "batch", "result": {
                "step_results": [stmt_result(), stmt_result(), stmt_result(), null],
                "step_errors": [null, null, null, null]}}},
            {"type": "ok", "response": {"type": "close"}},
        ]})
        .to_string();
        let r = parse_batch(&ok, 1).unwrap();
        assert_eq!(r[0].rows_affected, 1);

        let failed = json!({"baton": null, "base_url": null, "results": [
            {"type": "ok", "response": {"type": "batch", "result": {
                "step_results": [stmt_result(), null, null, stmt_result()],
                "step_errors": [null, {"message": "UNIQUE constraint failed: x.y"}, null, null]}}},
            {"type": "ok", "response": {"type": "close"}},
        ]})
        .to_string();
        assert!(matches!(
            parse_batch(&failed, 1),
            Err(DbError::UniqueViolation(_))
        ));

        let uncommitted = json!({"baton": null, "base_url": null, "results": [
            {"type": "ok", "response": {"type": "batch", "result": {
                "step_results": [stmt_result(), stmt_result(), null, stmt_result()],
                "step_errors": [null, null, null, null]}}},
            {"type": "ok", "response": {"type": "close"}},
        ]})
        .to_string();
        assert!(matches!(
            parse_batch(&uncommitted, 1),
            Err(DbError::Protocol(_))
        ));
    }
}

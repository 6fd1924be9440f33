//! The [`Database`] adapter for D1 through its binding, using the Sessions API.
//!
//! Every request runs in one D1 session. A client that sends the `x-d1-bookmark` it received
//! earlier gets reads at least as new as that bookmark (read replication may otherwise serve
//! an older replica); without one the session starts `first-unconstrained` (any replica).
//! The latest bookmark goes back in every response's `x-d1-bookmark`.

use super::{classify_d1 as classify, Database, DbError, QueryResult, Row, Statement, Value};
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{D1DatabaseSession, D1PreparedStatement, D1Result};

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE: i64 = (1 << 53) - 1;

/// One request's D1 session.
pub struct D1 {
    session: D1DatabaseSession,
}

impl D1 {
    /// Opens a session on the database bound as `binding`, anchored at `bookmark` if given.
    pub fn new(env: &worker::Env, binding: &str, bookmark: Option<&str>) -> Result<Self, DbError> {
        // A missing binding is a deployment fault, not an outage: retrying will not help.
        let db = env
            .d1(binding)
            .map_err(|e| DbError::Query(format!("D1 binding {binding}: {e}")))?;
        let session = db
            .with_session(Some(bookmark.unwrap_or("first-unconstrained")))
            .map_err(|e| DbError::Query(format!("D1 session: {e}")))?;
        Ok(Self { session })
    }

    fn prepare(&self, statement: &Statement) -> Result<D1PreparedStatement, DbError> {
        let args = statement
            .args
            .iter()
            .map(to_js)
            .collect::<Result<Vec<_>, _>>()?;
        self.session
            .prepare(statement.sql.as_ref())
            .bind(&args)
            .map_err(|e| DbError::Query(e.to_string()))
    }
}

fn to_js(v: &Value) -> Result<JsValue, DbError> {
    Ok(match v {
        Value::Null => JsValue::NULL,
        Value::Integer(i) if i.abs() <= MAX_SAFE => JsValue::from_f64(*i as f64),
        Value::Integer(i) => {
            return Err(DbError::Query(format!(
                "integer {i} cannot pass through D1 exactly; store it as text"
            )))
        }
        Value::Real(f) => JsValue::from_f64(*f),
        Value::Text(s) => JsValue::from_str(s),
        Value::Blob(b) => js_sys::Uint8Array::from(b.as_slice()).into(),
    })
}

/// Converts a D1 row value. Integral numbers within 2^53 are integers (that is all D1 can
/// carry exactly); other numbers are reals.
fn from_json(v: Json) -> Result<Value, DbError> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::String(s) => Value::Text(s),
        Json::Bool(b) => Value::Integer(i64::from(b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => {
                let f = n
                    .as_f64()
                    .ok_or_else(|| DbError::Protocol("number out of range".into()))?;
                if f.fract() == 0.0 && f.abs() <= MAX_SAFE as f64 {
                    Value::Integer(f as i64)
                } else {
                    Value::Real(f)
                }
            }
        },
        Json::Array(items) => Value::Blob(
            items
                .into_iter()
                .map(|i| i.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| DbError::Protocol("array value is not a blob".into()))?,
        ),
        Json::Object(_) => return Err(DbError::Protocol("object value".into())),
    })
}

/// The shape of `D1PreparedStatement.all()`'s answer, as JSON.
#[derive(Deserialize)]
struct AllResult {
    #[serde(default)]
    results: Vec<Map<String, Json>>,
    #[serde(default)]
    meta: Option<AllMeta>,
}

#[derive(Deserialize)]
struct AllMeta {
    #[serde(default)]
    changes: Option<u64>,
}

fn rows(objects: Vec<Map<String, Json>>) -> Result<Vec<Row>, DbError> {
    objects
        .into_iter()
        .map(|obj| {
            obj.into_iter()
                .map(|(k, v)| from_json(v).map(|v| (k, v)))
                .collect::<Result<Vec<_>, _>>()
                .map(Row::new)
        })
        .collect()
}

/// The message of a thrown D1 error, with its cause (where SQLite's text is).
fn js_error(err: JsValue) -> String {
    match err.dyn_ref::<js_sys::Error>() {
        Some(e) => {
            let mut text = String::from(e.message());
            if let Some(cause) = e.cause().dyn_ref::<js_sys::Error>() {
                text.push_str(": ");
                text.push_str(&String::from(cause.message()));
            }
            text
        }
        None => err.as_string().unwrap_or_else(|| "D1 error".into()),
    }
}

fn convert(result: D1Result) -> Result<QueryResult, DbError> {
    if let Some(err) = result.error() {
        return Err(classify(&err));
    }
    let rows = rows(
        result
            .results::<Map<String, Json>>()
            .map_err(|e| DbError::Protocol(format!("D1 rows: {e}")))?,
    )?;
    let rows_affected = result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .unwrap_or(0) as u64;
    Ok(QueryResult {
        rows,
        rows_affected,
    })
}

impl Database for D1 {
    /// Runs `all()` and moves its whole answer across in one `JSON.stringify` call, where
    /// decoding the result object field by field through `serde-wasm-bindgen` would cost a
    /// JS↔Wasm crossing per value.
    async fn execute(&self, statement: Statement) -> Result<QueryResult, DbError> {
        let prepared = self.prepare(&statement)?;
        let promise = prepared.inner().all().map_err(|e| classify(&js_error(e)))?;
        let value = JsFuture::from(promise)
            .await
            .map_err(|e| classify(&js_error(e)))?;
        let text = js_sys::JSON::stringify(&value)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| DbError::Protocol("D1 result is not serialisable".into()))?;
        let all: AllResult = serde_json::from_str(&text)
            .map_err(|e| DbError::Protocol(format!("D1 result: {e}")))?;
        Ok(QueryResult {
            rows: rows(all.results)?,
            rows_affected: all.meta.and_then(|m| m.changes).unwrap_or(0),
        })
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<QueryResult>, DbError> {
        let prepared = statements
            .iter()
            .map(|s| self.prepare(s))
            .collect::<Result<Vec<_>, _>>()?;
        self.session
            .batch(prepared)
            .await
            .map_err(|e| classify(&e.to_string()))?
            .into_iter()
            .map(convert)
            .collect()
    }

    fn bookmark(&self) -> Option<String> {
        self.session.get_bookmark().ok().flatten()
    }
}

//! The database port: one small interface over D1 (through its binding) and Turso/libSQL
//! (Hrana over HTTP), chosen by `DB_BACKEND`.
//!
//! Repositories write parameterised [`Statement`]s and read typed values from [`Row`]s; they
//! never see which backend runs them. Every answer from a backend is decoded strictly: a value
//! of the wrong type or a response of unexpected shape is a [`DbError::Protocol`], never a
//! panic.
//!
//! Conventions that keep values exact across both backends: ids are UUIDv7 text, times are
//! integer Unix milliseconds (D1 hands integers to JavaScript as doubles, exact to 2^53; Hrana
//! sends them as strings), and booleans are integers.

pub mod d1;
pub mod hrana;
pub mod turso;

use crate::error::{AppError, ErrorCode};
use std::borrow::Cow;
use std::fmt;

/// An SQLite value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Integer(v)
    }
}
impl From<u64> for Value {
    /// Times and counters: saturates at `i64::MAX`, far beyond any real millisecond time.
    fn from(v: u64) -> Self {
        Self::Integer(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Self::Integer(i64::from(v))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// A parameterised statement: SQL with `?1`… placeholders and its arguments. SQL text is
/// never built from input.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub args: Vec<Value>,
}

/// Builds a statement from static SQL and arguments.
pub fn stmt(sql: &'static str, args: impl IntoIterator<Item = Value>) -> Statement {
    Statement {
        sql: Cow::Borrowed(sql),
        args: args.into_iter().collect(),
    }
}

/// One result row: column names with their values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    columns: Vec<(String, Value)>,
}

impl Row {
    /// Builds a row from (column, value) pairs.
    pub fn new(columns: Vec<(String, Value)>) -> Self {
        Self { columns }
    }

    fn get(&self, name: &str) -> Result<&Value, DbError> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| DbError::Protocol(format!("column {name} missing")))
    }

    /// Reads a non-null text column.
    pub fn text(&self, name: &str) -> Result<String, DbError> {
        match self.get(name)? {
            Value::Text(s) => Ok(s.clone()),
            other => Err(DbError::Protocol(format!(
                "column {name}: expected text, got {}",
                kind(other)
            ))),
        }
    }

    /// Reads a non-null text column through a domain parser: stored values are decoded into
    /// the same types requests are, and one that breaks a rule is a protocol error naming
    /// the column.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, crate::domain::Issue>,
    ) -> Result<T, DbError> {
        parse(&self.text(name)?)
            .map_err(|issue| DbError::Protocol(format!("column {name}: {issue}")))
    }

    /// Reads a non-null integer column.
    pub fn int(&self, name: &str) -> Result<i64, DbError> {
        match self.get(name)? {
            Value::Integer(i) => Ok(*i),
            other => Err(DbError::Protocol(format!(
                "column {name}: expected integer, got {}",
                kind(other)
            ))),
        }
    }

    /// Reads a non-negative integer column (times, counters).
    pub fn uint(&self, name: &str) -> Result<u64, DbError> {
        let i = self.int(name)?;
        u64::try_from(i).map_err(|_| DbError::Protocol(format!("column {name}: negative")))
    }

    /// True when the column is NULL (as every column of the missing side of a `LEFT JOIN`).
    pub fn is_null(&self, name: &str) -> Result<bool, DbError> {
        Ok(matches!(self.get(name)?, Value::Null))
    }

    /// Reads a nullable non-negative integer column.
    pub fn opt_uint(&self, name: &str) -> Result<Option<u64>, DbError> {
        match self.get(name)? {
            Value::Null => Ok(None),
            _ => self.uint(name).map(Some),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Integer(_) => "integer",
        Value::Real(_) => "real",
        Value::Text(_) => "text",
        Value::Blob(_) => "blob",
    }
}

/// The outcome of one statement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResult {
    pub rows: Vec<Row>,
    pub rows_affected: u64,
}

/// Why a database call failed, in the terms the API answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// A UNIQUE or PRIMARY KEY constraint refused the write (→ 409).
    UniqueViolation(String),
    /// A FOREIGN KEY constraint refused the write: what it refers to is gone (→ 409).
    MissingReference(String),
    /// The backend could not be reached, timed out or answered 5xx (→ 503).
    Unavailable(String),
    /// The backend answered something this code cannot decode (→ 500).
    Protocol(String),
    /// The backend refused the statement for another reason (→ 500).
    Query(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UniqueViolation(m) => write!(f, "unique violation: {m}"),
            Self::MissingReference(m) => write!(f, "foreign key violation: {m}"),
            Self::Unavailable(m) => write!(f, "database unavailable: {m}"),
            Self::Protocol(m) => write!(f, "unexpected database answer: {m}"),
            Self::Query(m) => write!(f, "query failed: {m}"),
        }
    }
}

impl std::error::Error for DbError {}

/// Classifies an SQLite error message (both backends pass SQLite's text through).
pub fn classify(message: &str) -> DbError {
    if message.contains("UNIQUE constraint failed")
        || message.contains("SQLITE_CONSTRAINT_UNIQUE")
        || message.contains("SQLITE_CONSTRAINT_PRIMARYKEY")
    {
        DbError::UniqueViolation(message.to_owned())
    } else if message.contains("FOREIGN KEY constraint failed")
        || message.contains("SQLITE_CONSTRAINT_FOREIGNKEY")
    {
        DbError::MissingReference(message.to_owned())
    } else if message.contains("database is locked") || message.contains("SQLITE_BUSY") {
        DbError::Unavailable(message.to_owned())
    } else {
        DbError::Query(message.to_owned())
    }
}

/// Classifies a D1 error. D1 passes SQLite's own errors through with their `SQLITE_*` code
/// (and its type errors as `D1_TYPE_ERROR`): those are the statement's fault. Anything else
/// ("Failed to get session commit token", "Network connection lost", "D1 DB is overloaded",
/// an internal error) is the service's, answered 503 with `Retry-After` so clients retry.
pub fn classify_d1(message: &str) -> DbError {
    if message.contains("SQLITE_") || message.contains("D1_TYPE_ERROR") {
        classify(message)
    } else {
        DbError::Unavailable(message.to_owned())
    }
}

/// Maps database failures to API errors; the backend's text only reaches the log.
impl From<DbError> for AppError {
    fn from(err: DbError) -> Self {
        match &err {
            DbError::UniqueViolation(_) => AppError::new(ErrorCode::Conflict).with_cause(err),
            // A query that knows what its reference means maps this itself (a new note's
            // owner gone: the session was a deleted account's, 401).
            DbError::MissingReference(_) => AppError::new(ErrorCode::Conflict)
                .with_message("The request refers to something that no longer exists.")
                .with_cause(err),
            DbError::Unavailable(_) => AppError::unavailable(err, 1),
            DbError::Protocol(_) | DbError::Query(_) => AppError::internal(err),
        }
    }
}

/// What every backend offers.
#[allow(async_fn_in_trait)]
pub trait Database {
    /// Runs one statement.
    async fn execute(&self, statement: Statement) -> Result<QueryResult, DbError>;
    /// Runs statements as one transaction: all apply or none.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<QueryResult>, DbError>;
    /// The D1 bookmark after this request's queries (read replication), if any.
    fn bookmark(&self) -> Option<String>;
}

/// The configured backend.
pub enum Db {
    D1(d1::D1),
    Turso(turso::Turso),
}

impl Database for Db {
    async fn execute(&self, statement: Statement) -> Result<QueryResult, DbError> {
        match self {
            Self::D1(db) => db.execute(statement).await,
            Self::Turso(db) => db.execute(statement).await,
        }
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<QueryResult>, DbError> {
        match self {
            Self::D1(db) => db.batch(statements).await,
            Self::Turso(db) => db.batch(statements).await,
        }
    }

    fn bookmark(&self) -> Option<String> {
        match self {
            Self::D1(db) => db.bookmark(),
            Self::Turso(db) => db.bookmark(),
        }
    }
}

impl Db {
    /// Runs one statement and returns its rows.
    pub async fn rows(&self, statement: Statement) -> Result<Vec<Row>, DbError> {
        Ok(self.execute(statement).await?.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_strictly() {
        let row = Row::new(vec![
            ("id".into(), Value::Text("a".into())),
            ("n".into(), Value::Integer(-1)),
        ]);
        assert_eq!(row.text("id").unwrap(), "a");
        assert_eq!(row.int("n").unwrap(), -1);
        assert!(matches!(row.uint("n"), Err(DbError::Protocol(_))));
        assert!(matches!(row.int("id"), Err(DbError::Protocol(_))));
        assert!(matches!(row.text("missing"), Err(DbError::Protocol(_))));
        assert_eq!(row.parsed("id", |s| Ok::<_, &str>(s.len())).unwrap(), 1);
        let refused = row.parsed("id", |_| Err::<(), _>("too_short"));
        assert_eq!(
            refused,
            Err(DbError::Protocol("column id: too_short".into()))
        );
    }

    #[test]
    fn sqlite_messages_are_classified() {
        assert!(matches!(
            classify("D1_ERROR: UNIQUE constraint failed: users.email: SQLITE_CONSTRAINT"),
            DbError::UniqueViolation(_)
        ));
        assert!(matches!(
            classify("SQLITE_BUSY: database is locked"),
            DbError::Unavailable(_)
        ));
        assert!(matches!(classify("no such table: x"), DbError::Query(_)));
        for fk in [
            "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT",
            "SQLITE_CONSTRAINT_FOREIGNKEY: FOREIGN KEY constraint failed",
        ] {
            assert!(matches!(classify(fk), DbError::MissingReference(_)), "{fk}");
            let err = AppError::from(classify(fk));
            assert_eq!(err.code(), ErrorCode::Conflict);
        }
    }

    #[test]
    fn d1_service_faults_are_unavailable_and_statement_errors_are_not() {
        for fault in [
            "D1_ERROR: Failed to get session commit token",
            "D1_ERROR: Network connection lost.",
            "D1 DB is overloaded. Requests queued for too long.",
            "D1_ERROR: internal error",
        ] {
            let err: AppError = classify_d1(fault).into();
            assert_eq!(err.status(), 503, "{fault}");
            assert!(err.headers().iter().any(|(n, _)| *n == "Retry-After"));
        }
        assert!(matches!(
            classify_d1("D1_ERROR: no such table: notes: SQLITE_ERROR"),
            DbError::Query(_)
        ));
        assert!(matches!(
            classify_d1("D1_ERROR: UNIQUE constraint failed: users.email: SQLITE_CONSTRAINT"),
            DbError::UniqueViolation(_)
        ));
        assert!(matches!(
            classify_d1("D1_TYPE_ERROR: Type 'bigint' not supported"),
            DbError::Query(_)
        ));
    }

    #[test]
    fn errors_map_to_api_codes_without_their_text() {
        let e: AppError = DbError::UniqueViolation("users.email".into()).into();
        assert_eq!(e.status(), 409);
        assert!(!String::from_utf8(e.to_body("r")).unwrap().contains("users"));
        let e: AppError = DbError::Unavailable("connect refused 10.0.0.1".into()).into();
        assert_eq!(e.status(), 503);
        assert!(e.headers().iter().any(|(n, _)| *n == "Retry-After"));
        let e: AppError = DbError::Protocol("bad".into()).into();
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn values_convert() {
        assert_eq!(Value::from(Some("x")), Value::Text("x".into()));
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(u64::MAX), Value::Integer(i64::MAX));
    }
}

//! Notes in the database, over the port. Every query that touches one note names its owner,
//! so another user's note is indistinguishable from a missing one.

use super::Note;
use crate::auth::unauthenticated;
use crate::db::{stmt, Database, Db, DbError, Row, Statement, Value};
use crate::domain::{NoteBody, NoteId, NoteTitle, Tag, Tags, UserId};
use crate::error::AppError;

/// The note columns, for `concat!` into static SQL.
macro_rules! columns {
    () => {
        "id, owner_id, title, body, tags_json, created_at, updated_at, version"
    };
}

impl Note {
    /// Decodes a row of the note columns into parsed types; a stored value that breaks a
    /// rule is a protocol error naming the column.
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let tags_json: serde_json::Value = serde_json::from_str(&row.text("tags_json")?)
            .map_err(|e| DbError::Protocol(format!("column tags_json: {e}")))?;
        let tags = Tags::parse(&tags_json)
            .map_err(|issue| DbError::Protocol(format!("column tags_json: {issue}")))?;
        Ok(Self {
            id: row.parsed("id", NoteId::parse)?,
            owner_id: row.parsed("owner_id", UserId::parse)?,
            title: row.parsed("title", NoteTitle::parse)?,
            body: row.parsed("body", NoteBody::parse)?,
            tags,
            created_at: row.uint("created_at")?,
            updated_at: row.uint("updated_at")?,
            version: row.int("version")?,
        })
    }
}

/// Maps a failed insert of a new note. Its one reference is its owner, so a foreign-key
/// failure means the account was deleted after this session was read (an isolate keeps its
/// copy of a session for `SESSION_CACHE_SECS`): the session is dead, so 401 and the cookie
/// cleared, as on the next request after the copy expires.
fn insert_failed(err: DbError) -> AppError {
    match err {
        DbError::MissingReference(_) => unauthenticated(true).with_cause(err),
        err => err.into(),
    }
}

fn notes(rows: Vec<Row>) -> Result<Vec<Note>, AppError> {
    rows.iter()
        .map(|r| Note::from_row(r).map_err(AppError::from))
        .collect()
}

fn tags_json(tags: &Tags) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

/// What an idempotent create found when it finished.
pub enum Created {
    /// This request created the note.
    New,
    /// An earlier request with the same key and body did: its stored response.
    Replay { status: u16, body: String },
    /// An earlier request used the same key with a different body.
    KeyReused,
}

/// The notes table.
pub struct Notes<'a> {
    db: &'a Db,
}

impl<'a> Notes<'a> {
    /// Uses `db`.
    pub fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// The note's columns as arguments `?1`–`?8`, in the order of `columns!()`.
    fn note_args(note: &Note) -> Vec<Value> {
        vec![
            note.id.as_str().into(),
            note.owner_id.as_str().into(),
            note.title.as_str().into(),
            note.body.as_str().into(),
            tags_json(&note.tags).into(),
            note.created_at.into(),
            note.updated_at.into(),
            note.version.into(),
        ]
    }

    fn insert_note(note: &Note) -> Statement {
        stmt(
            concat!(
                "INSERT INTO notes (",
                columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            Self::note_args(note),
        )
    }

    /// Stores a new note.
    pub async fn create(&self, note: &Note) -> Result<(), AppError> {
        self.db
            .execute(Self::insert_note(note))
            .await
            .map_err(insert_failed)?;
        Ok(())
    }

    /// Stores a new note under an `Idempotency-Key`, in one transaction: the owner's expired
    /// claims are cleared (so an owner keeps at most a day of them, whatever keys it sends),
    /// the key is claimed (unless an unexpired claim exists), the note is inserted only if
    /// this request's claim won, and the winning claim is read back. Two concurrent requests
    /// with one key therefore create one note, and the loser learns what the winner answered.
    pub async fn create_idempotent(
        &self,
        note: &Note,
        key: &str,
        request_hash: &str,
        response_body: &str,
        now: u64,
        ttl_ms: u64,
    ) -> Result<Created, AppError> {
        let owner = || Value::from(note.owner_id.as_str());
        let results = self
            .db
            .batch(vec![
                stmt(
                    "DELETE FROM idempotency_keys WHERE owner_id = ?1 AND expires_at <= ?2",
                    [owner(), now.into()],
                ),
                stmt(
                    "INSERT INTO idempotency_keys \
                     (owner_id, key, request_hash, note_id, status, response_body, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, 201, ?5, ?6, ?7) \
                     ON CONFLICT (owner_id, key) DO NOTHING",
                    [
                        owner(),
                        key.into(),
                        request_hash.into(),
                        note.id.as_str().into(),
                        response_body.into(),
                        now.into(),
                        (now + ttl_ms).into(),
                    ],
                ),
                // Inserted only if this request's claim is the one stored.
                stmt(
                    concat!(
                        "INSERT INTO notes (",
                        columns!(),
                        ") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS \
                         (SELECT 1 FROM idempotency_keys WHERE owner_id = ?2 AND key = ?9 AND note_id = ?1)"
                    ),
                    Self::note_args(note).into_iter().chain([key.into()]),
                ),
                stmt(
                    "SELECT request_hash, note_id, status, response_body FROM idempotency_keys \
                     WHERE owner_id = ?1 AND key = ?2",
                    [owner(), key.into()],
                ),
            ])
            .await
            .map_err(insert_failed)?;
        let claim = results
            .get(3)
            .and_then(|r| r.rows.first())
            .ok_or_else(|| AppError::internal("idempotency claim missing after batch"))?;
        if claim.text("note_id")? == note.id.as_str() {
            Ok(Created::New)
        } else if claim.text("request_hash")? == request_hash {
            let status = u16::try_from(claim.int("status")?)
                .map_err(|_| AppError::internal("stored status out of range"))?;
            Ok(Created::Replay {
                status,
                body: claim.text("response_body")?,
            })
        } else {
            Ok(Created::KeyReused)
        }
    }

    /// Returns the owner's note `id`.
    pub async fn get(&self, owner_id: &UserId, id: &NoteId) -> Result<Option<Note>, AppError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM notes WHERE id = ?1 AND owner_id = ?2"
        );
        Ok(notes(
            self.db
                .rows(stmt(sql, [id.as_str().into(), owner_id.as_str().into()]))
                .await?,
        )?
        .into_iter()
        .next())
    }

    /// Returns any note `id`, whoever owns it (administrators).
    pub async fn get_any(&self, id: &NoteId) -> Result<Option<Note>, AppError> {
        let sql = concat!("SELECT ", columns!(), " FROM notes WHERE id = ?1");
        Ok(notes(self.db.rows(stmt(sql, [id.as_str().into()])).await?)?
            .into_iter()
            .next())
    }

    /// Lists the owner's notes newest first, after the (created_at, id) position `after`,
    /// optionally only those tagged `tag`.
    pub async fn list(
        &self,
        owner_id: &UserId,
        after: Option<(u64, &NoteId)>,
        tag: Option<&Tag>,
        limit: u32,
    ) -> Result<Vec<Note>, AppError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM notes WHERE owner_id = ?1 \
             AND (?2 IS NULL OR (created_at, id) < (?2, ?3)) \
             AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(notes.tags_json) \
             WHERE json_each.value = ?4)) \
             ORDER BY created_at DESC, id DESC LIMIT ?5"
        );
        let (created, id) = after.map_or((Value::Null, Value::Null), |(c, i)| {
            (c.into(), i.as_str().into())
        });
        let tag = tag.map(Tag::as_str);
        notes(
            self.db
                .rows(stmt(
                    sql,
                    [
                        owner_id.as_str().into(),
                        created,
                        id,
                        tag.into(),
                        limit.into(),
                    ],
                ))
                .await?,
        )
    }

    /// Writes new field values if the note is still at `expected_version`; returns the
    /// updated note, or `None` when it is missing or was changed meanwhile.
    pub async fn update(
        &self,
        note: &Note,
        expected_version: i64,
    ) -> Result<Option<Note>, AppError> {
        let sql = concat!(
            "UPDATE notes SET title = ?3, body = ?4, tags_json = ?5, updated_at = ?6, \
             version = version + 1 WHERE id = ?1 AND owner_id = ?2 AND version = ?7 \
             RETURNING ",
            columns!()
        );
        let rows = self
            .db
            .rows(stmt(
                sql,
                [
                    note.id.as_str().into(),
                    note.owner_id.as_str().into(),
                    note.title.as_str().into(),
                    note.body.as_str().into(),
                    tags_json(&note.tags).into(),
                    note.updated_at.into(),
                    expected_version.into(),
                ],
            ))
            .await?;
        Ok(notes(rows)?.into_iter().next())
    }

    /// Deletes the owner's note, only at `expected_version` when given; returns whether a
    /// row went.
    pub async fn delete(
        &self,
        owner_id: &UserId,
        id: &NoteId,
        expected_version: Option<i64>,
    ) -> Result<bool, AppError> {
        let result = self
            .db
            .execute(stmt(
                "DELETE FROM notes WHERE id = ?1 AND owner_id = ?2 AND (?3 IS NULL OR version = ?3)",
                [
                    id.as_str().into(),
                    owner_id.as_str().into(),
                    expected_version.into(),
                ],
            ))
            .await?;
        Ok(result.rows_affected > 0)
    }
}

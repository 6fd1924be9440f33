//! `/v1/notes` routes and the admin read.

use super::repo::{Created, Notes};
use super::{etag, location, Note};
use crate::auth::token::digest_hex;
use crate::cache::{digest_key, Entry, Fill};
use crate::context::Ctx;
use crate::domain::{NoteBody, NoteId, NoteTitle, Tag, Tags, UserId};
use crate::error::{AppError, ErrorCode, FieldIssue};
use crate::http::conditional;
use crate::http::input::{string, Patch};
use crate::http::ApiResponse;
use serde_json::json;

/// How long an `Idempotency-Key` is remembered.
const IDEMPOTENCY_TTL_MS: u64 = 24 * 60 * 60 * 1000;

fn note_response(status: u16, note: &Note) -> Result<ApiResponse, AppError> {
    Ok(ApiResponse::json(status, &note.view())?.with_header("ETag", note.etag()))
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound)
}

/// Reads `Idempotency-Key` if sent.
fn idempotency_key(cx: &Ctx) -> Result<Option<String>, AppError> {
    cx.header("idempotency-key")
        .map(|k| parse_idempotency_key(&k).map(str::to_owned))
        .transpose()
}

/// Checks an `Idempotency-Key`: 1–255 visible ASCII characters, else 422.
pub fn parse_idempotency_key(key: &str) -> Result<&str, AppError> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(key)
    } else {
        Err(AppError::validation(vec![FieldIssue::new(
            "Idempotency-Key",
            "invalid_format",
        )]))
    }
}

/// `POST /v1/notes`: creates a note (201 with `Location` and `ETag`). With an
/// `Idempotency-Key`, a retry with the same body replays the first response for 24 hours and
/// a different body under the same key is 422 IDEMPOTENCY_KEY_REUSED.
pub async fn create(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = cx.user_id()?.clone();
    let key = idempotency_key(cx)?;

    let mut input = cx.input(&["title", "body", "tags"]).await?;
    let title = input.required("title", NoteTitle::parse);
    let body = input.optional_value("body", string(NoteBody::parse));
    let tags = input.optional_value("tags", Tags::parse);
    input.finish()?;
    let title = title.ok_or_else(|| AppError::internal("validated title missing"))?;

    let now = cx.now();
    let note = Note {
        id: NoteId::generate(now),
        owner_id,
        title,
        body: body.unwrap_or_default(),
        tags: tags.unwrap_or_default(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let db = cx.db()?;
    let notes = Notes::new(&db);
    let Some(key) = key else {
        notes.create(&note).await?;
        cx.cache(&note.owner_id).invalidate().await;
        return Ok(note_response(201, &note)?.with_header("Location", note.location()));
    };

    // The request's identity is its validated content, so formatting differences in the JSON
    // do not count as a different request.
    let request_hash = digest_hex(
        json!({"title": note.title, "body": note.body, "tags": note.tags})
            .to_string()
            .as_bytes(),
    );
    let body = serde_json::to_string(&note.view()).map_err(AppError::internal)?;
    let created = notes
        .create_idempotent(&note, &key, &request_hash, &body, now, IDEMPOTENCY_TTL_MS)
        .await?;
    match created {
        Created::New => {
            cx.cache(&note.owner_id).invalidate().await;
            Ok(note_response(201, &note)?.with_header("Location", note.location()))
        }
        Created::Replay { status, body } => replay(status, body),
        Created::KeyReused => Err(AppError::new(ErrorCode::IdempotencyKeyReused)),
    }
}

/// Rebuilds the first response from what was stored: same status, body, `Location` and
/// `ETag`.
fn replay(status: u16, body: String) -> Result<ApiResponse, AppError> {
    let stored: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| AppError::internal(format!("stored response: {e}")))?;
    let id = stored["id"].as_str().and_then(|id| NoteId::parse(id).ok());
    let (Some(id), Some(version)) = (id, stored["version"].as_i64()) else {
        return Err(AppError::internal("stored response lacks id or version"));
    };
    Ok(ApiResponse {
        status,
        headers: vec![("Content-Type", "application/json".into())],
        body: body.into_bytes(),
    }
    .with_header("Location", location(&id))
    .with_header("ETag", etag(version))
    .with_header("Idempotent-Replayed", "true"))
}

/// The position a notes cursor encodes, with the filter it was issued for.
type NotesCursor = (u64, NoteId, Option<Tag>);

/// `GET /v1/notes?limit=&cursor=&tag=`: the caller's notes, newest first.
pub async fn list(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = cx.user_id()?.clone();
    let tag = match cx.query("tag")? {
        Some(raw) => Some(
            Tag::parse(&raw)
                .map_err(|issue| AppError::validation(vec![FieldIssue::new("tag", issue)]))?,
        ),
        None => None,
    };
    let page = cx.page::<NotesCursor>()?;
    if let Some((_, _, cursor_tag)) = &page.after {
        if cursor_tag != &tag {
            return Err(AppError::new(ErrorCode::BadRequest)
                .with_message("The cursor belongs to another filter."));
        }
    }
    let limit = page.limit;
    // A page is named by its validated parameters; the body includes its signed cursor.
    let name = serde_json::to_string(&(limit, &page.after, &tag)).map_err(AppError::internal)?;
    let cx: &Ctx = cx;
    let load = || async {
        let db = cx.db_for_fill()?;
        let after = page.after.as_ref().map(|(c, id, _)| (*c, id));
        let mut items = Notes::new(&db)
            .list(&owner_id, after, tag.as_ref(), limit + 1)
            .await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = match items.last() {
            Some(last) if more => Some(cx.cursor(&(last.created_at, &last.id, &tag))),
            _ => None,
        };
        let views: Vec<_> = items.iter().map(Note::view).collect();
        let body = json!({"items": views, "next_cursor": next_cursor}).to_string();
        let etag = format!("W/\"{}\"", digest_key(&body));
        Ok(Some(Fill {
            etag: Some(etag),
            body,
        }))
    };
    let entry = cx
        .cache(&owner_id)
        .read(&format!("list:{}", digest_key(&name)), load)
        .await?
        .ok_or_else(|| AppError::internal("the list loader always fills"))?;
    Ok(cached_response(cx, &entry))
}

/// `GET /v1/notes/{id}`: 200 with `ETag`, or 304 when `If-None-Match` matches, 412 when
/// `If-Match` does not. Served through the cache.
pub async fn get(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = cx.user_id()?.clone();
    let id = cx.id(NoteId::parse)?;
    let cx: &Ctx = cx;
    let load = || async {
        let db = cx.db_for_fill()?;
        let Some(note) = Notes::new(&db).get(&owner_id, &id).await? else {
            return Ok(None);
        };
        let body = serde_json::to_string(&note.view()).map_err(AppError::internal)?;
        Ok(Some(Fill {
            etag: Some(note.etag()),
            body,
        }))
    };
    let entry = cx
        .cache(&owner_id)
        .read(&format!("note:{id}"), load)
        .await?
        .ok_or_else(not_found)?;
    // `If-Match` is checked on the answer, as on every read (`pipeline::dispatch`).
    Ok(cached_response(cx, &entry))
}

/// The preconditions of a change to `current` (RFC 9110 §13.1): an `If-Match` must name its
/// version, and an `If-None-Match` must not name it (`*` names any note); else 412, and the
/// change is not made. The 412 names the current `ETag`.
fn check_preconditions(cx: &Ctx, if_match: Option<&str>, current: &Note) -> Result<(), AppError> {
    let etag = current.etag();
    let stale = if_match.is_some_and(|h| !conditional::matches(h, &etag));
    let named = cx
        .header("if-none-match")
        .is_some_and(|h| conditional::none_match(&h, &etag));
    if stale || named {
        Err(AppError::new(ErrorCode::PreconditionFailed).with_header("ETag", etag))
    } else {
        Ok(())
    }
}

/// Answers from a cache entry: 304 when `If-None-Match` matches its ETag, else 200.
fn cached_response(cx: &Ctx, entry: &Entry) -> ApiResponse {
    conditional::respond(
        cx.header("if-none-match").as_deref(),
        entry.etag.as_deref(),
        || entry.body.as_bytes().to_vec(),
    )
}

/// `PATCH /v1/notes/{id}` with a JSON Merge Patch of `title`, `body` and `tags` (any other
/// field, such as `id` or `created_at`, is 422). `If-Match` with a stale ETag is 412, as is an
/// `If-None-Match` that names the note (`*` included); without `If-Match`, a concurrent change
/// between read and write is 409. A patch that changes nothing writes nothing: the note comes
/// back as it is, its version and ETag unchanged.
pub async fn update(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = cx.user_id()?.clone();
    let id = cx.id(NoteId::parse)?;
    let if_match = cx.header("if-match");

    let mut input = cx.input(&["title", "body", "tags"]).await?;
    let title = input.patch("title", string(NoteTitle::parse));
    let body = input.patch("body", string(NoteBody::parse));
    let tags = input.patch("tags", Tags::parse);
    if title == Patch::Remove {
        input.reject("title", "required");
    }
    input.finish()?;

    let db = cx.db()?;
    let notes = Notes::new(&db);
    let current = notes.get(&owner_id, &id).await?.ok_or_else(not_found)?;
    check_preconditions(cx, if_match.as_deref(), &current)?;
    let mut next = current.clone();
    if let Patch::Set(t) = title {
        next.title = t;
    }
    match body {
        Patch::Set(b) => next.body = b,
        Patch::Remove => next.body = NoteBody::default(),
        Patch::Keep => {}
    }
    match tags {
        Patch::Set(t) => next.tags = t,
        Patch::Remove => next.tags = Tags::default(),
        Patch::Keep => {}
    }
    if (&next.title, &next.body, &next.tags) == (&current.title, &current.body, &current.tags) {
        // Nothing changes (`{}`, or every value as it is, RFC 7396): no new version, so the
        // ETag others hold stays good and the cache stays warm.
        return note_response(200, &current);
    }
    next.updated_at = cx.now().max(current.updated_at);
    match notes.update(&next, current.version).await? {
        Some(updated) => {
            cx.cache(&owner_id).invalidate().await;
            note_response(200, &updated)
        }
        // Someone else wrote between our read and our write.
        None if if_match.is_some() => Err(AppError::new(ErrorCode::PreconditionFailed)),
        None => Err(AppError::new(ErrorCode::Conflict)
            .with_message("The note changed while it was being updated; fetch it and retry.")),
    }
}

/// `DELETE /v1/notes/{id}`: 204; `If-Match` is honoured (412 on a stale ETag), and so is
/// `If-None-Match` (412 when it names the note, `*` included).
pub async fn delete(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let owner_id: UserId = cx.user_id()?.clone();
    let id = cx.id(NoteId::parse)?;
    let db = cx.db()?;
    let notes = Notes::new(&db);
    let if_match = cx.header("if-match");
    // `If-Match: *` asks only that the note exist, which the delete itself finds out.
    let conditional = if_match.as_deref().is_some_and(|h| h.trim() != "*")
        || cx.header("if-none-match").is_some();
    let expected = if conditional {
        let current = notes.get(&owner_id, &id).await?.ok_or_else(not_found)?;
        check_preconditions(cx, if_match.as_deref(), &current)?;
        Some(current.version)
    } else {
        None
    };
    if notes.delete(&owner_id, &id, expected).await? {
        cx.cache(&owner_id).invalidate().await;
        Ok(ApiResponse::empty(204))
    } else if expected.is_some() {
        Err(AppError::new(ErrorCode::PreconditionFailed))
    } else {
        Err(not_found())
    }
}

/// `GET /v1/admin/notes/{id}`: any user's note, with its owner, for administrators.
pub async fn admin_get(cx: &mut Ctx) -> Result<ApiResponse, AppError> {
    let id = cx.id(NoteId::parse)?;
    let note = Notes::new(&*cx.db()?)
        .get_any(&id)
        .await?
        .ok_or_else(not_found)?;
    let body = serde_json::to_vec(&note.admin_view()).map_err(AppError::internal)?;
    Ok(conditional::respond(
        cx.header("if-none-match").as_deref(),
        Some(&note.etag()),
        || body,
    ))
}

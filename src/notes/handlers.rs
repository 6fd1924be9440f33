//! `/v1/notes` routes and the admin read.

use super::repo::{Created, Notes};
use super::{none_match, IfMatch, Note};
use crate::app::Ctx;
use crate::auth::token::digest_hex;
use crate::cache::{digest_key, Entry, Fill};
use crate::domain::{NoteBody, NoteTitle, Tag, Tags};
use crate::error::{AppError, ErrorCode, FieldIssue};
use crate::handlers::page_params;
use crate::http::json::{string, Input, Patch};
use crate::http::{cursor, query, ApiResponse};
use serde_json::json;

/// How long an `Idempotency-Key` is remembered.
const IDEMPOTENCY_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// The note owner: the signed-in user. Service tokens own nothing.
fn owner(cx: &Ctx) -> Result<String, AppError> {
    cx.principal()?.session().map(|(_, s)| s.user_id.clone())
}

fn note_response(status: u16, note: &Note) -> Result<ApiResponse, AppError> {
    Ok(ApiResponse::json(status, &note.view())?.with_header("ETag", note.etag()))
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound)
}

/// `POST /v1/notes`: creates a note (201 with `Location` and `ETag`). With an
/// `Idempotency-Key`, a retry with the same body replays the first response for 24 hours and
/// a different body under the same key is 422 IDEMPOTENCY_KEY_REUSED.
pub async fn create(mut cx: Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = owner(&cx)?;
    let key = cx
        .header("idempotency-key")
        .map(|k| {
            let ok = (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic());
            if ok {
                Ok(k)
            } else {
                Err(AppError::validation(vec![FieldIssue::new(
                    "Idempotency-Key",
                    "invalid_format",
                )]))
            }
        })
        .transpose()?;

    let mut input = Input::new(cx.json_body().await?, &["title", "body", "tags"])?;
    let title = input.required("title", NoteTitle::parse);
    let body = input.optional_value("body", string(NoteBody::parse));
    let tags = input.optional_value("tags", Tags::parse);
    input.finish()?;
    let title = title.ok_or_else(|| AppError::internal("validated title missing"))?;

    let note = Note {
        id: crate::ids::uuid_v7(cx.now).to_string(),
        owner_id,
        title: title.as_str().to_owned(),
        body: body.map(|b| b.as_str().to_owned()).unwrap_or_default(),
        tags: tags.map(|t| t.to_strings()).unwrap_or_default(),
        created_at: cx.now,
        updated_at: cx.now,
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
    match notes
        .create_idempotent(
            &note,
            &key,
            &request_hash,
            &body,
            cx.now,
            IDEMPOTENCY_TTL_MS,
        )
        .await?
    {
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
    let (Some(id), Some(version)) = (stored["id"].as_str(), stored["version"].as_i64()) else {
        return Err(AppError::internal("stored response lacks id or version"));
    };
    let location = format!("/v1/notes/{id}");
    Ok(ApiResponse {
        status,
        headers: vec![("Content-Type", "application/json".into())],
        body: body.into_bytes(),
    }
    .with_header("Location", location)
    .with_header("ETag", super::etag(version))
    .with_header("Idempotent-Replayed", "true"))
}

/// The position a notes cursor encodes, with the filter it was issued for.
type NotesCursor = (u64, String, Option<String>);

/// `GET /v1/notes?limit=&cursor=&tag=`: the caller's notes, newest first.
pub async fn list(cx: Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = owner(&cx)?;
    let url = cx.req.inner().url();
    let tag = match query::get(&url, "tag") {
        Some(raw) => Some(
            Tag::parse(&raw)
                .map_err(|issue| AppError::validation(vec![FieldIssue::new("tag", issue)]))?,
        ),
        None => None,
    };
    let tag = tag.as_ref().map(Tag::as_str);
    let (limit, after) = page_params::<NotesCursor>(&cx)?;
    if let Some((_, _, cursor_tag)) = &after {
        if cursor_tag.as_deref() != tag {
            return Err(AppError::new(ErrorCode::BadRequest)
                .with_message("The cursor belongs to another filter."));
        }
    }
    // A page is named by its validated parameters; the body includes its signed cursor.
    let page = serde_json::to_string(&(limit, &after, tag)).map_err(AppError::internal)?;
    let load = || async {
        let db = cx.db_for_fill()?;
        let mut items = Notes::new(&db)
            .list(
                &owner_id,
                after.as_ref().map(|(c, i, _)| (*c, i.as_str())),
                tag,
                limit + 1,
            )
            .await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = match items.last() {
            Some(last) if more => Some(cursor::encode(
                &cx.config.cursor_secret,
                &(last.created_at, &last.id, tag),
            )),
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
        .read(&format!("list:{}", digest_key(&page)), load)
        .await?
        .ok_or_else(|| AppError::internal("the list loader always fills"))?;
    Ok(cached_response(&cx, &entry))
}

/// `GET /v1/notes/{id}`: 200 with `ETag`, or 304 when `If-None-Match` matches. Served
/// through the cache.
pub async fn get(cx: Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = owner(&cx)?;
    let id = cx.param("id").unwrap_or_default();
    // Ids are UUIDs: anything else names no note, and never becomes a cache key.
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(not_found());
    }
    let load = || async {
        let db = cx.db_for_fill()?;
        let Some(note) = Notes::new(&db).get(&owner_id, id).await? else {
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
    Ok(cached_response(&cx, &entry))
}

/// Answers from a cache entry (see [`validated`]).
fn cached_response(cx: &Ctx, entry: &Entry) -> ApiResponse {
    validated(cx, entry.etag.as_deref(), entry.body.as_bytes().to_vec())
}

/// A JSON `body` with its `etag`: 304 when `If-None-Match` matches the ETag, else 200.
fn validated(cx: &Ctx, etag: Option<&str>, body: Vec<u8>) -> ApiResponse {
    let unchanged = etag.is_some_and(|etag| {
        cx.header("if-none-match")
            .is_some_and(|h| none_match(&h, etag))
    });
    let resp = if unchanged {
        ApiResponse::empty(304)
    } else {
        ApiResponse {
            status: 200,
            headers: vec![("Content-Type", "application/json".into())],
            body,
        }
    };
    match etag {
        Some(etag) => resp.with_header("ETag", etag.to_owned()),
        None => resp,
    }
}

/// `PATCH /v1/notes/{id}` with a JSON Merge Patch of `title`, `body` and `tags` (any other
/// field, such as `id` or `created_at`, is 422). `If-Match` with a stale ETag is 412; without
/// it, a concurrent change between read and write is 409.
pub async fn update(mut cx: Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = owner(&cx)?;
    let id = cx.param("id").unwrap_or_default().to_owned();
    let if_match = cx.header("if-match").map(|h| IfMatch::parse(&h));

    let mut input = Input::new(cx.json_body().await?, &["title", "body", "tags"])?;
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
    if if_match
        .as_ref()
        .is_some_and(|m| !m.matches(current.version))
    {
        return Err(AppError::new(ErrorCode::PreconditionFailed));
    }
    let mut next = current.clone();
    if let Patch::Set(t) = title {
        next.title = t.as_str().to_owned();
    }
    match body {
        Patch::Set(b) => next.body = b.as_str().to_owned(),
        Patch::Remove => next.body.clear(),
        Patch::Keep => {}
    }
    match tags {
        Patch::Set(t) => next.tags = t.to_strings(),
        Patch::Remove => next.tags.clear(),
        Patch::Keep => {}
    }
    next.updated_at = cx.now.max(current.updated_at);
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

/// `DELETE /v1/notes/{id}`: 204; `If-Match` is honoured (412 on a stale ETag).
pub async fn delete(cx: Ctx) -> Result<ApiResponse, AppError> {
    let owner_id = owner(&cx)?;
    let id = cx.param("id").unwrap_or_default();
    let db = cx.db()?;
    let notes = Notes::new(&db);
    let expected = match cx.header("if-match").map(|h| IfMatch::parse(&h)) {
        None | Some(IfMatch::Any) => None,
        Some(IfMatch::Versions(v)) => {
            let current = notes.get(&owner_id, id).await?.ok_or_else(not_found)?;
            if !v.contains(&current.version) {
                return Err(AppError::new(ErrorCode::PreconditionFailed));
            }
            Some(current.version)
        }
    };
    if notes.delete(&owner_id, id, expected).await? {
        cx.cache(&owner_id).invalidate().await;
        Ok(ApiResponse::empty(204))
    } else if expected.is_some() {
        Err(AppError::new(ErrorCode::PreconditionFailed))
    } else {
        Err(not_found())
    }
}

/// `GET /v1/admin/notes/{id}`: any user's note, for administrators.
pub async fn admin_get(cx: Ctx) -> Result<ApiResponse, AppError> {
    let id = cx.param("id").unwrap_or_default();
    let db = cx.db()?;
    let note = Notes::new(&db).get_any(id).await?.ok_or_else(not_found)?;
    let mut body = serde_json::to_value(note.view()).map_err(AppError::internal)?;
    body["owner_id"] = json!(note.owner_id);
    let body = serde_json::to_vec(&body).map_err(AppError::internal)?;
    Ok(validated(&cx, Some(&note.etag()), body))
}

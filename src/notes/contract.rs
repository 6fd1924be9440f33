//! The notes routes as the OpenAPI document describes them.

use crate::domain::schema;
use crate::http::contract::{headers, op, shared, Op};
use crate::http::Method;
use serde_json::{json, Value};

/// A note as clients see it; administrators also see its owner.
pub fn note_schema(admin: bool) -> Value {
    let mut properties = json!({
        "id": schema::id(),
        "title": {"type": "string"},
        "body": {"type": "string"},
        "tags": {"type": "array", "items": schema::tag()},
        "created_at": {"type": "integer", "minimum": 0, "description": "Unix milliseconds."},
        "updated_at": {"type": "integer", "minimum": 0},
        "version": {"type": "integer", "minimum": 1, "description": "The ETag is `\"v<version>\"`."},
    });
    let mut required = vec![
        "id",
        "title",
        "body",
        "tags",
        "created_at",
        "updated_at",
        "version",
    ];
    if admin {
        properties["owner_id"] = schema::id();
        required.push("owner_id");
    }
    json!({"type": "object", "required": required, "additionalProperties": false, "properties": properties})
}

/// Every notes operation.
pub fn operations() -> Vec<Op> {
    let etag = headers(&[("ETag", "ETag")]);
    let if_none_match = json!({"type": "string"});
    let if_match = json!({"type": "string"});
    let not_modified = "Not modified: `If-None-Match` matches the current ETag.";
    let browser_only = "FORBIDDEN: notes belong to users; a service token has none";
    let note_links = json!({
        "GetNote": {"operationId": "getNote", "parameters": {"id": "$response.body#/id"}},
        "UpdateNote": {"operationId": "updateNote", "parameters": {"id": "$response.body#/id"}},
        "DeleteNote": {"operationId": "deleteNote", "parameters": {"id": "$response.body#/id"}},
    });
    vec![
        op(Method::Post, "/v1/notes", "createNote", "Create a note")
            .tag("notes")
            .header("Idempotency-Key", json!({"type": "string", "pattern": "^[!-~]{1,255}$"}),
                    "Retries with the same key and body replay the first answer for 24 hours.")
            .body(json!({"title": schema::note_title(), "body": schema::note_body(), "tags": schema::tags()}), &["title"])
            .json(201, "The note.", shared("Note"), headers(&[
                ("Location", "Location"), ("ETag", "ETag"), ("Idempotent-Replayed", "IdempotentReplayed"),
            ]))
            .error(403, browser_only)
            .error(422, "IDEMPOTENCY_KEY_REUSED: the key was used with another body")
            .links(201, note_links),
        op(Method::Get, "/v1/notes", "listNotes", "The caller's notes, newest first")
            .tag("notes")
            .query("limit", json!({"type": "integer", "minimum": 1, "maximum": 100}), "Page size (default 20).")
            .query("cursor", json!({"type": "string"}), "`next_cursor` of the previous page (same `tag`).")
            .query("tag", schema::tag(), "Only notes with this tag.")
            .header("If-None-Match", if_none_match.clone(), "A weak ETag of this page.")
            .json(
                200,
                "One page of notes.",
                json!({"type": "object", "required": ["items", "next_cursor"], "additionalProperties": false,
                       "properties": {"items": {"type": "array", "items": shared("Note")}, "next_cursor": shared("NextCursor")}}),
                headers(&[("ETag", "WeakETag")]),
            )
            .empty(304, not_modified, headers(&[("ETag", "WeakETag")]))
            .error(400, "BAD_REQUEST: the cursor was not issued by this API, or for another `tag`")
            .error(403, browser_only)
            .error(422, "VALIDATION_ERROR: `limit` or `tag` is invalid, or a parameter is given twice"),
        op(Method::Get, "/v1/notes/{id}", "getNote", "One of the caller's notes")
            .tag("notes")
            .header("If-None-Match", if_none_match.clone(), "ETags the client holds.")
            .json(200, "The note.", shared("Note"), etag.clone())
            .empty(304, not_modified, etag.clone())
            .error(403, browser_only),
        op(Method::Patch, "/v1/notes/{id}", "updateNote", "Change a note (JSON Merge Patch)")
            .tag("notes")
            .header("If-Match", if_match.clone(), "The ETag the change is based on.")
            .header("If-None-Match", if_none_match.clone(), "Change only if the note is none of these (`*`: never, as it exists).")
            .body(json!({
                "title": schema::note_title(),
                "body": {"oneOf": [schema::note_body(), {"type": "null"}], "description": "`null` empties the body."},
                "tags": {"oneOf": [schema::tags(), {"type": "null"}], "description": "`null` removes every tag."},
            }), &[])
            .json(200, "The changed note.", shared("Note"), etag.clone())
            .error(403, browser_only)
            .error(409, "CONFLICT: the note changed between read and write (no `If-Match`)")
            .error_with(412, "PRECONDITION_FAILED: `If-Match` names an older version, or `If-None-Match` names the note", headers(&[("ETag", "CurrentETag")])),
        op(Method::Delete, "/v1/notes/{id}", "deleteNote", "Delete a note")
            .tag("notes")
            .header("If-Match", if_match, "The ETag the deletion is based on.")
            .header("If-None-Match", if_none_match.clone(), "Delete only if the note is none of these (`*`: never, as it exists).")
            .empty(204, "Deleted.", headers(&[]))
            .error(403, browser_only)
            .error_with(412, "PRECONDITION_FAILED: `If-Match` names an older version, or `If-None-Match` names the note", headers(&[("ETag", "CurrentETag")])),
        op(Method::Get, "/v1/admin/notes/{id}", "adminGetNote", "Any user's note, with its owner")
            .tag("notes")
            .header("If-None-Match", if_none_match, "ETags the client holds.")
            .json(200, "The note and its owner.", shared("AdminNote"), etag.clone())
            .empty(304, not_modified, etag),
    ]
}

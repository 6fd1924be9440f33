//! The example resource: notes owned by users. It shows the REST conventions a user of this
//! template copies: `Location` and `ETag` on create, conditional GET (`If-None-Match` → 304),
//! optimistic concurrency (`If-Match` → 412), JSON Merge Patch without mass assignment,
//! signed keyset cursors, ownership enforced in every query, `Idempotency-Key`, and reads
//! served through the cache.
//!
//! The folder is what "Adding a resource" in the README produces: the model and its
//! representation here, the queries in `repo.rs`, the handlers in `handlers.rs`, and one
//! line per route in `routes.rs`.

#[cfg(not(target_arch = "wasm32"))]
pub mod contract;
pub mod handlers;
pub mod repo;

use crate::domain::{NoteBody, NoteId, NoteTitle, Tags, UserId};
use serde::Serialize;

/// A note as stored: every field a parsed type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: NoteId,
    pub owner_id: UserId,
    pub title: NoteTitle,
    pub body: NoteBody,
    pub tags: Tags,
    pub created_at: u64,
    pub updated_at: u64,
    /// Incremented by every update; the ETag is derived from it.
    pub version: i64,
}

/// The representation clients see (the owner is implied by who asks).
#[derive(Debug, Serialize)]
pub struct NoteView<'a> {
    pub id: &'a NoteId,
    pub title: &'a NoteTitle,
    pub body: &'a NoteBody,
    pub tags: &'a Tags,
    pub created_at: u64,
    pub updated_at: u64,
    pub version: i64,
    /// Shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<&'a UserId>,
}

impl Note {
    /// Returns the client representation.
    pub fn view(&self) -> NoteView<'_> {
        NoteView {
            id: &self.id,
            title: &self.title,
            body: &self.body,
            tags: &self.tags,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            owner_id: None,
        }
    }

    /// Returns the administrators' representation, which names the owner.
    pub fn admin_view(&self) -> NoteView<'_> {
        NoteView {
            owner_id: Some(&self.owner_id),
            ..self.view()
        }
    }

    /// Returns the strong ETag of this version.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// Returns the canonical URL.
    pub fn location(&self) -> String {
        location(&self.id)
    }
}

/// Returns the canonical URL of note `id`.
pub fn location(id: &NoteId) -> String {
    format!("/v1/notes/{id}")
}

/// Returns the ETag for a version: `"v<version>"`, which [`crate::http::conditional`]
/// reads back.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

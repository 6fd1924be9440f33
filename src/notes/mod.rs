//! The example resource: notes owned by users. It shows the REST conventions a user of this
//! template copies: `Location` and `ETag` on create, conditional GET (`If-None-Match` → 304),
//! optimistic concurrency (`If-Match` → 412), JSON Merge Patch without mass assignment,
//! signed keyset cursors, ownership enforced in every query, and `Idempotency-Key`.

pub mod handlers;
pub mod repo;

use serde::Serialize;

/// A note as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: String,
    pub owner_id: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// Incremented by every update; the ETag is derived from it.
    pub version: i64,
}

/// The representation clients see (the owner is implied by who asks).
#[derive(Debug, Serialize)]
pub struct NoteView<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub tags: &'a [String],
    pub created_at: u64,
    pub updated_at: u64,
    pub version: i64,
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
        }
    }

    /// Returns the strong ETag of this version.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// Returns the canonical URL.
    pub fn location(&self) -> String {
        format!("/v1/notes/{}", self.id)
    }
}

/// Returns the ETag for a version: `"v<version>"`.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Returns true when `If-None-Match` matches `current` (weak comparison, RFC 9110 §13.1.2).
pub fn none_match(header: &str, current: &str) -> bool {
    let opaque = |tag: &'_ str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
    let current = opaque(current);
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || opaque(tag) == current)
}

/// What `If-Match` asks for (RFC 9110 §13.1.1, strong comparison).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current representation.
    Any,
    /// One of these versions.
    Versions(Vec<i64>),
}

impl IfMatch {
    /// Parses the header; tags this server never issued match nothing.
    pub fn parse(header: &str) -> Self {
        if header.trim() == "*" {
            return Self::Any;
        }
        Self::Versions(
            header
                .split(',')
                .filter_map(|t| {
                    t.trim()
                        .strip_prefix("\"v")
                        .and_then(|t| t.strip_suffix('"'))
                        .and_then(|v| v.parse().ok())
                })
                .collect(),
        )
    }

    /// Returns true when `version` satisfies the precondition.
    pub fn matches(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(v) => v.contains(&version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(none_match("\"v3\"", "\"v3\""));
        assert!(none_match("W/\"v3\"", "\"v3\""));
        assert!(none_match("\"v1\", \"v3\"", "\"v3\""));
        assert!(none_match("*", "\"v3\""));
        assert!(!none_match("\"v2\"", "\"v3\""));
        assert!(none_match("W/\"ab\"", "W/\"ab\""));
        assert!(none_match("\"ab\"", "W/\"ab\""));
        assert!(!none_match("W/\"ab\"", "W/\"cd\""));
    }

    #[test]
    fn if_match_uses_strong_comparison() {
        assert!(IfMatch::parse("\"v3\"").matches(3));
        assert!(IfMatch::parse("\"v1\", \"v3\"").matches(3));
        assert!(IfMatch::parse("*").matches(7));
        assert!(!IfMatch::parse("W/\"v3\"").matches(3));
        assert!(!IfMatch::parse("\"v2\"").matches(3));
        assert!(!IfMatch::parse("garbage").matches(3));
    }
}

//! The fields of a note: title, body and tags, each only constructible by parsing.

use super::Issue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Serialises a parsed text type as its string.
macro_rules! as_string {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}
as_string!(NoteTitle);
as_string!(NoteBody);
as_string!(Tag);

/// A title: at most 200 characters as sent, no control characters, trimmed, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteTitle(String);

impl NoteTitle {
    /// Checks the length in characters (as sent, so it matches the documented `maxLength`)
    /// and the alphabet, then trims.
    pub fn parse(raw: &str) -> Result<Self, Issue> {
        if raw.chars().count() > 200 {
            return Err("too_long");
        }
        if raw.chars().any(char::is_control) {
            return Err("invalid_characters");
        }
        match super::trim_blank(raw) {
            "" => Err("empty"),
            t => Ok(Self(t.to_owned())),
        }
    }

    /// Returns the title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A body: any text up to 64 KiB of UTF-8, kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoteBody(String);

/// The largest body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl NoteBody {
    /// Checks the size.
    pub fn parse(raw: &str) -> Result<Self, Issue> {
        if raw.len() > MAX_BODY_BYTES {
            Err("too_long")
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    /// Returns the body.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tag: 1–32 characters of `[a-z0-9-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Checks length and alphabet; no normalisation (an uppercase tag is refused, not folded,
    /// so clients learn the rule).
    pub fn parse(raw: &str) -> Result<Self, Issue> {
        if raw.is_empty() || raw.len() > 32 {
            return Err("invalid_length");
        }
        if raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err("invalid_characters")
        }
    }

    /// Returns the tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Signed forms (cursors) are parsed again when read.
impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Up to 16 distinct tags, in the order given; serialised as an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Tags(Vec<Tag>);

/// The most tags a note may carry.
pub const MAX_TAGS: usize = 16;

impl Tags {
    /// Parses a JSON array of tag strings.
    pub fn parse(value: &Value) -> Result<Self, Issue> {
        let Value::Array(items) = value else {
            return Err("expected_array");
        };
        if items.len() > MAX_TAGS {
            return Err("too_many");
        }
        let mut tags: Vec<Tag> = Vec::with_capacity(items.len());
        for item in items {
            let tag = Tag::parse(item.as_str().ok_or("expected_string_items")?)?;
            if tags.contains(&tag) {
                return Err("duplicate");
            }
            tags.push(tag);
        }
        Ok(Self(tags))
    }

    /// Returns the tags as strings.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|t| t.0.clone()).collect()
    }

    /// Returns the tags.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(NoteTitle::parse("  Hi ").unwrap().as_str(), "Hi");
        assert_eq!(NoteTitle::parse("   "), Err("empty"));
        // Blank as the documented pattern's `\s` has it, U+FEFF included.
        assert_eq!(NoteTitle::parse("\u{feff}\u{3000}"), Err("empty"));
        assert_eq!(
            NoteTitle::parse("\u{feff}Hi\u{feff}").unwrap().as_str(),
            "Hi"
        );
        assert!(NoteTitle::parse(&"é".repeat(200)).is_ok());
        assert_eq!(NoteTitle::parse(&"é".repeat(201)), Err("too_long"));
        assert_eq!(
            NoteTitle::parse(&format!("a{}", " ".repeat(200))),
            Err("too_long")
        );
        assert_eq!(NoteTitle::parse("tab\there"), Err("invalid_characters"));
        assert_eq!(NoteTitle::parse("\u{1c}"), Err("invalid_characters"));
    }

    #[test]
    fn bodies_are_bounded_in_bytes() {
        assert!(NoteBody::parse("").is_ok());
        assert!(NoteBody::parse(&"a".repeat(MAX_BODY_BYTES)).is_ok());
        assert_eq!(
            NoteBody::parse(&"a".repeat(MAX_BODY_BYTES + 1)),
            Err("too_long")
        );
        assert_eq!(
            NoteBody::parse(&"é".repeat(MAX_BODY_BYTES / 2 + 1)),
            Err("too_long")
        );
    }

    #[test]
    fn tags_follow_the_alphabet_and_count() {
        assert_eq!(
            Tags::parse(&json!(["a", "b-2"])).unwrap().to_strings(),
            ["a", "b-2"]
        );
        assert_eq!(Tags::parse(&json!("a")), Err("expected_array"));
        assert_eq!(Tags::parse(&json!(["A"])), Err("invalid_characters"));
        assert_eq!(Tags::parse(&json!(["a b"])), Err("invalid_characters"));
        assert_eq!(Tags::parse(&json!([""])), Err("invalid_length"));
        assert_eq!(Tags::parse(&json!(["x".repeat(33)])), Err("invalid_length"));
        assert_eq!(Tags::parse(&json!([1])), Err("expected_string_items"));
        assert_eq!(Tags::parse(&json!(["a", "a"])), Err("duplicate"));
        let many: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
        assert_eq!(Tags::parse(&json!(many)), Err("too_many"));
        assert!(Tags::parse(&json!(many[..16])).is_ok());
    }
}

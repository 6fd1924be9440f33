//! JSON Schemas of the domain types, for the OpenAPI document (native builds only).
//!
//! Each schema admits everything its parser accepts, so a value outside the schema is always
//! refused (contract fuzzing sends such values and expects a 4xx). Where a rule cannot be
//! written in JSON Schema (a trimmed length, the 64-octet local part of an address), the
//! parser is the stricter of the two and answers 422.

use serde_json::{json, Value};

/// The canonical text form of a UUID, the only one ids accept.
pub const UUID_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// An id (`UserId`, `NoteId`, `SessionId`).
pub fn id() -> Value {
    json!({"type": "string", "pattern": UUID_PATTERN, "examples": ["0190b0a0-0000-7000-8000-000000000000"]})
}

/// `Email`: trimmed and lowercased; ASCII only, at most 254 characters as sent.
pub fn email() -> Value {
    json!({
        "type": "string",
        "maxLength": 254,
        "pattern": "^\\s*[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+\\s*$",
        "description": "Trimmed and lowercased; ASCII, one `@`, a dotted domain.",
        "examples": ["ada@example.com"]
    })
}

/// `Password` for a new password: 12–256 characters, kept exactly as sent.
pub fn new_password() -> Value {
    json!({"type": "string", "minLength": 12, "maxLength": 256, "examples": ["correct horse battery staple"]})
}

/// `Password::parse_existing`: any non-empty password up to 256 characters.
pub fn existing_password() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 256})
}

/// `NoteTitle`: at most 200 characters as sent, no control characters, trimmed, not blank.
pub fn note_title() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200,
           "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
           "description": "Trimmed; no control characters; must contain a non-space character."})
}

/// `NoteBody`: any text up to 64 KiB of UTF-8.
pub fn note_body() -> Value {
    json!({"type": "string", "maxLength": super::MAX_NOTE_BODY_BYTES,
           "description": "Up to 65,536 bytes of UTF-8, kept exactly as sent."})
}

/// `Tag`: 1–32 characters of `[a-z0-9-]`.
pub fn tag() -> Value {
    json!({"type": "string", "pattern": "^[a-z0-9-]{1,32}$"})
}

/// `Tags`: up to 16 distinct tags.
pub fn tags() -> Value {
    json!({"type": "array", "items": tag(), "maxItems": 16, "uniqueItems": true})
}

/// `Role`.
pub fn role() -> Value {
    json!({"type": "string", "enum": ["user", "admin"]})
}

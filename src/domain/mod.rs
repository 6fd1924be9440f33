//! Validated domain types: each one can only be built by parsing, so code past the request
//! boundary never handles a raw string. Nothing here knows about HTTP or storage: a refusal
//! is an [`Issue`], and the boundary that called the parser decides what it answers.

mod email;
mod id;
mod note;
mod password;
mod role;
#[cfg(not(target_arch = "wasm32"))]
pub mod schema;

pub use email::Email;
pub use id::{NoteId, PasskeyId, SessionId, UserId};
pub use note::{NoteBody, NoteTitle, Tag, Tags, MAX_BODY_BYTES as MAX_NOTE_BODY_BYTES};
pub use password::Password;
pub use role::Role;

/// Why a value was refused: a stable, snake_case name such as `too_long`. The HTTP layer
/// reports it as a field detail.
pub type Issue = &'static str;

/// Trims what JSON Schema's `\s` calls white space (ECMAScript's: Unicode `White_Space`, and
/// U+FEFF, which Rust's `trim` keeps), so a parser and the `pattern` it documents agree on
/// what is blank.
pub fn trim_blank(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_byte_order_mark_is_blank_like_any_space() {
        assert_eq!(super::trim_blank("\u{feff} a b\u{3000}\n"), "a b");
        assert_eq!(super::trim_blank("\u{feff}"), "");
        assert_eq!(super::trim_blank("a\u{feff}b"), "a\u{feff}b");
    }
}

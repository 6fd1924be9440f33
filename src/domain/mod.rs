//! Validated domain types: each one can only be built by parsing, so code past the request
//! boundary never handles a raw string.

mod email;
mod note;
mod password;

pub use email::Email;
pub use note::{NoteBody, NoteTitle, Tag, Tags, MAX_BODY_BYTES as MAX_NOTE_BODY_BYTES};
pub use password::Password;

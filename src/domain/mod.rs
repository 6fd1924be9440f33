//! Validated domain types: each one can only be built by parsing, so code past the request
//! boundary never handles a raw string.

mod email;
mod password;

pub use email::Email;
pub use password::Password;

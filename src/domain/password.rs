//! A password as a user chose it: length rules only (NIST SP 800-63B §5.1.1.2).

use super::Issue;
use std::fmt;

/// A password of 12 to 256 characters. Composition rules (digits, symbols) are deliberately
/// absent: length is what resists guessing, and users may use any characters, spaces included.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

const MIN_CHARS: usize = 12;
const MAX_CHARS: usize = 256;

impl Password {
    /// Accepts 12–256 characters (Unicode scalar values), unchanged: no trimming, since
    /// spaces are legitimate password characters.
    pub fn parse(raw: &str) -> Result<Self, Issue> {
        match raw.chars().count() {
            n if n < MIN_CHARS => Err("too_short"),
            n if n > MAX_CHARS => Err("too_long"),
            _ => Ok(Self(raw.to_owned())),
        }
    }

    /// Accepts any non-empty password up to the maximum, for checking a password that is
    /// already set (it is compared, not chosen, so length rules do not apply).
    pub fn parse_existing(raw: &str) -> Result<Self, Issue> {
        match raw.chars().count() {
            0 => Err("required"),
            n if n > MAX_CHARS => Err("too_long"),
            _ => Ok(Self(raw.to_owned())),
        }
    }

    /// Returns the password's bytes for hashing.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Never prints the password itself.
impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_the_only_rule() {
        assert!(Password::parse("correct horse").is_ok());
        assert!(Password::parse("aaaaaaaaaaaa").is_ok());
        assert!(Password::parse(&"é".repeat(12)).is_ok());
        assert_eq!(Password::parse("short").unwrap_err(), "too_short");
        assert_eq!(Password::parse(&"x".repeat(257)).unwrap_err(), "too_long");
        assert!(Password::parse(&"x".repeat(256)).is_ok());
    }

    #[test]
    fn debug_hides_the_value() {
        let p = Password::parse("my secret password").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}

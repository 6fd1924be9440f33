//! An e-mail address, normalised for comparison and storage.

use super::Issue;
use serde::{Serialize, Serializer};
use std::fmt;

/// A syntactically valid e-mail address, trimmed and lowercased.
///
/// Lowercasing the whole address makes uniqueness case-insensitive, which is what users
/// expect even though RFC 5321 lets the local part be case-sensitive. The checks are
/// deliberately modest: proving an address works takes a confirmation mail, not a regex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// RFC 5321 §4.5.3.1 limits: 64 octets of local part, 254 for the whole path.
const MAX_LEN: usize = 254;
const MAX_LOCAL: usize = 64;

impl Email {
    /// Parses and normalises an address, or names the problem (`too_long`, `invalid_format`).
    ///
    /// Only ASCII addresses are accepted (internationalised addresses need SMTPUTF8 support
    /// end to end, which a template cannot promise), so ASCII lowercasing is complete.
    /// The length limit applies to the value as sent, spaces included, so the documented
    /// `maxLength` and the parser agree.
    pub fn parse(raw: &str) -> Result<Self, Issue> {
        if raw.chars().count() > MAX_LEN {
            return Err("too_long");
        }
        let trimmed = super::trim_blank(raw);
        if !trimmed.is_ascii() {
            return Err("invalid_format");
        }
        let email = trimmed.to_ascii_lowercase();
        let (local, domain) = email.split_once('@').ok_or("invalid_format")?;
        let local_ok = (1..=MAX_LOCAL).contains(&local.len())
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=63).contains(&l.len())
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err("invalid_format")
        }
    }

    /// Returns the normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_normalised() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        // The documented pattern's `\s*` takes U+FEFF too.
        assert_eq!(
            Email::parse("\u{feff}ada@example.com").unwrap().as_str(),
            "ada@example.com"
        );
        assert!(Email::parse("first.last+tag@sub.example.co.uk").is_ok());
    }

    #[test]
    fn invalid_addresses_name_the_issue() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@example",
            "a@@example.com",
            "a b@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example..com",
            "ünï@example.com",
            "a@exämple.com",
        ] {
            assert_eq!(Email::parse(bad), Err("invalid_format"), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err("too_long"));
        // The limit counts what was sent, surrounding spaces included.
        let padded = format!("{}a@example.com{}", " ".repeat(10), " ".repeat(240));
        assert_eq!(Email::parse(&padded), Err("too_long"));
    }
}

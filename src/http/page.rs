//! Page parameters of list endpoints: `limit` and a signed `cursor` from the query string.

use super::{cursor, query};
use crate::error::{AppError, FieldIssue};
use serde::de::DeserializeOwned;

/// Page sizes for list endpoints.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// A page request: how many items, and the position after which they start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub limit: u32,
    pub after: Option<T>,
}

/// Reads `limit` and `cursor` from `query` (the part after `?`): `limit` 1–100 (default 20,
/// else 422), `cursor` as issued to `scope` by a previous page and verified with `secret`
/// (else 400); either given twice is 422 (see [`query::get`]).
pub fn params<T: DeserializeOwned>(
    query: &str,
    secret: &[u8],
    scope: &str,
) -> Result<Page<T>, AppError> {
    let [limit, cursor] = query::get_each(query, ["limit", "cursor"])?;
    let limit = match limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(value) => match value.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            // An integer too large or negative for `u32` is out of range too.
            _ if is_integer(value) => {
                return Err(
                    AppError::validation(vec![FieldIssue::new("limit", "out_of_range")])
                        .with_message("limit must be between 1 and 100."),
                )
            }
            _ => {
                return Err(AppError::validation(vec![FieldIssue::new(
                    "limit",
                    "expected_integer",
                )]))
            }
        },
    };
    let after = match cursor {
        Some(value) => Some(cursor::decode(secret, scope, &value)?),
        None => None,
    };
    Ok(Page { limit, after })
}

/// Whether `s` is a decimal integer: an optional sign, then digits.
fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_and_bounds() {
        let p: Page<u64> = params("", SECRET, "me").unwrap();
        assert_eq!(
            p,
            Page {
                limit: 20,
                after: None
            }
        );
        assert_eq!(params::<u64>("limit=100", SECRET, "me").unwrap().limit, 100);
        let err = params::<u64>("limit=0", SECRET, "me").unwrap_err();
        assert_eq!(
            (err.status(), err.details()[0].issue.as_ref()),
            (422, "out_of_range")
        );
        for limit in ["-1", "101", "99999999999999999999", "%2B0"] {
            let err = params::<u64>(&format!("limit={limit}"), SECRET, "me").unwrap_err();
            assert_eq!(err.details()[0].issue, "out_of_range", "{limit}");
        }
        // `+` in a query is a space.
        for limit in ["x", "", "1.5", "1e2", "-", "+5"] {
            let err = params::<u64>(&format!("limit={limit}"), SECRET, "me").unwrap_err();
            assert_eq!(err.details()[0].issue, "expected_integer", "{limit:?}");
        }
    }

    #[test]
    fn limit_or_cursor_given_twice_is_refused() {
        let c = cursor::encode(SECRET, "me", &7u64);
        for (query, field) in [
            ("limit=5&limit=5".to_owned(), "limit"),
            ("limit=x&limit=5".to_owned(), "limit"),
            (format!("cursor={c}&limit=5&cursor={c}"), "cursor"),
        ] {
            let err = params::<u64>(&query, SECRET, "me").unwrap_err();
            assert_eq!(err.status(), 422, "{query}");
            assert_eq!(
                (
                    err.details()[0].field.as_ref(),
                    err.details()[0].issue.as_ref()
                ),
                (field, "repeated")
            );
        }
    }

    #[test]
    fn cursors_must_be_signed_with_the_secret() {
        let c = cursor::encode(SECRET, "me", &7u64);
        let p: Page<u64> = params(&format!("cursor={c}&limit=5"), SECRET, "me").unwrap();
        assert_eq!(
            p,
            Page {
                limit: 5,
                after: Some(7)
            }
        );
        let forged = cursor::encode(b"another secret, also 32 bytes long", "me", &7u64);
        let err = params::<u64>(&format!("cursor={forged}"), SECRET, "me").unwrap_err();
        assert_eq!(err.status(), 400);
        let err = params::<u64>(&format!("cursor={c}"), SECRET, "someone else").unwrap_err();
        assert_eq!(err.status(), 400, "issued to another caller");
    }
}

//! JSON request bodies: media type and content coding (415), size (413) and syntax (400), in
//! that order, each with a precise structured error. The fields are then read by
//! [`super::input::Input`] (422).

use crate::error::{AppError, ErrorCode};
use serde_json::{Map, Value};

/// The patch formats a `PATCH` body is read as, for `Accept-Patch` (RFC 5789 §3.1): a JSON
/// Merge Patch (RFC 7396), also when sent as plain JSON.
pub const ACCEPT_PATCH: &str = "application/merge-patch+json, application/json";

/// Checks `Content-Type`: `application/json` or any `application/*+json`, or for a `PATCH`
/// body (`patch`) a merge patch only, so that a patch document in another format (a JSON
/// Patch, `application/json-patch+json`, is a list of operations) is refused with
/// `Accept-Patch` rather than applied as a merge patch (RFC 5789 §2.2). A `charset` other
/// than UTF-8 (or its subset US-ASCII) is refused too: JSON is UTF-8 (RFC 8259 §8.1), and a
/// body declared otherwise would be read as something the client did not send.
pub fn check_content_type(content_type: Option<&str>, patch: bool) -> Result<(), AppError> {
    let mut parts = content_type.unwrap_or_default().split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let accepted = essence == "application/json"
        || if patch {
            essence == "application/merge-patch+json"
        } else {
            essence.starts_with("application/") && essence.ends_with("+json")
        };
    if !accepted {
        let refused = AppError::new(ErrorCode::UnsupportedMediaType);
        return Err(if patch {
            refused
                .with_message(
                    "The request body must be a JSON Merge Patch (application/merge-patch+json).",
                )
                .with_header("Accept-Patch", ACCEPT_PATCH)
        } else {
            refused
        });
    }
    let utf8 = parts.all(|param| match param.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            let charset = value.trim().trim_matches('"');
            charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("us-ascii")
        }
        _ => true,
    });
    if utf8 {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::UnsupportedMediaType)
            .with_message("The request body must be JSON in UTF-8 (charset=utf-8 or none)."))
    }
}

/// Checks `Content-Encoding`: absent or `identity` only. A compressed body is refused with
/// 415 and `Accept-Encoding: identity` (RFC 9110 §8.4, RFC 7694) rather than parsed as if it
/// were plain: gzip bytes would fail as bad JSON at column 1, and a body labelled with a
/// coding it does not have would be read as something the client did not mean.
pub fn check_content_encoding(encoding: Option<&str>) -> Result<(), AppError> {
    let plain = encoding.is_none_or(|value| {
        value
            .split(',')
            .map(str::trim)
            .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case("identity"))
    });
    if plain {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::UnsupportedMediaType)
            .with_message("The request body must be sent uncompressed (no Content-Encoding).")
            .with_header("Accept-Encoding", "identity"))
    }
}

/// Returns the 413 error for a body over `limit` bytes.
pub fn too_large(limit: usize) -> AppError {
    AppError::new(ErrorCode::PayloadTooLarge)
        .with_message(format!("The request body must not exceed {limit} bytes."))
}

/// Parses the body bytes as JSON, reporting where the syntax breaks. An object that repeats
/// a key is refused: parsers disagree on which value wins, and a proxy that reads the first
/// while this API reads the last is a classic request-smuggling gap (RFC 8259 §4 leaves it
/// undefined).
pub fn parse(bytes: &[u8]) -> Result<Value, AppError> {
    serde_json::from_slice::<Strict>(bytes)
        .map(|s| s.0)
        .map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Eof => "ends unexpectedly",
                // The only data error a plain value can raise is the repeated key.
                serde_json::error::Category::Data => "repeats a key",
                // serde_json names its two limits only in the message: a number too large
                // for a float and nesting deeper than 127 levels are valid JSON syntax, so
                // they are told apart from a syntax error.
                _ => {
                    let message = e.to_string();
                    if message.starts_with("number out of range") {
                        "holds a number out of range"
                    } else if message.starts_with("recursion limit exceeded") {
                        "nests more than 127 levels deep"
                    } else {
                        "is not valid JSON"
                    }
                }
            };
            AppError::new(ErrorCode::BadRequest).with_message(format!(
                "The request body {what} at line {}, column {}.",
                e.line(),
                e.column()
            ))
        })
}

/// A JSON value whose objects never repeat a key.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                return Err(serde::de::Error::custom("repeated key"));
            }
            let Strict(value) = map.next_value()?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accept_patch(err: &AppError) -> Option<String> {
        err.headers()
            .iter()
            .find(|(name, _)| *name == "Accept-Patch")
            .map(|(_, value)| value.to_string())
    }

    #[test]
    fn json_media_types_are_accepted() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
            "application/json; charset=\"UTF-8\"",
            "application/json;charset=us-ascii",
            "application/vnd.example+json; version=2",
        ] {
            assert!(check_content_type(Some(ct), false).is_ok(), "{ct}");
        }
        for ct in [
            "application/json",
            "application/merge-patch+json; charset=utf-8",
        ] {
            assert!(check_content_type(Some(ct), true).is_ok(), "PATCH {ct}");
        }
    }

    #[test]
    fn other_media_types_are_415() {
        for ct in [
            None,
            Some(""),
            Some("text/plain"),
            Some("application/jsonx"),
        ] {
            let err = check_content_type(ct, false).unwrap_err();
            assert_eq!(err.status(), 415, "{ct:?}");
            assert_eq!(accept_patch(&err), None);
        }
    }

    #[test]
    fn a_patch_in_another_format_is_415_with_accept_patch() {
        for ct in [
            "application/json-patch+json",
            "application/vnd.example+json",
            "text/plain",
        ] {
            let err = check_content_type(Some(ct), true).unwrap_err();
            assert_eq!(err.status(), 415, "{ct}");
            assert_eq!(accept_patch(&err).as_deref(), Some(ACCEPT_PATCH), "{ct}");
        }
    }

    #[test]
    fn a_charset_other_than_utf_8_is_415() {
        for ct in [
            "application/json; charset=iso-8859-1",
            "application/json; charset=\"utf-16\"",
            "application/merge-patch+json; CHARSET=windows-1252",
        ] {
            for patch in [false, true] {
                let err = check_content_type(Some(ct), patch).unwrap_err();
                assert_eq!(err.status(), 415, "{ct}");
                assert_eq!(accept_patch(&err), None, "{ct}");
            }
        }
    }

    #[test]
    fn only_an_uncoded_body_is_read() {
        for plain in [
            None,
            Some(""),
            Some("identity"),
            Some(" Identity , identity"),
        ] {
            assert!(check_content_encoding(plain).is_ok(), "{plain:?}");
        }
        for coded in ["gzip", "br", "deflate", "zstd", "identity, gzip", "x-gzip"] {
            let err = check_content_encoding(Some(coded)).unwrap_err();
            assert_eq!(err.status(), 415, "{coded}");
            assert_eq!(err.code(), ErrorCode::UnsupportedMediaType);
            assert!(err.message().contains("uncompressed"), "{coded}");
            assert_eq!(
                err.headers(),
                [("Accept-Encoding", "identity".into())].as_slice()
            );
        }
    }

    #[test]
    fn numbers_out_of_range_and_deep_nesting_are_named() {
        for (body, what, column) in [
            (
                br#"{"n":1e999}"#.to_vec(),
                "holds a number out of range",
                10,
            ),
            (br#"[-1e400]"#.to_vec(), "holds a number out of range", 7),
            (
                [&b"{\"a\":"[..], &[b'['; 200], &[b']'; 200], b"}"].concat(),
                "nests more than 127 levels deep",
                132,
            ),
        ] {
            let err = parse(&body).unwrap_err();
            assert_eq!(err.status(), 400);
            assert_eq!(
                err.message(),
                format!("The request body {what} at line 1, column {column}.")
            );
        }
        // 127 levels are within the limit.
        let deep = [&[b'['; 127][..], &[b']'; 127]].concat();
        assert!(parse(&deep).is_ok());
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = parse(b"{\n  \"a\": 1,\n  oops\n}").unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.message().contains("line 3, column 3"),
            "{}",
            err.message()
        );

        let err = parse(b"{\"a\": ").unwrap_err();
        assert!(
            err.message().contains("ends unexpectedly"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        for body in [
            &br#"{"title":"a","title":"b"}"#[..],
            br#"{"a":{"x":1,"x":2}}"#,
            br#"[{"k":1},{"k":2,"k":3}]"#,
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.message().contains("repeats a key"), "{}", err.message());
        }
        // The same key in different objects is fine.
        assert!(parse(br#"[{"k":1},{"k":2}]"#).is_ok());
        assert_eq!(
            parse(br#"{"n":1.5,"b":true,"z":null,"s":"x","u":18446744073709551615,"i":-1}"#)
                .unwrap(),
            json!({"n":1.5,"b":true,"z":null,"s":"x","u":18446744073709551615u64,"i":-1})
        );
    }
}

//! Request URLs: the path and the query split off the URL the runtime serialised, the path's
//! over-encoded characters decoded, and the query's `application/x-www-form-urlencoded`
//! pairs.
//!
//! The Worker only ever needs the path and the decoded pairs after `?`, so the `url` crate is
//! not linked (README, "Size").

use crate::error::{AppError, FieldIssue};

/// Returns where the authority starts: just past `scheme://`, the scheme being letters,
/// digits, `+`, `-` and `.` from the first character to the first `:`. A byte scan: a
/// substring search sets up its searcher on every call, and this runs twice per request.
fn after_scheme(url: &str) -> Option<usize> {
    let colon = url.bytes().position(|b| b == b':')?;
    let scheme = &url.as_bytes()[..colon];
    let valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (valid && url[colon..].starts_with("://")).then_some(colon + 3)
}

/// Splits a request URL into its path and query (without `?` and without any fragment).
pub fn split_url(url: &str) -> (&str, &str) {
    let url = url.split('#').next().unwrap_or("");
    let after_scheme = after_scheme(url).unwrap_or(0);
    let path_start = url[after_scheme..]
        .bytes()
        .position(|b| b == b'/' || b == b'?')
        .map_or(url.len(), |i| after_scheme + i);
    let rest = &url[path_start..];
    match rest.split_once('?') {
        Some((path, query)) => (path, query),
        None => (rest, ""),
    }
}

/// Returns a URL's origin, `scheme://host[:port]` (empty when the URL has no scheme).
pub fn origin(url: &str) -> &str {
    let Some(after_scheme) = after_scheme(url) else {
        return "";
    };
    let end = url[after_scheme..]
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// Decodes the percent-encoded *unreserved* characters of a path (`%68` is `h`, `%7E` is `~`):
/// RFC 3986 §2.3 and §6.2.2.2 make `/v1/%68ealth` and `/v1/health` the same URI, so a client
/// that over-encodes reaches the same route and path parameter. Every other escape (`%2F`,
/// `%25`, `%20`, non-ASCII bytes) stays as sent: a segment never gains a `/`, and nothing is
/// decoded twice. Dot segments are not a concern here: the runtime's URL parser has already
/// removed `.`, `..` and their encoded forms.
pub fn normalize_path(path: &str) -> std::borrow::Cow<'_, str> {
    let bytes = path.as_bytes();
    if !bytes.contains(&b'%') {
        return path.into();
    }
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                out.push(b);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    // Only ASCII escapes were replaced, by ASCII bytes: the result is as valid UTF-8 as `path`.
    String::from_utf8(out).map_or_else(|_| path.into(), Into::into)
}

/// Returns the decoded `name=value` pairs of `query` (the part after `?`), in order.
pub fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Returns the value of `name` in `query`, `None` when it is absent. A name given more than
/// once is refused (422, issue `repeated`) rather than one of its values chosen: a cache, a
/// proxy or a client library may take the other one, as with a JSON key given twice.
pub fn get(query: &str, name: &str) -> Result<Option<String>, AppError> {
    get_each(query, [name]).map(|[value]| value)
}

/// [`get`] for several names, in one pass over `query`: their values, in order.
pub fn get_each<const N: usize>(
    query: &str,
    names: [&str; N],
) -> Result<[Option<String>; N], AppError> {
    let mut found = std::array::from_fn(|_| None);
    for (n, value) in pairs(query) {
        if let Some(i) = names.iter().position(|name| *name == n) {
            if found[i].replace(value).is_some() {
                return Err(repeated(names[i]));
            }
        }
    }
    Ok(found)
}

/// The error for a query parameter given more than once.
fn repeated(name: &str) -> AppError {
    let message = format!("The query parameter `{name}` is given more than once.");
    AppError::validation(vec![FieldIssue::new(name.to_owned(), "repeated")]).with_message(message)
}

/// Percent-decodes one component, `+` meaning space; invalid escapes are kept as written and
/// invalid UTF-8 is replaced, as the WHATWG URL standard does.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_origin() {
        assert_eq!(
            origin("http://localhost:8787/v1/x?y#z"),
            "http://localhost:8787"
        );
        assert_eq!(origin("https://api.example.com"), "https://api.example.com");
        assert_eq!(
            origin("https://api.example.com?q"),
            "https://api.example.com"
        );
        assert_eq!(origin("/relative"), "");
        // A `://` later in the URL is not a scheme.
        assert_eq!(origin("/go?to=https://elsewhere.test"), "");
        assert_eq!(origin("x y://host/"), "");
        assert_eq!(origin("://host/"), "");
        assert_eq!(origin("svn+ssh://host:22/repo"), "svn+ssh://host:22");
    }

    #[test]
    fn splits_path_and_query() {
        assert_eq!(
            split_url("https://x.test/v1/notes?limit=5#frag"),
            ("/v1/notes", "limit=5")
        );
        assert_eq!(
            split_url("http://127.0.0.1:8787/v1/health"),
            ("/v1/health", "")
        );
        assert_eq!(split_url("https://x.test"), ("", ""));
        assert_eq!(split_url("https://x.test?a=1"), ("", "a=1"));
        assert_eq!(split_url("https://x.test/a?b?c"), ("/a", "b?c"));
        assert_eq!(
            split_url("https://x.test/go?to=https://y.test/p"),
            ("/go", "to=https://y.test/p")
        );
        assert_eq!(
            split_url("/go?to=https://y.test/p"),
            ("/go", "to=https://y.test/p")
        );
    }

    #[test]
    fn parses_and_decodes_pairs() {
        let url = "https://x.test/v1/notes?limit=5&tag=a%2Db&q=hello+world&empty=&flag#frag=1";
        let (_, query) = split_url(url);
        assert_eq!(
            pairs(query),
            [
                ("limit".into(), "5".into()),
                ("tag".into(), "a-b".into()),
                ("q".into(), "hello world".into()),
                ("empty".into(), String::new()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(get(query, "limit").unwrap().as_deref(), Some("5"));
        assert_eq!(get(query, "frag").unwrap(), None);
    }

    #[test]
    fn over_encoded_unreserved_characters_are_decoded_in_paths() {
        assert_eq!(normalize_path("/v1/%68ealth"), "/v1/health");
        assert_eq!(normalize_path("/v1/%68%65%61%6C%74%68"), "/v1/health");
        assert_eq!(normalize_path("/a%2db%2Ec%5fd%7ee%30"), "/a-b.c_d~e0");
        // Reserved, percent itself, space, non-ASCII and broken escapes stay as sent.
        for kept in [
            "/a%2Fb", "/a%25", "/a%2568", "/a%20b", "/%C3%A9", "/%", "/%6", "/%zz", "/%6g",
        ] {
            assert_eq!(normalize_path(kept), kept);
        }
        assert_eq!(normalize_path("/%2568%68"), "/%2568h");
        assert!(matches!(
            normalize_path("/v1/health"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(normalize_path("/é%41"), "/éA");
    }

    #[test]
    fn a_parameter_given_twice_is_refused_not_chosen() {
        // Spelled alike once decoded counts as the same name; other names do not matter.
        for query in ["tag=a&tag=b", "tag=a&x=1&t%61g=a", "tag&tag="] {
            let err = get(query, "tag").unwrap_err();
            assert_eq!(err.status(), 422, "{query}");
            assert_eq!(
                (
                    err.details()[0].field.as_ref(),
                    err.details()[0].issue.as_ref()
                ),
                ("tag", "repeated")
            );
            assert_eq!(
                err.message(),
                "The query parameter `tag` is given more than once."
            );
        }
        assert_eq!(get("x=1&x=2&tag=a", "tag").unwrap().as_deref(), Some("a"));
        let [limit, cursor] = get_each("cursor=c&x=1&limit=5", ["limit", "cursor"]).unwrap();
        assert_eq!(
            (limit.as_deref(), cursor.as_deref()),
            (Some("5"), Some("c"))
        );
        let err = get_each("limit=1&cursor=c&cursor=d", ["limit", "cursor"]).unwrap_err();
        assert_eq!(err.details()[0].field, "cursor");
    }

    #[test]
    fn odd_input_is_kept_not_rejected() {
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%E2%82%AC"), "€");
        assert_eq!(decode("%FF"), "\u{FFFD}");
        assert!(pairs("").is_empty());
        assert_eq!(pairs("&&a=1&&"), [("a".into(), "1".into())]);
    }
}

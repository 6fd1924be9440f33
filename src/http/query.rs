//! Query strings: `application/x-www-form-urlencoded` pairs from a request URL.
//!
//! A few lines here keep the `url` crate (and its IDNA tables, tens of KB of Wasm) out of the
//! bundle: the Worker only ever needs the pairs after `?`.

/// Returns the decoded `name=value` pairs of `url`'s query, in order.
pub fn pairs(url: &str) -> Vec<(String, String)> {
    let Some((_, rest)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = rest.split('#').next().unwrap_or("");
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Returns the first value of `name`.
pub fn get(url: &str, name: &str) -> Option<String> {
    pairs(url)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
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
    fn parses_and_decodes_pairs() {
        let url = "https://x.test/v1/notes?limit=5&tag=a%2Db&q=hello+world&empty=&flag#frag=1";
        assert_eq!(
            pairs(url),
            [
                ("limit".into(), "5".into()),
                ("tag".into(), "a-b".into()),
                ("q".into(), "hello world".into()),
                ("empty".into(), String::new()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(get(url, "limit").as_deref(), Some("5"));
        assert_eq!(get(url, "frag"), None);
    }

    #[test]
    fn odd_input_is_kept_not_rejected() {
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%E2%82%AC"), "€");
        assert_eq!(decode("%FF"), "\u{FFFD}");
        assert!(pairs("https://x.test/path").is_empty());
        assert_eq!(pairs("https://x.test/?&&a=1&&"), [("a".into(), "1".into())]);
    }
}

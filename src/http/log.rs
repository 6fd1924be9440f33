//! The one structured log line written per request.
//!
//! Fields are chosen so a line can be searched by request id or trace id and aggregated by
//! route pattern and status without ever containing a query string, a token or a body.

/// One JSON log line. Optional fields are left out when empty.
///
/// Written by [`RequestLog::to_line`] directly rather than through `serde_json`: this runs for
/// every request, and a tested writer of one flat object is a fraction of the serializer's
/// work. The tests check it against `serde_json` byte for byte.
#[derive(Debug)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct RequestLog<'a> {
    /// RFC 3339 time the request started.
    pub time: String,
    pub level: &'static str,
    pub request_id: &'a str,
    pub trace_id: &'a str,
    pub method: &'a str,
    /// The matched route pattern, e.g. `/v1/notes/{id}`, or `unmatched`.
    pub route: &'a str,
    pub status: u16,
    pub duration_ms: u64,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub user_id: Option<&'a str>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub error_code: Option<&'static str>,
    /// Internal cause of a failure; never sent to the client.
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub cause: Option<&'a str>,
    /// How the response cache served the request (`l1-hit`, `miss`, `bypass`, …).
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub cache: Option<&'static str>,
    /// Why the cache's L2 was skipped, if it was.
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub cache_error: Option<&'a str>,
}

impl RequestLog<'_> {
    /// Picks the level from the status: server errors are `error`, the rest `info`.
    pub fn level_for(status: u16) -> &'static str {
        if status >= 500 {
            "error"
        } else {
            "info"
        }
    }

    /// Renders the line as compact JSON, fields in declaration order.
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"time\":");
        push_json_str(&mut out, &self.time);
        for (key, value) in [
            (",\"level\":", self.level),
            (",\"request_id\":", self.request_id),
            (",\"trace_id\":", self.trace_id),
            (",\"method\":", self.method),
            (",\"route\":", self.route),
        ] {
            out.push_str(key);
            push_json_str(&mut out, value);
        }
        out.push_str(",\"status\":");
        push_u64(&mut out, u64::from(self.status));
        out.push_str(",\"duration_ms\":");
        push_u64(&mut out, self.duration_ms);
        for (key, value) in [
            (",\"user_id\":", self.user_id),
            (",\"error_code\":", self.error_code),
            (",\"cause\":", self.cause),
            (",\"cache\":", self.cache),
            (",\"cache_error\":", self.cache_error),
        ] {
            if let Some(value) = value {
                out.push_str(key);
                push_json_str(&mut out, value);
            }
        }
        out.push('}');
        out
    }
}

/// Something worth an operator's attention that did not fail the request (a limiter that
/// could not be reached, a cache entry that did not decode). The component that noticed it
/// describes it; the pipeline writes it as its own line beside the request's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A stable name to search for, e.g. `rate_limiter_unavailable`.
    pub event: &'static str,
    /// Further fields, in order.
    pub fields: Vec<(&'static str, String)>,
}

impl Warning {
    /// Starts a warning named `event`.
    pub fn new(event: &'static str) -> Self {
        Self {
            event,
            fields: Vec::new(),
        }
    }

    /// Adds a field.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    /// Renders `{"level":"warn","event",…,"request_id",…fields}` as compact JSON.
    pub fn to_line(&self, request_id: &str) -> String {
        let mut line = serde_json::Map::new();
        line.insert("level".into(), "warn".into());
        line.insert("event".into(), self.event.into());
        line.insert("request_id".into(), request_id.into());
        for (name, value) in &self.fields {
            line.insert((*name).into(), value.as_str().into());
        }
        serde_json::Value::Object(line).to_string()
    }
}

/// Appends `value` as a JSON string: quotes, backslashes and control characters escaped the
/// way `serde_json` escapes them, everything else as is.
fn push_json_str(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut plain = 0;
    for (i, b) in value.bytes().enumerate() {
        let short = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&value[plain..i]);
        match short {
            Some(escaped) => out.push_str(escaped),
            None => {
                let code = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ];
                out.push_str(std::str::from_utf8(&code).unwrap_or_default());
            }
        }
        plain = i + 1;
    }
    out.push_str(&value[plain..]);
    out.push('"');
}

/// Appends `n` in decimal.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

/// Formats Unix milliseconds as an RFC 3339 UTC timestamp with millisecond precision.
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        // Beyond four-digit years (a clock far off): the formatter, time of day kept.
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        );
    }
    // Digits written directly (no formatter): this runs for every request's log line.
    let mut out = [0u8; 24];
    let mut at = 0;
    for (n, width, then) in [
        (y as u64, 4, b'-'),
        (u64::from(m), 2, b'-'),
        (u64::from(d), 2, b'T'),
        (rem / 3600, 2, b':'),
        ((rem % 3600) / 60, 2, b':'),
        (rem % 60, 2, b'.'),
        (ms, 3, b'Z'),
    ] {
        for i in (0..width).rev() {
            out[at] = b'0' + ((n / 10u64.pow(i)) % 10) as u8;
            at += 1;
        }
        out[at] = then;
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days` algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_one_json_line_with_the_request_id() {
        let line = Warning::new("rate_limiter_unavailable")
            .with("policy", "ip")
            .with("fail", "open")
            .to_line("req-1");
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"level": "warn", "event": "rate_limiter_unavailable",
                "request_id": "req-1", "policy": "ip", "fail": "open"})
        );
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_960_800_123), "2026-11-29T14:00:00.123Z");
        // Year 10000 and later: still the whole instant.
        assert_eq!(rfc3339_ms(253_402_300_800_001), "10000-01-01T00:00:00.001Z");
        assert_eq!(rfc3339_ms(253_402_304_461_042), "10000-01-01T01:01:01.042Z");
    }

    /// Natively only: proptest is not built for the Wasm test run.
    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;

        proptest::proptest! {
            #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
            /// The hand-written line is exactly what `serde_json` writes for the same fields,
            /// whatever the strings hold (quotes, backslashes, control characters, non-ASCII).
            #[test]
            fn line_is_what_serde_json_writes(
                texts in proptest::collection::vec(".{0,12}|[\\x00-\\x1f\"\\\\\u{7f}é😀]{0,6}", 7),
                status in 0u16..,
                duration_ms in proptest::prelude::any::<u64>(),
                present in proptest::prelude::any::<[bool; 5]>(),
                time_ms in 0u64..400_000_000_000_000,
            ) {
                let field = |i: usize| present[i].then_some(texts[2 + i % 5].as_str());
                let log = RequestLog {
                    time: rfc3339_ms(time_ms),
                    level: RequestLog::level_for(status),
                    request_id: &texts[0],
                    trace_id: &texts[1],
                    method: &texts[2],
                    route: &texts[3],
                    status,
                    duration_ms,
                    user_id: field(0),
                    error_code: present[1].then_some("NOT_FOUND"),
                    cause: field(2),
                    cache: present[3].then_some("l1-hit"),
                    cache_error: field(4),
                };
                proptest::prop_assert_eq!(log.to_line(), serde_json::to_string(&log).unwrap());
            }
        }
    }

    #[test]
    fn control_characters_are_escaped_like_serde_json() {
        let input = "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é";
        let mut out = String::new();
        push_json_str(&mut out, input);
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é\"");
        assert_eq!(out, serde_json::to_string(input).unwrap());
        let mut n = String::new();
        push_u64(&mut n, 0);
        push_u64(&mut n, u64::MAX);
        assert_eq!(n, format!("0{}", u64::MAX));
    }

    #[test]
    fn line_leaves_out_empty_fields() {
        let line = RequestLog {
            time: rfc3339_ms(0),
            level: RequestLog::level_for(200),
            request_id: "r",
            trace_id: "t",
            method: "GET",
            route: "/v1/health",
            status: 200,
            duration_ms: 3,
            user_id: None,
            error_code: None,
            cause: None,
            cache: None,
            cache_error: None,
        }
        .to_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "info");
        assert_eq!(v["route"], "/v1/health");
        assert!(v.get("user_id").is_none());
        assert!(v.get("cause").is_none());
    }
}

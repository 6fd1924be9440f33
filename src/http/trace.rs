//! W3C Trace Context (`traceparent`): continue an inbound trace or start a new one.
//!
//! See <https://www.w3.org/TR/trace-context/#traceparent-header>. The Worker is one span: it
//! keeps the caller's trace id, takes a new span id of its own and echoes the resulting
//! `traceparent` so downstream calls and the client can correlate.

/// A parsed or freshly started trace context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex characters, never all zeros.
    pub trace_id: String,
    /// This Worker's span id: 16 lowercase hex characters, never all zeros.
    pub span_id: String,
    /// The trace flags byte (bit 0: sampled).
    pub flags: u8,
}

impl TraceContext {
    /// Continues the inbound `traceparent` if it is valid version-00 syntax, else starts a
    /// new trace. Either way the span id is new.
    pub fn continue_or_start(inbound: Option<&str>) -> Self {
        Self::from_parts(
            inbound,
            crate::ids::id_bytes::<16>(),
            crate::ids::id_bytes::<8>(),
        )
    }

    /// Same as [`Self::continue_or_start`] with explicit random parts, for tests.
    pub fn from_parts(inbound: Option<&str>, trace_bytes: [u8; 16], span_bytes: [u8; 8]) -> Self {
        let span_id = nonzero_hex(&span_bytes);
        match inbound.and_then(parse) {
            Some((trace_id, flags)) => Self {
                trace_id: trace_id.to_owned(),
                span_id,
                flags,
            },
            None => Self {
                trace_id: nonzero_hex(&trace_bytes),
                span_id,
                flags: 0,
            },
        }
    }

    /// Renders the outgoing `traceparent` header value.
    pub fn header_value(&self) -> String {
        let mut value = String::with_capacity(55);
        value.push_str("00-");
        value.push_str(&self.trace_id);
        value.push('-');
        value.push_str(&self.span_id);
        value.push('-');
        crate::ids::push_hex(&mut value, &[self.flags]);
        value
    }
}

/// Parses `<version>-<trace-id>-<parent-id>-<flags>`, returning the trace id and flags.
/// Version `00` is exactly those 55 characters. A later version is read the same way, its
/// first four fields where version `00` has them, and may go on after a further `-`
/// (W3C Trace Context §3.2.4); `ff` is invalid.
fn parse(value: &str) -> Option<(&str, u8)> {
    let value = value.trim();
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    let fields = value.get(..55).filter(|f| f.is_ascii())?;
    let (version, rest) = (&fields[..2], &value[55..]);
    if !hex(version) || version == "ff" {
        return None;
    }
    if !(rest.is_empty() || (version != "00" && rest.starts_with('-'))) {
        return None;
    }
    let dashes = fields.as_bytes();
    if dashes[2] != b'-' || dashes[35] != b'-' || dashes[52] != b'-' {
        return None;
    }
    let (trace_id, parent_id, flags) = (&fields[3..35], &fields[36..52], &fields[53..]);
    let valid = |s: &str| hex(s) && nonzero(s);
    if !valid(trace_id) || !valid(parent_id) || !hex(flags) {
        return None;
    }
    Some((trace_id, u8::from_str_radix(flags, 16).ok()?))
}

/// Hex-encodes random bytes, forcing a non-zero value as the spec requires.
fn nonzero_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    crate::ids::push_hex(&mut out, bytes);
    if bytes.iter().all(|&b| b == 0) {
        out.replace_range(out.len() - 1.., "1");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INBOUND: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn valid_traceparent_is_continued_with_a_new_span() {
        let t = TraceContext::from_parts(Some(INBOUND), [1; 16], [2; 8]);
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span_id, "0202020202020202");
        assert_eq!(
            t.header_value(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0202020202020202-01"
        );
    }

    #[test]
    fn a_later_version_is_continued_from_its_first_four_fields() {
        for later in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x-y",
        ] {
            let t = TraceContext::from_parts(Some(later), [1; 16], [2; 8]);
            assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", "{later}");
            assert_eq!(t.flags, 1, "{later}");
            assert!(
                t.header_value().starts_with("00-4bf92f"),
                "sent as version 00"
            );
        }
    }

    #[test]
    fn invalid_traceparent_starts_a_new_trace() {
        for bad in [
            "",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
            "00-4bf92f3577b34da6a3ce929d0e0e4736é00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let t = TraceContext::from_parts(Some(bad), [0xab; 16], [3; 8]);
            assert_eq!(t.trace_id, "ab".repeat(16), "{bad:?}");
            assert_eq!(t.flags, 0);
        }
    }

    #[test]
    fn all_zero_random_ids_are_made_valid() {
        let t = TraceContext::from_parts(None, [0; 16], [0; 8]);
        assert_eq!(t.trace_id, format!("{}1", "0".repeat(31)));
        assert_eq!(t.span_id, format!("{}1", "0".repeat(15)));
    }
}

//! Every parser of outside bytes, fuzzed: arbitrary bytes and structure-aware inputs, 10,000
//! cases each. The property is the same everywhere: no panic, and either a value that obeys
//! the parser's rules or a structured refusal. The WebAuthn parsers and verifier are in
//! [`webauthn`].

mod webauthn;

use crate::auth::service_token::{self, JwtConfig};
use crate::auth::{cookie, csrf, token::SessionToken};
use crate::cache::{remote::Reply, upstash, Entry};
use crate::db::hrana;
use crate::domain::{Email, NoteBody, NoteId, NoteTitle, Password, Tag, Tags, UserId};
use crate::http::input::{self, Input};
use crate::http::json;
use crate::http::trace::TraceContext;
use crate::http::{cursor, page, query, request_id};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use proptest::prelude::*;
use serde_json::Value;

const CASES: u32 = 10_000;
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep, with keys that collide with the API's field names.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("title".to_string()),
                        Just("body".to_string()),
                        Just("tags".to_string()),
                        Just("email".to_string()),
                        "[a-z_]{1,12}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Text that is mostly the shape a header or token takes, sometimes anything at all.
fn token_like(alphabet: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => alphabet,
        1 => "\\PC{0,80}",
        1 => any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_bodies_parse_or_are_400(bytes in prop_oneof![
        any::<Vec<u8>>(),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]) {
        match json::parse(&bytes) {
            Ok(value) => {
                // Reading fields never panics, and every refusal is one 422.
                if let Ok(mut input) = Input::new(value, &["title", "body", "tags"]) {
                    let _ = input.required("title", NoteTitle::parse);
                    let _ = input.optional_value("body", input::string(NoteBody::parse));
                    let _ = input.patch("tags", Tags::parse);
                    if let Err(e) = input.finish() {
                        prop_assert_eq!(e.status(), 422);
                        prop_assert!(!e.details().is_empty());
                    }
                }
            }
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
    }

    #[test]
    fn content_types_are_json_or_415(ct in token_like("[a-zA-Z/+;= -]{0,40}"), patch: bool) {
        if let Err(e) = json::check_content_type(Some(&ct), patch) {
            prop_assert_eq!(e.status(), 415);
        }
        // What a PATCH accepts, any route accepts.
        if json::check_content_type(Some(&ct), true).is_ok() {
            prop_assert!(json::check_content_type(Some(&ct), false).is_ok());
        }
    }

    #[test]
    fn content_codings_are_identity_or_415(ce in token_like("[a-zA-Z, -]{0,40}")) {
        let plain = ce.split(',').all(|c| c.trim().is_empty() || c.trim().eq_ignore_ascii_case("identity"));
        match json::check_content_encoding(Some(&ce)) {
            Ok(()) => prop_assert!(plain, "{ce:?} was accepted"),
            Err(e) => {
                prop_assert!(!plain, "{ce:?} was refused");
                prop_assert_eq!(e.status(), 415);
            }
        }
    }

    #[test]
    fn paths_normalise_without_new_segments(path in token_like("/[a-zA-Z0-9/%._~-]{0,60}")) {
        let normal = query::normalize_path(&path);
        // Never a new `/` (no segment is split); each decoded escape is three bytes made one,
        // and only `%` escapes go.
        prop_assert_eq!(normal.matches('/').count(), path.matches('/').count());
        prop_assert!(normal.len() <= path.len());
        prop_assert_eq!((path.len() - normal.len()) % 2, 0);
        let gone = (path.len() - normal.len()) / 2;
        prop_assert_eq!(path.matches('%').count() - normal.matches('%').count(), gone);
    }

    #[test]
    fn query_strings_decode_to_pairs(url in token_like("https://x\\.test/v1/notes[?]?[a-z=&%0-9A-F+]{0,60}")) {
        let (path, q) = query::split_url(&url);
        prop_assert!(!path.contains('?') && !path.contains('#'));
        prop_assert!(!q.contains('#'));
        // Every pair comes from one `&`-separated part: never more pairs than parts.
        prop_assert!(query::pairs(q).len() <= q.split('&').count());
        match page::params::<(u64, NoteId)>(q, SECRET, "caller") {
            Ok(p) => prop_assert!((1..=page::MAX_LIMIT).contains(&p.limit)),
            Err(e) => prop_assert!(matches!(e.status(), 400 | 422)),
        }
    }

    #[test]
    fn cursors_verify_or_are_400(raw in prop_oneof![
        token_like("[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,30}"),
        (json_value(), any::<Vec<u8>>()).prop_map(|(v, tag)| format!(
            "{}.{}", B64URL.encode(v.to_string()), B64URL.encode(tag))),
    ]) {
        if let Err(e) = cursor::decode::<(u64, NoteId, Option<Tag>)>(SECRET, "caller", &raw) {
            prop_assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn signed_cursors_round_trip(created in any::<u64>(), n in any::<u16>()) {
        let id = NoteId::parse(&format!("0190b0a0-0000-7000-8000-00000000{n:04x}")).unwrap();
        let c = cursor::encode(SECRET, "caller", &(created, &id));
        prop_assert_eq!(cursor::decode::<(u64, NoteId)>(SECRET, "caller", &c).unwrap(), (created, id));
    }

    #[test]
    fn cookies_yield_only_well_formed_tokens(header in token_like("[ -~]{0,120}")) {
        if let Some(raw) = cookie::find(&header) {
            if let Some(token) = SessionToken::parse(raw) {
                prop_assert_eq!(token.encode(), raw);
            }
        }
    }

    #[test]
    fn traceparent_is_continued_or_restarted(inbound in token_like("00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]")) {
        let trace = TraceContext::continue_or_start(Some(&inbound));
        let value = trace.header_value();
        prop_assert_eq!(value.len(), 55);
        prop_assert!(value.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
        prop_assert!(trace.trace_id != "0".repeat(32));
    }

    #[test]
    fn request_ids_are_adopted_only_when_safe(inbound in token_like("[A-Za-z0-9._-]{0,140}")) {
        let id = request_id::resolve(Some(&inbound), 1_700_000_000_000);
        prop_assert!(!id.is_empty() && id.len() <= 128);
        prop_assert!(id.bytes().all(|b| b.is_ascii_graphic()));
    }

    #[test]
    fn csrf_decides_without_panicking(
        origin in proptest::option::of(token_like("https?://[a-z.]{1,20}")),
        site in proptest::option::of(token_like("same-origin|same-site|cross-site|none")),
    ) {
        let allowed = vec!["https://app.example.test".to_string()];
        let own = "https://api.example.test";
        match csrf::check(origin.as_deref(), site.as_deref(), &allowed, own) {
            Err(e) => prop_assert_eq!(e.status(), 403),
            // Admitted only for an allowed origin, or without one for a same-origin fetch.
            Ok(()) => {
                let expected = match origin.as_deref() {
                    Some(o) => o == own || o == allowed[0],
                    None => site.as_deref() == Some("same-origin"),
                };
                prop_assert!(expected, "admitted {:?} {:?}", origin, site);
            }
        }
    }

    #[test]
    fn domain_parsers_accept_only_what_they_promise(raw in token_like("[a-z0-9@.+-]{0,70}")) {
        if let Ok(e) = Email::parse(&raw) {
            prop_assert!(e.as_str().len() <= 254 && e.as_str().contains('@'));
        }
        if let Ok(t) = NoteTitle::parse(&raw) {
            prop_assert!((1..=200).contains(&t.as_str().chars().count()));
        }
        if let Ok(t) = Tag::parse(&raw) {
            prop_assert!(t.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
        if let Ok(id) = UserId::parse(&raw) {
            prop_assert_eq!(id.as_str().len(), 36);
        }
        let _ = Password::parse(&raw);
    }

    #[test]
    fn tags_parse_from_any_json(value in json_value()) {
        if let Ok(tags) = Tags::parse(&value) {
            prop_assert!(tags.as_slice().len() <= 16);
        }
    }

    #[test]
    fn bookmarks_and_idempotency_keys_are_checked(raw in token_like("[0-9a-f-]{0,80}")) {
        let _ = crate::pipeline::valid_bookmark(&raw);
        match crate::notes::handlers::parse_idempotency_key(&raw) {
            Ok(key) => prop_assert!(key.bytes().all(|b| b.is_ascii_graphic())),
            Err(e) => prop_assert_eq!(e.status(), 422),
        }
    }

    #[test]
    fn jwt_headers_and_claims_are_refused_with_401(
        header in json_value(),
        claims in json_value(),
        sig in any::<Vec<u8>>(),
        raw in token_like("[A-Za-z0-9_.-]{0,120}"),
    ) {
        let config = JwtConfig {
            issuer: "https://issuer.test".into(),
            audience: "edge-api".into(),
            ed25519_keys: vec![("k1".into(), [7; 32])],
            hs256_secret: Some(SECRET.to_vec()),
        };
        let built = format!(
            "{}.{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string()),
            B64URL.encode(sig)
        );
        for token in [built.as_str(), raw.as_str()] {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            let err = service_token::verify(token, &config, now.as_millis() as u64).unwrap_err();
            prop_assert_eq!(err.status(), 401);
        }
    }

    #[test]
    fn hrana_answers_decode_or_are_errors(body in prop_oneof![
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        json_value().prop_map(|v| serde_json::json!({"results": [v]}).to_string()),
        json_value().prop_map(|v| serde_json::json!({"results": [{"type": "ok", "response": {"type": "execute", "result": v}}]}).to_string()),
    ], n in 0usize..4) {
        let _ = hrana::parse_execute(&body);
        if let Ok(results) = hrana::parse_batch(&body, n) {
            prop_assert_eq!(results.len(), n);
        }
    }

    #[test]
    fn upstash_answers_decode_or_are_errors(
        status in prop_oneof![Just(200u16), Just(400), Just(401), Just(500), any::<u16>()],
        body in prop_oneof![
            any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            json_value().prop_map(|v| serde_json::json!({"result": v}).to_string()),
            json_value().prop_map(|v| serde_json::json!([{"result": v}, {"error": "ERR x"}]).to_string()),
        ],
        expected in 0usize..4,
    ) {
        // Only a 200 carries a result; only a 400 carries a refused command's error.
        match upstash::decode_single(status, &body) {
            Ok(Reply::Error(_)) => prop_assert_eq!(status, 400),
            Ok(_) => prop_assert_eq!(status, 200),
            Err(_) => {}
        }
        if let Ok(replies) = upstash::decode(status, &body, expected) {
            prop_assert_eq!(status, 200);
            prop_assert_eq!(replies.len(), expected);
        }
    }

    #[test]
    fn cache_entries_decode_or_are_misses(text in token_like("[0-9]{0,6}\\|[0-9]{0,6}\\|[0-9]{0,6}\\|[a-z\"]{0,6}\\|\\PC{0,20}")) {
        if let Some(entry) = Entry::decode(&text) {
            prop_assert!(entry.fresh_until <= entry.stale_until);
            prop_assert_eq!(Entry::decode(&entry.encode()), Some(entry));
        }
    }
}

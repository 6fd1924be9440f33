//! The WebAuthn parsers (CBOR, authenticator data, DER signatures, the credential JSON) and
//! the relying party's verification, fuzzed: arbitrary and mutated honest inputs never panic,
//! and a response whose signed parts were replaced never verifies.

use super::{config, json_value};
use crate::auth::webauthn::soft::{Claims, SoftAuthenticator};
use crate::auth::webauthn::{authdata, cbor, es256, forms, RelyingParty, StoredCredential};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use futures_util::FutureExt;
use proptest::prelude::*;
use serde_json::Value;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cbor_decodes_or_refuses(bytes in prop_oneof![
        any::<Vec<u8>>(),
        // Mostly-valid attestation objects with bytes changed.
        (any::<u16>(), any::<u8>()).prop_map(|(at, b)| {
            let mut obj = attestation_object();
            let i = usize::from(at) % obj.len();
            obj[i] = b;
            obj
        }),
    ]) {
        if let Ok((value, used)) = cbor::decode_prefix(&bytes) {
            prop_assert!(used <= bytes.len());
            prop_assert_eq!(cbor::decode(&bytes[..used]), Ok(value));
        }
    }

    #[test]
    fn authenticator_data_parses_or_refuses(
        bytes in any::<Vec<u8>>(),
        flags in any::<u8>(),
        tail in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        if let Ok(data) = authdata::parse(&bytes) {
            prop_assert_eq!(data.rp_id_hash.len(), 32);
        }
        // A valid header with any flags and any tail: the flags decide what must follow.
        let mut crafted = vec![0u8; 32];
        crafted.push(flags);
        crafted.extend([0, 0, 0, 1]);
        crafted.extend(&tail);
        if let Ok(data) = authdata::parse(&crafted) {
            prop_assert_eq!(data.attested.is_some(), flags & authdata::AT != 0);
            prop_assert!(flags & authdata::BS == 0 || flags & authdata::BE != 0);
        }
    }

    #[test]
    fn der_signatures_convert_or_refuse(bytes in any::<Vec<u8>>()) {
        if let Some(raw) = es256::der_to_raw(&bytes) {
            prop_assert_eq!(raw.len(), 64);
            prop_assert!(bytes.len() <= 72);
        }
    }

    #[test]
    fn credential_json_never_panics_and_forgeries_never_verify(
        value in json_value(),
        field in prop_oneof![Just("id"), Just("rawId"), Just("type"), Just("response")],
        inner in prop_oneof![
            Just("clientDataJSON"), Just("attestationObject"), Just("authenticatorData"),
            Just("signature"), Just("userHandle"), Just("transports"),
        ],
        replacement in json_value(),
        bytes in any::<Vec<u8>>(),
    ) {
        // Anything at all.
        let _ = forms::registration(&value);
        let _ = forms::authentication(&value);
        // Honest responses with one member replaced by anything, or by base64url of anything.
        let honest = honest_responses();
        let rp = relying_party();
        for mut body in [honest.registration.clone(), honest.authentication.clone()] {
            body[field] = replacement.clone();
            let _ = forms::registration(&body);
            let _ = forms::authentication(&body);
            let mut body = honest.registration.clone();
            body["response"][inner] = Value::String(B64URL.encode(&bytes));
            if let Ok(response) = forms::registration(&body) {
                let verified = rp.verify_registration(&response, CHALLENGE).now_or_never().unwrap();
                prop_assert!(verified.is_err() || inner == "transports" || inner == "signature"
                    || inner == "authenticatorData" || inner == "userHandle");
            }
            let mut body = honest.authentication.clone();
            body["response"][inner] = Value::String(B64URL.encode(&bytes));
            if let Ok(response) = forms::authentication(&body) {
                let stored = StoredCredential {
                    credential_id: &honest.credential_id,
                    public_key_cose: &honest.cose_key,
                    sign_count: 0,
                    backup_eligible: true,
                    user_handle: b"h",
                    discoverable: false,
                };
                let verified = rp.verify_authentication(&response, CHALLENGE, &stored).now_or_never().unwrap();
                // Replacing a signed member with other bytes never verifies.
                if ["clientDataJSON", "authenticatorData", "signature"].contains(&inner) {
                    prop_assert!(verified.is_err());
                }
            }
        }
    }
}

/// An honest registration and assertion, made once (signing is the slow part).
struct Honest {
    registration: Value,
    authentication: Value,
    cose_key: Vec<u8>,
    credential_id: Vec<u8>,
}

fn honest_responses() -> &'static Honest {
    static HONEST: std::sync::OnceLock<Honest> = std::sync::OnceLock::new();
    HONEST.get_or_init(|| {
        let auth = SoftAuthenticator::es256(3);
        let origin = "https://app.example";
        Honest {
            registration: auth.registration(&Claims::new(
                "webauthn.create",
                CHALLENGE,
                "app.example",
                origin,
            )),
            authentication: auth.authentication(
                &Claims::new("webauthn.get", CHALLENGE, "app.example", origin),
                None,
            ),
            cose_key: auth.cose_key(),
            credential_id: auth.credential_id.clone(),
        }
    })
}

const CHALLENGE: &[u8] = b"fuzzing challenge, 32 bytes long";

fn relying_party() -> RelyingParty {
    RelyingParty {
        id: "app.example".into(),
        name: "fuzz".into(),
        origins: vec!["https://app.example".into()],
        any_localhost: false,
        require_user_verification: true,
    }
}

fn attestation_object() -> Vec<u8> {
    let auth = SoftAuthenticator::es256(5);
    auth.attestation_object(&Claims::new(
        "webauthn.create",
        CHALLENGE,
        "app.example",
        "https://app.example",
    ))
}

//! The relying party against published vectors (`vectors.json`): the W3C Level 3
//! specification's, and real authenticators' responses from py_webauthn and SimpleWebAuthn.
//! The file says where each comes from and what is odd about it; its bytes are carried over
//! verbatim, as lowercase hex.

use super::authdata::{self, BE, BS, UV};
use super::forms::{AuthenticationResponse, RegistrationResponse};
use super::*;
use futures_util::FutureExt;
use serde_json::Value;
use std::sync::OnceLock;

/// One vector of `vectors.json`.
struct Vector {
    name: &'static str,
    fields: &'static Value,
}

fn vector(name: &'static str) -> Vector {
    static DATA: OnceLock<Value> = OnceLock::new();
    let data = DATA.get_or_init(|| {
        serde_json::from_str(include_str!("vectors.json")).expect("vectors.json is JSON")
    });
    let fields = &data["vectors"][name];
    assert!(fields.is_object(), "no vector {name}");
    Vector { name, fields }
}

impl Vector {
    fn get(&self, key: &str) -> &'static Value {
        let value = &self.fields[key];
        assert!(!value.is_null(), "{}: no {key}", self.name);
        value
    }

    fn text(&self, key: &str) -> &'static str {
        self.get(key).as_str().expect("a string")
    }

    fn hex(&self, key: &str) -> Vec<u8> {
        let s = self.text(key);
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn int(&self, key: &str) -> i64 {
        self.get(key).as_i64().expect("an integer")
    }

    fn count(&self, key: &str) -> u32 {
        u32::try_from(self.int(key)).expect("a counter")
    }

    /// A relying party for the vector's RP ID and origin. Several published registrations
    /// were made without user verification, so it is not required.
    fn rp(&self) -> RelyingParty {
        relying_party(self.text("rp_id"), self.text("origin"))
    }

    fn registration(&self) -> RegistrationResponse {
        let raw_id = self.hex("credential_id_hex");
        RegistrationResponse {
            id: b64_encode(&raw_id),
            raw_id,
            kind: "public-key".into(),
            client_data_json: self.hex("client_data_json_registration_hex"),
            attestation_object: self.hex("attestation_object_hex"),
            transports: Vec::new(),
        }
    }

    fn assertion(&self) -> AuthenticationResponse {
        let raw_id = self.hex("credential_id_hex");
        AuthenticationResponse {
            id: b64_encode(&raw_id),
            raw_id,
            kind: "public-key".into(),
            client_data_json: self.hex("client_data_json_authentication_hex"),
            authenticator_data: self.hex("authenticator_data_hex"),
            signature: self.hex("signature_hex"),
            user_handle: None,
        }
    }

    /// Registers the vector and checks every decoded fact the file records.
    fn register(&self) -> Result<NewCredential, Rejection> {
        let reg = self.registration();
        let challenge = self.hex("registration_challenge_hex");
        assert_eq!(challenge_of(&reg.client_data_json).unwrap(), challenge);
        let registered = self.rp().verify_registration(&reg, &challenge).now();
        if let Ok(cred) = &registered {
            let name = self.name;
            assert_eq!(cred.credential_id, self.hex("credential_id_hex"), "{name}");
            let cose = self.hex("credential_public_key_cose_hex");
            assert_eq!(cred.public_key_cose, cose, "{name}");
            assert_eq!(cred.algorithm, self.int("algorithm"), "{name}");
            let count = self.count("registration_sign_count");
            assert_eq!(cred.sign_count, count, "{name}");
            assert_eq!(cred.aaguid.to_vec(), self.hex("aaguid_hex"), "{name}");
            let flags = self.int("registration_flags") as u8;
            assert_eq!(cred.backup_eligible, flags & BE != 0, "{name}");
            assert_eq!(cred.backed_up, flags & BS != 0, "{name}");
            assert_eq!(cred.user_verified, flags & UV != 0, "{name}");
        }
        registered
    }

    /// Verifies the vector's assertion against `cred` as stored.
    fn authenticate(&self, cred: &NewCredential) -> Result<Assertion, Rejection> {
        let stored = StoredCredential {
            credential_id: &cred.credential_id,
            public_key_cose: &cred.public_key_cose,
            sign_count: cred.sign_count,
            backup_eligible: cred.backup_eligible,
            user_handle: b"",
            discoverable: false,
        };
        let challenge = self.hex("authentication_challenge_hex");
        self.rp()
            .verify_authentication(&self.assertion(), &challenge, &stored)
            .now()
    }

    /// Registers, then verifies the assertion against what was registered.
    fn pair(
        &self,
    ) -> (
        Result<NewCredential, Rejection>,
        Option<Result<Assertion, Rejection>>,
    ) {
        let registered = self.register();
        let asserted = registered.as_ref().ok().map(|cred| self.authenticate(cred));
        (registered, asserted)
    }
}

/// Runs a check natively, where nothing waits.
trait Now: std::future::Future + Sized {
    fn now(self) -> Self::Output {
        self.now_or_never().expect("native checks never wait")
    }
}
impl<F: std::future::Future> Now for F {}

fn relying_party(rp_id: &str, origin: &str) -> RelyingParty {
    RelyingParty {
        id: rp_id.into(),
        name: "vectors".into(),
        origins: vec![origin.into()],
        any_localhost: false,
        require_user_verification: false,
    }
}

#[test]
fn the_specifications_es256_and_ed25519_vectors_verify() {
    let (reg, auth) = vector("spec_es256_none").pair();
    assert!(reg.is_ok());
    assert_eq!(auth.unwrap().unwrap().sign_count, 0);
    // Statements of other formats are not verified, but their authenticator data must parse
    // and their assertions verify.
    for name in [
        "spec_es256_packed_self",
        "spec_es256_none_long_credential_id",
        "spec_es256_packed",
        "spec_es256_tpm",
        "spec_es256_android_key",
        "spec_es256_apple",
        "spec_es256_fido_u2f",
        "spec_ed25519_packed",
    ] {
        let (reg, auth) = vector(name).pair();
        assert!(reg.is_ok(), "{name}: {reg:?}");
        assert!(auth.unwrap().is_ok(), "{name}");
    }
    let (reg, _) = vector("spec_ed25519_packed").pair();
    assert_eq!(reg.unwrap().algorithm, cose::EDDSA);
    let (reg, _) = vector("spec_es256_none_long_credential_id").pair();
    assert_eq!(reg.unwrap().credential_id.len(), 1023);
}

#[test]
fn the_specifications_negative_vectors_are_refused() {
    // Made in a cross-origin frame (with and without `topOrigin`).
    for name in ["spec_es256_none_cross_origin", "spec_es256_none_top_origin"] {
        assert_eq!(vector(name).pair().0, Err(Rejection::CrossOrigin), "{name}");
    }
    // ES384 was not offered.
    assert_eq!(
        vector("spec_es384_packed").pair().0,
        Err(Rejection::Algorithm)
    );
    // The ES256 vector from another origin, for another RP ID, or where UV is required.
    let v = vector("spec_es256_none");
    let (reg, challenge) = (v.registration(), v.hex("registration_challenge_hex"));
    let rp = relying_party(v.text("rp_id"), "https://other.example");
    assert_eq!(
        rp.verify_registration(&reg, &challenge).now(),
        Err(Rejection::Origin)
    );
    let rp = relying_party("example.com", v.text("origin"));
    assert_eq!(
        rp.verify_registration(&reg, &challenge).now(),
        Err(Rejection::RpId)
    );
    let strict = RelyingParty {
        require_user_verification: true,
        ..v.rp()
    };
    assert_eq!(
        strict.verify_registration(&reg, &challenge).now(),
        Err(Rejection::UserVerification),
        "the vector was made without user verification"
    );
}

#[test]
fn real_authenticators_assertions_verify_and_cannot_be_replayed() {
    for name in [
        "pywebauthn_es256_authentication",
        "pywebauthn_ed25519_authentication",
        "simplewebauthn_es256_authentication",
        "simplewebauthn_es256_authentication_localhost",
    ] {
        // A credential stored from an earlier registration, and its next assertion.
        let v = vector(name);
        let response = v.assertion();
        let data = authdata::parse(&response.authenticator_data).unwrap();
        let stored = NewCredential {
            credential_id: v.hex("credential_id_hex"),
            public_key_cose: v.hex("credential_public_key_cose_hex"),
            algorithm: v.int("algorithm"),
            sign_count: v.count("stored_sign_count"),
            aaguid: [0; 16],
            backup_eligible: data.backup_eligible(),
            backed_up: data.backed_up(),
            user_verified: data.user_verified(),
            transports: Vec::new(),
        };
        let outcome = v.authenticate(&stored);
        assert_eq!(
            outcome.map(|a| a.sign_count),
            Ok(v.count("authentication_sign_count")),
            "{name}"
        );
        // The same assertion presented again: its counter no longer increases.
        let replay = NewCredential {
            sign_count: v.count("authentication_sign_count"),
            ..stored
        };
        assert_eq!(v.authenticate(&replay), Err(Rejection::Counter), "{name}");
    }
}

#[test]
fn real_authenticators_registrations_verify() {
    for name in [
        "pywebauthn_es256_none_registration",
        "pywebauthn_es256_packed_yubikey_registration",
        "pywebauthn_ed25519_packed_yubikey_registration",
        // Firefox for Android escapes the slashes of its origin in clientDataJSON.
        "simplewebauthn_es256_none_firefox_android_registration",
        "simplewebauthn_es256_packed_self_chrome_registration",
    ] {
        let cred = vector(name).register();
        assert!(cred.is_ok(), "{name}: {cred:?}");
    }
    let ed = vector("pywebauthn_ed25519_packed_yubikey_registration").register();
    assert_eq!(ed.unwrap().algorithm, cose::EDDSA);
    // Authenticator extension data (ED) after the key, in registration and assertion; the
    // published assertion's signature does not verify against this credential.
    let v = vector("simplewebauthn_es256_android_device_pubkey");
    assert_eq!(v.get("authentication_signature_valid"), &Value::Bool(false));
    let cred = v.register().expect("the registration verifies");
    assert!(authdata::parse(&v.assertion().authenticator_data).is_ok());
    assert_eq!(v.authenticate(&cred), Err(Rejection::Signature));
}

//! The ceremony rules, one test each, with a software authenticator; and the published
//! vectors from real authenticators and the specification.

use super::authdata::{self, BE, BS, UP, UV};
use super::forms::{self, AuthenticationResponse, RegistrationResponse};
use super::soft::{Claims, SoftAuthenticator};
use super::*;
use futures_util::FutureExt;

/// Runs a check natively, where nothing waits.
trait Now: std::future::Future + Sized {
    fn now(self) -> Self::Output {
        self.now_or_never().expect("native checks never wait")
    }
}
impl<F: std::future::Future> Now for F {}

const RP_ID: &str = "app.example";
const ORIGIN: &str = "https://app.example";
const CHALLENGE: &[u8] = b"0123456789abcdef0123456789abcdef";
const HANDLE: &[u8] = b"user-handle-0001";

fn rp() -> RelyingParty {
    RelyingParty {
        id: RP_ID.into(),
        name: "Example".into(),
        origins: vec![ORIGIN.into()],
        any_localhost: false,
        require_user_verification: true,
    }
}

fn create() -> Claims {
    Claims::new("webauthn.create", CHALLENGE, RP_ID, ORIGIN)
}

fn get(count: u32) -> Claims {
    let mut c = Claims::new("webauthn.get", CHALLENGE, RP_ID, ORIGIN);
    c.sign_count = count;
    c
}

fn registration(auth: &SoftAuthenticator, claims: &Claims) -> RegistrationResponse {
    forms::registration(&auth.registration(claims)).expect("well-formed")
}

fn register(auth: &SoftAuthenticator, claims: &Claims) -> Result<NewCredential, Rejection> {
    rp().verify_registration(&registration(auth, claims), CHALLENGE)
        .now()
}

fn assertion(
    auth: &SoftAuthenticator,
    claims: &Claims,
    handle: Option<&[u8]>,
) -> AuthenticationResponse {
    forms::authentication(&auth.authentication(claims, handle)).expect("well-formed")
}

/// Registers `auth` honestly and returns what an assertion is checked against.
fn stored(auth: &SoftAuthenticator) -> NewCredential {
    register(auth, &create()).expect("honest registration")
}

fn login(
    auth: &SoftAuthenticator,
    cred: &NewCredential,
    claims: &Claims,
    handle: Option<&[u8]>,
    discoverable: bool,
) -> Result<Assertion, Rejection> {
    let stored = StoredCredential {
        credential_id: &cred.credential_id,
        public_key_cose: &cred.public_key_cose,
        sign_count: cred.sign_count,
        backup_eligible: cred.backup_eligible,
        user_handle: HANDLE,
        discoverable,
    };
    rp().verify_authentication(&assertion(auth, claims, handle), CHALLENGE, &stored)
        .now()
}

#[test]
fn an_honest_registration_and_login_pass_with_both_algorithms() {
    for auth in [SoftAuthenticator::es256(1), SoftAuthenticator::ed25519(2)] {
        let cred = stored(&auth);
        assert_eq!(cred.algorithm, auth.algorithm());
        assert_eq!(cred.credential_id, auth.credential_id);
        assert_eq!(cred.public_key_cose, auth.cose_key());
        assert_eq!(cred.aaguid, auth.aaguid);
        assert!(cred.backup_eligible && cred.backed_up && cred.user_verified);
        assert_eq!(cred.transports, ["internal", "hybrid"]);
        let done = login(&auth, &cred, &get(0), Some(HANDLE), true).expect("login");
        assert_eq!(done.sign_count, 0);
        assert!(done.backed_up && done.user_verified);
    }
}

#[test]
fn the_credential_type_must_be_public_key() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.credential_type = "password".into();
    assert_eq!(register(&auth, &c), Err(Rejection::Type));
    let cred = stored(&auth);
    let mut c = get(0);
    c.credential_type = "password".into();
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::Type)
    );
}

#[test]
fn client_data_must_be_of_this_ceremony() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.kind = "webauthn.get".into();
    assert_eq!(register(&auth, &c), Err(Rejection::Type));
    let cred = stored(&auth);
    let mut c = get(0);
    c.kind = "webauthn.create".into();
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::Type)
    );
}

#[test]
fn a_foreign_challenge_is_refused() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.challenge = b"another ceremony's challenge....".to_vec();
    assert_eq!(register(&auth, &c), Err(Rejection::Challenge));
    let cred = stored(&auth);
    let mut c = get(0);
    c.challenge = b"another ceremony's challenge....".to_vec();
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::Challenge)
    );
}

#[test]
fn the_origin_must_be_allowed() {
    let auth = SoftAuthenticator::es256(1);
    for origin in [
        "https://evil.example",
        "https://app.example:8443",
        "http://app.example",
        "https://sub.app.example",
        "http://localhost:8787",
    ] {
        let mut c = create();
        c.origin = origin.into();
        assert_eq!(register(&auth, &c), Err(Rejection::Origin), "{origin}");
    }
    let cred = stored(&auth);
    let mut c = get(0);
    c.origin = "https://evil.example".into();
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::Origin)
    );
}

#[test]
fn development_accepts_any_localhost_port_and_nothing_else() {
    let dev = RelyingParty {
        any_localhost: true,
        ..rp()
    };
    for ok in [
        "http://localhost",
        "http://localhost:8787",
        "http://localhost:65535",
        ORIGIN,
    ] {
        assert!(dev.allows_origin(ok), "{ok}");
    }
    for bad in [
        "http://localhost:0",
        "http://localhost:65536",
        "http://localhost:80a",
        "http://localhost.evil.example",
        "http://localhost:8787/",
        "https://localhost:8787",
        "http://127.0.0.1:8787",
        "http://localhost:",
    ] {
        assert!(!dev.allows_origin(bad), "{bad}");
    }
    assert!(!rp().allows_origin("http://localhost:8787"));
}

#[test]
fn a_cross_origin_frame_is_refused() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.cross_origin = true;
    assert_eq!(register(&auth, &c), Err(Rejection::CrossOrigin));
    let cred = stored(&auth);
    let mut c = get(0);
    c.cross_origin = true;
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::CrossOrigin)
    );
}

#[test]
fn a_top_origin_without_cross_origin_is_still_a_cross_origin_frame() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.top_origin = Some("https://evil.example".into());
    assert_eq!(register(&auth, &c), Err(Rejection::CrossOrigin));
    let cred = stored(&auth);
    let mut c = get(0);
    c.top_origin = Some("https://evil.example".into());
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::CrossOrigin)
    );
}

#[test]
fn the_challenge_is_compared_as_written() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    let plain = crate::auth::webauthn::b64_encode(&c.challenge);
    for padded in [
        format!("{plain}="),
        format!("{plain}==="),
        format!(" {plain}"),
    ] {
        c.challenge_text = Some(padded.clone());
        assert_eq!(register(&auth, &c), Err(Rejection::Challenge), "{padded:?}");
    }
    c.challenge_text = Some(plain);
    assert!(register(&auth, &c).is_ok());
}

#[test]
fn the_rp_id_hash_must_match() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.rp_id = "evil.example".into();
    assert_eq!(register(&auth, &c), Err(Rejection::RpId));
    let cred = stored(&auth);
    let mut c = get(0);
    c.rp_id = "example".into();
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::RpId)
    );
}

#[test]
fn user_presence_is_required() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.flags = UV;
    assert_eq!(register(&auth, &c), Err(Rejection::UserPresence));
    let cred = stored(&auth);
    let mut c = get(0);
    c.flags = UV | BE | BS;
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::UserPresence)
    );
}

#[test]
fn user_verification_follows_the_setting() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.flags = UP | BE;
    assert_eq!(register(&auth, &c), Err(Rejection::UserVerification));
    let lenient = RelyingParty {
        require_user_verification: false,
        ..rp()
    };
    let cred = lenient
        .verify_registration(&registration(&auth, &c), CHALLENGE)
        .now()
        .expect("UV preferred");
    assert!(!cred.user_verified);
    let mut c = get(1);
    c.flags = UP | BE;
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::UserVerification)
    );
}

#[test]
fn only_the_offered_algorithms_are_accepted() {
    // An RS256 COSE key (kty 3, alg -257) in otherwise valid authenticator data.
    let mut key = vec![0xa4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20];
    key.extend([0x59, 0x01, 0x00]);
    key.extend([0xab; 256]);
    key.extend([0x21, 0x43, 0x01, 0x00, 0x01]);
    let mut data = Sha256::digest(RP_ID).to_vec();
    data.push(UP | UV | authdata::AT);
    data.extend(0u32.to_be_bytes());
    data.extend([0u8; 16]);
    data.extend(2u16.to_be_bytes());
    data.extend([7, 7]);
    data.extend(&key);
    assert_eq!(authdata::parse(&data).unwrap_err(), Rejection::Algorithm);
}

#[test]
fn the_credential_must_be_the_stored_one() {
    let auth = SoftAuthenticator::es256(1);
    let other = SoftAuthenticator::es256(2);
    let cred = stored(&auth);
    assert_eq!(
        login(&other, &cred, &get(0), Some(HANDLE), true),
        Err(Rejection::UnknownCredential)
    );
}

#[test]
fn the_user_handle_must_name_the_credentials_owner() {
    let auth = SoftAuthenticator::es256(1);
    let cred = stored(&auth);
    assert_eq!(
        login(&auth, &cred, &get(0), Some(b"someone-else"), true),
        Err(Rejection::UserHandle)
    );
    // Discoverable ceremonies must carry it; ceremonies that named the account need not.
    assert_eq!(
        login(&auth, &cred, &get(0), None, true),
        Err(Rejection::UserHandle)
    );
    assert!(login(&auth, &cred, &get(0), None, false).is_ok());
}

#[test]
fn a_bad_signature_is_refused() {
    for auth in [SoftAuthenticator::es256(1), SoftAuthenticator::ed25519(2)] {
        let cred = stored(&auth);
        let mut response = assertion(&auth, &get(0), Some(HANDLE));
        let stored = StoredCredential {
            credential_id: &cred.credential_id,
            public_key_cose: &cred.public_key_cose,
            sign_count: 0,
            backup_eligible: true,
            user_handle: HANDLE,
            discoverable: true,
        };
        // Signed data changed after signing: one flag bit, then the client data.
        response.authenticator_data[32] ^= BS;
        assert_eq!(
            rp().verify_authentication(&response, CHALLENGE, &stored)
                .now(),
            Err(Rejection::Signature)
        );
        let mut response = assertion(&auth, &get(0), Some(HANDLE));
        let last = response.signature.len() - 1;
        response.signature[last] ^= 1;
        assert_eq!(
            rp().verify_authentication(&response, CHALLENGE, &stored)
                .now(),
            Err(Rejection::Signature)
        );
        // Another key's signature over the same data.
        let other = SoftAuthenticator::es256(9);
        let mut response = assertion(&auth, &get(0), Some(HANDLE));
        response.signature = assertion(&other, &get(0), Some(HANDLE)).signature;
        assert_eq!(
            rp().verify_authentication(&response, CHALLENGE, &stored)
                .now(),
            Err(Rejection::Signature)
        );
    }
}

#[test]
fn a_counter_that_does_not_increase_is_refused() {
    let auth = SoftAuthenticator::es256(1);
    let mut cred = stored(&auth);
    cred.sign_count = 5;
    for count in [0, 4, 5] {
        assert_eq!(
            login(&auth, &cred, &get(count), Some(HANDLE), true),
            Err(Rejection::Counter),
            "{count}"
        );
    }
    assert_eq!(
        login(&auth, &cred, &get(6), Some(HANDLE), true)
            .unwrap()
            .sign_count,
        6
    );
    // Authenticators without a counter always send 0.
    cred.sign_count = 0;
    assert!(login(&auth, &cred, &get(0), Some(HANDLE), true).is_ok());
}

#[test]
fn backup_flags_are_kept_and_eligibility_may_not_change() {
    let auth = SoftAuthenticator::es256(1);
    let mut c = create();
    c.flags = UP | UV | BE;
    let cred = register(&auth, &c).unwrap();
    assert!(cred.backup_eligible && !cred.backed_up);
    let mut c = get(0);
    c.flags = UP | UV;
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::BackupEligibility)
    );
    let mut c = get(0);
    c.flags = UP | UV | BS;
    assert_eq!(
        login(&auth, &cred, &c, Some(HANDLE), true),
        Err(Rejection::Malformed(
            "backup state without backup eligibility"
        ))
    );
}

#[test]
fn registration_structure_is_checked() {
    let auth = SoftAuthenticator::es256(1);
    // rawId must be the credential the authenticator attests to.
    let mut response = registration(&auth, &create());
    response.raw_id = vec![1, 2, 3];
    response.id = b64_encode(&[1, 2, 3]);
    assert!(matches!(
        rp().verify_registration(&response, CHALLENGE).now(),
        Err(Rejection::Malformed(_))
    ));
    // id must be rawId.
    let mut response = registration(&auth, &create());
    response.id = "AAAA".into();
    assert!(matches!(
        rp().verify_registration(&response, CHALLENGE).now(),
        Err(Rejection::Malformed(_))
    ));
    // `none` carries an empty statement.
    let mut response = registration(&auth, &create());
    let at = response
        .attestation_object
        .windows(7)
        .position(|w| w == b"attStmt")
        .unwrap();
    response.attestation_object[at + 7] = 0xa1;
    response
        .attestation_object
        .splice(at + 8..at + 8, [0x01, 0x02]);
    assert!(matches!(
        rp().verify_registration(&response, CHALLENGE).now(),
        Err(Rejection::Malformed(_))
    ));
}

#[test]
fn malformed_json_forms_name_the_field() {
    let auth = SoftAuthenticator::es256(1);
    let mut value = auth.registration(&create());
    value["response"]["clientDataJSON"] = serde_json::json!("not base64!");
    value["rawId"] = serde_json::json!(12);
    value["response"]
        .as_object_mut()
        .unwrap()
        .remove("attestationObject");
    let issues = forms::registration(&value).unwrap_err();
    let fields: Vec<_> = issues
        .iter()
        .map(|i| (i.field.to_string(), i.issue.to_string()))
        .collect();
    assert_eq!(
        fields,
        [
            ("rawId".to_string(), "invalid_type".to_string()),
            ("response.clientDataJSON".into(), "invalid_format".into()),
            ("response.attestationObject".into(), "required".into()),
        ]
    );
    let issues = forms::authentication(&serde_json::json!([])).unwrap_err();
    assert_eq!(issues.len(), 1);
    let mut value = auth.authentication(&get(0), None);
    value["response"]["signature"] = serde_json::json!("");
    let issues = forms::authentication(&value).unwrap_err();
    assert_eq!(issues[0].field, "response.signature");
    assert_eq!(issues[0].issue, "invalid_length");
}

#[test]
fn options_are_the_level_3_json_forms() {
    let exclude = [forms::Descriptor {
        id: "Y3JlZA",
        transports: &["internal".to_string()],
    }];
    let options = forms::creation_options(&rp(), CHALLENGE, HANDLE, "a@app.example", &exclude);
    assert_eq!(options["rp"]["id"], RP_ID);
    assert_eq!(options["user"]["id"], b64_encode(HANDLE));
    assert_eq!(options["challenge"], b64_encode(CHALLENGE));
    assert_eq!(options["pubKeyCredParams"][0]["alg"], -7);
    assert_eq!(options["pubKeyCredParams"][1]["alg"], -8);
    assert_eq!(options["excludeCredentials"][0]["id"], b64_encode(b"cred"));
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["attestation"], "none");
    let options = forms::request_options(&rp(), CHALLENGE, &[]);
    assert_eq!(options["rpId"], RP_ID);
    assert_eq!(options["allowCredentials"], serde_json::json!([]));
    assert_eq!(options["timeout"], forms::TIMEOUT_MS);
}

#[test]
fn transports_are_kept_once_each_and_unknown_ones_dropped() {
    let auth = SoftAuthenticator::es256(1);
    let mut json = auth.registration(&create());
    json["response"]["transports"] = serde_json::json!([
        "usb",
        "usb",
        "carrier-pigeon",
        "internal",
        "usb",
        "internal"
    ]);
    let response = forms::registration(&json).expect("well-formed");
    assert_eq!(response.transports, ["usb", "internal"]);
}

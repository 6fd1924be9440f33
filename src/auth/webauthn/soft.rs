//! A software authenticator for tests (native builds only): it makes registration and
//! authentication responses in the JSON forms a browser sends, from keys it holds, with
//! every field under the test's control so each verification rule can be broken on its own.

use super::authdata::{AT, BE, BS, UP, UV};
use super::b64_encode;
use super::cose::{EDDSA, ES256};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What a response claims; start from [`Claims::new`] and change one field to break a rule.
#[derive(Debug, Clone)]
pub struct Claims {
    /// `clientDataJSON.type`.
    pub kind: String,
    pub challenge: Vec<u8>,
    pub origin: String,
    pub cross_origin: bool,
    /// `clientDataJSON.topOrigin`, if any.
    pub top_origin: Option<String>,
    /// The challenge as written in `clientDataJSON`, when not the plain encoding of
    /// `challenge`.
    pub challenge_text: Option<String>,
    /// Hashed into `rpIdHash`.
    pub rp_id: String,
    pub flags: u8,
    pub sign_count: u32,
    /// The credential `type`.
    pub credential_type: String,
}

impl Claims {
    /// An honest response for `rp_id` from `origin`, user present and verified, backed up.
    pub fn new(kind: &str, challenge: &[u8], rp_id: &str, origin: &str) -> Self {
        Self {
            kind: kind.into(),
            challenge: challenge.to_vec(),
            origin: origin.into(),
            cross_origin: false,
            top_origin: None,
            challenge_text: None,
            rp_id: rp_id.into(),
            flags: UP | UV | BE | BS,
            sign_count: 0,
            credential_type: "public-key".into(),
        }
    }

    fn client_data_json(&self) -> Vec<u8> {
        let mut data = json!({
            "type": self.kind,
            "challenge": self.challenge_text.clone().unwrap_or_else(|| b64_encode(&self.challenge)),
            "origin": self.origin,
        });
        if self.cross_origin {
            data["crossOrigin"] = json!(true);
        }
        if let Some(top) = &self.top_origin {
            data["topOrigin"] = json!(top);
        }
        data.to_string().into_bytes()
    }

    fn authenticator_data(&self, attested: Option<&[u8]>) -> Vec<u8> {
        let mut out = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        let flags = if attested.is_some() {
            self.flags | AT
        } else {
            self.flags
        };
        out.push(flags);
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some(attested) = attested {
            out.extend_from_slice(attested);
        }
        out
    }
}

enum Key {
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_compact::KeyPair),
}

/// One credential on a software authenticator.
pub struct SoftAuthenticator {
    key: Key,
    pub credential_id: Vec<u8>,
    pub aaguid: [u8; 16],
}

/// Minimal CBOR writing for what authenticators send.
mod enc {
    pub fn head(out: &mut Vec<u8>, major: u8, n: u64) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend((n as u16).to_be_bytes());
            }
            _ => {
                out.push(m | 26);
                out.extend((n as u32).to_be_bytes());
            }
        }
    }
    pub fn int(out: &mut Vec<u8>, n: i64) {
        if n >= 0 {
            head(out, 0, n as u64);
        } else {
            head(out, 1, (-1 - n) as u64);
        }
    }
    pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        head(out, 2, b.len() as u64);
        out.extend_from_slice(b);
    }
    pub fn text(out: &mut Vec<u8>, t: &str) {
        head(out, 3, t.len() as u64);
        out.extend_from_slice(t.as_bytes());
    }
}

impl SoftAuthenticator {
    /// An ES256 credential whose key is derived from `seed` (deterministic tests).
    pub fn es256(seed: u8) -> Self {
        let mut secret = [0x42u8; 32];
        secret[0] = seed.max(1);
        let key = p256::ecdsa::SigningKey::from_slice(&secret).expect("valid scalar");
        Self::with(Key::Es256(key), seed)
    }

    /// An Ed25519 credential whose key is derived from `seed`.
    pub fn ed25519(seed: u8) -> Self {
        let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([seed; 32]));
        Self::with(Key::Ed25519(pair), seed)
    }

    fn with(key: Key, seed: u8) -> Self {
        let credential_id = Sha256::digest([seed, 0xc1]).to_vec();
        Self {
            key,
            credential_id,
            aaguid: [0xaa; 16],
        }
    }

    /// The COSE algorithm of the key.
    pub fn algorithm(&self) -> i64 {
        match self.key {
            Key::Es256(_) => ES256,
            Key::Ed25519(_) => EDDSA,
        }
    }

    /// The credential public key as a COSE_Key.
    pub fn cose_key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.key {
            Key::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                enc::head(&mut out, 5, 5);
                for (label, value) in [(1, 2), (3, ES256), (-1, 1)] {
                    enc::int(&mut out, label);
                    enc::int(&mut out, value);
                }
                enc::int(&mut out, -2);
                enc::bytes(&mut out, &bytes[1..33]);
                enc::int(&mut out, -3);
                enc::bytes(&mut out, &bytes[33..65]);
            }
            Key::Ed25519(pair) => {
                enc::head(&mut out, 5, 4);
                for (label, value) in [(1, 1), (3, EDDSA), (-1, 6)] {
                    enc::int(&mut out, label);
                    enc::int(&mut out, value);
                }
                enc::int(&mut out, -2);
                enc::bytes(&mut out, pair.pk.as_ref());
            }
        }
        out
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::Es256(key) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = key.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            Key::Ed25519(pair) => pair.sk.sign(message, None).to_vec(),
        }
    }

    /// The attestation object (`none`) for these claims.
    pub fn attestation_object(&self, claims: &Claims) -> Vec<u8> {
        let mut attested = self.aaguid.to_vec();
        attested.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        attested.extend_from_slice(&self.credential_id);
        attested.extend_from_slice(&self.cose_key());
        let auth_data = claims.authenticator_data(Some(&attested));
        let mut out = Vec::new();
        enc::head(&mut out, 5, 3);
        enc::text(&mut out, "fmt");
        enc::text(&mut out, "none");
        enc::text(&mut out, "attStmt");
        enc::head(&mut out, 5, 0);
        enc::text(&mut out, "authData");
        enc::bytes(&mut out, &auth_data);
        out
    }

    /// A `RegistrationResponseJSON`.
    pub fn registration(&self, claims: &Claims) -> Value {
        let id = b64_encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": claims.credential_type,
            "response": {
                "clientDataJSON": b64_encode(&claims.client_data_json()),
                "attestationObject": b64_encode(&self.attestation_object(claims)),
                "transports": ["internal", "hybrid"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {"credProps": {"rk": true}},
        })
    }

    /// An `AuthenticationResponseJSON`, signed over the claims as given.
    pub fn authentication(&self, claims: &Claims, user_handle: Option<&[u8]>) -> Value {
        let client_data = claims.client_data_json();
        let auth_data = claims.authenticator_data(None);
        let mut message = auth_data.clone();
        message.extend_from_slice(&Sha256::digest(&client_data));
        let id = b64_encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": claims.credential_type,
            "response": {
                "clientDataJSON": b64_encode(&client_data),
                "authenticatorData": b64_encode(&auth_data),
                "signature": b64_encode(&self.sign(&message)),
                "userHandle": user_handle.map(b64_encode),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }
}

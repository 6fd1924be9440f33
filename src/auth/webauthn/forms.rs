//! The WebAuthn Level 3 JSON forms: the options this relying party sends
//! (`PublicKeyCredentialCreationOptionsJSON`, `PublicKeyCredentialRequestOptionsJSON`, which
//! browsers turn into calls with `PublicKeyCredential.parse…OptionsFromJSON()`) and the
//! responses it reads (`RegistrationResponseJSON`, `AuthenticationResponseJSON`, from
//! `credential.toJSON()`). Binary members are unpadded base64url. Members this relying party
//! does not read are ignored: the forms are extensible.

use super::{b64, b64_encode, cose, Rejection, RelyingParty};
use crate::error::FieldIssue;
use serde_json::{json, Map, Value};

/// How long a ceremony may take, in milliseconds (also the challenge's lifetime).
pub const TIMEOUT_MS: u64 = 300_000;

/// Transports kept from a registration (the `AuthenticatorTransport` values).
const TRANSPORTS: [&str; 6] = ["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

/// Largest `clientDataJSON` accepted, in bytes (browsers send a few hundred).
const MAX_CLIENT_DATA: usize = 4096;

/// A credential the options name (`excludeCredentials`, `allowCredentials`).
pub struct Descriptor<'a> {
    /// The credential id, base64url (as stored and as sent).
    pub id: &'a str,
    pub transports: &'a [String],
}

fn descriptors(list: &[Descriptor<'_>]) -> Vec<Value> {
    list.iter()
        .map(|d| {
            let mut entry = json!({"type": "public-key", "id": d.id});
            if !d.transports.is_empty() {
                entry["transports"] = json!(d.transports);
            }
            entry
        })
        .collect()
}

fn user_verification(rp: &RelyingParty) -> &'static str {
    if rp.require_user_verification {
        "required"
    } else {
        "preferred"
    }
}

/// `PublicKeyCredentialCreationOptionsJSON` for a new passkey of the account `user_handle`
/// named `user_name`. Asks for a discoverable credential (a passkey) and no attestation.
pub fn creation_options(
    rp: &RelyingParty,
    challenge: &[u8],
    user_handle: &[u8],
    user_name: &str,
    exclude: &[Descriptor<'_>],
) -> Value {
    let params: Vec<_> = cose::ALGORITHMS
        .iter()
        .map(|alg| json!({"type": "public-key", "alg": alg}))
        .collect();
    json!({
        "rp": {"id": rp.id, "name": rp.name},
        "user": {"id": b64_encode(user_handle), "name": user_name, "displayName": user_name},
        "challenge": b64_encode(challenge),
        "pubKeyCredParams": params,
        "timeout": TIMEOUT_MS,
        "excludeCredentials": descriptors(exclude),
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": true,
            "userVerification": user_verification(rp),
        },
        "attestation": "none",
        "extensions": {"credProps": true},
    })
}

/// `PublicKeyCredentialRequestOptionsJSON`; an empty `allow` asks for a discoverable
/// credential (the browser offers the passkeys it has for this RP).
pub fn request_options(rp: &RelyingParty, challenge: &[u8], allow: &[Descriptor<'_>]) -> Value {
    json!({
        "challenge": b64_encode(challenge),
        "rpId": rp.id,
        "timeout": TIMEOUT_MS,
        "allowCredentials": descriptors(allow),
        "userVerification": user_verification(rp),
    })
}

/// A `RegistrationResponseJSON`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationResponse {
    pub id: String,
    pub raw_id: Vec<u8>,
    pub kind: String,
    pub client_data_json: Vec<u8>,
    pub attestation_object: Vec<u8>,
    pub transports: Vec<String>,
}

/// An `AuthenticationResponseJSON`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationResponse {
    pub id: String,
    pub raw_id: Vec<u8>,
    pub kind: String,
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
}

/// Reads members and collects what is wrong with them, by JSON path.
struct Reader {
    issues: Vec<FieldIssue>,
}

impl Reader {
    /// A required member of the kind `pick` accepts; records `required` or `invalid_type`.
    fn member<'a, T: ?Sized>(
        &mut self,
        parent: &'a Map<String, Value>,
        path: &'static str,
        name: &str,
        pick: fn(&'a Value) -> Option<&'a T>,
    ) -> Option<&'a T> {
        let found = parent.get(name);
        let picked = found.and_then(pick);
        if picked.is_none() {
            let issue = if found.is_some() {
                "invalid_type"
            } else {
                "required"
            };
            self.issues.push(FieldIssue::new(path, issue));
        }
        picked
    }

    fn object<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        path: &'static str,
        name: &str,
    ) -> Option<&'a Map<String, Value>> {
        self.member(parent, path, name, Value::as_object)
    }

    fn text<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        path: &'static str,
        name: &str,
    ) -> Option<&'a str> {
        self.member(parent, path, name, Value::as_str)
    }

    /// A required base64url member of at most `max` decoded bytes.
    fn bytes(
        &mut self,
        parent: &Map<String, Value>,
        path: &'static str,
        name: &str,
        max: usize,
    ) -> Option<Vec<u8>> {
        let text = self.text(parent, path, name)?;
        match b64(text) {
            Ok(bytes) if !bytes.is_empty() && bytes.len() <= max => Some(bytes),
            Ok(_) => {
                self.issues.push(FieldIssue::new(path, "invalid_length"));
                None
            }
            Err(_) => {
                self.issues.push(FieldIssue::new(path, "invalid_format"));
                None
            }
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldIssue>> {
        match value {
            Some(v) if self.issues.is_empty() => Ok(v),
            _ => Err(self.issues),
        }
    }
}

fn root(value: &Value) -> Result<&Map<String, Value>, Vec<FieldIssue>> {
    value
        .as_object()
        .ok_or_else(|| vec![FieldIssue::new("$", "expected_object")])
}

/// The largest byte strings read: a credential id (§5.1), an attestation object with a
/// certificate chain, a signature, authenticator data with extensions.
const MAX_ID: usize = super::authdata::MAX_CREDENTIAL_ID;
const MAX_OBJECT: usize = 12 * 1024;
const MAX_SIGNATURE: usize = 512;
const MAX_AUTH_DATA: usize = 2048;
const MAX_USER_HANDLE: usize = 64;

/// Decodes a `RegistrationResponseJSON`; every problem is reported by its path.
pub fn registration(value: &Value) -> Result<RegistrationResponse, Vec<FieldIssue>> {
    let map = root(value)?;
    let mut r = Reader { issues: Vec::new() };
    let id = r.text(map, "id", "id");
    let raw_id = r.bytes(map, "rawId", "rawId", MAX_ID);
    let kind = r.text(map, "type", "type");
    let response = r.object(map, "response", "response");
    let (client_data_json, attestation_object, transports) = match response {
        Some(resp) => {
            let cd = r.bytes(
                resp,
                "response.clientDataJSON",
                "clientDataJSON",
                MAX_CLIENT_DATA,
            );
            let ao = r.bytes(
                resp,
                "response.attestationObject",
                "attestationObject",
                MAX_OBJECT,
            );
            let transports = match resp.get("transports") {
                None | Some(Value::Null) => Some(Vec::new()),
                // The known ones, each once, in the order given.
                Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
                    let mut known: Vec<String> = Vec::new();
                    for t in list.iter().filter_map(Value::as_str) {
                        if TRANSPORTS.contains(&t) && !known.iter().any(|k| k == t) {
                            known.push(t.to_owned());
                        }
                    }
                    Some(known)
                }
                Some(_) => {
                    r.issues
                        .push(FieldIssue::new("response.transports", "invalid_type"));
                    None
                }
            };
            (cd, ao, transports)
        }
        None => (None, None, None),
    };
    let parsed = (|| {
        Some(RegistrationResponse {
            id: id?.to_owned(),
            raw_id: raw_id?,
            kind: kind?.to_owned(),
            client_data_json: client_data_json?,
            attestation_object: attestation_object?,
            transports: transports?,
        })
    })();
    r.finish(parsed)
}

/// Decodes an `AuthenticationResponseJSON`; every problem is reported by its path.
pub fn authentication(value: &Value) -> Result<AuthenticationResponse, Vec<FieldIssue>> {
    let map = root(value)?;
    let mut r = Reader { issues: Vec::new() };
    let id = r.text(map, "id", "id");
    let raw_id = r.bytes(map, "rawId", "rawId", MAX_ID);
    let kind = r.text(map, "type", "type");
    let response = r.object(map, "response", "response");
    let fields = response.map(|resp| {
        let cd = r.bytes(
            resp,
            "response.clientDataJSON",
            "clientDataJSON",
            MAX_CLIENT_DATA,
        );
        let ad = r.bytes(
            resp,
            "response.authenticatorData",
            "authenticatorData",
            MAX_AUTH_DATA,
        );
        let sig = r.bytes(resp, "response.signature", "signature", MAX_SIGNATURE);
        let handle = match resp.get("userHandle") {
            None | Some(Value::Null) => Some(None),
            Some(_) => r
                .bytes(resp, "response.userHandle", "userHandle", MAX_USER_HANDLE)
                .map(Some),
        };
        (cd, ad, sig, handle)
    });
    let parsed = (|| {
        let (cd, ad, sig, handle) = fields?;
        Some(AuthenticationResponse {
            id: id?.to_owned(),
            raw_id: raw_id?,
            kind: kind?.to_owned(),
            client_data_json: cd?,
            authenticator_data: ad?,
            signature: sig?,
            user_handle: handle?,
        })
    })();
    r.finish(parsed)
}

fn check_type(kind: &str, id: &str, raw_id: &[u8]) -> Result<(), Rejection> {
    if kind != "public-key" {
        return Err(Rejection::Type);
    }
    if b64(id).ok().as_deref() != Some(raw_id) {
        return Err(Rejection::Malformed("id differs from rawId"));
    }
    Ok(())
}

impl RegistrationResponse {
    /// `type` is `public-key` and `id` is `rawId`.
    pub fn check_type(&self) -> Result<(), Rejection> {
        check_type(&self.kind, &self.id, &self.raw_id)
    }
}

impl AuthenticationResponse {
    /// `type` is `public-key` and `id` is `rawId`.
    pub fn check_type(&self) -> Result<(), Rejection> {
        check_type(&self.kind, &self.id, &self.raw_id)
    }
}

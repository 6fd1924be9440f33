//! A WebAuthn relying party (Web Authentication Level 3), in pure Rust so it runs in the
//! Worker: the ceremony checks of §7.1 (registration) and §7.2 (authentication) over the
//! JSON forms browsers produce with `credential.toJSON()`.
//!
//! Signatures: ES256 (P-256) through the runtime's WebCrypto ([`es256`]; the `p256` crate
//! natively) and EdDSA (Ed25519) with `ed25519-compact`, already linked for service tokens. CBOR is read by the small strict
//! decoder in [`cbor`]. Attestation: the options ask for `none`; whatever statement an
//! authenticator still sends is not verified (no attestation roots are kept), and the AAGUID
//! is stored for information only. See the README, "Passkeys".

pub mod authdata;
pub mod cbor;
pub mod cose;
pub mod es256;
pub mod forms;
#[cfg(not(target_arch = "wasm32"))]
pub mod soft;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod vector_tests;

use authdata::AuthenticatorData;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cose::PublicKey;
use forms::{AuthenticationResponse, RegistrationResponse};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Who this relying party is and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The RP ID: a registrable domain suffix of the page's origin (`WEBAUTHN_RP_ID`).
    pub id: String,
    /// The name authenticators show (`WEBAUTHN_RP_NAME`).
    pub name: String,
    /// Origins ceremonies may come from, exactly (`WEBAUTHN_ORIGINS`).
    pub origins: Vec<String>,
    /// Also accept `http://localhost:<any port>` (development and test environments only).
    pub any_localhost: bool,
    /// Refuse assertions without the UV flag (`WEBAUTHN_USER_VERIFICATION=required`).
    pub require_user_verification: bool,
}

/// Why a ceremony is refused. Each is one rule of the specification; the name goes to the
/// log line, never to the client (which gets one generic answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Bytes that do not decode as the structure they must be.
    Malformed(&'static str),
    /// `type` is not `public-key`, or `clientDataJSON.type` is not this ceremony's.
    Type,
    /// The challenge was not issued, was used, expired, or belongs to another ceremony.
    Challenge,
    /// `clientDataJSON.origin` is not an allowed origin.
    Origin,
    /// The ceremony ran in a cross-origin frame.
    CrossOrigin,
    /// `rpIdHash` is not SHA-256 of the RP ID.
    RpId,
    /// The user-presence flag is not set.
    UserPresence,
    /// User verification was required and not performed.
    UserVerification,
    /// A key type or algorithm that was not offered.
    Algorithm,
    /// The credential is not registered (or not to this account).
    UnknownCredential,
    /// `userHandle` names another account than the credential's.
    UserHandle,
    /// The signature does not verify.
    Signature,
    /// A non-zero signature counter that did not increase: a possible cloned authenticator.
    Counter,
    /// The backup-eligible flag changed since registration.
    BackupEligibility,
}

impl Rejection {
    /// The issue code a client is told: the rule's name, and `malformed` for any structure
    /// that does not decode (which one is in [`Self::reason`], for the log line).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            other => other.reason(),
        }
    }

    /// A stable name for the log line.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(what) => what,
            Self::Type => "type",
            Self::Challenge => "challenge",
            Self::Origin => "origin",
            Self::CrossOrigin => "cross_origin",
            Self::RpId => "rp_id",
            Self::UserPresence => "user_presence",
            Self::UserVerification => "user_verification",
            Self::Algorithm => "algorithm",
            Self::UnknownCredential => "unknown_credential",
            Self::UserHandle => "user_handle",
            Self::Signature => "signature",
            Self::Counter => "counter",
            Self::BackupEligibility => "backup_eligibility",
        }
    }
}

/// Decodes base64url as browsers' `toJSON()` writes it (no padding; padding tolerated).
pub fn b64(text: &str) -> Result<Vec<u8>, Rejection> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| Rejection::Malformed("base64url"))
}

/// Encodes bytes as unpadded base64url.
pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The fields of `clientDataJSON` this relying party reads (§5.8.1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(default)]
    cross_origin: Option<bool>,
    /// Present only in a cross-origin frame (§5.8.1).
    #[serde(default)]
    top_origin: Option<String>,
}

impl ClientData {
    fn parse(bytes: &[u8]) -> Result<Self, Rejection> {
        serde_json::from_slice(bytes).map_err(|_| Rejection::Malformed("clientDataJSON"))
    }
}

/// Returns the challenge a response answers, to find its ceremony.
pub fn challenge_of(client_data_json: &[u8]) -> Result<Vec<u8>, Rejection> {
    b64(&ClientData::parse(client_data_json)?.challenge)
}

impl RelyingParty {
    /// Returns true when ceremonies may come from `origin`.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
            || (self.any_localhost && is_localhost_origin(origin))
    }

    fn rp_id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.id.as_bytes()).into()
    }

    /// Checks `clientDataJSON` (§7.1 steps 7–11, §7.2 steps 11–15).
    fn check_client_data(
        &self,
        bytes: &[u8],
        ceremony: &str,
        challenge: &[u8],
    ) -> Result<(), Rejection> {
        let data = ClientData::parse(bytes)?;
        if data.kind != ceremony {
            return Err(Rejection::Type);
        }
        // Compared as written (§7.1 step 8): the unpadded base64url of the challenge, exactly.
        if data.challenge != b64_encode(challenge) {
            return Err(Rejection::Challenge);
        }
        if !self.allows_origin(&data.origin) {
            return Err(Rejection::Origin);
        }
        // A cross-origin frame, however it says so: `crossOrigin`, or a `topOrigin` at all.
        if data.cross_origin == Some(true) || data.top_origin.is_some() {
            return Err(Rejection::CrossOrigin);
        }
        Ok(())
    }

    /// Checks the RP ID hash and the user flags (§7.1 steps 13–15, §7.2 steps 15–17).
    fn check_authenticator_data(&self, data: &AuthenticatorData<'_>) -> Result<(), Rejection> {
        if data.rp_id_hash != self.rp_id_hash() {
            return Err(Rejection::RpId);
        }
        if !data.user_present() {
            return Err(Rejection::UserPresence);
        }
        if self.require_user_verification && !data.user_verified() {
            return Err(Rejection::UserVerification);
        }
        Ok(())
    }

    /// Verifies a registration against the challenge its ceremony issued (§7.1).
    pub async fn verify_registration(
        &self,
        response: &RegistrationResponse,
        challenge: &[u8],
    ) -> Result<NewCredential, Rejection> {
        response.check_type()?;
        self.check_client_data(&response.client_data_json, "webauthn.create", challenge)?;
        let object = cbor::decode(&response.attestation_object)
            .map_err(|_| Rejection::Malformed("attestationObject"))?;
        let fmt = object
            .get_text("fmt")
            .and_then(cbor::Value::as_text)
            .ok_or(Rejection::Malformed("attestation format"))?;
        let statement = object
            .get_text("attStmt")
            .ok_or(Rejection::Malformed("attestation statement"))?;
        // `none` carries an empty statement; other formats' statements are not verified.
        if fmt == "none" && *statement != cbor::Value::Map(Vec::new()) {
            return Err(Rejection::Malformed("attestation statement"));
        }
        let auth_data = object
            .get_text("authData")
            .and_then(cbor::Value::as_bytes)
            .ok_or(Rejection::Malformed("authData"))?;
        let data = authdata::parse(auth_data)?;
        self.check_authenticator_data(&data)?;
        let attested = data
            .attested
            .as_ref()
            .ok_or(Rejection::Malformed("no attested credential"))?;
        if attested.credential_id != response.raw_id.as_slice() {
            return Err(Rejection::Malformed("credential id differs from rawId"));
        }
        attested.public_key.check().await?;
        Ok(NewCredential {
            credential_id: attested.credential_id.to_vec(),
            public_key_cose: attested.public_key_cose.to_vec(),
            algorithm: attested.public_key.algorithm(),
            sign_count: data.sign_count,
            aaguid: attested.aaguid,
            backup_eligible: data.backup_eligible(),
            backed_up: data.backed_up(),
            user_verified: data.user_verified(),
            transports: response.transports.clone(),
        })
    }

    /// Verifies an assertion against its ceremony's challenge and the stored credential
    /// (§7.2). `user_handle` is the handle of the credential's owner; `discoverable` says the
    /// ceremony named no account, so the response must name one.
    pub async fn verify_authentication(
        &self,
        response: &AuthenticationResponse,
        challenge: &[u8],
        stored: &StoredCredential<'_>,
    ) -> Result<Assertion, Rejection> {
        response.check_type()?;
        if response.raw_id != stored.credential_id {
            return Err(Rejection::UnknownCredential);
        }
        match &response.user_handle {
            Some(handle) if handle.as_slice() != stored.user_handle => {
                return Err(Rejection::UserHandle)
            }
            None if stored.discoverable => return Err(Rejection::UserHandle),
            _ => {}
        }
        self.check_client_data(&response.client_data_json, "webauthn.get", challenge)?;
        let data = authdata::parse(&response.authenticator_data)?;
        self.check_authenticator_data(&data)?;
        let key = PublicKey::from_cose_bytes(stored.public_key_cose)?;
        let client_hash: [u8; 32] = Sha256::digest(&response.client_data_json).into();
        key.check().await?;
        if !key
            .verify(
                &response.authenticator_data,
                &client_hash,
                &response.signature,
            )
            .await
        {
            return Err(Rejection::Signature);
        }
        if (data.sign_count != 0 || stored.sign_count != 0) && data.sign_count <= stored.sign_count
        {
            return Err(Rejection::Counter);
        }
        if data.backup_eligible() != stored.backup_eligible {
            return Err(Rejection::BackupEligibility);
        }
        Ok(Assertion {
            sign_count: data.sign_count,
            backed_up: data.backed_up(),
            user_verified: data.user_verified(),
        })
    }
}

/// `http://localhost` with or without a port.
fn is_localhost_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://localhost") else {
        return false;
    };
    rest.is_empty()
        || rest.strip_prefix(':').is_some_and(|port| {
            (1..=5).contains(&port.len())
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
}

/// What a verified registration adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub credential_id: Vec<u8>,
    pub public_key_cose: Vec<u8>,
    pub algorithm: i64,
    pub sign_count: u32,
    pub aaguid: [u8; 16],
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub user_verified: bool,
    pub transports: Vec<String>,
}

/// What an assertion is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential<'a> {
    pub credential_id: &'a [u8],
    pub public_key_cose: &'a [u8],
    pub sign_count: u32,
    pub backup_eligible: bool,
    /// The owner's user handle.
    pub user_handle: &'a [u8],
    /// The ceremony named no account (the response must carry `userHandle`).
    pub discoverable: bool,
}

/// What a verified assertion changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assertion {
    pub sign_count: u32,
    pub backed_up: bool,
    pub user_verified: bool,
}

/// Formats an AAGUID as a UUID string.
pub fn aaguid_string(aaguid: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*aaguid).hyphenated().to_string()
}

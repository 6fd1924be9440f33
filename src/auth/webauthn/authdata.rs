//! Authenticator data (WebAuthn §6.1): the RP ID hash, the flags, the signature counter and,
//! in a registration, the attested credential (AAGUID, credential id, public key).

use super::cbor;
use super::cose::PublicKey;
use super::Rejection;

/// Flag bits (§6.1).
pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const BE: u8 = 0x08;
pub const BS: u8 = 0x10;
pub const AT: u8 = 0x40;
pub const ED: u8 = 0x80;

/// The longest credential id the specification allows.
pub const MAX_CREDENTIAL_ID: usize = 1023;

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData<'a> {
    pub rp_id_hash: &'a [u8],
    pub flags: u8,
    pub sign_count: u32,
    /// Present when the `AT` flag is set (registrations).
    pub attested: Option<Attested<'a>>,
}

/// The credential an authenticator attests to at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested<'a> {
    pub aaguid: [u8; 16],
    pub credential_id: &'a [u8],
    /// The COSE_Key as sent (what is stored).
    pub public_key_cose: &'a [u8],
    pub public_key: PublicKey,
}

impl AuthenticatorData<'_> {
    pub fn user_present(&self) -> bool {
        self.flags & UP != 0
    }
    pub fn user_verified(&self) -> bool {
        self.flags & UV != 0
    }
    pub fn backup_eligible(&self) -> bool {
        self.flags & BE != 0
    }
    pub fn backed_up(&self) -> bool {
        self.flags & BS != 0
    }
}

/// Parses authenticator data strictly: every byte must belong to a field the flags announce.
pub fn parse(bytes: &[u8]) -> Result<AuthenticatorData<'_>, Rejection> {
    let bad = |what| Rejection::Malformed(what);
    if bytes.len() < 37 {
        return Err(bad("authenticator data too short"));
    }
    let (rp_id_hash, flags) = (&bytes[..32], bytes[32]);
    let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
    if flags & BS != 0 && flags & BE == 0 {
        return Err(bad("backup state without backup eligibility"));
    }
    let mut rest = &bytes[37..];
    let attested = if flags & AT != 0 {
        if rest.len() < 18 {
            return Err(bad("attested credential data too short"));
        }
        let aaguid: [u8; 16] = rest[..16].try_into().map_err(|_| bad("AAGUID"))?;
        let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        rest = &rest[18..];
        if id_len == 0 || id_len > MAX_CREDENTIAL_ID || rest.len() < id_len {
            return Err(bad("credential id length"));
        }
        let (credential_id, after) = rest.split_at(id_len);
        let (key, used) = cbor::decode_prefix(after).map_err(|_| bad("public key"))?;
        let public_key = PublicKey::from_cose(&key)?;
        let (public_key_cose, after) = after.split_at(used);
        rest = after;
        Some(Attested {
            aaguid,
            credential_id,
            public_key_cose,
            public_key,
        })
    } else {
        None
    };
    if flags & ED != 0 {
        let (extensions, used) = cbor::decode_prefix(rest).map_err(|_| bad("extensions"))?;
        if !matches!(extensions, cbor::Value::Map(_)) {
            return Err(bad("extensions"));
        }
        rest = &rest[used..];
    }
    if !rest.is_empty() {
        return Err(bad("authenticator data has trailing bytes"));
    }
    Ok(AuthenticatorData {
        rp_id_hash,
        flags,
        sign_count,
        attested,
    })
}

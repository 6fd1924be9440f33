//! Credential public keys as COSE_Key maps (RFC 9052 §7, RFC 9053): ES256 on P-256 and EdDSA
//! on Ed25519, the two algorithms this relying party asks for. A key is checked when it is
//! registered (a point on the curve, a valid Ed25519 key) and stored as the bytes the
//! authenticator sent.

use super::cbor::{self, Value};
use super::Rejection;

/// COSE algorithm identifiers (IANA "COSE Algorithms").
pub const ES256: i64 = -7;
pub const EDDSA: i64 = -8;

/// The algorithms offered in `pubKeyCredParams`, in order of preference.
pub const ALGORITHMS: [i64; 2] = [ES256, EDDSA];

/// A parsed credential public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An uncompressed SEC1 point (`04 ‖ x ‖ y`).
    Es256([u8; 65]),
    Ed25519([u8; 32]),
}

fn field<'v, 'a>(key: &'v Value<'a>, label: i128) -> Option<&'v Value<'a>> {
    key.get_int(label)
}

fn coordinate(key: &Value<'_>, label: i128) -> Result<[u8; 32], Rejection> {
    field(key, label)
        .and_then(Value::as_bytes)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or(Rejection::Malformed("public key coordinates"))
}

impl PublicKey {
    /// Reads a COSE_Key map. Keys of another type, curve or algorithm are refused, as are
    /// points that are not on the curve.
    pub fn from_cose(key: &Value<'_>) -> Result<Self, Rejection> {
        let int = |label| field(key, label).and_then(Value::as_int);
        let (kty, alg, crv) = (int(1), int(3), int(-1));
        match (kty, alg, crv) {
            (Some(2), Some(a), Some(1)) if a == i128::from(ES256) => {
                let mut point = [0u8; 65];
                point[0] = 4;
                point[1..33].copy_from_slice(&coordinate(key, -2)?);
                point[33..].copy_from_slice(&coordinate(key, -3)?);
                // Whether the point is on the curve is checked where the key is first
                // used ([`PublicKey::check`]): the curve arithmetic lives in WebCrypto.
                Ok(Self::Es256(point))
            }
            (Some(1), Some(a), Some(6)) if a == i128::from(EDDSA) => {
                let x = coordinate(key, -2)?;
                ed25519_compact::PublicKey::from_slice(&x)
                    .map_err(|_| Rejection::Malformed("Ed25519 public key"))?;
                Ok(Self::Ed25519(x))
            }
            _ => Err(Rejection::Algorithm),
        }
    }

    /// Reads a stored COSE_Key.
    pub fn from_cose_bytes(bytes: &[u8]) -> Result<Self, Rejection> {
        let value = cbor::decode(bytes).map_err(|_| Rejection::Malformed("public key"))?;
        Self::from_cose(&value)
    }

    /// The COSE algorithm identifier.
    pub fn algorithm(&self) -> i64 {
        match self {
            Self::Es256(_) => ES256,
            Self::Ed25519(_) => EDDSA,
        }
    }

    /// Checks that the key is usable: an ES256 point on P-256 (Ed25519 keys were checked
    /// when parsed).
    pub async fn check(&self) -> Result<(), Rejection> {
        match self {
            Self::Es256(point) if !super::es256::valid_key(point).await => {
                Err(Rejection::Malformed("public key not on P-256"))
            }
            _ => Ok(()),
        }
    }

    /// Checks `signature` over `authenticator_data ‖ client_data_hash` (WebAuthn §7.2 step
    /// 21). ES256 signatures are DER-encoded; either value of `s` is accepted, as the
    /// specification does not require low-S.
    pub async fn verify(
        &self,
        authenticator_data: &[u8],
        client_data_hash: &[u8; 32],
        signature: &[u8],
    ) -> bool {
        let mut message = Vec::with_capacity(authenticator_data.len() + 32);
        message.extend_from_slice(authenticator_data);
        message.extend_from_slice(client_data_hash);
        match self {
            Self::Es256(point) => super::es256::verify(point, &message, signature).await,
            Self::Ed25519(raw) => {
                let (Ok(key), Ok(sig)) = (
                    ed25519_compact::PublicKey::from_slice(raw),
                    ed25519_compact::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                key.verify(&message, &sig).is_ok()
            }
        }
    }
}

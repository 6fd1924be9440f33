//! Password hashing: PBKDF2-HMAC-SHA256 through the runtime's WebCrypto.
//!
//! On Workers `crypto.subtle.deriveBits` runs natively, so 100,000 iterations (the most
//! workerd accepts) cost a few milliseconds instead of the hundreds a Wasm implementation
//! would. Hashes are stored in PHC string format,
//! `$pbkdf2-sha256$i=100000$<salt>$<hash>` (unpadded standard base64), so the iteration count
//! can be raised later: [`needs_rehash`] tells login to upgrade an old hash.
//! Natively (unit tests), a small pure-Rust PBKDF2 stands in for WebCrypto.

use crate::error::AppError;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;

/// The iteration count for new hashes: the maximum workerd allows.
pub const ITERATIONS: u32 = 100_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
const PREFIX: &str = "$pbkdf2-sha256$i=";

/// A hash used when the e-mail is unknown, so a failed login costs the same either way and
/// response timing does not reveal which accounts exist.
pub const DUMMY_HASH: &str =
    "$pbkdf2-sha256$i=100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// A parsed stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

impl PasswordHash {
    /// Parses the PHC string; `None` for anything malformed.
    pub fn parse(encoded: &str) -> Option<Self> {
        let rest = encoded.strip_prefix(PREFIX)?;
        let mut parts = rest.split('$');
        let iterations: u32 = parts.next()?.parse().ok()?;
        let salt = B64.decode(parts.next()?).ok()?;
        let hash = B64.decode(parts.next()?).ok()?;
        let valid = parts.next().is_none()
            && (1..=ITERATIONS).contains(&iterations)
            && salt.len() >= 8
            && hash.len() == HASH_LEN;
        valid.then_some(Self {
            iterations,
            salt,
            hash,
        })
    }

    /// Renders the PHC string.
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX}{}${}${}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.hash)
        )
    }
}

/// Hashes a password with a fresh random salt and the given iteration count.
pub async fn hash(password: &[u8], iterations: u32) -> Result<String, AppError> {
    let salt = crate::ids::random_bytes::<SALT_LEN>();
    let hash = derive(password, &salt, iterations).await?;
    Ok(PasswordHash {
        iterations,
        salt: salt.to_vec(),
        hash: hash.to_vec(),
    }
    .encode())
}

/// Checks a password against a stored hash in constant time. A malformed stored hash is an
/// internal error (the database holds something this code never wrote).
pub async fn verify(password: &[u8], stored: &str) -> Result<bool, AppError> {
    let parsed =
        PasswordHash::parse(stored).ok_or_else(|| AppError::internal("malformed password hash"))?;
    let derived = derive(password, &parsed.salt, parsed.iterations).await?;
    Ok(constant_time_eq(&derived, &parsed.hash))
}

/// Returns true when a stored hash uses fewer iterations than new hashes do.
pub fn needs_rehash(stored: &str) -> bool {
    PasswordHash::parse(stored).is_some_and(|h| h.iterations < ITERATIONS)
}

/// Compares without an early exit (`subtle`, already linked through `hmac`), so timing does
/// not reveal how many bytes matched. Lengths are not secret: both sides are 32-byte keys.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Derives the 32-byte PBKDF2-HMAC-SHA256 key.
#[cfg(target_arch = "wasm32")]
pub async fn derive(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<[u8; HASH_LEN], AppError> {
    webcrypto::pbkdf2_sha256(password, salt, iterations)
        .await
        .map_err(|e| AppError::internal(format!("PBKDF2 failed: {e:?}")))
}

/// Derives the 32-byte PBKDF2-HMAC-SHA256 key.
#[cfg(not(target_arch = "wasm32"))]
pub async fn derive(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<[u8; HASH_LEN], AppError> {
    Ok(native::pbkdf2_sha256(password, salt, iterations))
}

#[cfg(target_arch = "wasm32")]
mod webcrypto {
    //! `crypto.subtle.importKey` + `deriveBits` bindings.
    use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::JsFuture;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
        fn import_key(
            format: &str,
            key_data: &Uint8Array,
            algorithm: &str,
            extractable: bool,
            usages: &Array,
        ) -> Result<Promise, JsValue>;

        #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = deriveBits, catch)]
        fn derive_bits(algorithm: &Object, key: &JsValue, length: u32) -> Result<Promise, JsValue>;
    }

    pub async fn pbkdf2_sha256(
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], JsValue> {
        let usages = Array::of1(&JsValue::from_str("deriveBits"));
        let key = JsFuture::from(import_key(
            "raw",
            &Uint8Array::from(password),
            "PBKDF2",
            false,
            &usages,
        )?)
        .await?;
        let algorithm = Object::new();
        Reflect::set(&algorithm, &"name".into(), &"PBKDF2".into())?;
        Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into())?;
        Reflect::set(&algorithm, &"salt".into(), &Uint8Array::from(salt))?;
        Reflect::set(&algorithm, &"iterations".into(), &iterations.into())?;
        let bits = JsFuture::from(derive_bits(&algorithm, &key, 256)?).await?;
        let bytes = Uint8Array::new(&bits).to_vec();
        bytes
            .try_into()
            .map_err(|_| JsValue::from_str("deriveBits returned the wrong length"))
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    //! RFC 8018 §5.2 PBKDF2 with HMAC-SHA256, one 32-byte block. Used only by native tests.
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        let prf = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes any key length");
        let mut mac = prf.clone();
        mac.update(salt);
        mac.update(&1u32.to_be_bytes());
        let mut u: [u8; 32] = mac.finalize().into_bytes().into();
        let mut out = u;
        for _ in 1..iterations {
            let mut mac = prf.clone();
            mac.update(&u);
            u = mac.finalize().into_bytes().into();
            out.iter_mut().zip(u).for_each(|(o, x)| *o ^= x);
        }
        out
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_util::FutureExt::now_or_never(f).expect("native derive is synchronous")
    }

    /// Test vector: PBKDF2-HMAC-SHA256("password", "salt", 4096), first 32 bytes
    /// (RFC 7914 companion vectors, widely published).
    #[test]
    fn native_pbkdf2_matches_the_known_vector() {
        let out = native::pbkdf2_sha256(b"password", b"salt", 4096);
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }

    #[test]
    fn hash_then_verify_round_trips() {
        let stored = block_on(hash(b"correct horse battery", 1000)).unwrap();
        assert!(stored.starts_with("$pbkdf2-sha256$i=1000$"), "{stored}");
        assert!(block_on(verify(b"correct horse battery", &stored)).unwrap());
        assert!(!block_on(verify(b"correct horse battery!", &stored)).unwrap());
    }

    #[test]
    fn salts_are_random() {
        let a = block_on(hash(b"same password", 10)).unwrap();
        let b = block_on(hash(b"same password", 10)).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let h = PasswordHash {
            iterations: 100_000,
            salt: vec![1; 16],
            hash: vec![2; 32],
        };
        assert_eq!(PasswordHash::parse(&h.encode()), Some(h));
        assert!(PasswordHash::parse(DUMMY_HASH).is_some());
        for bad in [
            "",
            "plain",
            "$pbkdf2-sha256$i=0$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$i=100001$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$i=100000$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
            "$pbkdf2-sha256$i=100000$!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
        ] {
            assert_eq!(PasswordHash::parse(bad), None, "{bad}");
        }
        assert!(block_on(verify(b"x", "garbage")).is_err());
    }

    #[test]
    fn old_iteration_counts_need_rehash() {
        let old = PasswordHash {
            iterations: 50_000,
            salt: vec![1; 16],
            hash: vec![2; 32],
        };
        assert!(needs_rehash(&old.encode()));
        assert!(!needs_rehash(DUMMY_HASH));
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

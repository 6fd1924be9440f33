//! ES256 (ECDSA on P-256 with SHA-256) signature checks. In the Worker they run in the
//! runtime's WebCrypto (`crypto.subtle`), so no curve arithmetic is linked into the Wasm
//! (the `p256` crate would add about 28 KB gzip and run slower than the runtime's native
//! code); natively, for tests, the `p256` crate does the same check. Both take the
//! signature as WebCrypto wants it, `r ‖ s`, converted here from the DER that
//! authenticators send, so the conversion is the same code everywhere.

/// Converts a DER `ECDSA-Sig-Value` (`SEQUENCE { INTEGER r, INTEGER s }`) to `r ‖ s`, 32
/// bytes each. Strict: minimal integers, no trailing bytes, nothing longer than P-256 needs.
pub fn der_to_raw(der: &[u8]) -> Option<[u8; 64]> {
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || usize::from(len) != body.len() || len >= 0x80 {
        return None;
    }
    let (r, rest) = integer(body)?;
    let (s, rest) = integer(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = [0u8; 64];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Some(out)
}

/// One positive DER INTEGER of at most 32 significant bytes; returns its magnitude.
fn integer(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    let magnitude = match value {
        // A leading zero only where the next byte's high bit would make it negative.
        [0, next, ..] if *next >= 0x80 => &value[1..],
        [0, ..] if len > 1 => return None,
        [first, ..] if *first >= 0x80 => return None,
        _ => value,
    };
    (magnitude.len() <= 32).then_some((magnitude, rest))
}

/// Checks that `point` (uncompressed SEC1) is a P-256 public key.
pub async fn valid_key(point: &[u8; 65]) -> bool {
    imp::valid_key(point).await
}

/// Checks an ES256 signature (DER, as authenticators send it) over `message`.
pub async fn verify(point: &[u8; 65], message: &[u8], signature_der: &[u8]) -> bool {
    match der_to_raw(signature_der) {
        Some(raw) => imp::verify(point, message, &raw).await,
        None => false,
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::JsFuture;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
        fn import_key(
            format: &str,
            key_data: &Uint8Array,
            algorithm: &Object,
            extractable: bool,
            usages: &Array,
        ) -> Result<Promise, JsValue>;

        #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify, catch)]
        fn subtle_verify(
            algorithm: &Object,
            key: &JsValue,
            signature: &Uint8Array,
            data: &Uint8Array,
        ) -> Result<Promise, JsValue>;
    }

    fn algorithm(pairs: &[(&str, &str)]) -> Result<Object, JsValue> {
        let object = Object::new();
        for (k, v) in pairs {
            Reflect::set(&object, &(*k).into(), &(*v).into())?;
        }
        Ok(object)
    }

    async fn import(point: &[u8; 65]) -> Result<JsValue, JsValue> {
        let usages = Array::of1(&JsValue::from_str("verify"));
        let params = algorithm(&[("name", "ECDSA"), ("namedCurve", "P-256")])?;
        JsFuture::from(import_key(
            "raw",
            &Uint8Array::from(&point[..]),
            &params,
            false,
            &usages,
        )?)
        .await
    }

    pub async fn valid_key(point: &[u8; 65]) -> bool {
        import(point).await.is_ok()
    }

    pub async fn verify(point: &[u8; 65], message: &[u8], raw: &[u8; 64]) -> bool {
        let checked = async {
            let key = import(point).await?;
            let params = algorithm(&[("name", "ECDSA"), ("hash", "SHA-256")])?;
            let promise = subtle_verify(
                &params,
                &key,
                &Uint8Array::from(&raw[..]),
                &Uint8Array::from(message),
            )?;
            JsFuture::from(promise).await
        };
        checked.await.ok().and_then(|v| v.as_bool()) == Some(true)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};

    pub async fn valid_key(point: &[u8; 65]) -> bool {
        VerifyingKey::from_sec1_bytes(point).is_ok()
    }

    pub async fn verify(point: &[u8; 65], message: &[u8], raw: &[u8; 64]) -> bool {
        let (Ok(key), Ok(sig)) = (
            VerifyingKey::from_sec1_bytes(point),
            Signature::from_slice(raw),
        ) else {
            return false;
        };
        key.verify(message, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_fixed_width() {
        // Short r (leading zeros dropped by the encoder), s with a sign byte.
        let mut der = vec![0x30, 0x45, 0x02, 0x20];
        der.extend([0x11; 32]);
        der.extend([0x02, 0x21, 0x00]);
        der.extend([0x99; 32]);
        let raw = der_to_raw(&der).unwrap();
        assert_eq!(&raw[..32], &[0x11; 32]);
        assert_eq!(&raw[32..], &[0x99; 32]);
        let short = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07];
        let raw = der_to_raw(&short).unwrap();
        assert_eq!((raw[31], raw[63]), (5, 7));
        assert!(raw[..31].iter().all(|b| *b == 0));
    }

    #[test]
    fn malformed_der_is_refused() {
        for bad in [
            &[][..],
            &[0x30, 0x00],
            &[0x31, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07], // not a SEQUENCE
            &[0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07], // length past the end
            &[0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0x00], // trailing byte
            &[0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x07], // negative r
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x07], // non-minimal r
            &[0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x07],       // empty r
        ] {
            assert_eq!(der_to_raw(bad), None, "{bad:02x?}");
        }
        let mut long = vec![0x30, 0x26, 0x02, 0x21, 0x01];
        long.extend([0x11; 32]);
        long.extend([0x02, 0x01, 0x07]);
        assert_eq!(der_to_raw(&long), None, "r wider than 32 bytes");
    }
}

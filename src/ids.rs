//! Identifiers and randomness: UUIDv7 from the runtime clock and the platform CSPRNG.
//!
//! `getrandom` reads `crypto.getRandomValues` on Workers and the OS generator natively, so
//! the same code runs in both places. UUIDv7 (RFC 9562 §5.7) sorts by creation time, which
//! keeps ids useful as database keys and in logs.

use std::cell::RefCell;
use uuid::Uuid;

/// How many identifier bytes an isolate draws from the CSPRNG at a time.
const ID_POOL_LEN: usize = 256;

thread_local! {
    /// Identifier bytes drawn ahead, and how many of them are used.
    static ID_POOL: RefCell<([u8; ID_POOL_LEN], usize)> =
        const { RefCell::new(([0; ID_POOL_LEN], ID_POOL_LEN)) };
}

/// Fills an array with bytes from the platform CSPRNG.
///
/// # Panics
/// Only if the platform has no random source at all, which neither Workers nor any host
/// supported by `getrandom` lacks; running without randomness would be unsafe anyway.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the platform CSPRNG is available");
    buf
}

/// Fills an array with bytes for identifiers (request, trace, span and row ids): unique and
/// unguessable, not secret. They come from the same CSPRNG as [`random_bytes`], drawn
/// 256 bytes at a time per isolate and never handed out twice, so a request's ids cost at
/// most one call into the runtime, usually none. Secrets (tokens, salts, challenges) use
/// [`random_bytes`], so no secret waits in memory before it is needed.
pub fn id_bytes<const N: usize>() -> [u8; N] {
    if N > ID_POOL_LEN {
        return random_bytes();
    }
    ID_POOL.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        if ID_POOL_LEN - *used < N {
            *bytes = random_bytes();
            *used = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&bytes[*used..*used + N]);
        // Spent bytes are cleared, so what is left in the pool is only what is yet to come.
        bytes[*used..*used + N].fill(0);
        *used += N;
        out
    })
}

/// Builds a UUIDv7 for the given Unix time in milliseconds with fresh random bits.
pub fn uuid_v7(unix_ms: u64) -> Uuid {
    uuid_v7_with(unix_ms, id_bytes::<10>())
}

/// Builds a UUIDv7 from explicit parts, for deterministic tests.
pub fn uuid_v7_with(unix_ms: u64, random: [u8; 10]) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid()
}

/// Appends the lowercase hex form of `bytes` to `out` (a table lookup per nibble: `write!`
/// with `{:02x}` costs a formatter call per byte, which shows on every request's ids).
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    // Through a stack buffer: one `push_str` per 16 bytes rather than a `char` push per digit.
    for chunk in bytes.chunks(16) {
        let mut hex = [0u8; 32];
        for (pair, b) in hex.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        out.push_str(std::str::from_utf8(&hex[..chunk.len() * 2]).unwrap_or_default());
    }
}

/// Returns a UUID's hyphenated lowercase form.
pub fn uuid_string(id: Uuid) -> String {
    id.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

/// Returns the current Unix time in milliseconds from the runtime clock.
///
/// On Workers this is `Date.now()` (which advances only across I/O, by design); natively it
/// is the system clock. `std::time::SystemTime` is not available on `wasm32-unknown-unknown`.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys_now() as u64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

#[cfg(target_arch = "wasm32")]
fn js_sys_now() -> f64 {
    js_sys::Date::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v7_encodes_version_and_time() {
        let id = uuid_v7_with(1_700_000_000_123, [7; 10]);
        assert_eq!(id.get_version_num(), 7);
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(
            secs * 1000 + u64::from(nanos / 1_000_000),
            1_700_000_000_123
        );
    }

    #[test]
    fn uuid_v7_sorts_by_time() {
        let a = uuid_v7(1_000).to_string();
        let b = uuid_v7(2_000).to_string();
        assert!(a < b);
    }

    #[test]
    fn id_bytes_are_never_handed_out_twice() {
        // Across several refills of the pool, every draw is new.
        let draws: Vec<[u8; 24]> = (0..100).map(|_| id_bytes()).collect();
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert_eq!(distinct.len(), draws.len());
        assert!(draws.iter().all(|d| d.iter().any(|b| *b != 0)));
        // A draw larger than the pool still works.
        assert_ne!(id_bytes::<300>(), [0u8; 300]);
    }

    #[test]
    fn hex_and_uuid_strings_match_the_formatter() {
        // Short, exactly one buffer, and past it.
        for len in [0, 5, 16, 37] {
            let bytes: Vec<u8> = (0..len).map(|i: u8| i.wrapping_mul(0x3b) ^ 0xa5).collect();
            let mut hex = String::from("x");
            push_hex(&mut hex, &bytes);
            let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, format!("x{expected}"));
        }
        let id = uuid_v7_with(1_700_000_000_123, [0xab; 10]);
        assert_eq!(uuid_string(id), id.to_string());
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }
}

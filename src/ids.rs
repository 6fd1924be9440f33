//! Identifiers and randomness: UUIDv7 from the runtime clock and the platform CSPRNG.
//!
//! `getrandom` reads `crypto.getRandomValues` on Workers and the OS generator natively, so
//! the same code runs in both places. UUIDv7 (RFC 9562 §5.7) sorts by creation time, which
//! keeps ids useful as database keys and in logs.

use uuid::Uuid;

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

/// Builds a UUIDv7 for the given Unix time in milliseconds with fresh random bits.
pub fn uuid_v7(unix_ms: u64) -> Uuid {
    uuid_v7_with(unix_ms, random_bytes::<10>())
}

/// Builds a UUIDv7 from explicit parts, for deterministic tests.
pub fn uuid_v7_with(unix_ms: u64, random: [u8; 10]) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid()
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
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }
}

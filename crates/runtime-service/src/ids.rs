//! Identifiers the runtime mints: `anip-<12 hex>` tokens, `inv-<12 hex>` invocations,
//! `apr_<12 hex>` approval requests, `grant_<12 hex>` grants, and replica holder ids. All from
//! the system CSPRNG, so they cannot be guessed.

use ring::rand::{SecureRandom, SystemRandom};

/// `n` random bytes as lowercase hex. The system RNG does not fail on supported platforms; if
/// it ever did, a time-and-counter fallback keeps ids unique (they are identifiers, not
/// secrets).
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    if SystemRandom::new().fill(&mut buffer).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64
            ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(32);
        for (i, byte) in buffer.iter_mut().enumerate() {
            *byte = (seed >> ((i % 8) * 8)) as u8;
        }
    }
    signing::digest::hex(&buffer)
}

/// A token id.
pub fn token_id() -> String {
    format!("anip-{}", random_hex(6))
}

/// An invocation id.
pub fn invocation_id() -> String {
    format!("inv-{}", random_hex(6))
}

/// An approval request id.
pub fn approval_request_id() -> String {
    format!("apr_{}", random_hex(6))
}

/// A grant id.
pub fn grant_id() -> String {
    format!("grant_{}", random_hex(6))
}

/// Whether `id` is `inv-` followed by 12 lowercase hex digits.
pub fn is_invocation_id(id: &str) -> bool {
    id.strip_prefix("inv-").is_some_and(|hex| {
        hex.len() == 12
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(is_invocation_id(&invocation_id()));
        assert_eq!(token_id().len(), "anip-".len() + 12);
        assert!(!is_invocation_id("inv-ABCDEF123456"));
        assert!(!is_invocation_id("inv-123"));
        assert_ne!(random_hex(8), random_hex(8));
    }
}

//! Secrets that must not leak into logs, and helpers to store and compare tokens.

use std::fmt;

use crate::digest::sha256_hex;

/// A secret string (a token, a private key in base64). `Debug` and `Display` print
/// `[redacted]`, so it can sit in structs that get logged; [`Secret::expose`] is the one,
/// greppable way to read it. There is deliberately no `PartialEq`: compare with
/// [`constant_time_eq`] or [`Secret::matches_hash`].
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call only where the value is really needed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (or only whitespace), e.g. an unset environment variable.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// [`token_hash`] of this secret, for storage.
    pub fn hash(&self) -> String {
        token_hash(&self.0)
    }

    /// Whether this secret hashes to `stored_hash` (a [`token_hash`] value), compared in
    /// constant time.
    pub fn matches_hash(&self, stored_hash: &str) -> bool {
        constant_time_eq(self.hash().as_bytes(), stored_hash.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Compares two byte strings without an early exit on the first difference, so the time taken
/// does not tell an attacker how many leading bytes were right. Different lengths return
/// `false` at once: lengths are not secret here (hashes and tokens have fixed lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut difference = 0u8;
    for (x, y) in a.iter().zip(b) {
        // black_box keeps the optimizer from turning the fold back into an early-exit compare.
        difference = std::hint::black_box(difference | (x ^ y));
    }
    difference == 0
}

/// What we store instead of a token: lowercase hex SHA-256 of its UTF-8 bytes, as upstream's
/// `RegistryPublishTokenSecretHash` (no `sha256:` prefix).
pub fn token_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(secret.expose(), "hunter2");
        assert!(Secret::new("  ").is_blank());
    }

    #[test]
    fn constant_time_eq_cases() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"\x00", b"\x80"));
    }

    #[test]
    fn token_hash_is_plain_hex_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let secret = Secret::new("abc");
        assert!(secret.matches_hash(&token_hash("abc")));
        assert!(!secret.matches_hash(&token_hash("abd")));
        assert!(!secret.matches_hash(""));
    }
}

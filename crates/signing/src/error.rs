//! The one error type of this crate.

/// Everything that can go wrong while encoding, signing or verifying.
///
/// Messages never contain key material or secrets: a bad key is named by its key id or its
/// position in a list, never by its bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningError {
    /// A key id is empty or contains a character that would break one of the text formats it
    /// travels in (`:` in `ed25519:<key_id>:<sig>`, `,` and `=` in the extra-keys list,
    /// whitespace).
    #[error("invalid key id {0:?}: must be non-empty and contain no ':', ',', '=' or whitespace")]
    InvalidKeyId(String),

    /// A value that should be base64 (or base64url) is not.
    #[error("{what} is not valid base64")]
    InvalidBase64 {
        /// Which value failed to decode, e.g. "registry private key".
        what: &'static str,
    },

    /// A key or signature decoded to the wrong number of bytes.
    #[error("{what} must be {expected}, got {actual} bytes")]
    InvalidLength {
        /// Which value had the wrong length.
        what: &'static str,
        /// The accepted length(s), in words.
        expected: &'static str,
        /// The length that was found.
        actual: usize,
    },

    /// A 64-byte Ed25519 private key whose second half is not the public key of its seed.
    #[error("the public half of the 64-byte Ed25519 private key does not match its seed")]
    KeyPairMismatch,

    /// The crypto library refused a key (e.g. a malformed PKCS#8 document).
    #[error("key rejected: {0}")]
    KeyRejected(String),

    /// One entry of an `id=base64,...` public key list is malformed.
    #[error("invalid public key entry #{position}{}: {reason}", key_id.as_ref().map(|id| format!(" ({id})")).unwrap_or_default())]
    InvalidKeyEntry {
        /// 1-based position of the entry in the list.
        position: usize,
        /// The entry's key id, when it could be read.
        key_id: Option<String>,
        /// What is wrong, without echoing the key.
        reason: String,
    },

    /// The same key id was given twice with different keys.
    #[error("key id {0} is listed twice with different keys")]
    DuplicateKeyId(String),

    /// No key with this id is known to the verifier.
    #[error("unknown key id {0}")]
    UnknownKeyId(String),

    /// A signature or token names an algorithm this crate does not accept.
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),

    /// A registry signature string is not `ed25519:<key_id>:<base64>`.
    #[error("malformed registry signature: {0}")]
    MalformedSignature(String),

    /// The signature does not verify: wrong key, or the signed data was changed.
    #[error("signature verification failed")]
    BadSignature,

    /// A JWS or JWT is not well formed (parts, base64url, JSON, claim types).
    #[error("malformed token: {0}")]
    MalformedToken(String),

    /// A JWT's `exp` is in the past (beyond the leeway).
    #[error("token expired at {exp} (now {now})")]
    TokenExpired {
        /// The `exp` claim, seconds since the epoch.
        exp: i64,
        /// The time the check ran at, seconds since the epoch.
        now: i64,
    },

    /// A JWT's `nbf` is in the future (beyond the leeway).
    #[error("token not valid before {nbf} (now {now})")]
    TokenNotYetValid {
        /// The `nbf` claim, seconds since the epoch.
        nbf: i64,
        /// The time the check ran at, seconds since the epoch.
        now: i64,
    },

    /// A JWT's `aud` does not name the expected audience.
    #[error("token audience does not include {expected:?}")]
    WrongAudience {
        /// The audience the verifier required.
        expected: String,
    },

    /// A required JWT claim is absent.
    #[error("token is missing the {0:?} claim")]
    MissingClaim(&'static str),

    /// A value could not be turned into JSON (or is not the JSON shape required).
    #[error("json: {0}")]
    Json(String),

    /// The system random number generator failed.
    #[error("system random number generator failed")]
    Rng,
}

impl From<serde_json::Error> for SigningError {
    fn from(err: serde_json::Error) -> Self {
        SigningError::Json(err.to_string())
    }
}

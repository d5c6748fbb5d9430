//! Signing, digests and tokens for the ANIP platform.
//!
//! * [`gojson`]: a JSON writer that reproduces Go's `encoding/json` byte for byte, which
//!   upstream ANIP digests and signatures are computed over.
//! * [`digest`]: `sha256:<hex>` digests of manifests, definitions, locks, receipt ids and the
//!   package execution signature.
//! * [`ed25519`]: registry signing keys, key rotation, and `ed25519:<key_id>:<base64>`
//!   signatures.
//! * [`receipt`]: the exact package (and template) receipt payloads, current and legacy.
//! * [`es256`], [`jws`], [`jwt`]: P-256 keys, JWK/JWKS, compact and detached JWS, and JWTs for
//!   the runtime.
//! * [`secret`]: redacted secrets, constant-time comparison and token hashes.

#![warn(missing_docs)]

mod b64;
pub mod digest;
pub mod ed25519;
mod error;
pub mod es256;
pub mod gojson;
pub mod jws;
pub mod jwt;
pub mod receipt;
pub mod secret;

pub use digest::{digest_value, receipt_id, sha256_hex};
pub use ed25519::{
    KeyId, KeySet, PublicKeyInfo, PublicKeySet, RegistrySignature, SigningKey, VerifyingKey,
};
pub use error::SigningError;
pub use es256::{Es256KeyPair, Es256PublicKey, Jwk, Jwks};
pub use gojson::{to_go_json, GoJsonOptions};
pub use receipt::{verify_receipt, PayloadVersion, ReceiptPayload, TemplateReceiptPayload};
pub use secret::{constant_time_eq, token_hash, Secret};

//! Small base64 helpers shared by the key and token modules.

use base64::alphabet;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::SigningError;

/// Standard alphabet, padding optional: what operators paste into environment variables.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// URL-safe alphabet, padding optional.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes key material given by a human: standard or URL-safe alphabet, with or without
/// padding, surrounding whitespace ignored. The error names `what`, never the input.
pub(crate) fn decode_lenient(input: &str, what: &'static str) -> Result<Vec<u8>, SigningError> {
    let input = input.trim();
    STANDARD_LENIENT
        .decode(input)
        .or_else(|_| URL_SAFE_LENIENT.decode(input))
        .map_err(|_| SigningError::InvalidBase64 { what })
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
pub(crate) fn encode_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes strict standard base64 with padding (Go's `base64.StdEncoding`).
pub(crate) fn decode_std(input: &str, what: &'static str) -> Result<Vec<u8>, SigningError> {
    STANDARD
        .decode(input)
        .map_err(|_| SigningError::InvalidBase64 { what })
}

/// base64url without padding, as JOSE requires.
pub(crate) fn encode_url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (JOSE). Padding is rejected, as RFC 7515 forbids it.
pub(crate) fn decode_url(input: &str, what: &'static str) -> Result<Vec<u8>, SigningError> {
    URL_SAFE_NO_PAD
        .decode(input)
        .map_err(|_| SigningError::InvalidBase64 { what })
}

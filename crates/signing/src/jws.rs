//! Compact JWS with ES256: attached (`header.payload.signature`) and detached
//! (`header..signature`, used for the `X-ANIP-Signature` header over a manifest body).
//!
//! Every part is base64url without padding. The signing input is always
//! `header_b64 + "." + base64url(payload)`, also when the payload is detached.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::b64;
use crate::es256::{Es256KeyPair, Es256PublicKey, ES256};
use crate::SigningError;

/// The protected header we write and read. Field order is `alg`, `kid`, `typ`: the same bytes
/// Go's `json.Marshal` of a header map produces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// Always `"ES256"` in what we sign and accept.
    pub alg: String,
    /// The signing key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `"JWT"` for tokens, absent for plain JWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

impl JwsHeader {
    /// `{"alg":"ES256","kid":kid}`, plus `typ` when given.
    pub fn es256(kid: &str, typ: Option<&str>) -> Self {
        JwsHeader {
            alg: ES256.to_owned(),
            kid: Some(kid.to_owned()),
            typ: typ.map(str::to_owned),
        }
    }
}

/// A compact JWS split into its three base64url parts.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

fn split(jws: &str) -> Result<Parts<'_>, SigningError> {
    let mut iter = jws.split('.');
    match (iter.next(), iter.next(), iter.next(), iter.next()) {
        (Some(header), Some(payload), Some(signature), None) => Ok(Parts {
            header,
            payload,
            signature,
        }),
        _ => Err(SigningError::MalformedToken(
            "expected three '.'-separated parts".to_owned(),
        )),
    }
}

fn parse_header(header_b64: &str) -> Result<JwsHeader, SigningError> {
    let bytes = b64::decode_url(header_b64, "JWS header")?;
    let map: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| SigningError::MalformedToken("header is not a JSON object".to_owned()))?;
    // We implement no header extensions (e.g. RFC 7797 unencoded payloads); a `crit` header
    // would oblige us to, so refuse it.
    if map.contains_key("crit") {
        return Err(SigningError::MalformedToken(
            "critical header extensions are not supported".to_owned(),
        ));
    }
    let header: JwsHeader = serde_json::from_value(Value::Object(map))
        .map_err(|_| SigningError::MalformedToken("header has the wrong shape".to_owned()))?;
    if header.alg != ES256 {
        return Err(SigningError::UnsupportedAlgorithm(header.alg));
    }
    Ok(header)
}

/// Signs `header_b64 + "." + payload_b64` and returns the base64url signature.
fn signature_b64(
    key: &Es256KeyPair,
    header_b64: &str,
    payload_b64: &str,
) -> Result<String, SigningError> {
    let signing_input = format!("{header_b64}.{payload_b64}");
    Ok(b64::encode_url(&key.sign(signing_input.as_bytes())?))
}

fn check_signature(
    key: &Es256PublicKey,
    header_b64: &str,
    payload_b64: &str,
    signature_b64: &str,
) -> Result<(), SigningError> {
    let signature = b64::decode_url(signature_b64, "JWS signature")?;
    if signature.len() != 64 {
        return Err(SigningError::InvalidLength {
            what: "ES256 signature",
            expected: "64 bytes",
            actual: signature.len(),
        });
    }
    let signing_input = format!("{header_b64}.{payload_b64}");
    key.verify(signing_input.as_bytes(), &signature)
}

/// Signs with an explicit header (its `alg` must be ES256) and returns the attached compact
/// JWS.
pub fn sign_compact_with_header(
    key: &Es256KeyPair,
    header: &JwsHeader,
    payload: &[u8],
) -> Result<String, SigningError> {
    if header.alg != ES256 {
        return Err(SigningError::UnsupportedAlgorithm(header.alg.clone()));
    }
    let header_b64 = b64::encode_url(&serde_json::to_vec(header)?);
    let payload_b64 = b64::encode_url(payload);
    let signature = signature_b64(key, &header_b64, &payload_b64)?;
    Ok(format!("{header_b64}.{payload_b64}.{signature}"))
}

/// An attached compact JWS over `payload`, header `{"alg":"ES256","kid":...}`.
pub fn sign_compact(key: &Es256KeyPair, payload: &[u8]) -> Result<String, SigningError> {
    sign_compact_with_header(key, &JwsHeader::es256(&key.kid(), None), payload)
}

/// A detached compact JWS (`header..signature`) over `payload`, header
/// `{"alg":"ES256","kid":...}`.
pub fn sign_detached(key: &Es256KeyPair, payload: &[u8]) -> Result<String, SigningError> {
    let header = JwsHeader::es256(&key.kid(), None);
    let header_b64 = b64::encode_url(&serde_json::to_vec(&header)?);
    let signature = signature_b64(key, &header_b64, &b64::encode_url(payload))?;
    Ok(format!("{header_b64}..{signature}"))
}

/// Reads the header of a compact JWS (attached or detached) without verifying anything, e.g.
/// to pick the key by `kid`. Rejects any `alg` but ES256.
pub fn decode_header(jws: &str) -> Result<JwsHeader, SigningError> {
    parse_header(split(jws)?.header)
}

/// Verifies an attached compact JWS and returns its header and payload.
pub fn verify_compact(
    key: &Es256PublicKey,
    jws: &str,
) -> Result<(JwsHeader, Vec<u8>), SigningError> {
    let parts = split(jws)?;
    let header = parse_header(parts.header)?;
    if parts.payload.is_empty() {
        return Err(SigningError::MalformedToken(
            "payload is detached; use verify_detached".to_owned(),
        ));
    }
    check_signature(key, parts.header, parts.payload, parts.signature)?;
    let payload = b64::decode_url(parts.payload, "JWS payload")?;
    Ok((header, payload))
}

/// Verifies a detached compact JWS against the `payload` it travelled with.
pub fn verify_detached(
    key: &Es256PublicKey,
    payload: &[u8],
    jws: &str,
) -> Result<JwsHeader, SigningError> {
    let parts = split(jws)?;
    if !parts.payload.is_empty() {
        return Err(SigningError::MalformedToken(
            "detached JWS must have an empty payload part".to_owned(),
        ));
    }
    let header = parse_header(parts.header)?;
    check_signature(
        key,
        parts.header,
        &b64::encode_url(payload),
        parts.signature,
    )?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_round_trip_and_layout() {
        let key = Es256KeyPair::generate().unwrap();
        let body = br#"{"manifest":"body"}"#;
        let jws = sign_detached(&key, body).unwrap();
        let (header_b64, rest) = jws.split_once("..").unwrap();
        assert_eq!(
            b64::decode_url(header_b64, "h").unwrap(),
            format!(r#"{{"alg":"ES256","kid":"{}"}}"#, key.kid()).into_bytes()
        );
        assert_eq!(b64::decode_url(rest, "s").unwrap().len(), 64);
        assert!(!jws.contains('='));

        let header = verify_detached(key.public_key(), body, &jws).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid().as_str()));
        assert_eq!(decode_header(&jws).unwrap(), header);
    }

    #[test]
    fn detached_rejects_changed_body_key_or_signature() {
        let key = Es256KeyPair::generate().unwrap();
        let other = Es256KeyPair::generate().unwrap();
        let body = b"exact bytes";
        let jws = sign_detached(&key, body).unwrap();
        assert_eq!(
            verify_detached(key.public_key(), b"exact bytez", &jws),
            Err(SigningError::BadSignature)
        );
        assert_eq!(
            verify_detached(other.public_key(), body, &jws),
            Err(SigningError::BadSignature)
        );
        // Flip one signature character (keeping it valid base64url).
        let mut tampered = jws.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(verify_detached(key.public_key(), body, &tampered).is_err());
        // An attached JWS is not a detached one.
        let attached = sign_compact(&key, body).unwrap();
        assert!(matches!(
            verify_detached(key.public_key(), body, &attached),
            Err(SigningError::MalformedToken(_))
        ));
    }

    #[test]
    fn attached_round_trip() {
        let key = Es256KeyPair::generate().unwrap();
        let jws = sign_compact(&key, b"payload").unwrap();
        let (header, payload) = verify_compact(key.public_key(), &jws).unwrap();
        assert_eq!(payload, b"payload");
        assert_eq!(header, JwsHeader::es256(&key.kid(), None));
        let detached = sign_detached(&key, b"payload").unwrap();
        assert!(verify_compact(key.public_key(), &detached).is_err());
    }

    #[test]
    fn other_algorithms_and_shapes_are_rejected() {
        let key = Es256KeyPair::generate().unwrap();
        let jws = sign_compact(&key, b"p").unwrap();
        let (_, rest) = jws.split_once('.').unwrap();
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256","kid":"x"}"#,
            r#"{"alg":"ES256","crit":["b64"],"b64":false}"#,
            r#"["alg"]"#,
            r#"{"alg":1}"#,
        ] {
            let forged = format!("{}.{rest}", b64::encode_url(header.as_bytes()));
            assert!(
                verify_compact(key.public_key(), &forged).is_err(),
                "{header}"
            );
        }
        assert_eq!(
            decode_header(&format!("{}.x.y", b64::encode_url(br#"{"alg":"none"}"#))),
            Err(SigningError::UnsupportedAlgorithm("none".into()))
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.b.c"] {
            assert!(verify_compact(key.public_key(), bad).is_err(), "{bad}");
        }
        let bad_header = JwsHeader {
            alg: "ES384".into(),
            kid: None,
            typ: None,
        };
        assert!(sign_compact_with_header(&key, &bad_header, b"p").is_err());
    }
}

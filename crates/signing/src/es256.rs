//! ES256 (ECDSA over P-256 with SHA-256) keys for the ANIP runtime: key generation and PKCS#8
//! storage, `kid`s, and JWK / JWKS.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde::{Deserialize, Serialize};

use crate::b64;
use crate::digest::{sha256, sha256_hex};
use crate::SigningError;

/// The DER prefix of a SubjectPublicKeyInfo for an uncompressed P-256 point:
/// SEQUENCE { SEQUENCE { OID ecPublicKey, OID prime256v1 }, BIT STRING (0 unused bits) ... }.
/// The 65 point bytes follow.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A P-256 public key, held as its 65-byte uncompressed point (`04 || x || y`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Es256PublicKey {
    point: [u8; 65],
}

impl Es256PublicKey {
    /// From an uncompressed SEC1 point. Whether the point is on the curve is checked when a
    /// signature is verified.
    pub fn from_uncompressed_point(point: &[u8]) -> Result<Self, SigningError> {
        let point: [u8; 65] = point.try_into().map_err(|_| SigningError::InvalidLength {
            what: "P-256 public key",
            expected: "65 bytes (uncompressed point)",
            actual: point.len(),
        })?;
        if point[0] != 0x04 {
            return Err(SigningError::KeyRejected(
                "P-256 public key is not an uncompressed point".to_owned(),
            ));
        }
        Ok(Es256PublicKey { point })
    }

    /// From the 32-byte big-endian affine coordinates.
    pub fn from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Self {
        let mut point = [0u8; 65];
        point[0] = 0x04;
        point[1..33].copy_from_slice(x);
        point[33..].copy_from_slice(y);
        Es256PublicKey { point }
    }

    /// The uncompressed point.
    pub fn uncompressed_point(&self) -> &[u8; 65] {
        &self.point
    }

    /// The x coordinate.
    pub fn x(&self) -> [u8; 32] {
        let mut x = [0u8; 32];
        x.copy_from_slice(&self.point[1..33]);
        x
    }

    /// The y coordinate.
    pub fn y(&self) -> [u8; 32] {
        let mut y = [0u8; 32];
        y.copy_from_slice(&self.point[33..]);
        y
    }

    /// The DER SubjectPublicKeyInfo (91 bytes).
    pub fn spki_der(&self) -> Vec<u8> {
        let mut der = Vec::with_capacity(P256_SPKI_PREFIX.len() + self.point.len());
        der.extend_from_slice(&P256_SPKI_PREFIX);
        der.extend_from_slice(&self.point);
        der
    }

    /// The ANIP `kid`: the first 16 hex characters of SHA-256 over [`Self::spki_der`].
    pub fn kid(&self) -> String {
        let mut hex = sha256_hex(&self.spki_der());
        hex.truncate(16);
        hex
    }

    /// The RFC 7638 JWK thumbprint (base64url SHA-256 of `{"crv","kty","x","y"}`). Upstream's
    /// Go runtime uses its first 16 characters as `kid`; we use [`Self::kid`], as the
    /// protocol document says, and offer this for interoperating with Go-issued keys.
    pub fn jwk_thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64::encode_url(&self.x()),
            b64::encode_url(&self.y())
        );
        b64::encode_url(&sha256(canonical.as_bytes()))
    }

    /// This key as a JWK with our `kid` and the given `use` (`"sig"` or `"audit"` in ANIP).
    pub fn to_jwk(&self, key_use: &str) -> Jwk {
        Jwk {
            kty: "EC".to_owned(),
            crv: "P-256".to_owned(),
            x: b64::encode_url(&self.x()),
            y: b64::encode_url(&self.y()),
            kid: self.kid(),
            alg: Some(ES256.to_owned()),
            key_use: Some(key_use.to_owned()),
        }
    }

    /// Reads a P-256 public key from a JWK (`kty` `EC`, `crv` `P-256`, `alg` absent or
    /// `ES256`). The JWK's `kid` is not checked against ours: other issuers compute it
    /// differently.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, SigningError> {
        if jwk.kty != "EC" || jwk.crv != "P-256" {
            return Err(SigningError::UnsupportedAlgorithm(format!(
                "{} {}",
                jwk.kty, jwk.crv
            )));
        }
        if let Some(alg) = jwk.alg.as_deref() {
            if alg != ES256 {
                return Err(SigningError::UnsupportedAlgorithm(alg.to_owned()));
            }
        }
        let coordinate = |text: &str, what: &'static str| -> Result<[u8; 32], SigningError> {
            let raw = b64::decode_url(text, what)?;
            raw.as_slice()
                .try_into()
                .map_err(|_| SigningError::InvalidLength {
                    what,
                    expected: "32 bytes",
                    actual: raw.len(),
                })
        };
        Ok(Es256PublicKey::from_coordinates(
            &coordinate(&jwk.x, "JWK x")?,
            &coordinate(&jwk.y, "JWK y")?,
        ))
    }

    /// Verifies a 64-byte `r || s` signature (the JOSE form) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SigningError> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(message, signature)
            .map_err(|_| SigningError::BadSignature)
    }
}

impl fmt::Debug for Es256PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Es256PublicKey(kid={})", self.kid())
    }
}

/// The JOSE algorithm name.
pub const ES256: &str = "ES256";

/// A P-256 private key. Keep [`Es256KeyPair::pkcs8_der`] secret; `Debug` shows only the kid.
pub struct Es256KeyPair {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    public: Es256PublicKey,
    rng: SystemRandom,
}

impl Es256KeyPair {
    /// A fresh random key. Persist it with [`Es256KeyPair::pkcs8_der`].
    pub fn generate() -> Result<Self, SigningError> {
        let rng = SystemRandom::new();
        let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| SigningError::Rng)?;
        Es256KeyPair::from_pkcs8_der(document.as_ref())
    }

    /// Loads a PKCS#8 (v1, with the public key included, as `generate` and OpenSSL write) DER
    /// document.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SigningError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|err| SigningError::KeyRejected(err.to_string()))?;
        let public = Es256PublicKey::from_uncompressed_point(pair.public_key().as_ref())?;
        Ok(Es256KeyPair {
            pair,
            pkcs8: der.to_vec(),
            public,
            rng,
        })
    }

    /// The PKCS#8 DER document, for storage. Secret.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key.
    pub fn public_key(&self) -> &Es256PublicKey {
        &self.public
    }

    /// The `kid` (see [`Es256PublicKey::kid`]).
    pub fn kid(&self) -> String {
        self.public.kid()
    }

    /// The public JWK with the given `use`.
    pub fn jwk(&self, key_use: &str) -> Jwk {
        self.public.to_jwk(key_use)
    }

    /// Signs `message`, returning the 64-byte `r || s` signature.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; 64], SigningError> {
        let signature = self
            .pair
            .sign(&self.rng, message)
            .map_err(|_| SigningError::Rng)?;
        let mut out = [0u8; 64];
        out.copy_from_slice(signature.as_ref());
        Ok(out)
    }
}

impl fmt::Debug for Es256KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Es256KeyPair")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// A public JSON Web Key for an EC P-256 key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `"EC"`.
    pub kty: String,
    /// Always `"P-256"`.
    pub crv: String,
    /// base64url of the x coordinate.
    pub x: String,
    /// base64url of the y coordinate.
    pub y: String,
    /// Key id.
    #[serde(default)]
    pub kid: String,
    /// `"ES256"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `"sig"` or `"audit"` in ANIP.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
}

/// A JSON Web Key Set, as served at `/.well-known/jwks.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|jwk| jwk.kid == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_and_kid() {
        let key = Es256KeyPair::generate().unwrap();
        let public = key.public_key();
        let spki = public.spki_der();
        assert_eq!(spki.len(), 91);
        assert_eq!(
            crate::digest::hex(&spki[..26]),
            "3059301306072a8648ce3d020106082a8648ce3d030107034200"
        );
        assert_eq!(&spki[26..], public.uncompressed_point());
        let kid = public.kid();
        assert_eq!(kid.len(), 16);
        assert_eq!(kid, sha256_hex(&spki)[..16]);
        assert!(kid
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn kid_of_a_fixed_point() {
        // The P-256 generator G as a public key. The expected kid was computed independently
        // (Python `cryptography`: SPKI DER of the key, SHA-256, first 16 hex characters).
        let gx: [u8; 32] = [
            0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
            0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45,
            0xd8, 0x98, 0xc2, 0x96,
        ];
        let gy: [u8; 32] = [
            0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f,
            0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68,
            0x37, 0xbf, 0x51, 0xf5,
        ];
        let public = Es256PublicKey::from_coordinates(&gx, &gy);
        assert_eq!(public.kid(), "5cd252fb0ce89324");
    }

    #[test]
    fn pkcs8_round_trip() {
        let key = Es256KeyPair::generate().unwrap();
        let again = Es256KeyPair::from_pkcs8_der(key.pkcs8_der()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        let signature = again.sign(b"m").unwrap();
        key.public_key().verify(b"m", &signature).unwrap();
        assert!(matches!(
            Es256KeyPair::from_pkcs8_der(b"not der"),
            Err(SigningError::KeyRejected(_))
        ));
        assert!(!format!("{key:?}").contains("pkcs8"));
    }

    #[test]
    fn jwk_round_trip_and_jwks_shape() {
        let key = Es256KeyPair::generate().unwrap();
        let jwk = key.jwk("sig");
        let text = serde_json::to_string(&jwk).unwrap();
        assert!(
            text.starts_with(r#"{"kty":"EC","crv":"P-256","x":""#),
            "{text}"
        );
        assert!(text.ends_with(&format!(
            r#""kid":"{}","alg":"ES256","use":"sig"}}"#,
            key.kid()
        )));
        assert_eq!(jwk.x.len(), 43);
        assert_eq!(jwk.y.len(), 43);

        let public = Es256PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(&public, key.public_key());
        let signature = key.sign(b"hello").unwrap();
        public.verify(b"hello", &signature).unwrap();
        assert_eq!(
            public.verify(b"hellO", &signature),
            Err(SigningError::BadSignature)
        );

        let audit = Es256KeyPair::generate().unwrap();
        let jwks = Jwks {
            keys: vec![jwk.clone(), audit.jwk("audit")],
        };
        let parsed: Jwks = serde_json::from_str(&serde_json::to_string(&jwks).unwrap()).unwrap();
        assert_eq!(parsed.find(&key.kid()), Some(&jwk));
        assert_eq!(
            parsed.find(&audit.kid()).unwrap().key_use.as_deref(),
            Some("audit")
        );
        assert!(parsed.find("nope").is_none());
    }

    #[test]
    fn bad_jwks_are_rejected() {
        let jwk = Es256KeyPair::generate().unwrap().jwk("sig");
        let mut rsa = jwk.clone();
        rsa.kty = "RSA".into();
        assert!(Es256PublicKey::from_jwk(&rsa).is_err());
        let mut es384 = jwk.clone();
        es384.alg = Some("ES384".into());
        assert!(Es256PublicKey::from_jwk(&es384).is_err());
        let mut short = jwk.clone();
        short.x = "AAAA".into();
        assert!(matches!(
            Es256PublicKey::from_jwk(&short),
            Err(SigningError::InvalidLength { .. })
        ));
        // A point that is not on the curve parses, but never verifies.
        let mut off_curve = jwk;
        off_curve.y = b64::encode_url(&[1u8; 32]);
        let public = Es256PublicKey::from_jwk(&off_curve).unwrap();
        assert_eq!(
            public.verify(b"m", &[0u8; 64]),
            Err(SigningError::BadSignature)
        );
    }

    #[test]
    fn thumbprint_is_43_chars_of_base64url() {
        let public = *Es256KeyPair::generate().unwrap().public_key();
        let thumbprint = public.jwk_thumbprint();
        assert_eq!(thumbprint.len(), 43);
        assert_ne!(thumbprint[..16], public.kid());
    }
}

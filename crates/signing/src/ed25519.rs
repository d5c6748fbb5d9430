//! Ed25519 registry keys and signatures (`ed25519:<key_id>:<base64>`), key rotation, and the
//! records served by `GET /registry-api/v1/keys`.

use std::fmt;
use std::str::FromStr;

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use crate::b64;
use crate::digest::sha256;
use crate::secret::Secret;
use crate::SigningError;

/// The algorithm name in signatures and key records.
pub const ALGORITHM: &str = "ed25519";

/// The key id upstream uses for its development key.
pub const DEV_KEY_ID: &str = "anip-registry-dev-ed25519-v1";

/// The public string upstream hashes (SHA-256) to get its development key's seed. Anyone can
/// derive the private key from it, so anyone can forge dev receipts: production must refuse it.
pub const DEV_KEY_SEED_TEXT: &str = "anip-registry-dev-local-ed25519-v1";

/// The id of a registry signing key, e.g. `anip-registry-dev-ed25519-v1`.
///
/// Non-empty, no whitespace, and none of `:` `,` `=`: it travels inside
/// `ed25519:<key_id>:<sig>` and `id=base64,...`, which those characters would break.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// Validates and wraps a key id. Surrounding whitespace is trimmed.
    pub fn new(id: impl Into<String>) -> Result<Self, SigningError> {
        let id = id.into();
        let trimmed = id.trim();
        let valid = !trimmed.is_empty()
            && !trimmed
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, ':' | ',' | '='));
        if valid {
            Ok(KeyId(trimmed.to_owned()))
        } else {
            Err(SigningError::InvalidKeyId(id))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyId {
    type Error = SigningError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        KeyId::new(value)
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> Self {
        id.0
    }
}

impl FromStr for KeyId {
    type Err = SigningError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyId::new(s)
    }
}

/// An Ed25519 private key. `Debug` shows only the public key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// A key from its 32-byte seed. Every 32-byte string is a valid Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        match Ed25519KeyPair::from_seed_unchecked(seed) {
            Ok(pair) => SigningKey { pair },
            // ring only rejects a seed of the wrong length, which the type rules out.
            Err(_) => unreachable!("ring accepts every 32-byte Ed25519 seed"),
        }
    }

    /// Parses `ANIP_REGISTRY_ED25519_PRIVATE_KEY`: base64 (standard or URL-safe, padding
    /// optional) of a 32-byte seed, or of a 64-byte Go/NaCl private key (seed followed by the
    /// public key, which must match the seed).
    pub fn from_base64(encoded: &str) -> Result<Self, SigningError> {
        let raw = b64::decode_lenient(encoded, "registry private key")?;
        match raw.len() {
            32 => {
                let mut seed = [0u8; 32];
                seed.copy_from_slice(&raw);
                Ok(SigningKey::from_seed(&seed))
            }
            64 => {
                let mut seed = [0u8; 32];
                seed.copy_from_slice(&raw[..32]);
                let key = SigningKey::from_seed(&seed);
                if key.verifying_key().as_bytes()[..] != raw[32..] {
                    return Err(SigningError::KeyPairMismatch);
                }
                Ok(key)
            }
            actual => Err(SigningError::InvalidLength {
                what: "registry private key",
                expected: "a 32-byte seed or a 64-byte private key",
                actual,
            }),
        }
    }

    /// A fresh random key, and its seed in standard base64 for the operator to store as
    /// `ANIP_REGISTRY_ED25519_PRIVATE_KEY`.
    pub fn generate() -> Result<(Self, Secret), SigningError> {
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| SigningError::Rng)?;
        let key = SigningKey::from_seed(&seed);
        let encoded = Secret::new(b64::encode_std(&seed));
        seed.fill(0);
        Ok((key, encoded))
    }

    /// Upstream's development key: seed = SHA-256 of [`DEV_KEY_SEED_TEXT`]. Its public key is
    /// `NZ8bIweTW/SJ14NTpSOCV/ITzTL7TIJP/Sl0CPAQV14=`. For dev mode and for verifying upstream
    /// dev receipts only.
    pub fn dev() -> Self {
        SigningKey::from_seed(&sha256(DEV_KEY_SEED_TEXT.as_bytes()))
    }

    /// Whether this is upstream's publicly derivable development key.
    pub fn is_dev_key(&self) -> bool {
        self.verifying_key() == SigningKey::dev().verifying_key()
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.pair.public_key().as_ref());
        VerifyingKey(bytes)
    }

    /// Signs `message`, returning the 64-byte signature.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.verifying_key().to_base64())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey([u8; 32]);

impl VerifyingKey {
    /// Wraps 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        VerifyingKey(bytes)
    }

    /// Parses base64 (standard or URL-safe, padding optional) of 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, SigningError> {
        let raw = b64::decode_lenient(encoded, "registry public key")?;
        let bytes: [u8; 32] =
            raw.as_slice()
                .try_into()
                .map_err(|_| SigningError::InvalidLength {
                    what: "registry public key",
                    expected: "32 bytes",
                    actual: raw.len(),
                })?;
        Ok(VerifyingKey(bytes))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Standard base64 with padding, as upstream publishes keys.
    pub fn to_base64(&self) -> String {
        b64::encode_std(&self.0)
    }

    /// Checks a 64-byte signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), SigningError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .map_err(|_| SigningError::BadSignature)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.to_base64())
    }
}

/// A registry signature, written `ed25519:<key_id>:<standard base64 of 64 bytes>`.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrySignature {
    /// The id of the key that made it.
    pub key_id: KeyId,
    /// The raw Ed25519 signature.
    pub signature: [u8; 64],
}

impl RegistrySignature {
    /// Parses the string form. Only `ed25519` is accepted.
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let parts: Vec<&str> = text.split(':').collect();
        let [algorithm, key_id, encoded] = parts.as_slice() else {
            return Err(SigningError::MalformedSignature(format!(
                "expected 3 ':'-separated parts, got {}",
                parts.len()
            )));
        };
        if *algorithm != ALGORITHM {
            return Err(SigningError::UnsupportedAlgorithm((*algorithm).to_owned()));
        }
        let key_id = KeyId::new(*key_id)
            .map_err(|_| SigningError::MalformedSignature("invalid key id".to_owned()))?;
        let raw = b64::decode_std(encoded, "registry signature")?;
        let signature: [u8; 64] =
            raw.as_slice()
                .try_into()
                .map_err(|_| SigningError::InvalidLength {
                    what: "registry signature",
                    expected: "64 bytes",
                    actual: raw.len(),
                })?;
        Ok(RegistrySignature { key_id, signature })
    }

    /// Always `"ed25519"`.
    pub fn algorithm(&self) -> &'static str {
        ALGORITHM
    }
}

impl fmt::Display for RegistrySignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM}:{}:{}",
            self.key_id,
            b64::encode_std(&self.signature)
        )
    }
}

impl fmt::Debug for RegistrySignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistrySignature({self})")
    }
}

impl FromStr for RegistrySignature {
    type Err = SigningError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegistrySignature::parse(s)
    }
}

/// One item of `GET /registry-api/v1/keys` (and of a bundle's `registry_keys`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyInfo {
    /// The key id.
    pub key_id: String,
    /// Always `"ed25519"`.
    pub algorithm: String,
    /// Standard base64 of the 32-byte public key.
    pub public_key: String,
}

/// The public keys a verifier trusts, by key id, in insertion order (active key first).
#[derive(Clone, Debug, Default)]
pub struct PublicKeySet {
    keys: Vec<(KeyId, VerifyingKey)>,
}

impl PublicKeySet {
    /// An empty set.
    pub fn new() -> Self {
        PublicKeySet::default()
    }

    /// Adds a key. Adding the same id and key again is a no-op; the same id with another key is
    /// [`SigningError::DuplicateKeyId`].
    pub fn insert(&mut self, key_id: KeyId, key: VerifyingKey) -> Result<(), SigningError> {
        match self.get(key_id.as_str()) {
            Some(existing) if existing == key => Ok(()),
            Some(_) => Err(SigningError::DuplicateKeyId(key_id.0)),
            None => {
                self.keys.push((key_id, key));
                Ok(())
            }
        }
    }

    /// Parses `ANIP_REGISTRY_EXTRA_PUBLIC_KEYS`: `id=base64,id2=base64`. Whitespace around
    /// entries, ids and keys is ignored, as are empty entries (a trailing comma). Errors name the
    /// entry by position and key id, never by its key.
    pub fn parse_list(list: &str) -> Result<Self, SigningError> {
        let mut set = PublicKeySet::new();
        set.extend_from_list(list)?;
        Ok(set)
    }

    fn extend_from_list(&mut self, list: &str) -> Result<(), SigningError> {
        for (index, entry) in list.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let position = index + 1;
            let bad = |key_id: Option<&KeyId>, reason: &str| SigningError::InvalidKeyEntry {
                position,
                key_id: key_id.map(|id| id.0.clone()),
                reason: reason.to_owned(),
            };
            // A bare padded key ("AAAA...=") also contains '='; its "id" would be key text, so
            // treat an empty or padding-only remainder as a missing id.
            let Some((id, encoded)) = entry
                .split_once('=')
                .filter(|(_, encoded)| !encoded.trim().trim_start_matches('=').is_empty())
            else {
                return Err(bad(None, "expected key_id=base64_public_key"));
            };
            let key_id = KeyId::new(id).map_err(|_| bad(None, "invalid key id"))?;
            let key = VerifyingKey::from_base64(encoded)
                .map_err(|err| bad(Some(&key_id), &err.to_string()))?;
            self.insert(key_id, key)?;
        }
        Ok(())
    }

    /// Builds a set from key records (a bundle's `registry_keys`, a registry's key list).
    /// Records whose algorithm is not `ed25519` are errors.
    pub fn from_infos(infos: &[PublicKeyInfo]) -> Result<Self, SigningError> {
        let mut set = PublicKeySet::new();
        for info in infos {
            if info.algorithm != ALGORITHM {
                return Err(SigningError::UnsupportedAlgorithm(info.algorithm.clone()));
            }
            let key_id = KeyId::new(info.key_id.as_str())?;
            set.insert(key_id, VerifyingKey::from_base64(&info.public_key)?)?;
        }
        Ok(set)
    }

    /// The key with this id.
    pub fn get(&self, key_id: &str) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .find(|(id, _)| id.as_str() == key_id)
            .map(|(_, key)| *key)
    }

    /// Verifies `signature` over `payload` with the key it names.
    pub fn verify(
        &self,
        payload: &[u8],
        signature: &RegistrySignature,
    ) -> Result<(), SigningError> {
        let key = self
            .get(signature.key_id.as_str())
            .ok_or_else(|| SigningError::UnknownKeyId(signature.key_id.0.clone()))?;
        key.verify(payload, &signature.signature)
    }

    /// The keys as served by `GET /registry-api/v1/keys`.
    pub fn infos(&self) -> Vec<PublicKeyInfo> {
        self.keys
            .iter()
            .map(|(id, key)| PublicKeyInfo {
                key_id: id.0.clone(),
                algorithm: ALGORITHM.to_owned(),
                public_key: key.to_base64(),
            })
            .collect()
    }

    /// Iterates over `(key id, key)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&KeyId, &VerifyingKey)> {
        self.keys.iter().map(|(id, key)| (id, key))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The registry's keys: one active signing key, plus older public keys that must keep
/// verifying receipts after a rotation.
#[derive(Debug)]
pub struct KeySet {
    active_id: KeyId,
    active: SigningKey,
    public: PublicKeySet,
}

impl KeySet {
    /// A set whose only key is the active one.
    pub fn new(active_id: KeyId, active: SigningKey) -> Self {
        let mut public = PublicKeySet::new();
        public
            .keys
            .push((active_id.clone(), active.verifying_key()));
        KeySet {
            active_id,
            active,
            public,
        }
    }

    /// Upstream's development key under [`DEV_KEY_ID`].
    pub fn dev() -> Self {
        KeySet::new(KeyId(DEV_KEY_ID.to_owned()), SigningKey::dev())
    }

    /// Adds the keys of an `ANIP_REGISTRY_EXTRA_PUBLIC_KEYS` list (see
    /// [`PublicKeySet::parse_list`]).
    pub fn with_extra_public_keys(mut self, list: &str) -> Result<Self, SigningError> {
        self.public.extend_from_list(list)?;
        Ok(self)
    }

    /// Adds one verification-only key.
    pub fn add_public_key(&mut self, key_id: KeyId, key: VerifyingKey) -> Result<(), SigningError> {
        self.public.insert(key_id, key)
    }

    /// The id new signatures carry.
    pub fn active_key_id(&self) -> &KeyId {
        &self.active_id
    }

    /// The active signing key.
    pub fn active_key(&self) -> &SigningKey {
        &self.active
    }

    /// All keys that verify, active first.
    pub fn public_keys(&self) -> &PublicKeySet {
        &self.public
    }

    /// Signs `payload` with the active key.
    pub fn sign(&self, payload: &[u8]) -> RegistrySignature {
        RegistrySignature {
            key_id: self.active_id.clone(),
            signature: self.active.sign(payload),
        }
    }

    /// Verifies with whichever known key the signature names.
    pub fn verify(
        &self,
        payload: &[u8],
        signature: &RegistrySignature,
    ) -> Result<(), SigningError> {
        self.public.verify(payload, signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_PUBLIC: &str = "NZ8bIweTW/SJ14NTpSOCV/ITzTL7TIJP/Sl0CPAQV14=";

    fn id(text: &str) -> KeyId {
        KeyId::new(text).unwrap()
    }

    #[test]
    fn dev_key_matches_upstream_public_key() {
        let key = SigningKey::dev();
        assert_eq!(key.verifying_key().to_base64(), DEV_PUBLIC);
        assert!(key.is_dev_key());
        let (fresh, _) = SigningKey::generate().unwrap();
        assert!(!fresh.is_dev_key());
    }

    #[test]
    fn seed_and_64_byte_forms_parse_to_the_same_key() {
        let seed = sha256(DEV_KEY_SEED_TEXT.as_bytes());
        let std = b64::encode_std(&seed);
        let from_seed = SigningKey::from_base64(&std).unwrap();
        assert!(from_seed.is_dev_key());

        let mut full = seed.to_vec();
        full.extend_from_slice(from_seed.verifying_key().as_bytes());
        let full_b64 = b64::encode_std(&full);
        assert!(SigningKey::from_base64(&full_b64).unwrap().is_dev_key());

        // URL-safe, unpadded, surrounded by whitespace.
        let url = b64::encode_url(&seed);
        assert!(SigningKey::from_base64(&format!("  {url}\n"))
            .unwrap()
            .is_dev_key());
        assert!(SigningKey::from_base64(std.trim_end_matches('='))
            .unwrap()
            .is_dev_key());
    }

    #[test]
    fn bad_private_keys_are_rejected_without_echoing_them() {
        let err = SigningKey::from_base64("not base64 !!").unwrap_err();
        assert_eq!(
            err,
            SigningError::InvalidBase64 {
                what: "registry private key"
            }
        );
        assert!(!err.to_string().contains("!!"));

        let err = SigningKey::from_base64(&b64::encode_std(&[7u8; 31])).unwrap_err();
        assert!(matches!(
            err,
            SigningError::InvalidLength { actual: 31, .. }
        ));

        let mut mismatched = [1u8; 64].to_vec();
        mismatched[..32].copy_from_slice(&[2u8; 32]);
        assert_eq!(
            SigningKey::from_base64(&b64::encode_std(&mismatched)).unwrap_err(),
            SigningError::KeyPairMismatch
        );
    }

    #[test]
    fn generated_seed_round_trips() {
        let (key, seed) = SigningKey::generate().unwrap();
        let again = SigningKey::from_base64(seed.expose()).unwrap();
        assert_eq!(key.verifying_key(), again.verifying_key());
        assert!(!format!("{key:?}").contains(seed.expose()));
    }

    #[test]
    fn key_ids_are_validated() {
        assert_eq!(id(" k1 ").as_str(), "k1");
        for bad in ["", "  ", "a:b", "a,b", "a=b", "a b"] {
            assert!(KeyId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signature_string_round_trip() {
        let keys = KeySet::dev();
        let signature = keys.sign(b"payload");
        let text = signature.to_string();
        assert!(text.starts_with("ed25519:anip-registry-dev-ed25519-v1:"));
        let parsed = RegistrySignature::parse(&text).unwrap();
        assert_eq!(parsed, signature);
        keys.verify(b"payload", &parsed).unwrap();
        assert_eq!(
            keys.verify(b"payloaD", &parsed),
            Err(SigningError::BadSignature)
        );
    }

    #[test]
    fn malformed_signature_strings() {
        let good = KeySet::dev().sign(b"x").to_string();
        let sig_b64 = good.rsplit(':').next().unwrap().to_owned();
        assert!(matches!(
            RegistrySignature::parse("ed25519:k"),
            Err(SigningError::MalformedSignature(_))
        ));
        assert!(matches!(
            RegistrySignature::parse(&format!("ed25519:a:b:{sig_b64}")),
            Err(SigningError::MalformedSignature(_))
        ));
        assert_eq!(
            RegistrySignature::parse(&format!("rsa:k:{sig_b64}")),
            Err(SigningError::UnsupportedAlgorithm("rsa".into()))
        );
        assert!(matches!(
            RegistrySignature::parse("ed25519:k:@@@"),
            Err(SigningError::InvalidBase64 { .. })
        ));
        assert!(matches!(
            RegistrySignature::parse("ed25519:k:AAAA"),
            Err(SigningError::InvalidLength { actual: 3, .. })
        ));
        assert!(RegistrySignature::parse("").is_err());
    }

    #[test]
    fn unknown_key_id_is_distinct() {
        let keys = KeySet::dev();
        let mut signature = keys.sign(b"x");
        signature.key_id = id("someone-else");
        assert_eq!(
            keys.verify(b"x", &signature),
            Err(SigningError::UnknownKeyId("someone-else".into()))
        );
    }

    #[test]
    fn extra_public_key_list_parsing() {
        let (a, _) = SigningKey::generate().unwrap();
        let (b, _) = SigningKey::generate().unwrap();
        let list = format!(
            " old-a = {} ,\n old-b={},",
            a.verifying_key().to_base64(),
            b64::encode_url(b.verifying_key().as_bytes())
        );
        let set = PublicKeySet::parse_list(&list).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("old-a"), Some(a.verifying_key()));
        assert_eq!(set.get("old-b"), Some(b.verifying_key()));
        assert!(PublicKeySet::parse_list("  ").unwrap().is_empty());
    }

    #[test]
    fn extra_public_key_list_errors_name_the_entry_not_the_key() {
        let good = SigningKey::dev().verifying_key().to_base64();
        let short = b64::encode_std(&[9u8; 16]);

        let err = PublicKeySet::parse_list(&format!("k1={good},{short}")).unwrap_err();
        assert_eq!(
            err,
            SigningError::InvalidKeyEntry {
                position: 2,
                key_id: None,
                reason: "expected key_id=base64_public_key".into()
            }
        );
        assert!(!err.to_string().contains(&short));

        let err = PublicKeySet::parse_list(&format!("k1={good},k2={short}")).unwrap_err();
        assert!(
            matches!(&err, SigningError::InvalidKeyEntry { position: 2, key_id: Some(k), .. } if k == "k2")
        );
        assert!(err.to_string().contains("k2"));
        assert!(!err.to_string().contains(&short));

        let err = PublicKeySet::parse_list("k1=%%%%").unwrap_err();
        assert!(err.to_string().contains("k1"), "{err}");
        assert!(!err.to_string().contains("%%%%"));

        assert!(PublicKeySet::parse_list(&format!("a:b={good}")).is_err());
        let (other, _) = SigningKey::generate().unwrap();
        let other = other.verifying_key().to_base64();
        assert_eq!(
            PublicKeySet::parse_list(&format!("k1={good},k1={other}")).unwrap_err(),
            SigningError::DuplicateKeyId("k1".into())
        );
        // Repeating an identical entry is harmless.
        assert_eq!(
            PublicKeySet::parse_list(&format!("k1={good},k1={good}"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn rotation_keeps_old_signatures_verifiable() {
        let (key_a, _) = SigningKey::generate().unwrap();
        let public_a = key_a.verifying_key().to_base64();
        let set_a = KeySet::new(id("key-a"), key_a);
        let old_signature = set_a.sign(b"receipt");

        let (key_b, _) = SigningKey::generate().unwrap();
        let set_b = KeySet::new(id("key-b"), key_b)
            .with_extra_public_keys(&format!("key-a={public_a}"))
            .unwrap();
        set_b.verify(b"receipt", &old_signature).unwrap();
        let new_signature = set_b.sign(b"receipt");
        assert_eq!(new_signature.key_id.as_str(), "key-b");
        set_b.verify(b"receipt", &new_signature).unwrap();

        let infos = set_b.public_keys().infos();
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].key_id, "key-b");
        assert_eq!(infos[1].key_id, "key-a");
        assert_eq!(infos[1].public_key, public_a);

        // Without the extra key the old receipt is unverifiable, and says why.
        let (key_c, _) = SigningKey::generate().unwrap();
        let set_c = KeySet::new(id("key-c"), key_c);
        assert_eq!(
            set_c.verify(b"receipt", &old_signature),
            Err(SigningError::UnknownKeyId("key-a".into()))
        );
    }

    #[test]
    fn an_extra_key_cannot_replace_the_active_one() {
        let (other, _) = SigningKey::generate().unwrap();
        let err = KeySet::dev()
            .with_extra_public_keys(&format!(
                "{DEV_KEY_ID}={}",
                other.verifying_key().to_base64()
            ))
            .unwrap_err();
        assert_eq!(err, SigningError::DuplicateKeyId(DEV_KEY_ID.into()));
    }

    #[test]
    fn public_key_info_serializes_like_upstream() {
        let infos = KeySet::dev().public_keys().infos();
        assert_eq!(
            serde_json::to_string(&infos).unwrap(),
            format!(
                r#"[{{"key_id":"{DEV_KEY_ID}","algorithm":"ed25519","public_key":"{DEV_PUBLIC}"}}]"#
            )
        );
        let set = PublicKeySet::from_infos(&infos).unwrap();
        assert_eq!(set.get(DEV_KEY_ID), Some(SigningKey::dev().verifying_key()));
        let mut wrong = infos.clone();
        wrong[0].algorithm = "ecdsa".into();
        assert!(matches!(
            PublicKeySet::from_infos(&wrong),
            Err(SigningError::UnsupportedAlgorithm(_))
        ));
    }
}

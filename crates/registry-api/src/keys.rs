//! The registry's signing keys: the configured key, or in dev mode a generated one that persists
//! in ANIP_REGISTRY_DEV_KEY_FILE or, without that file, in the database (so every replica of a
//! dev registry signs with the same key). The upstream development key, which anyone can derive
//! from a public string, is never generated or used by default.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use signing::ed25519::SigningKey;
use signing::{KeyId, KeySet, Secret};

use crate::config::{Config, ConfiguredKey, Mode};
use crate::store::Store;

/// A key id derived from the public key: `anip-registry-dev-<16 hex>`.
pub fn derived_key_id(key: &SigningKey) -> KeyId {
    let fingerprint = signing::sha256_hex(key.verifying_key().as_bytes());
    match KeyId::new(format!("anip-registry-dev-{}", &fingerprint[..16])) {
        Ok(id) => id,
        // The derived id only has letters, digits and '-', which KeyId always accepts.
        Err(_) => unreachable!("derived key ids are valid"),
    }
}

/// Why the signing keys could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("ANIP_REGISTRY_DEV_KEY_FILE {path}: {reason}")]
    DevKeyFile { path: String, reason: String },
    #[error("loading the dev signing key from the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("generating a dev signing key: {0}")]
    Generate(signing::SigningError),
}

/// The file format of ANIP_REGISTRY_DEV_KEY_FILE.
#[derive(Serialize, Deserialize)]
struct DevKeyFile {
    key_id: String,
    ed25519_seed_base64: String,
}

/// Builds the key set: the active key (configured, or in dev mode generated and persisted) plus
/// ANIP_REGISTRY_EXTRA_PUBLIC_KEYS. `configured` is what [`Config::check`] returned.
pub async fn key_set(
    config: &Config,
    configured: Option<ConfiguredKey>,
    store: &Store,
) -> Result<KeySet, KeyError> {
    let (key_id, key) = match configured {
        Some(ConfiguredKey { key_id, key }) => {
            if config.mode == Mode::Dev && key.is_dev_key() {
                tracing::warn!(
                    event = "registry_dev_key_in_use",
                    key_id = %key_id,
                    "the configured key is the upstream development key: receipts are forgeable"
                );
            }
            (key_id, key)
        }
        None => match &config.dev_key_file {
            Some(path) => dev_key_from_file(path)?,
            None => dev_key_from_store(store).await?,
        },
    };
    let mut keys = KeySet::new(key_id, key);
    for (id, public) in config.extra_public_keys()?.iter() {
        if id == keys.active_key_id() {
            continue;
        }
        keys.add_public_key(id.clone(), *public)
            .map_err(|e| crate::config::ConfigError {
                variable: "ANIP_REGISTRY_EXTRA_PUBLIC_KEYS",
                problem: e.to_string(),
            })?;
    }
    Ok(keys)
}

fn decode(key_id: &str, seed: &str) -> Result<(KeyId, SigningKey), String> {
    let key = SigningKey::from_base64(seed).map_err(|e| e.to_string())?;
    let key_id = KeyId::new(key_id).map_err(|e| e.to_string())?;
    Ok((key_id, key))
}

fn dev_key_from_file(path: &Path) -> Result<(KeyId, SigningKey), KeyError> {
    let failed = |reason: String| KeyError::DevKeyFile {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let file: DevKeyFile = serde_json::from_slice(&bytes)
                .map_err(|e| failed(format!("not a dev key file: {e}")))?;
            decode(&file.key_id, &file.ed25519_seed_base64).map_err(failed)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let (key, seed) = SigningKey::generate().map_err(KeyError::Generate)?;
            let key_id = derived_key_id(&key);
            write_new_key_file(path, &key_id, &seed).map_err(|e| failed(e.to_string()))?;
            tracing::info!(
                event = "registry_dev_key_generated",
                key_id = %key_id,
                path = %path.display(),
                "generated a dev signing key"
            );
            // Another replica may have won the race to create the file: read whatever is there.
            dev_key_from_file_existing(path).map_err(failed)
        }
        Err(error) => Err(failed(error.to_string())),
    }
}

fn dev_key_from_file_existing(path: &Path) -> Result<(KeyId, SigningKey), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let file: DevKeyFile = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    decode(&file.key_id, &file.ed25519_seed_base64)
}

fn write_new_key_file(path: &Path, key_id: &KeyId, seed: &Secret) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let contents = serde_json::to_vec_pretty(&DevKeyFile {
        key_id: key_id.to_string(),
        ed25519_seed_base64: seed.expose().to_owned(),
    })
    .map_err(std::io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&contents)?;
            file.sync_all()
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

async fn dev_key_from_store(store: &Store) -> Result<(KeyId, SigningKey), KeyError> {
    let (candidate, seed) = SigningKey::generate().map_err(KeyError::Generate)?;
    let candidate_id = derived_key_id(&candidate);
    // Insert-if-absent then read: concurrent replicas converge on whichever row won.
    let (key_id, seed_b64) = store
        .dev_key_get_or_insert(candidate_id.as_str(), seed.expose())
        .await?;
    let (key_id, key) = decode(&key_id, &seed_b64).map_err(|reason| KeyError::DevKeyFile {
        path: "registry_dev_keys".to_owned(),
        reason,
    })?;
    if key_id == candidate_id {
        tracing::info!(event = "registry_dev_key_generated", key_id = %key_id, "generated a dev signing key, kept in the database");
    }
    Ok((key_id, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_key_file_is_created_once_and_reused() {
        let dir =
            std::env::temp_dir().join(format!("anip-registry-keytest-{}", std::process::id()));
        let path = dir.join("nested").join("dev-key.json");
        let _ = std::fs::remove_dir_all(&dir);
        let (id1, key1) = dev_key_from_file(&path).unwrap();
        let (id2, key2) = dev_key_from_file(&path).unwrap();
        assert_eq!(id1, id2);
        assert_eq!(key1.verifying_key(), key2.verifying_key());
        assert!(!key1.is_dev_key());
        assert!(id1.as_str().starts_with("anip-registry-dev-"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"garbage").unwrap();
        assert!(dev_key_from_file(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

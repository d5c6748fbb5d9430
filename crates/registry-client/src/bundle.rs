//! `anip-package-bundle/v1`: a package, its receipt and its registry's public keys in one
//! portable file, verifiable offline.
//!
//! The shape is upstream's (`generator.PackageBundle` and the Studio exporter): the package
//! record, top-level copies of its manifest, definition, lock and lineage, the receipt, the
//! registry's keys and a `digests` summary. Bundles written by [`PackageBundle::from_registry`]
//! add three members upstream readers ignore: `registry_url`, `registry_signing_mode` and
//! `registry_active_key_id`, so that `--require-mode` can be checked offline.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use signing::PublicKeyInfo;

use crate::model::{PackageRecord, Receipt, RegistryKeys};
use crate::RegistryError;

/// `bundle_schema_version` of every bundle this crate reads and writes.
pub const BUNDLE_SCHEMA_VERSION: &str = "anip-package-bundle/v1";

/// `authority` of a bundle pulled from a registry over its API.
pub const REMOTE_REGISTRY_AUTHORITY: &str = "remote-registry";

/// The bundle's `digests` summary. Upstream writes the receipt's id here, or (older Studio
/// exports) its signature, or nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BundleDigests {
    /// The manifest digest.
    pub manifest: String,
    /// The definition digest.
    pub service_definition: String,
    /// The lock digest.
    pub lock: String,
    /// The receipt id (or signature).
    pub receipt: String,
    /// Fields this client does not know (e.g. `package_execution`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An `anip-package-bundle/v1` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackageBundle {
    /// `anip-package-bundle/v1`.
    pub bundle_schema_version: String,
    /// `remote-registry`, `local-dev-registry` or `local-studio`.
    #[serde(default)]
    pub authority: String,
    /// The publication summary (upstream bundles sometimes carry only the ids).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub publication: Value,
    /// The package record.
    pub package: PackageRecord,
    /// The receipt.
    #[serde(default)]
    pub receipt: Receipt,
    /// Copy of `package.lineage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Value>,
    /// Copy of `package.manifest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Value>,
    /// Copy of `package.service_definition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_definition: Option<Value>,
    /// Copy of `package.recommended_lock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<Value>,
    /// The registry's public keys when the bundle was made.
    #[serde(default)]
    pub registry_keys: Vec<PublicKeyInfo>,
    /// Digest summary.
    #[serde(default)]
    pub digests: BundleDigests,
    /// Ours: the registry API base the bundle was pulled from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry_url: String,
    /// Ours: the registry's signing mode (`dev`/`production`) when the bundle was pulled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry_signing_mode: String,
    /// Ours: the registry's active key id when the bundle was pulled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry_active_key_id: String,
    /// Members this client does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Record members copied into a bundle's `publication`, as upstream's exporters do.
const PUBLICATION_FIELDS: [&str; 10] = [
    "package_id",
    "package_version",
    "project_ref",
    "product_revision_ref",
    "developer_revision_ref",
    "contract_signature",
    "publisher_id",
    "publisher_type",
    "lineage",
    "published_at",
];

impl PackageBundle {
    /// A bundle of what a registry served: the downloaded record, its receipt and the
    /// registry's keys (`GET keys`), in upstream's `remote-registry` shape.
    pub fn from_registry(
        registry_url: &str,
        package: PackageRecord,
        receipt: Receipt,
        keys: RegistryKeys,
    ) -> Self {
        let publication: Map<String, Value> = PUBLICATION_FIELDS
            .iter()
            .filter_map(|field| {
                package
                    .get(field)
                    .map(|value| ((*field).to_owned(), value.clone()))
            })
            .collect();
        let digests = BundleDigests {
            manifest: package.str("manifest_digest").to_owned(),
            service_definition: package.str("definition_digest").to_owned(),
            lock: package.str("lock_digest").to_owned(),
            receipt: receipt.receipt_id.clone(),
            extra: Map::new(),
        };
        let receipt = Receipt {
            authority: REMOTE_REGISTRY_AUTHORITY.to_owned(),
            ..receipt
        };
        PackageBundle {
            bundle_schema_version: BUNDLE_SCHEMA_VERSION.to_owned(),
            authority: REMOTE_REGISTRY_AUTHORITY.to_owned(),
            publication: Value::Object(publication),
            lineage: package.get("lineage").cloned(),
            manifest: package.manifest().cloned(),
            service_definition: package.service_definition().cloned(),
            lock: package.recommended_lock().cloned(),
            package,
            receipt,
            registry_keys: keys.items,
            digests,
            registry_url: registry_url.to_owned(),
            registry_signing_mode: keys.signing_mode,
            registry_active_key_id: keys.active_key_id,
            extra: Map::new(),
        }
    }

    /// What the bundle records about its registry, as a `GET keys` response would say it.
    /// `signing_mode` is empty for upstream bundles, which do not record it.
    pub fn registry_keys(&self) -> RegistryKeys {
        RegistryKeys {
            signing_mode: self.registry_signing_mode.clone(),
            active_key_id: self.registry_active_key_id.clone(),
            items: self.registry_keys.clone(),
        }
    }

    /// Parses a bundle document.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, RegistryError> {
        serde_json::from_slice(bytes).map_err(|err| RegistryError::InvalidBundle(err.to_string()))
    }

    /// Reads a bundle file: a regular file of at most [`crate::DEFAULT_MAX_FILE_BYTES`]
    /// ([`crate::read_file_limited`]).
    pub fn read(path: &Path) -> Result<Self, RegistryError> {
        let bytes = crate::read_file_limited(path, crate::DEFAULT_MAX_FILE_BYTES)?;
        PackageBundle::from_slice(&bytes)
    }

    /// The bundle as indented JSON with a trailing newline.
    pub fn to_json_pretty(&self) -> Result<Vec<u8>, RegistryError> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|err| RegistryError::InvalidBundle(err.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Writes the bundle to `path`, through a temporary file in the same directory and a
    /// rename, so a reader never sees half a bundle.
    pub fn write(&self, path: &Path) -> Result<(), RegistryError> {
        let io = |source| RegistryError::Io {
            action: "writing",
            path: path.to_owned(),
            source,
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| io(std::io::Error::other("not a file path")))?;
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(file_name);
        temporary_name.push(format!(".{}.tmp", std::process::id()));
        let temporary = path.with_file_name(temporary_name);
        std::fs::write(&temporary, self.to_json_pretty()?).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(|err| {
            let _ = std::fs::remove_file(&temporary);
            io(err)
        })
    }
}

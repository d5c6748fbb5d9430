//! The package the runtime serves: read from a bundle, verified, and turned into the
//! declarations, backend bindings and runtime settings of one service.
//!
//! Architecture Invariant: nothing is served from a bundle that failed verification; the
//! runtime refuses to start instead.

pub mod binding;
pub mod bundle;
pub mod definition;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

pub use binding::{CapabilityMapping, Connection, HttpBinding};
pub use bundle::{BundleCheck, BundleVerifier, SharedVerifier};

use crate::contract::{validate_declarations, CapabilityDeclaration, CapabilityKind};

/// Why a package cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The file cannot be read or is not JSON.
    #[error("reading the bundle: {0}")]
    Read(String),
    /// The bundle is not shaped as `anip-package-bundle/v1`.
    #[error("the bundle is malformed: {0}")]
    Bundle(String),
    /// A digest or copy does not match what the bundle carries.
    #[error("the bundle was modified after packaging: {0}")]
    Tampered(String),
    /// The receipt does not verify or is not trusted, or the package may no longer be used.
    #[error("the package is not trusted: {0}")]
    Untrusted(String),
    /// The service definition cannot be served.
    #[error("the service definition cannot be served: {0}")]
    Definition(String),
    /// A backend credential is missing.
    #[error("a backend credential is unavailable: {0}")]
    Credential(String),
}

/// `service_definition.anip_runtime.trust`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct TrustSettings {
    #[serde(default = "signed")]
    pub level: String,
    #[serde(default)]
    pub anchoring: Option<AnchoringSettings>,
}

fn signed() -> String {
    "signed".to_owned()
}

impl TrustSettings {
    /// Whether the service produces checkpoints: trust level `anchored` or `attested` (a loaded
    /// package at either level has `anchoring`, its checkpoint policy).
    pub fn is_anchored(&self) -> bool {
        self.level != "signed"
    }
}

impl Default for TrustSettings {
    fn default() -> Self {
        TrustSettings {
            level: signed(),
            anchoring: None,
        }
    }
}

/// The checkpoint policy (§7.5).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct AnchoringSettings {
    /// ISO 8601 duration between checkpoints.
    pub cadence: String,
    /// Entries after which a checkpoint is produced without waiting for the cadence.
    #[serde(default)]
    pub max_lag: Option<i64>,
    #[serde(default)]
    pub sink: Vec<String>,
}

/// `service_definition.anip_runtime.failure_disclosure`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct DisclosureSettings {
    /// `full`, `reduced`, `redacted` or `policy`.
    #[serde(default = "redacted")]
    pub detail_level: String,
    /// Caller class → level, used when `detail_level` is `policy`.
    #[serde(default)]
    pub disclosure_policy: BTreeMap<String, String>,
}

fn redacted() -> String {
    "redacted".to_owned()
}

impl Default for DisclosureSettings {
    fn default() -> Self {
        DisclosureSettings {
            detail_level: redacted(),
            disclosure_policy: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
struct RuntimeSection {
    #[serde(default)]
    service_id: Option<String>,
    #[serde(default)]
    trust: TrustSettings,
    #[serde(default)]
    failure_disclosure: DisclosureSettings,
    #[serde(default)]
    manifest_version: Option<String>,
}

/// Deployment choices that are not part of the package.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Which service of a multi-service definition to serve (default: the first).
    pub service: Option<String>,
    /// Connection id → base URL, overriding the package's defaults.
    pub backend_urls: BTreeMap<String, String>,
    /// Check the definition only: do not read credentials or require backend URLs (used when
    /// packing a bundle on a machine that has no secrets).
    pub validate_only: bool,
}

/// A verified package, ready to serve.
#[derive(Clone, Debug)]
pub struct Package {
    pub package_id: String,
    pub package_version: String,
    /// The topology service served (selects the formalizations).
    pub topology_service: String,
    /// The ANIP service identity: `iss`/`aud` of tokens, `service_id` of checkpoints.
    pub service_id: String,
    /// Declarations in definition order (discovery and manifest keep this order).
    pub declarations: Vec<CapabilityDeclaration>,
    pub mappings: BTreeMap<String, CapabilityMapping>,
    pub connections: BTreeMap<String, Connection>,
    pub trust: TrustSettings,
    pub disclosure: DisclosureSettings,
    pub manifest_version: String,
    /// `sha256:` digest of the service definition, reported in the manifest metadata.
    pub definition_digest: String,
}

impl Package {
    /// The declaration named `name`.
    pub fn declaration(&self, name: &str) -> Option<&CapabilityDeclaration> {
        self.declarations.iter().find(|d| d.name == name)
    }
}

/// Reads, verifies and loads a bundle file.
pub fn load_bundle_file(
    path: &Path,
    verifier: &dyn BundleVerifier,
    options: &LoadOptions,
) -> Result<Package, PackageError> {
    // Bounded, and only a regular file: a device or a FIFO named by mistake is refused, not
    // read until memory runs out.
    let bytes = registry_client::read_file_limited(path, registry_client::DEFAULT_MAX_FILE_BYTES)
        .map_err(|e| PackageError::Read(e.to_string()))?;
    let bundle: Value = serde_json::from_slice(&bytes)
        .map_err(|e| PackageError::Read(format!("{}: {e}", path.display())))?;
    load_bundle(&bundle, verifier, options)
}

/// Verifies a bundle with `verifier` and loads it.
pub fn load_bundle(
    bundle: &Value,
    verifier: &dyn BundleVerifier,
    options: &LoadOptions,
) -> Result<Package, PackageError> {
    let check = verifier.verify(bundle)?;
    load_checked(bundle, check, options)
}

/// Loads a bundle that verification accepted (`check` is what it established).
fn load_checked(
    bundle: &Value,
    check: BundleCheck,
    options: &LoadOptions,
) -> Result<Package, PackageError> {
    let definition = &bundle["package"]["service_definition"];
    let mut package = load_definition(definition, options)?;
    package.package_id = check.package_id;
    package.package_version = check.package_version;
    Ok(package)
}

/// Downloads `reference` from a Registry with its receipt and keys, verifies it with the shared
/// verifier (`registry_client::fetch_and_verify`) under the operator's `policy` (pinned keys,
/// trusted key id, required mode), and loads it. Nothing is served from a package whose
/// verification failed; a package the Registry refuses to serve (taken down) fails the
/// `lifecycle` check.
pub async fn load_from_registry(
    registry_url: &str,
    reference: &registry_client::PackageRef,
    policy: &registry_client::VerifyPolicy,
    allow_unsigned: bool,
    options: &LoadOptions,
) -> Result<Package, PackageError> {
    let registry = |e: registry_client::RegistryError| {
        PackageError::Read(format!(
            "registry {}: {e}",
            registry_client::redact_url(registry_url)
        ))
    };
    let client = registry_client::RegistryClient::new(registry_url).map_err(registry)?;
    let fetched = registry_client::fetch_and_verify(
        &client,
        &reference.package_id,
        &reference.package_version,
        policy,
    )
    .await;
    let (bundle, report) = match fetched {
        Ok(fetched) => fetched,
        // The Registry no longer serves it at all (410 with the lifecycle): the same verdict
        // `anip package verify` prints, a failed `lifecycle` check.
        Err(error) if error.status() == Some(410) => {
            let state = match error.lifecycle() {
                Some(l) if !l.reason.trim().is_empty() => format!("{}: {}", l.status, l.reason),
                Some(l) => l.status,
                None => error.to_string(),
            };
            return Err(PackageError::Untrusted(format!(
                "{}: the registry refuses {reference}: {state}",
                registry_client::CheckName::Lifecycle.as_str()
            )));
        }
        Err(error) => return Err(registry(error)),
    };
    let check = bundle::accept(
        &report,
        bundle.receipt.registry_signature.is_empty(),
        allow_unsigned,
    )?;
    let value = serde_json::to_value(&bundle).map_err(|e| PackageError::Bundle(e.to_string()))?;
    load_checked(&value, check, options)
}

/// Loads a service definition (already verified).
pub fn load_definition(definition: &Value, options: &LoadOptions) -> Result<Package, PackageError> {
    let schema = definition
        .get("contract_schema_version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if schema != definition::DEFINITION_SCHEMA {
        return Err(PackageError::Definition(format!(
            "contract_schema_version is {schema:?}, expected {}",
            definition::DEFINITION_SCHEMA
        )));
    }
    let services = definition::service_ids(definition);
    let topology_service = match &options.service {
        Some(wanted) if services.contains(wanted) => wanted.clone(),
        Some(wanted) => {
            return Err(PackageError::Definition(format!(
                "service {wanted} is not in the definition (it has {services:?})"
            )));
        }
        None => services
            .first()
            .cloned()
            .or_else(|| runtime_section(definition).ok().and_then(|r| r.service_id))
            .ok_or_else(|| PackageError::Definition("the definition names no service".into()))?,
    };
    let declarations = definition::declarations_for_service(definition, &topology_service)?;
    if declarations.is_empty() {
        return Err(PackageError::Definition(format!(
            "service {topology_service} declares no capability"
        )));
    }
    validate_declarations(&declarations).map_err(|e| PackageError::Definition(e.to_string()))?;
    let runtime = runtime_section(definition)?;
    let (connection_specs, mapping_list) = binding::read_fronting(definition)?;
    let mut connections = BTreeMap::new();
    for spec in &connection_specs {
        let connection = if options.validate_only {
            binding::Connection {
                id: spec.id.clone(),
                base_url: spec.base_url.clone().unwrap_or_default(),
                timeout: std::time::Duration::from_millis(spec.timeout_ms.unwrap_or(10_000)),
                credential: None,
            }
        } else {
            binding::resolve_connection(
                spec,
                options.backend_urls.get(&spec.id).map(String::as_str),
            )?
        };
        connections.insert(spec.id.clone(), connection);
    }
    let mut mappings = BTreeMap::new();
    for mapping in mapping_list {
        if declarations.iter().all(|d| d.name != mapping.capability_id) {
            continue;
        }
        if let Some(http) = &mapping.http {
            if !connections.contains_key(&http.connection_ref) {
                return Err(PackageError::Definition(format!(
                    "capability {} uses connection {}, which is not declared",
                    mapping.capability_id, http.connection_ref
                )));
            }
        }
        mappings.insert(mapping.capability_id.clone(), mapping);
    }
    for declaration in &declarations {
        if declaration.kind == CapabilityKind::Composed
            && mappings
                .get(&declaration.name)
                .is_some_and(|m| m.http.is_some())
        {
            return Err(PackageError::Definition(format!(
                "capability {} is composed and must not have a backend binding",
                declaration.name
            )));
        }
    }
    let trust = runtime.trust.clone();
    if !["signed", "anchored", "attested"].contains(&trust.level.as_str()) {
        return Err(PackageError::Definition(format!(
            "unknown trust level {:?}",
            trust.level
        )));
    }
    if trust.is_anchored() && trust.anchoring.is_none() {
        return Err(PackageError::Definition(format!(
            "trust level {} needs anchoring (a checkpoint policy)",
            trust.level
        )));
    }
    if let Some(anchoring) = &trust.anchoring {
        crate::duration::parse_iso8601(&anchoring.cadence).ok_or_else(|| {
            PackageError::Definition(format!(
                "anchoring.cadence {:?} is not an ISO 8601 duration",
                anchoring.cadence
            ))
        })?;
    }
    let level = runtime.failure_disclosure.detail_level.as_str();
    if level != "policy" && crate::failure::DisclosureLevel::parse(level).is_none() {
        return Err(PackageError::Definition(format!(
            "unknown failure_disclosure.detail_level {level:?}"
        )));
    }
    Ok(Package {
        package_id: String::new(),
        package_version: String::new(),
        service_id: runtime
            .service_id
            .clone()
            .unwrap_or_else(|| topology_service.clone()),
        topology_service,
        declarations,
        mappings,
        connections,
        trust,
        disclosure: runtime.failure_disclosure,
        manifest_version: runtime
            .manifest_version
            .unwrap_or_else(|| "1.0.0".to_owned()),
        definition_digest: signing::digest_value(definition),
    })
}

fn runtime_section(definition: &Value) -> Result<RuntimeSection, PackageError> {
    match definition.get("anip_runtime") {
        None => Ok(RuntimeSection::default()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| PackageError::Definition(format!("anip_runtime: {e}"))),
    }
}

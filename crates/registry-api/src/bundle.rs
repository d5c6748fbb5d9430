//! Importing an upstream `anip-package-bundle/v1`: the package keeps the bundle's digests and,
//! when it verifies and this registry may vouch for its key, the bundle's own receipt, so a
//! download returns exactly what upstream published.
//!
//! Receipt policy:
//! - An Ed25519 receipt must verify (current payload, then the legacy one without
//!   `package_execution_signature`) against the bundle's `registry_keys`, this registry's keys,
//!   or, for upstream's dev key id, upstream's derivable dev key. A receipt that does not verify
//!   refuses the import.
//! - A verified receipt is kept in dev mode, and in production mode only when its key is one of
//!   this registry's own; its foreign key is then advertised by `GET keys` so clients can verify.
//! - Otherwise (no signature, e.g. a `local-studio` export, or a dev-key receipt imported into a
//!   production registry) the registry issues its own receipt over the bundle's recorded digests.

use serde_json::Value;
use signing::digest::digest_value;
use signing::ed25519::{SigningKey, DEV_KEY_ID};
use signing::{KeyId, KeySet, PayloadVersion, PublicKeyInfo, PublicKeySet, RegistrySignature};

use crate::config::Mode;
use crate::ids::{PackageId, Version};
use crate::model::{JsonMap, Receipt};
use crate::publish::settle_lineage;
use crate::record::{PackageRecord, Rendered};
use crate::validate::{self, invalid, str_field, Invalid, SCHEMA_VERSION};

/// The bundle schema this importer reads.
pub const BUNDLE_SCHEMA: &str = "anip-package-bundle/v1";

/// A bundle ready to store.
#[derive(Debug, Clone)]
pub struct ImportedPackage {
    pub record: PackageRecord,
    pub rendered: Rendered,
    pub receipt: Receipt,
    pub payload_version: PayloadVersion,
    /// A foreign public key to advertise (it verified the kept receipt).
    pub imported_key: Option<(String, String)>,
    /// Whether the registry signed a new receipt instead of keeping the bundle's.
    pub resigned: bool,
    /// The digests that do not reproduce from the bundle's content (`manifest`,
    /// `service_definition`, `lock`); kept as recorded regardless.
    pub digest_mismatches: Vec<&'static str>,
}

fn object<'a>(value: &'a Value, key: &str) -> Option<&'a JsonMap> {
    value.get(key).and_then(Value::as_object)
}

fn text<'a>(value: Option<&'a JsonMap>, key: &str) -> &'a str {
    value
        .and_then(|map| str_field(map, key))
        .unwrap_or_default()
}

fn first<'a>(candidates: &[&'a str]) -> &'a str {
    candidates
        .iter()
        .copied()
        .find(|c| !c.trim().is_empty())
        .unwrap_or_default()
}

/// Reads, checks and (when needed) re-signs a bundle. `now` is the issue time of a new receipt.
pub fn import_bundle(
    bundle: &Value,
    mode: Mode,
    keys: &KeySet,
    now: &str,
) -> Result<ImportedPackage, Invalid> {
    if bundle.get("bundle_schema_version").and_then(Value::as_str) != Some(BUNDLE_SCHEMA) {
        return Err(invalid(
            "bundle_schema_version",
            format!("must be {BUNDLE_SCHEMA}"),
        ));
    }
    let package = object(bundle, "package").ok_or_else(|| invalid("package", "is required"))?;
    let publication = object(bundle, "publication");
    let receipt_in = object(bundle, "receipt");
    let digests = object(bundle, "digests");
    let pkg = Some(package);

    let document = |package_key: &str, bundle_key: &str| -> Result<JsonMap, Invalid> {
        package
            .get(package_key)
            .and_then(Value::as_object)
            .or_else(|| object(bundle, bundle_key))
            .cloned()
            .ok_or_else(|| invalid(format!("package.{package_key}"), "is required"))
    };
    let manifest = document("manifest", "manifest")?;
    let service_definition = document("service_definition", "service_definition")?;
    let recommended_lock = document("recommended_lock", "lock")?;

    let package_id = PackageId::parse(first(&[
        text(pkg, "package_id"),
        text(publication, "package_id"),
    ]))?;
    let package_version = Version::parse(first(&[
        text(pkg, "package_version"),
        text(publication, "package_version"),
    ]))?;

    let lineage = package
        .get("lineage")
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
        .or_else(|| object(bundle, "lineage").filter(|l| !l.is_empty()))
        .cloned()
        .or_else(|| settle_lineage(None, &manifest, &recommended_lock));
    let lineage_ref = |revision: &str| -> String {
        lineage
            .as_ref()
            .and_then(|l| l.get(revision))
            .and_then(Value::as_object)
            .and_then(|r| str_field(r, "ref"))
            .unwrap_or_default()
            .to_owned()
    };
    let lineage_project = lineage
        .as_ref()
        .and_then(|l| str_field(l, "project_ref"))
        .unwrap_or_default()
        .to_owned();
    let product_from_lineage = lineage_ref("product_revision");
    let developer_from_lineage = lineage_ref("developer_revision");

    let digest_field = |package_key: &str, bundle_key: &str| -> Result<String, Invalid> {
        let value = first(&[text(pkg, package_key), text(digests, bundle_key)]);
        if !validate::is_sha256_digest(value) {
            return Err(invalid(
                format!("package.{package_key}"),
                "must be sha256:<64 hex chars>",
            ));
        }
        Ok(value.to_owned())
    };
    let execution_signature = first(&[
        text(pkg, "package_execution_signature"),
        str_field(&manifest, "package_execution_signature").unwrap_or_default(),
        str_field(&recommended_lock, "package_execution_signature").unwrap_or_default(),
    ])
    .to_owned();

    let record = PackageRecord {
        package_id: package_id.into_inner(),
        package_version: package_version.into_inner(),
        project_ref: first(&[
            text(pkg, "project_ref"),
            text(publication, "project_ref"),
            &lineage_project,
        ])
        .to_owned(),
        product_revision_ref: first(&[
            text(pkg, "product_revision_ref"),
            text(publication, "product_revision_ref"),
            &product_from_lineage,
        ])
        .to_owned(),
        developer_revision_ref: first(&[
            text(pkg, "developer_revision_ref"),
            text(publication, "developer_revision_ref"),
            &developer_from_lineage,
        ])
        .to_owned(),
        contract_signature: first(&[
            text(pkg, "contract_signature"),
            text(publication, "contract_signature"),
        ])
        .to_owned(),
        publisher_id: first(&[
            text(pkg, "publisher_id"),
            text(publication, "publisher_id"),
            text(receipt_in, "publisher_id"),
        ])
        .to_owned(),
        publisher_type: first(&[
            text(pkg, "publisher_type"),
            text(publication, "publisher_type"),
            text(receipt_in, "publisher_type"),
        ])
        .to_owned(),
        lineage,
        schema_version: first(&[text(pkg, "schema_version"), SCHEMA_VERSION]).to_owned(),
        manifest_digest: digest_field("manifest_digest", "manifest")?,
        definition_digest: digest_field("definition_digest", "service_definition")?,
        lock_digest: digest_field("lock_digest", "lock")?,
        package_execution_signature: execution_signature,
        published_at: first(&[
            text(pkg, "published_at"),
            text(publication, "published_at"),
            text(receipt_in, "issued_at"),
            now,
        ])
        .to_owned(),
        manifest,
        service_definition,
        recommended_lock,
    };
    for (field, value) in [
        ("package.project_ref", &record.project_ref),
        ("package.product_revision_ref", &record.product_revision_ref),
        (
            "package.developer_revision_ref",
            &record.developer_revision_ref,
        ),
        ("package.contract_signature", &record.contract_signature),
        ("package.publisher_id", &record.publisher_id),
        ("package.publisher_type", &record.publisher_type),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(field, "is required"));
        }
    }
    for (label, map) in [
        ("manifest", &record.manifest),
        ("service_definition", &record.service_definition),
        ("recommended_lock", &record.recommended_lock),
    ] {
        validate::resource_limits(label, map)?;
    }

    let mut digest_mismatches = Vec::new();
    for (name, map, recorded) in [
        ("manifest", &record.manifest, &record.manifest_digest),
        (
            "service_definition",
            &record.service_definition,
            &record.definition_digest,
        ),
        ("lock", &record.recommended_lock, &record.lock_digest),
    ] {
        if &digest_value(&Value::Object(map.clone())) != recorded {
            digest_mismatches.push(name);
        }
    }

    let (receipt, payload_version, imported_key, resigned) =
        settle_receipt(bundle, &record, receipt_in, mode, keys, now)?;
    let rendered = record.render();
    Ok(ImportedPackage {
        record,
        rendered,
        receipt,
        payload_version,
        imported_key,
        resigned,
        digest_mismatches,
    })
}

type Settled = (Receipt, PayloadVersion, Option<(String, String)>, bool);

fn settle_receipt(
    bundle: &Value,
    record: &PackageRecord,
    receipt_in: Option<&JsonMap>,
    mode: Mode,
    keys: &KeySet,
    now: &str,
) -> Result<Settled, Invalid> {
    let signature_text = first(&[
        text(receipt_in, "registry_signature"),
        object(bundle, "digests")
            .and_then(|d| str_field(d, "receipt"))
            .filter(|r| r.starts_with("ed25519:"))
            .unwrap_or_default(),
    ]);
    if !signature_text.is_empty() {
        let signature = RegistrySignature::parse(signature_text)
            .map_err(|e| invalid("receipt.registry_signature", format!("is malformed: {e}")))?;
        let key_id = signature.key_id.as_str();
        let issued_at = text(receipt_in, "issued_at");
        if issued_at.is_empty() {
            return Err(invalid("receipt.issued_at", "is required"));
        }
        for (field, expected) in [
            ("receipt.package_id", &record.package_id),
            ("receipt.package_version", &record.package_version),
        ] {
            let stated = text(receipt_in, field.trim_start_matches("receipt."));
            if !stated.is_empty() && stated != expected {
                return Err(invalid(field, "does not match the package"));
            }
        }

        // Candidate keys: the bundle's, ours, and upstream's derivable dev key.
        let bundle_keys: Vec<PublicKeyInfo> = bundle
            .get("registry_keys")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| invalid("registry_keys", format!("is malformed: {e}")))?
            .unwrap_or_default();
        let from_bundle = bundle_keys
            .iter()
            .find(|k| k.key_id == key_id && k.algorithm == "ed25519");
        let own = keys.public_keys().get(key_id);
        let candidate = match (own, from_bundle) {
            (Some(own), _) => Some((own, true)),
            (None, Some(info)) => Some((
                signing::VerifyingKey::from_base64(&info.public_key).map_err(|e| {
                    invalid("registry_keys", format!("key {key_id} is malformed: {e}"))
                })?,
                false,
            )),
            (None, None) if key_id == DEV_KEY_ID => {
                Some((SigningKey::dev().verifying_key(), false))
            }
            (None, None) => None,
        };
        let Some((public, is_own)) = candidate else {
            return Err(invalid(
                "receipt.registry_signature",
                format!("is signed by key {key_id}, which neither the bundle nor this registry provides"),
            ));
        };
        let mut set = PublicKeySet::new();
        let id =
            KeyId::new(key_id).map_err(|e| invalid("receipt.registry_signature", e.to_string()))?;
        set.insert(id, public)
            .map_err(|e| invalid("receipt.registry_signature", e.to_string()))?;
        let payload = record.receipt_payload(issued_at);
        let version = payload.verify(&set, signature_text).map_err(|e| {
            invalid(
                "receipt.registry_signature",
                format!("does not verify: {e}"),
            )
        })?;

        // Production registries vouch only for their own keys: a foreign key (above all
        // upstream's public dev key) would let anyone mint receipts that verify here.
        let keep = is_own || mode == Mode::Dev;
        if keep {
            let receipt = Receipt {
                receipt_id: first(&[text(receipt_in, "receipt_id"), &payload.receipt_id()])
                    .to_owned(),
                package_id: record.package_id.clone(),
                package_version: record.package_version.clone(),
                registry_signature: signature_text.to_owned(),
                signature_algorithm: signature.algorithm().to_owned(),
                key_id: key_id.to_owned(),
                publisher_id: first(&[text(receipt_in, "publisher_id"), &record.publisher_id])
                    .to_owned(),
                publisher_type: first(&[
                    text(receipt_in, "publisher_type"),
                    &record.publisher_type,
                ])
                .to_owned(),
                issued_at: issued_at.to_owned(),
            };
            let imported_key = (!is_own).then(|| (key_id.to_owned(), public.to_base64()));
            return Ok((receipt, version, imported_key, false));
        }
    }

    // Sign our own receipt over the recorded digests.
    let payload = record.receipt_payload(now);
    let signature = payload.sign(keys);
    let receipt = Receipt {
        receipt_id: payload.receipt_id(),
        package_id: record.package_id.clone(),
        package_version: record.package_version.clone(),
        registry_signature: signature.to_string(),
        signature_algorithm: signature.algorithm().to_owned(),
        key_id: signature.key_id.to_string(),
        publisher_id: record.publisher_id.clone(),
        publisher_type: record.publisher_type.clone(),
        issued_at: now.to_owned(),
    };
    Ok((receipt, PayloadVersion::Current, None, true))
}

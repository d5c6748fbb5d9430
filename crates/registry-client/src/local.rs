//! Studio-local receipts: what upstream Studio writes for a package it published only locally
//! (authority `local-studio`). Studio holds no signing key, so such a receipt is two `sha256:`
//! digests instead of a registry signature:
//!
//! * `receipt_id`: the digest of `{authority, package_id, package_version, issued_at}`;
//! * `registry_signature`: the digest of [`local_receipt_payload`], which binds the contract
//!   signature, the three document digests, the package execution signature and the lineage.
//!
//! Anyone can recompute both, so a local receipt proves that a package is intact as Studio
//! recorded it, never who published it. The digests come from `signing::digest_value`.

use serde_json::{json, Map, Value};
use signing::digest_value;

use crate::model::PackageRecord;

/// The authority of Studio-local publications and their receipts.
pub const LOCAL_STUDIO_AUTHORITY: &str = "local-studio";

/// The `receipt_id` of a Studio-local receipt.
pub fn local_receipt_id(
    authority: &str,
    package_id: &str,
    package_version: &str,
    issued_at: &str,
) -> String {
    digest_value(&json!({
        "authority": authority,
        "package_id": package_id,
        "package_version": package_version,
        "issued_at": issued_at,
    }))
}

/// The lineage a local receipt binds: the record's, else the manifest's, else the lock's (the
/// first that is a non-empty object).
pub fn local_lineage(package: &PackageRecord) -> Option<&Map<String, Value>> {
    [
        package.get("lineage"),
        package.manifest().and_then(|m| m.get("lineage")),
        package.recommended_lock().and_then(|l| l.get("lineage")),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_object)
    .find(|lineage| !lineage.is_empty())
}

/// The package execution signature a local receipt binds: the first one stated by the record,
/// the manifest or the lock (empty when none is).
pub fn stated_execution_signature(package: &PackageRecord) -> &str {
    const KEY: &str = "package_execution_signature";
    [
        package.get(KEY),
        package.manifest().and_then(|m| m.get(KEY)),
        package.recommended_lock().and_then(|l| l.get(KEY)),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find(|text| !text.is_empty())
    .unwrap_or_default()
}

/// The document a Studio-local `registry_signature` is the digest of. The document digests are
/// recomputed from the documents, not copied from the record, so a changed document changes
/// the payload.
pub fn local_receipt_payload(package: &PackageRecord, authority: &str, issued_at: &str) -> Value {
    let null = Value::Null;
    let mut payload = json!({
        "authority": authority,
        "package_id": package.package_id(),
        "package_version": package.package_version(),
        "contract_signature": package.str("contract_signature"),
        "definition_digest": digest_value(package.service_definition().unwrap_or(&null)),
        "manifest_digest": digest_value(package.manifest().unwrap_or(&null)),
        "lock_digest": digest_value(package.recommended_lock().unwrap_or(&null)),
        "package_execution_signature": stated_execution_signature(package),
        "issued_at": issued_at,
    });
    if let (Some(lineage), Some(map)) = (local_lineage(package), payload.as_object_mut()) {
        map.insert("lineage".to_owned(), Value::Object(lineage.clone()));
    }
    payload
}

/// The `registry_signature` of a Studio-local receipt: the digest of
/// [`local_receipt_payload`].
pub fn local_receipt_digest(package: &PackageRecord, authority: &str, issued_at: &str) -> String {
    digest_value(&local_receipt_payload(package, authority, issued_at))
}

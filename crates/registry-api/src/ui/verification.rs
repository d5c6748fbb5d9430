//! The verification status a package page shows: the shared verifier of `registry-client`
//! run on the stored record and receipt against this registry's own advertised keys, exactly
//! what a client would check after downloading. There is no second verifier here.

use registry_client::{
    verify_package, PackageRecord, PackageRef, RegistryKeys, VerificationInput, VerificationReport,
    VerifyPolicy,
};
use serde_json::Value;
use signing::PublicKeyInfo;

use crate::app::AppState;
use crate::model::Receipt;
use crate::store::StoreError;

/// What `GET keys` advertises: the active key, rotation keys, then keys that verified
/// imported receipts.
pub async fn registry_keys(state: &AppState) -> Result<RegistryKeys, StoreError> {
    let mut items: Vec<PublicKeyInfo> = state.keys.public_keys().infos();
    for (key_id, public_key) in state.store.imported_keys().await? {
        if !items.iter().any(|k| k.key_id == key_id) {
            items.push(PublicKeyInfo {
                key_id,
                algorithm: "ed25519".into(),
                public_key,
            });
        }
    }
    Ok(RegistryKeys {
        signing_mode: state.mode.as_str().to_owned(),
        active_key_id: state.active_key_id().to_owned(),
        items,
    })
}

/// Verifies a stored record (with its live lifecycle spliced in) and receipt. Yanked
/// versions verify with a warning: the page shows the yank itself as a badge, and the
/// verification answers whether the content is intact and signed by this registry.
///
/// Takes the record by value (it can be megabytes) and hands it back for rendering.
pub fn verify(
    record: Value,
    receipt: Option<&Receipt>,
    keys: &RegistryKeys,
    package_id: &str,
    version: &str,
) -> (Value, Result<VerificationReport, String>) {
    let package = match PackageRecord::from_value(record) {
        Ok(package) => package,
        Err(error) => return (Value::Null, Err(error.to_string())),
    };
    let receipt = receipt
        .map(|r| registry_client::Receipt {
            receipt_id: r.receipt_id.clone(),
            package_id: r.package_id.clone(),
            package_version: r.package_version.clone(),
            registry_signature: r.registry_signature.clone(),
            signature_algorithm: r.signature_algorithm.clone(),
            key_id: r.key_id.clone(),
            publisher_id: r.publisher_id.clone(),
            publisher_type: r.publisher_type.clone(),
            issued_at: r.issued_at.clone(),
            ..registry_client::Receipt::default()
        })
        .unwrap_or_default();
    let requested = PackageRef::new(package_id, version);
    let policy = VerifyPolicy {
        allow_yanked: true,
        ..VerifyPolicy::default()
    };
    let report = verify_package(
        &VerificationInput {
            package: &package,
            receipt: &receipt,
            keys,
            requested: Some(&requested),
            bundle: None,
        },
        &policy,
    );
    (package.into_value(), Ok(report))
}

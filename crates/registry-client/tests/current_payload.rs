//! Packages as a current registry publishes them: with a package execution signature, a
//! receipt over the current payload, and a production key. Built from a real upstream package
//! (the gitlab showcase) with the `signing` crate, exactly as the Registry's publish path does.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use registry_client::{
    verify_bundle, CheckName, CheckStatus, PackageBundle, PackageRecord, Receipt, RegistryKeys,
    SigningMode, VerificationReport, VerifyPolicy,
};
use serde_json::{json, Value};
use signing::digest::{package_execution_signature, ExecutionSignatureInput};
use signing::{digest_value, KeyId, KeySet, PayloadVersion, ReceiptPayload, SigningKey};

fn gitlab_package() -> Value {
    let shared = std::env::var_os("ANIP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let path = shared.join(
        "fixtures/upstream/registry-bundles/gitlab-fronting-showcase-0.2.0.anip-package.json",
    );
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|err| panic!("fixture {} is required: {err}", path.display()));
    let bundle: Value = serde_json::from_slice(&bytes).unwrap();
    bundle["package"].clone()
}

fn production_keys() -> KeySet {
    let (key, _) = SigningKey::generate().unwrap();
    KeySet::new(KeyId::new("registry-prod-2026").unwrap(), key)
}

/// Stamps the execution signature and the digests into `package`, as publishing does.
fn publish(mut package: Value) -> Value {
    package["implementation_materials"] =
        json!([{"ref": "git+https://example.com/custom-code", "title": "Custom code"}]);
    let signature = package_execution_signature(&ExecutionSignatureInput {
        service_definition: &package["service_definition"],
        manifest: &package["manifest"],
        recommended_lock: &package["recommended_lock"],
        implementation_materials: package["implementation_materials"].as_array().unwrap(),
        lineage: package["lineage"].as_object(),
    });
    package["manifest"]["package_execution_signature"] = json!(signature);
    package["recommended_lock"]["package_execution_signature"] = json!(signature);
    package["package_execution_signature"] = json!(signature);
    package["manifest_digest"] = json!(digest_value(&package["manifest"]));
    package["lock_digest"] = json!(digest_value(&package["recommended_lock"]));
    package["lifecycle"] = json!({"status": "active"});
    package
}

fn receipt_for(package: &Value, keys: &KeySet, version: PayloadVersion) -> Receipt {
    let issued_at = "2026-06-01T12:00:00Z";
    let payload = ReceiptPayload::from_package(package, issued_at);
    let signature = keys.sign(&payload.to_bytes(version));
    Receipt {
        receipt_id: payload.receipt_id(),
        package_id: payload.package_id.clone(),
        package_version: payload.package_version.clone(),
        registry_signature: signature.to_string(),
        signature_algorithm: "ed25519".into(),
        key_id: signature.key_id.to_string(),
        publisher_id: payload.publisher_id.clone(),
        publisher_type: payload.publisher_type.clone(),
        issued_at: issued_at.into(),
        ..Receipt::default()
    }
}

fn bundle(package: Value, receipt: Receipt, keys: &KeySet, mode: &str) -> PackageBundle {
    PackageBundle::from_registry(
        "https://registry.example/registry-api/v1",
        PackageRecord::from_value(package).unwrap(),
        receipt,
        RegistryKeys {
            signing_mode: mode.into(),
            active_key_id: keys.active_key_id().to_string(),
            items: keys.public_keys().infos(),
        },
    )
}

fn failed(report: &VerificationReport) -> BTreeSet<&'static str> {
    report.failures().map(|check| check.name.as_str()).collect()
}

/// Production, with `keys` pinned: offline, a required mode means nothing without a pin.
fn production(keys: &KeySet) -> VerifyPolicy {
    VerifyPolicy {
        required_mode: Some(SigningMode::Production),
        require_execution_signature: true,
        trusted_keys: Some(keys.public_keys().clone()),
        ..VerifyPolicy::default()
    }
}

#[test]
fn a_current_production_package_passes_every_check() {
    let keys = production_keys();
    let package = publish(gitlab_package());
    let receipt = receipt_for(&package, &keys, PayloadVersion::Current);
    let bundle = bundle(package, receipt, &keys, "production");
    let policy = VerifyPolicy {
        trusted_key_id: Some("registry-prod-2026".into()),
        ..production(&keys)
    };
    let report = verify_bundle(&bundle, &policy);
    for check in &report.checks {
        println!("{check}");
        assert_eq!(
            check.status,
            CheckStatus::Pass,
            "{}: {}",
            check.name,
            check.reason
        );
    }
    assert_eq!(report.checks.len(), 15);
    assert_eq!(report.signed_payload, Some(PayloadVersion::Current));
    let signature = report.check(CheckName::Signature).unwrap();
    assert!(
        signature.reason.contains("current payload"),
        "{}",
        signature.reason
    );
    assert!(report
        .check(CheckName::KeyAdvertised)
        .unwrap()
        .reason
        .contains("the active key"));
}

#[test]
fn the_execution_signature_is_recomputed_and_bound() {
    let keys = production_keys();
    let package = publish(gitlab_package());

    // Changing it in the record alone: the sources disagree and the receipt breaks.
    let mut changed = package.clone();
    changed["package_execution_signature"] = json!(format!("sha256:{}", "0".repeat(64)));
    let receipt = receipt_for(&package, &keys, PayloadVersion::Current);
    let report = verify_bundle(
        &bundle(changed, receipt, &keys, "production"),
        &production(&keys),
    );
    assert_eq!(
        failed(&report),
        BTreeSet::from(["execution_signature", "signature"])
    );

    // A package whose signed materials differ from what it states: the recomputation fails
    // even though a registry signed it.
    let mut other_materials = package.clone();
    other_materials["implementation_materials"] = json!([{"ref": "git+https://example.com/other"}]);
    let receipt = receipt_for(&other_materials, &keys, PayloadVersion::Current);
    let report = verify_bundle(
        &bundle(other_materials, receipt, &keys, "production"),
        &production(&keys),
    );
    assert_eq!(failed(&report), BTreeSet::from(["execution_signature"]));
    let reason = &report.check(CheckName::ExecutionSignature).unwrap().reason;
    assert!(reason.contains("give sha256:"), "{reason}");
}

#[test]
fn a_legacy_receipt_over_a_current_package_still_verifies() {
    let keys = production_keys();
    let package = publish(gitlab_package());
    let receipt = receipt_for(&package, &keys, PayloadVersion::Legacy);
    let report = verify_bundle(
        &bundle(package, receipt, &keys, "production"),
        &production(&keys),
    );
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.signed_payload, Some(PayloadVersion::Legacy));
    let execution = report.check(CheckName::ExecutionSignature).unwrap();
    assert!(
        execution.reason.contains("legacy payload"),
        "{}",
        execution.reason
    );
}

#[test]
fn rotated_keys_keep_verifying_and_dev_keys_are_never_production() {
    // Signed by the old key; the registry now signs with a new one and still advertises both.
    let old = production_keys();
    let package = publish(gitlab_package());
    let receipt = receipt_for(&package, &old, PayloadVersion::Current);
    let (new_key, _) = SigningKey::generate().unwrap();
    let rotated = KeySet::new(KeyId::new("registry-prod-2027").unwrap(), new_key)
        .with_extra_public_keys(&format!(
            "registry-prod-2026={}",
            old.active_key().verifying_key().to_base64()
        ))
        .unwrap();
    let report = verify_bundle(
        &bundle(package.clone(), receipt.clone(), &rotated, "production"),
        &production(&rotated),
    );
    assert!(report.ok(), "{report:#?}");
    let advertised = &report.check(CheckName::KeyAdvertised).unwrap().reason;
    assert!(!advertised.contains("active"), "{advertised}");

    // Once the old key is dropped from the registry's list, its receipts no longer verify.
    let dropped = KeySet::new(
        KeyId::new("registry-prod-2027").unwrap(),
        SigningKey::generate().unwrap().0,
    );
    let report = verify_bundle(
        &bundle(package.clone(), receipt, &dropped, "production"),
        &production(&dropped),
    );
    assert_eq!(
        failed(&report),
        BTreeSet::from(["key_advertised", "signature", "trusted_key"])
    );

    // A "production" registry signing with upstream's dev key fails production policy.
    let dev = KeySet::dev();
    let receipt = receipt_for(&package, &dev, PayloadVersion::Current);
    let report = verify_bundle(
        &bundle(package, receipt, &dev, "production"),
        &production(&dev),
    );
    assert_eq!(failed(&report), BTreeSet::from(["required_mode"]));
}

/// Anyone who edits a bundle can recompute its digests, re-sign it with their own key under
/// the registry's key id, list that key and claim production. Offline, only a pinned key tells
/// that bundle from the real one.
#[test]
fn a_re_signed_bundle_passes_no_trust_check_without_a_pinned_key() {
    let real = production_keys();
    let mut edited = gitlab_package();
    edited["manifest"]["name"] = json!("Edited after publication");
    let package = publish(edited);
    let forger = KeySet::new(
        KeyId::new("registry-prod-2026").unwrap(),
        SigningKey::generate().unwrap().0,
    );
    let receipt = receipt_for(&package, &forger, PayloadVersion::Current);
    let forged = bundle(package.clone(), receipt, &forger, "production");

    // Intact and self-consistent, so only the trust checks can refuse it.
    assert!(verify_bundle(&forged, &VerifyPolicy::default()).ok());
    let unpinned = VerifyPolicy {
        required_mode: Some(SigningMode::Production),
        trusted_key_id: Some("registry-prod-2026".into()),
        ..VerifyPolicy::default()
    };
    let report = verify_bundle(&forged, &unpinned);
    assert_eq!(
        failed(&report),
        BTreeSet::from(["required_mode", "trusted_key_id"])
    );
    let reason = &report.check(CheckName::TrustedKeyId).unwrap().reason;
    assert!(reason.contains("pin"), "{reason}");
    // With the real registry's key pinned, the forgery fails on the key itself.
    let pinned = VerifyPolicy {
        trusted_keys: Some(real.public_keys().clone()),
        ..unpinned
    };
    assert_eq!(
        failed(&verify_bundle(&forged, &pinned)),
        BTreeSet::from(["trusted_key"])
    );

    // Upstream's dev key id names one built-in public key: another key under it is refused
    // whatever the policy.
    let dev_id_forger = KeySet::new(
        KeyId::new(signing::ed25519::DEV_KEY_ID).unwrap(),
        SigningKey::generate().unwrap().0,
    );
    let receipt = receipt_for(&package, &dev_id_forger, PayloadVersion::Current);
    let report = verify_bundle(
        &bundle(package, receipt, &dev_id_forger, "dev"),
        &VerifyPolicy::default(),
    );
    assert_eq!(
        failed(&report),
        BTreeSet::from(["key_advertised", "signature"])
    );
}

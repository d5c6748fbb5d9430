//! The expected contract signature and local mode (Studio-local receipts), on real upstream
//! bundles and local publications and on tampered copies of them. The fixtures are required:
//! these tests never skip.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use registry_client::{
    local_receipt_digest, local_receipt_id, verify_bundle, verify_package, CheckName, CheckStatus,
    PackageBundle, PackageRecord, Receipt, RegistryKeys, SigningMode, VerificationInput,
    VerificationReport, VerifyPolicy,
};
use serde_json::{json, Value};

fn bundle(name: &str) -> Value {
    let shared = std::env::var_os("ANIP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let path = shared.join(format!(
        "fixtures/upstream/registry-bundles/{name}.anip-package.json"
    ));
    let text = std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (set ANIP_SHARED_DIR; these tests never skip)",
            path.display()
        )
    });
    serde_json::from_slice(&text).unwrap()
}

fn parse(value: &Value) -> PackageBundle {
    PackageBundle::from_slice(&serde_json::to_vec(value).unwrap()).unwrap()
}

fn status(report: &VerificationReport, name: CheckName) -> CheckStatus {
    report
        .check(name)
        .unwrap_or_else(|| panic!("check {name} did not run: {report:#?}"))
        .status
}

fn failed(report: &VerificationReport) -> BTreeSet<&'static str> {
    report.failures().map(|check| check.name.as_str()).collect()
}

fn local() -> VerifyPolicy {
    VerifyPolicy {
        local_receipt: true,
        ..VerifyPolicy::default()
    }
}

#[test]
fn the_expected_contract_signature_is_a_named_check() {
    let value = bundle("gitlab-fronting-showcase-0.2.0");
    let stored = value["package"]["contract_signature"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(stored.starts_with("sha256:"), "{stored}");
    let expecting = |expected: &str| VerifyPolicy {
        expected_contract_signature: Some(expected.to_owned()),
        ..VerifyPolicy::default()
    };

    // Without an expectation the check does not run.
    let plain = verify_bundle(&parse(&value), &VerifyPolicy::default());
    assert!(plain.ok(), "{plain:#?}");
    assert!(plain.check(CheckName::ContractSignature).is_none());

    // With or without the `sha256:` prefix, the stored signature is the expected one.
    for expected in [stored.as_str(), stored.trim_start_matches("sha256:")] {
        let report = verify_bundle(&parse(&value), &expecting(expected));
        assert!(report.ok(), "{expected}: {report:#?}");
        assert_eq!(
            status(&report, CheckName::ContractSignature),
            CheckStatus::Pass
        );
    }

    let other = format!("sha256:{}", "0".repeat(64));
    let report = verify_bundle(&parse(&value), &expecting(&other));
    assert_eq!(failed(&report), BTreeSet::from(["contract_signature"]));
    let reason = &report.check(CheckName::ContractSignature).unwrap().reason;
    assert!(
        reason.contains(&stored) && reason.contains(&other),
        "{reason}"
    );

    // A package that states none fails the expectation (and its receipt, which signs it).
    let mut unsigned = value.clone();
    unsigned["package"]
        .as_object_mut()
        .unwrap()
        .remove("contract_signature");
    let report = verify_bundle(&parse(&unsigned), &expecting(&stored));
    assert!(
        failed(&report).contains("contract_signature"),
        "{report:#?}"
    );
}

/// Upstream Studio's own local publications (see `fixtures/upstream-local-publications.json`).
fn local_publications() -> Vec<(String, PackageRecord, Receipt)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/upstream-local-publications.json"
    );
    let value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    value["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["snapshot"].as_str().unwrap().to_owned(),
                PackageRecord::from_value(p["package_record"].clone()).unwrap(),
                serde_json::from_value(p["receipt"].clone()).unwrap(),
            )
        })
        .collect()
}

fn verify_local(
    package: &PackageRecord,
    receipt: &Receipt,
    policy: &VerifyPolicy,
) -> VerificationReport {
    let keys = RegistryKeys::default();
    verify_package(
        &VerificationInput {
            package,
            receipt,
            keys: &keys,
            requested: None,
            bundle: None,
        },
        policy,
    )
}

#[test]
fn upstream_studio_local_receipts_verify_in_local_mode_only() {
    let publications = local_publications();
    assert_eq!(publications.len(), 2);
    // The newer one, in upstream's current format.
    for (source, package, receipt) in &publications[1..] {
        assert_eq!(receipt.authority, "local-studio");

        // By default a digest is no signature: the package is not trusted.
        let strict = verify_local(package, receipt, &VerifyPolicy::default());
        assert!(
            failed(&strict).contains("signature"),
            "{source}: {strict:#?}"
        );

        let report = verify_local(package, receipt, &local());
        println!("{source}: {report:#?}");
        assert_eq!(
            status(&report, CheckName::ReceiptId),
            CheckStatus::Pass,
            "{source}"
        );
        assert_eq!(
            status(&report, CheckName::LocalReceipt),
            CheckStatus::Pass,
            "{source}"
        );
        for name in [
            CheckName::SignatureAlgorithm,
            CheckName::KeyAdvertised,
            CheckName::Signature,
        ] {
            assert_eq!(status(&report, name), CheckStatus::Skip, "{source}: {name}");
        }
        // The digests recompute with the public helpers Studio writes its receipts with.
        assert_eq!(
            receipt.registry_signature,
            local_receipt_digest(package, "local-studio", &receipt.issued_at)
        );
        assert_eq!(
            receipt.receipt_id,
            local_receipt_id(
                "local-studio",
                package.package_id(),
                package.package_version(),
                &receipt.issued_at
            )
        );

        // Local mode proves integrity only: asking for provenance still fails.
        let provenance = VerifyPolicy {
            required_mode: Some(SigningMode::Dev),
            trusted_key_id: Some("anip-protocol-registry-root-2026-q2".into()),
            ..local()
        };
        let report = verify_local(package, receipt, &provenance);
        let names = failed(&report);
        assert!(
            names.contains("required_mode") && names.contains("trusted_key_id"),
            "{source}: {names:?}"
        );
    }
    let (source, package, receipt) = &publications[1];
    let report = verify_local(package, receipt, &local());
    assert!(report.ok(), "{source}: {report:#?}");
    // The older one predates lock digests and execution signatures in local records, and its
    // receipt digest covers a payload without them: both are named, nothing else fails.
    let (source, package, receipt) = &publications[0];
    let report = verify_local(package, receipt, &local());
    assert_eq!(
        failed(&report),
        BTreeSet::from(["local_receipt", "lock_digest"]),
        "{source}"
    );
    assert_eq!(status(&report, CheckName::ReceiptId), CheckStatus::Pass);
}

#[test]
fn local_mode_names_what_was_changed() {
    let (_, package, receipt) = local_publications().remove(1);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut value = package.as_value().clone();
        change(&mut value);
        PackageRecord::from_value(value).unwrap()
    };

    // A changed document: its digest and the receipt digest both fail.
    let changed = with(&|v| v["service_definition"]["changed"] = json!(true));
    let names = failed(&verify_local(&changed, &receipt, &local()));
    assert!(
        names.contains("definition_digest") && names.contains("local_receipt"),
        "{names:?}"
    );

    // A changed contract signature: only the receipt binds it.
    let forged = with(&|v| v["contract_signature"] = json!("sha256:forged"));
    let report = verify_local(&forged, &receipt, &local());
    assert_eq!(failed(&report), BTreeSet::from(["local_receipt"]));

    // A changed issue time: the receipt id and the receipt digest.
    let mut issued = receipt.clone();
    issued.issued_at = "2030-01-01T00:00:00Z".into();
    let report = verify_local(&package, &issued, &local());
    assert_eq!(
        failed(&report),
        BTreeSet::from(["local_receipt", "receipt_id"])
    );

    // Another authority is not a Studio-local receipt.
    let mut authority = receipt.clone();
    authority.authority = "local-dev-registry".into();
    let report = verify_local(&package, &authority, &local());
    assert!(failed(&report).contains("local_receipt"), "{report:#?}");

    // A registry-signed receipt is verified as usual in local mode.
    let signed = bundle("gitlab-fronting-showcase-0.2.0");
    let report = verify_bundle(&parse(&signed), &local());
    assert!(report.ok(), "{report:#?}");
    assert_eq!(status(&report, CheckName::Signature), CheckStatus::Pass);
    assert!(report.check(CheckName::LocalReceipt).is_none());
}

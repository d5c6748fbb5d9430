//! The verifier on real upstream bundles (`shared/fixtures/upstream/registry-bundles`, whose
//! README states what reproduces and what verifies), on tampered copies of them, and under
//! each policy. The fixtures are required: when they are missing these tests fail, never skip.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use registry_client::{
    verify_bundle, CheckName, CheckStatus, PackageBundle, PackageRecord, Receipt, RegistryKeys,
    SigningMode, VerificationReport, VerifyPolicy,
};
use serde_json::{json, Value};
use signing::{PayloadVersion, PublicKeySet, SigningKey};

use CheckName::*;
use CheckStatus::{Fail, Pass, Skip, Warn};

const SUFFIX: &str = ".anip-package.json";

fn bundles_dir() -> PathBuf {
    let shared = std::env::var_os("ANIP_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let dir = shared.join("fixtures/upstream/registry-bundles");
    assert!(
        dir.is_dir(),
        "upstream registry bundles not found at {}: set ANIP_SHARED_DIR to the shared directory \
         (these tests never skip)",
        dir.display()
    );
    dir
}

fn load_value(name: &str) -> Value {
    let path = bundles_dir().join(format!("{name}{SUFFIX}"));
    let text = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

fn bundle_of(value: &Value) -> PackageBundle {
    PackageBundle::from_slice(&serde_json::to_vec(value).unwrap()).unwrap()
}

fn load(name: &str) -> PackageBundle {
    PackageBundle::read(&bundles_dir().join(format!("{name}{SUFFIX}"))).unwrap()
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

/// Asserts every listed check has its status, and prints the report for the test log.
fn check(label: &str, report: &VerificationReport, expected: &[(CheckName, CheckStatus)]) {
    for check in &report.checks {
        println!("{label}: {check}");
    }
    for (name, want) in expected {
        assert_eq!(
            status(report, *name),
            *want,
            "{label}: {name}: {}",
            report.check(*name).unwrap().reason
        );
    }
}

/// The fixture README's table, as the verifier reports it, check for check.
fn expectations(bundle: &str) -> (bool, Vec<(CheckName, CheckStatus)>) {
    // The three dev-registry showcases: everything verifies; no execution signature (legacy).
    let genuine = vec![
        (Identity, Pass),
        (Publisher, Pass),
        (ManifestDigest, Pass),
        (DefinitionDigest, Pass),
        (LockDigest, Pass),
        (ExecutionSignature, Warn),
        (BundleContents, Pass),
        (ReceiptId, Pass),
        (SignatureAlgorithm, Pass),
        (KeyAdvertised, Pass),
        (Signature, Pass),
        (Lifecycle, Pass),
    ];
    let with = |changes: &[(CheckName, CheckStatus)]| {
        let mut checks = genuine.clone();
        for (name, status) in changes {
            checks.iter_mut().find(|(n, _)| n == name).unwrap().1 = *status;
        }
        checks
    };
    match bundle {
        // local-studio export: digests reproduce, but no registry signed it.
        "finance-operations-showcase-0.1.0" => (
            false,
            with(&[
                (ReceiptId, Skip),
                (SignatureAlgorithm, Skip),
                (KeyAdvertised, Skip),
                (Signature, Fail),
            ]),
        ),
        "gitlab-fronting-showcase-0.2.0"
        | "linear-fronting-showcase-0.2.0"
        | "slack-fronting-showcase-0.2.0" => (true, genuine),
        // The definition does not reproduce and the dev key is not in the bundle (the signature
        // itself is valid under upstream's public dev key).
        "gtm-pipeline-q2-review-0.2.0" => (
            false,
            with(&[(DefinitionDigest, Fail), (KeyAdvertised, Fail)]),
        ),
        // No digest reproduces; the receipt verifies because it signs the recorded digests.
        "gtm-pipeline-q2-review-0.3.5" => (
            false,
            with(&[
                (ManifestDigest, Fail),
                (DefinitionDigest, Fail),
                (LockDigest, Fail),
            ]),
        ),
        other => panic!("no expectation for bundle {other}"),
    }
}

fn bundle_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(bundles_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(SUFFIX).map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn every_genuine_bundle_gives_the_documented_checks() {
    let names = bundle_names();
    assert_eq!(
        names.len(),
        6,
        "expected the six upstream bundles, found {names:?}"
    );
    for name in &names {
        let (ok, expected) = expectations(name);
        let report = verify_bundle(&load(name), &VerifyPolicy::default());
        check(name, &report, &expected);
        // Exactly these checks ran, in this order (no policy checks without a policy).
        let ran: Vec<CheckName> = report.checks.iter().map(|c| c.name).collect();
        let listed: Vec<CheckName> = expected.iter().map(|(n, _)| *n).collect();
        assert_eq!(ran, listed, "{name}");
        assert_eq!(report.ok(), ok, "{name}");
        assert_eq!(report.package_id, load(name).package.package_id());
    }
}

#[test]
fn signed_bundles_are_reported_as_legacy_payloads() {
    for name in bundle_names().iter().filter(|n| !n.starts_with("finance")) {
        let report = verify_bundle(&load(name), &VerifyPolicy::default());
        assert_eq!(
            report.signed_payload,
            Some(PayloadVersion::Legacy),
            "{name}"
        );
        assert_eq!(report.key_id.as_deref(), Some(signing::ed25519::DEV_KEY_ID));
        let signature = report.check(Signature).unwrap();
        assert!(
            signature.reason.contains("legacy payload"),
            "{name}: {signature:?}"
        );
        let execution = report.check(ExecutionSignature).unwrap();
        assert!(execution.reason.contains("legacy"), "{name}: {execution:?}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["signed_payload"], "legacy");
        assert_eq!(json["ok"], report.ok());
    }
    let gtm = verify_bundle(
        &load("gtm-pipeline-q2-review-0.2.0"),
        &VerifyPolicy::default(),
    );
    assert!(gtm
        .check(Signature)
        .unwrap()
        .reason
        .contains("public dev key"));
}

#[test]
fn the_local_studio_receipt_is_unsigned() {
    let report = verify_bundle(
        &load("finance-operations-showcase-0.1.0"),
        &VerifyPolicy::default(),
    );
    assert_eq!(failed(&report), BTreeSet::from(["signature"]));
    let reason = &report.check(Signature).unwrap().reason;
    assert!(reason.contains("local-studio"), "{reason}");
    assert!(report.key_id.is_none());
    assert!(report.signed_payload.is_none());

    // Its digest form (what the Studio exporter writes when it has one) is no better.
    let mut value = load_value("finance-operations-showcase-0.1.0");
    value["receipt"]["registry_signature"] = json!(format!("sha256:{}", "ab".repeat(32)));
    let report = verify_bundle(&bundle_of(&value), &VerifyPolicy::default());
    assert_eq!(failed(&report), BTreeSet::from(["signature"]));
    assert!(report
        .check(Signature)
        .unwrap()
        .reason
        .contains("anyone can compute"));
}

/// Changes the last character of a string by one byte (ASCII values here).
fn change_one_byte(value: &mut Value) {
    let Value::String(text) = value else {
        panic!("not a string: {value}");
    };
    let last = text.pop().unwrap();
    text.push(if last == '0' { '1' } else { '0' });
}

/// A gitlab bundle with `tamper` applied, verified with the default policy.
fn tampered(tamper: impl FnOnce(&mut Value)) -> VerificationReport {
    let mut value = load_value("gitlab-fronting-showcase-0.2.0");
    tamper(&mut value);
    verify_bundle(&bundle_of(&value), &VerifyPolicy::default())
}

#[test]
fn tampered_bundles_fail_naming_the_check() {
    type Tamper = fn(&mut Value);
    let cases: [(&str, Tamper, &[&str]); 10] = [
        (
            "one byte of the manifest (both copies)",
            |b| {
                change_one_byte(&mut b["package"]["manifest"]["name"]);
                change_one_byte(&mut b["manifest"]["name"]);
            },
            &["manifest_digest"],
        ),
        (
            "one byte of the record's manifest only",
            |b| change_one_byte(&mut b["package"]["manifest"]["name"]),
            &["manifest_digest", "bundle_contents"],
        ),
        (
            "one byte of the definition (both copies)",
            |b| {
                change_one_byte(&mut b["package"]["service_definition"]["artifact_type"]);
                change_one_byte(&mut b["service_definition"]["artifact_type"]);
            },
            &["definition_digest"],
        ),
        (
            "one byte of the lock (both copies)",
            |b| {
                change_one_byte(&mut b["package"]["recommended_lock"]["generated_at"]);
                change_one_byte(&mut b["lock"]["generated_at"]);
            },
            &["lock_digest"],
        ),
        (
            "one byte of the receipt signature",
            |b| {
                let signature = b["receipt"]["registry_signature"].as_str().unwrap();
                let (prefix, encoded) = signature.rsplit_once(':').unwrap();
                let mut bytes = encoded.as_bytes().to_vec();
                bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
                let changed = format!("{prefix}:{}", String::from_utf8(bytes).unwrap());
                b["receipt"]["registry_signature"] = json!(changed);
            },
            &["signature"],
        ),
        (
            "one byte of issued_at",
            |b| change_one_byte(&mut b["receipt"]["issued_at"]),
            &["receipt_id", "signature"],
        ),
        (
            "a recorded digest (record and summary)",
            |b| {
                change_one_byte(&mut b["package"]["lock_digest"]);
                change_one_byte(&mut b["digests"]["lock"]);
            },
            &["lock_digest", "signature"],
        ),
        (
            "the receipt's publisher",
            |b| change_one_byte(&mut b["receipt"]["publisher_id"]),
            &["publisher"],
        ),
        (
            "the record's version",
            |b| change_one_byte(&mut b["package"]["package_version"]),
            &["identity", "receipt_id", "signature"],
        ),
        (
            "the signed lineage",
            |b| change_one_byte(&mut b["package"]["lineage"]["project_ref"]),
            &["signature", "bundle_contents"],
        ),
    ];
    for (label, tamper, expected) in cases {
        let report = tampered(tamper);
        for check in report.failures() {
            println!("{label}: FAIL {}: {}", check.name, check.reason);
        }
        assert!(!report.ok(), "{label}");
        assert_eq!(
            failed(&report),
            expected.iter().copied().collect::<BTreeSet<_>>(),
            "{label}"
        );
    }
}

#[test]
fn digest_mismatches_name_the_field_and_both_values() {
    let report = tampered(|b| {
        change_one_byte(&mut b["package"]["manifest"]["name"]);
        change_one_byte(&mut b["manifest"]["name"]);
    });
    let reason = &report.check(ManifestDigest).unwrap().reason;
    assert!(
        reason.starts_with("manifest_digest is sha256:99915402"),
        "{reason}"
    );
    assert!(
        reason.contains("but manifest digests to sha256:"),
        "{reason}"
    );
}

fn policy_report(bundle: &str, policy: &VerifyPolicy) -> VerificationReport {
    verify_bundle(&load(bundle), policy)
}

#[test]
fn trusted_key_id_policy() {
    let wrong = VerifyPolicy {
        trusted_key_id: Some("anip-protocol-registry-root-2026-q2".into()),
        ..VerifyPolicy::default()
    };
    let report = policy_report("gitlab-fronting-showcase-0.2.0", &wrong);
    assert_eq!(failed(&report), BTreeSet::from(["trusted_key_id"]));
    let reason = &report.check(TrustedKeyId).unwrap().reason;
    assert!(reason.contains("anip-registry-dev-ed25519-v1"), "{reason}");

    let right = VerifyPolicy {
        trusted_key_id: Some(signing::ed25519::DEV_KEY_ID.into()),
        ..VerifyPolicy::default()
    };
    let report = policy_report("gitlab-fronting-showcase-0.2.0", &right);
    assert!(report.ok());
    // Upstream's dev key id needs no pin offline: its one public key is built in.
    assert!(report
        .check(TrustedKeyId)
        .unwrap()
        .reason
        .contains("signed by the trusted key anip-registry-dev-ed25519-v1"));

    let unsigned = policy_report("finance-operations-showcase-0.1.0", &right);
    assert_eq!(status(&unsigned, TrustedKeyId), Fail);
}

#[test]
fn pinned_public_keys() {
    let dev_public = SigningKey::dev().verifying_key().to_base64();
    let pinned = |list: &str| VerifyPolicy {
        trusted_keys: Some(PublicKeySet::parse_list(list).unwrap()),
        ..VerifyPolicy::default()
    };
    let report = policy_report(
        "slack-fronting-showcase-0.2.0",
        &pinned(&format!("anip-registry-dev-ed25519-v1={dev_public}")),
    );
    assert!(report.ok());
    assert_eq!(status(&report, TrustedKey), Pass);

    // A bundle that carries another key under the same id (a forgery) is refused.
    let (other, _) = SigningKey::generate().unwrap();
    let report = policy_report(
        "slack-fronting-showcase-0.2.0",
        &pinned(&format!(
            "anip-registry-dev-ed25519-v1={}",
            other.verifying_key().to_base64()
        )),
    );
    assert_eq!(failed(&report), BTreeSet::from(["trusted_key"]));

    let report = policy_report(
        "slack-fronting-showcase-0.2.0",
        &pinned(&format!("prod={dev_public}")),
    );
    assert_eq!(failed(&report), BTreeSet::from(["trusted_key"]));
}

#[test]
fn required_mode_policy() {
    let require = |mode| VerifyPolicy {
        required_mode: Some(mode),
        ..VerifyPolicy::default()
    };
    // Upstream bundles record no mode; their dev-key receipts are dev by inference...
    let dev = policy_report("linear-fronting-showcase-0.2.0", &require(SigningMode::Dev));
    assert!(dev.ok());
    assert!(dev.check(RequiredMode).unwrap().reason.contains("inferred"));
    // ...and never production, whatever the bundle claims.
    let production = policy_report(
        "linear-fronting-showcase-0.2.0",
        &require(SigningMode::Production),
    );
    assert_eq!(failed(&production), BTreeSet::from(["required_mode"]));
    let mut value = load_value("linear-fronting-showcase-0.2.0");
    value["registry_signing_mode"] = json!("production");
    let claimed = verify_bundle(&bundle_of(&value), &require(SigningMode::Production));
    assert_eq!(failed(&claimed), BTreeSet::from(["required_mode"]));
    assert!(claimed
        .check(RequiredMode)
        .unwrap()
        .reason
        .contains("development key"));

    let unsigned = policy_report(
        "finance-operations-showcase-0.1.0",
        &require(SigningMode::Dev),
    );
    assert_eq!(status(&unsigned, RequiredMode), Fail);
}

#[test]
fn lifecycle_policy() {
    let with_lifecycle = |lifecycle: Value, allow_yanked: bool| {
        let mut value = load_value("gitlab-fronting-showcase-0.2.0");
        value["package"]["lifecycle"] = lifecycle;
        let policy = VerifyPolicy {
            allow_yanked,
            ..VerifyPolicy::default()
        };
        verify_bundle(&bundle_of(&value), &policy)
    };
    let cases = [
        (json!({"status": "active"}), false, Pass),
        (
            json!({"status": "deprecated", "reason": "use 0.3", "replacement": {"package_id": "gitlab-fronting-showcase", "package_version": "0.3.0"}}),
            false,
            Warn,
        ),
        (
            json!({"status": "superseded", "reason": "newer"}),
            false,
            Warn,
        ),
        (json!({"status": "yanked", "reason": "broken"}), false, Fail),
        (json!({"status": "yanked", "reason": "broken"}), true, Warn),
        (json!({"status": "takedown", "reason": "legal"}), true, Fail),
        (json!({"status": "frozen", "reason": "?"}), true, Fail),
        (json!("yanked"), true, Fail),
        (Value::Null, false, Pass),
    ];
    for (lifecycle, allow, expected) in cases {
        let report = with_lifecycle(lifecycle.clone(), allow);
        let check = report.check(Lifecycle).unwrap();
        assert_eq!(
            check.status, expected,
            "{lifecycle} allow={allow}: {}",
            check.reason
        );
        assert_eq!(report.ok(), expected != Fail);
    }
    let deprecated = with_lifecycle(
        json!({"status": "deprecated", "reason": "old", "replacement": {"package_id": "p", "package_version": "2"}}),
        false,
    );
    assert!(deprecated
        .check(Lifecycle)
        .unwrap()
        .reason
        .contains("use p@2 instead"));
}

#[test]
fn a_required_execution_signature_fails_legacy_packages() {
    let policy = VerifyPolicy {
        require_execution_signature: true,
        ..VerifyPolicy::default()
    };
    let report = policy_report("gitlab-fronting-showcase-0.2.0", &policy);
    assert_eq!(failed(&report), BTreeSet::from(["execution_signature"]));
}

#[test]
fn bundles_round_trip_and_rebuild_identically() {
    let original = load("gtm-pipeline-q2-review-0.3.5");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("round-trip.anip-package.json");
    original.write(&path).unwrap();
    let read = PackageBundle::read(&path).unwrap();
    assert_eq!(read, original);
    assert_eq!(
        verify_bundle(&read, &VerifyPolicy::default()),
        verify_bundle(&original, &VerifyPolicy::default())
    );

    // A bundle rebuilt from what a registry serves (record, receipt, keys) verifies alike, and
    // records the registry's mode for offline --require-mode.
    let gitlab = load("gitlab-fronting-showcase-0.2.0");
    let keys = RegistryKeys {
        signing_mode: "dev".into(),
        active_key_id: signing::ed25519::DEV_KEY_ID.into(),
        items: gitlab.registry_keys.clone(),
    };
    let receipt = Receipt {
        authority: String::new(),
        ..gitlab.receipt.clone()
    };
    let rebuilt = PackageBundle::from_registry(
        "http://registry.example/registry-api/v1",
        gitlab.package.clone(),
        receipt,
        keys,
    );
    assert_eq!(rebuilt.manifest, gitlab.manifest);
    assert_eq!(rebuilt.digests.receipt, gitlab.receipt.receipt_id);
    assert_eq!(rebuilt.receipt.authority, "remote-registry");
    let policy = VerifyPolicy {
        required_mode: Some(SigningMode::Dev),
        ..VerifyPolicy::default()
    };
    let report = verify_bundle(&rebuilt, &policy);
    assert!(report.ok(), "{report:#?}");
    assert!(report
        .check(RequiredMode)
        .unwrap()
        .reason
        .contains("records signing mode dev"));
    let bytes = rebuilt.to_json_pretty().unwrap();
    assert_eq!(PackageBundle::from_slice(&bytes).unwrap(), rebuilt);

    assert!(PackageBundle::from_slice(b"{}").is_err());
    assert!(PackageRecord::from_value(json!("x")).is_err());
}

#[test]
fn a_wrong_schema_version_fails_bundle_contents() {
    let mut value = load_value("slack-fronting-showcase-0.2.0");
    value["bundle_schema_version"] = json!("anip-package-bundle/v2");
    let report = verify_bundle(&bundle_of(&value), &VerifyPolicy::default());
    assert_eq!(failed(&report), BTreeSet::from(["bundle_contents"]));
}

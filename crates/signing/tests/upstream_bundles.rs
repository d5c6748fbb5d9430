//! Proves the encoder, digests and receipt verification against real upstream registry bundles
//! (`shared/fixtures/upstream/registry-bundles`, see its README for the expected results).
//! The fixtures are required: if they are missing, these tests fail rather than skip.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use signing::digest::{digest_bytes, digest_value};
use signing::gojson::{to_go_json_bytes, GoJsonOptions};
use signing::{
    receipt_id, KeySet, PayloadVersion, PublicKeyInfo, PublicKeySet, ReceiptPayload,
    RegistrySignature, SigningError,
};

/// How a bundle's receipt is expected to verify.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ReceiptKind {
    /// `local-studio` export: no registry signature at all.
    NotSigned,
    /// Ed25519 with the key listed in the bundle's `registry_keys`.
    KeyInBundle,
    /// Ed25519 with upstream's dev key, which the bundle does not list.
    DevKeyNotInBundle,
}

struct Expected {
    bundle: &'static str,
    manifest: bool,
    definition: bool,
    lock: bool,
    receipt: ReceiptKind,
}

/// The table of the fixtures README, row for row.
const EXPECTED: &[Expected] = &[
    Expected {
        bundle: "finance-operations-showcase-0.1.0",
        manifest: true,
        definition: true,
        lock: true,
        receipt: ReceiptKind::NotSigned,
    },
    Expected {
        bundle: "gitlab-fronting-showcase-0.2.0",
        manifest: true,
        definition: true,
        lock: true,
        receipt: ReceiptKind::KeyInBundle,
    },
    Expected {
        bundle: "linear-fronting-showcase-0.2.0",
        manifest: true,
        definition: true,
        lock: true,
        receipt: ReceiptKind::KeyInBundle,
    },
    Expected {
        bundle: "slack-fronting-showcase-0.2.0",
        manifest: true,
        definition: true,
        lock: true,
        receipt: ReceiptKind::KeyInBundle,
    },
    Expected {
        bundle: "gtm-pipeline-q2-review-0.2.0",
        manifest: true,
        definition: false,
        lock: true,
        receipt: ReceiptKind::DevKeyNotInBundle,
    },
    Expected {
        bundle: "gtm-pipeline-q2-review-0.3.5",
        manifest: false,
        definition: false,
        lock: false,
        receipt: ReceiptKind::KeyInBundle,
    },
];

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

fn load(bundle: &str) -> Value {
    let path = bundles_dir().join(format!("{bundle}{SUFFIX}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string at {pointer}"))
}

#[test]
fn every_bundle_in_the_directory_has_an_expectation() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(bundles_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(SUFFIX).map(str::to_owned))
        .collect();
    let expected: BTreeSet<String> = EXPECTED.iter().map(|e| e.bundle.to_owned()).collect();
    assert_eq!(on_disk, expected);
}

/// (label, member of `package`, recorded digest in `package`, top-level copy, key in `digests`)
const DIGESTED: [(&str, &str, &str, &str, &str); 3] = [
    (
        "manifest",
        "manifest",
        "manifest_digest",
        "manifest",
        "manifest",
    ),
    (
        "definition",
        "service_definition",
        "definition_digest",
        "service_definition",
        "service_definition",
    ),
    ("lock", "recommended_lock", "lock_digest", "lock", "lock"),
];

#[test]
fn digests_reproduce_exactly_as_documented() {
    let mut problems = Vec::new();
    for expected in EXPECTED {
        let bundle = load(expected.bundle);
        let package = &bundle["package"];
        for (label, member, recorded_key, top_level, digests_key) in DIGESTED {
            let recorded = text(package, &format!("/{recorded_key}"));
            assert_eq!(
                text(&bundle, &format!("/digests/{digests_key}")),
                recorded,
                "{}: digests.{digests_key} and package.{recorded_key} disagree",
                expected.bundle
            );
            let computed = digest_value(&package[member]);
            // The top-level copies are the same documents: they digest identically.
            assert_eq!(
                digest_value(&bundle[top_level]),
                computed,
                "{}: top-level {top_level} differs from package.{member}",
                expected.bundle
            );
            let should_reproduce = match label {
                "manifest" => expected.manifest,
                "definition" => expected.definition,
                _ => expected.lock,
            };
            let reproduces = computed == recorded;
            println!(
                "{:<36} {label:<10} {}",
                expected.bundle,
                if reproduces {
                    "reproduces"
                } else {
                    "does not reproduce"
                }
            );
            if reproduces != should_reproduce {
                problems.push(format!(
                    "{}: {recorded_key} should {}reproduce: recorded {recorded}, computed {computed}",
                    expected.bundle,
                    if should_reproduce { "" } else { "not " }
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn fixtures_prove_the_digest_encoding_details() {
    // The gitlab manifest contains '<', '>' and '&', so it tells the encodings apart.
    let bundle = load("gitlab-fronting-showcase-0.2.0");
    let manifest = &bundle["package"]["manifest"];
    let recorded = text(&bundle, "/package/manifest_digest");
    let go_bytes = to_go_json_bytes(manifest, GoJsonOptions::DIGEST);

    assert_eq!(digest_bytes(&go_bytes), recorded);
    // The newline Encoder.Encode appends is stripped before hashing.
    let mut with_newline = go_bytes.clone();
    with_newline.push(b'\n');
    assert_ne!(
        digest_bytes(&with_newline),
        recorded,
        "digest must not include the newline"
    );
    // HTML characters are not escaped in digests.
    assert_ne!(
        digest_bytes(&to_go_json_bytes(manifest, GoJsonOptions::MARSHAL)),
        recorded,
        "digest must not escape HTML"
    );

    // The finance bundle stores keys unsorted: the digest needs them sorted, as Go sorts map
    // keys, so writing them in file order (serde_json with preserve_order) does not reproduce.
    let finance = load("finance-operations-showcase-0.1.0");
    let manifest = &finance["package"]["manifest"];
    let recorded = text(&finance, "/package/manifest_digest");
    assert_eq!(digest_value(manifest), recorded);
    assert_ne!(
        digest_bytes(&serde_json::to_vec(manifest).unwrap()),
        recorded,
        "digest must sort object keys"
    );
}

#[test]
fn receipt_ids_reproduce() {
    for expected in EXPECTED {
        let bundle = load(expected.bundle);
        let receipt = &bundle["receipt"];
        let Some(recorded) = receipt.get("receipt_id").and_then(Value::as_str) else {
            assert_eq!(
                expected.receipt,
                ReceiptKind::NotSigned,
                "{}",
                expected.bundle
            );
            continue;
        };
        let computed = receipt_id(
            text(receipt, "/package_id"),
            text(receipt, "/package_version"),
            text(receipt, "/issued_at"),
        );
        assert_eq!(computed, recorded, "{}: receipt_id", expected.bundle);
        let payload = ReceiptPayload::from_package(&bundle["package"], text(receipt, "/issued_at"));
        assert_eq!(payload.receipt_id(), recorded, "{}", expected.bundle);
    }
}

/// The keys to verify a bundle's receipt with.
fn keys_for(bundle: &Value, kind: ReceiptKind) -> PublicKeySet {
    match kind {
        ReceiptKind::KeyInBundle => {
            let infos: Vec<PublicKeyInfo> =
                serde_json::from_value(bundle["registry_keys"].clone()).unwrap();
            PublicKeySet::from_infos(&infos).unwrap()
        }
        ReceiptKind::DevKeyNotInBundle => KeySet::dev().public_keys().clone(),
        ReceiptKind::NotSigned => PublicKeySet::new(),
    }
}

fn signed_bundles() -> impl Iterator<Item = (&'static Expected, Value)> {
    EXPECTED
        .iter()
        .filter(|e| e.receipt != ReceiptKind::NotSigned)
        .map(|e| (e, load(e.bundle)))
}

#[test]
fn genuine_receipts_verify_with_the_legacy_payload() {
    for expected in EXPECTED {
        let bundle = load(expected.bundle);
        let receipt = &bundle["receipt"];
        let signature = text(receipt, "/registry_signature");
        if expected.receipt == ReceiptKind::NotSigned {
            assert_eq!(signature, "", "{}", expected.bundle);
            assert!(RegistrySignature::parse(signature).is_err());
            continue;
        }
        let parsed = RegistrySignature::parse(signature).unwrap();
        assert_eq!(parsed.key_id.as_str(), text(receipt, "/key_id"));
        assert_eq!(parsed.algorithm(), text(receipt, "/signature_algorithm"));
        // The receipt and the package agree on identity and publisher.
        let package = &bundle["package"];
        for field in [
            "package_id",
            "package_version",
            "publisher_id",
            "publisher_type",
        ] {
            assert_eq!(
                receipt[field], package[field],
                "{}: {field}",
                expected.bundle
            );
        }

        let keys = keys_for(&bundle, expected.receipt);
        if expected.receipt == ReceiptKind::DevKeyNotInBundle {
            let listed = bundle
                .get("registry_keys")
                .and_then(Value::as_array)
                .is_some_and(|keys| keys.iter().any(|k| k["key_id"] == receipt["key_id"]));
            assert!(
                !listed,
                "{}: the README says its key is not in the bundle",
                expected.bundle
            );
        }
        let payload = ReceiptPayload::from_package(package, text(receipt, "/issued_at"));
        assert_eq!(
            payload.verify(&keys, signature),
            Ok(PayloadVersion::Legacy),
            "{}: receipt must verify (legacy payload)",
            expected.bundle
        );
        println!("{:<36} receipt verifies (legacy payload)", expected.bundle);
    }
}

#[test]
fn upstream_dev_key_is_derived_from_its_public_seed() {
    // Every bundle that lists the dev key lists the key we derive from the public seed string.
    let derived = KeySet::dev();
    let derived_public = derived.public_keys().infos();
    let mut seen = 0;
    for (expected, bundle) in signed_bundles() {
        let Some(keys) = bundle.get("registry_keys").and_then(Value::as_array) else {
            continue;
        };
        for key in keys {
            let info: PublicKeyInfo = serde_json::from_value(key.clone()).unwrap();
            if info.key_id == signing::ed25519::DEV_KEY_ID {
                assert_eq!(info, derived_public[0], "{}", expected.bundle);
                seen += 1;
            }
        }
    }
    assert!(
        seen >= 4,
        "expected the dev key in four bundles, saw {seen}"
    );
}

/// Changes the last character of a string (one byte, for the ASCII values here).
fn change_one_byte(value: &mut String) {
    let last = value.pop().unwrap();
    value.push(if last == '0' { '1' } else { '0' });
}

#[test]
fn tampered_receipts_are_rejected() {
    type Tamper = fn(&mut ReceiptPayload);
    let tampers: [(&str, Tamper); 10] = [
        ("package_id", |p| change_one_byte(&mut p.package_id)),
        ("package_version", |p| {
            change_one_byte(&mut p.package_version)
        }),
        ("contract_signature", |p| {
            change_one_byte(&mut p.contract_signature)
        }),
        ("definition_digest", |p| {
            change_one_byte(&mut p.definition_digest)
        }),
        ("manifest_digest", |p| {
            change_one_byte(&mut p.manifest_digest)
        }),
        ("lock_digest", |p| change_one_byte(&mut p.lock_digest)),
        ("issued_at", |p| change_one_byte(&mut p.issued_at)),
        ("publisher_id", |p| change_one_byte(&mut p.publisher_id)),
        ("publisher_type", |p| change_one_byte(&mut p.publisher_type)),
        ("lineage", |p| {
            let Some(Value::String(project_ref)) = p.lineage.get_mut("project_ref") else {
                panic!("lineage.project_ref is missing");
            };
            change_one_byte(project_ref);
        }),
    ];
    for (expected, bundle) in signed_bundles() {
        let receipt = &bundle["receipt"];
        let signature = text(receipt, "/registry_signature");
        let keys = keys_for(&bundle, expected.receipt);
        let genuine = ReceiptPayload::from_package(&bundle["package"], text(receipt, "/issued_at"));
        assert!(genuine.verify(&keys, signature).is_ok());

        for (field, tamper) in &tampers {
            let mut changed = genuine.clone();
            tamper(&mut changed);
            assert_ne!(changed, genuine);
            assert_eq!(
                changed.verify(&keys, signature),
                Err(SigningError::BadSignature),
                "{}: changing {field} must break the receipt",
                expected.bundle
            );
        }

        // One byte of the signature itself.
        let mut parsed = RegistrySignature::parse(signature).unwrap();
        parsed.signature[17] ^= 0x01;
        assert_eq!(
            genuine.verify(&keys, &parsed.to_string()),
            Err(SigningError::BadSignature),
            "{}: flipped signature bit",
            expected.bundle
        );

        // A signature under a key id the verifier does not know.
        let foreign = signature.replacen(
            signing::ed25519::DEV_KEY_ID,
            "anip-protocol-registry-root-2026-q2",
            1,
        );
        assert_eq!(
            genuine.verify(&keys, &foreign),
            Err(SigningError::UnknownKeyId(
                "anip-protocol-registry-root-2026-q2".into()
            ))
        );
    }
}

#[test]
fn legacy_receipts_do_not_cover_the_execution_signature() {
    // Known limitation of accepting legacy receipts: the legacy payload has no
    // package_execution_signature, so setting one does not break the signature. It is still
    // bound through manifest_digest and lock_digest, which the receipt does sign.
    let bundle = load("slack-fronting-showcase-0.2.0");
    let keys = keys_for(&bundle, ReceiptKind::KeyInBundle);
    let receipt = &bundle["receipt"];
    let mut payload = ReceiptPayload::from_package(&bundle["package"], text(receipt, "/issued_at"));
    payload.package_execution_signature = "sha256:00".into();
    assert_eq!(
        payload.verify(&keys, text(receipt, "/registry_signature")),
        Ok(PayloadVersion::Legacy)
    );
}

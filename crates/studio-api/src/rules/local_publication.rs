//! Studio-local publications: an immutable record of a package with its digests and a local
//! receipt (a digest, not a signature: Studio holds no signing key), verifiable and
//! downloadable as an `anip-package-bundle/v1`.
//!
//! Digests and the package execution signature come from `signing::digest`; the receipt is
//! written and verified by `registry_client` (its local mode), the platform's one verifier.

use registry_client::hygiene::{self, Finding, FindingKind};
use registry_client::{
    local_receipt_digest, local_receipt_id, PackageRecord, Receipt, RegistryKeys,
    VerificationInput, VerifyPolicy,
};
use serde::Serialize;
use serde_json::{json, Map, Value};
use signing::digest::{digest_value, package_execution_signature, ExecutionSignatureInput};
use utoipa::ToSchema;

use super::{field, first_object, package};
use crate::ids::{PackageId, PackageVersion};
use crate::store::publications::LocalPublicationRow;

/// The authority of local records.
pub const AUTHORITY: &str = registry_client::LOCAL_STUDIO_AUTHORITY;

/// One verification check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Check {
    /// Machine name, e.g. `manifest_digest_matches`.
    pub name: String,
    /// `pass`, `warn`, `skip` or `fail`.
    pub status: String,
    /// What was compared.
    pub detail: String,
}

fn check(name: &str, passed: bool, detail: String) -> Check {
    Check {
        name: name.to_owned(),
        status: if passed { "pass" } else { "fail" }.to_owned(),
        detail,
    }
}

fn member<'a>(value: &'a Value, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    value.get(key).unwrap_or(&NULL)
}

fn capability_ids_of_definition(definition: &Value) -> Vec<String> {
    let mut ids: Vec<String> = super::contract::capability_ids(definition);
    ids.sort();
    ids.dedup();
    ids
}

fn capability_ids_of_consumability(consumability: &Value) -> Vec<String> {
    let mut ids: Vec<String> = consumability
        .get("capabilities")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn number(value: Option<&Value>) -> f64 {
    match value {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn lineage_map(lineage: &Value) -> Option<&Map<String, Value>> {
    lineage.as_object().filter(|m| !m.is_empty())
}

/// The package execution signature over a manifest, definition, lock, materials and lineage.
pub fn execution_signature(
    manifest: &Value,
    definition: &Value,
    lock: &Value,
    materials: &[Value],
    lineage: &Value,
) -> String {
    package_execution_signature(&ExecutionSignatureInput {
        service_definition: definition,
        manifest,
        recommended_lock: lock,
        implementation_materials: materials,
        lineage: lineage_map(lineage),
    })
}

/// The checks an executable package must pass (upstream's `_execution_metadata_checks`).
pub fn execution_checks(
    manifest: &Value,
    definition: &Value,
    lock: &Value,
    materials: &[Value],
    lineage: &Value,
) -> Vec<Check> {
    let consumability = first_object([
        manifest.get("agent_consumability"),
        lock.get("agent_consumability"),
    ])
    .cloned()
    .unwrap_or_else(|| json!({}));
    let readiness = first_object([
        manifest.get("agent_consumption_readiness"),
        lock.get("agent_consumption_readiness"),
    ])
    .cloned()
    .unwrap_or_else(|| json!({}));
    let definition_ids = capability_ids_of_definition(definition);
    let consumability_ids = capability_ids_of_consumability(&consumability);
    let summary = member(&readiness, "summary");
    let observed = [
        field(manifest, "package_execution_signature"),
        field(lock, "package_execution_signature"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or_default();
    let computed = execution_signature(manifest, definition, lock, materials, lineage);
    vec![
        check(
            "agent_consumability_present",
            consumability.as_object().is_some_and(|m| !m.is_empty()),
            "agent_consumability metadata is required for executable packages".into(),
        ),
        check(
            "agent_consumability_schema_present",
            !field(&consumability, "schema_version").is_empty(),
            format!("schema_version={}", field(&consumability, "schema_version")),
        ),
        check(
            "agent_consumability_capabilities_match_definition",
            !definition_ids.is_empty() && definition_ids == consumability_ids,
            format!("definition={definition_ids:?} consumability={consumability_ids:?}"),
        ),
        check(
            "agent_consumption_readiness_ready",
            field(&readiness, "status").to_lowercase() == "ready",
            format!("status={}", field(&readiness, "status")),
        ),
        check(
            "agent_consumption_readiness_has_no_blockers",
            number(summary.get("blockers")) == 0.0,
            format!(
                "blockers={}",
                summary.get("blockers").cloned().unwrap_or(Value::Null)
            ),
        ),
        check(
            "agent_consumption_readiness_has_no_warnings",
            number(summary.get("warnings")) == 0.0,
            format!(
                "warnings={}",
                summary.get("warnings").cloned().unwrap_or(Value::Null)
            ),
        ),
        check(
            "package_execution_signature_present",
            !observed.is_empty(),
            format!("signature={observed}"),
        ),
        check(
            "package_execution_signature_matches",
            observed == computed,
            format!("stored={observed} computed={computed}"),
        ),
    ]
}

fn required(request: &Value, key: &str) -> Result<String, String> {
    let value = field(request, key);
    if value.is_empty() {
        Err(format!("{key} is required"))
    } else {
        Ok(value)
    }
}

/// Makes a publication id safe as a record id (only letters, digits and `. _ : @ -`).
fn publication_id(project_id: &str, package_id: &str, version: &str) -> String {
    format!("local-publication-{project_id}-{package_id}-{version}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The parts of a local publication that end up in its record and downloadable bundle.
struct PublishedParts<'a> {
    readme: &'a str,
    materials: &'a [Value],
    source_links: &'a Value,
    lineage: &'a Value,
    manifest: &'a Value,
    definition: &'a Value,
    lock: &'a Value,
    refs: [(&'static str, &'a str); 4],
}

/// The first local filesystem path or secret in what a local publication would publish, by
/// the platform's one rule set (`registry_client::hygiene`, the Registry's publish rules):
/// the readme, the implementation materials (a `ref` that is a bare filesystem path is local
/// too), the source links, the lineage, the manifest, the service definition, the lock and
/// the revision refs. The finding names the field, never the value.
fn metadata_finding(parts: &PublishedParts<'_>) -> Option<Finding> {
    if let Some(finding) = hygiene::scan_text("readme", parts.readme)
        .into_iter()
        .next()
    {
        return Some(finding);
    }
    for (index, material) in parts.materials.iter().enumerate() {
        if let Some(what) = hygiene::local_reference(&field(material, "ref")) {
            return Some(Finding {
                path: format!("implementation_materials[{index}].ref"),
                kind: FindingKind::LocalPath,
                what,
            });
        }
    }
    let materials = Value::Array(parts.materials.to_vec());
    let documents: [(&str, &Value); 6] = [
        ("implementation_materials", &materials),
        ("source_links", parts.source_links),
        ("lineage", parts.lineage),
        ("manifest", parts.manifest),
        ("service_definition", parts.definition),
        ("recommended_lock", parts.lock),
    ];
    let found = documents
        .into_iter()
        .find_map(|(label, value)| hygiene::first_finding(label, value));
    found.or_else(|| {
        parts
            .refs
            .iter()
            .find_map(|(label, text)| hygiene::scan_text(label, text).into_iter().next())
    })
}

/// Builds the immutable record from a publish request (already through the publication
/// guard). `Err` is a plain-English 422.
pub fn build(
    project_id: &str,
    request: &Value,
    published_at: &str,
) -> Result<LocalPublicationRow, String> {
    let package_id = required(request, "package_id")?;
    let package_version = required(request, "package_version")?;
    PackageId::parse(package_id.as_str()).map_err(|e| e.to_string())?;
    PackageVersion::parse(package_version.as_str()).map_err(|e| e.to_string())?;
    let project_ref = required(request, "project_ref")?;
    let product_revision_ref = required(request, "product_revision_ref")?;
    let developer_revision_ref = required(request, "developer_revision_ref")?;
    let contract_signature = required(request, "contract_signature")?;
    let schema_version = match field(request, "schema_version") {
        s if s.is_empty() => super::contract::SCHEMA_VERSION.to_owned(),
        s => s,
    };
    if schema_version != super::contract::SCHEMA_VERSION {
        return Err(format!(
            "schema_version must be {}",
            super::contract::SCHEMA_VERSION
        ));
    }
    let mut manifest = request
        .get("manifest")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let definition = request
        .get("service_definition")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut lock = request
        .get("recommended_lock")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    if field(&manifest, "anip_spec_version") != package::ANIP_SPEC_VERSION {
        return Err(format!(
            "manifest anip_spec_version must be {}",
            package::ANIP_SPEC_VERSION
        ));
    }
    lock["anip_spec_version"] = json!(package::ANIP_SPEC_VERSION);

    let readme = [field(request, "readme"), field(&manifest, "readme")]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let source_links = [request.get("source_links"), manifest.get("source_links")]
        .into_iter()
        .flatten()
        .find(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
        .unwrap_or_else(|| json!([]));
    let requested_materials = request
        .get("implementation_materials")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .cloned()
        .or_else(|| {
            manifest
                .pointer("/implementation_material/custom_code_bundles")
                .and_then(Value::as_array)
                .cloned()
        })
        .unwrap_or_default();
    let materials = package::normalize_materials(&requested_materials);
    if !readme.is_empty() {
        manifest["readme"] = json!(readme);
    }
    if source_links.as_array().is_some_and(|a| !a.is_empty()) {
        manifest["source_links"] = source_links.clone();
    }
    if !materials.is_empty() {
        manifest["implementation_material"] = json!({"custom_code_bundles": materials});
    }
    let lineage = first_object([
        request.get("lineage"),
        manifest.get("lineage"),
        lock.get("lineage"),
    ])
    .cloned()
    .unwrap_or_else(|| json!({}));

    if let Some(finding) = metadata_finding(&PublishedParts {
        readme: &readme,
        materials: &materials,
        source_links: &source_links,
        lineage: &lineage,
        manifest: &manifest,
        definition: &definition,
        lock: &lock,
        refs: [
            ("project_ref", &project_ref),
            ("product_revision_ref", &product_revision_ref),
            ("developer_revision_ref", &developer_revision_ref),
            ("contract_signature", &contract_signature),
        ],
    }) {
        return Err(format!(
            "{finding}; a publication must not carry local filesystem paths or secrets"
        ));
    }
    if let Some(failure) = execution_checks(&manifest, &definition, &lock, &materials, &lineage)
        .into_iter()
        .find(|c| c.status != "pass" && !c.name.starts_with("package_execution_signature_"))
    {
        return Err(format!("{}: {}", failure.name, failure.detail));
    }
    let execution = execution_signature(&manifest, &definition, &lock, &materials, &lineage);
    manifest["package_execution_signature"] = json!(execution);
    lock["package_execution_signature"] = json!(execution);
    let manifest_digest = digest_value(&manifest);
    let definition_digest = digest_value(&definition);
    let lock_digest = digest_value(&lock);

    let package_record = json!({
        "package_id": package_id,
        "package_version": package_version,
        "project_ref": project_ref,
        "product_revision_ref": product_revision_ref,
        "developer_revision_ref": developer_revision_ref,
        "contract_signature": contract_signature,
        "lineage": lineage,
        "schema_version": schema_version,
        "manifest_digest": manifest_digest,
        "definition_digest": definition_digest,
        "lock_digest": lock_digest,
        "package_execution_signature": execution,
        "published_at": published_at,
        "authority": AUTHORITY,
        "manifest": manifest,
        "service_definition": definition,
        "recommended_lock": lock,
        "readme": readme,
        "source_links": source_links,
        "implementation_materials": materials,
    });
    // The receipt is written by the same functions the verifier recomputes it with.
    let record = PackageRecord::from_value(package_record.clone()).map_err(|e| e.to_string())?;
    let receipt = json!({
        "receipt_id": local_receipt_id(AUTHORITY, &package_id, &package_version, published_at),
        "package_id": package_id,
        "package_version": package_version,
        "registry_signature": local_receipt_digest(&record, AUTHORITY, published_at),
        "issued_at": published_at,
        "authority": AUTHORITY,
    });
    Ok(LocalPublicationRow {
        id: publication_id(project_id, &package_id, &package_version),
        project_id: project_id.to_owned(),
        package_id,
        package_version,
        project_ref,
        product_revision_ref,
        developer_revision_ref,
        contract_signature,
        schema_version,
        manifest_digest,
        definition_digest,
        package_record,
        receipt,
        authority: AUTHORITY.to_owned(),
        published_at: None,
        created_at: None,
    })
}

/// The result of verifying a local publication.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Verification {
    /// `ok` when every check passes, else `failed`.
    pub status: String,
    /// `verified` or `failed`.
    pub receipt_status: String,
    /// Package id.
    pub package_id: String,
    /// Package version.
    pub package_version: String,
    /// Recomputed definition digest.
    pub definition_digest: String,
    /// Recomputed manifest digest.
    pub manifest_digest: String,
    /// Recomputed lock digest.
    pub lock_digest: String,
    /// The recorded receipt signature.
    pub receipt_signature: String,
    /// The recomputed receipt signature.
    pub computed_receipt_signature: String,
    /// Every check.
    pub checks: Vec<Check>,
}

/// Verifies a stored local publication: the platform's one package verifier in local mode
/// (`registry_client::verify_package` with `local_receipt`: identity, the three digests, the
/// execution signature, the receipt id and the receipt digest), then Studio's own rules for an
/// executable package ([`execution_checks`]). A check that fails fails the publication;
/// warnings and skipped checks (no registry signature to check) do not.
pub fn verify(row: &LocalPublicationRow) -> Verification {
    let record = &row.package_record;
    let receipt_value = &row.receipt;
    let manifest = member(record, "manifest");
    let definition = member(record, "service_definition");
    let lock = member(record, "recommended_lock");
    let materials = package::normalize_materials(
        record
            .get("implementation_materials")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    let lineage = first_object([
        record.get("lineage"),
        manifest.get("lineage"),
        lock.get("lineage"),
    ])
    .cloned()
    .unwrap_or_else(|| json!({}));
    let package_id = field(record, "package_id");
    let package_version = field(record, "package_version");

    let mut checks: Vec<Check> = Vec::new();
    let parsed_record = PackageRecord::from_value(record.clone());
    let parsed_receipt = serde_json::from_value::<Receipt>(receipt_value.clone());
    let computed_receipt = match (&parsed_record, &parsed_receipt) {
        (Ok(package), Ok(receipt)) => {
            let keys = RegistryKeys::default();
            let report = registry_client::verify_package(
                &VerificationInput {
                    package,
                    receipt,
                    keys: &keys,
                    requested: None,
                    bundle: None,
                },
                &VerifyPolicy {
                    local_receipt: true,
                    ..VerifyPolicy::default()
                },
            );
            checks.extend(report.checks.iter().map(|c| Check {
                name: c.name.as_str().to_owned(),
                status: c.status.label().to_ascii_lowercase(),
                detail: c.reason.clone(),
            }));
            local_receipt_digest(package, &receipt.authority, &receipt.issued_at)
        }
        (Err(error), _) => {
            checks.push(check("package_record", false, error.to_string()));
            String::new()
        }
        (_, Err(error)) => {
            checks.push(check(
                "receipt",
                false,
                format!("unreadable receipt: {error}"),
            ));
            String::new()
        }
    };
    checks.push(check(
        "authority_is_local_studio",
        row.authority == AUTHORITY,
        format!("authority={}", row.authority),
    ));
    checks.push(check(
        "contract_signature_present",
        !field(record, "contract_signature").is_empty(),
        format!("contract_signature={}", field(record, "contract_signature")),
    ));
    checks.extend(
        execution_checks(manifest, definition, lock, &materials, &lineage)
            .into_iter()
            // The verifier's `execution_signature` already recomputes the signature.
            .filter(|c| c.name != "package_execution_signature_matches"),
    );
    let ok = checks.iter().all(|c| c.status != "fail");
    Verification {
        status: if ok { "ok" } else { "failed" }.to_owned(),
        receipt_status: if ok { "verified" } else { "failed" }.to_owned(),
        package_id,
        package_version,
        definition_digest: digest_value(definition),
        manifest_digest: digest_value(manifest),
        lock_digest: digest_value(lock),
        receipt_signature: field(receipt_value, "registry_signature"),
        computed_receipt_signature: computed_receipt,
        checks,
    }
}

/// The `anip-package-bundle/v1` download of a local publication.
pub fn bundle(row: &LocalPublicationRow, exported_at: &str) -> Value {
    let summary = row.summary();
    let record = &row.package_record;
    let manifest = member(record, "manifest");
    let lock = member(record, "recommended_lock");
    let lineage = first_object([
        record.get("lineage"),
        manifest.get("lineage"),
        lock.get("lineage"),
    ])
    .cloned()
    .unwrap_or_else(|| json!({}));
    let or_digest = |key: &str, value: &Value| {
        let stored = field(record, key);
        if stored.is_empty() {
            digest_value(value)
        } else {
            stored
        }
    };
    let execution = [
        field(record, "package_execution_signature"),
        field(manifest, "package_execution_signature"),
        field(lock, "package_execution_signature"),
    ]
    .into_iter()
    .find(|s| !s.is_empty());
    json!({
        "bundle_schema_version": "anip-package-bundle/v1",
        "authority": row.authority,
        "exported_at": exported_at,
        "publication": summary.publication,
        "package": record,
        "receipt": row.receipt,
        "lineage": lineage,
        "manifest": manifest,
        "service_definition": member(record, "service_definition"),
        "lock": lock,
        "digests": {
            "manifest": or_digest("manifest_digest", manifest),
            "service_definition": or_digest("definition_digest", member(record, "service_definition")),
            "lock": or_digest("lock_digest", lock),
            "package_execution": execution,
            "receipt": row.receipt.get("registry_signature"),
        },
    })
}

/// The download file name of a bundle.
pub fn bundle_filename(row: &LocalPublicationRow) -> String {
    format!(
        "{}-{}.anip-package.json",
        row.package_id, row.package_version
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || "._+-".contains(c) {
            c
        } else {
            '-'
        }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Value {
        let definition = json!({"capability_formalizations": [{"capability_id": "a.b"}],
                                "compiled_contract_identity": {"signature": "sig"}});
        let consumability = crate::rules::definition::consumability(&definition);
        let readiness = crate::rules::definition::readiness(&definition, &[]);
        json!({
            "package_id": "acme/pkg", "package_version": "1.0.0+b.1", "project_ref": "p",
            "product_revision_ref": "pr", "developer_revision_ref": "dr", "contract_signature": "sig",
            "lineage": {"project_ref": "p"},
            "manifest": {"anip_spec_version": "anip/0.24", "agent_consumability": consumability,
                         "agent_consumption_readiness": readiness},
            "service_definition": definition,
            "recommended_lock": {},
        })
    }

    #[test]
    fn built_records_verify_and_tampering_is_named() {
        let row = build("p", &request(), "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(row.id, "local-publication-p-acme-pkg-1.0.0-b.1");
        let verification = verify(&row);
        assert_eq!(verification.status, "ok", "{:?}", verification.checks);

        let mut tampered = row.clone();
        tampered.package_record["service_definition"]["capability_formalizations"][0]["summary"] =
            json!("x");
        let failed: Vec<String> = verify(&tampered)
            .checks
            .into_iter()
            .filter(|c| c.status == "fail")
            .map(|c| c.name)
            .collect();
        assert!(
            failed.contains(&"definition_digest".to_owned())
                && failed.contains(&"local_receipt".to_owned()),
            "{failed:?}"
        );

        let bundle = bundle(&row, "now");
        assert_eq!(bundle["bundle_schema_version"], "anip-package-bundle/v1");
        assert_eq!(bundle["digests"]["manifest"], json!(row.manifest_digest));
        assert_eq!(
            bundle_filename(&row),
            "acme-pkg-1.0.0+b.1.anip-package.json"
        );
    }

    #[test]
    fn local_paths_and_secrets_are_refused_naming_the_field() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
        let cases: [(&str, Value, &str, &str); 7] = [
            ("readme", json!(pem), "readme", "private key"),
            (
                "readme",
                json!("/home/alice/x"),
                "readme",
                "local filesystem path",
            ),
            (
                "readme",
                json!("see /root/.anip/secrets.env"),
                "readme",
                "local filesystem path",
            ),
            (
                "implementation_materials",
                json!([{"ref": "/srv/app/.anip/secrets.env", "title": "secrets"}]),
                "implementation_materials[0].ref",
                "local filesystem path",
            ),
            (
                "readme",
                json!("token: ghp_0123456789abcdefghij0123"),
                "readme",
                "GitHub token",
            ),
            (
                "lineage",
                json!({"project_ref": "p", "db_password": "hunter2"}),
                "lineage.db_password",
                "looks like a secret",
            ),
            (
                "recommended_lock",
                json!({"mirror": "C:\\Users\\bob\\lock"}),
                "recommended_lock.mirror",
                "local filesystem path",
            ),
        ];
        for (key, value, path, needle) in cases {
            let mut leaky = request();
            leaky[key] = value;
            let error = build("p", &leaky, "t").expect_err(path);
            assert!(error.starts_with(&format!("{path} ")), "{error}");
            assert!(error.contains(needle), "{error}");
            for secret in ["hunter2", "alice", "secrets.env", "MIIE", "ghp_", "bob"] {
                assert!(!error.contains(secret), "{error}");
            }
        }
        let mut leaky = request();
        leaky["service_definition"]["notes"] = json!("postgres://u:hunter2@db/x");
        let error = build("p", &leaky, "t").unwrap_err();
        assert!(
            error.starts_with(
                "service_definition.notes contains what looks like a URL with a password"
            ),
            "{error}"
        );
        let mut leaky = request();
        leaky["manifest"]["source"] = json!({"api_key": "abc123"});
        let error = build("p", &leaky, "t").unwrap_err();
        assert!(error.starts_with("manifest.source.api_key "), "{error}");

        // Ordinary docs, references and pinned materials are fine.
        let mut fine = request();
        fine["readme"] =
            json!("Installs to /usr/local/bin; set API_KEY from $API_KEY; see /etc/hosts.");
        fine["manifest"]["connection"] = json!({"api_key": "FLIGHT_API_KEY", "token": "${TOKEN}"});
        fine["implementation_materials"] = json!([{
            "ref": format!("registry://acme/bundle@1.2.3#sha256:{}", "a".repeat(64)),
            "title": "bundle"
        }]);
        let row = build("p", &fine, "t").unwrap();
        assert_eq!(verify(&row).status, "ok");
    }

    #[test]
    fn refusals_name_the_failed_check() {
        let mut not_ready = request();
        not_ready["manifest"]["agent_consumption_readiness"]["status"] = json!("blocked");
        assert!(build("p", &not_ready, "t")
            .unwrap_err()
            .starts_with("agent_consumption_readiness_ready"));
        let mut wrong_spec = request();
        wrong_spec["manifest"]["anip_spec_version"] = json!("anip/0.1");
        assert!(build("p", &wrong_spec, "t")
            .unwrap_err()
            .contains("anip/0.24"));
        let mut mismatch = request();
        mismatch["service_definition"]["capability_formalizations"][0]["capability_id"] =
            json!("c.d");
        assert!(build("p", &mismatch, "t")
            .unwrap_err()
            .starts_with("agent_consumability_capabilities_match_definition"));
        let mut missing = request();
        missing["developer_revision_ref"] = json!("");
        assert_eq!(
            build("p", &missing, "t").unwrap_err(),
            "developer_revision_ref is required"
        );
    }
}

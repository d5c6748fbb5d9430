//! Publishing a package as plain functions: normalize the request as upstream does, validate,
//! compute the digests and the package execution signature, render the record and sign the
//! receipt. No I/O: signing happens here, before any database transaction is opened.

use serde_json::{Map, Value};
use signing::digest::{digest_value, package_execution_signature, ExecutionSignatureInput};
use signing::KeySet;

use crate::error::ApiError;
use crate::ids::{PackageId, Version};
use crate::model::{ImplementationMaterial, JsonMap, PublishPackageRequest, Receipt, SourceLink};
use crate::record::{
    implementation_materials_from, normalize_materials, source_links_from, PackageRecord, Rendered,
};
use crate::validate::{self, invalid, str_field, Invalid, ANIP_SPEC_VERSION, SCHEMA_VERSION};

/// Longest accepted project/revision ref or contract signature, in bytes.
pub const MAX_REF_LEN: usize = 512;

/// Who publishes: decided by the token, never by the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherIdentity {
    pub publisher_id: String,
    pub publisher_type: String,
}

/// A publish request whose identity fields are present and parsed (upstream's first two
/// checks), ready for authorization; content is validated later, in [`build_package`].
#[derive(Debug, Clone)]
pub struct PublishIdentity {
    pub package_id: PackageId,
    pub package_version: Version,
    pub request: PublishPackageRequest,
}

/// Upstream's identity checks, in its order and with its messages, then our id parsing (400
/// naming the field).
pub fn publish_identity(request: PublishPackageRequest) -> Result<PublishIdentity, ApiError> {
    if request.package_id.is_empty()
        || request.package_version.is_empty()
        || request.project_ref.is_empty()
    {
        return Err(ApiError::BadRequest(
            "package_id, package_version, and project_ref are required".into(),
        ));
    }
    if request.product_revision_ref.is_empty()
        || request.developer_revision_ref.is_empty()
        || request.contract_signature.is_empty()
    {
        return Err(ApiError::BadRequest(
            "product_revision_ref, developer_revision_ref, and contract_signature are required"
                .into(),
        ));
    }
    let package_id = PackageId::parse(&request.package_id)?;
    let package_version = Version::parse(&request.package_version)?;
    for (field, value) in [
        ("project_ref", &request.project_ref),
        ("product_revision_ref", &request.product_revision_ref),
        ("developer_revision_ref", &request.developer_revision_ref),
        ("contract_signature", &request.contract_signature),
    ] {
        check_ref(field, value)?;
    }
    Ok(PublishIdentity {
        package_id,
        package_version,
        request,
    })
}

fn check_ref(field: &'static str, value: &str) -> Result<(), Invalid> {
    if value.len() > MAX_REF_LEN {
        return Err(invalid(field, format!("exceeds {MAX_REF_LEN} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

/// A package ready to store: record, rendered body, signed receipt.
#[derive(Debug, Clone)]
pub struct BuiltPackage {
    pub record: PackageRecord,
    pub rendered: Rendered,
    pub receipt: Receipt,
    pub payload_version: signing::PayloadVersion,
}

/// Upstream's `normalizePublishRequest`: default the schema version and documents, fold
/// readme, source links and implementation materials between the request and the manifest,
/// and settle the lineage (written into manifest and lock when they lack one).
struct Normalized {
    schema_version: String,
    manifest: JsonMap,
    service_definition: JsonMap,
    recommended_lock: JsonMap,
    readme: String,
    source_links: Vec<SourceLink>,
    implementation_materials: Vec<ImplementationMaterial>,
    lineage: Option<JsonMap>,
}

fn normalize(request: PublishPackageRequest) -> Normalized {
    let schema_version = if request.schema_version.is_empty() {
        SCHEMA_VERSION.to_owned()
    } else {
        request.schema_version
    };
    let mut manifest = request.manifest.unwrap_or_default();
    let service_definition = request.service_definition.unwrap_or_default();
    let mut recommended_lock = request.recommended_lock.unwrap_or_default();

    let readme = if request.readme.trim().is_empty() {
        str_field(&manifest, "readme")
            .unwrap_or_default()
            .to_owned()
    } else {
        request.readme
    }
    .trim()
    .to_owned();

    let requested_links = request.source_links.unwrap_or_default();
    let source_links: Vec<SourceLink> = if requested_links.is_empty() {
        source_links_from(manifest.get("source_links"))
    } else {
        requested_links
            .into_iter()
            .map(|l| SourceLink {
                title: l.title.trim().to_owned(),
                url: l.url.trim().to_owned(),
            })
            .filter(|l| !(l.title.is_empty() && l.url.is_empty()))
            .collect()
    };

    let requested_materials = request.implementation_materials.unwrap_or_default();
    let implementation_materials = if !requested_materials.is_empty() {
        normalize_materials(requested_materials)
    } else {
        let from_plural = implementation_materials_from(manifest.get("implementation_materials"));
        if from_plural.is_empty() {
            implementation_materials_from(manifest.get("implementation_material"))
        } else {
            from_plural
        }
    };

    if !readme.is_empty() {
        manifest.insert("readme".into(), Value::String(readme.clone()));
    }
    if !source_links.is_empty() {
        manifest.insert("source_links".into(), serde_json::json!(source_links));
    }
    if !implementation_materials.is_empty() {
        manifest.insert(
            "implementation_material".into(),
            serde_json::json!({"custom_code_bundles": materials_to_values(&implementation_materials)}),
        );
    }

    let lineage = settle_lineage(request.lineage.as_ref(), &manifest, &recommended_lock);
    if let Some(lineage) = lineage.as_ref().filter(|l| !l.is_empty()) {
        if !manifest.contains_key("lineage") {
            manifest.insert("lineage".into(), Value::Object(lineage.clone()));
        }
        if !recommended_lock.contains_key("lineage") {
            recommended_lock.insert("lineage".into(), Value::Object(lineage.clone()));
        }
    }
    Normalized {
        schema_version,
        manifest,
        service_definition,
        recommended_lock,
        readme,
        source_links,
        implementation_materials,
        lineage,
    }
}

/// Upstream's `normalizeLineage`: the first candidate that either holds a non-empty `lineage`
/// object or is itself a lineage (has `project_ref`, `product_revision` and
/// `developer_revision`).
pub fn settle_lineage(
    request: Option<&JsonMap>,
    manifest: &JsonMap,
    lock: &JsonMap,
) -> Option<JsonMap> {
    let candidates = [request, Some(manifest), Some(lock)];
    for candidate in candidates.into_iter().flatten().filter(|c| !c.is_empty()) {
        if let Some(Value::Object(lineage)) = candidate.get("lineage") {
            if !lineage.is_empty() {
                return Some(lineage.clone());
            }
        }
        if ["project_ref", "product_revision", "developer_revision"]
            .iter()
            .all(|key| candidate.contains_key(*key))
        {
            return Some(candidate.clone());
        }
    }
    None
}

/// Upstream's `implementationMaterialsToAny`: `{ref, title?, bundle_tree_sha256?}`.
pub fn materials_to_values(materials: &[ImplementationMaterial]) -> Vec<Value> {
    materials
        .iter()
        .map(|m| {
            let mut item = Map::new();
            item.insert("ref".into(), Value::String(m.reference.clone()));
            if !m.title.is_empty() {
                item.insert("title".into(), Value::String(m.title.clone()));
            }
            if !m.bundle_tree_sha256.is_empty() {
                item.insert(
                    "bundle_tree_sha256".into(),
                    Value::String(m.bundle_tree_sha256.clone()),
                );
            }
            Value::Object(item)
        })
        .collect()
}

/// The current time as upstream formats it: RFC 3339, whole seconds, UTC, `Z`.
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

/// Formats `at` as RFC 3339 with whole seconds in UTC.
pub fn format_rfc3339(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Upstream's `buildPublishedArtifacts`: normalize, validate, digest the definition, stamp the
/// manifest and lock, check the execution metadata, compute the package execution signature,
/// digest manifest and lock, render the record and sign the receipt with the active key.
pub fn build_package(
    identity: PublishIdentity,
    publisher: &PublisherIdentity,
    published_at: &str,
    keys: &KeySet,
) -> Result<BuiltPackage, Invalid> {
    let PublishIdentity {
        package_id,
        package_version,
        request,
    } = identity;
    let project_ref = request.project_ref.clone();
    let product_revision_ref = request.product_revision_ref.clone();
    let developer_revision_ref = request.developer_revision_ref.clone();
    let contract_signature = request.contract_signature.clone();
    let mut n = normalize(request);

    validate::package_content(&validate::PackageContent {
        schema_version: &n.schema_version,
        manifest: &n.manifest,
        service_definition: &n.service_definition,
        recommended_lock: &n.recommended_lock,
        lineage: n.lineage.as_ref(),
        readme: &n.readme,
        source_links: &n.source_links,
        implementation_materials: &n.implementation_materials,
    })?;

    let definition = Value::Object(std::mem::take(&mut n.service_definition));
    let definition_digest = digest_value(&definition);
    let stamp = |map: &mut JsonMap, key: &str, value: &str| {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    };
    stamp(
        &mut n.manifest,
        "service_definition_digest",
        &definition_digest,
    );
    stamp(
        &mut n.manifest,
        "service_definition_digest_algorithm",
        "sha256",
    );
    stamp(&mut n.manifest, "schema_version", &n.schema_version);
    stamp(
        &mut n.recommended_lock,
        "service_definition_digest",
        &definition_digest,
    );
    stamp(&mut n.recommended_lock, "schema_version", &n.schema_version);
    stamp(
        &mut n.recommended_lock,
        "anip_spec_version",
        ANIP_SPEC_VERSION,
    );

    let Value::Object(service_definition) = definition else {
        unreachable!("the definition was built as an object")
    };
    validate::execution_metadata(&n.manifest, &n.recommended_lock, &service_definition)?;

    let definition = Value::Object(service_definition);
    let manifest = Value::Object(std::mem::take(&mut n.manifest));
    let lock = Value::Object(std::mem::take(&mut n.recommended_lock));
    let materials = materials_to_values(&n.implementation_materials);
    let execution_signature = package_execution_signature(&ExecutionSignatureInput {
        service_definition: &definition,
        manifest: &manifest,
        recommended_lock: &lock,
        implementation_materials: &materials,
        lineage: n.lineage.as_ref(),
    });
    let into_map = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut manifest = into_map(manifest);
    let mut recommended_lock = into_map(lock);
    stamp(
        &mut manifest,
        "package_execution_signature",
        &execution_signature,
    );
    stamp(
        &mut recommended_lock,
        "package_execution_signature",
        &execution_signature,
    );

    let manifest = Value::Object(manifest);
    let recommended_lock = Value::Object(recommended_lock);
    let manifest_digest = digest_value(&manifest);
    let lock_digest = digest_value(&recommended_lock);

    let record = PackageRecord {
        package_id: package_id.into_inner(),
        package_version: package_version.into_inner(),
        project_ref,
        product_revision_ref,
        developer_revision_ref,
        contract_signature,
        publisher_id: publisher.publisher_id.clone(),
        publisher_type: publisher.publisher_type.clone(),
        lineage: n.lineage.filter(|l| !l.is_empty()),
        schema_version: n.schema_version,
        manifest_digest,
        definition_digest,
        lock_digest,
        package_execution_signature: execution_signature,
        published_at: published_at.to_owned(),
        manifest: into_map(manifest),
        service_definition: into_map(definition),
        recommended_lock: into_map(recommended_lock),
    };
    let rendered = record.render();
    let payload = record.receipt_payload(published_at);
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
        issued_at: published_at.to_owned(),
    };
    Ok(BuiltPackage {
        record,
        rendered,
        receipt,
        payload_version: signing::PayloadVersion::Current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonMap {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn identity_checks_follow_upstream_order() {
        let empty = PublishPackageRequest::default();
        let error = publish_identity(empty).unwrap_err();
        assert!(error
            .to_string()
            .contains("package_id, package_version, and project_ref"));
        let partial = PublishPackageRequest {
            package_id: "a".into(),
            package_version: "1.0.0".into(),
            project_ref: "p".into(),
            ..Default::default()
        };
        assert!(publish_identity(partial)
            .unwrap_err()
            .to_string()
            .contains("product_revision_ref"));
        let bad_id = PublishPackageRequest {
            package_id: "a b".into(),
            package_version: "1.0.0".into(),
            project_ref: "p".into(),
            product_revision_ref: "r".into(),
            developer_revision_ref: "d".into(),
            contract_signature: "c".into(),
            ..Default::default()
        };
        assert!(publish_identity(bad_id)
            .unwrap_err()
            .to_string()
            .contains("package_id"));
    }

    #[test]
    fn lineage_settles_like_upstream() {
        let request =
            object(json!({"project_ref": "p", "product_revision": {}, "developer_revision": {}}));
        let manifest = object(json!({"lineage": {"project_ref": "other"}}));
        assert_eq!(
            settle_lineage(Some(&request), &manifest, &Map::new()),
            Some(request.clone())
        );
        let partial = object(json!({"project_ref": "p"}));
        assert_eq!(
            settle_lineage(Some(&partial), &manifest, &Map::new()),
            Some(object(json!({"project_ref": "other"})))
        );
        assert_eq!(settle_lineage(None, &Map::new(), &Map::new()), None);
    }

    #[test]
    fn rfc3339_has_whole_seconds() {
        let at = time::macros::datetime!(2026-05-15 01:02:03.999 UTC);
        assert_eq!(format_rfc3339(at), "2026-05-15T01:02:03Z");
    }
}

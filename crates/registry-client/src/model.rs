//! The Registry API v1 wire types a client reads and sends.
//!
//! Shapes follow upstream's `registryclient` and `registryapi/types.go`. Every response type
//! tolerates missing fields (`#[serde(default)]`) and keeps fields it does not know (`extra`),
//! so a newer Registry, or an upstream one, decodes without loss.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use signing::PublicKeyInfo;

use crate::RegistryError;

/// `package_id@package_version`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackageRef {
    /// Package id (may contain `/` and `@`).
    pub package_id: String,
    /// Package version.
    pub package_version: String,
}

impl PackageRef {
    /// A reference from its parts.
    pub fn new(package_id: impl Into<String>, package_version: impl Into<String>) -> Self {
        PackageRef {
            package_id: package_id.into(),
            package_version: package_version.into(),
        }
    }

    /// Parses `ID@VERSION`, splitting at the last `@` as upstream does (so `@scope/pkg@1.0.0`
    /// is id `@scope/pkg`). Both parts are trimmed and must be non-empty.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let trimmed = text.trim();
        let (id, version) = trimmed
            .rsplit_once('@')
            .map(|(id, version)| (id.trim(), version.trim()))
            .filter(|(id, version)| !id.is_empty() && !version.is_empty())
            .ok_or_else(|| RegistryError::InvalidPackageRef(text.to_owned()))?;
        Ok(PackageRef::new(id, version))
    }
}

impl fmt::Display for PackageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.package_id, self.package_version)
    }
}

impl FromStr for PackageRef {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PackageRef::parse(s)
    }
}

/// `GET keys`: the registry's signing mode, active key and every public key that verifies
/// receipts (older keys stay after a rotation). Also what a bundle records about its registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryKeys {
    /// `dev` or `production`; empty when not reported (an upstream bundle does not record it).
    pub signing_mode: String,
    /// The key new receipts are signed with; empty when not reported.
    pub active_key_id: String,
    /// The advertised public keys.
    pub items: Vec<PublicKeyInfo>,
}

impl RegistryKeys {
    /// The advertised key record with this id.
    pub fn find(&self, key_id: &str) -> Option<&PublicKeyInfo> {
        self.items.iter().find(|key| key.key_id == key_id)
    }
}

/// A package receipt (`GET packages/{id}/{v}/receipt`, a bundle's `receipt`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Receipt {
    /// Digest of `{package_id, package_version, issued_at}`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub receipt_id: String,
    /// The package id the receipt names.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub package_id: String,
    /// The package version the receipt names.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub package_version: String,
    /// `ed25519:<key_id>:<base64>`; empty (or a `sha256:` digest) in unsigned local exports.
    pub registry_signature: String,
    /// `ed25519`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signature_algorithm: String,
    /// The signing key's id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_id: String,
    /// Publisher id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_id: String,
    /// Publisher type.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_type: String,
    /// RFC 3339 time of issue; signed.
    pub issued_at: String,
    /// Bundles only: who issued it (`remote-registry`, `local-dev-registry`, `local-studio`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authority: String,
    /// Fields this client does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a package's lifecycle points users instead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleReplacement {
    /// Replacement package id.
    pub package_id: String,
    /// Replacement package version.
    pub package_version: String,
}

/// A package's lifecycle: `active`, `superseded`, `deprecated`, `yanked` or `takedown`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lifecycle {
    /// The status; empty means `active` (upstream records without one).
    pub status: String,
    /// Why, for every non-active status.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What to use instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<LifecycleReplacement>,
    /// When it last changed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
    /// Who changed it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub updated_by: String,
}

/// `PATCH admin/packages/{id}/{v}/lifecycle` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LifecycleUpdate {
    /// The new status.
    pub status: String,
    /// Why (required for every non-active status).
    pub reason: String,
    /// Replacement package id, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub replacement_package_id: String,
    /// Replacement package version, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub replacement_package_version: String,
}

/// A package record, as `GET packages/{id}/{v}` and `/download` serve it and as a bundle's
/// `package` holds it.
///
/// Kept as the JSON object it arrived as, so that every member (known or not) survives into a
/// bundle unchanged and the digests are recomputed over exactly the documents received.
#[derive(Clone, Debug, PartialEq)]
pub struct PackageRecord(Value);

fn string_member<'a>(value: &'a Value, name: &str) -> &'a str {
    value.get(name).and_then(Value::as_str).unwrap_or_default()
}

impl PackageRecord {
    /// Wraps a JSON object; anything else is [`RegistryError::InvalidBundle`].
    pub fn from_value(value: Value) -> Result<Self, RegistryError> {
        if value.is_object() {
            Ok(PackageRecord(value))
        } else {
            Err(RegistryError::InvalidBundle(
                "the package record is not a JSON object".into(),
            ))
        }
    }

    /// The record as JSON.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The record as JSON, by value.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// A member of the record.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string member, or `""`.
    pub fn str(&self, name: &str) -> &str {
        string_member(&self.0, name)
    }

    /// `package_id`.
    pub fn package_id(&self) -> &str {
        self.str("package_id")
    }

    /// `package_version`.
    pub fn package_version(&self) -> &str {
        self.str("package_version")
    }

    /// `package_id@package_version`.
    pub fn package_ref(&self) -> PackageRef {
        PackageRef::new(self.package_id(), self.package_version())
    }

    /// `publisher_id` (may be empty).
    pub fn publisher_id(&self) -> &str {
        self.str("publisher_id")
    }

    /// `publisher_type` (may be empty).
    pub fn publisher_type(&self) -> &str {
        self.str("publisher_type")
    }

    /// The manifest document.
    pub fn manifest(&self) -> Option<&Value> {
        self.get("manifest")
    }

    /// The service definition document.
    pub fn service_definition(&self) -> Option<&Value> {
        self.get("service_definition")
    }

    /// The recommended lock document.
    pub fn recommended_lock(&self) -> Option<&Value> {
        self.get("recommended_lock")
    }

    /// The publication lineage, when it is a non-empty object.
    pub fn lineage(&self) -> Option<&Map<String, Value>> {
        self.get("lineage")
            .and_then(Value::as_object)
            .filter(|lineage| !lineage.is_empty())
    }

    /// The lifecycle the registry reported with the record; `None` when the record carries
    /// none (upstream treats that as `active`).
    pub fn lifecycle(&self) -> Option<Lifecycle> {
        self.get("lifecycle")
            .and_then(|value| serde_json::from_value(value.clone()).ok())
    }
}

impl Serialize for PackageRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PackageRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Ok(PackageRecord(Value::Object(map)))
    }
}

/// One entry of `GET publications`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicationSummary {
    /// Package id.
    pub package_id: String,
    /// Package version.
    pub package_version: String,
    /// Project reference.
    pub project_ref: String,
    /// Product revision reference.
    pub product_revision_ref: String,
    /// Developer revision reference.
    pub developer_revision_ref: String,
    /// Contract signature.
    pub contract_signature: String,
    /// Publisher id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_id: String,
    /// Publisher type.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_type: String,
    /// Lineage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Value>,
    /// RFC 3339 publication time.
    pub published_at: String,
    /// Downloads so far.
    pub download_count: i64,
    /// Lifecycle, when the registry reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Fields this client does not know (e.g. the `publisher` summary).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET publications`: `{items}`, plus paging fields when the registry paginates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicationList {
    /// The publications on this page.
    pub items: Vec<PublicationSummary>,
    /// Total matches, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// The page size used, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The offset used, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// Paging and search for `GET publications` and `GET templates`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// Items to skip.
    pub offset: Option<u32>,
    /// Search text (`q`).
    pub q: Option<String>,
}

impl ListQuery {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(offset) = self.offset {
            pairs.push(("offset", offset.to_string()));
        }
        if let Some(q) = self.q.as_ref().filter(|q| !q.trim().is_empty()) {
            pairs.push(("q", q.clone()));
        }
        pairs
    }
}

/// One entry of `GET templates`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateSummary {
    /// Template id.
    pub template_id: String,
    /// Template version.
    pub template_version: String,
    /// Template kind.
    pub template_kind: String,
    /// Project type.
    pub project_type: String,
    /// ANIP spec version.
    pub anip_spec_version: String,
    /// Publisher id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_id: String,
    /// Publisher type.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_type: String,
    /// RFC 3339 publication time.
    pub published_at: String,
    /// Downloads so far.
    pub download_count: i64,
    /// Fields this client does not know (domain, industry, systems, manifest, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET templates`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateList {
    /// The templates on this page.
    pub items: Vec<TemplateSummary>,
    /// Total matches, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// The page size used, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The offset used, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
}

/// `201` body of `POST publications`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// The publication summary.
    pub publication: PublicationSummary,
    /// The stored package record.
    pub package: PackageRecord,
    /// The signed receipt.
    pub receipt: Receipt,
}

/// `anip-package-lock/v1`, as `GET packages/{id}/{v}/lock` returns it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackageLock {
    /// `anip-package-lock/v1`.
    pub lock_schema_version: String,
    /// Where the lock came from (`registry`).
    pub source_kind: String,
    /// The registry URL, when the registry knows its public URL.
    pub registry_url: String,
    /// Package id.
    pub package_id: String,
    /// Package version.
    pub package_version: String,
    /// Contract signature.
    pub contract_signature: String,
    /// Definition digest.
    pub definition_digest: String,
    /// Manifest digest.
    pub manifest_digest: String,
    /// Lock digest.
    pub lock_digest: String,
    /// Package execution signature.
    pub package_execution_signature: String,
    /// The receipt's signature.
    pub receipt_signature: String,
    /// The receipt's key id.
    pub receipt_key_id: String,
    /// The receipt's algorithm.
    pub receipt_algorithm: String,
    /// The receipt's time of issue.
    pub receipt_issued_at: String,
    /// The registry's signing mode.
    pub registry_signing_mode: String,
    /// The registry's active key id.
    pub registry_active_key_id: String,
    /// Publisher id.
    pub publisher_id: String,
    /// Publisher type.
    pub publisher_type: String,
    /// Fields this client does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn package_refs_split_at_the_last_at() {
        let parsed = PackageRef::parse(" @acme/pkg@1.2.3 ").unwrap();
        assert_eq!(parsed, PackageRef::new("@acme/pkg", "1.2.3"));
        assert_eq!(parsed.to_string(), "@acme/pkg@1.2.3");
        for bad in ["", "pkg", "pkg@", "@1.0.0", " @ "] {
            assert!(PackageRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn records_must_be_objects() {
        let record = PackageRecord::from_value(json!({"package_id": "p"})).unwrap();
        assert_eq!(record.package_id(), "p");
        assert_eq!(record.package_version(), "");
        assert!(PackageRecord::from_value(json!([1])).is_err());
    }

    #[test]
    fn receipts_keep_unknown_fields() {
        let text = r#"{"registry_signature":"","issued_at":"t","authority":"local-studio","x":1}"#;
        let receipt: Receipt = serde_json::from_str(text).unwrap();
        assert_eq!(receipt.authority, "local-studio");
        assert_eq!(serde_json::to_value(&receipt).unwrap()["x"], json!(1));
    }
}

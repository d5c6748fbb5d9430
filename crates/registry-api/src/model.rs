//! Wire types of the Registry API v1: request bodies as upstream clients send them and the
//! summaries the API returns. Field names and `omitempty` behaviour follow upstream's
//! `registryapi/types.go`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object.
pub type JsonMap = Map<String, Value>;

/// `POST publications` body. Unknown fields are ignored, as upstream's decoder does; the
/// publisher fields are accepted and ignored (the token decides who publishes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PublishPackageRequest {
    pub package_id: String,
    pub package_version: String,
    pub project_ref: String,
    pub product_revision_ref: String,
    pub developer_revision_ref: String,
    pub contract_signature: String,
    pub publisher_id: Option<String>,
    pub publisher_type: Option<String>,
    pub lineage: Option<JsonMap>,
    pub schema_version: String,
    pub manifest: Option<JsonMap>,
    pub service_definition: Option<JsonMap>,
    pub recommended_lock: Option<JsonMap>,
    pub readme: String,
    pub source_links: Option<Vec<SourceLink>>,
    pub implementation_materials: Option<Vec<ImplementationMaterial>>,
}

/// A link to the package's source or documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceLink {
    pub title: String,
    pub url: String,
}

/// A pinned custom-code bundle the package needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImplementationMaterial {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bundle_tree_sha256: String,
}

/// A package's lifecycle as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<LifecycleReplacement>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_by: String,
}

impl Lifecycle {
    /// The lifecycle of a freshly published package.
    pub fn active() -> Self {
        Lifecycle {
            status: "active".to_owned(),
            reason: String::new(),
            replacement: None,
            updated_at: String::new(),
            updated_by: String::new(),
        }
    }

    /// The reason kept in the version's state: none for `active` (registry.md asks a reason of
    /// every non-active state, and an active version has nothing to explain). A reason sent
    /// with `active` (upstream clients may send one when restoring a version) is accepted and
    /// goes to the audit event only.
    pub fn stored_reason(&self) -> &str {
        if self.status == "active" {
            ""
        } else {
            &self.reason
        }
    }

    /// Whether this is the plain `active` state (no reason, no replacement).
    pub fn is_plain_active(&self) -> bool {
        self.status == "active" && self.reason.is_empty() && self.replacement.is_none()
    }
}

/// The package a lifecycle points users to instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleReplacement {
    pub package_id: String,
    pub package_version: String,
}

/// `PATCH admin/packages/{id}/{v}/lifecycle` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UpdateLifecycleRequest {
    pub status: String,
    pub reason: String,
    pub replacement_package_id: String,
    pub replacement_package_version: String,
}

/// A publisher as embedded in listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublisherSummary {
    pub publisher_id: String,
    pub publisher_type: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub website_url: String,
    pub status: String,
    pub trust_level: String,
}

/// One entry of `GET publications`.
#[derive(Debug, Clone, Serialize)]
pub struct PublicationSummary {
    pub package_id: String,
    pub package_version: String,
    pub project_ref: String,
    pub product_revision_ref: String,
    pub developer_revision_ref: String,
    pub contract_signature: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<PublisherSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<JsonMap>,
    pub published_at: String,
    pub download_count: i64,
    pub lifecycle: Lifecycle,
}

/// A receipt as served by `GET packages/{id}/{v}/receipt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub receipt_id: String,
    pub package_id: String,
    pub package_version: String,
    pub registry_signature: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature_algorithm: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub publisher_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub publisher_type: String,
    pub issued_at: String,
}

/// A public key as `GET keys` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyEntry {
    pub key_id: String,
    pub algorithm: String,
    pub public_key: String,
}

/// `anip-package-lock/v1`, as `GET packages/{id}/{v}/lock` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct PackageLock {
    pub lock_schema_version: &'static str,
    pub artifact_type: &'static str,
    pub source_kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registry_url: String,
    pub package_id: String,
    pub package_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub contract_signature: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub schema_version: String,
    pub definition_digest: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub manifest_digest: String,
    pub lock_digest: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub package_execution_signature: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub receipt_signature: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub receipt_authority: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub receipt_key_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub receipt_algorithm: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub receipt_issued_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registry_signing_mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub registry_active_key_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_type: String,
}

/// `POST templates` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PublishTemplateRequest {
    pub template_id: String,
    pub template_version: String,
    pub publisher_id: Option<String>,
    pub publisher_type: Option<String>,
    pub manifest: Option<JsonMap>,
    pub template: Option<JsonMap>,
    pub package: Option<JsonMap>,
}

/// One entry of `GET templates`.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateSummary {
    pub template_id: String,
    pub template_version: String,
    pub template_kind: String,
    pub project_type: String,
    pub anip_spec_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub industry: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publisher_type: String,
    pub published_at: String,
    pub download_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Value>,
}

/// A publisher as the self-service and admin routes show it.
#[derive(Debug, Clone, Serialize)]
pub struct Publisher {
    pub publisher_id: String,
    pub publisher_type: String,
    pub display_name: String,
    pub description: String,
    pub website_url: String,
    pub status: String,
    pub trust_level: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A namespace claim.
#[derive(Debug, Clone, Serialize)]
pub struct NamespaceSummary {
    pub namespace: String,
    pub publisher_id: String,
    pub artifact_kinds: Vec<String>,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

/// An owned artifact.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactSummary {
    pub artifact_kind: String,
    pub artifact_id: String,
    pub namespace: String,
    pub publisher_id: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

/// What a publish token may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenScopes {
    pub operations: Vec<String>,
    pub namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub package_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub template_ids: Vec<String>,
}

/// A publish token, never with its secret.
#[derive(Debug, Clone, Serialize)]
pub struct TokenSummary {
    pub token_id: String,
    pub publisher_id: String,
    pub label: String,
    pub scopes: TokenScopes,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub expires_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_used_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub revoked_at: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST me/tokens` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CreateTokenRequest {
    pub label: String,
    pub scopes: TokenScopes,
    pub expires_at: String,
}

/// `PATCH me/publisher` body. The PATCH is partial: an absent field is `None` (unchanged), an
/// explicit `null` is `Some(None)`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UpdatePublisherRequest {
    #[serde(deserialize_with = "present")]
    pub display_name: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    pub website_url: Option<Option<String>>,
}

/// Reads a field that is present in the body, `null` included, as `Some`; with
/// `#[serde(default)]` an absent one stays `None`. This is how a partial update tells "leave
/// it" from "clear it".
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `POST me/namespaces` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CreateNamespaceRequest {
    pub namespace: String,
    pub artifact_kinds: Vec<String>,
}

/// `PATCH admin/namespaces/{ns}` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UpdateStatusRequest {
    pub status: String,
    pub reason: String,
    pub trust_level: String,
}

/// A page of an admin listing: `{items, total, limit, offset}`.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// A template receipt (our registry signs templates; upstream does not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateReceipt {
    pub receipt_id: String,
    pub template_id: String,
    pub template_version: String,
    pub registry_signature: String,
    pub signature_algorithm: String,
    pub key_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub publisher_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub publisher_type: String,
    pub issued_at: String,
}

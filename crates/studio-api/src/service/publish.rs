//! Publishing: Studio-local publications, publications to the Registry (with the trust verdict
//! on its receipt) and template export.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::developer::{self, PackageOptionsBody};
use super::{project, project_for_update, settings};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::hashing;
use crate::ids::{self, PackageId, PackageVersion, ProjectId, RecordId};
use crate::model::{Artifact, LocalPublication};
use crate::registry_publish::{trust, RegistryClient, RegistryError};
use crate::rules::{
    self, baseline, contract, definition::Severity, guard, local_publication, template,
};
use crate::store::{self, artifacts::Table, Db, GenericClient};
use crate::timefmt;

/// `artifact_type` of the records of Registry publications.
pub const REGISTRY_PUBLICATION_TYPE: &str = "developer_registry_publication";

/// A project's local publications.
pub async fn local_list(db: &Db, project_id: &ProjectId) -> Result<Vec<LocalPublication>> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    Ok(store::publications::list(&client, project_id.as_str())
        .await?
        .iter()
        .map(store::publications::LocalPublicationRow::summary)
        .collect())
}

/// One local publication's stored row.
pub async fn local_row(
    db: &Db,
    project_id: &ProjectId,
    id: &RecordId,
) -> Result<store::publications::LocalPublicationRow> {
    store::publications::get(&db.client().await?, project_id.as_str(), id.as_str())
        .await?
        .ok_or_else(|| Error::not_found("local publication", id.as_str()))
}

/// Turns a body into a publish request: a full request (it has a `manifest`) is taken as is;
/// otherwise the body holds package options and the package is built from the latest saved
/// revision, refused (422) unless it is publishable.
pub async fn request_from_body(db: &Db, project_id: &ProjectId, body: Value) -> Result<Value> {
    if !body.is_object() {
        return Err(Error::BadRequest(
            "The publication body must be a JSON object.".into(),
        ));
    }
    if body.get("manifest").is_some() {
        return Ok(body);
    }
    let options: PackageOptionsBody = serde_json::from_value(body)
        .map_err(|e| Error::BadRequest(format!("Invalid package options: {e}")))?;
    let preview = developer::package(db, project_id, options).await?;
    if let Some(first) = preview
        .findings
        .iter()
        .find(|f| matches!(f.severity, Severity::Blocker | Severity::Warning))
    {
        return Err(Error::Unprocessable(format!(
            "The package is not ready to publish: {} ({}: {}) {}",
            first.message, first.code, first.path, first.hint
        )));
    }
    Ok(preview.request)
}

async fn guard_check(c: &impl GenericClient, project_id: &str, request: &Value) -> Result<()> {
    let pm = |id: String| async move {
        store::artifacts::get(c, Table::PmArtifacts, project_id, &id).await
    };
    let current = pm(contract::definition_id(project_id)).await?;
    let reference = rules::field(request, "developer_revision_ref");
    let referenced = if reference.is_empty() {
        None
    } else {
        pm(reference)
            .await?
            .filter(|a| rules::field(&a.data, "artifact_type") == contract::REVISION_TYPE)
    };
    let baseline_record = pm(baseline::baseline_id(project_id)).await?;
    guard::check(
        &guard::GuardContext {
            project_id,
            current_definition: current.as_ref(),
            referenced_revision: referenced.as_ref(),
            baseline: baseline_record.as_ref().map(|b| &b.data),
        },
        request,
    )
    .map_err(Error::Unprocessable)
}

/// Publishes locally: guard, build the immutable record, store it (409 on a duplicate
/// version).
pub async fn local_create(
    db: &Db,
    project_id: &ProjectId,
    body: Value,
) -> Result<LocalPublication> {
    let request = request_from_body(db, project_id, body).await?;
    super::check_json("publication", &request)?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let pid = project_for_update(&tx, project_id.as_str()).await?.id;
    guard_check(&tx, &pid, &request).await?;
    let row = local_publication::build(&pid, &request, &timefmt::now_js())
        .map_err(Error::Unprocessable)?;
    if store::publications::list(&tx, &pid)
        .await?
        .iter()
        .any(|p| p.package_id == row.package_id && p.package_version == row.package_version)
    {
        return Err(Error::Conflict(format!(
            "{}@{} is already published locally for this project; local publications are immutable, so choose a new version.",
            row.package_id, row.package_version
        )));
    }
    store::publications::insert(&tx, &row, None, None).await?;
    store::projects::touch(&tx, &pid).await?;
    let stored = store::publications::get(&tx, &pid, &row.id)
        .await?
        .ok_or_else(|| Error::Internal("publication vanished after insert".into()))?;
    tx.commit().await?;
    Ok(stored.summary())
}

/// The outcome of a Registry publication as Studio reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryPublication {
    /// The Registry's publication summary.
    #[schema(value_type = Object)]
    pub publication: Value,
    /// The package record as the Registry stored it.
    #[schema(value_type = Object)]
    pub package: Value,
    /// The Registry's receipt.
    #[schema(value_type = Object)]
    pub receipt: Value,
    /// Studio's verdict on the receipt.
    pub trust: trust::TrustVerdict,
    /// The Studio record of this publication (`null` if recording failed).
    pub record_id: Option<String>,
}

fn publish_token(env: &Settings) -> Result<&signing::Secret> {
    env.registry_publish_token.as_ref().ok_or_else(|| {
        Error::BadRequest(
            "Registry publish token is not configured; set STUDIO_REGISTRY_PUBLISH_TOKEN in Studio's environment.".into(),
        )
    })
}

/// Publishes a package to the Registry: token (400), body (400), `project_ref` (422), the
/// publication guard (422), forwarding (Registry errors pass through; unreachable is 502),
/// then the receipt is judged against the trust policy and the outcome recorded whatever
/// the verdict.
pub async fn registry_publish(
    db: &Db,
    env: &Settings,
    registry: &RegistryClient,
    body: Value,
) -> Result<(u16, RegistryPublication)> {
    let token = publish_token(env)?;
    if !body.is_object() {
        return Err(Error::BadRequest(
            "Invalid registry publication payload: expected a JSON object.".into(),
        ));
    }
    let project_ref = rules::field(&body, "project_ref");
    if project_ref.is_empty() {
        return Err(Error::Unprocessable(
            "project_ref is required for package publication.".into(),
        ));
    }
    let project_id = ProjectId::parse(guard::project_id_from_ref(&project_ref))?;
    registry_publish_request(db, env, registry, token, &project_id, body).await
}

/// Builds the package of the latest saved revision with `options` and publishes it.
pub async fn registry_publish_project(
    db: &Db,
    env: &Settings,
    registry: &RegistryClient,
    project_id: &ProjectId,
    options: Value,
) -> Result<(u16, RegistryPublication)> {
    let token = publish_token(env)?;
    let request = request_from_body(db, project_id, options).await?;
    registry_publish_request(db, env, registry, token, project_id, request).await
}

async fn registry_publish_request(
    db: &Db,
    env: &Settings,
    registry: &RegistryClient,
    token: &signing::Secret,
    project_id: &ProjectId,
    request: Value,
) -> Result<(u16, RegistryPublication)> {
    {
        let client = db.client().await?;
        let pid = project(&client, project_id.as_str()).await?.id;
        guard_check(&client, &pid, &request).await?;
    }
    let effective = settings::effective(db, env).await?;
    let base = effective
        .registry_url
        .clone()
        .ok_or(RegistryError::NotConfigured)?;
    let (status, response) = registry.publish_package(&base, token, &request).await?;
    let verdict = match registry.keys(&base).await {
        Ok(keys) => trust::judge(&request, &response, &keys, &effective.policy),
        Err(error) => {
            let mut verdict = trust::judge(&request, &response, &json!({}), &effective.policy);
            verdict.checks.push(trust::TrustCheck {
                name: "registry_keys_available".into(),
                status: "fail".into(),
                detail: error.to_string(),
            });
            verdict.verdict = "untrusted".into();
            verdict.summary =
                format!("Untrusted: the Registry's keys could not be read ({error}).");
            verdict
        }
    };
    tracing::info!(
        event = "studio_registry_publication",
        project_id = project_id.as_str(),
        package_id = %rules::field(&request, "package_id"),
        package_version = %rules::field(&request, "package_version"),
        verdict = %verdict.verdict,
        "published to the Registry"
    );
    let record_id = match record_registry_publication(
        db, project_id, &base, &request, &response, &verdict,
    )
    .await
    {
        Ok(id) => Some(id),
        Err(error) => {
            tracing::error!(event = "studio_registry_publication_unrecorded", error = %error, "the Registry accepted the package but Studio could not record it");
            None
        }
    };
    Ok((
        status.as_u16(),
        RegistryPublication {
            publication: response.get("publication").cloned().unwrap_or(Value::Null),
            package: response.get("package").cloned().unwrap_or(Value::Null),
            receipt: response.get("receipt").cloned().unwrap_or(Value::Null),
            trust: verdict,
            record_id,
        },
    ))
}

async fn record_registry_publication(
    db: &Db,
    project_id: &ProjectId,
    registry_url: &str,
    request: &Value,
    response: &Value,
    verdict: &trust::TrustVerdict,
) -> Result<String> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let pid = project_for_update(&tx, project_id.as_str()).await?.id;
    let id = format!("{pid}-registry-publication-{}", ids::new_uuid());
    let data = json!({
        "artifact_type": REGISTRY_PUBLICATION_TYPE,
        "authority": "remote-registry",
        "registry_url": registry_url,
        "publication": response.get("publication"),
        "package": response.get("package"),
        "receipt": response.get("receipt"),
        "trust": verdict,
        "published_from_saved_revision": {
            "revision_artifact_id": request.get("developer_revision_ref"),
            "contract_signature": request.get("contract_signature"),
            "product_revision_ref": request.get("product_revision_ref"),
        },
    });
    let record = Artifact {
        id: id.clone(),
        project_id: pid.clone(),
        title: format!(
            "Registry Publication {}@{}",
            rules::field(request, "package_id"),
            rules::field(request, "package_version")
        ),
        status: "frozen".into(),
        content_hash: hashing::content_hash(&data),
        data,
        role: None,
        requirements_id: None,
        created_at: String::new(),
        updated_at: String::new(),
    };
    store::artifacts::insert(&tx, Table::PmArtifacts, &record, None, None).await?;
    store::projects::touch(&tx, &pid).await?;
    tx.commit().await?;
    Ok(id)
}

/// A recorded Registry publication.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedPublication {
    /// The Studio record id.
    pub record_id: String,
    /// The project.
    pub project_id: String,
    /// Package id.
    pub package_id: String,
    /// Package version.
    pub package_version: String,
    /// The Registry it went to.
    pub registry_url: String,
    /// `trusted` or `untrusted`.
    pub verdict: String,
    /// The verdict's explanation.
    pub summary: String,
    /// When it was recorded.
    pub recorded_at: String,
}

fn recorded(a: &Artifact) -> RecordedPublication {
    RecordedPublication {
        record_id: a.id.clone(),
        project_id: a.project_id.clone(),
        package_id: a
            .data
            .pointer("/package/package_id")
            .map(|v| rules::text(Some(v)))
            .unwrap_or_default(),
        package_version: a
            .data
            .pointer("/package/package_version")
            .map(|v| rules::text(Some(v)))
            .unwrap_or_default(),
        registry_url: rules::field(&a.data, "registry_url"),
        verdict: a
            .data
            .pointer("/trust/verdict")
            .map(|v| rules::text(Some(v)))
            .unwrap_or_else(|| "unknown".into()),
        summary: a
            .data
            .pointer("/trust/summary")
            .map(|v| rules::text(Some(v)))
            .unwrap_or_default(),
        recorded_at: a.created_at.clone(),
    }
}

/// Recorded Registry publications of one project (newest first).
pub async fn registry_publications(
    db: &Db,
    project_id: &ProjectId,
) -> Result<Vec<RecordedPublication>> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    let mut rows: Vec<RecordedPublication> =
        store::artifacts::pm_by_type(&client, project_id.as_str(), REGISTRY_PUBLICATION_TYPE)
            .await?
            .iter()
            .map(recorded)
            .collect();
    rows.reverse();
    Ok(rows)
}

/// Recorded Registry publications of every project (newest first).
pub async fn all_registry_publications(db: &Db) -> Result<Vec<RecordedPublication>> {
    let client = db.client().await?;
    Ok(
        store::artifacts::pm_by_type_everywhere(&client, REGISTRY_PUBLICATION_TYPE)
            .await?
            .iter()
            .map(recorded)
            .collect(),
    )
}

/// Registry templates, or an empty list with a warning when the Registry is not reachable.
pub async fn registry_templates(
    db: &Db,
    env: &Settings,
    registry: &RegistryClient,
) -> Result<Value> {
    let effective = settings::effective(db, env).await?;
    let Some(base) = effective.registry_url else {
        return Ok(
            json!({"items": [], "warning": "No Registry is configured, so no Registry templates are listed."}),
        );
    };
    match registry.templates(&base).await {
        Ok(list) => Ok(list),
        Err(RegistryError::Unreachable { .. } | RegistryError::InvalidResponse(_)) => Ok(json!({
            "items": [],
            "warning": "Registry templates are unavailable because Studio could not reach the configured Registry.",
        })),
        Err(other) => Err(other.into()),
    }
}

/// Query of the template preview and body of a project-based template export.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateOptions {
    /// The source project (template export body only).
    #[schema(value_type = Option<String>)]
    pub project_id: Option<ProjectId>,
    /// Template id; `<project slug>-starter` when absent.
    pub template_id: Option<String>,
    /// Template version; `0.1.0` when absent.
    pub template_version: Option<String>,
}

/// A starter template built from a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplatePreview {
    /// The Registry template publish request.
    #[schema(value_type = Object)]
    pub request: Value,
    /// What was left out.
    pub warnings: Vec<String>,
}

/// Builds the starter template of a project.
pub async fn template_preview(
    db: &Db,
    project_id: &ProjectId,
    options: &TemplateOptions,
) -> Result<TemplatePreview> {
    let client = db.client().await?;
    let project_row = project(&client, project_id.as_str()).await?;
    let template_id = match options
        .template_id
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        Some(id) => PackageId::parse(id.trim())?,
        None => PackageId::slug_from(&format!("{} starter", project_row.name))
            .ok_or_else(|| Error::Unprocessable("Choose a template_id.".into()))?,
    };
    let version = PackageVersion::parse(
        options
            .template_version
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or("0.1.0")
            .trim(),
    )?;
    let documents = store::documents::list_with_content(&client, &project_row.id).await?;
    let connections = store::connections::list(&client, &project_row.workspace_id).await?;
    let records = store::connections::list_records(&client, &project_row.id).await?;
    let pm = store::artifacts::list(&client, Table::PmArtifacts, &project_row.id).await?;
    let (request, warnings) = template::build(&template::TemplateInputs {
        project: &project_row,
        documents: &documents,
        connections: &connections,
        discovery_records: &records,
        pm_artifacts: &pm,
        template_id: &template_id,
        template_version: &version,
        exported_at: &timefmt::now_js(),
    });
    Ok(TemplatePreview { request, warnings })
}

/// Exports a template to the Registry: a full template request is forwarded as is; a body
/// naming a project builds the template from it first.
pub async fn registry_template_publish(
    db: &Db,
    env: &Settings,
    registry: &RegistryClient,
    body: Value,
) -> Result<(u16, Value)> {
    let token = publish_token(env)?;
    if !body.is_object() {
        return Err(Error::BadRequest(
            "Invalid registry template payload: expected a JSON object.".into(),
        ));
    }
    let request = if body.get("template").is_some() {
        body
    } else {
        let options: TemplateOptions = serde_json::from_value(body)
            .map_err(|e| Error::BadRequest(format!("Invalid template options: {e}")))?;
        let project_id = options.project_id.clone().ok_or_else(|| {
            Error::Unprocessable("project_id is required to export a project as a template.".into())
        })?;
        template_preview(db, &project_id, &options).await?.request
    };
    let effective = settings::effective(db, env).await?;
    let base = effective.registry_url.ok_or(RegistryError::NotConfigured)?;
    let (status, response) = registry.publish_template(&base, token, &request).await?;
    Ok((status.as_u16(), response))
}

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
use crate::registry::{self, Registries, TrustCheck, TrustVerdict};
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
    /// Studio's verdict: the named checks of the shared verifier.
    pub trust: TrustVerdict,
    /// The Studio record of this publication (`null` if recording failed).
    pub record_id: Option<String>,
}

/// Refuses (400) when no publish token is configured; the token itself travels inside the
/// Registry client ([`Registries`]), which is made from the same settings.
fn require_publish_token(env: &Settings) -> Result<()> {
    if env.registry_publish_token.is_none() {
        return Err(Error::BadRequest(
            "Registry publish token is not configured; set STUDIO_REGISTRY_PUBLISH_TOKEN in Studio's environment.".into(),
        ));
    }
    Ok(())
}

/// Publishes a package to the Registry: token (400), body (400), `project_ref` (422), the
/// publication guard (422), forwarding (Registry errors pass through; unreachable is 502),
/// then the Registry's answer is verified (`registry_client::verify_package`) under the trust
/// policy and the outcome recorded whatever the verdict.
pub async fn registry_publish(
    db: &Db,
    env: &Settings,
    registry: &Registries,
    body: Value,
) -> Result<(u16, RegistryPublication)> {
    require_publish_token(env)?;
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
    registry_publish_request(db, env, registry, &project_id, body).await
}

/// Builds the package of the latest saved revision with `options` and publishes it.
pub async fn registry_publish_project(
    db: &Db,
    env: &Settings,
    registry: &Registries,
    project_id: &ProjectId,
    options: Value,
) -> Result<(u16, RegistryPublication)> {
    require_publish_token(env)?;
    let request = request_from_body(db, project_id, options).await?;
    registry_publish_request(db, env, registry, project_id, request).await
}

async fn registry_publish_request(
    db: &Db,
    env: &Settings,
    registry: &Registries,
    project_id: &ProjectId,
    request: Value,
) -> Result<(u16, RegistryPublication)> {
    {
        let client = db.client().await?;
        let pid = project(&client, project_id.as_str()).await?.id;
        guard_check(&client, &pid, &request).await?;
    }
    let effective = settings::effective(db, env).await?;
    let client = registry.client(effective.registry_url.as_deref())?;
    let response = client.publish(&request).await?;
    let keys = client
        .keys()
        .await
        .map_err(|error| Error::from(error).detail());
    let verdict = registry::verdict(
        &request,
        &response.package,
        &response.receipt,
        keys.as_ref().map_err(String::as_str),
        &effective.policy,
    );
    tracing::info!(
        event = "studio_registry_publication",
        project_id = project_id.as_str(),
        package_id = %rules::field(&request, "package_id"),
        package_version = %rules::field(&request, "package_version"),
        verdict = %verdict.verdict,
        "published to the Registry"
    );
    let outcome = RegistryPublication {
        publication: serde_json::to_value(&response.publication).unwrap_or(Value::Null),
        package: response.package.into_value(),
        receipt: serde_json::to_value(&response.receipt).unwrap_or(Value::Null),
        trust: verdict,
        record_id: None,
    };
    let record_id = match record_registry_publication(
        db,
        project_id,
        client.api_base(),
        &request,
        &outcome,
    )
    .await
    {
        Ok(id) => Some(id),
        Err(error) => {
            tracing::error!(event = "studio_registry_publication_unrecorded", error = %error, "the Registry accepted the package but Studio could not record it");
            None
        }
    };
    // The Registry answers a publication with 201; Studio says the same.
    Ok((
        201,
        RegistryPublication {
            record_id,
            ..outcome
        },
    ))
}

async fn record_registry_publication(
    db: &Db,
    project_id: &ProjectId,
    registry_url: &str,
    request: &Value,
    outcome: &RegistryPublication,
) -> Result<String> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let pid = project_for_update(&tx, project_id.as_str()).await?.id;
    let id = format!("{pid}-registry-publication-{}", ids::new_uuid());
    let data = json!({
        "artifact_type": REGISTRY_PUBLICATION_TYPE,
        "authority": "remote-registry",
        "registry_url": registry_url,
        "publication": outcome.publication,
        "package": outcome.package,
        "receipt": outcome.receipt,
        "trust": outcome.trust,
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
    /// `verified` or `untrusted` (records made before the shared verifier say `trusted`,
    /// shown as `verified`).
    pub verdict: String,
    /// The verdict's explanation.
    pub summary: String,
    /// The verifier's named checks.
    pub checks: Vec<TrustCheck>,
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
        verdict: match a.data.pointer("/trust/verdict").and_then(Value::as_str) {
            Some("trusted") => registry::VERIFIED.to_owned(),
            Some(verdict) => verdict.to_owned(),
            None => "unknown".to_owned(),
        },
        checks: a
            .data
            .pointer("/trust/checks")
            .and_then(|checks| serde_json::from_value(checks.clone()).ok())
            .unwrap_or_default(),
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
pub async fn registry_templates(db: &Db, env: &Settings, registry: &Registries) -> Result<Value> {
    let effective = settings::effective(db, env).await?;
    let Some(base) = effective.registry_url else {
        return Ok(
            json!({"items": [], "warning": "No Registry is configured, so no Registry templates are listed."}),
        );
    };
    let unavailable = || {
        json!({
            "items": [],
            "warning": "Registry templates are unavailable because Studio could not reach the configured Registry.",
        })
    };
    let Ok(client) = registry.client(Some(&base)) else {
        return Ok(unavailable());
    };
    match client
        .templates(&registry_client::ListQuery::default())
        .await
    {
        Ok(list) => serde_json::to_value(list).map_err(|e| Error::Internal(e.to_string())),
        Err(error) if registry::is_unavailable(&error) => Ok(unavailable()),
        Err(error) => Err(error.into()),
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
        Some(id) => PackageId::parse_as("template_id", id.trim())?,
        None => PackageId::slug_from(&format!("{} starter", project_row.name))
            .ok_or_else(|| Error::Unprocessable("Choose a template_id.".into()))?,
    };
    let version = PackageVersion::parse_as(
        "template_version",
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
    registry: &Registries,
    body: Value,
) -> Result<(u16, Value)> {
    require_publish_token(env)?;
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
    let client = registry.client(effective.registry_url.as_deref())?;
    let response = client.publish_template(&request).await?;
    // The Registry answers a template publication with 201; Studio says the same.
    Ok((201, response))
}

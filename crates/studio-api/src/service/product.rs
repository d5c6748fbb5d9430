//! Product design: sections, and revisions that freeze them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{check_json, project, project_for_update};
use crate::error::{Error, Result};
use crate::hashing;
use crate::ids::{ProjectId, SectionKey};
use crate::model::Artifact;
use crate::rules::product;
use crate::store::{self, artifacts::Table, Db};
use crate::timefmt;

/// One section slot of the product design.
#[derive(Debug, Serialize, ToSchema)]
pub struct SectionView {
    /// The section key.
    pub key: SectionKey,
    /// Its display title.
    pub title: String,
    /// The record, when written.
    pub artifact: Option<Artifact>,
}

/// The product design of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductOverview {
    /// The six sections, in order.
    pub sections: Vec<SectionView>,
    /// The latest frozen revision.
    pub latest_revision: Option<Artifact>,
    /// Whether the sections differ from the latest revision (or no revision exists yet).
    pub unsaved_changes: bool,
    /// The current product design hash.
    pub product_design_hash: String,
}

/// Body of `PUT /api/projects/{project_id}/product/sections/{section}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionBody {
    /// The section's content (a JSON object; `artifact_type` is set by Studio).
    #[schema(value_type = Object)]
    pub data: Value,
    /// Title; the section's standard title when absent.
    pub title: Option<String>,
    /// Save only if the section's content hash is still this (`""` for "not written yet").
    pub expected_content_hash: Option<String>,
}

/// Body of `POST /api/projects/{project_id}/product/revisions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveRevisionBody {
    /// The revision the author's view is based on (`null` when there is none yet). When it
    /// is not the latest, the save is refused with 409: someone else saved meanwhile.
    #[serde(default, deserialize_with = "crate::service::present")]
    #[schema(value_type = Option<i64>)]
    pub expected_previous_revision: Option<Option<i64>>,
    /// Set to skip the check above.
    #[serde(default)]
    pub force: bool,
}

/// The product design.
pub async fn overview(db: &Db, project_id: &ProjectId) -> Result<ProductOverview> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    let artifacts =
        store::artifacts::list(&client, Table::PmArtifacts, project_id.as_str()).await?;
    let sections = product::sections(&artifacts);
    let latest =
        store::artifacts::latest_revision(&client, project_id.as_str(), product::REVISION_TYPE)
            .await?;
    let unsaved = match &latest {
        Some(revision) => product::differs_from_revision(&sections, &revision.data),
        None => !sections.is_empty(),
    };
    let hash = product::design_hash(&sections);
    let views = SectionKey::ALL
        .iter()
        .map(|key| SectionView {
            key: *key,
            title: key.title().to_owned(),
            artifact: sections
                .iter()
                .find(|a| rules_type(a) == key.as_str())
                .map(|a| (*a).clone()),
        })
        .collect();
    Ok(ProductOverview {
        sections: views,
        latest_revision: latest,
        unsaved_changes: unsaved,
        product_design_hash: hash,
    })
}

fn rules_type(a: &Artifact) -> String {
    crate::rules::field(&a.data, "artifact_type")
}

/// A section write checked and ready to store: everything that can be refused without the
/// database has been, so several can be validated before any is written.
pub(crate) struct SectionWrite {
    key: SectionKey,
    data: Value,
    title: String,
    expected_content_hash: Option<String>,
}

/// Checks a section write without touching the database.
pub(crate) fn prepare_section(key: SectionKey, body: SectionBody) -> Result<SectionWrite> {
    let data = product::section_data(key, body.data).map_err(Error::Unprocessable)?;
    check_json("data", &data)?;
    let title = body
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| key.title().to_owned());
    super::check_text("title", &title, 500)?;
    Ok(SectionWrite {
        key,
        data,
        title: title.trim().to_owned(),
        expected_content_hash: body.expected_content_hash,
    })
}

/// Writes a prepared section inside the caller's transaction (the project must already be
/// locked by it).
pub(crate) async fn write_section(
    tx: &impl store::GenericClient,
    project_id: &str,
    write: SectionWrite,
) -> Result<Artifact> {
    let key = write.key;
    let id = product::section_id(project_id, key);
    let current = store::artifacts::get(tx, Table::PmArtifacts, project_id, &id).await?;
    if let Some(expected) = &write.expected_content_hash {
        let now = current
            .as_ref()
            .map(|a| a.content_hash.as_str())
            .unwrap_or("");
        if now != expected {
            return Err(Error::Conflict(format!(
                "The {} section changed since you loaded it; reload and apply your change again.",
                key.title()
            )));
        }
    }
    let artifact = Artifact {
        id: id.clone(),
        project_id: project_id.to_owned(),
        title: write.title,
        status: "active".to_owned(),
        content_hash: hashing::content_hash(&write.data),
        data: write.data,
        role: None,
        requirements_id: None,
        created_at: String::new(),
        updated_at: String::new(),
    };
    let stored = store::artifacts::upsert_pm(tx, &artifact)
        .await?
        .ok_or_else(|| Error::Conflict(format!("Record id {id:?} is used by another project.")))?;
    store::projects::touch(tx, project_id).await?;
    Ok(stored)
}

/// Writes a section (content hash recomputed; optimistic check when asked).
pub async fn save_section(
    db: &Db,
    project_id: &ProjectId,
    key: SectionKey,
    body: SectionBody,
) -> Result<Artifact> {
    let write = prepare_section(key, body)?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    project_for_update(&tx, project_id.as_str()).await?;
    let stored = write_section(&tx, project_id.as_str(), write).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Freezes the current sections as the next product design revision.
pub async fn save_revision(
    db: &Db,
    project_id: &ProjectId,
    body: SaveRevisionBody,
) -> Result<Artifact> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let pid = project_for_update(&tx, project_id.as_str()).await?.id;
    let artifacts = store::artifacts::list(&tx, Table::PmArtifacts, &pid).await?;
    let sections = product::sections(&artifacts);
    if sections.is_empty() {
        return Err(Error::Unprocessable(
            "Write at least one product section before saving a revision.".into(),
        ));
    }
    let latest = store::artifacts::latest_revision(&tx, &pid, product::REVISION_TYPE).await?;
    let latest_number = latest
        .as_ref()
        .and_then(|r| product::revision_number(&r.data));
    if !body.force
        && body
            .expected_previous_revision
            .is_some_and(|expected| expected != latest_number)
    {
        return Err(Error::Conflict(match latest_number {
            Some(n) => format!(
                "Product design revision {n} was saved meanwhile; review it, then save again."
            ),
            None => {
                "There is no product design revision yet; send expected_previous_revision: null (or leave it out)."
                    .into()
            }
        }));
    }
    if let Some(revision) = &latest {
        if !product::differs_from_revision(&sections, &revision.data) {
            return Err(Error::Unprocessable(format!(
                "Nothing changed since product design revision {}.",
                latest_number.unwrap_or_default()
            )));
        }
    }
    let number = latest_number.unwrap_or(0) + 1;
    let data = product::revision_data(
        &pid,
        number,
        latest.as_ref().map(|r| r.id.as_str()),
        &sections,
        &timefmt::now_js(),
    );
    let revision = Artifact {
        id: product::revision_id(&pid, number),
        project_id: pid.clone(),
        title: format!("Product Design Revision {number}"),
        status: "frozen".to_owned(),
        content_hash: hashing::content_hash(&data),
        data,
        role: None,
        requirements_id: None,
        created_at: String::new(),
        updated_at: String::new(),
    };
    store::artifacts::insert(&tx, Table::PmArtifacts, &revision, None, None).await?;
    store::projects::touch(&tx, &pid).await?;
    let stored = store::artifacts::get(&tx, Table::PmArtifacts, &pid, &revision.id)
        .await?
        .ok_or_else(|| Error::Internal("revision vanished after insert".into()))?;
    tx.commit().await?;
    Ok(stored)
}

/// Every product design revision, oldest first.
pub async fn revisions(db: &Db, project_id: &ProjectId) -> Result<Vec<Artifact>> {
    let client = db.client().await?;
    project(&client, project_id.as_str()).await?;
    store::artifacts::pm_by_type(&client, project_id.as_str(), product::REVISION_TYPE).await
}

/// One product design revision.
pub async fn revision(db: &Db, project_id: &ProjectId, number: i64) -> Result<Artifact> {
    store::artifacts::revision(
        &db.client().await?,
        project_id.as_str(),
        product::REVISION_TYPE,
        number,
    )
    .await?
    .ok_or_else(|| Error::NotFound(format!("product design revision {number} not found")))
}

//! Assistant calls and accepting their proposals. Proposals are never stored; accepting writes
//! the accepted parts through the normal authoring operations, plus a record of what was
//! accepted.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{developer, product, project, settings};
use crate::assistant::{
    openai::OpenAiProvider, CapabilityProposal, Context, Provider, SectionProposal, SourceText,
};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::hashing;
use crate::ids::{self, ProjectId, RecordId, SectionKey};
use crate::model::Artifact;
use crate::rules::{self, baseline, contract};
use crate::service::documents::is_text;
use crate::store::{self, artifacts::Table, Db};

/// Body of the assistant calls.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistantRequest {
    /// Documents to read; every text document when absent.
    #[schema(value_type = Option<Vec<String>>)]
    pub document_ids: Option<Vec<RecordId>>,
}

/// Body of `POST /api/projects/{project_id}/assistant/accept`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// `sections` or `capabilities`.
    pub kind: String,
    /// The proposal as the assistant returned it.
    #[schema(value_type = Object)]
    pub proposal: Value,
    /// Section keys (sections) or candidate `client_id`s (capabilities) to accept.
    pub accepted: Vec<String>,
}

/// What accepting wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The records written (sections, or the developer definition).
    pub written: Vec<Artifact>,
    /// The acceptance record.
    pub acceptance: Artifact,
}

/// The provider the settings select: the OpenAI-compatible one when a model and a key are
/// configured, else the rule-based one.
pub async fn provider(db: &Db, env: &Settings) -> Result<Provider> {
    let effective = settings::effective(db, env).await?;
    Ok(
        match (effective.assistant_model, env.assistant_api_key.clone()) {
            (Some(model), Some(key)) => Provider::OpenAi(OpenAiProvider::new(
                model,
                effective.assistant_base_url,
                key,
            )),
            _ => Provider::RuleBased,
        },
    )
}

async fn context(db: &Db, project_id: &ProjectId, request: &AssistantRequest) -> Result<Context> {
    let client = db.client().await?;
    let project_row = project(&client, project_id.as_str()).await?;
    let documents = store::documents::list_with_content(&client, project_id.as_str()).await?;
    if let Some(ids) = &request.document_ids {
        for id in ids {
            if !documents.iter().any(|(d, _)| d.id == id.as_str()) {
                return Err(Error::not_found("document", id.as_str()));
            }
        }
    }
    let documents = documents
        .into_iter()
        .filter(|(d, _)| {
            request
                .document_ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|i| i.as_str() == d.id))
        })
        .filter(|(d, _)| is_text(&d.media_type, &d.filename))
        .map(|(d, bytes)| SourceText {
            id: d.id,
            title: d.title,
            kind: d.kind,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
        .collect();
    Ok(Context {
        project_name: project_row.name,
        domain: project_row.domain,
        documents,
    })
}

/// Drafts product sections (nothing stored).
pub async fn draft_sections(
    db: &Db,
    env: &Settings,
    project_id: &ProjectId,
    request: AssistantRequest,
) -> Result<SectionProposal> {
    let context = context(db, project_id, &request).await?;
    Ok(provider(db, env).await?.draft_sections(&context).await?)
}

/// Proposes capability candidates (nothing stored).
pub async fn propose_capabilities(
    db: &Db,
    env: &Settings,
    project_id: &ProjectId,
    request: AssistantRequest,
) -> Result<CapabilityProposal> {
    let context = context(db, project_id, &request).await?;
    Ok(provider(db, env)
        .await?
        .propose_capabilities(&context)
        .await?)
}

/// What accepting will write, checked in full before anything is written.
enum Plan {
    Sections(Vec<product::SectionWrite>),
    Capabilities(Vec<Value>),
}

/// Checks every accepted item of a proposal, so that a bad one refuses the whole acceptance
/// before anything is written.
fn plan(body: &AcceptBody) -> Result<Plan> {
    match body.kind.as_str() {
        "sections" => {
            let mut writes = Vec::new();
            let mut seen = Vec::new();
            for key in &body.accepted {
                let section = SectionKey::parse(key)?;
                if seen.contains(&section) {
                    return Err(Error::Unprocessable(format!(
                        "Section {key} is accepted twice."
                    )));
                }
                seen.push(section);
                let data = body
                    .proposal
                    .get("sections")
                    .and_then(|sections| sections.get(key))
                    .cloned()
                    .ok_or_else(|| {
                        Error::Unprocessable(format!("The proposal has no {key} section."))
                    })?;
                writes.push(product::prepare_section(
                    section,
                    product::SectionBody {
                        data,
                        title: None,
                        expected_content_hash: None,
                    },
                )?);
            }
            Ok(Plan::Sections(writes))
        }
        "capabilities" => {
            let candidates = rules::array(&body.proposal, "candidates");
            body.accepted
                .iter()
                .map(|id| {
                    candidates
                        .iter()
                        .find(|c| rules::field(c, "client_id") == *id)
                        .cloned()
                        .ok_or_else(|| {
                            Error::Unprocessable(format!("The proposal has no candidate {id:?}."))
                        })
                })
                .collect::<Result<_>>()
                .map(Plan::Capabilities)
        }
        other => Err(Error::Unprocessable(format!(
            "kind must be sections or capabilities, not {other:?}"
        ))),
    }
}

/// Writes the accepted parts of a proposal and the acceptance record, all in one transaction:
/// every accepted item is checked first, and either everything is written or nothing is.
pub async fn accept(db: &Db, project_id: &ProjectId, body: AcceptBody) -> Result<Accepted> {
    super::check_json("proposal", &body.proposal)?;
    if body.accepted.is_empty() {
        return Err(Error::Unprocessable(
            "Accept at least one item of the proposal.".into(),
        ));
    }
    let plan = plan(&body)?;
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let project_row = super::project_for_update(&tx, project_id.as_str()).await?;
    let pid = project_row.id.clone();
    let written = match plan {
        Plan::Sections(writes) => {
            let mut written = Vec::new();
            for write in writes {
                written.push(product::write_section(&tx, &pid, write).await?);
            }
            written
        }
        Plan::Capabilities(chosen) => {
            vec![accept_capabilities(&tx, &project_row, &chosen).await?]
        }
    };
    let data = json!({
        "artifact_type": "assistant_proposal_acceptance",
        "proposal_kind": body.kind,
        "provider": body.proposal.get("provider"),
        "accepted_item_ids": body.accepted,
        "written_artifact_ids": written.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        "accepted_at": crate::timefmt::now_js(),
    });
    let acceptance = Artifact {
        id: ids::new_id("assistant-acceptance"),
        project_id: pid.clone(),
        title: format!("Assistant proposal accepted ({})", body.kind),
        status: "frozen".into(),
        content_hash: hashing::content_hash(&data),
        data,
        role: None,
        requirements_id: None,
        created_at: String::new(),
        updated_at: String::new(),
    };
    store::artifacts::insert(&tx, Table::PmArtifacts, &acceptance, None, None).await?;
    let stored = store::artifacts::get(&tx, Table::PmArtifacts, &pid, &acceptance.id)
        .await?
        .ok_or_else(|| Error::Internal("acceptance vanished after insert".into()))?;
    tx.commit().await?;
    Ok(Accepted {
        written,
        acceptance: stored,
    })
}

/// Merges accepted candidates into the developer definition (creating it from the project
/// when there is none yet), with a topology binding for each new service, inside the caller's
/// transaction.
async fn accept_capabilities(
    tx: &impl store::GenericClient,
    project_row: &crate::model::Project,
    chosen: &[Value],
) -> Result<Artifact> {
    if store::artifacts::get(
        tx,
        Table::PmArtifacts,
        &project_row.id,
        &baseline::baseline_id(&project_row.id),
    )
    .await?
    .is_none()
    {
        return Err(Error::Unprocessable("Lock the developer baseline before accepting capabilities into the developer definition.".into()));
    }
    let current = store::artifacts::get(
        tx,
        Table::PmArtifacts,
        &project_row.id,
        &contract::definition_id(&project_row.id),
    )
    .await?;
    let mut data = current.as_ref().map(|a| a.data.clone()).unwrap_or_else(|| {
        json!({
            "identity": {"system_name": project_row.name, "domain_name": project_row.domain,
                         "delivery_model": "standalone_service", "architecture_shape": "single_service"},
            "capability_formalizations": [],
            "service_topology_bindings": [],
        })
    });
    if !data.is_object() {
        data = json!({});
    }
    for key in ["capability_formalizations", "service_topology_bindings"] {
        if !data.get(key).is_some_and(Value::is_array) {
            data[key] = json!([]);
        }
    }
    for candidate in chosen {
        let id = rules::field(candidate, "capability_id");
        let exists = rules::array(&data, "capability_formalizations")
            .iter()
            .any(|c| rules::field(c, "capability_id") == id);
        let mut capability = candidate.clone();
        if let Some(map) = capability.as_object_mut() {
            map.remove("client_id");
            map.remove("source");
            map.insert(
                "id".into(),
                json!(format!("capability_{}", id.replace('.', "_"))),
            );
        }
        if !exists {
            if let Some(list) = data["capability_formalizations"].as_array_mut() {
                list.push(capability);
            }
        }
        let service = rules::field(candidate, "service_id");
        if !service.is_empty() {
            let topology = data["service_topology_bindings"].as_array_mut();
            if let Some(list) = topology {
                match list
                    .iter_mut()
                    .find(|b| rules::field(b, "service_id") == service)
                {
                    Some(binding) => {
                        let ids = binding
                            .get("formalized_capability_ids")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        if !ids.iter().any(|v| v.as_str() == Some(id.as_str())) {
                            let mut ids = ids;
                            ids.push(json!(id));
                            binding["formalized_capability_ids"] = Value::Array(ids);
                        }
                    }
                    None => list.push(json!({
                        "id": format!("service_topology_{service}"),
                        "service_id": service,
                        "service_name": service,
                        "formalized_capability_ids": [id],
                    })),
                }
            }
        }
    }
    let body = developer::DefinitionBody {
        data,
        expected_content_hash: current.map(|c| c.content_hash),
    };
    developer::check_definition(&body)?;
    developer::write_definition(tx, &project_row.id, body).await
}

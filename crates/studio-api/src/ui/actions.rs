//! Form posts of the HTML UI. Each parses the form, calls the same service operation as the
//! JSON API, and answers 303 to the page with a notice (or an error page).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::layout::{error_page, redirect, same_origin};
use super::pages::proposal_page;
use crate::api::read_upload;
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::ids::{
    AuthMode, BackendKind, ProjectId, ProjectType, RecordId, SectionKey, WorkspaceId,
};
use crate::service::{
    assistant, design, developer, documents, product, projects, publish, settings, workspaces,
};
use crate::store::artifacts::Table;

/// The form's fields as pairs (repeated names allowed), decoded strictly: a field that is not
/// valid UTF-8 once percent-decoded is refused with 400, as the JSON API refuses such a body,
/// rather than stored with U+FFFD in place of the author's bytes.
pub struct Fields(Vec<(String, String)>);

impl std::ops::Deref for Fields {
    type Target = [(String, String)];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl actix_web::FromRequest for Fields {
    type Error = actix_web::Error;
    type Future =
        futures_util::future::LocalBoxFuture<'static, std::result::Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let mut payload = payload.take();
        let urlencoded = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        Box::pin(async move {
            use futures_util::StreamExt;
            if !urlencoded {
                return Err(Error::BadRequest(
                    "Invalid form: send it as application/x-www-form-urlencoded".into(),
                )
                .into());
            }
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|e| Error::BadRequest(format!("Reading the form failed: {e}")))?;
                if body.len() + chunk.len() > crate::api::JSON_LIMIT {
                    return Err(
                        Error::PayloadTooLarge("The form is larger than allowed.".into()).into(),
                    );
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fields(parse_form(&body)?))
        })
    }
}

/// Parses `application/x-www-form-urlencoded`, refusing names and values that are not UTF-8.
fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |b| *b == b'=');
            let name = decode_form_part(parts.next().unwrap_or_default()).ok_or_else(|| {
                Error::BadRequest("Invalid form: a field name is not valid UTF-8".into())
            })?;
            let value = decode_form_part(parts.next().unwrap_or_default()).ok_or_else(|| {
                Error::BadRequest(format!("Invalid form: field {name} is not valid UTF-8"))
            })?;
            Ok((name, value))
        })
        .collect()
}

/// Percent-decodes one name or value (`+` is a space); `None` when the bytes are not UTF-8.
fn decode_form_part(part: &[u8]) -> Option<String> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        match part[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                part.get(i + 1).and_then(|b| hex(*b)),
                part.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(high), Some(low)) => {
                    out.push(u8::try_from(high * 16 + low).ok()?);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_owned())
}

fn non_empty(fields: &[(String, String)], name: &str) -> Option<String> {
    field(fields, name).filter(|v| !v.is_empty())
}

fn required(fields: &[(String, String)], name: &str) -> Result<String> {
    non_empty(fields, name).ok_or_else(|| Error::BadRequest(format!("{name} is required")))
}

fn json_field(fields: &[(String, String)], name: &str) -> Result<Value> {
    let text = field(fields, name).unwrap_or_else(|| "{}".into());
    serde_json::from_str(&text)
        .map_err(|e| Error::BadRequest(format!("{name} is not valid JSON: {e}")))
}

fn expected_revision(fields: &[(String, String)]) -> Result<Option<Option<i64>>> {
    Ok(Some(
        match non_empty(fields, "expected_previous_revision") {
            Some(n) => Some(n.parse().map_err(|_| {
                Error::BadRequest("expected_previous_revision must be a number".into())
            })?),
            None => None,
        },
    ))
}

async fn act<F>(state: &AppState, req: &HttpRequest, action: F) -> HttpResponse
where
    F: std::future::Future<Output = Result<HttpResponse>>,
{
    if let Err(error) = same_origin(req) {
        return error_page(state, &error);
    }
    match action.await {
        Ok(response) => response,
        Err(error) => error_page(state, &error),
    }
}

/// `POST /studio/workspaces`.
pub async fn create_workspace(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let w = workspaces::create(
            &state.db,
            workspaces::NewWorkspace {
                id: None,
                name: required(&form, "name")?,
                summary: field(&form, "summary").unwrap_or_default(),
            },
        )
        .await?;
        Ok(redirect(
            &format!("/studio/workspaces/{}", w.id),
            "Workspace created.",
        ))
    })
    .await
}

/// `POST /studio/workspaces/{id}/delete`.
pub async fn delete_workspace(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<WorkspaceId>,
) -> HttpResponse {
    act(&state, &req, async {
        workspaces::delete(&state.db, &id).await?;
        Ok(redirect("/studio", "Workspace deleted."))
    })
    .await
}

/// `POST /studio/workspaces/{id}/connections`.
pub async fn create_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<WorkspaceId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let body = workspaces::ConnectionBody {
            id: None,
            display_name: required(&form, "display_name")?,
            backend_kind: BackendKind::parse(&required(&form, "backend_kind")?)?,
            system_kind: field(&form, "system_kind").unwrap_or_default(),
            endpoint_ref: field(&form, "endpoint_ref").unwrap_or_default(),
            auth_mode: AuthMode::parse(&required(&form, "auth_mode")?)?,
            identity_provider_ref: field(&form, "identity_provider_ref").unwrap_or_default(),
            secret_ref: field(&form, "secret_ref").unwrap_or_default(),
            allowed_project_refs: Vec::new(),
            metadata: json!({}),
        };
        workspaces::create_connection(&state.db, &id, body).await?;
        Ok(redirect(
            &format!("/studio/workspaces/{}", id.as_str()),
            "Connection added.",
        ))
    })
    .await
}

/// `POST /studio/projects`.
pub async fn create_project(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let body = projects::NewProjectBody {
            id: None,
            workspace_id: non_empty(&form, "workspace_id")
                .map(WorkspaceId::parse)
                .transpose()?,
            name: required(&form, "name")?,
            summary: field(&form, "summary").unwrap_or_default(),
            domain: field(&form, "domain").unwrap_or_default(),
            labels: Vec::new(),
            project_type: non_empty(&form, "project_type")
                .map(|t| ProjectType::parse(&t))
                .transpose()?
                .unwrap_or(ProjectType::Standard),
            integration_profile: None,
        };
        let p = projects::create(&state.db, body).await?;
        Ok(redirect(
            &format!("/studio/projects/{}", p.id),
            "Project created.",
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/edit`.
pub async fn edit_project(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let labels = field(&form, "labels").map(|l| {
            l.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        });
        let body = projects::ProjectChangesBody {
            name: non_empty(&form, "name"),
            summary: field(&form, "summary"),
            domain: field(&form, "domain"),
            labels,
            ..projects::ProjectChangesBody::default()
        };
        projects::update(&state.db, &id, body).await?;
        Ok(redirect(
            &format!("/studio/projects/{}", id.as_str()),
            "Project saved.",
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/clone`.
pub async fn clone_project(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let copy = projects::clone(
            &state.db,
            &id,
            projects::CloneBody {
                name: non_empty(&form, "name"),
                ..projects::CloneBody::default()
            },
        )
        .await?;
        Ok(redirect(
            &format!("/studio/projects/{}", copy.id),
            "Project cloned.",
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/delete`.
pub async fn delete_project(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
) -> HttpResponse {
    act(&state, &req, async {
        projects::delete(&state.db, &id).await?;
        Ok(redirect("/studio", "Project deleted."))
    })
    .await
}

/// `POST /studio/projects/{id}/documents` (multipart).
pub async fn upload_document(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    payload: web::Payload,
) -> HttpResponse {
    act(&state, &req, async {
        let max = state.settings.max_upload_bytes;
        let upload = read_upload(&req, payload, Default::default(), max).await?;
        let document = documents::upload(&state.db, &id, upload, max).await?;
        Ok(redirect(
            &format!("/studio/projects/{}/documents/{}", id.as_str(), document.id),
            "Document uploaded.",
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/documents/{doc}/delete`.
pub async fn delete_document(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(ProjectId, RecordId)>,
) -> HttpResponse {
    act(&state, &req, async {
        let (pid, doc) = path.into_inner();
        documents::delete(&state.db, &pid, &doc).await?;
        Ok(redirect(
            &format!("/studio/projects/{}/documents", pid.as_str()),
            "Document deleted.",
        ))
    })
    .await
}

/// A section path.
#[derive(Debug, Deserialize)]
pub struct SectionPath {
    project_id: ProjectId,
    section: String,
}

/// `POST /studio/projects/{id}/product/sections/{key}`.
pub async fn save_section(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<SectionPath>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let key = SectionKey::parse(&path.section).map_err(|e| Error::NotFound(e.to_string()))?;
        let body = product::SectionBody {
            data: json_field(&form, "data")?,
            title: None,
            expected_content_hash: field(&form, "expected_content_hash"),
        };
        product::save_section(&state.db, &path.project_id, key, body).await?;
        Ok(redirect(
            &format!("/studio/projects/{}/product", path.project_id.as_str()),
            &format!("{} saved.", key.title()),
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/product/revisions`.
pub async fn save_product_revision(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let body = product::SaveRevisionBody {
            expected_previous_revision: expected_revision(&form)?,
            force: false,
        };
        let revision = product::save_revision(&state.db, &id, body).await?;
        Ok(redirect(
            &format!("/studio/projects/{}/product", id.as_str()),
            &format!("Saved {}.", revision.title),
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/design/{kind}`.
pub async fn create_design(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(ProjectId, String)>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let (pid, kind) = path.into_inner();
        let table = match kind.as_str() {
            "requirements" => Table::Requirements,
            "scenarios" => Table::Scenarios,
            "shapes" => Table::Shapes,
            _ => return Err(Error::NotFound(format!("no design record kind {kind:?}"))),
        };
        let requirements = if table == Table::Shapes {
            Some(RecordId::parse(required(&form, "requirements_id")?)?)
        } else {
            None
        };
        let body = design::NewArtifact {
            id: None,
            title: required(&form, "title")?,
            status: None,
            data: json_field(&form, "data")?,
        };
        design::create(&state.db, table, &pid, body, requirements.as_ref()).await?;
        Ok(redirect(
            &format!("/studio/projects/{}/design", pid.as_str()),
            &format!("{} added.", table.noun()),
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/developer/baseline`.
pub async fn lock_baseline(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let body = developer::LockBody {
            expected_locked_at: non_empty(&form, "expected_locked_at"),
            ..developer::LockBody::default()
        };
        developer::lock_baseline(&state.db, &id, body).await?;
        Ok(redirect(
            &format!("/studio/projects/{}/developer", id.as_str()),
            "Baseline locked.",
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/developer/definition`.
pub async fn save_definition(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let body = developer::DefinitionBody {
            data: json_field(&form, "data")?,
            expected_content_hash: field(&form, "expected_content_hash"),
        };
        developer::save_definition(&state.db, &id, body).await?;
        Ok(redirect(
            &format!("/studio/projects/{}/developer", id.as_str()),
            "Definition saved.",
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/developer/revisions`.
pub async fn save_definition_revision(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let body = developer::SaveDefinitionRevisionBody {
            expected_previous_revision: expected_revision(&form)?,
            force: false,
        };
        let saved = developer::save_revision(&state.db, &id, body).await?;
        Ok(redirect(
            &format!("/studio/projects/{}/developer", id.as_str()),
            &format!(
                "Saved {} (signature {}).",
                saved.revision.title, saved.signature
            ),
        ))
    })
    .await
}

/// `POST /studio/projects/{id}/publish`: locally or to the Registry.
pub async fn publish(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let options = json!({
            "package_id": non_empty(&form, "package_id"),
            "package_version": non_empty(&form, "package_version"),
        });
        let base = format!("/studio/projects/{}/publish", id.as_str());
        match field(&form, "target").as_deref() {
            Some("registry") => {
                let (_, outcome) = publish::registry_publish_project(
                    &state.db,
                    &state.settings,
                    &state.registry,
                    &id,
                    options,
                )
                .await?;
                Ok(redirect(
                    &base,
                    &format!("Published to the Registry. {}", outcome.trust.summary),
                ))
            }
            _ => {
                let publication = publish::local_create(&state.db, &id, options).await?;
                Ok(redirect(
                    &base,
                    &format!("Published locally as {}.", publication.id),
                ))
            }
        }
    })
    .await
}

/// `POST /studio/projects/{id}/assistant/{kind}`: shows a proposal (stores nothing).
pub async fn assistant_propose(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(ProjectId, String)>,
) -> HttpResponse {
    act(&state, &req, async {
        let (pid, kind) = path.into_inner();
        let proposal = match kind.as_str() {
            "sections" => serde_json::to_value(
                assistant::draft_sections(&state.db, &state.settings, &pid, Default::default())
                    .await?,
            ),
            "capabilities" => serde_json::to_value(
                assistant::propose_capabilities(
                    &state.db,
                    &state.settings,
                    &pid,
                    Default::default(),
                )
                .await?,
            ),
            _ => return Err(Error::NotFound(format!("no assistant action {kind:?}"))),
        }
        .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(proposal_page(&state, pid.as_str(), &kind, &proposal))
    })
    .await
}

/// `POST /studio/projects/{id}/assistant/accept`.
pub async fn assistant_accept(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<ProjectId>,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let kind = required(&form, "kind")?;
        let body = assistant::AcceptBody {
            kind: kind.clone(),
            proposal: json_field(&form, "proposal")?,
            accepted: form
                .iter()
                .filter(|(k, _)| k == "accepted")
                .map(|(_, v)| v.clone())
                .collect(),
        };
        assistant::accept(&state.db, &id, body).await?;
        let target = if kind == "sections" {
            "product"
        } else {
            "developer"
        };
        Ok(redirect(
            &format!("/studio/projects/{}/{target}", id.as_str()),
            "Accepted.",
        ))
    })
    .await
}

/// `POST /studio/templates`.
pub async fn export_template(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let body = json!({
            "project_id": required(&form, "project_id")?,
            "template_id": non_empty(&form, "template_id"),
            "template_version": non_empty(&form, "template_version"),
        });
        let (_, response) =
            publish::registry_template_publish(&state.db, &state.settings, &state.registry, body)
                .await?;
        let id = response
            .pointer("/template/template_id")
            .and_then(Value::as_str)
            .unwrap_or("the template");
        Ok(redirect(
            "/studio/templates",
            &format!("Exported {id} to the Registry."),
        ))
    })
    .await
}

/// `POST /studio/settings`.
pub async fn save_settings(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Fields,
) -> HttpResponse {
    act(&state, &req, async {
        let changes = settings::SettingsChanges {
            registry_url: field(&form, "registry_url"),
            required_registry_mode: field(&form, "required_registry_mode"),
            trusted_registry_key_id: field(&form, "trusted_registry_key_id"),
            assistant_model: field(&form, "assistant_model"),
            assistant_base_url: field(&form, "assistant_base_url"),
            ..settings::SettingsChanges::default()
        };
        settings::update(&state.db, &state.settings, changes).await?;
        Ok(redirect("/studio/settings", "Settings saved."))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_strictly() {
        assert_eq!(
            parse_form(b"name=a+b%2Fc&empty=&flag&n%C3%A9=%C3%A9%").unwrap(),
            vec![
                ("name".to_owned(), "a b/c".to_owned()),
                ("empty".to_owned(), String::new()),
                ("flag".to_owned(), String::new()),
                ("n\u{e9}".to_owned(), "\u{e9}%".to_owned()),
            ]
        );
        let error = parse_form(b"name=ok&summary=%C3%28").unwrap_err();
        assert!(error.to_string().contains("summary"), "{error}");
    }
}

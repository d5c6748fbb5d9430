//! The pages (GET). Every page reads through [`crate::service`] and renders; mutating controls
//! appear only when Studio is writable.

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{checks_table, page_or_error, pill, pretty, respond, writable, Page};
use crate::app::AppState;
use crate::error::Result;
use crate::ids::{
    AuthMode, BackendKind, DocumentKind, ProjectId, RecordId, SectionKey, WorkspaceId,
};
use crate::model::{Artifact, ProjectDetail};
use crate::rules::local_publication;
use crate::service::{
    design, developer, documents, history, product, projects, publish, settings, workspaces,
};
use crate::store::artifacts::Table;

/// `?notice=` after an action.
#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn page<'a>(state: &'a AppState, title: impl Into<String>, query: &NoticeQuery) -> Page<'a> {
    Page {
        state,
        title: title.into(),
        notice: query.notice.clone(),
    }
}

const TABS: [(&str, &str); 7] = [
    ("", "Overview"),
    ("/documents", "Documents"),
    ("/product", "Product"),
    ("/design", "Design"),
    ("/developer", "Developer"),
    ("/publish", "Publish"),
    ("/history", "History"),
];

fn tabs(project: &ProjectDetail, here: &str) -> Markup {
    let id = &project.project.id;
    html! {
        p.muted { a href={ "/studio/workspaces/" (project.project.workspace_id) } { "Workspace " (project.project.workspace_id) } }
        h1 { (project.project.name) }
        nav.tabs {
            @for (suffix, label) in TABS {
                a class=@if suffix == here { "here" } @else { "" } href={ "/studio/projects/" (id) (suffix) } { (label) }
            }
        }
    }
}

fn options<T: Copy + PartialEq>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    selected: Option<T>,
) -> Markup {
    html! {
        @for item in all {
            option value=(name(*item)) selected[selected == Some(*item)] { (name(*item)) }
        }
    }
}

/// `/studio`: workspaces and projects.
pub async fn home(state: web::Data<AppState>, query: web::Query<NoticeQuery>) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let list = workspaces::list(&state.db).await?;
        let all = projects::list(&state.db, None).await?;
        let body = html! {
            h1 { "Workspaces" }
            section.card {
                table {
                    tr { th { "Workspace" } th { "Projects" } th { "Summary" } }
                    @for w in &list {
                        tr { td { a href={ "/studio/workspaces/" (w.id) } { (w.name) } " " code.muted { (w.id) } } td { (w.projects_count) } td.muted { (w.summary) } }
                    }
                }
            }
            section.card {
                h2 { "Recent projects" }
                @if all.is_empty() { p.muted { "No projects yet." } }
                table {
                    @for p in all.iter().take(25) {
                        tr { td { a href={ "/studio/projects/" (p.id) } { (p.name) } } td.muted { (p.workspace_id) } td.muted { (p.project_type) } td.muted { (p.updated_at) } }
                    }
                }
            }
            @if writable(&state) {
                div.grid {
                    section.card {
                        h2 { "New workspace" }
                        form.stack method="post" action="/studio/workspaces" {
                            label for="ws-name" { "Name" } input id="ws-name" type="text" name="name" required;
                            label for="ws-summary" { "Summary" } input id="ws-summary" type="text" name="summary";
                            p { button type="submit" { "Create workspace" } }
                        }
                    }
                    section.card {
                        h2 { "New project" }
                        (project_form(&list.iter().map(|w| w.id.clone()).collect::<Vec<_>>(), None))
                    }
                }
            }
        };
        Ok(respond(page(&state, "Workspaces", &query), body))
    }
    .await;
    page_or_error(&state, result)
}

fn project_form(workspaces: &[String], fixed: Option<&str>) -> Markup {
    html! {
        form.stack method="post" action="/studio/projects" {
            @if let Some(ws) = fixed {
                input type="hidden" name="workspace_id" value=(ws);
            } @else {
                label for="p-ws" { "Workspace" }
                select id="p-ws" name="workspace_id" { @for w in workspaces { option value=(w) { (w) } } }
            }
            label for="p-name" { "Name" } input id="p-name" type="text" name="name" required;
            label for="p-domain" { "Domain" } input id="p-domain" type="text" name="domain";
            label for="p-summary" { "Summary" } input id="p-summary" type="text" name="summary";
            label for="p-type" { "Type" }
            select id="p-type" name="project_type" { option value="standard" { "standard" } option value="governed_service_project" { "governed_service_project" } }
            p { button type="submit" { "Create project" } }
        }
    }
}

/// `/studio/workspaces/{id}`.
pub async fn workspace(
    state: web::Data<AppState>,
    id: web::Path<WorkspaceId>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let w = workspaces::get(&state.db, &id).await?;
        let list = projects::list(&state.db, Some(&id)).await?;
        let connections = workspaces::connections(&state.db, &id).await?;
        let body = html! {
            h1 { (w.name) " " code.muted { (w.id) } }
            p.muted { (w.summary) }
            section.card {
                h2 { "Projects" }
                @if list.is_empty() { p.muted { "No projects in this workspace." } }
                table { @for p in &list { tr { td { a href={ "/studio/projects/" (p.id) } { (p.name) } } td.muted { (p.domain) } td.muted { (p.summary) } } } }
            }
            section.card {
                h2 { "Connections" }
                p.muted { "Backend systems, by reference: Studio stores the name of a secret, never the secret." }
                table {
                    tr { th { "Name" } th { "Backend" } th { "Auth" } th { "Endpoint" } th { "Secret reference" } }
                    @for c in &connections {
                        tr { td { (c.display_name) } td { (c.backend_kind) } td { (c.auth_mode) } td { code { (c.endpoint_ref) } } td { code { (c.secret_ref) } } }
                    }
                }
                @if writable(&state) {
                    h3 { "Add a connection" }
                    form.stack method="post" action={ "/studio/workspaces/" (w.id) "/connections" } {
                        label for="c-name" { "Display name" } input id="c-name" type="text" name="display_name" required;
                        label for="c-kind" { "Backend kind" } select id="c-kind" name="backend_kind" { (options(BackendKind::ALL, BackendKind::as_str, None)) }
                        label for="c-auth" { "Auth mode" } select id="c-auth" name="auth_mode" { (options(AuthMode::ALL, AuthMode::as_str, None)) }
                        label for="c-system" { "System kind" } input id="c-system" type="text" name="system_kind";
                        label for="c-endpoint" { "Endpoint reference" } input id="c-endpoint" type="text" name="endpoint_ref";
                        label for="c-secret" { "Secret reference (e.g. GITLAB_TOKEN)" } input id="c-secret" type="text" name="secret_ref";
                        p { button type="submit" { "Add connection" } }
                    }
                }
            }
            @if writable(&state) {
                section.card { h2 { "New project here" } (project_form(&[], Some(&w.id))) }
                @if w.id != "default" {
                    form.inline method="post" action={ "/studio/workspaces/" (w.id) "/delete" } {
                        button.danger type="submit" { "Delete workspace and its " (w.projects_count) " projects" }
                    }
                }
            }
        };
        Ok(respond(page(&state, w.name.clone(), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

/// `/studio/projects/{id}`.
pub async fn project(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let detail = projects::detail(&state.db, &id).await?;
        let p = &detail.project;
        let body = html! {
            (tabs(&detail, ""))
            section.card {
                p { (p.summary) }
                p.muted {
                    "Domain: " (p.domain) " · Type: " (p.project_type)
                    @if !p.labels.is_empty() { " · Labels: " (p.labels.join(", ")) }
                }
                div.grid.facts {
                    div { "Documents: " (detail.documents_count) } div { "Requirements: " (detail.requirements_count) }
                    div { "Scenarios: " (detail.scenarios_count) } div { "Shapes: " (detail.shapes_count) }
                    div { "Evaluations: " (detail.evaluations_count) } div { "Design records: " (detail.pm_artifacts_count) }
                    div { "Local publications: " (detail.local_publications_count) }
                }
                p { a href={ "/api/projects/" (p.id) "/export" } { "Export snapshot (anip-studio-project-snapshot/v1)" } }
            }
            @if writable(&state) {
                div.grid {
                    section.card {
                        h2 { "Edit" }
                        form.stack method="post" action={ "/studio/projects/" (p.id) "/edit" } {
                            label for="e-name" { "Name" } input id="e-name" type="text" name="name" value=(p.name) required;
                            label for="e-domain" { "Domain" } input id="e-domain" type="text" name="domain" value=(p.domain);
                            label for="e-summary" { "Summary" } input id="e-summary" type="text" name="summary" value=(p.summary);
                            label for="e-labels" { "Labels (comma separated)" } input id="e-labels" type="text" name="labels" value=(p.labels.join(", "));
                            p { button type="submit" { "Save" } }
                        }
                    }
                    section.card {
                        h2 { "Clone" }
                        form.stack method="post" action={ "/studio/projects/" (p.id) "/clone" } {
                            label for="k-name" { "Name of the copy" } input id="k-name" type="text" name="name" value={ (p.name) " Copy" };
                            p { button type="submit" { "Clone project" } }
                        }
                        h2 { "Delete" }
                        form.inline method="post" action={ "/studio/projects/" (p.id) "/delete" } {
                            button.danger type="submit" { "Delete project and everything in it" }
                        }
                    }
                }
            }
        };
        Ok(respond(page(&state, p.name.clone(), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

/// `/studio/projects/{id}/documents`.
pub async fn documents_page(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let detail = projects::detail(&state.db, &id).await?;
        let docs = documents::list(&state.db, &id).await?;
        let base = format!("/studio/projects/{}", id.as_str());
        let body = html! {
            (tabs(&detail, "/documents"))
            section.card {
                table {
                    tr { th { "Title" } th { "Kind" } th { "File" } th { "Size" } th { "SHA-256" } th {} }
                    @for d in &docs {
                        tr {
                            td { a href={ (base) "/documents/" (d.id) } { (d.title) } }
                            td { (d.kind) } td { code { (d.filename) } } td { (d.size_bytes) }
                            td { code.muted { (d.content_hash.get(..16).unwrap_or_default()) "…" } }
                            td { a href={ "/api/projects/" (id.as_str()) "/documents/" (d.id) "/download" } { "Download" } }
                        }
                    }
                }
            }
            @if writable(&state) {
                section.card {
                    h2 { "Upload a source document" }
                    form.stack method="post" action={ (base) "/documents" } enctype="multipart/form-data" {
                        label for="d-file" { "File" } input id="d-file" type="file" name="file" required;
                        label for="d-title" { "Title" } input id="d-title" type="text" name="title";
                        label for="d-kind" { "Kind" } select id="d-kind" name="kind" { (options(DocumentKind::ALL, DocumentKind::as_str, Some(DocumentKind::BusinessSpec))) }
                        p { button type="submit" { "Upload" } }
                    }
                }
                section.card {
                    h2 { "Assistant" }
                    p.muted { "Drafts from your text documents. Nothing is saved until you accept." }
                    form.inline method="post" action={ (base) "/assistant/sections" } { button type="submit" { "Draft product sections" } }
                    " "
                    form.inline method="post" action={ (base) "/assistant/capabilities" } { button type="submit" { "Propose capabilities" } }
                }
            }
        };
        Ok(respond(page(&state, format!("Documents · {}", detail.project.name), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

/// `/studio/projects/{id}/documents/{doc}`: the text preview.
pub async fn document_page(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let (pid, doc) = path.into_inner();
        let detail = projects::detail(&state.db, &pid).await?;
        let meta = documents::get(&state.db, &pid, &doc).await?;
        let preview = documents::preview(&state.db, &pid, &doc).await;
        let body = html! {
            (tabs(&detail, "/documents"))
            h2 { (meta.title) }
            p.muted { (meta.kind) " · " code { (meta.filename) } " · " (meta.media_type) " · sha256 " code { (meta.content_hash) } }
            p { a href={ "/api/projects/" (pid.as_str()) "/documents/" (doc.as_str()) "/download" } { "Download the original bytes" } }
            @match &preview {
                Ok(p) => {
                    pre { (p.content) }
                    @if p.truncated { p.muted { "Preview cut; download for the whole document." } }
                }
                Err(e) => { p.muted { (e.detail()) } }
            }
            @if writable(&state) {
                form.inline method="post" action={ "/studio/projects/" (pid.as_str()) "/documents/" (doc.as_str()) "/delete" } {
                    button.danger type="submit" { "Delete document" }
                }
            }
        };
        Ok(respond(page(&state, meta.title.clone(), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

/// `/studio/projects/{id}/product`.
pub async fn product_page(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let detail = projects::detail(&state.db, &id).await?;
        let overview = product::overview(&state.db, &id).await?;
        let base = format!("/studio/projects/{}", id.as_str());
        let latest = overview.latest_revision.as_ref().and_then(|r| r.data.get("revision_number").and_then(Value::as_i64));
        let body = html! {
            (tabs(&detail, "/product"))
            section.card {
                h2 { "Product design revision" }
                @match latest {
                    Some(n) => p { "Latest frozen revision: " strong { (n) } " " @if overview.unsaved_changes { (pill("sections changed since", "warn")) } @else { (pill("up to date", "ok")) } },
                    None => p.muted { "No revision saved yet." },
                }
                @if writable(&state) {
                    form.inline method="post" action={ (base) "/product/revisions" } {
                        input type="hidden" name="expected_previous_revision" value=(latest.map(|n| n.to_string()).unwrap_or_default());
                        button type="submit" { "Save revision" }
                    }
                }
            }
            @for section in &overview.sections {
                section.card {
                    h2 { (section.title) " " code.muted { (section.key.as_str()) } }
                    @let data = section.artifact.as_ref().map(|a| a.data.clone()).unwrap_or_else(|| serde_json::json!({}));
                    @if writable(&state) {
                        form.stack method="post" action={ (base) "/product/sections/" (section.key.as_str()) } {
                            input type="hidden" name="expected_content_hash" value=(section.artifact.as_ref().map(|a| a.content_hash.clone()).unwrap_or_default());
                            label for={ "s-" (section.key.as_str()) } { "Content (JSON)" }
                            textarea id={ "s-" (section.key.as_str()) } name="data" { (pretty(&data)) }
                            p { button type="submit" { "Save section" } }
                        }
                    } @else {
                        pre { (pretty(&data)) }
                    }
                }
            }
        };
        Ok(respond(page(&state, format!("Product · {}", detail.project.name), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

fn artifact_rows(items: &[Artifact]) -> Markup {
    html! {
        @for a in items {
            details {
                summary { strong { (a.title) } " " code.muted { (a.id) } " " (pill(&a.status, "")) @if let Some(role) = &a.role { " " (pill(role, "")) } }
                p.muted { "content hash " code { (a.content_hash) } }
                pre { (pretty(&a.data)) }
            }
        }
    }
}

/// `/studio/projects/{id}/design`: requirements, scenarios, shapes, evaluations.
pub async fn design_page(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let detail = projects::detail(&state.db, &id).await?;
        let requirements = design::list(&state.db, Table::Requirements, &id).await?;
        let scenarios = design::list(&state.db, Table::Scenarios, &id).await?;
        let shapes = design::list(&state.db, Table::Shapes, &id).await?;
        let evaluations = design::evaluations(&state.db, &id, None, None).await?;
        let base = format!("/studio/projects/{}", id.as_str());
        let form = |kind: &str, label: &str, extra: Markup| html! {
            @if writable(&state) {
                details {
                    summary { "Add " (label) }
                    form.stack method="post" action={ (base) "/design/" (kind) } {
                        label { "Title" } input type="text" name="title" required;
                        (extra)
                        label { "Content (JSON)" } textarea name="data" { "{}" }
                        p { button type="submit" { "Add" } }
                    }
                }
            }
        };
        let body = html! {
            (tabs(&detail, "/design"))
            section.card { h2 { "Requirements — what matters" } (artifact_rows(&requirements)) (form("requirements", "requirements", html!{})) }
            section.card { h2 { "Scenarios — real situations" } (artifact_rows(&scenarios)) (form("scenarios", "scenario", html!{})) }
            section.card {
                h2 { "Shapes — the service design" }
                (artifact_rows(&shapes))
                (form("shapes", "shape", html! {
                    label { "Requirements set" }
                    select name="requirements_id" { @for r in &requirements { option value=(r.id) { (r.title) } } }
                }))
            }
            section.card {
                h2 { "Evaluations" }
                table {
                    tr { th { "Evaluation" } th { "Result" } th { "Inputs" } }
                    @for e in &evaluations {
                        tr {
                            td { code { (e.id) } }
                            td { (e.result) }
                            td { @if e.is_stale { (pill(&format!("stale: {}", e.stale_artifacts.join(", ")), "warn")) } @else { (pill("current", "ok")) } }
                        }
                    }
                }
            }
        };
        Ok(respond(page(&state, format!("Design · {}", detail.project.name), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

fn findings_table(findings: &[crate::rules::definition::Finding]) -> Markup {
    html! {
        @if findings.is_empty() { p.ok { "No findings." } }
        @else {
            table {
                tr { th { "Severity" } th { "Where" } th { "What" } th { "What to do" } }
                @for f in findings {
                    @let class = match f.severity { crate::rules::definition::Severity::Blocker => "bad", crate::rules::definition::Severity::Warning => "warn", crate::rules::definition::Severity::Info => "" };
                    tr { td { (pill(&format!("{:?}", f.severity).to_lowercase(), class)) } td { code { (f.path) } } td { (f.message) } td.muted { (f.hint) } }
                }
            }
        }
    }
}

/// `/studio/projects/{id}/developer`: baseline, definition, findings, revisions.
pub async fn developer_page(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let detail = projects::detail(&state.db, &id).await?;
        let baseline = developer::baseline_view(&state.db, &id).await?;
        let view = developer::definition_view(&state.db, &id).await?;
        let base = format!("/studio/projects/{}", id.as_str());
        let latest = view.latest_revision.as_ref().and_then(|r| r.data.pointer("/saved_revision/revision_number").and_then(Value::as_i64));
        let locked_at = baseline.baseline.as_ref().map(|b| crate::rules::field(&b.data, "locked_at"));
        let body = html! {
            (tabs(&detail, "/developer"))
            section.card {
                h2 { "Developer baseline" }
                @match &baseline.baseline {
                    Some(b) => {
                        p { "Locked at " strong { (locked_at.clone().unwrap_or_default()) } ", pinned to product revision "
                            strong { (b.data.pointer("/source_inputs/product_revision_number").cloned().unwrap_or(Value::Null)) } }
                        @if baseline.drift.is_empty() { p { (pill("project unchanged since", "ok")) } }
                        @for d in &baseline.drift { p { (pill(&d.input, "warn")) " " (d.message) } }
                    }
                    None => p.muted { "Not locked yet. Save a product revision, then lock the baseline to hand the design to development." },
                }
                @if writable(&state) {
                    form.inline method="post" action={ (base) "/developer/baseline" } {
                        input type="hidden" name="expected_locked_at" value=(locked_at.clone().unwrap_or_default());
                        button type="submit" { @if baseline.baseline.is_some() { "Re-lock baseline" } @else { "Lock baseline" } }
                    }
                }
            }
            section.card {
                h2 { "Developer definition" }
                p {
                    @match latest { Some(n) => { "Latest saved revision: " strong { (n) } }, None => span.muted { "No revision saved yet." } }
                    " " @if view.unsaved_changes { (pill("unsaved changes", "warn")) }
                    @if let Some(r) = &view.latest_revision {
                        " · signature " code { (crate::rules::text(r.data.pointer("/compiled_contract_identity/signature"))) }
                        " · " a href={ "/api/projects/" (id.as_str()) "/developer/contract" } { "compiled contract" }
                    }
                }
                h3 { "Findings" }
                (findings_table(&view.findings))
                @let data = view.definition.as_ref().map(|d| d.data.clone()).unwrap_or_else(|| serde_json::json!({}));
                @if writable(&state) {
                    form.stack method="post" action={ (base) "/developer/definition" } {
                        input type="hidden" name="expected_content_hash" value=(view.definition.as_ref().map(|d| d.content_hash.clone()).unwrap_or_default());
                        label for="def" { "Definition (JSON)" }
                        textarea id="def" name="data" style="min-height:24rem" { (pretty(&data)) }
                        p { button type="submit" { "Save definition" } }
                    }
                    form.inline method="post" action={ (base) "/developer/revisions" } {
                        input type="hidden" name="expected_previous_revision" value=(latest.map(|n| n.to_string()).unwrap_or_default());
                        button type="submit" { "Save revision" }
                    }
                } @else {
                    pre { (pretty(&data)) }
                }
            }
        };
        Ok(respond(page(&state, format!("Developer · {}", detail.project.name), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

/// `/studio/projects/{id}/publish`.
pub async fn publish_page(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let detail = projects::detail(&state.db, &id).await?;
        let package = developer::package(&state.db, &id, developer::PackageOptionsBody::default()).await;
        let locals = publish::local_list(&state.db, &id).await?;
        let remotes = publish::registry_publications(&state.db, &id).await?;
        let effective = settings::effective(&state.db, &state.settings).await?;
        let base = format!("/studio/projects/{}", id.as_str());
        let body = html! {
            (tabs(&detail, "/publish"))
            section.card {
                h2 { "Package" }
                @match &package {
                    Err(e) => p.muted { (e.detail()) },
                    Ok(p) => {
                        p {
                            code { (crate::rules::field(&p.request, "package_id")) "@" (crate::rules::field(&p.request, "package_version")) }
                            " from " code { (crate::rules::field(&p.request, "developer_revision_ref")) } " "
                            @if p.publishable { (pill("ready", "ok")) } @else { (pill("not ready", "bad")) }
                        }
                        (findings_table(&p.findings))
                        details { summary { "Manifest" } pre { (pretty(&p.request["manifest"])) } }
                        details { summary { "Recommended lock" } pre { (pretty(&p.request["recommended_lock"])) } }
                        details { summary { "Readme" } pre { (crate::rules::field(&p.request, "readme")) } }
                        p { a href={ "/api/projects/" (id.as_str()) "/package" } { "Package as JSON" } }
                        @if writable(&state) {
                            h3 { "Publish" }
                            form.stack method="post" action={ (base) "/publish" } {
                                label for="pk-id" { "Package id" } input id="pk-id" type="text" name="package_id" value=(crate::rules::field(&p.request, "package_id"));
                                label for="pk-v" { "Version" } input id="pk-v" type="text" name="package_version" value=(crate::rules::field(&p.request, "package_version"));
                                p {
                                    button type="submit" name="target" value="local" { "Publish locally" } " "
                                    @if state.settings.registry_publish_token.is_some() && effective.registry_url.is_some() {
                                        button type="submit" name="target" value="registry" { "Publish to the Registry" }
                                    } @else {
                                        span.muted { "Publishing to a Registry needs STUDIO_REGISTRY_URL and STUDIO_REGISTRY_PUBLISH_TOKEN." }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Local publications" }
                @if locals.is_empty() { p.muted { "None yet." } }
                table {
                    @for l in &locals {
                        tr {
                            td { code { (crate::rules::field(&l.publication, "package_id")) "@" (crate::rules::field(&l.publication, "package_version")) } }
                            td.muted { (crate::rules::field(&l.publication, "published_at")) }
                            td { a href={ (base) "/local-publications/" (l.id) "/verify" } { "Verify" } }
                            td { a href={ "/api/projects/" (id.as_str()) "/local-publications/" (l.id) "/bundle" } { "Download bundle" } }
                        }
                    }
                }
            }
            section.card #registry-publications {
                h2 { "Registry publications" }
                @if remotes.is_empty() { p.muted { "None yet." } }
                @for r in &remotes {
                    @let checks: Vec<Value> = r.checks.iter().filter_map(|c| serde_json::to_value(c).ok()).collect();
                    div.publication data-record=(r.record_id) {
                        p {
                            code { (r.package_id) "@" (r.package_version) } " "
                            span.verdict { @if r.verdict == crate::registry::VERIFIED { (pill(&r.verdict, "ok")) } @else { (pill(&r.verdict, "bad")) } }
                            " " span.muted { (r.recorded_at) }
                        }
                        p.muted { (r.summary) " Registry: " code { (r.registry_url) } }
                        @if !checks.is_empty() {
                            details { summary { "Checks (" (checks.len()) ")" } (checks_table(&checks)) }
                        }
                    }
                }
            }
        };
        Ok(respond(page(&state, format!("Publish · {}", detail.project.name), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

/// `/studio/projects/{id}/local-publications/{publication}/verify`: recomputes every digest
/// (a read: it writes nothing).
pub async fn verify_page(
    state: web::Data<AppState>,
    path: web::Path<(ProjectId, RecordId)>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let (pid, publication) = path.into_inner();
        let detail = projects::detail(&state.db, &pid).await?;
        let row = publish::local_row(&state.db, &pid, &publication).await?;
        let verification = local_publication::verify(&row);
        let checks: Vec<Value> = verification.checks.iter().filter_map(|c| serde_json::to_value(c).ok()).collect();
        let body = html! {
            (tabs(&detail, "/publish"))
            h2 { "Verification of " code { (verification.package_id) "@" (verification.package_version) } }
            p { @if verification.status == "ok" { (pill("verified", "ok")) } @else { (pill("failed", "bad")) } }
            (checks_table(&checks))
        };
        Ok(respond(page(&state, "Verification", &query), body))
    }
    .await;
    page_or_error(&state, result)
}

fn changes_table(changes: &[crate::rules::diff::Change]) -> Markup {
    html! {
        @if changes.is_empty() { p.muted { "No changes." } }
        @else {
            table {
                tr { th { "Where" } th { "Change" } th { "Before" } th { "After" } }
                @for c in changes.iter().take(200) {
                    tr {
                        td { code { (c.path) } }
                        td { (c.kind) }
                        td { @if let Some(b) = &c.before { code { (short(b)) } } }
                        td { @if let Some(a) = &c.after { code { (short(a)) } } }
                    }
                }
            }
            @if changes.len() > 200 { p.muted { (changes.len() - 200) " more changes not shown." } }
        }
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text
    }
}

/// `/studio/projects/{id}/history`.
pub async fn history_page(
    state: web::Data<AppState>,
    id: web::Path<ProjectId>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let detail = projects::detail(&state.db, &id).await?;
        let h = history::history(&state.db, &id).await?;
        let body = html! {
            (tabs(&detail, "/history"))
            section.card {
                h2 { "Product design revisions" }
                @if h.product_revisions.is_empty() { p.muted { "None yet." } }
                @for r in h.product_revisions.iter().rev() {
                    details open[r.number == h.product_revisions.len() as i64] {
                        summary { "Revision " strong { (r.number) } " · " (r.saved_at) " · " (r.changes.len()) " changes" }
                        (changes_table(&r.changes))
                    }
                }
            }
            section.card {
                h2 { "Developer definition revisions" }
                @if h.developer_revisions.is_empty() { p.muted { "None yet." } }
                @for r in h.developer_revisions.iter().rev() {
                    details {
                        summary { "Revision " strong { (r.number) } " · " (r.saved_at) " · signature " code { (r.signature.clone().unwrap_or_default()) } " · " (r.changes.len()) " changes" }
                        (changes_table(&r.changes))
                    }
                }
            }
            section.card {
                h2 { "Publications" }
                ul {
                    @for l in &h.local_publications { li { "Local " code { (crate::rules::field(&l.publication, "package_id")) "@" (crate::rules::field(&l.publication, "package_version")) } " · " (crate::rules::field(&l.publication, "published_at")) } }
                    @for r in &h.registry_publications { li { "Registry " code { (r.package_id) "@" (r.package_version) } " · " (r.verdict) " · " (r.recorded_at) } }
                }
            }
        };
        Ok(respond(page(&state, format!("History · {}", detail.project.name), &query), body))
    }
    .await;
    page_or_error(&state, result)
}

/// `/studio/templates`.
pub async fn templates_page(
    state: web::Data<AppState>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let listing = publish::registry_templates(&state.db, &state.settings, &state.registry).await?;
        let all = projects::list(&state.db, None).await?;
        let items = listing.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        let body = html! {
            h1 { "Templates" }
            section.card {
                h2 { "Registry templates" }
                @if let Some(warning) = listing.get("warning").and_then(Value::as_str) { p.warn { (warning) } }
                table {
                    tr { th { "Template" } th { "Kind" } th { "Spec" } th { "Publisher" } }
                    @for t in &items {
                        tr {
                            td { code { (crate::rules::field(t, "template_id")) "@" (crate::rules::field(t, "template_version")) } }
                            td { (crate::rules::field(t, "template_kind")) }
                            td { (crate::rules::field(t, "anip_spec_version")) }
                            td.muted { (crate::rules::field(t, "publisher_id")) }
                        }
                    }
                }
            }
            @if writable(&state) {
                section.card {
                    h2 { "Export a project as a starter template" }
                    p.muted { "Markdown documents, connections (by reference), discovery records and capability mappings." }
                    form.stack method="post" action="/studio/templates" {
                        label for="t-p" { "Project" } select id="t-p" name="project_id" { @for p in &all { option value=(p.id) { (p.name) } } }
                        label for="t-id" { "Template id (optional)" } input id="t-id" type="text" name="template_id";
                        label for="t-v" { "Version" } input id="t-v" type="text" name="template_version" value="0.1.0";
                        p { button type="submit" { "Export to the Registry" } }
                    }
                }
            }
        };
        Ok(respond(page(&state, "Templates", &query), body))
    }
    .await;
    page_or_error(&state, result)
}

fn setting_row(label: &str, view: &settings::SettingView) -> Markup {
    html! {
        tr {
            td { (label) }
            td { code { (view.value.clone().unwrap_or_else(|| "—".into())) } }
            td { @if view.locked { (pill(&format!("locked by {}", view.locked_by.as_deref().unwrap_or(&view.env_var)), "warn")) } @else { (pill(&view.source, "")) } }
        }
    }
}

/// `/studio/settings`.
pub async fn settings_page(
    state: web::Data<AppState>,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let result: Result<HttpResponse> = async {
        let view = settings::view_all(&state.db, &state.settings).await?;
        let body = html! {
            h1 { "Settings" }
            section.card {
                h2 { "Registry and trust" }
                table {
                    (setting_row("Registry URL", &view.registry.url))
                    (setting_row("Required Registry mode", &view.registry.required_mode))
                    (setting_row("Trusted receipt key id", &view.registry.trusted_key_id))
                    tr { td { "Publish token" } td { @if view.registry.publish_token_configured { span.ok { "configured" } } @else { span.muted { "not configured" } } } td { (pill("environment only", "")) } }
                }
                @if let Some(w) = &view.registry.warning { p.warn { (w) } }
            }
            section.card {
                h2 { "Assistant" }
                table {
                    tr { td { "Provider" } td { code { (view.assistant.provider) } } td {} }
                    (setting_row("Model", &view.assistant.model))
                    (setting_row("Base URL", &view.assistant.base_url))
                    tr { td { "API key" } td { @if view.assistant.api_key_configured { span.ok { "configured" } } @else { span.muted { "not configured" } } } td { (pill("environment only", "")) } }
                }
            }
            @if writable(&state) {
                section.card {
                    h2 { "Change" }
                    p.muted { "Only settings the environment leaves open can be changed here; empty clears a stored value." }
                    form.stack method="post" action="/studio/settings" {
                        @if !view.registry.url.locked { label for="st-url" { "Registry URL" } input id="st-url" type="text" name="registry_url" value=(view.registry.url.value.clone().unwrap_or_default()); }
                        @if !view.registry.required_mode.locked {
                            label for="st-mode" { "Required Registry mode" }
                            select id="st-mode" name="required_registry_mode" {
                                option value="" { "any" }
                                option value="dev" selected[view.registry.required_mode.value.as_deref() == Some("dev")] { "dev" }
                                option value="production" selected[view.registry.required_mode.value.as_deref() == Some("production")] { "production" }
                            }
                        }
                        @if !view.registry.trusted_key_id.locked { label for="st-key" { "Trusted receipt key id" } input id="st-key" type="text" name="trusted_registry_key_id" value=(view.registry.trusted_key_id.value.clone().unwrap_or_default()); }
                        @if !view.assistant.model.locked { label for="st-model" { "Assistant model" } input id="st-model" type="text" name="assistant_model" value=(view.assistant.model.value.clone().unwrap_or_default()); }
                        @if !view.assistant.base_url.locked { label for="st-base" { "Assistant base URL" } input id="st-base" type="text" name="assistant_base_url" value=(view.assistant.base_url.value.clone().unwrap_or_default()); }
                        p { button type="submit" { "Save settings" } }
                    }
                }
            }
        };
        Ok(respond(page(&state, "Settings", &query), body))
    }
    .await;
    page_or_error(&state, result)
}

/// Renders a proposal for the author to accept parts of.
pub fn proposal_page(
    state: &AppState,
    project_id: &str,
    kind: &str,
    proposal: &Value,
) -> HttpResponse {
    let encoded = proposal.to_string();
    let items: Vec<(String, String, Value)> = if kind == "sections" {
        proposal["sections"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    SectionKey::parse(k)
                        .map(|s| s.title().to_owned())
                        .unwrap_or_else(|_| k.clone()),
                    v.clone(),
                )
            })
            .collect()
    } else {
        proposal["candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    crate::rules::field(c, "client_id"),
                    crate::rules::field(c, "capability_id"),
                    c.clone(),
                )
            })
            .collect()
    };
    let body = html! {
        h1 { "Assistant proposal" }
        p.muted { "Provider: " code { (crate::rules::field(proposal, "provider")) } ". Nothing has been saved. Tick what to accept." }
        @if let Some(questions) = proposal["questions"].as_array() {
            @if !questions.is_empty() {
                section.card { h2 { "Questions" } ul { @for q in questions { li { (q.as_str().unwrap_or_default()) } } } }
            }
        }
        form method="post" action={ "/studio/projects/" (project_id) "/assistant/accept" } {
            input type="hidden" name="kind" value=(kind);
            input type="hidden" name="proposal" value=(encoded);
            @for (key, label, value) in &items {
                section.card {
                    label { input type="checkbox" name="accepted" value=(key) checked; " " strong { (label) } }
                    pre { (pretty(value)) }
                }
            }
            @if items.is_empty() { p.muted { "The assistant found nothing to propose in the documents." } }
            @else { p { button type="submit" { "Accept selected" } } }
        }
    };
    respond(
        Page {
            state,
            title: "Assistant proposal".into(),
            notice: None,
        },
        body,
    )
}

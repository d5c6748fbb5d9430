//! Starter template pages: the list, a template's versions and a version's detail page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::Value;
use signing::TemplateReceiptPayload;

use super::error::UiError;
use super::layout::{self, badge, date, downloads, Section};
use super::packages::paging;
use super::{markdown, paths};
use crate::app::AppState;
use crate::ids::{TemplateId, Version};
use crate::model::{TemplateReceipt, TemplateSummary};
use crate::store::{TemplateRecordRow, TemplateVersionRow};

const MAX_VERSIONS: i64 = 200;

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `GET /registry/templates?limit=&offset=`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let (limit, offset) = paging(&req)?;
    let (items, total) = state.store.list_templates(limit, offset).await?;
    let body = html! {
        h1 { "Templates" }
        p.lede { "Starter templates for new ANIP projects: documents and connections to begin from, no executable code." }
        @if items.is_empty() {
            div.empty #empty-state {
                @if offset > 0 {
                    strong { "No more templates" }
                    a href=(paths::templates()) { "Back to the first page" }
                } @else {
                    strong { "No templates yet" }
                    "Templates appear here once they are published through the Registry API."
                }
            }
        } @else {
            p.summary { (layout::count(total)) @if total == 1 { " template version" } @else { " template versions" } }
            ul.list #templates {
                @for item in &items { (template_row(item)) }
            }
            (layout::pager(&paths::templates(), &[], limit, offset, total))
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        layout::page("Templates", Section::Templates, body),
    ))
}

fn template_row(item: &TemplateSummary) -> Markup {
    let kind = [item.template_kind.as_str(), item.project_type.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    html! {
        li.template data-template-id=(item.template_id) data-version=(item.template_version) {
            div.row-main {
                div.row-title {
                    a href=(paths::template_version(&item.template_id, &item.template_version)) { (item.template_id) }
                    span.ver { (item.template_version) }
                }
                div.meta {
                    @if !kind.is_empty() { span { (kind) } }
                    @if !item.publisher_id.is_empty() {
                        span { "by " a href=(paths::publisher(&item.publisher_id)) { (item.publisher_id) } }
                    }
                    span { "published " (date(&item.published_at)) }
                }
            }
            div.row-side {
                @for system in item.systems.iter().take(4) { (badge("neutral", system)) }
                span.count { (downloads(item.download_count)) }
            }
        }
    }
}

/// `GET /registry/templates/{template_id}`.
pub async fn by_id(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let raw = [req.match_info().get("template_id").unwrap_or_default()];
    resolve(&state, &raw).await
}

/// `GET /registry/templates/{template_id}/{version}`.
pub async fn by_id_version(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let info = req.match_info();
    let raw = [
        info.get("template_id").unwrap_or_default(),
        info.get("version").unwrap_or_default(),
    ];
    resolve(&state, &raw).await
}

/// `GET /registry/templates/{tail:.+}`.
pub async fn by_tail(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let raw = [req.match_info().get("tail").unwrap_or_default()];
    resolve(&state, &raw).await
}

fn not_found() -> UiError {
    UiError::NotFound("There is no template or template version at this address.".into())
}

async fn resolve(state: &AppState, raw: &[&str]) -> Result<HttpResponse, UiError> {
    let candidates = paths::template_candidates(raw).ok_or_else(not_found)?;
    if let Some((id, version)) = &candidates.version {
        if let Some(row) = state
            .store
            .template_record_row(id.as_str(), version.as_str())
            .await?
        {
            return detail(state, id, version, row).await;
        }
    }
    if let Some(id) = &candidates.id {
        let versions = state
            .store
            .template_versions(id.as_str(), MAX_VERSIONS)
            .await?;
        if !versions.is_empty() {
            return Ok(versions_page(id, &versions));
        }
    }
    Err(not_found())
}

fn versions_page(id: &TemplateId, versions: &[TemplateVersionRow]) -> HttpResponse {
    let body = html! {
        div.crumbs { a href=(paths::templates()) { "Templates" } " / " (id) }
        h1 { (id) }
        p.lede { (versions.len()) @if versions.len() == 1 { " version" } @else { " versions" } }
        ul.list #versions {
            @for v in versions {
                li.version data-version=(v.template_version) {
                    div.row-main {
                        div.row-title {
                            a href=(paths::template_version(id.as_str(), &v.template_version)) { (v.template_version) }
                        }
                        div.meta { span { "published " (date(&v.published_at)) } }
                    }
                    div.row-side { span.count { (downloads(v.download_count)) } }
                }
            }
        }
    };
    layout::respond(
        StatusCode::OK,
        layout::page(id.as_str(), Section::Templates, body),
    )
}

/// Whether the template receipt's signature verifies with this registry's keys (templates
/// have no client-side verifier; the signature check is the `signing` crate's).
fn signature_status(
    state: &AppState,
    record: &Value,
    receipt: Option<&TemplateReceipt>,
) -> Result<String, String> {
    let receipt = receipt.ok_or("no receipt is stored for this version")?;
    let payload = TemplateReceiptPayload {
        template_id: receipt.template_id.clone(),
        template_version: receipt.template_version.clone(),
        template_digest: text(record, "template_digest").to_owned(),
        issued_at: receipt.issued_at.clone(),
        publisher_id: receipt.publisher_id.clone(),
        publisher_type: receipt.publisher_type.clone(),
    };
    payload
        .verify(state.keys.public_keys(), &receipt.registry_signature)
        .map(|()| format!("valid Ed25519 signature by key {}", receipt.key_id))
        .map_err(|e| e.to_string())
}

async fn detail(
    state: &AppState,
    id: &TemplateId,
    version: &Version,
    row: TemplateRecordRow,
) -> Result<HttpResponse, UiError> {
    let record: Value = serde_json::from_slice(&row.body)
        .map_err(|e| UiError::Internal(format!("stored template does not parse: {e}")))?;
    let receipt = state
        .store
        .template_receipt(id.as_str(), version.as_str())
        .await?;
    let versions = state.store.template_versions(id.as_str(), 12).await?;
    let signature = signature_status(state, &record, receipt.as_ref());
    let template = record.get("template").unwrap_or(&Value::Null);
    let documents: Vec<&Value> = template
        .get("documents")
        .and_then(Value::as_array)
        .map(|d| d.iter().collect())
        .unwrap_or_default();
    let readme = documents
        .iter()
        .find(|d| text(d, "filename").eq_ignore_ascii_case("README.md"))
        .map(|d| text(d, "content"));
    let systems: Vec<&str> = record
        .get("systems")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let publisher_id = text(&record, "publisher_id");
    let body = html! {
        div.crumbs {
            a href=(paths::templates()) { "Templates" } " / "
            a href=(paths::template(id.as_str())) { (id) } " / " (version)
        }
        div.title-row {
            h1 #template-id { (id) }
            span.badge.b-neutral.mono { (version) }
            @if signature.is_ok() {
                span.badge.b-verified.verification #verification-status data-verified="true" { "✓ Signed" }
            } @else {
                span.badge.b-not-verified.verification #verification-status data-verified="false" { "✗ Not verified" }
            }
        }
        p.lede {
            "published " (date(text(&record, "published_at")))
            @if !publisher_id.is_empty() { " by " a href=(paths::publisher(publisher_id)) { (publisher_id) } }
        }
        div.layout {
            div.primary {
                section.card #readme {
                    h2 { "Readme" }
                    @match readme.filter(|r| !r.trim().is_empty()) {
                        Some(readme) => div.readme { (markdown::render(readme)) },
                        None => p.muted { "This template has no README.md." },
                    }
                }
                @if !documents.is_empty() {
                    section.card #documents {
                        h2 { "Documents" }
                        ul.links {
                            @for doc in &documents { li.mono { (text(doc, "filename")) } }
                        }
                    }
                }
                section.card #digests {
                    h2 { "Digests" }
                    dl.kv {
                        dt { "Manifest" } dd.hash { (text(&record, "manifest_digest")) }
                        dt { "Template" } dd.hash { (text(&record, "template_digest")) }
                        dt { "Package" } dd.hash { (text(&record, "package_digest")) }
                    }
                }
                section.card #receipt {
                    h2 { "Receipt" }
                    @match &signature {
                        Ok(why) => p { (badge("pass", "pass")) " " span.muted { (why) } },
                        Err(why) => p { (badge("fail", "fail")) " " span.muted { (why) } },
                    }
                    @if let Some(r) = &receipt {
                        dl.kv {
                            dt { "Key id" } dd.mono { (r.key_id) }
                            dt { "Algorithm" } dd.mono { (r.signature_algorithm) }
                            dt { "Issued at" } dd { (r.issued_at) }
                            dt { "Receipt id" } dd.hash { (r.receipt_id) }
                            dt { "Signature" } dd.hash { (r.registry_signature) }
                        }
                    }
                }
            }
            aside {
                section.card {
                    h2 { "Download" }
                    ul.links {
                        li { a #download-template href=(paths::api_template(id.as_str(), version.as_str(), "/download")) { "Template (.anip-template.json)" } }
                        li { a href=(paths::api_template(id.as_str(), version.as_str(), "/receipt")) { "Receipt (JSON)" } }
                        li { a href=(paths::api_template(id.as_str(), version.as_str(), "")) { "Record (JSON)" } }
                    }
                }
                section.card {
                    h2 { "Details" }
                    dl.kv {
                        dt { "Downloads" } dd { (layout::count(row.download_count)) }
                        @for (label, key) in [("Kind", "template_kind"), ("Project type", "project_type"), ("ANIP spec", "anip_spec_version"), ("Domain", "domain"), ("Industry", "industry")] {
                            @let value = text(&record, key);
                            @if !value.is_empty() { dt { (label) } dd { (value) } }
                        }
                        @if !systems.is_empty() {
                            dt { "Systems" }
                            dd { @for s in &systems { (badge("neutral", s)) " " } }
                        }
                    }
                }
                section.card {
                    h2 { "Versions" a href=(paths::template(id.as_str())) { "All versions" } }
                    ul.versions {
                        @for v in &versions {
                            li.current[v.template_version == version.as_str()] {
                                a.v href=(paths::template_version(id.as_str(), &v.template_version)) { (v.template_version) }
                                span.when { (date(&v.published_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        layout::page(&format!("{id} {version}"), Section::Templates, body),
    ))
}

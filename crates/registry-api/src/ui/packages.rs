//! Package pages: the searchable list, a package's versions, and a version's detail page with
//! its verification status.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use registry_client::{CheckStatus, VerificationReport};
use serde_json::{json, Value};

use super::error::UiError;
use super::layout::{self, badge, date, downloads, lifecycle_badge, safe_href, Section};
use super::{markdown, paths, verification};
use crate::app::AppState;
use crate::ids::{PackageId, Version};
use crate::model::{Lifecycle, PublicationSummary, Publisher, Receipt};
use crate::store::{ListQuery, PackageVersionRow, RecordRow};

/// Longest accepted search text (as the API).
const MAX_QUERY_LEN: usize = 200;
/// Rows per page unless `limit` says otherwise, and the most a page shows.
const PAGE_SIZE: i64 = 20;
const MAX_PAGE_SIZE: i64 = 100;
/// The most versions a versions list shows.
const MAX_VERSIONS: i64 = 200;
/// The versions the detail page's sidebar lists.
const SIDEBAR_VERSIONS: i64 = 12;

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The search text (`q`), trimmed and lower-cased as the listing query expects it.
fn search_query(req: &HttpRequest) -> Result<Option<String>, UiError> {
    let q = crate::http::query_param(req, "q")
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if let Some(q) = &q {
        if q.chars().count() > MAX_QUERY_LEN {
            return Err(UiError::BadRequest(format!(
                "The search text is longer than {MAX_QUERY_LEN} characters."
            )));
        }
        if q.chars().any(char::is_control) {
            return Err(UiError::BadRequest(
                "The search text contains control characters.".into(),
            ));
        }
    }
    Ok(q)
}

/// `limit` and `offset`, as the API parses them, with a 400 page on garbage.
pub fn paging(req: &HttpRequest) -> Result<(i64, i64), UiError> {
    crate::http::paging(req, PAGE_SIZE, MAX_PAGE_SIZE)
        .map_err(|e| UiError::BadRequest(format!("{e}.")))
}

/// `GET /registry/packages?q=&limit=&offset=`: one row per published version, most downloaded
/// first, through the same indexed listing and search queries as `GET publications`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let q = search_query(&req)?;
    let (limit, offset) = paging(&req)?;
    let page = state
        .listing_cache
        .page(
            &state.store,
            &ListQuery {
                q: q.as_ref().map(|q| q.to_lowercase()),
                limit,
                offset,
            },
        )
        .await?;
    let (items, total) = (&page.items, page.total);
    // A search that matched more than the count cap says so ("1,000+"), rather than a number
    // that is only a lower bound.
    let more = if page.total_exact { "" } else { "+" };
    let q_text = q.as_deref().unwrap_or_default();
    let title = match &q {
        Some(q) => format!("“{q}”: packages"),
        None => "Packages".to_owned(),
    };
    let body = html! {
        h1 { "Packages" }
        p.lede { "Signed ANIP service packages. Every version carries a receipt from this registry that you can verify." }
        form.search method="get" action=(paths::packages()) role="search" {
            input #q type="search" name="q" value=(q_text) maxlength=(MAX_QUERY_LEN)
                placeholder="Search by package id, name or publisher" aria-label="Search packages";
            button type="submit" { "Search" }
        }
        @if items.is_empty() {
            div.empty #empty-state {
                @if let Some(q) = &q {
                    strong { "No packages match “" (q) "”" }
                    "Try a shorter or different search, or " a href=(paths::packages()) { "browse all packages" } "."
                } @else if offset > 0 {
                    strong { "No more packages" }
                    a href=(paths::packages()) { "Back to the first page" }
                } @else {
                    strong { "No packages yet" }
                    "Packages appear here once they are published through the Registry API."
                }
            }
        } @else {
            p.summary #result-summary {
                @let first = offset + 1;
                @let last = offset + i64::try_from(items.len()).unwrap_or(0);
                @if let Some(q) = &q {
                    (layout::count(total)) (more) @if total == 1 { " result" } @else { " results" } " for “" (q) "”"
                } @else {
                    (layout::count(total)) @if total == 1 { " published version" } @else { " published versions" }
                }
                @if total > limit { " · showing " (first) "–" (last) }
            }
            ul.list #packages {
                @for item in items { (package_row(item)) }
            }
            (layout::pager(&paths::packages(), &[("q", q_text)], limit, offset, total))
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        layout::page(&title, Section::Packages, body),
    ))
}

fn publisher_link(id: &str, display_name: Option<&str>) -> Markup {
    let name = display_name.filter(|n| !n.trim().is_empty()).unwrap_or(id);
    html! { a.publisher href=(paths::publisher(id)) { (name) } }
}

fn package_row(item: &PublicationSummary) -> Markup {
    let display = item
        .publisher
        .as_ref()
        .map(|p| p.display_name.as_str())
        .filter(|_| !item.publisher_id.is_empty());
    html! {
        li.package data-package-id=(item.package_id) data-version=(item.package_version) {
            div.row-main {
                div.row-title {
                    a href=(paths::package_version(&item.package_id, &item.package_version)) { (item.package_id) }
                    span.ver { (item.package_version) }
                }
                div.meta {
                    @if !item.publisher_id.is_empty() {
                        span { "by " (publisher_link(&item.publisher_id, display)) }
                    }
                    span { "published " (date(&item.published_at)) }
                }
            }
            div.row-side {
                (lifecycle_badge(&item.lifecycle.status))
                span.count data-downloads=(item.download_count) { (downloads(item.download_count)) }
            }
        }
    }
}

/// `GET /registry/packages/{package_id}`: the versions of a package (the id may be
/// `%2F`-encoded).
pub async fn by_id(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let raw = [req.match_info().get("package_id").unwrap_or_default()];
    resolve(&state, &raw).await
}

/// `GET /registry/packages/{package_id}/{version}`: a version's page, or the versions of an id
/// written as a tail path (`acme/tools`).
pub async fn by_id_version(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let info = req.match_info();
    let raw = [
        info.get("package_id").unwrap_or_default(),
        info.get("version").unwrap_or_default(),
    ];
    resolve(&state, &raw).await
}

/// `GET /registry/packages/{tail:.+}`: ids written as tail paths (`acme/tools/1.0.0`).
pub async fn by_tail(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let raw = [req.match_info().get("tail").unwrap_or_default()];
    resolve(&state, &raw).await
}

fn not_found() -> UiError {
    UiError::NotFound("There is no package or package version at this address.".into())
}

/// A detail page when the path names an existing version, else a versions page when it names
/// a package, else 404. A version lookup that finds nothing costs one extra query.
async fn resolve(state: &AppState, raw: &[&str]) -> Result<HttpResponse, UiError> {
    let candidates = paths::package_candidates(raw).ok_or_else(not_found)?;
    if let Some((id, version)) = &candidates.version {
        if let Some(row) = state
            .store
            .record_row(id.as_str(), version.as_str())
            .await?
        {
            return detail(state, id, version, row).await;
        }
    }
    if let Some(id) = &candidates.id {
        let versions = state
            .store
            .package_versions(id.as_str(), MAX_VERSIONS)
            .await?;
        if !versions.is_empty() {
            return Ok(versions_page(id, &versions));
        }
    }
    Err(not_found())
}

fn versions_page(id: &PackageId, versions: &[PackageVersionRow]) -> HttpResponse {
    let total_downloads: i64 = versions.iter().map(|v| v.download_count).sum();
    let body = html! {
        div.crumbs { a href=(paths::packages()) { "Packages" } " / " (id) }
        h1 { (id) }
        p.lede {
            (versions.len()) @if versions.len() == 1 { " version" } @else { " versions" }
            " · " (downloads(total_downloads))
        }
        ul.list #versions {
            @for v in versions {
                li.version data-version=(v.package_version) {
                    div.row-main {
                        div.row-title {
                            a href=(paths::package_version(&v.package_id, &v.package_version)) { (v.package_version) }
                        }
                        div.meta {
                            span { "published " (date(&v.published_at)) }
                            @if !v.lifecycle.reason.is_empty() && v.lifecycle.status != "takedown" {
                                span { (v.lifecycle.reason) }
                            }
                        }
                    }
                    div.row-side {
                        (lifecycle_badge(&v.lifecycle.status))
                        span.count { (downloads(v.download_count)) }
                    }
                }
            }
        }
    };
    layout::respond(
        StatusCode::OK,
        layout::page(id.as_str(), Section::Packages, body),
    )
}

/// Everything the detail page shows besides the record.
struct Detail {
    receipt: Option<Receipt>,
    versions: Vec<PackageVersionRow>,
    publisher: Option<Publisher>,
    report: Result<VerificationReport, String>,
    record: Value,
    download_count: i64,
    lifecycle: Lifecycle,
    /// The registry's signing mode (`dev` receipts may use a key anyone can derive).
    signing_mode: String,
}

async fn detail(
    state: &AppState,
    id: &PackageId,
    version: &Version,
    row: RecordRow,
) -> Result<HttpResponse, UiError> {
    if row.lifecycle.status == "takedown" {
        return Ok(takedown_page(id, version, &row.lifecycle));
    }
    let mut record: Value = serde_json::from_slice(&row.body)
        .map_err(|e| UiError::Internal(format!("stored record does not parse: {e}")))?;
    let publisher_id = text(&record, "publisher_id").to_owned();
    // One query at a time: a page view holds at most one pooled connection.
    let receipt = state.store.receipt(id.as_str(), version.as_str()).await?;
    let keys = verification::registry_keys(state).await?;
    let versions = state
        .store
        .package_versions(id.as_str(), SIDEBAR_VERSIONS)
        .await?;
    let publisher = state.store.publisher(&publisher_id).await?;
    if let Some(map) = record.as_object_mut() {
        map.insert("lifecycle".into(), json!(row.lifecycle));
    }
    // Recomputing three digests over up to a few MiB of JSON is CPU work: off the I/O worker.
    let (package_id, package_version) = (id.to_string(), version.to_string());
    let receipt_for_check = receipt.clone();
    let signing_mode = keys.signing_mode.clone();
    let (record, report) = web::block(move || {
        verification::verify(
            record,
            receipt_for_check.as_ref(),
            &keys,
            &package_id,
            &package_version,
        )
    })
    .await
    .map_err(|e| UiError::Internal(e.to_string()))?;
    let detail = Detail {
        receipt,
        versions,
        publisher,
        report,
        record,
        download_count: row.download_count,
        lifecycle: row.lifecycle,
        signing_mode,
    };
    Ok(layout::respond(
        StatusCode::OK,
        detail_page(id, version, &detail),
    ))
}

fn takedown_page(id: &PackageId, version: &Version, lifecycle: &Lifecycle) -> HttpResponse {
    let body = html! {
        div.crumbs {
            a href=(paths::packages()) { "Packages" } " / "
            a href=(paths::package(id.as_str())) { (id) } " / " (version)
        }
        div.title-row {
            h1 { (id) }
            (badge("neutral", version.as_str()))
            (lifecycle_badge(&lifecycle.status))
        }
        div.notice.n-bad #takedown-notice role="alert" {
            strong { "This package version has been taken down" }
            @if !lifecycle.reason.is_empty() { p { "Reason: " (lifecycle.reason) } }
            p { "Its content, receipt and downloads are no longer available from this registry." }
            p { a href=(paths::package(id.as_str())) { "See the other versions of " (id) } }
        }
    };
    layout::respond(
        StatusCode::GONE,
        layout::page(
            &format!("{id} {version} (taken down)"),
            Section::Packages,
            body,
        ),
    )
}

fn verified_badge(report: &Result<VerificationReport, String>, with_id: bool) -> Markup {
    let ok = report.as_ref().is_ok_and(VerificationReport::ok);
    html! {
        @if ok {
            span.badge.b-verified.verification id=[with_id.then_some("verification-status")] data-verified="true"
                title="The digests recompute and the receipt's signature verifies with this registry's keys" {
                "✓ Verified"
            }
        } @else {
            span.badge.b-not-verified.verification id=[with_id.then_some("verification-status")] data-verified="false" {
                "✗ Not verified"
            }
        }
    }
}

fn lifecycle_notice(id: &PackageId, lifecycle: &Lifecycle) -> Markup {
    let (class, headline) = match lifecycle.status.as_str() {
        "deprecated" => ("n-warn", "This version is deprecated"),
        "superseded" => ("n-info", "This version has been superseded"),
        "yanked" => ("n-bad", "This version has been yanked"),
        _ => return html! {},
    };
    html! {
        div class=(format!("notice {class}")) #lifecycle-notice data-lifecycle=(lifecycle.status) {
            strong { (headline) }
            @if !lifecycle.reason.is_empty() { p { "Reason: " (lifecycle.reason) } }
            @if let Some(r) = &lifecycle.replacement {
                p {
                    "Use "
                    a #replacement href=(paths::package_version(&r.package_id, &r.package_version)) {
                        (r.package_id) "@" (r.package_version)
                    }
                    " instead."
                }
            }
            @if lifecycle.status == "yanked" {
                p { "Downloads are refused unless a client explicitly allows yanked packages (to reproduce a pinned build)." }
            }
            @if lifecycle.replacement.is_none() && lifecycle.status != "yanked" {
                p { a href=(paths::package(id.as_str())) { "See all versions" } }
            }
        }
    }
}

fn check_row(check: &registry_client::Check) -> Markup {
    let (class, label) = match check.status {
        CheckStatus::Pass => ("pass", "pass"),
        CheckStatus::Warn => ("warn", "warn"),
        CheckStatus::Skip => ("skip", "skip"),
        CheckStatus::Fail => ("fail", "fail"),
    };
    html! {
        li.check data-check=(check.name.as_str()) data-status=(label) {
            (badge(class, label))
            span.name { (check.name.as_str()) }
            span.why { (check.reason) }
        }
    }
}

/// The checks, with a one-line tally; folded away when every check passed.
fn checks(report: &VerificationReport) -> Markup {
    let tally = |status: CheckStatus| report.checks.iter().filter(|c| c.status == status).count();
    let (pass, warn, fail, skip) = (
        tally(CheckStatus::Pass),
        tally(CheckStatus::Warn),
        tally(CheckStatus::Fail),
        tally(CheckStatus::Skip),
    );
    let mut parts = vec![format!("{pass} passed")];
    for (n, word) in [(warn, "warning"), (fail, "failed"), (skip, "skipped")] {
        if n > 0 {
            let word = if word == "warning" && n > 1 {
                "warnings"
            } else {
                word
            };
            parts.push(format!("{n} {word}"));
        }
    }
    let all_passed = warn == 0 && fail == 0;
    html! {
        details.all-checks open[!all_passed] {
            summary { (report.checks.len()) " checks: " (parts.join(", ")) }
            ul.checks { @for check in &report.checks { (check_row(check)) } }
        }
    }
}

fn detail_page(id: &PackageId, version: &Version, d: &Detail) -> Markup {
    let record = &d.record;
    let manifest = record.get("manifest").unwrap_or(&Value::Null);
    let name = text(manifest, "name").trim();
    let publisher_id = text(record, "publisher_id");
    let readme = text(record, "readme");
    let yanked = d.lifecycle.status == "yanked";
    let download_suffix = if yanked {
        "/download?allow_yanked=true"
    } else {
        "/download"
    };
    let source_links: Vec<(String, String)> = record
        .get("source_links")
        .and_then(Value::as_array)
        .map(|links| {
            links
                .iter()
                .map(|l| (text(l, "title").to_owned(), text(l, "url").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let materials: Vec<&Value> = record
        .get("implementation_materials")
        .and_then(Value::as_array)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let body = html! {
        div.crumbs {
            a href=(paths::packages()) { "Packages" } " / "
            a href=(paths::package(id.as_str())) { (id) } " / " (version)
        }
        div.title-row {
            h1 #package-id { (id) }
            span.badge.b-neutral.mono #package-version { (version) }
            (lifecycle_badge(&d.lifecycle.status))
            (verified_badge(&d.report, true))
        }
        p.lede {
            @if !name.is_empty() && name != id.as_str() { (name) " · " }
            "published " (date(text(record, "published_at")))
            @if !publisher_id.is_empty() {
                " by " (publisher_link(publisher_id, d.publisher.as_ref().map(|p| p.display_name.as_str())))
            }
        }
        (lifecycle_notice(id, &d.lifecycle))
        div.layout {
            div.primary {
                section.card #readme {
                    h2 { "Readme" }
                    @if readme.trim().is_empty() {
                        p.muted { "This package has no readme." }
                    } @else {
                        div.readme { (markdown::render(readme)) }
                    }
                }
                section.card #verification {
                    h2 { "Verification" (verified_badge(&d.report, false)) }
                    @match &d.report {
                        Ok(report) => {
                            p.muted {
                                "Checked now with the shared package verifier, against "
                                a href=(format!("{}/keys", paths::API_PREFIX)) { "this registry's signing keys" }
                                ", exactly as a client checks a download."
                            }
                            (checks(report))
                        }
                        Err(why) => p { "The stored record could not be verified: " (why) }
                    }
                }
                section.card #digests {
                    h2 { "Digests" }
                    dl.kv {
                        dt { "Manifest" } dd.hash data-digest="manifest" { (text(record, "manifest_digest")) }
                        dt { "Definition" } dd.hash data-digest="definition" { (text(record, "definition_digest")) }
                        dt { "Lock" } dd.hash data-digest="lock" { (text(record, "lock_digest")) }
                        dt { "Execution signature" }
                        dd.hash {
                            @let sig = text(record, "package_execution_signature");
                            @if sig.is_empty() { span.muted { "none (published before execution signatures)" } } @else { (sig) }
                        }
                        dt { "Contract signature" } dd.hash { (text(record, "contract_signature")) }
                    }
                }
                section.card #receipt {
                    h2 { "Receipt" }
                    @if let Some(r) = &d.receipt {
                        dl.kv {
                            dt { "Key id" } dd.mono #receipt-key-id { (r.key_id) }
                            dt { "Algorithm" } dd.mono { (r.signature_algorithm) }
                            dt { "Issued at" } dd { (r.issued_at) }
                            dt { "Receipt id" } dd.hash { (r.receipt_id) }
                            dt { "Signature" } dd.hash #receipt-signature { (r.registry_signature) }
                            dt { "Registry mode" }
                            dd {
                                (d.signing_mode)
                                @if d.signing_mode == "dev" { span.muted { " (development keys: do not rely on these receipts in production)" } }
                            }
                        }
                    } @else {
                        p.muted { "No receipt is stored for this version." }
                    }
                }
            }
            aside {
                section.card #downloads {
                    h2 { "Download" }
                    ul.links {
                        li {
                            a #download-package href=(paths::api_package(id.as_str(), version.as_str(), download_suffix)) { "Package (.anip-package.json)" }
                            @if yanked { span.hint { "Yanked: only for reproducing a pinned build." } }
                        }
                        li { a href=(paths::api_package(id.as_str(), version.as_str(), "/lock")) { "Lock file (.anip.lock.json)" } }
                        li { a href=(paths::api_package(id.as_str(), version.as_str(), "/receipt")) { "Receipt (JSON)" } }
                        li { a href=(paths::api_package(id.as_str(), version.as_str(), "")) { "Record (JSON)" } }
                    }
                }
                section.card #details {
                    h2 { "Details" }
                    dl.kv {
                        dt { "Downloads" } dd #download-count data-downloads=(d.download_count) { (layout::count(d.download_count)) }
                        @if !publisher_id.is_empty() {
                            dt { "Publisher" }
                            dd {
                                (publisher_link(publisher_id, d.publisher.as_ref().map(|p| p.display_name.as_str())))
                                @if let Some(p) = &d.publisher { " " (badge(&p.trust_level, &p.trust_level)) }
                            }
                        }
                        dt { "Published" } dd { (text(record, "published_at")) }
                        @let spec = text(manifest, "anip_spec_version");
                        @if !spec.is_empty() { dt { "ANIP spec" } dd.mono { (spec) } }
                        dt { "Schema" } dd.mono { (text(record, "schema_version")) }
                        @if let Some(n) = manifest.get("capability_count").and_then(Value::as_u64) {
                            dt { "Capabilities" } dd { (n) }
                        }
                        @if let Some(n) = manifest.get("service_count").and_then(Value::as_u64) {
                            dt { "Services" } dd { (n) }
                        }
                        @let project = text(record, "project_ref");
                        @if !project.is_empty() { dt { "Project" } dd.mono { (project) } }
                    }
                }
                @if !source_links.is_empty() || !materials.is_empty() {
                    section.card #sources {
                        h2 { "Source" }
                        ul.links {
                            @for (title, url) in &source_links {
                                @let label = if title.is_empty() { url.as_str() } else { title.as_str() };
                                li.source-link {
                                    @if let Some(href) = safe_href(url) {
                                        a href=(href) rel="noopener nofollow" { (label) }
                                        span.hint { (href) }
                                    } @else {
                                        (label) span.hint { (url) " (not a web link)" }
                                    }
                                }
                            }
                            @for m in &materials {
                                li {
                                    @let title = text(m, "title");
                                    (if title.is_empty() { "Implementation material" } else { title })
                                    span.hint.hash { (text(m, "ref")) }
                                }
                            }
                        }
                    }
                }
                section.card #version-list {
                    h2 { "Versions" a href=(paths::package(id.as_str())) { "All versions" } }
                    ul.versions {
                        @for v in &d.versions {
                            li.current[v.package_version == version.as_str()] {
                                a.v href=(paths::package_version(&v.package_id, &v.package_version)) { (v.package_version) }
                                @if v.lifecycle.status != "active" { (lifecycle_badge(&v.lifecycle.status)) }
                                span.when { (date(&v.published_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(&format!("{id} {version}"), Section::Packages, body)
}

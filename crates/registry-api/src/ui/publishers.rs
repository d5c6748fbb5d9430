//! A publisher's public page: profile, active namespaces and published packages.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;

use super::error::UiError;
use super::layout::{self, badge, date, downloads, lifecycle_badge, safe_href, Section};
use super::paths;
use crate::app::AppState;

/// The most packages the page lists (newest first).
const MAX_PACKAGES: i64 = 100;
/// Longest publisher id (the column's limit).
const MAX_PUBLISHER_ID_LEN: usize = 128;

/// `GET /registry/publishers/{publisher_id}`.
pub async fn show(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let publisher_id = path.into_inner();
    let not_found = || UiError::NotFound("There is no publisher at this address.".into());
    if publisher_id.is_empty()
        || publisher_id.len() > MAX_PUBLISHER_ID_LEN
        || publisher_id.chars().any(char::is_control)
    {
        return Err(not_found());
    }
    let publisher = state
        .store
        .publisher(&publisher_id)
        .await?
        .ok_or_else(not_found)?;
    let namespaces = state.store.publisher_namespaces(&publisher_id).await?;
    let packages = state
        .store
        .publisher_packages(&publisher_id, MAX_PACKAGES)
        .await?;
    // Only claims an administrator has approved (or reserved) are public.
    let namespaces: Vec<_> = namespaces
        .into_iter()
        .filter(|ns| matches!(ns.status.as_str(), "active" | "reserved"))
        .collect();
    let name = if publisher.display_name.trim().is_empty() {
        publisher.publisher_id.as_str()
    } else {
        publisher.display_name.as_str()
    };
    let body = html! {
        div.crumbs { a href=(paths::packages()) { "Packages" } " / publisher " (publisher.publisher_id) }
        div.title-row {
            h1 #publisher-name { (name) }
            (badge(&publisher.trust_level, &publisher.trust_level))
            @if publisher.status != "active" { (badge(&publisher.status, &publisher.status.replace('_', " "))) }
        }
        p.lede {
            @if name != publisher.publisher_id { span.mono { (publisher.publisher_id) } " · " }
            (publisher.publisher_type)
            " · member since " (date(&publisher.created_at))
        }
        @if publisher.status == "suspended" {
            div.notice.n-bad { strong { "This publisher is suspended" } p { "It cannot publish new packages." } }
        }
        div.layout {
            div.primary {
                section.card #publisher-packages {
                    h2 { "Packages" }
                    @if packages.is_empty() {
                        p.muted { "No packages published yet." }
                    } @else {
                        ul.versions {
                            @for p in &packages {
                                li.package data-package-id=(p.package_id) data-version=(p.package_version) {
                                    a href=(paths::package_version(&p.package_id, &p.package_version)) { (p.package_id) }
                                    span.mono.muted { (p.package_version) }
                                    @if p.lifecycle.status != "active" { (lifecycle_badge(&p.lifecycle.status)) }
                                    span.when { (downloads(p.download_count)) " · " (date(&p.published_at)) }
                                }
                            }
                        }
                        @if i64::try_from(packages.len()).unwrap_or(0) == MAX_PACKAGES {
                            p.muted { "Showing the " (MAX_PACKAGES) " most recent versions." }
                        }
                    }
                }
            }
            aside {
                section.card #profile {
                    h2 { "Profile" }
                    @if !publisher.description.trim().is_empty() { p { (publisher.description) } }
                    dl.kv {
                        dt { "Type" } dd { (publisher.publisher_type) }
                        dt { "Trust" } dd { (publisher.trust_level) }
                        @if !publisher.website_url.is_empty() {
                            dt { "Website" }
                            dd {
                                @if let Some(href) = safe_href(&publisher.website_url) {
                                    a href=(href) rel="noopener nofollow" { (href) }
                                } @else {
                                    (publisher.website_url)
                                }
                            }
                        }
                    }
                }
                section.card #namespaces {
                    h2 { "Namespaces" }
                    @if namespaces.is_empty() {
                        p.muted { "No verified namespaces." }
                    } @else {
                        ul.links {
                            @for ns in &namespaces {
                                li { span.mono { (ns.namespace) } " " @if ns.status != "active" { (badge(&ns.status, &ns.status)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        layout::page(name, Section::Packages, body),
    ))
}

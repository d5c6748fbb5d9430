//! The server-rendered UI at `/studio` (and `/`): maud templates, compiled into the binary,
//! readable without JavaScript. Pages read through the same services as the JSON API; forms
//! post to `/studio/...` and are refused in read-only mode by the same guard.

mod actions;
mod layout;
mod pages;

use actix_web::HttpResponse;

async fn root() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", "/studio"))
        .finish()
}

/// Mounts the UI.
pub fn configure(cfg: &mut crate::routing::Routes) {
    use crate::routing::{get, post};
    cfg.route("/", get().to(root))
        .route("/studio", get().to(pages::home))
        .route("/studio/settings", get().to(pages::settings_page))
        .route("/studio/settings", post().to(actions::save_settings))
        .route("/studio/templates", get().to(pages::templates_page))
        .route("/studio/templates", post().to(actions::export_template))
        .route("/studio/workspaces", post().to(actions::create_workspace))
        .route(
            "/studio/workspaces/{workspace_id}",
            get().to(pages::workspace),
        )
        .route(
            "/studio/workspaces/{workspace_id}/delete",
            post().to(actions::delete_workspace),
        )
        .route(
            "/studio/workspaces/{workspace_id}/connections",
            post().to(actions::create_connection),
        )
        .route("/studio/projects", post().to(actions::create_project))
        .route("/studio/projects/{project_id}", get().to(pages::project))
        .route(
            "/studio/projects/{project_id}/edit",
            post().to(actions::edit_project),
        )
        .route(
            "/studio/projects/{project_id}/clone",
            post().to(actions::clone_project),
        )
        .route(
            "/studio/projects/{project_id}/delete",
            post().to(actions::delete_project),
        )
        .route(
            "/studio/projects/{project_id}/documents",
            get().to(pages::documents_page),
        )
        .route(
            "/studio/projects/{project_id}/documents",
            post().to(actions::upload_document),
        )
        .route(
            "/studio/projects/{project_id}/documents/{document_id}",
            get().to(pages::document_page),
        )
        .route(
            "/studio/projects/{project_id}/documents/{document_id}/delete",
            post().to(actions::delete_document),
        )
        .route(
            "/studio/projects/{project_id}/product",
            get().to(pages::product_page),
        )
        .route(
            "/studio/projects/{project_id}/product/sections/{section}",
            post().to(actions::save_section),
        )
        .route(
            "/studio/projects/{project_id}/product/revisions",
            post().to(actions::save_product_revision),
        )
        .route(
            "/studio/projects/{project_id}/design",
            get().to(pages::design_page),
        )
        .route(
            "/studio/projects/{project_id}/design/{kind}",
            post().to(actions::create_design),
        )
        .route(
            "/studio/projects/{project_id}/developer",
            get().to(pages::developer_page),
        )
        .route(
            "/studio/projects/{project_id}/developer/baseline",
            post().to(actions::lock_baseline),
        )
        .route(
            "/studio/projects/{project_id}/developer/definition",
            post().to(actions::save_definition),
        )
        .route(
            "/studio/projects/{project_id}/developer/revisions",
            post().to(actions::save_definition_revision),
        )
        .route(
            "/studio/projects/{project_id}/publish",
            get().to(pages::publish_page),
        )
        .route(
            "/studio/projects/{project_id}/publish",
            post().to(actions::publish),
        )
        .route(
            "/studio/projects/{project_id}/local-publications/{publication_id}/verify",
            get().to(pages::verify_page),
        )
        .route(
            "/studio/projects/{project_id}/history",
            get().to(pages::history_page),
        )
        .route(
            "/studio/projects/{project_id}/assistant/accept",
            post().to(actions::assistant_accept),
        )
        .route(
            "/studio/projects/{project_id}/assistant/{kind}",
            post().to(actions::assistant_propose),
        );
}

//! `GET admin/users`: the registry users (GitHub accounts that signed in).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::AppState;
use crate::auth::require_admin_actor;
use crate::error::ApiError;
use crate::http::{self as h, NO_STORE};
use crate::store::users::USER_STATUSES;
use crate::store::AdminQuery;
use crate::validate::invalid;

/// The paging, search and status filter of an admin list (`limit` ≤ 100, default 25); a status
/// outside `statuses` is a 400 naming `status`.
pub(super) fn list_query(req: &HttpRequest, statuses: &[&str]) -> Result<AdminQuery, ApiError> {
    let (limit, offset) = h::paging(req, 25, 100)?;
    let status = h::query_param(req, "status")
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    if !status.is_empty() && !statuses.contains(&status.as_str()) {
        return Err(invalid("status", format!("must be one of {}", statuses.join(", "))).into());
    }
    let search = h::query_param(req, "search")
        .unwrap_or_default()
        .trim()
        .to_owned();
    if search.len() > 200 || search.chars().any(char::is_control) {
        return Err(invalid(
            "search",
            "must be at most 200 characters without control characters",
        )
        .into());
    }
    Ok(AdminQuery {
        search,
        status,
        limit,
        offset,
    })
}

/// A 200 JSON answer that must not be cached.
pub(super) fn private(
    status: actix_web::http::StatusCode,
    body: &impl serde::Serialize,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, NO_STORE))
        .json(body)
}

/// `GET admin/users?search&status&limit&offset` → `{items, total, limit, offset}`.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin_actor(&req, &state).await?;
    let query = list_query(&req, &USER_STATUSES)?;
    let page = state.store.list_users(&query).await?;
    Ok(private(actix_web::http::StatusCode::OK, &page))
}

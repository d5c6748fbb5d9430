//! `GET admin/users`: the registry users (GitHub accounts that signed in).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::AppState;
use crate::auth::require_admin_actor;
use crate::error::ApiError;
use crate::http::NO_STORE;
use crate::store::users::USER_STATUSES;

use super::admin::list_query;

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

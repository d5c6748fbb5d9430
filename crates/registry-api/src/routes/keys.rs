//! `GET keys`: the public keys that verify this registry's receipts.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::model::PublicKeyEntry;

/// The active key first, then rotation keys (ANIP_REGISTRY_EXTRA_PUBLIC_KEYS), then keys that
/// verified imported receipts.
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut items: Vec<PublicKeyEntry> = state
        .keys
        .public_keys()
        .infos()
        .into_iter()
        .map(|info| PublicKeyEntry {
            key_id: info.key_id,
            algorithm: info.algorithm,
            public_key: info.public_key,
        })
        .collect();
    for (key_id, public_key) in state.store.imported_keys().await? {
        if !items.iter().any(|k| k.key_id == key_id) {
            items.push(PublicKeyEntry {
                key_id,
                algorithm: "ed25519".into(),
                public_key,
            });
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "signing_mode": state.mode.as_str(),
        "active_key_id": state.active_key_id(),
        "items": items,
    })))
}

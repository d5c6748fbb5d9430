//! Importing bundles into the store: the `POST admin/imports` route and ANIP_REGISTRY_SEED_DEMO
//! both come through here.

use std::path::Path;

use serde_json::Value;

use crate::app::AppState;
use crate::bundle::{self, ImportedPackage};
use crate::error::ApiError;
use crate::store::{Actor, InsertOutcome, NewPackage};

/// Checks a bundle and stores it (one transaction, receipt and ownership included).
pub async fn import(
    state: &AppState,
    bundle_value: Value,
    actor: Actor,
) -> Result<ImportedPackage, ApiError> {
    let mode = state.mode;
    let keys = state.keys.clone();
    let now = crate::publish::now_rfc3339();
    let imported =
        actix_web::web::block(move || bundle::import_bundle(&bundle_value, mode, &keys, &now))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
    let new = NewPackage {
        record: imported.record.clone(),
        rendered: imported.rendered.clone(),
        receipt: imported.receipt.clone(),
        payload_version: imported.payload_version,
        origin: "imported",
        claim_namespace: None,
        ensure_publisher: true,
        imported_key: imported.imported_key.clone(),
        actor,
    };
    match state
        .store
        .detached(move |store| async move { store.insert_package(new).await })
        .await?
    {
        InsertOutcome::Inserted => Ok(imported),
        InsertOutcome::VersionExists => {
            Err(ApiError::Conflict("package version already exists".into()))
        }
        InsertOutcome::NotOwner { owner, .. } => Err(ApiError::Conflict(format!(
            "package {} is owned by publisher {owner}",
            imported.record.package_id
        ))),
        InsertOutcome::ImportedKeyConflict { key_id } => Err(ApiError::Conflict(format!(
            "key id {key_id} is already recorded with a different public key"
        ))),
    }
}

/// Imports every `*.json` bundle in `dir` (sorted by name); already imported versions are
/// skipped. Returns how many were imported.
pub async fn seed_demo(state: &AppState, dir: &Path) -> Result<usize, std::io::Error> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut imported = 0;
    for path in paths {
        let name = path.display().to_string();
        let value: Value = match std::fs::read(&path).map(|bytes| serde_json::from_slice(&bytes)) {
            Ok(Ok(value)) => value,
            Ok(Err(error)) => {
                tracing::warn!(event = "registry_seed_skipped", file = %name, error = %error, "not JSON");
                continue;
            }
            Err(error) => return Err(error),
        };
        match import(state, value, Actor::system("seed-demo")).await {
            Ok(package) => {
                imported += 1;
                tracing::info!(
                    event = "registry_seed_imported",
                    file = %name,
                    package_id = %package.record.package_id,
                    package_version = %package.record.package_version,
                    resigned = package.resigned,
                    digest_mismatches = ?package.digest_mismatches,
                    "imported demo bundle"
                );
            }
            Err(ApiError::Conflict(reason)) => {
                tracing::info!(event = "registry_seed_skipped", file = %name, reason = %reason, "already present");
            }
            Err(error) => {
                tracing::warn!(event = "registry_seed_failed", file = %name, error = %error, "demo bundle not imported");
            }
        }
    }
    Ok(imported)
}

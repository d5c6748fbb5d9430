//! Studio's operations: each loads what it needs through [`crate::store`], applies
//! [`crate::rules`], and writes inside one transaction, so nothing is ever half-written.
//! Handlers (JSON API and HTML pages alike) call these and only map results to responses.

pub mod assistant;
pub mod design;
pub mod developer;
pub mod documents;
pub mod history;
pub mod product;
pub mod projects;
pub mod publish;
pub mod settings;
pub mod snapshots;
pub mod workspaces;

use crate::error::{Error, Result};
use crate::model::Project;
use crate::store::{self, GenericClient};

/// The project, or a 404 naming it.
pub(crate) async fn project(c: &impl GenericClient, id: &str) -> Result<Project> {
    store::projects::get(c, id)
        .await?
        .ok_or_else(|| Error::not_found("project", id))
}

/// The project locked for this transaction, or a 404.
pub(crate) async fn project_for_update(c: &impl GenericClient, id: &str) -> Result<Project> {
    store::projects::get_for_update(c, id)
        .await?
        .ok_or_else(|| Error::not_found("project", id))
}

/// Refuses text that Postgres cannot store (NUL) or that is absurdly long for a name.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.contains('\u{0}') {
        return Err(Error::Unprocessable(format!(
            "{field} must not contain NUL characters"
        )));
    }
    if value.len() > max {
        return Err(Error::Unprocessable(format!("{field} exceeds {max} bytes")));
    }
    Ok(())
}

/// Refuses JSON that Postgres's `jsonb` cannot store (a `\u0000` in any string).
pub(crate) fn check_json(field: &str, value: &serde_json::Value) -> Result<()> {
    fn has_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\u{0}'),
            serde_json::Value::Array(items) => items.iter().any(has_nul),
            serde_json::Value::Object(map) => {
                map.iter().any(|(k, v)| k.contains('\u{0}') || has_nul(v))
            }
            _ => false,
        }
    }
    if has_nul(value) {
        return Err(Error::Unprocessable(format!(
            "{field} must not contain NUL characters"
        )));
    }
    Ok(())
}

/// Deserializes a member that may be absent, `null` or a value into `None`, `Some(None)` or
/// `Some(Some(v))` (use with `#[serde(default)]`): "no expectation" differs from "expect none".
pub(crate) fn present<'de, D, T>(
    deserializer: D,
) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(deserializer).map(Some)
}

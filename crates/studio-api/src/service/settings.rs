//! Settings: the environment wins and locks a setting; what the environment leaves open can be
//! set from the UI or API and is stored in the database. Secrets (the publish token, the
//! assistant API key) come only from the environment and are never stored or shown.
//!
//! A secret from the environment also locks the URL it is sent to: with
//! `STUDIO_REGISTRY_PUBLISH_TOKEN` set, the Registry URL is `STUDIO_REGISTRY_URL` or nothing;
//! with `STUDIO_ASSISTANT_API_KEY` set, the assistant base URL is `STUDIO_ASSISTANT_BASE_URL` or
//! the provider's default. A stored URL is then ignored and the API refuses to change it, so
//! whoever can reach the API cannot have Studio send the operator's secret to a server of
//! their choosing.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::registry::TrustPolicy;
use crate::store::{self, Db};

const REGISTRY_KEY: &str = "registry";
const ASSISTANT_KEY: &str = "assistant";

/// One setting and where its value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SettingView {
    /// The value in effect.
    pub value: Option<String>,
    /// `env`, `stored` or `unset`.
    pub source: String,
    /// Whether the environment fixes it (the API refuses to change it).
    pub locked: bool,
    /// The environment variable that sets it.
    pub env_var: String,
    /// The environment variable that locks it, when locked: its own, or the secret that is
    /// sent to it (a URL the environment's secret travels to is locked by that secret).
    pub locked_by: Option<String>,
}

/// Registry settings.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegistrySettings {
    /// The Registry API base (`…/registry-api/v1`).
    pub url: SettingView,
    /// The signing mode required of the Registry.
    pub required_mode: SettingView,
    /// The receipt key id trusted.
    pub trusted_key_id: SettingView,
    /// Whether a publish token is configured (environment only).
    pub publish_token_configured: bool,
    /// Whether receipts must come from one pinned key.
    pub key_pinned: bool,
    /// A warning about a weak trust policy.
    pub warning: Option<String>,
}

/// Assistant settings.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AssistantSettings {
    /// `deterministic` (rule-based) or `openai_compatible`.
    pub provider: String,
    /// The model.
    pub model: SettingView,
    /// The API base URL.
    pub base_url: SettingView,
    /// Whether an API key is configured (environment only).
    pub api_key_configured: bool,
}

/// `GET /api/settings`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// Read-only mode.
    pub read_only_mode: bool,
    /// Why, when read-only.
    pub read_only_reason: Option<String>,
    /// Registry.
    pub registry: RegistrySettings,
    /// Assistant.
    pub assistant: AssistantSettings,
}

/// Body of `PUT /api/settings`. Empty strings clear a stored value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChanges {
    /// Registry API base.
    pub registry_url: Option<String>,
    /// `dev` or `production`.
    pub required_registry_mode: Option<String>,
    /// Trusted receipt key id.
    pub trusted_registry_key_id: Option<String>,
    /// Assistant model.
    pub assistant_model: Option<String>,
    /// Assistant API base URL.
    pub assistant_base_url: Option<String>,
    /// Refused: tokens are configured in the environment only.
    pub registry_publish_token: Option<String>,
    /// Refused: API keys are configured in the environment only.
    pub assistant_api_key: Option<String>,
}

/// The settings in effect, resolved from the environment and the stored values.
#[derive(Clone, Debug, Default)]
pub struct Effective {
    /// Registry API base.
    pub registry_url: Option<String>,
    /// Trust policy.
    pub policy: TrustPolicy,
    /// Assistant model.
    pub assistant_model: Option<String>,
    /// Assistant base URL.
    pub assistant_base_url: Option<String>,
}

fn stored_text(stored: &Option<Value>, key: &str) -> Option<String> {
    stored
        .as_ref()
        .and_then(|v| v.get(key))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn view(env: &Option<String>, stored: Option<String>, env_var: &str) -> SettingView {
    match (env, stored) {
        (Some(value), _) => SettingView {
            value: Some(value.clone()),
            source: "env".into(),
            locked: true,
            env_var: env_var.into(),
            locked_by: Some(env_var.into()),
        },
        (None, Some(value)) => SettingView {
            value: Some(value),
            source: "stored".into(),
            locked: false,
            env_var: env_var.into(),
            locked_by: None,
        },
        (None, None) => SettingView {
            value: None,
            source: "unset".into(),
            locked: false,
            env_var: env_var.into(),
            locked_by: None,
        },
    }
}

/// A URL an environment secret may be sent to. With the secret set (`secret_var`), only the
/// environment names the URL: a stored value is ignored and the setting is locked.
fn url_view(
    env: &Option<String>,
    stored: Option<String>,
    env_var: &str,
    secret: Option<&str>,
) -> SettingView {
    match (env, secret) {
        (None, Some(secret_var)) => SettingView {
            value: None,
            source: "unset".into(),
            locked: true,
            env_var: env_var.into(),
            locked_by: Some(secret_var.into()),
        },
        _ => view(env, stored, env_var),
    }
}

const REGISTRY_TOKEN_VAR: &str = "STUDIO_REGISTRY_PUBLISH_TOKEN";
const ASSISTANT_KEY_VAR: &str = "STUDIO_ASSISTANT_API_KEY";

async fn load(db: &Db) -> Result<(Option<Value>, Option<Value>)> {
    let client = db.client().await?;
    Ok((
        store::settings::get(&client, REGISTRY_KEY).await?,
        store::settings::get(&client, ASSISTANT_KEY).await?,
    ))
}

/// The full settings view.
pub async fn view_all(db: &Db, env: &Settings) -> Result<SettingsView> {
    let (registry, assistant) = load(db).await?;
    let url = url_view(
        &env.registry_url,
        stored_text(&registry, "registry_url"),
        "STUDIO_REGISTRY_URL",
        env.registry_publish_token
            .is_some()
            .then_some(REGISTRY_TOKEN_VAR),
    );
    let mode = view(
        &env.registry_required_mode,
        stored_text(&registry, "required_registry_mode"),
        "STUDIO_REGISTRY_REQUIRED_MODE",
    );
    let key = view(
        &env.registry_trusted_key_id,
        stored_text(&registry, "trusted_registry_key_id"),
        "STUDIO_REGISTRY_TRUSTED_KEY_ID",
    );
    let key_pinned = key.value.is_some();
    let warning = match mode.value.as_deref() {
        Some("production") if !key_pinned => {
            Some("Production Registry mode is required, but the receipt signing key is not pinned.".to_owned())
        }
        Some("production") => None,
        _ => Some("Development Registries are accepted; require production mode and pin the key id for real use.".to_owned()),
    };
    let model = view(
        &env.assistant_model,
        stored_text(&assistant, "assistant_model"),
        "STUDIO_ASSISTANT_MODEL",
    );
    let base_url = url_view(
        &env.assistant_base_url,
        stored_text(&assistant, "assistant_base_url"),
        "STUDIO_ASSISTANT_BASE_URL",
        env.assistant_api_key.is_some().then_some(ASSISTANT_KEY_VAR),
    );
    let provider = if model.value.is_some() {
        "openai_compatible"
    } else {
        "deterministic"
    };
    Ok(SettingsView {
        read_only_mode: env.read_only,
        read_only_reason: env.read_only.then(|| env.read_only_reason.clone()),
        registry: RegistrySettings {
            url,
            required_mode: mode,
            trusted_key_id: key,
            publish_token_configured: env.registry_publish_token.is_some(),
            key_pinned,
            warning,
        },
        assistant: AssistantSettings {
            provider: provider.into(),
            model,
            base_url,
            api_key_configured: env.assistant_api_key.is_some(),
        },
    })
}

/// The values in effect.
pub async fn effective(db: &Db, env: &Settings) -> Result<Effective> {
    let view = view_all(db, env).await?;
    Ok(Effective {
        registry_url: view
            .registry
            .url
            .value
            .map(|u| u.trim_end_matches('/').to_owned()),
        policy: TrustPolicy {
            required_mode: view.registry.required_mode.value,
            trusted_key_id: view.registry.trusted_key_id.value,
        },
        assistant_model: view.assistant.model.value,
        assistant_base_url: view.assistant.base_url.value,
    })
}

fn refuse_locked(env: &Option<String>, requested: &Option<String>, env_var: &str) -> Result<()> {
    if env.is_some() && requested.is_some() {
        return Err(Error::Conflict(format!(
            "This setting is fixed by the environment ({env_var}) and cannot be changed here."
        )));
    }
    Ok(())
}

/// Refuses to change a URL that an environment secret is sent to when the environment leaves
/// the URL itself unset (see the module documentation).
fn refuse_secret_url(
    secret_set: bool,
    env: &Option<String>,
    requested: &Option<String>,
    field: &str,
    env_var: &str,
    secret_var: &str,
) -> Result<()> {
    if secret_set && env.is_none() && requested.is_some() {
        return Err(Error::Conflict(format!(
            "{field} is locked: {secret_var} is set in the environment, and Studio sends it only to a URL the environment names; set {env_var} instead."
        )));
    }
    Ok(())
}

fn check_url(field: &str, value: &Option<String>) -> Result<()> {
    if let Some(url) = value.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() > 2_000
            || url.contains(char::is_whitespace)
        {
            return Err(Error::Unprocessable(format!(
                "{field} must be an http or https URL"
            )));
        }
    }
    Ok(())
}

/// Changes the stored settings the environment leaves open.
pub async fn update(db: &Db, env: &Settings, changes: SettingsChanges) -> Result<SettingsView> {
    if changes.registry_publish_token.is_some() || changes.assistant_api_key.is_some() {
        return Err(Error::Unprocessable(
            "Tokens and API keys are configured only in the environment (STUDIO_REGISTRY_PUBLISH_TOKEN, STUDIO_ASSISTANT_API_KEY); Studio never stores them.".into(),
        ));
    }
    refuse_locked(
        &env.registry_url,
        &changes.registry_url,
        "STUDIO_REGISTRY_URL",
    )?;
    refuse_locked(
        &env.registry_required_mode,
        &changes.required_registry_mode,
        "STUDIO_REGISTRY_REQUIRED_MODE",
    )?;
    refuse_locked(
        &env.registry_trusted_key_id,
        &changes.trusted_registry_key_id,
        "STUDIO_REGISTRY_TRUSTED_KEY_ID",
    )?;
    refuse_locked(
        &env.assistant_model,
        &changes.assistant_model,
        "STUDIO_ASSISTANT_MODEL",
    )?;
    refuse_locked(
        &env.assistant_base_url,
        &changes.assistant_base_url,
        "STUDIO_ASSISTANT_BASE_URL",
    )?;
    refuse_secret_url(
        env.registry_publish_token.is_some(),
        &env.registry_url,
        &changes.registry_url,
        "registry_url",
        "STUDIO_REGISTRY_URL",
        REGISTRY_TOKEN_VAR,
    )?;
    refuse_secret_url(
        env.assistant_api_key.is_some(),
        &env.assistant_base_url,
        &changes.assistant_base_url,
        "assistant_base_url",
        "STUDIO_ASSISTANT_BASE_URL",
        ASSISTANT_KEY_VAR,
    )?;
    check_url("registry_url", &changes.registry_url)?;
    check_url("assistant_base_url", &changes.assistant_base_url)?;
    if let Some(mode) = changes
        .required_registry_mode
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        mode.parse::<registry_client::SigningMode>()
            .map_err(|e| Error::BadRequest(format!("invalid required_registry_mode: {e}")))?;
    }
    if let Some(url) = changes
        .registry_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        registry_client::api_base_url(url)
            .map_err(|e| Error::Unprocessable(format!("registry_url cannot be used: {e}")))?;
    }
    for (field, value) in [
        ("trusted_registry_key_id", &changes.trusted_registry_key_id),
        ("assistant_model", &changes.assistant_model),
    ] {
        if let Some(v) = value {
            super::check_text(field, v, 200)?;
        }
    }

    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let mut registry = store::settings::get(&tx, REGISTRY_KEY)
        .await?
        .unwrap_or_else(|| json!({}));
    let mut assistant = store::settings::get(&tx, ASSISTANT_KEY)
        .await?
        .unwrap_or_else(|| json!({}));
    let apply = |target: &mut Value, key: &str, value: &Option<String>, lower: bool| {
        if let (Some(value), Some(map)) = (value, target.as_object_mut()) {
            let value = value.trim();
            let value = if lower {
                value.to_ascii_lowercase()
            } else {
                value.trim_end_matches('/').to_owned()
            };
            map.insert(
                key.to_owned(),
                if value.is_empty() {
                    Value::Null
                } else {
                    json!(value)
                },
            );
        }
    };
    apply(&mut registry, "registry_url", &changes.registry_url, false);
    apply(
        &mut registry,
        "required_registry_mode",
        &changes.required_registry_mode,
        true,
    );
    apply(
        &mut registry,
        "trusted_registry_key_id",
        &changes.trusted_registry_key_id,
        false,
    );
    apply(
        &mut assistant,
        "assistant_model",
        &changes.assistant_model,
        false,
    );
    apply(
        &mut assistant,
        "assistant_base_url",
        &changes.assistant_base_url,
        false,
    );
    store::settings::put(&tx, REGISTRY_KEY, &registry).await?;
    store::settings::put(&tx, ASSISTANT_KEY, &assistant).await?;
    tx.commit().await?;
    view_all(db, env).await
}

/// `GET /api/runtime-status` (upstream's fields).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RuntimeStatus {
    /// Always true when answered.
    pub studio_api_reachable: bool,
    /// `deterministic` or `openai_compatible`.
    pub assistant_provider: String,
    /// The assistant model.
    pub assistant_model: Option<String>,
    /// The assistant base URL.
    pub assistant_base_url: Option<String>,
    /// Whether a language model is in use.
    pub llm_enabled: bool,
    /// Whether the language model is usable (model and key set).
    pub llm_ready: bool,
    /// Whether an assistant API key is configured.
    pub api_key_configured: bool,
    /// `env` or `none`.
    pub api_key_source: String,
    /// Read-only mode.
    pub read_only_mode: bool,
    /// Why, when read-only.
    pub read_only_reason: Option<String>,
    /// Whether a Registry is configured.
    pub registry_configured: bool,
    /// Studio's version.
    pub version: String,
}

/// The runtime status.
pub async fn runtime_status(db: &Db, env: &Settings) -> Result<RuntimeStatus> {
    let effective = effective(db, env).await?;
    let llm = effective.assistant_model.is_some();
    Ok(RuntimeStatus {
        studio_api_reachable: true,
        assistant_provider: if llm {
            "openai_compatible"
        } else {
            "deterministic"
        }
        .into(),
        assistant_model: effective.assistant_model,
        assistant_base_url: effective.assistant_base_url,
        llm_enabled: llm,
        llm_ready: llm && env.assistant_api_key.is_some(),
        api_key_configured: env.assistant_api_key.is_some(),
        api_key_source: if env.assistant_api_key.is_some() {
            "env"
        } else {
            "none"
        }
        .into(),
        read_only_mode: env.read_only,
        read_only_reason: env.read_only.then(|| env.read_only_reason.clone()),
        registry_configured: effective.registry_url.is_some(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

//! How a capability reaches its backend: HTTP connections and per-capability HTTP bindings, read
//! from `integration_fronting` (upstream's fronting section, which upstream leaves for a
//! hand-written adapter). This runtime adds two things there:
//!
//! * `integration_fronting.connections[]`: `{id, kind: "http", base_url, timeout_ms,
//!   credentials: {scheme: "bearer"|"header", header?, env?|file_env?|file?}}`;
//! * `backend_bindings[]` entries with `backend_kind: "http"` in a capability mapping:
//!   `{connection_ref, method, path_template, query{}, body, headers{}, timeout_ms,
//!   idempotency_header, response{result, cost_actual{amount, currency}}, errors[]}`.
//!
//! Mapping values are references (`$.input.a.b`, `$.context.invocation_id`, `$` for the whole
//! input) or literals. Credentials are never in the package: it names an environment variable
//! or a file, read at start.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::PackageError;
use crate::failure::Action;

/// A connection as the package declares it (no secret material).
#[derive(Clone, Debug, Deserialize)]
pub struct ConnectionSpec {
    pub id: String,
    #[serde(default = "http_kind")]
    pub kind: String,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub credentials: Option<CredentialSpec>,
}

fn http_kind() -> String {
    "http".to_owned()
}

/// Where a connection's credential comes from and how it is sent.
#[derive(Clone, Debug, Deserialize)]
pub struct CredentialSpec {
    /// `bearer` (Authorization: Bearer) or `header` (the named header carries the value).
    pub scheme: String,
    #[serde(default)]
    pub header: Option<String>,
    /// An environment variable holding the credential.
    #[serde(default)]
    pub env: Option<String>,
    /// An environment variable holding the path of a file with the credential.
    #[serde(default)]
    pub file_env: Option<String>,
    /// A file with the credential (e.g. a mounted secret).
    #[serde(default)]
    pub file: Option<String>,
}

/// One backend error mapping: a backend status (and optional error code) → an ANIP failure.
#[derive(Clone, Debug, Deserialize)]
pub struct ErrorMapping {
    pub status: u16,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    #[serde(default)]
    pub retry: Option<bool>,
    #[serde(default)]
    pub detail: Option<String>,
    /// Where the backend puts a human-readable message to pass on (e.g. `$.error.message`).
    #[serde(default)]
    pub detail_path: Option<String>,
    /// A capability of this service that recovers from the failure (`recovery_target`).
    #[serde(default)]
    pub recovery_capability: Option<String>,
}

/// `response{result, cost_actual}`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ResponseMapping {
    /// Where the result is in the backend body (`$` = whole body).
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub cost_actual: Option<CostMapping>,
}

impl ResponseMapping {
    /// Whether the backend's whole answer is the result and nothing else is read from it.
    pub fn passes_through(&self) -> bool {
        matches!(self.result.as_deref(), None | Some("$")) && self.cost_actual.is_none()
    }
}

/// Where the actual cost is in the backend body.
#[derive(Clone, Debug, Deserialize)]
pub struct CostMapping {
    pub amount: String,
    #[serde(default)]
    pub currency: Option<String>,
}

/// An HTTP binding of one capability.
#[derive(Clone, Debug, Deserialize)]
pub struct HttpBinding {
    pub connection_ref: String,
    #[serde(default = "get")]
    pub method: String,
    pub path_template: String,
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// A header that carries `client_reference_id` (else the invocation id) so the backend
    /// can make a retried write idempotent.
    #[serde(default)]
    pub idempotency_header: Option<String>,
    #[serde(default)]
    pub response: ResponseMapping,
    #[serde(default)]
    pub errors: Vec<ErrorMapping>,
}

fn get() -> String {
    "GET".to_owned()
}

/// The runtime-relevant parts of one `integration_fronting.capability_mappings[]` entry.
#[derive(Clone, Debug)]
pub struct CapabilityMapping {
    pub capability_id: String,
    pub http: Option<HttpBinding>,
    /// Serialize invocations per root principal under `concurrent_branches: exclusive`.
    pub exclusive_lock: bool,
    /// Invocations need an approval grant (upstream's `execution_posture: approval_gated`).
    pub approval_gated: bool,
}

/// Reads `integration_fronting` of a definition.
pub fn read_fronting(
    definition: &Value,
) -> Result<(Vec<ConnectionSpec>, Vec<CapabilityMapping>), PackageError> {
    let Some(fronting) = definition.get("integration_fronting") else {
        return Ok((Vec::new(), Vec::new()));
    };
    let connections: Vec<ConnectionSpec> = match fronting.get("connections") {
        None => Vec::new(),
        Some(list) => serde_json::from_value(list.clone()).map_err(|e| {
            PackageError::Definition(format!("integration_fronting.connections: {e}"))
        })?,
    };
    let mut mappings = Vec::new();
    for item in fronting
        .get("capability_mappings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(capability_id) = item.get("capability_id").and_then(Value::as_str) else {
            return Err(PackageError::Definition(
                "a capability mapping has no capability_id".into(),
            ));
        };
        let mut http = None;
        for binding in item
            .get("backend_bindings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if binding.get("backend_kind").and_then(Value::as_str) == Some("http") && http.is_none()
            {
                let parsed: HttpBinding = serde_json::from_value(binding.clone()).map_err(|e| {
                    PackageError::Definition(format!(
                        "capability {capability_id}: http binding: {e}"
                    ))
                })?;
                validate_binding(capability_id, &parsed)?;
                http = Some(parsed);
            }
        }
        mappings.push(CapabilityMapping {
            capability_id: capability_id.to_owned(),
            http,
            exclusive_lock: item
                .get("exclusive_lock")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            approval_gated: item.get("execution_posture").and_then(Value::as_str)
                == Some("approval_gated"),
        });
    }
    Ok((connections, mappings))
}

fn validate_binding(capability: &str, binding: &HttpBinding) -> Result<(), PackageError> {
    let err = |rule: String| {
        PackageError::Definition(format!("capability {capability}: http binding: {rule}"))
    };
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&binding.method.as_str()) {
        return Err(err(format!("unsupported method {}", binding.method)));
    }
    if !binding.path_template.starts_with('/') {
        return Err(err("path_template must start with '/'".into()));
    }
    for mapping in &binding.errors {
        if Action::parse(&mapping.action).is_none() {
            return Err(err(format!(
                "error mapping for {} names the non-canonical action {:?}",
                mapping.status, mapping.action
            )));
        }
    }
    Ok(())
}

/// A connection with its credential loaded and its base URL resolved.
#[derive(Clone, Debug)]
pub struct Connection {
    pub id: String,
    pub base_url: String,
    pub timeout: Duration,
    pub credential: Option<Credential>,
}

/// A loaded credential. The value is a [`signing::Secret`]: it never reaches logs or errors.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The header that carries it (`Authorization` for bearer).
    pub header: String,
    /// `Bearer ` for bearer credentials, empty otherwise.
    pub prefix: &'static str,
    pub value: signing::Secret,
}

/// Resolves a connection: `base_url_override` (from the deployment) wins over the package's
/// default; the credential is read from its environment variable or file now, so a missing
/// secret stops the service at start with the variable's name.
pub fn resolve_connection(
    spec: &ConnectionSpec,
    base_url_override: Option<&str>,
) -> Result<Connection, PackageError> {
    if spec.kind != "http" {
        return Err(PackageError::Definition(format!(
            "connection {}: unsupported kind {:?}",
            spec.id, spec.kind
        )));
    }
    let base_url = base_url_override
        .map(str::to_owned)
        .or_else(|| spec.base_url.clone())
        .ok_or_else(|| {
            PackageError::Definition(format!(
                "connection {} has no base_url; set it with ANIP_RUNTIME_BACKEND_URLS",
                spec.id
            ))
        })?;
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(PackageError::Definition(format!(
            "connection {}: base_url must be http(s)",
            spec.id
        )));
    }
    let credential = spec
        .credentials
        .as_ref()
        .map(|c| load_credential(&spec.id, c))
        .transpose()?;
    Ok(Connection {
        id: spec.id.clone(),
        base_url: base_url.trim_end_matches('/').to_owned(),
        timeout: Duration::from_millis(spec.timeout_ms.unwrap_or(10_000)),
        credential,
    })
}

fn load_credential(connection: &str, spec: &CredentialSpec) -> Result<Credential, PackageError> {
    let err = |rule: String| PackageError::Credential(format!("connection {connection}: {rule}"));
    let raw = if let Some(var) = &spec.env {
        std::env::var(var).map_err(|_| err(format!("environment variable {var} is not set")))?
    } else {
        let path = match (&spec.file_env, &spec.file) {
            (Some(var), _) => std::env::var(var)
                .map_err(|_| err(format!("environment variable {var} is not set")))?,
            (None, Some(path)) => path.clone(),
            (None, None) => {
                return Err(err("credentials name neither env, file_env nor file".into()))
            }
        };
        std::fs::read_to_string(&path)
            .map_err(|e| err(format!("reading the credential file {path}: {}", e.kind())))?
    };
    let value = raw.trim().to_owned();
    if value.is_empty() {
        return Err(err("the credential is empty".into()));
    }
    let (header, prefix) = match spec.scheme.as_str() {
        "bearer" => ("Authorization".to_owned(), "Bearer "),
        "header" => (
            spec.header
                .clone()
                .ok_or_else(|| err("scheme header needs a header name".into()))?,
            "",
        ),
        other => return Err(err(format!("unsupported credential scheme {other:?}"))),
    };
    Ok(Credential {
        header,
        prefix,
        value: signing::Secret::new(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bindings_parse_and_non_canonical_actions_are_refused() {
        let definition = json!({"integration_fronting": {
            "connections": [{"id": "b", "base_url": "http://127.0.0.1:1"}],
            "capability_mappings": [{"capability_id": "c", "exclusive_lock": true, "backend_bindings": [
                {"backend_kind": "http", "connection_ref": "b", "method": "POST", "path_template": "/x/{id}",
                 "errors": [{"status": 409, "type": "capability_unavailable", "action": "revalidate_state"}]}
            ]}]
        }});
        let (connections, mappings) = read_fronting(&definition).unwrap();
        assert_eq!(connections[0].id, "b");
        assert!(mappings[0].exclusive_lock);
        assert_eq!(mappings[0].http.as_ref().unwrap().method, "POST");
        let mut bad = definition.clone();
        bad["integration_fronting"]["capability_mappings"][0]["backend_bindings"][0]["errors"][0]
            ["action"] = json!("provide_valid_input");
        assert!(read_fronting(&bad).is_err());
    }

    #[test]
    fn a_missing_secret_names_its_variable_and_never_its_value() {
        let spec: ConnectionSpec = serde_json::from_value(json!({
            "id": "b", "base_url": "http://x", "credentials": {"scheme": "bearer", "env": "ANIP_TEST_SURELY_UNSET_VAR"}
        }))
        .unwrap();
        let err = resolve_connection(&spec, None).unwrap_err().to_string();
        assert!(err.contains("ANIP_TEST_SURELY_UNSET_VAR"), "{err}");
        let dir = std::env::temp_dir().join(format!("anip-cred-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let spec: ConnectionSpec = serde_json::from_value(json!({
            "id": "b", "base_url": "http://x/", "credentials": {"scheme": "header", "header": "X-Api-Key", "file": dir}
        }))
        .unwrap();
        let connection = resolve_connection(&spec, Some("http://override:1/")).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(connection.base_url, "http://override:1");
        let credential = connection.credential.unwrap();
        assert_eq!(credential.value.expose(), "s3cret");
        assert!(!format!("{credential:?}").contains("s3cret"));
    }
}

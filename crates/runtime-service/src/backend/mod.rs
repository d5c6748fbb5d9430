//! Where the work happens: the HTTP backend a capability is bound to. Every backend problem
//! becomes an ANIP failure with a type, a detail that does not leak the backend's internals, a
//! canonical resolution and a retry flag; nothing here can produce a bare 500.

pub mod client;
pub mod http;
pub mod mapping;

use serde_json::Value;

/// What a successful backend call produced.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendResult {
    /// The capability result (always a JSON object).
    pub result: Value,
    /// `cost_actual` when the binding maps one.
    pub cost_actual: Option<Value>,
}

/// Invocation facts a binding may pass to its backend (`$.context.*`).
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    pub invocation_id: String,
    pub client_reference_id: Option<String>,
    pub task_id: Option<String>,
    pub root_principal: String,
    pub subject: String,
    pub capability: String,
}

impl CallContext {
    /// The `$.context` object.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "invocation_id": self.invocation_id,
            "client_reference_id": self.client_reference_id,
            "task_id": self.task_id,
            "root_principal": self.root_principal,
            "subject": self.subject,
            "capability": self.capability,
            "idempotency_key": self.idempotency_key(),
        })
    }

    /// The key a write is made idempotent with: the caller's `client_reference_id` when given
    /// (stable across the caller's retries), else the invocation id.
    pub fn idempotency_key(&self) -> String {
        match &self.client_reference_id {
            Some(reference) => format!("{}:{}:{reference}", self.root_principal, self.capability),
            None => self.invocation_id.clone(),
        }
    }
}

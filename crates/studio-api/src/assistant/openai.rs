//! An OpenAI-compatible chat-completions provider. It asks for a JSON object and reads the
//! same proposal shapes the rule-based assistant produces.

use std::time::Duration;

use serde_json::{json, Value};
use signing::secret::Secret;

use super::{AssistantError, CapabilityProposal, Context, SectionProposal};

/// Default API base.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// How long one model request may take (the request deadline leaves room for it, see
/// `app::request_deadline`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Most document text sent per request.
const MAX_PROMPT_CHARS: usize = 60_000;

/// The provider: model, base URL and key.
#[derive(Clone)]
pub struct OpenAiProvider {
    model: String,
    base_url: String,
    api_key: Secret,
    http: reqwest::Client,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .finish()
    }
}

impl OpenAiProvider {
    /// A provider for `model` at `base_url` (the OpenAI API when `None`).
    pub fn new(model: String, base_url: Option<String>, api_key: Secret) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        OpenAiProvider {
            model,
            base_url: base_url
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            api_key,
            http,
        }
    }

    /// `openai_compatible:<model>`.
    pub fn label(&self) -> String {
        format!("openai_compatible:{}", self.model)
    }

    fn documents(context: &Context) -> String {
        let mut text = format!(
            "Project: {}\nDomain: {}\n\n",
            context.project_name, context.domain
        );
        for document in &context.documents {
            text.push_str(&format!(
                "=== Document {} ({}, {}) ===\n{}\n\n",
                document.id, document.title, document.kind, document.text
            ));
        }
        text.chars().take(MAX_PROMPT_CHARS).collect()
    }

    async fn complete(
        &self,
        instructions: &str,
        context: &Context,
    ) -> Result<Value, AssistantError> {
        let body = json!({
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": instructions},
                {"role": "user", "content": Self::documents(context)},
            ],
        });
        let response = self
            .http
            .post(format!("{}/chat/completions", self.base_url))
            .bearer_auth(self.api_key.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                AssistantError::Upstream(if e.is_timeout() {
                    "timed out".into()
                } else if e.is_connect() {
                    format!("could not connect to {}", self.base_url)
                } else {
                    "request failed".into()
                })
            })?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|_| AssistantError::Unusable("the answer is not JSON".into()))?;
        if !status.is_success() {
            let message = answer
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(AssistantError::Upstream(format!(
                "status {}: {}",
                status.as_u16(),
                message.chars().take(300).collect::<String>()
            )));
        }
        let content = answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| AssistantError::Unusable("no message content".into()))?;
        serde_json::from_str(content)
            .map_err(|_| AssistantError::Unusable("the message is not a JSON object".into()))
    }

    /// Drafts product sections.
    pub async fn draft_sections(
        &self,
        context: &Context,
    ) -> Result<SectionProposal, AssistantError> {
        let answer = self
            .complete(
                "You draft the product design of an ANIP service from source documents. Answer with one JSON object: \
                 {\"sections\": {\"product_summary\": {\"product_purpose\": str, \"business_problem\": str, \"business_goals\": [str], \"why_now\": str}, \
                 \"actor_model\": {\"actors\": [{\"actor_id\": str, \"title\": str, \"summary\": str}]}, \
                 \"business_areas\": {\"entries\": [{\"business_area_id\": str, \"label\": str, \"description\": str}]}, \
                 \"permission_intent\": {\"policy_summary\": str, \"rules\": [{\"actor_id\": str, \"business_area\": str, \"access_posture\": \"bounded\"|\"approval_required\"|\"denied\", \"governed_outcome\": str}]}, \
                 \"non_goals\": {\"entries\": [{\"non_goal\": str}]}, \"success_criteria\": {\"entries\": [{\"criterion\": str}]}}, \
                 \"questions\": [str]}. Use only what the documents say; leave out sections they do not support and ask questions instead.",
                context,
            )
            .await?;
        let sections = answer
            .get("sections")
            .and_then(Value::as_object)
            .ok_or_else(|| AssistantError::Unusable("no sections object".into()))?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let questions = answer
            .get("questions")
            .and_then(Value::as_array)
            .map(|q| {
                q.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(SectionProposal {
            provider: self.label(),
            sections,
            questions,
            document_ids: context.documents.iter().map(|d| d.id.clone()).collect(),
        })
    }

    /// Proposes capability candidates.
    pub async fn propose_capabilities(
        &self,
        context: &Context,
    ) -> Result<CapabilityProposal, AssistantError> {
        let answer = self
            .complete(
                "You propose the capabilities of an ANIP service from source documents. Answer with one JSON object: \
                 {\"candidates\": [{\"capability_id\": \"domain.object.action\" (lowercase words joined by dots), \"title\": str, \"summary\": str, \
                 \"service_id\": str, \"side_effect_level\": \"read\"|\"write_adjacent\"|\"approval_required\", \"intent_type\": \"read_only\"|\"business_action\"|\"approval_gated\", \"operation_type\": \"query\"|\"prepare_change\"|\"approval_gated\", \
                 \"inputs\": [{\"input_name\": str, \"input_type\": \"string\"|\"integer\"|\"number\"|\"boolean\", \"required\": bool, \"summary\": str}]}]}.",
                context,
            )
            .await?;
        let candidates = answer
            .get("candidates")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| AssistantError::Unusable("no candidates array".into()))?;
        Ok(CapabilityProposal {
            provider: self.label(),
            candidates,
            document_ids: context.documents.iter().map(|d| d.id.clone()).collect(),
        })
    }
}

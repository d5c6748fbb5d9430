//! The authoring assistant: drafts product sections, asks clarifying questions and proposes
//! capability candidates from a project's source documents. It only proposes; nothing is
//! stored until the author accepts (see `service::assistant`).
//!
//! Two providers: [`rule_based`] (the default; offline and deterministic) and
//! [`openai`] (any OpenAI-compatible chat-completions API, chosen by
//! `STUDIO_ASSISTANT_MODEL` with `STUDIO_ASSISTANT_API_KEY`). The API key is a
//! [`signing::Secret`]: it is sent as a bearer header and appears nowhere else.

pub mod openai;
pub mod rule_based;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ids::SectionKey;

/// A source document as the assistant reads it.
#[derive(Clone, Debug)]
pub struct SourceText {
    /// Document id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind (`business_spec`, `api_docs`, ...).
    pub kind: String,
    /// The text.
    pub text: String,
}

/// What the assistant knows about the project.
#[derive(Clone, Debug)]
pub struct Context {
    /// Project name.
    pub project_name: String,
    /// Project domain.
    pub domain: String,
    /// The documents.
    pub documents: Vec<SourceText>,
}

/// Drafted product sections: nothing is written until accepted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SectionProposal {
    /// Which provider drafted it (`deterministic` or `openai_compatible:<model>`).
    pub provider: String,
    /// Drafted section data by section key.
    #[schema(value_type = Object)]
    pub sections: BTreeMap<String, Value>,
    /// Questions whose answers would improve the draft.
    pub questions: Vec<String>,
    /// The documents used.
    pub document_ids: Vec<String>,
}

/// Proposed capabilities: nothing is written until accepted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapabilityProposal {
    /// Which provider proposed them.
    pub provider: String,
    /// Candidate capability formalizations, each with a `client_id` to accept it by.
    #[schema(value_type = Vec<Object>)]
    pub candidates: Vec<Value>,
    /// The documents used.
    pub document_ids: Vec<String>,
}

/// Assistant failures.
#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    /// The project has no text documents to work from.
    #[error(
        "the project has no text source documents for the assistant to read; upload one first"
    )]
    NoDocuments,
    /// The model API could not be reached or refused the call.
    #[error("the assistant service failed: {0}")]
    Upstream(String),
    /// The model answered something that is not a usable proposal.
    #[error("the assistant answered something Studio cannot use: {0}")]
    Unusable(String),
}

impl From<AssistantError> for crate::error::Error {
    fn from(error: AssistantError) -> Self {
        match error {
            AssistantError::NoDocuments => crate::error::Error::Unprocessable(error.to_string()),
            other => crate::error::Error::BadGateway(other.to_string()),
        }
    }
}

/// The provider in use.
#[derive(Clone, Debug)]
pub enum Provider {
    /// Rule-based, offline.
    RuleBased,
    /// An OpenAI-compatible API.
    OpenAi(openai::OpenAiProvider),
}

impl Provider {
    /// Drafts product sections.
    pub async fn draft_sections(
        &self,
        context: &Context,
    ) -> Result<SectionProposal, AssistantError> {
        if context.documents.is_empty() {
            return Err(AssistantError::NoDocuments);
        }
        let mut proposal = match self {
            Provider::RuleBased => rule_based::draft_sections(context),
            Provider::OpenAi(p) => p.draft_sections(context).await?,
        };
        proposal
            .sections
            .retain(|key, value| SectionKey::parse(key).is_ok() && value.is_object());
        for (key, value) in proposal.sections.iter_mut() {
            if let Some(map) = value.as_object_mut() {
                map.insert("artifact_type".into(), Value::String(key.clone()));
            }
        }
        Ok(proposal)
    }

    /// Proposes capability candidates.
    pub async fn propose_capabilities(
        &self,
        context: &Context,
    ) -> Result<CapabilityProposal, AssistantError> {
        if context.documents.is_empty() {
            return Err(AssistantError::NoDocuments);
        }
        let mut proposal = match self {
            Provider::RuleBased => rule_based::propose_capabilities(context),
            Provider::OpenAi(p) => p.propose_capabilities(context).await?,
        };
        proposal.candidates.retain(|c| {
            c.get("capability_id")
                .and_then(Value::as_str)
                .is_some_and(crate::rules::definition::is_capability_id)
        });
        for (index, candidate) in proposal.candidates.iter_mut().enumerate() {
            if let Some(map) = candidate.as_object_mut() {
                map.entry("client_id")
                    .or_insert_with(|| Value::String(format!("candidate-{}", index + 1)));
            }
        }
        Ok(proposal)
    }
}

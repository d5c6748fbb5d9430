//! Studio's records as they travel: API responses and `anip-studio-project-snapshot/v1` rows
//! share these shapes (upstream's column names), so a snapshot is the API's view of a project.
//! Timestamps are strings in Python's `isoformat()` layout (see [`crate::timefmt`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A workspace with its project count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    /// Id (`default` always exists).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Short description.
    pub summary: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Number of projects in the workspace.
    pub projects_count: i64,
}

/// A project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    /// Id.
    pub id: String,
    /// Owning workspace.
    pub workspace_id: String,
    /// Display name.
    pub name: String,
    /// Short description.
    pub summary: String,
    /// Business domain (free text).
    pub domain: String,
    /// Labels.
    pub labels: Vec<String>,
    /// `standard` or `governed_service_project`.
    pub project_type: String,
    /// Backend systems the project fronts (`{"kind": "none", "systems": []}` by default).
    #[schema(value_type = Object)]
    pub integration_profile: Value,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A project with counts of what it holds.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ProjectDetail {
    /// The project.
    #[serde(flatten)]
    pub project: Project,
    /// Requirements sets.
    pub requirements_count: i64,
    /// Scenarios.
    pub scenarios_count: i64,
    /// Proposals (older upstream records).
    pub proposals_count: i64,
    /// Evaluations.
    pub evaluations_count: i64,
    /// Shapes.
    pub shapes_count: i64,
    /// Source documents.
    pub documents_count: i64,
    /// Product and developer design records.
    pub pm_artifacts_count: i64,
    /// Local publications.
    pub local_publications_count: i64,
}

/// A backend system a workspace talks to. Holds references to secrets, never secrets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Connection {
    /// Id.
    pub id: String,
    /// Owning workspace.
    pub workspace_id: String,
    /// Display name.
    pub display_name: String,
    /// `native_api`, `mcp`, `database` or `hybrid`.
    pub backend_kind: String,
    /// The kind of system (e.g. `gitlab`).
    pub system_kind: String,
    /// Where the backend lives (a URL or a reference).
    pub endpoint_ref: String,
    /// `user_delegated`, `service_delegated` or `external`.
    pub auth_mode: String,
    /// The identity provider, by reference.
    pub identity_provider_ref: String,
    /// The secret's name (e.g. an environment variable), never its value.
    pub secret_ref: String,
    /// Projects allowed to use the connection.
    pub allowed_project_refs: Vec<String>,
    /// Free-form metadata.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A design record: requirements set, scenario, shape, service metadata or PM artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Artifact {
    /// Id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Title.
    pub title: String,
    /// `draft`, `active`, `archived` (PM artifacts also `frozen`).
    pub status: String,
    /// The record's content.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Hex SHA-256 of the content's stable JSON, recomputed on every write.
    pub content_hash: String,
    /// Requirements sets only: `primary` or `alternative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Shapes and proposals only: the requirements set they answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements_id: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// An evaluation, with its staleness computed from the frozen input hashes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evaluation {
    /// Id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Evaluated proposal (older records).
    pub proposal_id: Option<String>,
    /// Evaluated scenario.
    pub scenario_id: String,
    /// Requirements evaluated against.
    pub requirements_id: String,
    /// Evaluated shape.
    pub shape_id: Option<String>,
    /// `HANDLED`, `PARTIAL` or `REQUIRES_GLUE`.
    pub result: String,
    /// `live_validation`, `imported` or `manual`.
    pub source: String,
    /// The evaluation.
    #[schema(value_type = Object)]
    pub data: Value,
    /// The inputs as they were evaluated.
    #[schema(value_type = Object)]
    pub input_snapshot: Value,
    /// Content hash of the requirements when evaluated.
    pub requirements_hash: String,
    /// Content hash of the proposal when evaluated.
    pub proposal_hash: String,
    /// Content hash of the scenario when evaluated.
    pub scenario_hash: String,
    /// Content hash of the shape when evaluated.
    pub shape_hash: String,
    /// Contract expectations derived from the shape when evaluated.
    #[schema(value_type = Option<Object>)]
    pub derived_expectations: Option<Value>,
    /// Creation time.
    pub created_at: String,
    /// Whether an input changed since.
    #[serde(default)]
    pub is_stale: bool,
    /// Which inputs changed (`requirements`, `proposal`, `scenario`, `shape`).
    #[serde(default)]
    pub stale_artifacts: Vec<String>,
}

/// A source document's metadata (the bytes are downloaded separately).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Document {
    /// Id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Title.
    pub title: String,
    /// `business_spec`, `business_intent`, `api_docs`, `mcp_schema` or `reference`.
    pub kind: String,
    /// File name.
    pub filename: String,
    /// Media type.
    pub media_type: String,
    /// Where the document came from.
    pub source_path: String,
    /// Hex SHA-256 of the bytes.
    pub content_hash: String,
    /// Size of the bytes.
    pub size_bytes: i64,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A backend operation discovered behind a connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiscoveryRecord {
    /// Id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// The connection it was discovered through.
    pub connection_id: Option<String>,
    /// Backend operation id.
    pub operation_id: String,
    /// Backend kind.
    pub backend_kind: String,
    /// HTTP method or `tool`.
    pub method: String,
    /// Path template.
    pub path_template: String,
    /// `read`, `write_adjacent`, ...
    pub side_effect_level: String,
    /// Summary of the operation's input schema.
    #[schema(value_type = Object)]
    pub input_schema_summary: Value,
    /// Risk notes.
    #[schema(value_type = Vec<Object>)]
    pub risk_notes: Value,
    /// Anything else.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Hex SHA-256 of the record's stable JSON.
    pub content_hash: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// An immutable Studio-local publication.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct LocalPublication {
    /// Id.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Always `local-studio`.
    pub authority: String,
    /// The publication's identity and lineage.
    #[schema(value_type = Object)]
    pub publication: Value,
    /// The package record: manifest, service definition, lock, digests.
    #[schema(value_type = Object)]
    pub package: Value,
    /// The local receipt.
    #[schema(value_type = Object)]
    pub receipt: Value,
    /// Creation time.
    pub created_at: String,
}

/// One `data_access_projects` or `application_integration_projects` row (older upstream
/// editors' saved drafts, kept so snapshots round-trip).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SavedDesign {
    /// Id.
    pub id: String,
    /// Name (`name` or `title` upstream, by table).
    pub name: String,
    /// Owning project.
    pub studio_project_id: Option<String>,
    /// The saved editor state.
    #[schema(value_type = Object)]
    pub state: Value,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

//! Identifiers and closed vocabularies, parsed at the edge: handlers, rules and the store only
//! ever see these types, never an unchecked string.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Longest record id, in bytes. Upstream ids reach ~120 characters (project id + record kind +
/// operation id); 200 leaves room without letting ids become documents.
pub const MAX_ID_LEN: usize = 200;

/// A value that failed to parse, naming the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct IdError {
    /// The request field or path parameter, e.g. `project_id`.
    pub field: &'static str,
    /// Why the value was refused (never the value itself, which may be huge or binary).
    pub reason: String,
}

impl IdError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        IdError {
            field,
            reason: reason.into(),
        }
    }
}

/// Checks the record-id alphabet: starts with a letter or digit, then letters, digits and
/// `. _ : @ -`. That covers every id upstream Studio generates (UUIDs, `{project}-{kind}-{n}`,
/// operation ids like `gitlab.api.search`) and keeps ids safe in URLs and file names.
fn check_record_id(field: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::new(field, "is required"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::new(field, format!("exceeds {MAX_ID_LEN} bytes")));
    }
    let mut chars = value.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err(IdError::new(field, "must start with a letter or digit"));
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || "._:@-".contains(*c))) {
        let shown = if bad.is_control() {
            "a control character".to_owned()
        } else {
            format!("{bad:?}")
        };
        return Err(IdError::new(
            field,
            format!("may only contain letters, digits and . _ : @ - (found {shown})"),
        ));
    }
    Ok(())
}

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses an id from a request.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_record_id($field, &value)?;
                Ok($name(value))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                $name::parse(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

record_id!(
    /// A workspace id (`default` always exists).
    WorkspaceId,
    "workspace_id"
);
record_id!(
    /// A project id.
    ProjectId,
    "project_id"
);
record_id!(
    /// The id of any project-owned record: requirements, scenarios, shapes, evaluations,
    /// documents, PM artifacts, connections, publications.
    RecordId,
    "id"
);

impl WorkspaceId {
    /// The workspace that always exists.
    pub fn default_workspace() -> Self {
        WorkspaceId("default".to_owned())
    }
}

/// A fresh random id in the UUID v4 layout, as upstream Studio generates them.
pub fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    // The system RNG only fails when the OS has no entropy source at all; fall back to the
    // clock so id generation never panics (ids are not secrets, only unique).
    if SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes.copy_from_slice(&nanos.to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = signing::digest::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A fresh id with a readable prefix, e.g. `scenario-1b4e…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", new_uuid())
}

/// A package id as the Registry accepts it: a letter or digit, then letters, digits and
/// `. _ / -`; every `/`-separated segment non-empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PackageId(String);

impl PackageId {
    /// Parses a package id.
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        Self::parse_as("package_id", value)
    }

    /// Parses a package id given in the request field `field` (e.g. `template_id`), which an
    /// error names.
    pub fn parse_as(field: &'static str, value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::new(field, "is required"));
        }
        if value.len() > 256 {
            return Err(IdError::new(field, "exceeds 256 bytes"));
        }
        let ok_chars = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
        let ok_segments = value
            .split('/')
            .all(|s| s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()));
        if !ok_chars || !ok_segments {
            return Err(IdError::new(
                field,
                "must be letters, digits and . _ - in /-separated segments that start with a letter or digit",
            ));
        }
        Ok(PackageId(value))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A package id derived from free text (a project name): lowercase, runs of anything else
    /// become `-`.
    pub fn slug_from(text: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in text.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug = slug
            .trim_end_matches('-')
            .chars()
            .take(120)
            .collect::<String>();
        PackageId::parse(slug).ok()
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A package version: a semantic version (`1.2.3`, `0.2.0-rc.1`, `1.0.0+build.5`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PackageVersion(String);

impl PackageVersion {
    /// Parses a version.
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        Self::parse_as("package_version", value)
    }

    /// Parses a version given in the request field `field` (e.g. `template_version`), which an
    /// error names.
    pub fn parse_as(field: &'static str, value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::new(field, "is required"));
        }
        if value.len() > 128 {
            return Err(IdError::new(field, "exceeds 128 bytes"));
        }
        let (core, rest) = match value.find(['-', '+']) {
            Some(index) => value.split_at(index),
            None => (value.as_str(), ""),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        let core_ok = numbers.len() == 3
            && numbers.iter().all(|n| {
                !n.is_empty()
                    && n.chars().all(|c| c.is_ascii_digit())
                    && (n.len() == 1 || !n.starts_with('0'))
            });
        let rest_ok = rest
            .chars()
            .skip(1)
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
            && (rest.is_empty() || rest.len() > 1);
        if !core_ok || !rest_ok {
            return Err(IdError::new(
                field,
                "must be a semantic version such as 1.0.0 or 0.2.0-rc.1",
            ));
        }
        Ok(PackageVersion(value))
    }

    /// The version as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $field:literal, [$($variant:ident => $text:literal),+ $(,)?]) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $(
                #[doc = $text]
                #[serde(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses the wire spelling.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(IdError::new(
                        $field,
                        format!("must be one of {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// The kind of project.
    ProjectType, "project_type",
    [Standard => "standard", GovernedServiceProject => "governed_service_project"]
);

vocabulary!(
    /// Status of requirements, scenarios and shapes.
    ArtifactStatus, "status",
    [Draft => "draft", Active => "active", Archived => "archived"]
);

vocabulary!(
    /// Status of PM artifacts (product and developer design records).
    PmStatus, "status",
    [Draft => "draft", Active => "active", Frozen => "frozen", Archived => "archived"]
);

vocabulary!(
    /// What a source document is.
    DocumentKind, "kind",
    [
        BusinessSpec => "business_spec",
        BusinessIntent => "business_intent",
        ApiDocs => "api_docs",
        McpSchema => "mcp_schema",
        Reference => "reference",
    ]
);

vocabulary!(
    /// The backend a workspace connection reaches.
    BackendKind, "backend_kind",
    [NativeApi => "native_api", Mcp => "mcp", Database => "database", Hybrid => "hybrid"]
);

vocabulary!(
    /// How a workspace connection authenticates.
    AuthMode, "auth_mode",
    [
        UserDelegated => "user_delegated",
        ServiceDelegated => "service_delegated",
        External => "external",
    ]
);

vocabulary!(
    /// Role of a requirements set in its project.
    RequirementsRole, "role",
    [Primary => "primary", Alternative => "alternative"]
);

vocabulary!(
    /// The six product design sections.
    SectionKey, "section",
    [
        ProductSummary => "product_summary",
        ActorModel => "actor_model",
        BusinessAreas => "business_areas",
        PermissionIntent => "permission_intent",
        NonGoals => "non_goals",
        SuccessCriteria => "success_criteria",
    ]
);

impl SectionKey {
    /// The section's display title (as upstream Studio names the records).
    pub fn title(self) -> &'static str {
        match self {
            SectionKey::ProductSummary => "Business Summary",
            SectionKey::ActorModel => "Actor Model",
            SectionKey::BusinessAreas => "Business Areas",
            SectionKey::PermissionIntent => "Permission Intent",
            SectionKey::NonGoals => "Non-Goals",
            SectionKey::SuccessCriteria => "Success Criteria",
        }
    }
}

vocabulary!(
    /// Evaluation outcome.
    EvaluationResult, "result",
    [Handled => "HANDLED", Partial => "PARTIAL", RequiresGlue => "REQUIRES_GLUE"]
);

vocabulary!(
    /// Where an evaluation came from.
    EvaluationSource, "source",
    [LiveValidation => "live_validation", Imported => "imported", Manual => "manual"]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids() {
        for ok in [
            "default",
            "807386f4-5fb0-40fd-89ba-cfae84a13255",
            "gitlab-fronting-studio-20260516220707-product-design-revision-1",
            "a.b:c@d_e-f",
        ] {
            assert!(RecordId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a/b", "a b", "a\u{0}b", "é", &"x".repeat(201)] {
            let error = RecordId::parse(bad).unwrap_err();
            assert_eq!(error.field, "id");
            assert!(!error.to_string().contains('\u{0}'));
        }
    }

    #[test]
    fn uuids_have_the_v4_layout() {
        let id = new_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(["8", "9", "a", "b"].contains(&&id[19..20]));
        assert_ne!(id, new_uuid());
    }

    #[test]
    fn package_ids_and_versions() {
        assert!(PackageId::parse("acme/tools.x").is_ok());
        assert!(PackageId::parse("acme//x").is_err());
        assert!(PackageId::parse("/x").is_err());
        assert_eq!(
            PackageId::slug_from("GitLab Fronting Showcase 0.2.0").map(|p| p.to_string()),
            Some("gitlab-fronting-showcase-0-2-0".to_owned())
        );
        for ok in ["1.0.0", "0.2.0-rc.1", "1.0.0+build.5", "10.20.30"] {
            assert!(PackageVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0 beta"] {
            assert!(PackageVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vocabularies_round_trip() {
        for key in SectionKey::ALL {
            assert_eq!(SectionKey::parse(key.as_str()), Ok(*key));
        }
        assert!(DocumentKind::parse("spreadsheet").is_err());
        assert_eq!(
            serde_json::to_string(&EvaluationResult::RequiresGlue).unwrap(),
            "\"REQUIRES_GLUE\""
        );
    }
}

//! Publish rules as plain functions, so tests call them without HTTP or a database.
//!
//! Every rule follows upstream's `validatePublishPackageRequest`,
//! `validatePackageExecutionMetadata` and (the structural core of)
//! `definitionvalidation.ValidateServiceDefinition`, plus two rules upstream lacks: package
//! metadata must not carry local filesystem paths or secret-looking values. Every error names
//! the offending field (`manifest.source.api_key`, `source_links[2].url`, ...).

use std::collections::BTreeSet;

use registry_client::hygiene;
use serde_json::{Map, Value};
use signing::gojson::{to_go_json, GoJsonOptions};

use crate::model::{ImplementationMaterial, SourceLink};

/// The only `schema_version` a package may have.
pub const SCHEMA_VERSION: &str = "anip-service-definition/v1";
/// The ANIP protocol version every manifest must declare.
pub const ANIP_SPEC_VERSION: &str = "anip/0.24";

pub const MAX_PUBLISH_REQUEST_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;
pub const MAX_DEFINITION_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_LOCK_BYTES: usize = 512 * 1024;
pub const MAX_README_BYTES: usize = 64 * 1024;
pub const MAX_SOURCE_LINKS: usize = 8;
pub const MAX_IMPLEMENTATION_MATERIALS: usize = 8;
pub const MAX_JSON_DEPTH: usize = 48;
pub const MAX_CAPABILITIES: usize = 256;
pub const MAX_EXAMPLE_BYTES: usize = 256 * 1024;
pub const MAX_ATTACHMENT_BYTES: usize = 512 * 1024;
pub const MAX_KEY_BYTES: usize = 160;
pub const MAX_TEMPLATE_PUBLISH_REQUEST_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_TEMPLATE_MANIFEST_BYTES: usize = 128 * 1024;
pub const MAX_TEMPLATE_PAYLOAD_BYTES: usize = 1024 * 1024;
pub const MAX_TEMPLATE_DOCUMENTS: usize = 20;
pub const MAX_TEMPLATE_DOCUMENT_BYTES: usize = 20 * 1024;
pub const MAX_TEMPLATE_CONNECTIONS: usize = 20;
pub const MAX_TEMPLATE_DISCOVERY_RECORDS: usize = 200;
pub const MAX_TEMPLATE_CAPABILITY_MAPPINGS: usize = 100;

/// Content that failed a publish rule. The message names the field and is safe to return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The offending field, as a path (`manifest.agent_consumability`).
    pub field: String,
    /// What is wrong, starting with the field.
    pub message: String,
}

impl From<crate::ids::IdError> for Invalid {
    fn from(error: crate::ids::IdError) -> Self {
        Invalid {
            field: error.field.to_owned(),
            message: error.to_string(),
        }
    }
}

/// Builds an [`Invalid`] whose message starts with the field.
pub fn invalid(field: impl Into<String>, problem: impl AsRef<str>) -> Invalid {
    let field = field.into();
    let message = format!("{field} {}", problem.as_ref());
    Invalid { field, message }
}

/// The parts of a normalized publish request the content rules look at.
#[derive(Debug, Clone, Copy)]
pub struct PackageContent<'a> {
    pub schema_version: &'a str,
    pub manifest: &'a Map<String, Value>,
    pub service_definition: &'a Map<String, Value>,
    pub recommended_lock: &'a Map<String, Value>,
    pub lineage: Option<&'a Map<String, Value>>,
    pub readme: &'a str,
    pub source_links: &'a [SourceLink],
    pub implementation_materials: &'a [ImplementationMaterial],
}

/// The `name` of a manifest or template, when it is a string, is shown to people (listings,
/// the package page): no bidirectional formatting characters in it. An empty name stays
/// allowed (the page then shows the id), as upstream allows it.
pub fn visible_name(label: &str, map: &Map<String, Value>) -> Result<(), Invalid> {
    match str_field(map, "name") {
        Some(name) if has_bidi_control(name) => Err(invalid(format!("{label}.name"), BIDI_PROBLEM)),
        _ => Ok(()),
    }
}

/// Upstream's `validatePublishPackageRequest`, in upstream's order, plus our metadata hygiene
/// rules. Runs before the server stamps digests into the manifest and lock.
pub fn package_content(content: &PackageContent<'_>) -> Result<(), Invalid> {
    if content.readme.len() > MAX_README_BYTES {
        return Err(invalid(
            "readme",
            format!("exceeds {MAX_README_BYTES} bytes"),
        ));
    }
    source_links(content.source_links)?;
    implementation_materials(content.implementation_materials)?;
    if content.schema_version != SCHEMA_VERSION {
        return Err(invalid(
            "schema_version",
            format!("must be {SCHEMA_VERSION}"),
        ));
    }
    if str_field(content.manifest, "anip_spec_version") != Some(ANIP_SPEC_VERSION) {
        return Err(invalid(
            "manifest.anip_spec_version",
            format!("must be {ANIP_SPEC_VERSION}"),
        ));
    }
    for (label, map) in [
        ("manifest", content.manifest),
        ("recommended_lock", content.recommended_lock),
    ] {
        if let Some(path) = retired_typescript_reference(label, map) {
            return Err(invalid(
                path,
                "references a retired TypeScript build pack, which is not publishable",
            ));
        }
    }
    // The readme first: the server copies it into the manifest, and the error should name the
    // field the client sent.
    readme_hygiene(content.readme)?;
    json_size("manifest", content.manifest, MAX_MANIFEST_BYTES)?;
    json_size(
        "service_definition",
        content.service_definition,
        MAX_DEFINITION_BYTES,
    )?;
    json_size("recommended_lock", content.recommended_lock, MAX_LOCK_BYTES)?;
    for (label, map) in [
        ("manifest", content.manifest),
        ("service_definition", content.service_definition),
        ("recommended_lock", content.recommended_lock),
    ] {
        resource_limits(label, map)?;
        metadata_hygiene(label, map)?;
    }
    if let Some(lineage) = content.lineage {
        resource_limits("lineage", lineage)?;
        metadata_hygiene("lineage", lineage)?;
    }
    visible_name("manifest", content.manifest)?;
    bundle_materials_in_metadata("manifest", content.manifest)?;
    bundle_materials_in_metadata("recommended_lock", content.recommended_lock)?;
    if let Some(Value::Array(capabilities)) =
        content.service_definition.get("capability_formalizations")
    {
        if capabilities.len() > MAX_CAPABILITIES {
            return Err(invalid(
                "service_definition.capability_formalizations",
                format!("exceeds {MAX_CAPABILITIES} capabilities"),
            ));
        }
    }
    service_definition(content.service_definition)?;
    Ok(())
}

fn source_links(links: &[SourceLink]) -> Result<(), Invalid> {
    if links.len() > MAX_SOURCE_LINKS {
        return Err(invalid(
            "source_links",
            format!("exceeds {MAX_SOURCE_LINKS} entries"),
        ));
    }
    for (index, link) in links.iter().enumerate() {
        let field = |name: &str| format!("source_links[{index}].{name}");
        if link.title.is_empty() {
            return Err(invalid(field("title"), "is required"));
        }
        if link.url.is_empty() {
            return Err(invalid(field("url"), "is required"));
        }
        if link.title.len() > 120 {
            return Err(invalid(field("title"), "exceeds 120 bytes"));
        }
        if link.url.len() > 2048 {
            return Err(invalid(field("url"), "exceeds 2048 bytes"));
        }
        if has_unsafe_control_text(&link.title) {
            return Err(invalid(field("title"), "contains control characters"));
        }
        let url = HttpUrl::parse(&link.url).map_err(|problem| invalid(field("url"), problem))?;
        if url.has_credentials {
            return Err(invalid(field("url"), "must not include credentials"));
        }
    }
    Ok(())
}

/// The parts of an `http(s)` URL the rules look at.
struct HttpUrl {
    has_credentials: bool,
}

impl HttpUrl {
    fn parse(url: &str) -> Result<HttpUrl, &'static str> {
        const PROBLEM: &str = "must be an http(s) URL";
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(PROBLEM);
        }
        let lower = url.to_ascii_lowercase();
        let rest = if lower.starts_with("https://") {
            &url["https://".len()..]
        } else if lower.starts_with("http://") {
            &url["http://".len()..]
        } else {
            return Err(PROBLEM);
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host)) => (Some(credentials), host),
            None => (None, authority),
        };
        let host = host_port
            .strip_prefix('[')
            .and_then(|v6| v6.split_once(']').map(|(host, _)| host))
            .unwrap_or_else(|| host_port.split(':').next().unwrap_or_default());
        if host.is_empty() {
            return Err(PROBLEM);
        }
        Ok(HttpUrl {
            has_credentials: credentials.is_some(),
        })
    }
}

fn implementation_materials(materials: &[ImplementationMaterial]) -> Result<(), Invalid> {
    if materials.len() > MAX_IMPLEMENTATION_MATERIALS {
        return Err(invalid(
            "implementation_materials",
            format!("exceeds {MAX_IMPLEMENTATION_MATERIALS} entries"),
        ));
    }
    for (index, material) in materials.iter().enumerate() {
        let field = |name: &str| format!("implementation_materials[{index}].{name}");
        if material.reference.is_empty() {
            return Err(invalid(field("ref"), "is required"));
        }
        if material.title.len() > 120 {
            return Err(invalid(field("title"), "exceeds 120 bytes"));
        }
        if material.reference.len() > 2048 {
            return Err(invalid(field("ref"), "exceeds 2048 bytes"));
        }
        custom_code_bundle_ref(&material.reference)
            .map_err(|problem| invalid(field("ref"), format!("is invalid: {problem}")))?;
        if !material.bundle_tree_sha256.is_empty()
            && !is_sha256_digest(&material.bundle_tree_sha256)
        {
            return Err(invalid(
                field("bundle_tree_sha256"),
                "must be sha256:<64 hex chars>",
            ));
        }
    }
    Ok(())
}

/// `sha256:` followed by 64 hex digits (case-insensitive, surrounding space ignored).
pub fn is_sha256_digest(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    lower
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Upstream's `bundlerefs.ValidateCustomCodeBundleRef`: a pinned, digest-carrying reference to
/// custom code (`git+https://host/repo@<commit>#sha256:<hex>`, `registry://id@version#sha256:..`,
/// `object+https://host/key#sha256:..`, `object+s3://bucket/key#sha256:..`).
pub fn custom_code_bundle_ref(raw: &str) -> Result<(), String> {
    let reference = raw.trim();
    if reference.is_empty() {
        return Err("custom code bundle ref is required".into());
    }
    if reference.len() > 2048 {
        return Err("custom code bundle ref is too long".into());
    }
    if reference
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "<>\"'`{}|^\\".contains(c))
    {
        return Err("custom code bundle ref contains unsafe characters".into());
    }
    let Some((locator, digest)) = reference.split_once("#sha256:") else {
        return Err("custom code bundle ref must include a sha256 digest fragment".into());
    };
    if locator.is_empty() || digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("custom code bundle ref digest must be sha256:<64 hex chars>".into());
    }
    if locator.contains("..") {
        return Err("custom code bundle ref must not contain path traversal".into());
    }
    if let Some(rest) = locator.strip_prefix("git+https://") {
        let Some((repo, commit)) = rest.rsplit_once('@') else {
            return Err("git custom code bundle ref must pin a commit with @<commit>".into());
        };
        if !(40..=64).contains(&commit.len()) || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("git custom code bundle ref must pin an immutable commit hash".into());
        }
        let (host, path) = split_host_path(repo)
            .ok_or("git custom code bundle ref must be a valid HTTPS git URL")?;
        if host.contains('@') || repo.contains('?') || repo.contains('#') {
            return Err("git custom code bundle ref must not include credentials, query, or fragment before the digest".into());
        }
        if !safe_url_path(path) {
            return Err("git custom code bundle ref path is unsafe".into());
        }
        Ok(())
    } else if let Some(value) = locator.strip_prefix("registry://") {
        if value.is_empty() || value.contains("//") || value.contains('?') {
            return Err("registry custom code bundle ref is invalid".into());
        }
        let Some((id, version)) = value.rsplit_once('@') else {
            return Err("registry custom code bundle ref must include @<version>".into());
        };
        if id.is_empty() || version.is_empty() {
            return Err("registry custom code bundle ref must include @<version>".into());
        }
        const FLOATING: [&str; 7] = [
            "head", "latest", "main", "master", "stable", "trunk", "default",
        ];
        if FLOATING.contains(&version.to_ascii_lowercase().as_str()) {
            return Err("registry custom code bundle ref must pin an immutable version".into());
        }
        let id_ok = id.len() <= 256
            && id.starts_with(|c: char| c.is_ascii_alphanumeric())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
        let version_ok = version.len() <= 128
            && version.starts_with(|c: char| c.is_ascii_alphanumeric())
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
        if !id_ok || !version_ok {
            return Err("registry custom code bundle ref is invalid".into());
        }
        Ok(())
    } else if let Some(rest) = locator.strip_prefix("object+https://") {
        let (host, path) = split_host_path(rest)
            .ok_or("object HTTPS custom code bundle ref must be a valid HTTPS object URL")?;
        if host.contains('@') || rest.contains('?') || rest.contains('#') {
            return Err("object HTTPS custom code bundle ref must not include credentials, query, or fragment before the digest".into());
        }
        if path == "/" || !safe_url_path(path) {
            return Err("object HTTPS custom code bundle ref path is unsafe".into());
        }
        Ok(())
    } else if let Some(rest) = locator.strip_prefix("object+s3://") {
        let (bucket, path) = split_host_path(rest)
            .ok_or("object S3 custom code bundle ref must be a valid s3 object URL")?;
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
            && bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if rest.contains('?') || rest.contains('#') || bucket.contains('@') {
            return Err("object S3 custom code bundle ref must not include credentials, query, or fragment before the digest".into());
        }
        if !bucket_ok || path == "/" || !safe_url_path(path) {
            return Err("object S3 custom code bundle ref path is unsafe".into());
        }
        Ok(())
    } else {
        Err(
            "custom code bundle ref scheme must be git+https, registry, object+https, or object+s3"
                .into(),
        )
    }
}

/// Splits `host/path` into a non-empty host and a non-empty path starting with `/`.
fn split_host_path(rest: &str) -> Option<(&str, &str)> {
    let slash = rest.find('/')?;
    let (host, path) = rest.split_at(slash);
    (!host.is_empty() && path.len() > 1).then_some((host, path))
}

fn safe_url_path(path: &str) -> bool {
    if path.is_empty() || path.contains('\\') || path.contains("//") {
        return false;
    }
    path.trim_matches('/').split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment.starts_with(|c: char| c.is_ascii_alphanumeric())
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._~+=,@-".contains(c))
    })
}

/// Upstream's `CustomCodeBundleMaterialsFromMetadata`: every custom-code reference found in the
/// well-known metadata keys must be a valid pinned reference.
fn bundle_materials_in_metadata(label: &str, metadata: &Map<String, Value>) -> Result<(), Invalid> {
    const KEYS: [&str; 6] = [
        "custom_code_bundle_ref",
        "custom_code_bundle_refs",
        "custom_code_bundles",
        "implementation_material",
        "implementation_materials",
        "implementation_material_refs",
    ];
    for key in KEYS {
        if let Some(value) = metadata.get(key) {
            bundle_material_value(&format!("{label}.{key}"), value)?;
        }
    }
    Ok(())
}

fn bundle_material_value(path: &str, value: &Value) -> Result<(), Invalid> {
    match value {
        Value::Null => Ok(()),
        Value::String(reference) => bundle_material_ref(path, reference),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| bundle_material_value(&format!("{path}[{index}]"), item)),
        Value::Object(map) => {
            const OBJECT_KEYS: [&str; 7] = [
                "ref",
                "uri",
                "url",
                "custom_code_bundle_ref",
                "bundle_tree_sha256",
                "tree_sha256",
                "local_tree_sha256",
            ];
            let is_material = OBJECT_KEYS
                .iter()
                .any(|key| str_field(map, key).is_some_and(|v| !v.trim().is_empty()));
            if is_material {
                let reference = ["ref", "uri", "url", "custom_code_bundle_ref"]
                    .iter()
                    .filter_map(|key| str_field(map, key))
                    .find(|v| !v.trim().is_empty());
                if let Some(reference) = reference {
                    bundle_material_ref(path, reference)?;
                    let tree = ["bundle_tree_sha256", "tree_sha256", "local_tree_sha256"]
                        .iter()
                        .filter_map(|key| str_field(map, key))
                        .find(|v| !v.trim().is_empty());
                    if let Some(tree) = tree {
                        if !is_sha256_digest(tree) {
                            return Err(invalid(path, "tree digest must be sha256:<64 hex chars>"));
                        }
                    }
                }
                return Ok(());
            }
            for key in [
                "custom_code_bundle_ref",
                "custom_code_bundle_refs",
                "custom_code_bundles",
            ] {
                if let Some(inner) = map.get(key) {
                    bundle_material_value(&format!("{path}.{key}"), inner)?;
                }
            }
            Ok(())
        }
        _ => Err(invalid(path, "must be a string, object, or array")),
    }
}

fn bundle_material_ref(path: &str, reference: &str) -> Result<(), Invalid> {
    if reference.is_empty() {
        return Ok(());
    }
    custom_code_bundle_ref(reference)
        .map_err(|problem| invalid(path, format!("is invalid: {problem}")))
}

/// The first path under `label` whose string mentions TypeScript (upstream retired its
/// TypeScript build pack and refuses packages that still reference it).
fn retired_typescript_reference(label: &str, map: &Map<String, Value>) -> Option<String> {
    fn walk(path: String, value: &Value) -> Option<String> {
        match value {
            Value::String(text) => text.to_lowercase().contains("typescript").then_some(path),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(index, item)| walk(format!("{path}[{index}]"), item)),
            Value::Object(map) => map
                .iter()
                .find_map(|(key, item)| walk(format!("{path}.{key}"), item)),
            _ => None,
        }
    }
    map.iter()
        .find_map(|(key, item)| walk(format!("{label}.{key}"), item))
}

/// The size of `map` as Go's `json.Marshal` writes it (what upstream measures).
pub fn encoded_len(map: &Map<String, Value>) -> usize {
    // Serialising a borrowed map needs an owned Value; measure through a scoped clone-free
    // writer instead by wrapping the entries.
    encoded_len_value(&Value::Object(map.clone()))
}

/// The size of `value` as Go's `json.Marshal` writes it.
pub fn encoded_len_value(value: &Value) -> usize {
    to_go_json(value, GoJsonOptions::MARSHAL).len()
}

fn json_size(label: &str, map: &Map<String, Value>, max: usize) -> Result<(), Invalid> {
    if encoded_len(map) > max {
        return Err(invalid(label, format!("exceeds {max} bytes")));
    }
    Ok(())
}

#[derive(Default)]
struct ResourceStats {
    example_bytes: usize,
    attachment_bytes: usize,
}

/// Upstream's `validatePackageJSONResourceLimits`: nesting depth, safe keys, no control
/// characters, bounded examples and attachments, no base64 blobs.
pub fn resource_limits(label: &str, map: &Map<String, Value>) -> Result<(), Invalid> {
    let mut stats = ResourceStats::default();
    inspect_object(label, label, map, 0, &mut stats)?;
    if stats.example_bytes > MAX_EXAMPLE_BYTES {
        return Err(invalid(
            label,
            format!("examples exceed {MAX_EXAMPLE_BYTES} bytes"),
        ));
    }
    if stats.attachment_bytes > MAX_ATTACHMENT_BYTES {
        return Err(invalid(
            label,
            format!("attachments exceed {MAX_ATTACHMENT_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn inspect_object(
    label: &str,
    path: &str,
    map: &Map<String, Value>,
    depth: usize,
    stats: &mut ResourceStats,
) -> Result<(), Invalid> {
    if depth > MAX_JSON_DEPTH {
        return Err(invalid(
            label,
            format!("exceeds maximum JSON nesting depth {MAX_JSON_DEPTH}"),
        ));
    }
    for (key, item) in map {
        if key.is_empty() || key.len() > MAX_KEY_BYTES || has_unsafe_control_text(key) {
            return Err(invalid(path, "contains an unsafe JSON object key"));
        }
        inspect(label, &format!("{path}.{key}"), item, depth + 1, stats)?;
    }
    Ok(())
}

fn inspect(
    label: &str,
    path: &str,
    value: &Value,
    depth: usize,
    stats: &mut ResourceStats,
) -> Result<(), Invalid> {
    if depth > MAX_JSON_DEPTH {
        return Err(invalid(
            label,
            format!("exceeds maximum JSON nesting depth {MAX_JSON_DEPTH}"),
        ));
    }
    match value {
        Value::Object(map) => inspect_object(label, path, map, depth, stats),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(index, item)| {
            inspect(label, &format!("{path}[{index}]"), item, depth + 1, stats)
        }),
        Value::String(text) => {
            if has_unsafe_control_text(text) {
                return Err(invalid(path, "contains control characters"));
            }
            let lower_path = path.to_lowercase();
            if lower_path.contains("example") {
                stats.example_bytes += text.len();
            }
            if lower_path.contains("attachment") || lower_path.contains("artifact") {
                stats.attachment_bytes += text.len();
            }
            if looks_like_binary_payload(&lower_path, text) {
                return Err(invalid(path, "contains a suspicious binary payload"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Control characters other than tab, newline and carriage return (NUL included).
pub fn has_unsafe_control_text(value: &str) -> bool {
    value
        .chars()
        .any(|c| !matches!(c, '\t' | '\n' | '\r') && ((c as u32) < 0x20 || c == '\u{7f}'))
}

const BIDI_PROBLEM: &str = "contains bidirectional formatting characters \
    (U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069)";

/// Bidirectional formatting characters: the embeddings and overrides (U+202A to U+202E), the
/// isolates (U+2066 to U+2069) and the marks U+200E and U+200F. In a name shown to people they
/// make text display differently from what it is (a name that reads as another publisher's).
pub fn has_bidi_control(value: &str) -> bool {
    value.chars().any(|c| {
        matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
    })
}

/// A human-visible name (a publisher's display name, a package's `manifest.name`): trimmed,
/// not empty, at most `max` characters, without control or bidirectional formatting characters.
pub fn display_name(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("exceeds {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    if has_bidi_control(value) {
        return Err(invalid(field, BIDI_PROBLEM));
    }
    Ok(value.to_owned())
}

fn looks_like_binary_payload(lower_path: &str, value: &str) -> bool {
    let trimmed = value.trim();
    let lower = trimmed.to_lowercase();
    if lower.starts_with("data:application/octet-stream") || lower.starts_with("data:binary") {
        return true;
    }
    if trimmed.len() < 4096 {
        return false;
    }
    let suspicious_path = ["attachment", "payload", "blob", "binary", "content", "file"]
        .iter()
        .any(|needle| lower_path.contains(needle));
    if !suspicious_path {
        return false;
    }
    let base64ish = trimmed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '\n' | '\r'))
        .count();
    base64ish * 100 / trimmed.len() > 95
}

/// Our addition: package metadata must not leak a local filesystem path or a credential.
///
/// The rules are `registry_client::hygiene`'s, the one set Studio and the release gate apply
/// too: a home-directory, Windows or `file:` path wherever a path starts in a string; a
/// well-known credential format (PEM private key, GitHub/GitLab/Slack/AWS/ANIP tokens, JWTs,
/// a URL with a password); or a value under a key that names a secret (`password`, `api_key`,
/// `client_secret`, `*_token`, ...) that is not a reference (an environment-variable name, a
/// placeholder). The error names the first offending field and never the value.
pub fn metadata_hygiene(label: &str, map: &Map<String, Value>) -> Result<(), Invalid> {
    match hygiene::first_finding_in_object(label, map) {
        Some(finding) => Err(hygiene_invalid(&finding)),
        None => Ok(()),
    }
}

/// The free-text readme: the same rules as [`metadata_hygiene`] (there is no key to judge).
fn readme_hygiene(readme: &str) -> Result<(), Invalid> {
    match hygiene::scan_text("readme", readme).first() {
        Some(finding) => Err(hygiene_invalid(finding)),
        None => Ok(()),
    }
}

fn hygiene_invalid(finding: &hygiene::Finding) -> Invalid {
    invalid(finding.path.as_str(), finding.problem())
}

/// The structural core of upstream's `definitionvalidation.ValidateServiceDefinition`.
pub fn service_definition(definition: &Map<String, Value>) -> Result<(), Invalid> {
    const P: &str = "service_definition";
    if trimmed_str(definition, "artifact_type") != "anip_service_definition" {
        return Err(invalid(
            format!("{P}.artifact_type"),
            "must be anip_service_definition",
        ));
    }
    if trimmed_str(definition, "contract_schema_version") != SCHEMA_VERSION {
        return Err(invalid(
            format!("{P}.contract_schema_version"),
            format!("must be {SCHEMA_VERSION}"),
        ));
    }
    let system_name = definition
        .get("identity")
        .and_then(Value::as_object)
        .map(|identity| trimmed_str(identity, "system_name"))
        .unwrap_or_default();
    if system_name.is_empty() {
        return Err(invalid(format!("{P}.identity.system_name"), "is required"));
    }
    let topology = array_field(definition, "service_topology_bindings");
    if topology.is_empty() {
        return Err(invalid(
            format!("{P}.service_topology_bindings"),
            "must contain at least one service",
        ));
    }
    let mut service_ids = BTreeSet::new();
    for (index, item) in topology.iter().enumerate() {
        let path = format!("{P}.service_topology_bindings[{index}]");
        let service = item
            .as_object()
            .ok_or_else(|| invalid(&path, "must be an object"))?;
        if service.contains_key("ownership_mode") {
            return Err(invalid(
                format!("{path}.ownership_mode"),
                "is not supported",
            ));
        }
        let service_id = trimmed_str(service, "service_id");
        if service_id.is_empty() {
            return Err(invalid(format!("{path}.service_id"), "is required"));
        }
        if !is_service_id(service_id) {
            return Err(invalid(format!("{path}.service_id"), "is invalid"));
        }
        if !service_ids.insert(service_id.to_owned()) {
            return Err(invalid(
                format!("{path}.service_id"),
                format!("{service_id:?} is duplicated"),
            ));
        }
    }
    let capabilities = array_field(definition, "capability_formalizations");
    if capabilities.is_empty() {
        return Err(invalid(
            format!("{P}.capability_formalizations"),
            "must contain at least one capability",
        ));
    }
    let mut capability_ids = BTreeSet::new();
    for (index, item) in capabilities.iter().enumerate() {
        let path = format!("{P}.capability_formalizations[{index}]");
        let capability = item
            .as_object()
            .ok_or_else(|| invalid(&path, "must be an object"))?;
        let capability_id = trimmed_str(capability, "capability_id");
        if capability_id.is_empty() {
            return Err(invalid(format!("{path}.capability_id"), "is required"));
        }
        if !is_capability_id(capability_id) {
            return Err(invalid(format!("{path}.capability_id"), "is invalid"));
        }
        if !capability_ids.insert(capability_id.to_owned()) {
            return Err(invalid(
                format!("{path}.capability_id"),
                format!("{capability_id:?} is duplicated"),
            ));
        }
    }
    for (index, item) in capabilities.iter().enumerate() {
        let path = format!("{P}.capability_formalizations[{index}]");
        let Some(capability) = item.as_object() else {
            continue;
        };
        capability_shape(&path, capability, &service_ids)?;
    }
    Ok(())
}

fn capability_shape(
    path: &str,
    capability: &Map<String, Value>,
    service_ids: &BTreeSet<String>,
) -> Result<(), Invalid> {
    const REQUIRED: [&str; 11] = [
        "service_id",
        "capability_id",
        "title",
        "summary",
        "intent_type",
        "operation_type",
        "side_effect_level",
        "backend_operation",
        "path_template",
        "output_shape",
        "kind",
    ];
    for field in REQUIRED {
        if trimmed_str(capability, field).is_empty() {
            return Err(invalid(format!("{path}.{field}"), "is required"));
        }
    }
    let service_id = trimmed_str(capability, "service_id");
    if !service_ids.contains(service_id) {
        return Err(invalid(
            format!("{path}.service_id"),
            format!("{service_id:?} is not in service_topology_bindings"),
        ));
    }
    for field in ["title", "summary"] {
        if !is_safe_text(trimmed_str(capability, field)) {
            return Err(invalid(format!("{path}.{field}"), "contains unsafe text"));
        }
    }
    for field in ["backend_operation", "output_shape"] {
        if !is_operation(trimmed_str(capability, field)) {
            return Err(invalid(format!("{path}.{field}"), "is invalid"));
        }
    }
    path_template(
        &format!("{path}.path_template"),
        trimmed_str(capability, "path_template"),
    )?;
    let Some(Value::Array(inputs)) = capability.get("inputs") else {
        return Err(invalid(format!("{path}.inputs"), "must be an array"));
    };
    let mut names = BTreeSet::new();
    for (index, input) in inputs.iter().enumerate() {
        let input_path = format!("{path}.inputs[{index}]");
        let input = input
            .as_object()
            .ok_or_else(|| invalid(&input_path, "must be an object"))?;
        let name = match trimmed_str(input, "input_name") {
            "" => trimmed_str(input, "name"),
            name => name,
        };
        if !is_input_name(name) {
            return Err(invalid(format!("{input_path}.input_name"), "is invalid"));
        }
        if !names.insert(name.to_owned()) {
            return Err(invalid(
                format!("{input_path}.input_name"),
                format!("{name:?} is duplicated"),
            ));
        }
    }
    let kind = trimmed_str(capability, "kind");
    let composition = capability
        .get("composition")
        .filter(|value| !value.is_null());
    match kind {
        "atomic" if composition.is_some() => Err(invalid(
            format!("{path}.composition"),
            "must be null/absent when kind is atomic",
        )),
        "atomic" => Ok(()),
        "composed" => match composition.and_then(Value::as_object) {
            Some(map) if !map.is_empty() => Ok(()),
            _ => Err(invalid(
                format!("{path}.composition"),
                "is required when kind is composed",
            )),
        },
        _ => Err(invalid(
            format!("{path}.kind"),
            "must be atomic or composed",
        )),
    }
}

fn path_template(field: &str, path: &str) -> Result<(), Invalid> {
    if path.len() > 256 || path.contains('\\') || path.contains("..") || path.contains("//") {
        return Err(invalid(field, "is invalid"));
    }
    if !path.starts_with('/') {
        return Err(invalid(field, "must start with /"));
    }
    if !is_safe_text(path) {
        return Err(invalid(field, "contains unsafe text"));
    }
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        if segment.starts_with('{') || segment.ends_with('}') {
            let name = segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|name| !name.is_empty())
                .ok_or_else(|| invalid(field, "contains a malformed parameter"))?;
            if !is_input_name(name) {
                return Err(invalid(field, "contains an invalid parameter"));
            }
        }
    }
    Ok(())
}

fn is_safe_text(value: &str) -> bool {
    !value.is_empty() && value.len() <= 8192 && !has_unsafe_control_text(value)
}

/// `^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$`
fn is_service_id(value: &str) -> bool {
    let mut chars = value.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return false;
    }
    let mut previous_separator = false;
    for c in chars {
        if c == '-' || c == '_' {
            if previous_separator {
                return false;
            }
            previous_separator = true;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            previous_separator = false;
        } else {
            return false;
        }
    }
    !previous_separator
}

/// `^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$`
fn is_capability_id(value: &str) -> bool {
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|part| {
            part.starts_with(|c: char| c.is_ascii_lowercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// `^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$`
fn is_operation(value: &str) -> bool {
    value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`
fn is_input_name(value: &str) -> bool {
    value.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Upstream's `validatePackageExecutionMetadata`, run after the server stamped the manifest and
/// lock: agent consumability must describe exactly the definition's capabilities, and the
/// package must be ready for agents with no blockers or warnings.
pub fn execution_metadata(
    manifest: &Map<String, Value>,
    recommended_lock: &Map<String, Value>,
    definition: &Map<String, Value>,
) -> Result<(), Invalid> {
    let (consumability_field, consumability) = non_empty_object(manifest, "agent_consumability")
        .map(|map| ("manifest.agent_consumability", map))
        .or_else(|| {
            non_empty_object(recommended_lock, "agent_consumability")
                .map(|map| ("recommended_lock.agent_consumability", map))
        })
        .ok_or_else(|| invalid("manifest.agent_consumability", "is required"))?;
    if trimmed_str(consumability, "schema_version").is_empty() {
        return Err(invalid(
            format!("{consumability_field}.schema_version"),
            "is required",
        ));
    }
    let definition_ids: BTreeSet<&str> = array_field(definition, "capability_formalizations")
        .iter()
        .filter_map(Value::as_object)
        .map(|capability| trimmed_str(capability, "capability_id"))
        .filter(|id| !id.is_empty())
        .collect();
    let consumability_ids: BTreeSet<&str> = consumability
        .get("capabilities")
        .and_then(Value::as_object)
        .map(|capabilities| {
            capabilities
                .keys()
                .map(|id| id.trim())
                .filter(|id| !id.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if definition_ids.is_empty() || definition_ids != consumability_ids {
        return Err(invalid(
            format!("{consumability_field}.capabilities"),
            format!(
                "must match service_definition capabilities: definition={definition_ids:?} consumability={consumability_ids:?}"
            ),
        ));
    }
    let (readiness_field, readiness) = non_empty_object(manifest, "agent_consumption_readiness")
        .map(|map| ("manifest.agent_consumption_readiness", map))
        .or_else(|| {
            non_empty_object(recommended_lock, "agent_consumption_readiness")
                .map(|map| ("recommended_lock.agent_consumption_readiness", map))
        })
        .unwrap_or((
            "manifest.agent_consumption_readiness",
            EMPTY.get_or_init(Map::new),
        ));
    if !trimmed_str(readiness, "status").eq_ignore_ascii_case("ready") {
        return Err(invalid(
            format!("{readiness_field}.status"),
            "must be ready",
        ));
    }
    let summary = readiness.get("summary").and_then(Value::as_object);
    for counter in ["blockers", "warnings"] {
        let count = summary
            .and_then(|summary| summary.get(counter))
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if count != 0.0 {
            return Err(invalid(
                format!("{readiness_field}.summary.{counter}"),
                "must be 0",
            ));
        }
    }
    Ok(())
}

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

fn non_empty_object<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    map.get(key)
        .and_then(Value::as_object)
        .filter(|object| !object.is_empty())
}

/// A string member, untrimmed; `None` when absent or not a string.
pub fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// A string member trimmed; empty when absent or not a string (upstream's `stringField`).
pub fn trimmed_str<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    str_field(map, key).map(str::trim).unwrap_or_default()
}

fn array_field<'a>(map: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    map.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The lifecycle states upstream knows.
pub const LIFECYCLE_STATUSES: [&str; 5] =
    ["active", "superseded", "deprecated", "yanked", "takedown"];

/// Longest lifecycle or status reason.
pub const MAX_REASON_LEN: usize = 2000;

/// Upstream's `validatePackageLifecycleUpdate`: a known status, a reason for every non-active
/// state, and a replacement that names both id and version and is not the package itself.
pub fn lifecycle_update(
    package_id: &str,
    package_version: &str,
    request: &crate::model::UpdateLifecycleRequest,
    updated_by: &str,
    updated_at: &str,
) -> Result<crate::model::Lifecycle, Invalid> {
    let status = request.status.trim();
    if status.is_empty() {
        return Err(invalid("status", "is required"));
    }
    if !LIFECYCLE_STATUSES.contains(&status) {
        return Err(invalid(
            "status",
            format!("must be one of {}", LIFECYCLE_STATUSES.join(", ")),
        ));
    }
    let reason = request.reason.trim();
    if status != "active" && reason.is_empty() {
        return Err(invalid("reason", "is required for non-active status"));
    }
    if reason.len() > MAX_REASON_LEN {
        return Err(invalid("reason", format!("exceeds {MAX_REASON_LEN} bytes")));
    }
    if has_unsafe_control_text(reason) {
        return Err(invalid("reason", "contains control characters"));
    }
    let replacement_id = request.replacement_package_id.trim();
    let replacement_version = request.replacement_package_version.trim();
    let replacement = match (replacement_id.is_empty(), replacement_version.is_empty()) {
        (true, true) => None,
        (false, false) => {
            let id = crate::ids::PackageId::parse_field("replacement_package_id", replacement_id)
                .map_err(|e| invalid(e.field, e.reason))?;
            let version = crate::ids::Version::parse_field(
                "replacement_package_version",
                replacement_version,
            )
            .map_err(|e| invalid(e.field, e.reason))?;
            if id.as_str() == package_id && version.as_str() == package_version {
                return Err(invalid(
                    "replacement_package_id",
                    "cannot point to the package itself",
                ));
            }
            Some(crate::model::LifecycleReplacement {
                package_id: id.into_inner(),
                package_version: version.into_inner(),
            })
        }
        (true, false) => {
            return Err(invalid(
                "replacement_package_id",
                "is required with replacement_package_version",
            ))
        }
        (false, true) => {
            return Err(invalid(
                "replacement_package_version",
                "is required with replacement_package_id",
            ))
        }
    };
    Ok(crate::model::Lifecycle {
        status: status.to_owned(),
        reason: reason.to_owned(),
        replacement,
        updated_at: updated_at.to_owned(),
        updated_by: updated_by.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn hygiene_refuses_local_paths_and_secrets_naming_the_field() {
        let cases = [
            (
                json!({"source": {"path": "/home/alice/project"}}),
                "manifest.source.path",
                "local filesystem path",
            ),
            (
                json!({"source": {"path": "/Users/bob/x"}}),
                "manifest.source.path",
                "local filesystem path",
            ),
            (
                json!({"p": "C:\\work\\x"}),
                "manifest.p",
                "local filesystem path",
            ),
            (
                json!({"p": "file:///etc/passwd"}),
                "manifest.p",
                "local filesystem path",
            ),
            (
                json!({"connection": {"api_key": "abc123"}}),
                "manifest.connection.api_key",
                "secret",
            ),
            (
                json!({"auth": {"Client-Secret": "s3cr3t"}}),
                "manifest.auth.Client-Secret",
                "secret",
            ),
            (
                json!({"db_password": "hunter2"}),
                "manifest.db_password",
                "secret",
            ),
            (
                json!({"notes": ["use ghp_abcdefghijklmnopqrstuvwxyz0123456789"]}),
                "manifest.notes[0]",
                "GitHub token",
            ),
            (
                json!({"k": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"}),
                "manifest.k",
                "private key",
            ),
        ];
        for (value, field, needle) in cases {
            let error =
                metadata_hygiene("manifest", &object(value.clone())).expect_err(&value.to_string());
            assert_eq!(error.field, field);
            assert!(error.message.contains(needle), "{error}");
        }
        let fine = json!({
            "path_template": "/work-items/search",
            "business_source_path": "docs/examples/x.md",
            "api_key": "",
            "token": "GITHUB_TOKEN",
            "password": "${DB_PASSWORD}",
            "secret_ref": "GITHUB_TOKEN",
            "delegation_tokens": true,
            "max_tokens": 12,
            "url": "https://github.com/anip-protocol/anip",
        });
        assert_eq!(metadata_hygiene("manifest", &object(fine)), Ok(()));
    }

    #[test]
    fn urls_with_passwords_are_credentials() {
        // The rule's cases are registry_client::hygiene's; here, that the Registry applies it
        // to readmes and metadata, names the field and never echoes the password.
        let error = readme_hygiene("see `postgres://anip:hunter2@db.example/x` first")
            .expect_err("a password in a readme");
        assert_eq!(error.field, "readme");
        assert!(error.message.contains("password"), "{error}");
        assert!(!error.message.contains("hunter2"), "{error}");
        assert_eq!(
            readme_hygiene("postgres://anip:${DB_PASSWORD}@db.example/x"),
            Ok(())
        );
        let error = metadata_hygiene(
            "manifest",
            &object(json!({"database_url": "postgres://anip:hunter2@db:5432/x"})),
        )
        .unwrap_err();
        assert_eq!(error.field, "manifest.database_url");
        assert!(!error.message.contains("hunter2"), "{error}");
    }

    #[test]
    fn readme_local_paths_are_found_anywhere_a_path_starts() {
        for text in [
            "see /root/.anip/secrets.env",
            "Built from /home/alice/projects/secret",
            "C:\\Users\\bob\\x",
            "/home/alice/x",
            "Run `~/bin/anip`",
        ] {
            let error = readme_hygiene(text).expect_err(text);
            assert_eq!(error.field, "readme");
            assert!(error.message.contains("local filesystem path"), "{error}");
            assert!(!error.message.contains("alice") && !error.message.contains("bob"));
        }
        for text in [
            "Installs to /usr/local/bin; edit /etc/hosts; scratch in /tmp.",
            "See https://example.com/home/alice for details.",
        ] {
            assert_eq!(readme_hygiene(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn bidi_controls_in_visible_names() {
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}',
        ] {
            let name = format!("Acme{c}Corp");
            assert!(has_bidi_control(&name));
            assert_eq!(
                display_name("display_name", &name, 120).unwrap_err().field,
                "display_name"
            );
            let error = visible_name("manifest", &object(json!({"name": name}))).unwrap_err();
            assert_eq!(error.field, "manifest.name");
        }
        assert_eq!(display_name("d", "  Acme Corp ", 120).unwrap(), "Acme Corp");
        assert_eq!(
            display_name("d", "Ünïcødé 名前", 120).unwrap(),
            "Ünïcødé 名前"
        );
        assert!(display_name("d", "", 120).is_err());
        assert!(display_name("d", &"a".repeat(121), 120).is_err());
        assert_eq!(
            visible_name("manifest", &object(json!({"name": 3}))),
            Ok(())
        );
    }

    #[test]
    fn depth_limit() {
        let mut value = json!("leaf");
        for _ in 0..48 {
            value = json!({ "a": value });
        }
        // The root map is depth 0, so 48 nested maps put the leaf at depth 48: allowed.
        assert!(resource_limits("manifest", &object(value.clone())).is_ok());
        let deeper = json!({ "a": value });
        let error = resource_limits("manifest", &object(deeper)).unwrap_err();
        assert!(error.message.contains("depth 48"), "{error}");
    }

    #[test]
    fn control_characters_in_values_and_keys() {
        let error = resource_limits("manifest", &object(json!({"a": "x\u{0}y"}))).unwrap_err();
        assert_eq!(error.field, "manifest.a");
        assert!(resource_limits("manifest", &object(json!({"a\u{1}": 1}))).is_err());
        assert!(resource_limits("manifest", &object(json!({"a": "tab\tnew\nline\r"}))).is_ok());
    }

    #[test]
    fn source_links_must_be_http() {
        let link = |url: &str| SourceLink {
            title: "t".into(),
            url: url.into(),
        };
        assert!(source_links(&[link("https://example.com/x")]).is_ok());
        assert!(source_links(&[link("http://example.com")]).is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "javascript:alert(1)",
            "https://u:p@example.com/",
        ] {
            let error = source_links(&[link(bad)]).expect_err(bad);
            assert_eq!(error.field, "source_links[0].url");
        }
        let nine: Vec<SourceLink> = (0..9).map(|_| link("https://e.com")).collect();
        assert_eq!(source_links(&nine).unwrap_err().field, "source_links");
    }

    #[test]
    fn bundle_refs() {
        let digest = "a".repeat(64);
        let commit = "b".repeat(40);
        for ok in [
            format!("git+https://github.com/acme/tools@{commit}#sha256:{digest}"),
            format!("registry://acme/bundle@1.2.3#sha256:{digest}"),
            format!("object+https://cdn.example.com/bundles/x.tgz#sha256:{digest}"),
            format!("object+s3://my-bucket/bundles/x.tgz#sha256:{digest}"),
        ] {
            assert_eq!(custom_code_bundle_ref(&ok), Ok(()), "{ok}");
        }
        for bad in [
            "git+https://github.com/acme/tools@main".to_owned(),
            format!("git+https://github.com/acme/tools@main#sha256:{digest}"),
            format!("registry://acme/bundle@latest#sha256:{digest}"),
            format!("https://example.com/x#sha256:{digest}"),
            format!("object+https://cdn.example.com/../x#sha256:{digest}"),
        ] {
            assert!(custom_code_bundle_ref(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn execution_metadata_rules() {
        let definition = object(json!({"capability_formalizations": [{"capability_id": "a.b"}]}));
        let manifest = object(json!({
            "agent_consumability": {"schema_version": "v0", "capabilities": {"a.b": {}}},
            "agent_consumption_readiness": {"status": "ready", "summary": {"blockers": 0, "warnings": 0}},
        }));
        let lock = Map::new();
        assert_eq!(execution_metadata(&manifest, &lock, &definition), Ok(()));

        let mut other = manifest.clone();
        other["agent_consumability"]["capabilities"] = json!({"a.c": {}});
        let error = execution_metadata(&other, &lock, &definition).unwrap_err();
        assert_eq!(error.field, "manifest.agent_consumability.capabilities");

        let mut blocked = manifest.clone();
        blocked["agent_consumption_readiness"]["summary"]["warnings"] = json!(1);
        let error = execution_metadata(&blocked, &lock, &definition).unwrap_err();
        assert_eq!(
            error.field,
            "manifest.agent_consumption_readiness.summary.warnings"
        );

        let mut unready = manifest;
        unready["agent_consumption_readiness"]["status"] = json!("draft");
        assert!(execution_metadata(&unready, &lock, &definition).is_err());
    }

    #[test]
    fn service_id_and_capability_id_patterns() {
        assert!(is_service_id("issue-tracker"));
        assert!(is_service_id("a1_b2"));
        assert!(!is_service_id("Issue"));
        assert!(!is_service_id("a--b"));
        assert!(!is_service_id("a-"));
        assert!(is_capability_id("work_item.search"));
        assert!(!is_capability_id("search"));
        assert!(!is_capability_id("a..b"));
        assert!(!is_capability_id("A.b"));
    }
}

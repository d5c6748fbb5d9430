//! UI paths: building links and reading ids back out of them.
//!
//! Links put an id that contains `/` in one `%2F`-encoded segment
//! (`/registry/packages/acme%2Ftools/1.0.0`), as the API does. Hand-typed links may instead
//! spell the id as a tail path (`/registry/packages/acme/tools/1.0.0`); [`Candidates`] lists
//! what such a path can mean, and the handler asks the store which one exists.

use crate::ids::{PackageId, TemplateId, Version};

/// Where the UI lives.
pub const UI_PREFIX: &str = "/registry";
/// Where the API lives.
pub const API_PREFIX: &str = crate::routes::PREFIX;

/// Percent-encodes everything but RFC 3986 unreserved characters, so a value is always one
/// path segment or one query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-decodes one path segment; `None` when an escape is malformed or the result is not
/// UTF-8.
pub fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `/registry/packages`.
pub fn packages() -> String {
    format!("{UI_PREFIX}/packages")
}

/// The versions page of a package.
pub fn package(id: &str) -> String {
    format!("{UI_PREFIX}/packages/{}", encode(id))
}

/// The detail page of a package version.
pub fn package_version(id: &str, version: &str) -> String {
    format!("{UI_PREFIX}/packages/{}/{}", encode(id), encode(version))
}

/// `/registry/templates`.
pub fn templates() -> String {
    format!("{UI_PREFIX}/templates")
}

/// The versions page of a template.
pub fn template(id: &str) -> String {
    format!("{UI_PREFIX}/templates/{}", encode(id))
}

/// The detail page of a template version.
pub fn template_version(id: &str, version: &str) -> String {
    format!("{UI_PREFIX}/templates/{}/{}", encode(id), encode(version))
}

/// A publisher's page.
pub fn publisher(id: &str) -> String {
    format!("{UI_PREFIX}/publishers/{}", encode(id))
}

/// An API path under a package version (`""`, `/download`, `/lock`, `/receipt`).
pub fn api_package(id: &str, version: &str, suffix: &str) -> String {
    format!(
        "{API_PREFIX}/packages/{}/{}{suffix}",
        encode(id),
        encode(version)
    )
}

/// An API path under a template version.
pub fn api_template(id: &str, version: &str, suffix: &str) -> String {
    format!(
        "{API_PREFIX}/templates/{}/{}{suffix}",
        encode(id),
        encode(version)
    )
}

/// What the path segments after `/packages/` (or `/templates/`) can mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates<Id> {
    /// All but the last segment as the id and the last as the version (a detail page).
    pub version: Option<(Id, Version)>,
    /// Every segment together as the id (a versions page).
    pub id: Option<Id>,
}

/// Splits raw (still percent-encoded) segments, as the router matched them, into candidates.
/// `None` when a segment does not decode or is empty: no page can match.
fn candidates<Id>(raw: &[&str], parse: impl Fn(&str) -> Option<Id>) -> Option<Candidates<Id>> {
    let mut segments = Vec::new();
    for part in raw {
        for piece in part.split('/') {
            let decoded = decode(piece)?;
            if decoded.is_empty() {
                return None;
            }
            segments.push(decoded);
        }
    }
    let (last, init) = segments.split_last()?;
    let version = if init.is_empty() {
        None
    } else {
        parse(&init.join("/")).zip(Version::parse(last).ok())
    };
    Some(Candidates {
        version,
        id: parse(&segments.join("/")),
    })
}

/// Package candidates from raw segments.
pub fn package_candidates(raw: &[&str]) -> Option<Candidates<PackageId>> {
    candidates(raw, |id| PackageId::parse(id).ok())
}

/// Template candidates from raw segments.
pub fn template_candidates(raw: &[&str]) -> Option<Candidates<TemplateId>> {
    candidates(raw, |id| TemplateId::parse(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_ids_as_one_segment() {
        assert_eq!(encode("acme/tools"), "acme%2Ftools");
        assert_eq!(encode("1.0.0+build.5"), "1.0.0%2Bbuild.5");
        assert_eq!(
            package_version("acme/tools", "1.0.0"),
            "/registry/packages/acme%2Ftools/1.0.0"
        );
        assert_eq!(decode("acme%2Ftools").as_deref(), Some("acme/tools"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%ff"), None);
    }

    #[test]
    fn reads_encoded_and_tail_ids() {
        let encoded = package_candidates(&["acme%2Ftools", "1.0.0"]).unwrap();
        assert_eq!(
            encoded.version,
            Some((
                PackageId::parse("acme/tools").unwrap(),
                Version::parse("1.0.0").unwrap()
            ))
        );
        let tail = package_candidates(&["acme/tools/1.0.0"]).unwrap();
        assert_eq!(tail.version, encoded.version);
        assert_eq!(tail.id, Some(PackageId::parse("acme/tools/1.0.0").unwrap()));
        let versions = package_candidates(&["acme", "tools"]).unwrap();
        assert_eq!(versions.version, None, "`tools` is no version");
        assert_eq!(versions.id, Some(PackageId::parse("acme/tools").unwrap()));
        let single = package_candidates(&["acme%2Ftools"]).unwrap();
        assert_eq!(single.version, None);
        assert_eq!(single.id, Some(PackageId::parse("acme/tools").unwrap()));
        assert_eq!(package_candidates(&["acme//x"]), None);
        assert_eq!(package_candidates(&["%ff"]), None);
    }
}

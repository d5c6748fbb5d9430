//! Identifiers parsed at the edge: handlers and the store only ever see these newtypes.
//!
//! The character sets follow upstream's registry reference pattern
//! (`bundlerefs.registryBundleRefPattern`: `[A-Za-z0-9][A-Za-z0-9._/-]{0,255}` for ids and
//! `[A-Za-z0-9][A-Za-z0-9._+-]{0,127}` for versions), tightened where upstream lets through
//! values that break paths or sorting: every `/`-separated segment of an id must start with a
//! letter or digit (so no empty, `.` or `..` segments), and versions must be semantic versions.
//! Ids with `/` name a namespace (`acme/tools`) and travel as one `%2F`-encoded path segment.

use std::fmt;

/// Longest package or template id, in bytes (upstream's pattern allows 256).
pub const MAX_ID_LEN: usize = 256;
/// Longest version, in bytes (upstream's pattern allows 128).
pub const MAX_VERSION_LEN: usize = 128;
/// Longest namespace, in bytes (upstream: 80).
pub const MAX_NAMESPACE_LEN: usize = 80;

/// A value that failed to parse, naming the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct IdError {
    /// The request field or path parameter, e.g. `package_id`.
    pub field: &'static str,
    /// Why the value was refused (never echoes the value itself, which may be huge or binary).
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

fn check_common(field: &'static str, value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::new(field, "is required"));
    }
    if value.chars().any(char::is_control) {
        return Err(IdError::new(field, "contains control characters"));
    }
    if value.len() > max {
        return Err(IdError::new(field, format!("exceeds {max} bytes")));
    }
    Ok(())
}

fn parse_id(field: &'static str, value: &str) -> Result<(), IdError> {
    check_common(field, value, MAX_ID_LEN)?;
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')))
    {
        let shown = if bad.is_ascii_graphic() || bad == ' ' {
            format!("{bad:?}")
        } else {
            format!("U+{:04X}", u32::from(bad))
        };
        return Err(IdError::new(
            field,
            format!("contains {shown}; allowed are letters, digits, '.', '_', '-' and '/'"),
        ));
    }
    for segment in value.split('/') {
        if !segment.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(IdError::new(
                field,
                "every '/'-separated segment must start with a letter or digit",
            ));
        }
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the identifier, returning its string.
            pub fn into_inner(self) -> String {
                self.0
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
    };
}

string_newtype!(
    /// A package id such as `gitlab-fronting-showcase` or `acme/tools`.
    PackageId
);
string_newtype!(
    /// A template id; same rules as a package id.
    TemplateId
);
string_newtype!(
    /// A semantic version such as `0.2.0` or `1.0.0-rc.1+build.5`.
    Version
);
string_newtype!(
    /// A publisher namespace such as `acme` or `acme/tools` (lower case).
    Namespace
);

impl PackageId {
    /// Parses a package id; errors name `package_id`.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        Self::parse_field("package_id", value)
    }

    /// Parses a package id, naming `field` in errors (e.g. `replacement_package_id`).
    pub fn parse_field(field: &'static str, value: &str) -> Result<Self, IdError> {
        parse_id(field, value)?;
        Ok(PackageId(value.to_owned()))
    }

    /// Whether `namespace` covers this id: the id is the namespace or starts with `namespace/`.
    pub fn in_namespace(&self, namespace: &str) -> bool {
        id_in_namespace(&self.0, namespace)
    }
}

impl TemplateId {
    /// Parses a template id; errors name `template_id`.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        parse_id("template_id", value)?;
        Ok(TemplateId(value.to_owned()))
    }
}

/// Whether `namespace` covers `id` (`ns` covers `ns` and `ns/...`, never `ns-other`).
pub fn id_in_namespace(id: &str, namespace: &str) -> bool {
    !namespace.is_empty()
        && (id == namespace
            || (id.len() > namespace.len()
                && id.starts_with(namespace)
                && id.as_bytes()[namespace.len()] == b'/'))
}

impl Version {
    /// Parses a version; errors name `package_version`.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        Self::parse_field("package_version", value)
    }

    /// Parses a version, naming `field` in errors.
    pub fn parse_field(field: &'static str, value: &str) -> Result<Self, IdError> {
        check_common(field, value, MAX_VERSION_LEN)?;
        parse_semver(value).map_err(|reason| IdError::new(field, reason))?;
        Ok(Version(value.to_owned()))
    }
}

impl Namespace {
    /// Parses a namespace: lower-case letters, digits, `-`, `_`, `/`, at most 80 bytes, no
    /// leading, trailing or doubled `/` (upstream's `validRegistryNamespace`).
    pub fn parse(value: &str) -> Result<Self, IdError> {
        const FIELD: &str = "namespace";
        check_common(FIELD, value, MAX_NAMESPACE_LEN)?;
        if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '/'))
        {
            return Err(IdError::new(
                FIELD,
                "allowed are lower-case letters, digits, '-', '_' and '/'",
            ));
        }
        if value.starts_with('/') || value.ends_with('/') || value.contains("//") {
            return Err(IdError::new(
                FIELD,
                "must not start or end with '/' or contain '//'",
            ));
        }
        Ok(Namespace(value.to_owned()))
    }
}

/// Checks a semantic version (semver.org 2.0.0): `MAJOR.MINOR.PATCH`, optional `-pre.release`
/// identifiers and `+build` metadata; numeric identifiers have no leading zeros.
fn parse_semver(value: &str) -> Result<(), String> {
    const SHAPE: &str = "must be a semantic version such as 1.2.3, 1.2.3-rc.1 or 1.2.3+build.5";
    let (rest, build) = match value.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (value, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|part| numeric_identifier(part)) {
        return Err(SHAPE.to_owned());
    }
    if let Some(pre) = pre {
        for identifier in pre.split('.') {
            let is_numeric =
                !identifier.is_empty() && identifier.bytes().all(|b| b.is_ascii_digit());
            if !alphanumeric_identifier(identifier)
                || (is_numeric && !numeric_identifier(identifier))
            {
                return Err(SHAPE.to_owned());
            }
        }
    }
    if let Some(build) = build {
        if !build.split('.').all(alphanumeric_identifier) {
            return Err(SHAPE.to_owned());
        }
    }
    Ok(())
}

fn numeric_identifier(part: &str) -> bool {
    !part.is_empty()
        && part.bytes().all(|b| b.is_ascii_digit())
        && (part == "0" || !part.starts_with('0'))
}

fn alphanumeric_identifier(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids() {
        for ok in [
            "gitlab-fronting-showcase",
            "acme/tools",
            "acme/tools/v2.x",
            "A1_b.c",
            "x",
        ] {
            assert!(PackageId::parse(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(257);
        for (bad, needle) in [
            ("", "required"),
            ("a\0b", "control"),
            ("a\nb", "control"),
            (long.as_str(), "exceeds 256"),
            ("a b", "' '"),
            ("a%2Fb", "'%'"),
            ("é", "U+00E9"),
            ("/a", "segment"),
            ("a/", "segment"),
            ("a//b", "segment"),
            ("a/../b", "segment"),
            (".hidden", "segment"),
            ("-a", "segment"),
        ] {
            let error = PackageId::parse(bad).expect_err(bad);
            assert_eq!(error.field, "package_id");
            assert!(error.to_string().contains(needle), "{bad:?}: {error}");
        }
        assert_eq!(TemplateId::parse("").unwrap_err().field, "template_id");
        assert!(PackageId::parse(&"a".repeat(256)).is_ok());
    }

    #[test]
    fn versions_are_semver() {
        for ok in [
            "0.1.0",
            "10.20.30",
            "1.0.0-rc.1",
            "1.0.0-alpha-1.0",
            "1.0.0+build.5",
            "1.0.0-0.3.7+x",
        ] {
            assert!(Version::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.0",
            "v1.0.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0 ",
            "1.0.0\0",
        ] {
            let error = Version::parse(bad).expect_err(bad);
            assert_eq!(error.field, "package_version");
        }
        assert!(Version::parse(&format!("1.0.0-{}", "a".repeat(200))).is_err());
    }

    #[test]
    fn namespaces() {
        assert!(Namespace::parse("acme").is_ok());
        assert!(Namespace::parse("acme/tools").is_ok());
        for bad in ["", "Acme", "acme/", "/acme", "a//b", "a.b"] {
            assert!(Namespace::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespace_coverage() {
        assert!(id_in_namespace("acme", "acme"));
        assert!(id_in_namespace("acme/tool", "acme"));
        assert!(!id_in_namespace("acme-tool", "acme"));
        assert!(!id_in_namespace("acm", "acme"));
        assert!(!id_in_namespace("acme", ""));
    }
}

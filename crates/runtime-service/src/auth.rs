//! Bootstrap credentials: API keys configured as SHA-256 hashes and mapped to principals.

use signing::secret::{constant_time_eq, token_hash};

/// One configured bootstrap key: the principal it authenticates and the hex SHA-256 of the key.
#[derive(Clone)]
pub struct ApiKeyHash {
    pub principal: String,
    pub sha256_hex: String,
}

/// The configured bootstrap keys.
#[derive(Clone, Default)]
pub struct ApiKeyHashes(pub Vec<ApiKeyHash>);

impl ApiKeyHashes {
    /// The principal a presented key authenticates, compared in constant time against every
    /// configured hash so that timing reveals nothing about which one matched.
    pub fn principal_for(&self, presented_key: &str) -> Option<&str> {
        let presented = token_hash(presented_key);
        let mut found = None;
        for entry in &self.0 {
            if constant_time_eq(presented.as_bytes(), entry.sha256_hex.as_bytes()) {
                found = Some(entry.principal.as_str());
            }
        }
        found
    }
}

/// Parses `principal=sha256hex,principal2=sha256hex`; the clap error names the variable.
pub fn parse_api_key_hashes(raw: &str) -> Result<ApiKeyHashes, String> {
    let mut entries = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (principal, hash) = part.split_once('=').ok_or_else(|| {
            format!(
                "expected principal=sha256hex, got an entry without '=' ({} characters)",
                part.len()
            )
        })?;
        let principal = principal.trim();
        let hash = hash.trim().to_ascii_lowercase();
        if principal.is_empty() {
            return Err("an entry has an empty principal".into());
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "the hash for {principal} is not 64 hex characters (a SHA-256 of the key)"
            ));
        }
        entries.push(ApiKeyHash {
            principal: principal.to_owned(),
            sha256_hex: hash,
        });
    }
    Ok(ApiKeyHashes(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_hash_authenticates_its_key_only() {
        let hash = token_hash("dev-key");
        let keys = parse_api_key_hashes(&format!("human:samir@example.com={hash}")).unwrap();
        assert_eq!(
            keys.principal_for("dev-key"),
            Some("human:samir@example.com")
        );
        assert_eq!(keys.principal_for("dev-kez"), None);
    }

    #[test]
    fn malformed_entries_are_refused_without_echoing_them() {
        let err = match parse_api_key_hashes("agent:x=not-a-hash") {
            Err(e) => e,
            Ok(_) => panic!("accepted a malformed hash"),
        };
        assert!(err.contains("agent:x"));
        assert!(!err.contains("not-a-hash"));
        assert!(parse_api_key_hashes("no-equals-sign").is_err());
        assert!(parse_api_key_hashes("").unwrap().0.is_empty());
    }
}

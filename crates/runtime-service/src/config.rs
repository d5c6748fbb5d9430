//! The runtime's configuration: flags and `ANIP_RUNTIME_*` environment variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use registry_client::{PackageRef, SigningMode};
use signing::PublicKeySet;

/// Everything `anip-runtime` reads at start. Each field names its environment variable.
/// It derives no `Debug`: the database URL may hold a password.
#[derive(Parser)]
#[command(
    name = "anip-runtime",
    version,
    about = "ANIP runtime: serves a package's capabilities to agents"
)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Postgres connection string for durable tokens, audit and checkpoints.
    #[arg(long, env = "ANIP_RUNTIME_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Address to bind.
    #[arg(long, env = "ANIP_RUNTIME_BIND", default_value = "0.0.0.0")]
    pub bind: String,

    /// Port to listen on.
    #[arg(long, env = "ANIP_RUNTIME_PORT", default_value_t = 9100)]
    pub port: u16,

    /// Run pending migrations at startup.
    #[arg(long, env = "ANIP_RUNTIME_RUN_MIGRATIONS", default_value = "1", value_parser = observability::flags::bool_env("ANIP_RUNTIME_RUN_MIGRATIONS"))]
    pub run_migrations: bool,

    /// Apply migrations, report them, and exit.
    #[arg(long, env = "ANIP_RUNTIME_MIGRATE_ONLY", default_value = "0", value_parser = observability::flags::bool_env("ANIP_RUNTIME_MIGRATE_ONLY"))]
    pub migrate_only: bool,

    /// Bootstrap API keys as `principal=sha256hex` pairs separated by commas; only hashes are
    /// ever configured, so the keys themselves never sit in the environment of the service.
    #[arg(long, env = "ANIP_RUNTIME_API_KEY_HASHES", hide_env_values = true, value_parser = crate::auth::parse_api_key_hashes, default_value = "")]
    pub api_key_hashes: crate::auth::ApiKeyHashes,

    /// The package to serve: an `anip-package-bundle/v1` file, verified before anything is
    /// served.
    #[arg(long, env = "ANIP_RUNTIME_BUNDLE", value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// A package to fetch from a Registry, as `ID@VERSION` (with `--registry-url`). Used when
    /// no `--bundle` is given.
    #[arg(long, env = "ANIP_RUNTIME_PACKAGE", value_name = "ID@VERSION", value_parser = parse_package_ref, default_value = "", hide_default_value = true)]
    pub package: Unset<PackageRef>,

    /// The Registry for `--package`: its root (`http://host:8200`) or API base
    /// (`.../registry-api/v1`), as `anip package verify --registry-url` takes it.
    #[arg(long, env = "ANIP_RUNTIME_REGISTRY_URL", value_name = "URL")]
    pub registry_url: Option<String>,

    /// Registry public keys trusted to sign packages, as `key_id=base64,...` (the format of
    /// `ANIP_REGISTRY_EXTRA_PUBLIC_KEYS`); the receipt must be signed by one of them (the
    /// `trusted_key` check). As a flag, `--trusted-key ID=BASE64` may be repeated, as for
    /// `anip package verify`.
    #[arg(long, visible_alias = "trusted-key", env = "ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS", value_name = "ID=BASE64[,...]", value_parser = parse_trusted_keys)]
    pub trusted_registry_keys: Vec<String>,

    /// The only registry key id trusted to have signed the package's receipt (the
    /// `trusted_key_id` check), as `anip package verify --trusted-key-id`. A package signed by
    /// any other key, or not signed, is refused.
    #[arg(long, env = "ANIP_RUNTIME_TRUSTED_KEY_ID", value_name = "ID", value_parser = parse_key_id, default_value = "", hide_default_value = true)]
    pub trusted_key_id: Unset<String>,

    /// The signing mode the Registry must have signed in, `dev` or `production` (the
    /// `required_mode` check), as `anip package verify --require-mode`. `production` also
    /// refuses upstream's public development key; either refuses unsigned packages.
    #[arg(long, env = "ANIP_RUNTIME_REQUIRE_MODE", value_name = "dev|production", value_parser = parse_signing_mode, default_value = "", hide_default_value = true)]
    pub require_mode: Unset<SigningMode>,

    /// Accept a yanked package version (a warning), only to reproduce a pinned build, as
    /// `anip package verify --allow-yanked`. A taken down package is never served.
    #[arg(long, env = "ANIP_RUNTIME_ALLOW_YANKED", default_value = "0", value_parser = observability::flags::bool_env("ANIP_RUNTIME_ALLOW_YANKED"))]
    pub allow_yanked: bool,

    /// Refuse bundles without a verified registry signature.
    #[arg(long, env = "ANIP_RUNTIME_REQUIRE_SIGNED_BUNDLE", default_value = "0", value_parser = observability::flags::bool_env("ANIP_RUNTIME_REQUIRE_SIGNED_BUNDLE"))]
    pub require_signed_bundle: bool,

    /// Which service of a multi-service definition to serve (default: the first).
    #[arg(long, env = "ANIP_RUNTIME_SERVICE_ID")]
    pub service_id: Option<String>,

    /// Backend base URLs by connection id, `id=url,...`, overriding the package's defaults.
    #[arg(long, env = "ANIP_RUNTIME_BACKEND_URLS", value_parser = parse_backend_urls, default_value = "")]
    pub backend_urls: BackendUrls,

    /// A PEM bundle of CA certificates that HTTPS backends may also chain to (besides the
    /// public webpki roots), for backends behind a private CA.
    #[arg(long, env = "ANIP_RUNTIME_BACKEND_CA_FILE", value_name = "FILE")]
    pub backend_ca_file: Option<std::path::PathBuf>,

    /// Where to publish checkpoints, `URI,...` (https://…, or file:///dir for development), in
    /// place of the sinks the package declares.
    /// Checked at start by `audit::sinks::parse_list`, not by clap, whose refusal would repeat
    /// a URI's credentials.
    #[arg(
        long,
        env = "ANIP_RUNTIME_CHECKPOINT_SINKS",
        value_name = "URI[,...]",
        hide_env_values = true
    )]
    pub checkpoint_sinks: Option<String>,

    /// This replica's id for leases (default: host name, process id and a random suffix).
    #[arg(long, env = "ANIP_RUNTIME_REPLICA_ID")]
    pub replica_id: Option<String>,

    /// Seconds between retention sweeps (0 disables the sweeper in this replica).
    #[arg(
        long,
        env = "ANIP_RUNTIME_RETENTION_INTERVAL_SECONDS",
        default_value_t = 60
    )]
    pub retention_interval_seconds: u64,
}

/// Subcommands besides serving.
#[derive(Subcommand)]
pub enum Command {
    /// Packs a service definition into a local, unsigned `anip-package-bundle/v1` file.
    Pack {
        /// The `anip-service-definition/v1` JSON file.
        #[arg(long)]
        definition: PathBuf,
        /// The package id.
        #[arg(long)]
        package_id: String,
        /// The package version.
        #[arg(long)]
        package_version: String,
        /// The publication time written into the bundle (RFC 3339).
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        issued_at: String,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
    },
}

impl Config {
    /// The verification policy the package must pass: the pinned keys, trusted key id and
    /// required mode, as `anip package verify` applies them. Fails when two pinned entries give
    /// one key id different keys.
    pub fn verify_policy(&self) -> Result<registry_client::VerifyPolicy, signing::SigningError> {
        let pinned = PublicKeySet::parse_list(&self.trusted_registry_keys.join(","))?;
        Ok(registry_client::VerifyPolicy {
            required_mode: self.require_mode.0,
            trusted_key_id: self.trusted_key_id.0.clone(),
            trusted_keys: (!pinned.is_empty()).then_some(pinned),
            allow_yanked: self.allow_yanked,
            ..registry_client::VerifyPolicy::default()
        })
    }
}

/// Checks `key_id=base64,...` at start (an empty value pins nothing) and keeps the text.
pub fn parse_trusted_keys(raw: &str) -> Result<String, String> {
    PublicKeySet::parse_list(raw)
        .map(|_| raw.to_owned())
        .map_err(|e| format!("ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS: {e}"))
}

/// An optional setting that an empty value leaves unset, as deployment files write a variable
/// they do not set (`ANIP_RUNTIME_REQUIRE_MODE=""`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unset<T>(pub Option<T>);

impl<T> Default for Unset<T> {
    fn default() -> Self {
        Unset(None)
    }
}

fn unless_empty<T>(
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Unset<T>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        Ok(Unset(None))
    } else {
        parse(raw).map(|value| Unset(Some(value)))
    }
}

/// Parses `ID@VERSION`, naming the variable when it is malformed.
pub fn parse_package_ref(raw: &str) -> Result<Unset<PackageRef>, String> {
    unless_empty(raw, |raw| {
        PackageRef::parse(raw).map_err(|e| format!("ANIP_RUNTIME_PACKAGE: {e}"))
    })
}

/// Parses `dev` or `production`, naming the variable when it is neither.
pub fn parse_signing_mode(raw: &str) -> Result<Unset<SigningMode>, String> {
    unless_empty(raw, |raw| {
        raw.parse()
            .map_err(|e: String| format!("ANIP_RUNTIME_REQUIRE_MODE: {e}"))
    })
}

/// A key id, as the Registry's `ANIP_REGISTRY_KEY_ID` names it.
pub fn parse_key_id(raw: &str) -> Result<Unset<String>, String> {
    unless_empty(raw, |raw| {
        signing::KeyId::new(raw)
            .map(|id| id.as_str().to_owned())
            .map_err(|e| format!("ANIP_RUNTIME_TRUSTED_KEY_ID: {e}"))
    })
}

/// Connection id → base URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendUrls(pub BTreeMap<String, String>);

/// Parses `id=url,id2=url2`.
pub fn parse_backend_urls(raw: &str) -> Result<BackendUrls, String> {
    let mut map = BTreeMap::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, url) = part
            .split_once('=')
            .ok_or_else(|| format!("expected id=url, got {part:?}"))?;
        let (id, url) = (id.trim(), url.trim());
        if id.is_empty() || !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "entry for {id:?} needs a non-empty id and an http(s) URL"
            ));
        }
        map.insert(id.to_owned(), url.to_owned());
    }
    Ok(BackendUrls(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_urls_parse() {
        let urls = parse_backend_urls("flight=http://127.0.0.1:9200, hotel=https://h").unwrap();
        assert_eq!(urls.0["flight"], "http://127.0.0.1:9200");
        assert!(parse_backend_urls("flight=ftp://x").is_err());
        assert!(parse_backend_urls("nourl").is_err());
        assert!(parse_backend_urls("").unwrap().0.is_empty());
    }

    fn public_key() -> String {
        signing::SigningKey::generate()
            .unwrap()
            .0
            .verifying_key()
            .to_base64()
    }

    #[test]
    fn trust_options_read_as_anip_package_verify_reads_them() {
        let (a, b) = (
            format!("root-a={}", public_key()),
            format!("root-b={}", public_key()),
        );
        let config = Config::try_parse_from([
            "anip-runtime",
            "--package",
            "flight-service@1.0.0",
            "--registry-url",
            "http://127.0.0.1:8200",
            "--trusted-key-id",
            "root-a",
            "--require-mode",
            "production",
            "--trusted-key",
            &a,
            "--trusted-key",
            &b,
        ])
        .unwrap();
        assert_eq!(
            config.package.0,
            Some(PackageRef::new("flight-service", "1.0.0"))
        );
        let policy = config.verify_policy().unwrap();
        assert_eq!(policy.required_mode, Some(SigningMode::Production));
        assert_eq!(policy.trusted_key_id.as_deref(), Some("root-a"));
        let pinned = policy.trusted_keys.unwrap();
        assert!(pinned.get("root-a").is_some() && pinned.get("root-b").is_some());
        assert!(!policy.allow_yanked);

        // The long name of the environment variable's flag, a comma-separated list, works too.
        let config = Config::try_parse_from([
            "anip-runtime",
            "--trusted-registry-keys",
            &format!("{a},{b}"),
        ])
        .unwrap();
        assert_eq!(
            config.verify_policy().unwrap().trusted_keys.unwrap().len(),
            2
        );
    }

    #[test]
    fn empty_trust_options_are_unset_and_bad_ones_name_their_variable() {
        let config = Config::try_parse_from([
            "anip-runtime",
            "--package=",
            "--trusted-key-id=",
            "--require-mode=",
            "--trusted-key=",
        ])
        .unwrap();
        assert_eq!(config.package.0, None);
        let policy = config.verify_policy().unwrap();
        assert!(policy.required_mode.is_none());
        assert!(policy.trusted_key_id.is_none());
        assert!(policy.trusted_keys.is_none());

        for (flag, value, variable) in [
            ("--require-mode", "staging", "ANIP_RUNTIME_REQUIRE_MODE"),
            ("--package", "flight-service", "ANIP_RUNTIME_PACKAGE"),
            (
                "--trusted-key",
                "root-a",
                "ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS",
            ),
            ("--trusted-key-id", "bad id", "ANIP_RUNTIME_TRUSTED_KEY_ID"),
        ] {
            let error = Config::try_parse_from(["anip-runtime", flag, value])
                .err()
                .unwrap_or_else(|| panic!("{flag} {value} was accepted"));
            assert!(error.to_string().contains(variable), "{error}");
        }

        // One key id pinned to two different keys cannot be trusted at once.
        let config = Config::try_parse_from([
            "anip-runtime",
            "--trusted-key",
            &format!("root-a={}", public_key()),
            "--trusted-key",
            &format!("root-a={}", public_key()),
        ])
        .unwrap();
        assert!(config.verify_policy().is_err());
    }
}

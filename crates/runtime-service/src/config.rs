//! The runtime's configuration: flags and `ANIP_RUNTIME_*` environment variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    #[arg(long, env = "ANIP_RUNTIME_BUNDLE")]
    pub bundle: Option<PathBuf>,

    /// A package to fetch from a Registry, as `ID@VERSION` (with `--registry-url`).
    #[arg(long, env = "ANIP_RUNTIME_PACKAGE")]
    pub package: Option<String>,

    /// The Registry API base URL for `--package`.
    #[arg(long, env = "ANIP_RUNTIME_REGISTRY_URL")]
    pub registry_url: Option<String>,

    /// Registry public keys trusted to sign bundles, as `key_id=base64,...`.
    #[arg(long, env = "ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS", default_value = "")]
    pub trusted_registry_keys: String,

    /// Refuse bundles without a verified registry signature.
    #[arg(long, env = "ANIP_RUNTIME_REQUIRE_SIGNED_BUNDLE", default_value = "0", value_parser = observability::flags::bool_env("ANIP_RUNTIME_REQUIRE_SIGNED_BUNDLE"))]
    pub require_signed_bundle: bool,

    /// Which service of a multi-service definition to serve (default: the first).
    #[arg(long, env = "ANIP_RUNTIME_SERVICE_ID")]
    pub service_id: Option<String>,

    /// Backend base URLs by connection id, `id=url,...`, overriding the package's defaults.
    #[arg(long, env = "ANIP_RUNTIME_BACKEND_URLS", value_parser = parse_backend_urls, default_value = "")]
    pub backend_urls: BackendUrls,

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
}

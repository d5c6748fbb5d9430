//! Studio's configuration: flags and the environment variables the deployment guide names.

use std::path::PathBuf;

use clap::Parser;
use signing::secret::Secret;

/// The reason shown when read-only mode is on and `STUDIO_READ_ONLY_REASON` is not set.
pub const DEFAULT_READ_ONLY_REASON: &str =
    "This Studio is read-only: browsing is allowed, changes are not.";

/// Everything `studio-api` reads at start. Each field names its environment variable.
/// It derives no `Debug`: the database URL may hold a password, and tokens are secrets.
#[derive(Parser, Clone)]
#[command(
    name = "studio-api",
    version,
    about = "ANIP Studio: authoring service and UI"
)]
pub struct Config {
    /// Postgres connection string.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// Address to bind.
    #[arg(long, env = "STUDIO_BIND", default_value = "0.0.0.0")]
    pub bind: String,

    /// Port to listen on.
    #[arg(long, env = "STUDIO_API_PORT", default_value_t = 8100)]
    pub port: u16,

    /// Run pending migrations at startup.
    #[arg(long, env = "STUDIO_RUN_MIGRATIONS", default_value = "1", value_parser = observability::flags::bool_env("STUDIO_RUN_MIGRATIONS"))]
    pub run_migrations: bool,

    /// Apply migrations, report them, and exit.
    #[arg(long, env = "STUDIO_MIGRATE_ONLY", default_value = "0", value_parser = observability::flags::bool_env("STUDIO_MIGRATE_ONLY"))]
    pub migrate_only: bool,

    /// Refuse every change (every method but GET, HEAD and OPTIONS, except pure validation).
    #[arg(long, env = "STUDIO_READ_ONLY", default_value = "0", value_parser = observability::flags::bool_env("STUDIO_READ_ONLY"))]
    pub read_only: bool,

    /// The reason shown to users in read-only mode.
    #[arg(long, env = "STUDIO_READ_ONLY_REASON")]
    pub read_only_reason: Option<String>,

    /// In read-only mode, the connection string the server uses after migrations and seeding
    /// (a role that may only SELECT). Unset: keep `DATABASE_URL`.
    #[arg(long, env = "STUDIO_READ_ONLY_DATABASE_URL", hide_env_values = true)]
    pub read_only_database_url: Option<String>,

    /// Restore the showcase snapshots at start (idempotently, latest version per package).
    #[arg(long, env = "STUDIO_SEED_SHOWCASES", default_value = "0", value_parser = observability::flags::bool_env("STUDIO_SEED_SHOWCASES"))]
    pub seed_showcases: bool,

    /// A directory of extra `*.studio-project-snapshot.json` showcases to seed, besides the
    /// ones built into the binary.
    #[arg(long, env = "STUDIO_SHOWCASE_DIR")]
    pub showcase_dir: Option<PathBuf>,

    /// The Registry API base, e.g. `https://registry.example.com/registry-api/v1`.
    #[arg(long, env = "STUDIO_REGISTRY_URL")]
    pub registry_url: Option<String>,

    /// Bearer token for publishing to the Registry (a secret).
    #[arg(long, env = "STUDIO_REGISTRY_PUBLISH_TOKEN", hide_env_values = true)]
    pub registry_publish_token: Option<String>,

    /// The signing mode a Registry must report to be trusted: `dev` or `production`.
    #[arg(long, env = "STUDIO_REGISTRY_REQUIRED_MODE", value_parser = parse_registry_mode)]
    pub registry_required_mode: Option<String>,

    /// The only Registry receipt key id Studio trusts.
    #[arg(long, env = "STUDIO_REGISTRY_TRUSTED_KEY_ID")]
    pub registry_trusted_key_id: Option<String>,

    /// The model of the OpenAI-compatible assistant; unset means the rule-based assistant.
    #[arg(long, env = "STUDIO_ASSISTANT_MODEL")]
    pub assistant_model: Option<String>,

    /// API key of the OpenAI-compatible assistant (a secret).
    #[arg(long, env = "STUDIO_ASSISTANT_API_KEY", hide_env_values = true)]
    pub assistant_api_key: Option<String>,

    /// Base URL of the OpenAI-compatible assistant API.
    #[arg(long, env = "STUDIO_ASSISTANT_BASE_URL")]
    pub assistant_base_url: Option<String>,

    /// Largest accepted document upload, in bytes (413 beyond).
    #[arg(long, env = "STUDIO_MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_upload_bytes: usize,
}

/// The verifier's own vocabulary (`registry_client::SigningMode`), kept as its text.
fn parse_registry_mode(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Ok(String::new());
    }
    value
        .parse::<registry_client::SigningMode>()
        .map(|mode| mode.as_str().to_owned())
}

fn non_blank(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl Config {
    /// The runtime settings the application needs (everything but how to start).
    pub fn settings(&self) -> Settings {
        Settings {
            read_only: self.read_only,
            read_only_reason: non_blank(&self.read_only_reason)
                .unwrap_or_else(|| DEFAULT_READ_ONLY_REASON.to_owned()),
            registry_url: non_blank(&self.registry_url)
                .map(|url| url.trim_end_matches('/').to_owned()),
            registry_publish_token: non_blank(&self.registry_publish_token).map(Secret::new),
            registry_required_mode: non_blank(&self.registry_required_mode),
            registry_trusted_key_id: non_blank(&self.registry_trusted_key_id),
            assistant_model: non_blank(&self.assistant_model),
            assistant_api_key: non_blank(&self.assistant_api_key).map(Secret::new),
            assistant_base_url: non_blank(&self.assistant_base_url)
                .map(|url| url.trim_end_matches('/').to_owned()),
            max_upload_bytes: self.max_upload_bytes.max(1),
            seed_showcases: self.seed_showcases,
        }
    }
}

/// The settings the running application uses, resolved from the environment. Anything set
/// here is locked: the API and UI show it but refuse to change it.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Read-only mode.
    pub read_only: bool,
    /// What read-only refusals say.
    pub read_only_reason: String,
    /// `STUDIO_REGISTRY_URL`, without a trailing slash.
    pub registry_url: Option<String>,
    /// `STUDIO_REGISTRY_PUBLISH_TOKEN`.
    pub registry_publish_token: Option<Secret>,
    /// `STUDIO_REGISTRY_REQUIRED_MODE` (`dev` or `production`).
    pub registry_required_mode: Option<String>,
    /// `STUDIO_REGISTRY_TRUSTED_KEY_ID`.
    pub registry_trusted_key_id: Option<String>,
    /// `STUDIO_ASSISTANT_MODEL`.
    pub assistant_model: Option<String>,
    /// `STUDIO_ASSISTANT_API_KEY`.
    pub assistant_api_key: Option<Secret>,
    /// `STUDIO_ASSISTANT_BASE_URL`.
    pub assistant_base_url: Option<String>,
    /// `STUDIO_MAX_UPLOAD_BYTES`.
    pub max_upload_bytes: usize,
    /// `STUDIO_SEED_SHOWCASES`.
    pub seed_showcases: bool,
}

impl Settings {
    /// Defaults for a writable Studio with nothing configured (tests start from here).
    pub fn for_tests() -> Self {
        Settings {
            read_only_reason: DEFAULT_READ_ONLY_REASON.to_owned(),
            max_upload_bytes: 10 * 1024 * 1024,
            ..Settings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_mode_is_dev_or_production() {
        assert_eq!(parse_registry_mode("Production"), Ok("production".into()));
        assert_eq!(parse_registry_mode("dev"), Ok("dev".into()));
        assert!(parse_registry_mode("staging").is_err());
    }

    #[test]
    fn settings_trim_and_default() {
        let config = Config::parse_from([
            "studio-api",
            "--database-url",
            "postgres://x@localhost/db",
            "--registry-url",
            "http://r.example/registry-api/v1/",
            "--read-only-reason",
            "  ",
        ]);
        let settings = config.settings();
        assert_eq!(
            settings.registry_url.as_deref(),
            Some("http://r.example/registry-api/v1")
        );
        assert_eq!(settings.read_only_reason, DEFAULT_READ_ONLY_REASON);
        assert!(settings.registry_publish_token.is_none());
    }
}

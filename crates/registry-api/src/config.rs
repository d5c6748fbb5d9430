//! Configuration: every setting is a command-line option and an environment variable named as
//! the deployment guide names it. Values are checked here, at start, with errors that name the
//! variable and never echo a secret.

use std::fmt;
use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};
use signing::ed25519::{SigningKey, DEV_KEY_ID};
use signing::{KeyId, PublicKeySet, Secret};

/// How the registry signs receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Local development: a generated key is used when none is configured.
    Dev,
    /// A public registry: a configured, non-development key is mandatory.
    Production,
}

impl Mode {
    /// The `signing_mode` value the API reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dev => "dev",
            Mode::Production => "production",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn parse_mode(value: &str) -> Result<Mode, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "dev" => Ok(Mode::Dev),
        "production" => Ok(Mode::Production),
        _ => Err("ANIP_REGISTRY_MODE must be dev or production".to_owned()),
    }
}

fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value.trim()))
}

/// The ANIP Registry's settings.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "anip-registry",
    version,
    about = "The ANIP Registry: signed package distribution"
)]
pub struct Config {
    /// Listen address, `:PORT` (all interfaces) or `HOST:PORT`.
    #[arg(long, env = "ANIP_REGISTRY_ADDR", default_value = ":8200")]
    pub addr: String,

    /// Overrides the port of ANIP_REGISTRY_ADDR.
    #[arg(long)]
    pub port: Option<u16>,

    /// Overrides the host of ANIP_REGISTRY_ADDR.
    #[arg(long)]
    pub bind: Option<String>,

    /// PostgreSQL connection URL (postgres://user:password@host:port/database).
    #[arg(long, env = "ANIP_REGISTRY_DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub database_url: Secret,

    /// Signing mode: dev or production.
    #[arg(long, env = "ANIP_REGISTRY_MODE", default_value = "dev", value_parser = parse_mode)]
    pub mode: Mode,

    /// Id of the active Ed25519 signing key.
    #[arg(long, env = "ANIP_REGISTRY_KEY_ID")]
    pub key_id: Option<String>,

    /// Base64 Ed25519 private key (32-byte seed or 64-byte key).
    #[arg(long, env = "ANIP_REGISTRY_ED25519_PRIVATE_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub ed25519_private_key: Option<Secret>,

    /// Earlier public keys that still verify old receipts: `id=base64,id=base64`.
    #[arg(long, env = "ANIP_REGISTRY_EXTRA_PUBLIC_KEYS")]
    pub extra_public_keys: Option<String>,

    /// Bearer token that publishes as ANIP_REGISTRY_PUBLISHER_ID.
    #[arg(long, env = "ANIP_REGISTRY_PUBLISH_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub publish_token: Option<Secret>,

    /// The first-party publisher the publish token acts as.
    #[arg(
        long,
        env = "ANIP_REGISTRY_PUBLISHER_ID",
        default_value = "studio-local"
    )]
    pub publisher_id: String,

    /// The first-party publisher's kind (organization, official, individual, ...).
    #[arg(long, env = "ANIP_REGISTRY_PUBLISHER_TYPE", default_value = "studio")]
    pub publisher_type: String,

    /// Bearer token for the admin routes.
    #[arg(long, env = "ANIP_REGISTRY_ADMIN_TOKEN", hide_env_values = true, value_parser = parse_secret)]
    pub admin_token: Option<Secret>,

    /// Run pending migrations at start.
    #[arg(long, env = "ANIP_REGISTRY_RUN_MIGRATIONS", default_value = "true", value_parser = observability::flags::bool_env("ANIP_REGISTRY_RUN_MIGRATIONS"), action = ArgAction::Set)]
    pub run_migrations: bool,

    /// Run pending migrations, report, and exit.
    #[arg(long, env = "ANIP_REGISTRY_MIGRATE_ONLY", default_value = "false", value_parser = observability::flags::bool_env("ANIP_REGISTRY_MIGRATE_ONLY"), action = ArgAction::Set)]
    pub migrate_only: bool,

    /// Import the demo bundles from ANIP_REGISTRY_SEED_DIR at start.
    #[arg(long, env = "ANIP_REGISTRY_SEED_DEMO", default_value = "false", value_parser = observability::flags::bool_env("ANIP_REGISTRY_SEED_DEMO"), action = ArgAction::Set)]
    pub seed_demo: bool,

    /// Directory of `*.anip-package.json` bundles that ANIP_REGISTRY_SEED_DEMO imports.
    #[arg(long, env = "ANIP_REGISTRY_SEED_DIR")]
    pub seed_dir: Option<PathBuf>,

    /// Public URL of this registry (e.g. https://registry.example.com), used for `registry_url`
    /// in locks instead of the request's Host header.
    #[arg(long, env = "ANIP_REGISTRY_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Dev mode only: file holding the generated signing key (created on first start). Without
    /// it the generated key is kept in the database, shared by every replica.
    #[arg(long, env = "ANIP_REGISTRY_DEV_KEY_FILE")]
    pub dev_key_file: Option<PathBuf>,

    /// Maximum database connections of this process.
    #[arg(long, env = "ANIP_REGISTRY_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,

    /// Memory for cached package downloads, in MiB (0 turns the cache off).
    #[arg(long, env = "ANIP_REGISTRY_DOWNLOAD_CACHE_MB", default_value_t = 256)]
    pub download_cache_mb: usize,

    /// How long a page of `GET publications` (and the browse list) is served from memory, in
    /// milliseconds: the bound on how stale download-count ordering may be (0 turns the listing
    /// cache off). Writes that change listings invalidate it at once, in every replica.
    #[arg(
        long,
        env = "ANIP_REGISTRY_LISTING_CACHE_TTL_MS",
        default_value_t = 1000
    )]
    pub listing_cache_ttl_ms: u64,

    /// The most listed versions the in-memory catalogue holds (about 2 KB each, twice while it
    /// reloads); a larger catalogue is not loaded and lists query Postgres. 0 turns the
    /// catalogue off.
    #[arg(
        long,
        env = "ANIP_REGISTRY_CATALOGUE_MAX_VERSIONS",
        default_value_t = 150_000
    )]
    pub catalogue_max_versions: i64,

    /// GitHub OAuth app client id: enables browser sign-in (`auth/github/start`).
    #[arg(long, env = "ANIP_REGISTRY_GITHUB_CLIENT_ID")]
    pub github_client_id: Option<String>,

    /// GitHub OAuth app client secret.
    #[arg(long, env = "ANIP_REGISTRY_GITHUB_CLIENT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub github_client_secret: Option<Secret>,

    /// GitHub's web base URL (authorize and token endpoints); GitHub Enterprise or a test server.
    #[arg(
        long,
        env = "ANIP_REGISTRY_GITHUB_OAUTH_URL",
        default_value = "https://github.com"
    )]
    pub github_oauth_url: String,

    /// GitHub's API base URL (the user endpoint).
    #[arg(
        long,
        env = "ANIP_REGISTRY_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,

    /// Mark session cookies Secure (they are also Secure when the public base URL is https).
    #[arg(long, env = "ANIP_REGISTRY_SESSION_COOKIE_SECURE", default_value = "false", value_parser = observability::flags::bool_env("ANIP_REGISTRY_SESSION_COOKIE_SECURE"), action = ArgAction::Set)]
    pub session_cookie_secure: bool,

    /// GitHub logins (comma-separated) whose browser sessions may use the admin routes.
    #[arg(long, env = "ANIP_REGISTRY_ADMIN_GITHUB_LOGINS")]
    pub admin_github_logins: Option<String>,
}

/// A configuration problem, naming the variable at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable (or option) at fault.
    pub variable: &'static str,
    /// What is wrong; never contains a secret value.
    pub problem: String,
}

fn config_error(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    pub host: String,
    pub port: u16,
}

/// The signing key the configuration names, checked; `None` in dev mode when no key is set
/// (the registry then uses its generated dev key).
#[derive(Debug)]
pub struct ConfiguredKey {
    pub key_id: KeyId,
    pub key: SigningKey,
}

/// Minimum length of bearer tokens in production mode.
pub const MIN_PRODUCTION_TOKEN_LEN: usize = 24;

impl Config {
    /// Where to listen: ANIP_REGISTRY_ADDR with `--bind`/`--port` applied.
    pub fn listen_addr(&self) -> Result<ListenAddr, ConfigError> {
        let addr = self.addr.trim();
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| config_error("ANIP_REGISTRY_ADDR", "expected :PORT or HOST:PORT"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| config_error("ANIP_REGISTRY_ADDR", format!("invalid port {port:?}")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        Ok(ListenAddr {
            host: self.bind.clone().unwrap_or_else(|| host.to_owned()),
            port: self.port.unwrap_or(port),
        })
    }

    /// The public base URL without a trailing slash, if configured.
    pub fn public_base_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = self
            .public_base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://"))
            || url.contains(char::is_whitespace)
        {
            return Err(config_error(
                "ANIP_REGISTRY_PUBLIC_BASE_URL",
                "must be an http(s) URL",
            ));
        }
        Ok(Some(url.trim_end_matches('/').to_owned()))
    }

    /// The publish token, unless unset or blank.
    pub fn publish_token(&self) -> Option<&Secret> {
        self.publish_token.as_ref().filter(|t| !t.is_blank())
    }

    /// The admin token, unless unset or blank.
    pub fn admin_token(&self) -> Option<&Secret> {
        self.admin_token.as_ref().filter(|t| !t.is_blank())
    }

    /// The GitHub OAuth app, when ANIP_REGISTRY_GITHUB_CLIENT_ID is set: the secret is then
    /// required, and the GitHub URLs must be http(s) (https in production mode).
    pub fn github(&self) -> Result<Option<crate::github::GitHubSettings>, ConfigError> {
        let Some(client_id) = self
            .github_client_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
        else {
            return Ok(None);
        };
        let client_secret = self
            .github_client_secret
            .as_ref()
            .filter(|s| !s.is_blank())
            .cloned()
            .ok_or_else(|| {
                config_error(
                    "ANIP_REGISTRY_GITHUB_CLIENT_SECRET",
                    "is required with ANIP_REGISTRY_GITHUB_CLIENT_ID",
                )
            })?;
        let url = |variable: &'static str, value: &str| -> Result<String, ConfigError> {
            let value = value.trim().trim_end_matches('/');
            let lower = value.to_ascii_lowercase();
            let https = lower.starts_with("https://");
            if !(https || lower.starts_with("http://")) || value.contains(char::is_whitespace) {
                return Err(config_error(variable, "must be an http(s) URL"));
            }
            if self.mode == Mode::Production && !https {
                return Err(config_error(variable, "must be https in production mode"));
            }
            Ok(value.to_owned())
        };
        Ok(Some(crate::github::GitHubSettings {
            client_id: client_id.to_owned(),
            client_secret,
            oauth_url: url("ANIP_REGISTRY_GITHUB_OAUTH_URL", &self.github_oauth_url)?,
            api_url: url("ANIP_REGISTRY_GITHUB_API_URL", &self.github_api_url)?,
        }))
    }

    /// Browser session settings: Secure cookies when configured or when the public base URL is
    /// https, the admin logins (lower-cased), and the origin state-changing requests must have.
    pub fn session_settings(&self) -> Result<crate::auth::SessionSettings, ConfigError> {
        let public = self.public_base_url()?;
        let public_origin = public.as_deref().map(|url| {
            let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
            let host = rest.split('/').next().unwrap_or(rest);
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        });
        let https = public_origin
            .as_deref()
            .is_some_and(|origin| origin.starts_with("https://"));
        let mut admin_logins: Vec<String> = Vec::new();
        for login in self
            .admin_github_logins
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty())
        {
            if !admin_logins.contains(&login) {
                admin_logins.push(login);
            }
        }
        Ok(crate::auth::SessionSettings {
            cookie_secure: self.session_cookie_secure || https,
            admin_logins,
            public_origin,
        })
    }

    /// Checks everything that needs no database: mode rules, key material, tokens, publisher,
    /// URLs. Production refuses a missing, malformed or development signing key.
    pub fn check(&self) -> Result<Option<ConfiguredKey>, ConfigError> {
        self.listen_addr()?;
        self.public_base_url()?;
        self.github()?;
        if self.publisher_id.trim().is_empty() || self.publisher_id.len() > 128 {
            return Err(config_error(
                "ANIP_REGISTRY_PUBLISHER_ID",
                "must be 1 to 128 characters",
            ));
        }
        if self.publisher_type.trim().is_empty() || self.publisher_type.len() > 40 {
            return Err(config_error(
                "ANIP_REGISTRY_PUBLISHER_TYPE",
                "must be 1 to 40 characters",
            ));
        }
        if let Some(path) = &self.seed_dir {
            if self.seed_demo && path.as_os_str().is_empty() {
                return Err(config_error("ANIP_REGISTRY_SEED_DIR", "is empty"));
            }
        }
        let extra = self.extra_public_keys()?;
        let key = self.configured_key()?;
        if self.mode == Mode::Production {
            let Some(key) = &key else {
                let variable = if self.key_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
                    "ANIP_REGISTRY_KEY_ID"
                } else {
                    "ANIP_REGISTRY_ED25519_PRIVATE_KEY"
                };
                return Err(config_error(variable, "is required in production mode"));
            };
            if key.key.is_dev_key() {
                return Err(config_error(
                    "ANIP_REGISTRY_ED25519_PRIVATE_KEY",
                    "is the upstream development key, which anyone can derive from a public string; \
                     generate a private production key",
                ));
            }
            if key.key_id.as_str() == DEV_KEY_ID {
                return Err(config_error(
                    "ANIP_REGISTRY_KEY_ID",
                    format!("{DEV_KEY_ID} is the upstream development key id; choose your own"),
                ));
            }
            let dev_public = SigningKey::dev().verifying_key();
            if extra.iter().any(|(_, key)| *key == dev_public) {
                return Err(config_error(
                    "ANIP_REGISTRY_EXTRA_PUBLIC_KEYS",
                    "lists the upstream development key, which would let anyone forge receipts",
                ));
            }
            for (variable, token) in [
                ("ANIP_REGISTRY_PUBLISH_TOKEN", self.publish_token()),
                ("ANIP_REGISTRY_ADMIN_TOKEN", self.admin_token()),
            ] {
                if token.is_some_and(|t| t.expose().len() < MIN_PRODUCTION_TOKEN_LEN) {
                    return Err(config_error(
                        variable,
                        format!("must be at least {MIN_PRODUCTION_TOKEN_LEN} characters in production mode"),
                    ));
                }
            }
        }
        Ok(key)
    }

    /// The extra public keys, parsed.
    pub fn extra_public_keys(&self) -> Result<PublicKeySet, ConfigError> {
        match self.extra_public_keys.as_deref().map(str::trim) {
            None | Some("") => Ok(PublicKeySet::new()),
            Some(list) => PublicKeySet::parse_list(list)
                .map_err(|e| config_error("ANIP_REGISTRY_EXTRA_PUBLIC_KEYS", e.to_string())),
        }
    }

    fn configured_key(&self) -> Result<Option<ConfiguredKey>, ConfigError> {
        let key_id = self
            .key_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty());
        let private = self.ed25519_private_key.as_ref().filter(|k| !k.is_blank());
        let Some(private) = private else {
            return Ok(None);
        };
        // The decoding errors describe lengths and encodings only, never the key material.
        let key = SigningKey::from_base64(private.expose()).map_err(|e| {
            config_error(
                "ANIP_REGISTRY_ED25519_PRIVATE_KEY",
                format!("is not a valid Ed25519 private key: {e}"),
            )
        })?;
        let key_id = match key_id {
            Some(id) => {
                KeyId::new(id).map_err(|e| config_error("ANIP_REGISTRY_KEY_ID", e.to_string()))?
            }
            None if self.mode == Mode::Production => {
                return Err(config_error(
                    "ANIP_REGISTRY_KEY_ID",
                    "is required in production mode",
                ));
            }
            None => crate::keys::derived_key_id(&key),
        };
        Ok(Some(ConfiguredKey { key_id, key }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signing::ed25519::DEV_KEY_SEED_TEXT;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut argv = vec![
            "anip-registry",
            "--database-url",
            "postgres://x@localhost/db",
        ];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv)
    }

    fn seed_b64(seed: [u8; 32]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(seed)
    }

    #[test]
    fn addresses() {
        let config = parse(&[]).unwrap();
        assert_eq!(
            config.listen_addr().unwrap(),
            ListenAddr {
                host: "0.0.0.0".into(),
                port: 8200
            }
        );
        let config = parse(&["--addr", "127.0.0.1:9000"]).unwrap();
        assert_eq!(
            config.listen_addr().unwrap(),
            ListenAddr {
                host: "127.0.0.1".into(),
                port: 9000
            }
        );
        let config = parse(&["--addr", "[::1]:9000", "--port", "1234"]).unwrap();
        assert_eq!(
            config.listen_addr().unwrap(),
            ListenAddr {
                host: "::1".into(),
                port: 1234
            }
        );
        let config = parse(&["--addr", ":80", "--bind", "127.0.0.2"]).unwrap();
        assert_eq!(config.listen_addr().unwrap().host, "127.0.0.2");
        assert!(parse(&["--addr", "8200"]).unwrap().listen_addr().is_err());
        assert!(parse(&["--addr", ":http"]).unwrap().listen_addr().is_err());
    }

    #[test]
    fn booleans_and_modes_are_strict() {
        let config = parse(&["--run-migrations", "off", "--seed-demo", "YES"]).unwrap();
        assert!(!config.run_migrations);
        assert!(config.seed_demo);
        assert!(parse(&["--run-migrations", "maybe"]).is_err());
        assert!(parse(&["--mode", "staging"]).is_err());
        assert_eq!(
            parse(&["--mode", "Production"]).unwrap().mode,
            Mode::Production
        );
    }

    #[test]
    fn production_refuses_missing_dev_and_malformed_keys_without_echoing_them() {
        let missing = parse(&["--mode", "production"])
            .unwrap()
            .check()
            .unwrap_err();
        assert_eq!(missing.variable, "ANIP_REGISTRY_KEY_ID");

        let no_key = parse(&["--mode", "production", "--key-id", "k1"])
            .unwrap()
            .check()
            .unwrap_err();
        assert_eq!(no_key.variable, "ANIP_REGISTRY_ED25519_PRIVATE_KEY");

        let dev_seed = seed_b64(signing::digest::sha256(DEV_KEY_SEED_TEXT.as_bytes()));
        let dev = parse(&[
            "--mode",
            "production",
            "--key-id",
            "k1",
            "--ed25519-private-key",
            &dev_seed,
        ])
        .unwrap()
        .check()
        .unwrap_err();
        assert_eq!(dev.variable, "ANIP_REGISTRY_ED25519_PRIVATE_KEY");
        assert!(dev.to_string().contains("development key"), "{dev}");
        assert!(!dev.to_string().contains(&dev_seed));

        let malformed = "not!base64!secret-material";
        let bad = parse(&[
            "--mode",
            "production",
            "--key-id",
            "k1",
            "--ed25519-private-key",
            malformed,
        ])
        .unwrap()
        .check()
        .unwrap_err();
        assert_eq!(bad.variable, "ANIP_REGISTRY_ED25519_PRIVATE_KEY");
        assert!(!bad.to_string().contains(malformed), "{bad}");

        let good = seed_b64([7u8; 32]);
        let ok = parse(&[
            "--mode",
            "production",
            "--key-id",
            "prod-1",
            "--ed25519-private-key",
            &good,
        ])
        .unwrap()
        .check()
        .unwrap();
        assert_eq!(ok.unwrap().key_id.as_str(), "prod-1");

        let short_token = parse(&[
            "--mode",
            "production",
            "--key-id",
            "prod-1",
            "--ed25519-private-key",
            &good,
            "--publish-token",
            "short",
        ])
        .unwrap()
        .check()
        .unwrap_err();
        assert_eq!(short_token.variable, "ANIP_REGISTRY_PUBLISH_TOKEN");
    }

    #[test]
    fn github_sign_in_settings_are_checked() {
        assert!(parse(&[]).unwrap().github().unwrap().is_none());
        let no_secret = parse(&["--github-client-id", "app"])
            .unwrap()
            .check()
            .unwrap_err();
        assert_eq!(no_secret.variable, "ANIP_REGISTRY_GITHUB_CLIENT_SECRET");
        let github = parse(&[
            "--github-client-id",
            "app",
            "--github-client-secret",
            "gh-secret-value",
            "--github-oauth-url",
            "http://127.0.0.1:9/",
        ])
        .unwrap();
        let settings = github.github().unwrap().unwrap();
        assert_eq!(settings.oauth_url, "http://127.0.0.1:9");
        assert_eq!(settings.api_url, "https://api.github.com");
        assert!(!format!("{github:?}").contains("gh-secret-value"));
        let Err(production) = parse(&[
            "--mode",
            "production",
            "--github-client-id",
            "app",
            "--github-client-secret",
            "s",
            "--github-api-url",
            "http://api.example",
        ])
        .unwrap()
        .github() else {
            panic!("plain http is refused in production mode");
        };
        assert_eq!(production.variable, "ANIP_REGISTRY_GITHUB_API_URL");

        let sessions = parse(&[
            "--public-base-url",
            "HTTPS://Registry.Example.com/base/",
            "--admin-github-logins",
            " Alice,bob,alice,, ",
        ])
        .unwrap()
        .session_settings()
        .unwrap();
        assert!(sessions.cookie_secure);
        assert_eq!(sessions.admin_logins, ["alice", "bob"]);
        assert_eq!(
            sessions.public_origin.as_deref(),
            Some("https://registry.example.com")
        );
        let plain = parse(&["--session-cookie-secure", "no"])
            .unwrap()
            .session_settings()
            .unwrap();
        assert!(!plain.cookie_secure && plain.public_origin.is_none());
    }

    #[test]
    fn dev_mode_without_key_is_fine_and_secrets_are_redacted() {
        let config = parse(&["--publish-token", "tok-123"]).unwrap();
        assert!(config.check().unwrap().is_none());
        let debug = format!("{config:?}");
        assert!(!debug.contains("tok-123"), "{debug}");
        assert!(!debug.contains("postgres://x@localhost"), "{debug}");
    }
}

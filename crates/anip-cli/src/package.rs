//! `anip package verify | publish | pull`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args, Subcommand};
use registry_client::{
    fetch_and_verify, read_file_limited, redact_secret_in_json, redact_secret_in_text,
    verify_bundle, Check, CheckName, CheckStatus, PackageBundle, PackageRef, RegistryClient,
    RegistryError, SigningMode, VerificationReport, VerifyPolicy, DEFAULT_MAX_FILE_BYTES,
};
use serde_json::{json, Value};
use signing::{PublicKeySet, Secret};

use crate::Outcome;

/// Registry package commands.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Verify a package from a Registry or from a bundle file, printing every check. Exits 0
    /// when every check passes, 1 when one fails, 2 on a usage, file or network error.
    Verify(VerifyArgs),
    /// Publish a package (POST publications) and print its receipt. The token is read from an
    /// environment variable, never from the command line. Exits 1 when the registry refuses.
    Publish(PublishArgs),
    /// Download a package, verify it, and write it as an `anip-package-bundle/v1` file. Nothing
    /// is written when a check fails (exit 1).
    Pull(PullArgs),
}

/// What the verifier insists on beyond the always-on checks.
#[derive(Debug, Args)]
struct PolicyArgs {
    /// Require the registry's signing mode (`production` also refuses upstream's public dev
    /// key).
    #[arg(long, value_name = "dev|production")]
    require_mode: Option<SigningMode>,
    /// Require the receipt to be signed by the key with this id.
    #[arg(long, value_name = "ID")]
    trusted_key_id: Option<String>,
    /// Pin a registry public key (`ID=BASE64`, as ANIP_REGISTRY_EXTRA_PUBLIC_KEYS; repeatable):
    /// the receipt must be signed by one of them. Offline, this is what makes a bundle's key
    /// trustworthy.
    #[arg(long, value_name = "ID=BASE64")]
    trusted_key: Vec<String>,
    /// Accept a yanked package (only to reproduce a pinned build). Taken down packages are
    /// never accepted.
    #[arg(long)]
    allow_yanked: bool,
    /// Fail legacy packages that have no package execution signature (a warning otherwise).
    #[arg(long)]
    require_execution_signature: bool,
}

impl PolicyArgs {
    fn policy(&self) -> anyhow::Result<VerifyPolicy> {
        let trusted_keys = if self.trusted_key.is_empty() {
            None
        } else {
            Some(PublicKeySet::parse_list(&self.trusted_key.join(",")).context("--trusted-key")?)
        };
        Ok(VerifyPolicy {
            required_mode: self.require_mode,
            trusted_key_id: self.trusted_key_id.clone(),
            trusted_keys,
            allow_yanked: self.allow_yanked,
            require_execution_signature: self.require_execution_signature,
            ..VerifyPolicy::default()
        })
    }
}

/// Where to reach the Registry.
#[derive(Debug, Args)]
struct RegistryArgs {
    /// Seconds before a registry request is abandoned.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

impl RegistryArgs {
    fn client(&self, url: &str, token: Option<Secret>) -> anyhow::Result<RegistryClient> {
        let mut builder =
            RegistryClient::builder(url).timeout(Duration::from_secs(self.timeout.max(1)));
        if let Some(token) = token {
            builder = builder.token(token);
        }
        Ok(builder.build()?)
    }
}

/// Arguments of `anip package verify`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["package", "bundle"])))]
pub struct VerifyArgs {
    /// The Registry (`http://host:8200` or `.../registry-api/v1`).
    #[arg(long, value_name = "URL", requires = "package")]
    registry_url: Option<String>,
    /// The package to fetch from the Registry.
    #[arg(long, value_name = "ID@VERSION", requires = "registry_url")]
    package: Option<PackageRef>,
    /// An `anip-package-bundle/v1` file to verify offline.
    #[arg(long, value_name = "FILE", conflicts_with = "registry_url")]
    bundle: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Arguments of `anip package publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The Registry (`http://host:8200` or `.../registry-api/v1`).
    #[arg(long, value_name = "URL")]
    registry_url: String,
    /// The environment variable holding the publish token.
    #[arg(
        long,
        value_name = "VAR",
        default_value = "ANIP_REGISTRY_PUBLISH_TOKEN"
    )]
    token_env: String,
    /// The publish request (JSON: package_id, package_version, manifest, service_definition,
    /// recommended_lock, ...).
    #[arg(long, value_name = "PUBLISH_REQUEST.json")]
    file: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Arguments of `anip package pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The Registry (`http://host:8200` or `.../registry-api/v1`).
    #[arg(long, value_name = "URL")]
    registry_url: String,
    /// The package to pull.
    #[arg(long, value_name = "ID@VERSION")]
    package: PackageRef,
    /// Where to write the bundle.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Runs a package command.
pub fn run(command: PackageCommand) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match command {
        PackageCommand::Verify(args) => runtime.block_on(verify(args)),
        PackageCommand::Publish(args) => runtime.block_on(publish(args)),
        PackageCommand::Pull(args) => runtime.block_on(pull(args)),
    }
}

async fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let policy = args.policy.policy()?;
    let (source, report) = match (&args.bundle, &args.registry_url, &args.package) {
        (Some(path), _, _) => {
            let bundle = PackageBundle::read(path)?;
            (
                json!({"bundle": path.display().to_string()}),
                verify_bundle(&bundle, &policy),
            )
        }
        (None, Some(url), Some(package)) => {
            let client = args.registry.client(url, None)?;
            let source = json!({"registry_url": client.api_base(), "package": package.to_string()});
            match fetch(&client, package, &policy).await? {
                Fetched::Verified(_, report) => (source, report),
                Fetched::Gone(message) => return gone(&message, args.json, source),
            }
        }
        _ => bail!("give --bundle FILE, or --registry-url URL with --package ID@VERSION"),
    };
    print_report(&report, args.json, source)?;
    Ok(outcome(&report))
}

async fn pull(args: PullArgs) -> anyhow::Result<Outcome> {
    let policy = args.policy.policy()?;
    let client = args.registry.client(&args.registry_url, None)?;
    let source = json!({
        "registry_url": client.api_base(),
        "package": args.package.to_string(),
        "out": args.out.display().to_string(),
    });
    let (bundle, report) = match fetch(&client, &args.package, &policy).await? {
        Fetched::Verified(bundle, report) => (bundle, report),
        Fetched::Gone(message) => return gone(&message, args.json, source),
    };
    print_report(&report, args.json, source)?;
    if !report.ok() {
        eprintln!(
            "not writing {}: the package failed verification",
            args.out.display()
        );
        return Ok(Outcome::Failed);
    }
    bundle.write(&args.out)?;
    eprintln!("wrote {}", args.out.display());
    Ok(Outcome::Success)
}

async fn publish(args: PublishArgs) -> anyhow::Result<Outcome> {
    let token = match std::env::var(&args.token_env) {
        Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value)),
        Ok(_) => Err("is empty"),
        Err(std::env::VarError::NotPresent) => Err("is not set"),
        Err(std::env::VarError::NotUnicode(_)) => Err("is not valid UTF-8"),
    };
    let token = match token {
        Ok(token) => token,
        Err(problem) => bail!(
            "the publish token is read from the environment variable {}, which {problem}",
            args.token_env
        ),
    };
    // Whatever the registry sends back is printed with the token replaced: a registry that
    // echoes the Authorization header must not put the token on the terminal or in a log.
    let redact_text = |text: &str| redact_secret_in_text(text, token.expose());
    let text = read_file_limited(&args.file, DEFAULT_MAX_FILE_BYTES)?;
    let request: Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    if !request.is_object() {
        bail!("{} must hold a JSON object", args.file.display());
    }
    let client = args
        .registry
        .client(&args.registry_url, Some(token.clone()))?;
    match client.publish(&request).await {
        Ok(published) => {
            let receipt =
                redact_secret_in_json(serde_json::to_value(&published.receipt)?, token.expose());
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &receipt)?;
            writeln!(out)?;
            eprintln!(
                "{}",
                redact_text(&format!(
                    "published {}@{}",
                    published.package.package_id(),
                    published.package.package_version()
                ))
            );
            Ok(Outcome::Success)
        }
        Err(err @ RegistryError::Status { status, .. }) if (400..500).contains(&status) => {
            // The client already redacts what the registry said; this is a second guard.
            eprintln!("publish refused: {}", redact_text(&err.to_string()));
            Ok(Outcome::Failed)
        }
        Err(err) => bail!(
            "{}",
            redact_text(&format!("{:#}", anyhow::Error::from(err)))
        ),
    }
}

enum Fetched {
    Verified(Box<PackageBundle>, VerificationReport),
    /// The registry refuses the download (410: taken down).
    Gone(String),
}

async fn fetch(
    client: &RegistryClient,
    package: &PackageRef,
    policy: &VerifyPolicy,
) -> anyhow::Result<Fetched> {
    match fetch_and_verify(
        client,
        &package.package_id,
        &package.package_version,
        policy,
    )
    .await
    {
        Ok((bundle, report)) => Ok(Fetched::Verified(Box::new(bundle), report)),
        Err(err) if err.status() == Some(410) => {
            let message = match err.lifecycle() {
                Some(lifecycle) if !lifecycle.reason.is_empty() => {
                    format!("{}: {}", lifecycle.status, lifecycle.reason)
                }
                Some(lifecycle) => lifecycle.status,
                None => err.to_string(),
            };
            Ok(Fetched::Gone(format!(
                "the registry refuses {package}: {message}"
            )))
        }
        Err(err) => Err(err.into()),
    }
}

/// A package the registry no longer serves fails the `lifecycle` check.
fn gone(message: &str, as_json: bool, source: Value) -> anyhow::Result<Outcome> {
    let check = Check {
        name: CheckName::Lifecycle,
        status: CheckStatus::Fail,
        reason: message.to_owned(),
    };
    let mut out = std::io::stdout().lock();
    if as_json {
        let body = json!({
            "source": source,
            "ok": false,
            "checks": [check],
        });
        serde_json::to_writer_pretty(&mut out, &body)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{check}")?;
        writeln!(out, "NOT VERIFIED: {} failed", check.name)?;
    }
    Ok(Outcome::Failed)
}

fn outcome(report: &VerificationReport) -> Outcome {
    if report.ok() {
        Outcome::Success
    } else {
        Outcome::Failed
    }
}

fn print_report(report: &VerificationReport, as_json: bool, source: Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if as_json {
        let mut body = serde_json::to_value(report)?;
        if let Value::Object(map) = &mut body {
            map.insert("source".into(), source);
        }
        serde_json::to_writer_pretty(&mut out, &body)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{report}")?;
    Ok(())
}

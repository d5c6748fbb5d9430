//! `cargo xtask gates`: the deployment guide's release gates as one command.
//!
//! Each gate is one function that returns a [`Verdict`] with a one-line detail; the command
//! prints `PASS|FAIL|SKIP gate-name — detail` per gate and exits non-zero unless every gate
//! passed. A gate that did not run is `SKIP` and is never counted as a pass.
//!
//! By default the gates run against the local platform, started here (a fresh private
//! Postgres under `target/xtask-gates/`, the Registry, Studio, a second read-only Studio on the
//! same database, the flight backend and the runtime serving the flight example from the
//! Registry) and stopped afterwards. With `--registry-url`, `--studio-url`,
//! `--studio-public-url` or `--runtime-url` nothing is started: the gates check those deployed
//! URLs (post-deploy checks), and a gate whose URL or credential was not given is skipped.

mod build;
mod metadata;
mod registry;
mod runtime;
mod studio;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use signing::Secret;

use crate::local::workspace_root;
use crate::up::{Platform, PlatformOptions, EXAMPLE_PACKAGE};
use store::free_port;

#[derive(clap::Args)]
pub struct GatesArgs {
    /// A deployed Registry's base URL (e.g. https://registry.example.com); nothing is started.
    #[arg(long)]
    registry_url: Option<String>,
    /// A deployed Studio's base URL (health and metrics).
    #[arg(long)]
    studio_url: Option<String>,
    /// The public, read-only Studio's base URL (the read-only gates).
    #[arg(long)]
    studio_public_url: Option<String>,
    /// A deployed runtime's base URL (package, conformance and scenario gates).
    #[arg(long)]
    runtime_url: Option<String>,
    /// The runtime's bootstrap credential (an API key).
    #[arg(long, env = "ANIP_GATES_BOOTSTRAP_BEARER", hide_env_values = true)]
    bootstrap_bearer: Option<String>,
    /// The only Registry key id trusted to sign packages.
    #[arg(long)]
    trusted_key_id: Option<String>,
    /// Publish token for the Registry smoke's publication (without it the smoke is skipped).
    #[arg(long, env = "ANIP_REGISTRY_PUBLISH_TOKEN", hide_env_values = true)]
    publish_token: Option<String>,
    /// The Registry's public base URL for the browse gate (default: the Registry URL).
    #[arg(long)]
    public_base_url: Option<String>,
    /// The representative package, `ID@VERSION`.
    #[arg(long, default_value = EXAMPLE_PACKAGE)]
    package: String,
    /// Sample invoke inputs for the conformance suite (upstream `--sample-inputs` format).
    #[arg(
        long,
        default_value = "examples/flight-service/scenarios/sample-inputs.json"
    )]
    sample_inputs: PathBuf,
    /// Directory of `*.scenario.json` files.
    #[arg(long, default_value = "examples/flight-service/scenarios")]
    scenarios: PathBuf,
    /// Do not run the docs, CLI archive and image gates (post-deploy checks of artifacts built
    /// elsewhere): an explicit opt-out, shown as not run and not counted.
    #[arg(long)]
    skip_build_gates: bool,
}

/// What one gate found.
pub enum Verdict {
    Pass(String),
    Fail(String),
    Skip(String),
}

impl Verdict {
    fn label(&self) -> &'static str {
        match self {
            Verdict::Pass(_) => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "SKIP",
        }
    }
    fn detail(&self) -> &str {
        match self {
            Verdict::Pass(d) | Verdict::Fail(d) | Verdict::Skip(d) => d,
        }
    }
}

/// A gate's body: `Ok(verdict)`, or an error, which fails the gate with its message.
pub type GateResult = anyhow::Result<Verdict>;

/// A build gate: runs in the checkout at the given root.
type BuildGate = fn(&std::path::Path) -> GateResult;

fn verdict(result: GateResult) -> Verdict {
    result.unwrap_or_else(|e| Verdict::Fail(format!("{e:#}").replace('\n', " ")))
}

/// Where the gates look, local or deployed.
pub struct Targets {
    pub registry_url: Option<String>,
    pub studio_url: Option<String>,
    pub studio_read_only_url: Option<String>,
    pub runtime_url: Option<String>,
    pub bootstrap: Option<Secret>,
    pub trusted_key_id: Option<String>,
    /// The trusted key itself (`key_id=base64`), when known (the local platform's).
    pub trusted_public_key: Option<String>,
    pub publish_token: Option<Secret>,
    pub public_base_url: Option<String>,
    pub package: registry_client::PackageRef,
    pub sample_inputs: Value,
    pub scenarios: PathBuf,
}

impl Targets {
    pub fn registry_api(&self) -> Option<String> {
        self.registry_url
            .as_ref()
            .map(|u| format!("{}/registry-api/v1", u.trim_end_matches('/')))
    }

    pub fn conformance_target(&self) -> Option<anip_conformance::Target> {
        Some(anip_conformance::Target {
            base_url: self.runtime_url.clone()?,
            bootstrap_bearer: self.bootstrap.clone()?,
            sample_inputs: self.sample_inputs.clone(),
        })
    }
}

/// A gate printed as it finishes.
struct Line {
    name: &'static str,
    verdict: Verdict,
}

fn print(name: &'static str, verdict: Verdict, lines: &mut Vec<Line>) {
    println!("{} {name} — {}", verdict.label(), verdict.detail());
    lines.push(Line { name, verdict });
}

pub fn run(args: GatesArgs) -> anyhow::Result<()> {
    let root = workspace_root();
    let deployed = args.registry_url.is_some()
        || args.studio_url.is_some()
        || args.studio_public_url.is_some()
        || args.runtime_url.is_some();
    let sample_inputs: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(&args.sample_inputs))
            .with_context(|| format!("reading {}", args.sample_inputs.display()))?,
    )
    .with_context(|| format!("{} is not JSON", args.sample_inputs.display()))?;
    let package = registry_client::PackageRef::parse(&args.package)
        .map_err(|e| anyhow::anyhow!("--package {}: {e}", args.package))?;

    let mut platform = None;
    let targets = if deployed {
        Targets {
            registry_url: args.registry_url.clone(),
            studio_url: args.studio_url.clone(),
            studio_read_only_url: args.studio_public_url.clone(),
            runtime_url: args.runtime_url.clone(),
            bootstrap: args.bootstrap_bearer.clone().map(Secret::new),
            trusted_key_id: args.trusted_key_id.clone(),
            trusted_public_key: None,
            publish_token: args.publish_token.clone().map(Secret::new),
            public_base_url: args.public_base_url.clone().or(args.registry_url.clone()),
            package,
            sample_inputs,
            scenarios: root.join(&args.scenarios),
        }
    } else {
        let state_dir = root.join("target/xtask-gates");
        // A fresh platform each run: gates must not pass on what an earlier run left behind.
        if state_dir.exists() {
            std::fs::remove_dir_all(&state_dir)
                .with_context(|| format!("removing {}", state_dir.display()))?;
        }
        let options = PlatformOptions {
            pg_port: None,
            registry_port: free_port()?,
            studio_port: free_port()?,
            runtime_port: free_port()?,
            backend_port: free_port()?,
            read_only_studio_port: Some(free_port()?),
            release: false,
            build: true,
            state_dir,
        };
        let started = Platform::start(&options)?;
        let key_id = started.secret("ANIP_REGISTRY_KEY_ID")?;
        let public_key = signing::SigningKey::from_base64(
            &started.secret("ANIP_REGISTRY_ED25519_PRIVATE_KEY")?,
        )?
        .verifying_key()
        .to_base64();
        let targets = Targets {
            registry_url: Some(started.registry_url.clone()),
            studio_url: Some(started.studio_url.clone()),
            studio_read_only_url: started.read_only_studio_url.clone(),
            runtime_url: Some(started.runtime_url.clone()),
            bootstrap: Some(Secret::new(started.secret("ANIP_RUNTIME_API_KEY")?)),
            trusted_key_id: Some(key_id.clone()),
            trusted_public_key: Some(format!("{key_id}={public_key}")),
            publish_token: Some(Secret::new(started.secret("ANIP_REGISTRY_PUBLISH_TOKEN")?)),
            // The local Registry's ANIP_REGISTRY_PUBLIC_BASE_URL is its own URL.
            public_base_url: Some(started.registry_url.clone()),
            package,
            sample_inputs,
            scenarios: root.join(&args.scenarios),
        };
        platform = Some(started);
        targets
    };

    let started = Instant::now();
    let mut lines = Vec::new();
    let outcome = run_service_gates(&targets, &mut lines);
    if let Some(platform) = platform {
        eprintln!("stopping the local platform…");
        platform.stop()?;
    }
    outcome?;

    // The build gates run after the platform is stopped: they are long, CPU-bound builds.
    let build_gates: [(&'static str, BuildGate); 3] = [
        ("docs-site", build::docs),
        ("cli-archives", build::cli_archives),
        ("images", build::images),
    ];
    for (name, gate) in build_gates {
        if args.skip_build_gates {
            // An explicit opt-out (post-deploy checks of artifacts built elsewhere): shown, but
            // neither a pass nor a skip. A gate skipped for want of a URL or credential still
            // fails the run.
            println!("---- {name} — not run (--skip-build-gates)");
            continue;
        }
        eprintln!("running {name}…");
        print(name, verdict(gate(&root)), &mut lines);
    }

    let failed: Vec<&str> = lines
        .iter()
        .filter(|l| matches!(l.verdict, Verdict::Fail(_)))
        .map(|l| l.name)
        .collect();
    let skipped: Vec<&str> = lines
        .iter()
        .filter(|l| matches!(l.verdict, Verdict::Skip(_)))
        .map(|l| l.name)
        .collect();
    let passed = lines.len() - failed.len() - skipped.len();
    println!();
    println!(
        "gates: {passed} passed, {} failed, {} skipped ({} s)",
        failed.len(),
        skipped.len(),
        started.elapsed().as_secs()
    );
    if !failed.is_empty() {
        anyhow::bail!("release gates failed: {}", failed.join(", "));
    }
    if !skipped.is_empty() {
        anyhow::bail!(
            "release gates not all run (skipped: {}); a skipped gate is not a pass",
            skipped.join(", ")
        );
    }
    Ok(())
}

/// The gates that need running services, in the deployment guide's order.
fn run_service_gates(targets: &Targets, lines: &mut Vec<Line>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        print(
            "registry-smoke",
            verdict(registry::smoke(targets).await),
            lines,
        );
        print(
            "studio-read-only-smoke",
            verdict(studio::read_only_smoke(targets).await),
            lines,
        );
        print(
            "package-verifies",
            verdict(registry::package_verifies(targets).await),
            lines,
        );
        print(
            "runtime-from-package",
            verdict(runtime::from_package(targets).await),
            lines,
        );
        print(
            "conformance",
            verdict(runtime::conformance(targets).await),
            lines,
        );
        print(
            "scenarios",
            verdict(runtime::scenarios(targets).await),
            lines,
        );
        print(
            "metadata-hygiene",
            verdict(registry::metadata_hygiene(targets).await),
            lines,
        );
        print(
            "registry-health",
            verdict(registry::health(targets).await),
            lines,
        );
        print(
            "studio-health",
            verdict(studio::health(targets).await),
            lines,
        );
        print(
            "studio-read-only-blocks-mutations",
            verdict(studio::blocks_mutations(targets).await),
            lines,
        );
        print(
            "public-browse",
            verdict(registry::public_browse(targets).await),
            lines,
        );
    });
    Ok(())
}

/// A shared HTTP client for the gates.
pub fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .build()?)
}

/// `GET url` → status and body text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> anyhow::Result<(u16, String)> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

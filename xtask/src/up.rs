//! `cargo xtask up`: the whole platform locally on an embedded default.
//!
//! State lives under `.anip/` in the checkout (ignored by git): the Postgres cluster, the dev
//! secrets generated on the first run, the services' logs and `local.env`. A second run reuses
//! all of it.
//!
//! [`Platform`] is the same platform as a value, started and stopped programmatically:
//! `cargo xtask gates` runs one (with a second, read-only Studio) under `target/xtask-gates/`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use crate::local::{cargo, run as run_command, target_dir, terminate, workspace_root};

#[derive(clap::Args)]
pub struct UpArgs {
    /// Port of the private Postgres cluster.
    #[arg(long, default_value_t = 54329)]
    pg_port: u16,
    /// Registry port.
    #[arg(long, default_value_t = 8200)]
    registry_port: u16,
    /// Studio port.
    #[arg(long, default_value_t = 8100)]
    studio_port: u16,
    /// Runtime port.
    #[arg(long, default_value_t = 9100)]
    runtime_port: u16,
    /// Port of the flight example's backend.
    #[arg(long, default_value_t = 9200)]
    backend_port: u16,
    /// Build with `--release`.
    #[arg(long)]
    release: bool,
    /// Where the cluster, dev secrets, logs and `local.env` live.
    #[arg(long, default_value = ".anip")]
    state_dir: PathBuf,
    /// Use the binaries already built instead of running `cargo build` first.
    #[arg(long)]
    no_build: bool,
    /// Start, report, and stop again at once (used by tests of this command).
    #[arg(long, hide = true)]
    smoke: bool,
}

/// The example package `cargo xtask up` publishes and the runtime serves.
pub const EXAMPLE_PACKAGE: &str = "flight-service@1.0.0";
const EXAMPLE_BUNDLE: &str = "examples/flight-service/flight-service.anip-package.json";

/// Imports the flight example into the local Registry (once; a second run finds it there).
async fn publish_example(registry_api: &str, admin_token: &str, root: &Path) -> anyhow::Result<()> {
    let bundle = registry_client::PackageBundle::read(&root.join(EXAMPLE_BUNDLE))?;
    let client = registry_client::RegistryClient::builder(registry_api)
        .token(signing::Secret::new(admin_token))
        .build()?;
    match client.import_bundle(&bundle).await {
        Ok(_) => eprintln!("  published {EXAMPLE_PACKAGE} to the local Registry"),
        Err(e) if e.status() == Some(409) => {
            eprintln!("  {EXAMPLE_PACKAGE} is already in the local Registry")
        }
        Err(e) => return Err(e).context("publishing the flight example"),
    }
    Ok(())
}

/// One service the platform runs: its binary, environment and readiness URL.
struct Service {
    name: &'static str,
    binary: &'static str,
    env: BTreeMap<&'static str, String>,
    ready_url: String,
}

/// Where and how [`Platform::start`] runs the platform.
pub struct PlatformOptions {
    /// Port of the private Postgres cluster (`None`: any free port).
    pub pg_port: Option<u16>,
    pub registry_port: u16,
    pub studio_port: u16,
    pub runtime_port: u16,
    pub backend_port: u16,
    /// A second Studio on the same database with `STUDIO_READ_ONLY=1`, on this port.
    pub read_only_studio_port: Option<u16>,
    /// Build (and run) release binaries.
    pub release: bool,
    /// Run `cargo build` first.
    pub build: bool,
    /// Absolute path of the cluster, dev secrets and logs.
    pub state_dir: PathBuf,
}

/// The local platform, started: Postgres, the Registry, Studio (and optionally a read-only
/// Studio), the flight backend and the runtime serving the flight example from the Registry.
/// [`Platform::stop`] stops the services in reverse order, then Postgres; the data stays.
pub struct Platform {
    pub registry_url: String,
    pub studio_url: String,
    pub runtime_url: String,
    /// The read-only Studio, when [`PlatformOptions::read_only_studio_port`] asked for one.
    pub read_only_studio_url: Option<String>,
    /// The Registry's key id and publish token, the runtime's bootstrap key, etc.
    secrets: DevSecrets,
    pg: Option<store::LocalPostgres>,
    children: Vec<(&'static str, Child)>,
    rt: tokio::runtime::Runtime,
    state_dir: PathBuf,
}

impl Platform {
    /// Builds (unless told not to), starts everything and waits until each service is ready.
    /// On failure, whatever was started is stopped again before the error is returned.
    pub fn start(options: &PlatformOptions) -> anyhow::Result<Platform> {
        let root = workspace_root();
        let state_dir = &options.state_dir;
        fs::create_dir_all(state_dir.join("logs"))?;

        if options.build {
            eprintln!("building the services…");
            // The whole workspace, as `cargo xtask test` builds it: one feature resolution, so
            // the gates after the tests rebuild nothing.
            let mut build = cargo();
            build.args(["build", "--workspace", "--bins"]);
            if options.release {
                build.arg("--release");
            }
            run_command(&mut build)?;
        }
        let bin_dir = if options.release {
            target_dir(&root).join("release")
        } else {
            // The debug binaries sit beside this xtask binary (this honours CARGO_TARGET_DIR).
            std::env::current_exe()?
                .parent()
                .context("xtask has no parent directory")?
                .to_path_buf()
        };

        let secrets = DevSecrets::load_or_create(&state_dir.join("secrets.env"))?;

        eprintln!(
            "starting Postgres under {}{}…",
            state_dir.join("pg").display(),
            options
                .pg_port
                .map(|p| format!(" on port {p}"))
                .unwrap_or_default()
        );
        let pg = store::LocalPostgres::start(&state_dir.join("pg"), options.pg_port)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut platform = Platform {
            registry_url: format!("http://127.0.0.1:{}", options.registry_port),
            studio_url: format!("http://127.0.0.1:{}", options.studio_port),
            runtime_url: format!("http://127.0.0.1:{}", options.runtime_port),
            read_only_studio_url: options
                .read_only_studio_port
                .map(|port| format!("http://127.0.0.1:{port}")),
            secrets,
            pg: Some(pg),
            children: Vec::new(),
            rt,
            state_dir: state_dir.clone(),
        };
        match platform.start_services(options, &root, &bin_dir) {
            Ok(()) => Ok(platform),
            Err(e) => {
                eprintln!("stopping…");
                platform.stop_all()?;
                eprintln!("stopped; data kept under {}", shown_dir(state_dir));
                Err(e)
            }
        }
    }

    fn start_services(
        &mut self,
        options: &PlatformOptions,
        root: &Path,
        bin_dir: &Path,
    ) -> anyhow::Result<()> {
        let pg = self.pg.as_ref().context("Postgres is stopped")?;
        for db in ["anip_registry", "anip_studio", "anip_runtime"] {
            self.rt.block_on(pg.ensure_database(db))?;
        }
        let secrets = &self.secrets;
        let registry_url = self.registry_url.clone();
        let registry_public_key = format!(
            "{}={}",
            secrets.get("ANIP_REGISTRY_KEY_ID")?,
            signing::SigningKey::from_base64(&secrets.get("ANIP_REGISTRY_ED25519_PRIVATE_KEY")?)?
                .verifying_key()
                .to_base64()
        );
        let shared_bundles = root.join("../shared/fixtures/upstream/registry-bundles");

        let mut registry_env = BTreeMap::from([
            ("ANIP_REGISTRY_DATABASE_URL", pg.url("anip_registry")),
            (
                "ANIP_REGISTRY_ADDR",
                format!("127.0.0.1:{}", options.registry_port),
            ),
            ("ANIP_REGISTRY_MODE", "dev".to_owned()),
            ("ANIP_REGISTRY_KEY_ID", secrets.get("ANIP_REGISTRY_KEY_ID")?),
            (
                "ANIP_REGISTRY_ED25519_PRIVATE_KEY",
                secrets.get("ANIP_REGISTRY_ED25519_PRIVATE_KEY")?,
            ),
            (
                "ANIP_REGISTRY_PUBLISH_TOKEN",
                secrets.get("ANIP_REGISTRY_PUBLISH_TOKEN")?,
            ),
            (
                "ANIP_REGISTRY_ADMIN_TOKEN",
                secrets.get("ANIP_REGISTRY_ADMIN_TOKEN")?,
            ),
            ("ANIP_REGISTRY_PUBLISHER_ID", "local-dev".to_owned()),
            ("ANIP_REGISTRY_PUBLISHER_TYPE", "organization".to_owned()),
            ("ANIP_REGISTRY_PUBLIC_BASE_URL", registry_url.clone()),
            ("ANIP_REGISTRY_SEED_DEMO", "1".to_owned()),
        ]);
        if shared_bundles.is_dir() {
            registry_env.insert(
                "ANIP_REGISTRY_SEED_DIR",
                shared_bundles.display().to_string(),
            );
        }
        let studio_env = BTreeMap::from([
            ("DATABASE_URL", pg.url("anip_studio")),
            ("STUDIO_BIND", "127.0.0.1".to_owned()),
            ("STUDIO_API_PORT", options.studio_port.to_string()),
            (
                "STUDIO_REGISTRY_URL",
                format!("{registry_url}/registry-api/v1"),
            ),
            (
                "STUDIO_REGISTRY_PUBLISH_TOKEN",
                secrets.get("ANIP_REGISTRY_PUBLISH_TOKEN")?,
            ),
            ("STUDIO_REGISTRY_REQUIRED_MODE", "dev".to_owned()),
            (
                "STUDIO_REGISTRY_TRUSTED_KEY_ID",
                secrets.get("ANIP_REGISTRY_KEY_ID")?,
            ),
            ("STUDIO_SEED_SHOWCASES", "1".to_owned()),
        ]);
        let mut services = vec![
            Service {
                name: "registry",
                binary: "anip-registry",
                env: registry_env,
                ready_url: format!("{registry_url}/registry-api/v1/readyz"),
            },
            Service {
                name: "studio",
                binary: "studio-api",
                env: studio_env.clone(),
                ready_url: format!("{}/api/readyz", self.studio_url),
            },
        ];
        if let (Some(port), Some(url)) = (options.read_only_studio_port, &self.read_only_studio_url)
        {
            // The public posture: the same database, every mutating request refused.
            let mut env = studio_env;
            env.insert("STUDIO_API_PORT", port.to_string());
            env.insert("STUDIO_READ_ONLY", "1".to_owned());
            env.remove("STUDIO_REGISTRY_PUBLISH_TOKEN");
            services.push(Service {
                name: "studio-read-only",
                binary: "studio-api",
                env,
                ready_url: format!("{url}/api/readyz"),
            });
        }
        services.extend([
            Service {
                name: "flight-backend",
                binary: "flight-backend",
                env: BTreeMap::from([
                    ("FLIGHT_BACKEND_BIND", "127.0.0.1".to_owned()),
                    ("FLIGHT_BACKEND_PORT", options.backend_port.to_string()),
                    (
                        "FLIGHT_BACKEND_API_KEY",
                        secrets.get("FLIGHT_BACKEND_API_KEY")?,
                    ),
                ]),
                ready_url: format!("http://127.0.0.1:{}/healthz", options.backend_port),
            },
            Service {
                name: "runtime",
                binary: "anip-runtime",
                env: BTreeMap::from([
                    ("ANIP_RUNTIME_DATABASE_URL", pg.url("anip_runtime")),
                    ("ANIP_RUNTIME_BIND", "127.0.0.1".to_owned()),
                    ("ANIP_RUNTIME_PORT", options.runtime_port.to_string()),
                    (
                        "ANIP_RUNTIME_API_KEY_HASHES",
                        format!(
                            "human:dev@localhost={}",
                            signing::secret::token_hash(&secrets.get("ANIP_RUNTIME_API_KEY")?)
                        ),
                    ),
                    // The runtime serves the flight example from the local Registry, verified
                    // against the Registry's key like any production package.
                    ("ANIP_RUNTIME_PACKAGE", EXAMPLE_PACKAGE.to_owned()),
                    (
                        "ANIP_RUNTIME_REGISTRY_URL",
                        format!("{registry_url}/registry-api/v1"),
                    ),
                    (
                        "ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS",
                        registry_public_key.clone(),
                    ),
                    ("ANIP_RUNTIME_REQUIRE_SIGNED_BUNDLE", "1".to_owned()),
                    (
                        "ANIP_RUNTIME_BACKEND_URLS",
                        format!("flight_backend=http://127.0.0.1:{}", options.backend_port),
                    ),
                    (
                        "FLIGHT_BACKEND_API_KEY",
                        secrets.get("FLIGHT_BACKEND_API_KEY")?,
                    ),
                    // The example declares an https: witness that is not reachable from a
                    // laptop; locally its checkpoints go to a directory instead.
                    (
                        "ANIP_RUNTIME_CHECKPOINT_SINKS",
                        format!("file://{}", options.state_dir.join("checkpoints").display()),
                    ),
                ]),
                ready_url: format!("{}/readyz", self.runtime_url),
            },
        ]);

        let rt = &self.rt;
        let admin_token = secrets.get("ANIP_REGISTRY_ADMIN_TOKEN")?;
        let publish_example = |service: &Service| -> anyhow::Result<()> {
            if service.name == "runtime" {
                rt.block_on(publish_example(
                    &format!("{registry_url}/registry-api/v1"),
                    &admin_token,
                    root,
                ))?;
            }
            Ok(())
        };
        start_all(
            &services,
            bin_dir,
            &self.state_dir,
            &mut self.children,
            &publish_example,
        )
    }

    /// A dev credential from the state directory's `secrets.env`.
    pub fn secret(&self, key: &str) -> anyhow::Result<String> {
        self.secrets.get(key)
    }

    /// The URL of database `name` in the private cluster.
    pub fn database_url(&self, name: &str) -> String {
        self.pg.as_ref().map(|pg| pg.url(name)).unwrap_or_default()
    }

    /// Blocks until Ctrl-C or SIGTERM, or until a service exits on its own.
    pub fn wait_for_stop(&mut self) -> anyhow::Result<()> {
        wait_for_stop(&self.rt, &mut self.children)
    }

    /// Stops the services (in reverse start order), then Postgres.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> anyhow::Result<()> {
        for (name, child) in self.children.iter_mut().rev() {
            terminate(child, name, Duration::from_secs(35));
        }
        self.children.clear();
        if let Some(pg) = self.pg.take() {
            pg.stop()?;
        }
        Ok(())
    }
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let root = workspace_root();
    let state_dir = root.join(&args.state_dir);
    let options = PlatformOptions {
        pg_port: Some(args.pg_port),
        registry_port: args.registry_port,
        studio_port: args.studio_port,
        runtime_port: args.runtime_port,
        backend_port: args.backend_port,
        read_only_studio_port: None,
        release: args.release,
        build: !args.no_build,
        state_dir: state_dir.clone(),
    };
    let mut platform = Platform::start(&options)?;
    let outcome = announce(&platform, &state_dir);
    let outcome = outcome.and_then(|()| {
        if args.smoke {
            println!("smoke run: stopping again");
            Ok(())
        } else {
            println!("Ctrl-C stops everything (the data stays for next time).");
            platform.wait_for_stop()
        }
    });
    eprintln!("stopping…");
    platform.stop()?;
    eprintln!("stopped; data kept under {}", shown_dir(&state_dir));
    outcome
}

/// `dir` as the user knows it: relative to the checkout when inside it (`.anip/`).
pub fn shown_dir(dir: &Path) -> String {
    let root = workspace_root();
    let relative = dir.strip_prefix(&root).unwrap_or(dir);
    format!("{}/", relative.display())
}

/// Writes `local.env` and prints the URLs and dev credentials.
fn announce(platform: &Platform, state_dir: &Path) -> anyhow::Result<()> {
    let secrets = &platform.secrets;
    let registry_url = &platform.registry_url;
    let local_env = BTreeMap::from([
        ("ANIP_REGISTRY_URL", registry_url.clone()),
        (
            "ANIP_REGISTRY_API_URL",
            format!("{registry_url}/registry-api/v1"),
        ),
        (
            "ANIP_REGISTRY_PUBLISH_TOKEN",
            secrets.get("ANIP_REGISTRY_PUBLISH_TOKEN")?,
        ),
        (
            "ANIP_REGISTRY_ADMIN_TOKEN",
            secrets.get("ANIP_REGISTRY_ADMIN_TOKEN")?,
        ),
        ("ANIP_REGISTRY_KEY_ID", secrets.get("ANIP_REGISTRY_KEY_ID")?),
        (
            "ANIP_REGISTRY_DATABASE_URL",
            platform.database_url("anip_registry"),
        ),
        ("STUDIO_URL", platform.studio_url.clone()),
        ("STUDIO_DATABASE_URL", platform.database_url("anip_studio")),
        ("ANIP_RUNTIME_URL", platform.runtime_url.clone()),
        ("ANIP_RUNTIME_API_KEY", secrets.get("ANIP_RUNTIME_API_KEY")?),
        (
            "ANIP_RUNTIME_DATABASE_URL",
            platform.database_url("anip_runtime"),
        ),
        ("ANIP_RUNTIME_PACKAGE", EXAMPLE_PACKAGE.to_owned()),
    ]);
    let env_path = state_dir.join("local.env");
    write_env_file(&env_path, &local_env)?;
    let shown = shown_dir(state_dir);
    let shown = shown.trim_end_matches('/');
    println!();
    println!("ANIP platform is up:");
    println!("  Registry UI   {registry_url}/registry");
    println!("  Registry API  {registry_url}/registry-api/v1");
    println!("  Studio        {}/", platform.studio_url);
    println!("  Runtime       {}/", platform.runtime_url);
    println!("  Postgres      {}", platform.database_url("postgres"));
    println!("  Logs          {shown}/logs/");
    println!("  Checkpoints   {shown}/checkpoints/ (published by the runtime)");
    println!();
    println!(
        "Credentials and URLs: {shown}/local.env (source it: `set -a; . {shown}/local.env; set +a`)"
    );
    for (k, v) in &local_env {
        println!("  {k}={v}");
    }
    println!();
    Ok(())
}

fn start_all(
    services: &[Service],
    bin_dir: &Path,
    state_dir: &Path,
    children: &mut Vec<(&'static str, Child)>,
    before_start: &dyn Fn(&Service) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for service in services {
        before_start(service)?;
        let log_path = state_dir.join("logs").join(format!("{}.log", service.name));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut cmd = Command::new(bin_dir.join(service.binary));
        cmd.envs(service.env.iter())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Our own process group: a Ctrl-C in the terminal reaches only xtask, which then stops
        // the services in order (runtime and Studio before the Registry, all before Postgres).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .with_context(|| format!("could not start {}", service.binary))?;
        children.push((service.name, child));
        eprintln!(
            "started {} (pid {}), waiting for readiness…",
            service.name,
            children.last().map_or(0, |c| c.1.id())
        );
        wait_ready(service, children, &log_path)?;
    }
    Ok(())
}

fn wait_ready(
    service: &Service,
    children: &mut [(&'static str, Child)],
    log: &Path,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((_, child)) = children.last_mut() {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{} exited during start ({status}); see {}",
                    service.name,
                    log.display()
                );
            }
        }
        if http_status(&service.ready_url).unwrap_or(0) == 200 {
            eprintln!("  {} is ready", service.name);
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} was not ready within 60 s; see {}",
                service.name,
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Blocks until Ctrl-C or SIGTERM, or until a service exits on its own.
fn wait_for_stop(
    rt: &tokio::runtime::Runtime,
    children: &mut [(&'static str, Child)],
) -> anyhow::Result<()> {
    rt.block_on(async {
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = sigterm.recv() => return Ok(()),
                _ = tick.tick() => {
                    for (name, child) in children.iter_mut() {
                        if let Some(status) = child.try_wait()? {
                            bail!("{name} exited unexpectedly ({status}); see .anip/logs/{name}.log");
                        }
                    }
                }
            }
        }
    })
}

/// The status code of one GET of a loopback URL: the services' own container health check.
pub fn http_status(url: &str) -> std::io::Result<u16> {
    observability::healthcheck::status(url, Duration::from_secs(5))
}

/// Dev credentials generated once and kept in `.anip/secrets.env` (mode 0600).
struct DevSecrets(BTreeMap<String, String>);

impl DevSecrets {
    fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        if let Ok(text) = fs::read_to_string(path) {
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                if let Some((k, v)) = line.split_once('=') {
                    values.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
        }
        let rng = SystemRandom::new();
        let mut changed = false;
        let mut ensure = |key: &str,
                          make: &dyn Fn(&SystemRandom) -> anyhow::Result<String>|
         -> anyhow::Result<()> {
            if !values.contains_key(key) {
                values.insert(key.to_owned(), make(&rng)?);
                changed = true;
            }
            Ok(())
        };
        ensure("ANIP_REGISTRY_KEY_ID", &|rng| {
            Ok(format!("local-dev-{}", &random_hex(rng, 4)?))
        })?;
        ensure("ANIP_REGISTRY_ED25519_PRIVATE_KEY", &|rng| {
            let mut seed = [0u8; 32];
            rng.fill(&mut seed)
                .map_err(|_| anyhow::anyhow!("no system randomness"))?;
            Ok(base64::engine::general_purpose::STANDARD.encode(seed))
        })?;
        ensure("ANIP_REGISTRY_PUBLISH_TOKEN", &|rng| {
            Ok(format!("anip_dev_publish_{}", random_hex(rng, 24)?))
        })?;
        ensure("ANIP_REGISTRY_ADMIN_TOKEN", &|rng| {
            Ok(format!("anip_dev_admin_{}", random_hex(rng, 24)?))
        })?;
        ensure("FLIGHT_BACKEND_API_KEY", &|rng| {
            Ok(format!("anip_dev_backend_{}", random_hex(rng, 24)?))
        })?;
        ensure("ANIP_RUNTIME_API_KEY", &|rng| {
            Ok(format!("anip_dev_runtime_{}", random_hex(rng, 24)?))
        })?;
        if changed {
            let map: BTreeMap<&str, String> = values
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            write_env_file(path, &map)?;
        }
        Ok(Self(values))
    }

    fn get(&self, key: &str) -> anyhow::Result<String> {
        self.0
            .get(key)
            .cloned()
            .with_context(|| format!("{key} missing from .anip/secrets.env"))
    }
}

fn random_hex(rng: &SystemRandom, bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    rng.fill(&mut buf)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_env_file(path: &Path, values: &BTreeMap<&str, String>) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(
        file,
        "# Written by `cargo xtask up`: dev-only values for this checkout."
    )?;
    for (k, v) in values {
        writeln!(file, "{k}={v}")?;
    }
    Ok(())
}

//! `cargo xtask bench runtime`: the ANIP runtime under load, beside the upstream Python
//! reference flight service measured on the same machine in the same run.
//!
//! 1. Release `anip-runtime` and `flight-backend` against a fresh private Postgres (durable
//!    defaults: `fsync` and `synchronous_commit` on), serving the flight example bundle.
//! 2. Discovery (`GET /.well-known/anip`), token issuance (`POST /anip/tokens` with the bootstrap
//!    API key) and invocation of the read capability (`POST /anip/invoke/search_flights`, which
//!    calls the backend and commits one audit entry before it answers).
//! 3. The invocation runs alternate between two runtimes, each on its own database: one whose
//!    log starts empty, and one whose log was first grown by `--audit-seed` entries inserted
//!    directly (continuing its real chain, hashed and signed with its audit key). Each run
//!    starts from settled databases, and alternating puts the machine's drift over the minutes
//!    of the benchmark on both logs alike.
//! 4. After each invocation run: every acknowledged invocation has its entry; at the end, each
//!    whole log is gap-free with an unbroken hash chain (recomputed in SQL).
//! 5. The reference: the upstream `examples/anip` flight service (anip-service 0.24 from PyPI in
//!    a venv under `target/bench/`, uvicorn), materialized from the upstream repository named by
//!    `ANIP_UPSTREAM_REPO` at run time only. Without it the report says why it is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use super::cpu::{ProcessSet, Processes};
use super::load::{median, Load, LoadResult};
use crate::local::{cargo, run as run_command, target_dir, terminate, workspace_root};
use store::free_port;

#[derive(clap::Args)]
pub struct RuntimeBenchArgs {
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// wrk connections.
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// wrk runs per row; each row reports the run with the median requests/s (more runs
    /// steady the figures on a machine with noisy neighbours).
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Audit entries inserted before the second invocation run (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    audit_seed: u64,
    /// Use the release binaries already built.
    #[arg(long)]
    no_build: bool,
    /// Skip the upstream reference.
    #[arg(long)]
    no_reference: bool,
    /// A Postgres server setting for the run, `name=value` (repeatable), e.g.
    /// `--pg-setting shared_buffers=1GB`. Without any, Postgres runs with its stock settings.
    #[arg(long = "pg-setting", value_parser = parse_setting)]
    pg_settings: Vec<(String, String)>,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("expected name=value, not {text:?}")),
    }
}

const API_KEY: &str = "bench-runtime-bootstrap-key-0123456789";
const PRINCIPAL: &str = "human:bench@example.com";
const BACKEND_KEY: &str = "bench-backend-key-0123456789abcdef";
const BUNDLE: &str = "examples/flight-service/flight-service.anip-package.json";
const TOKEN_BODY: &str = r#"{"scope":["travel.search"],"capability":"search_flights"}"#;
const INVOKE_BODY: &str =
    r#"{"parameters":{"origin":"SEA","destination":"SFO","date":"2026-03-10"}}"#;
/// The upstream example's bootstrap key (in its `app.py`).
const REFERENCE_API_KEY: &str = "demo-human-key";

pub fn run(args: RuntimeBenchArgs) -> anyhow::Result<()> {
    let root = workspace_root();
    if !args.no_build {
        eprintln!("== cargo build --release -p runtime-service -p flight-backend");
        run_command(cargo().args([
            "build",
            "--release",
            "-p",
            "runtime-service",
            "-p",
            "flight-backend",
        ]))?;
    }
    let bench_dir = target_dir(&root).join("bench/runtime");
    let _ = fs::remove_dir_all(&bench_dir);
    fs::create_dir_all(&bench_dir)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let load = Load {
        threads: args.threads,
        connections: args.connections,
        duration: Duration::from_secs(args.seconds),
        processes: None,
        runs: args.runs,
    };
    let mut lines = vec![format!(
        "Runtime benchmark ({} cores, wrk -t{} -c{} -d{}s, loopback, release build, durable Postgres{})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.threads,
        args.connections,
        args.seconds,
        if args.pg_settings.is_empty() {
            " with stock settings".to_owned()
        } else {
            let named: Vec<String> =
                args.pg_settings.iter().map(|(n, v)| format!("{n}={v}")).collect();
            format!(" with {}", named.join(", "))
        }
    )];

    let ours = {
        let settings: Vec<(&str, &str)> = args
            .pg_settings
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let pg = store::LocalPostgres::start_with(&bench_dir.join("pg"), None, &settings)?;
        let outcome = measure_ours(&args, &root, &bench_dir, &pg, &rt, &load);
        pg.stop()?;
        outcome?
    };

    let reference = if args.no_reference {
        Err("skipped (--no-reference)".to_owned())
    } else {
        measure_reference(&root, &bench_dir, &rt, &load)
    };

    lines.push(String::new());
    lines.push("ours (anip-runtime + flight-backend, Postgres audit)".to_owned());
    for measured in ours.results() {
        lines.push(measured.report("  "));
    }
    if let Some(seeded) = &ours.invoke_seeded {
        lines.push(format!(
            "  {:<42} {:>8.1}%",
            "invoke with the grown log / empty log",
            100.0 * seeded.requests_per_sec / ours.invoke.requests_per_sec
        ));
    }
    for note in &ours.notes {
        lines.push(format!("  {note}"));
    }
    lines.push(String::new());
    match &reference {
        Ok(reference) => {
            lines.push("reference (upstream examples/anip: anip-service 0.24 + FastAPI + uvicorn, SQLite audit)".to_owned());
            for measured in [&reference.discovery, &reference.tokens, &reference.invoke] {
                lines.push(measured.report("  "));
            }
            lines.push(String::new());
            lines.push("ours / reference (throughput)".to_owned());
            for (name, a, b) in [
                ("discovery", &ours.discovery, &reference.discovery),
                ("token issuance", &ours.tokens, &reference.tokens),
                ("invoke search_flights", &ours.invoke, &reference.invoke),
            ] {
                lines.push(format!(
                    "  {:<42} {:>8.1}x   (p99 {:.2} ms vs {:.2} ms)",
                    name,
                    a.requests_per_sec / b.requests_per_sec,
                    a.p99_ms,
                    b.p99_ms
                ));
            }
        }
        Err(why) => lines.push(format!("reference: unavailable: {why}")),
    }
    let report = lines.join("\n");
    println!("{report}");
    fs::write(bench_dir.join("report.txt"), &report)?;
    eprintln!(
        "(report also in {})",
        bench_dir.join("report.txt").display()
    );
    ours.check()
}

/// What our runtime measured.
struct Ours {
    discovery: LoadResult,
    tokens: LoadResult,
    invoke: LoadResult,
    invoke_seeded: Option<LoadResult>,
    notes: Vec<String>,
    problems: Vec<String>,
}

impl Ours {
    fn results(&self) -> Vec<&LoadResult> {
        let mut all = vec![&self.discovery, &self.tokens, &self.invoke];
        all.extend(self.invoke_seeded.as_ref());
        all
    }

    fn check(&self) -> anyhow::Result<()> {
        let mut problems = self.problems.clone();
        for r in self.results().into_iter() {
            if r.non_2xx > 0 {
                problems.push(format!("{}: {} non-2xx responses", r.label, r.non_2xx));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}", problems.join("; "))
        }
    }
}

/// What the reference measured.
struct Reference {
    discovery: LoadResult,
    tokens: LoadResult,
    invoke: LoadResult,
}

/// A child process stopped (SIGTERM, then SIGKILL) when dropped.
struct Service {
    name: &'static str,
    child: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        terminate(&mut self.child, self.name, Duration::from_secs(30));
    }
}

/// Starts `cmd` with its output in `log`, and waits until `ready_url` answers 200.
fn start(
    name: &'static str,
    mut cmd: Command,
    log: &Path,
    ready_url: &str,
    wait: Duration,
) -> anyhow::Result<Service> {
    let file = fs::File::create(log)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("could not start {name}"))?;
    let mut service = Service { name, child };
    let deadline = Instant::now() + wait;
    loop {
        if let Some(status) = service.child.try_wait()? {
            bail!("{name} exited ({status}); see {}", log.display());
        }
        if crate::up::http_status(ready_url).unwrap_or(0) == 200 {
            return Ok(service);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} not ready in {wait:?}; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One `anip-runtime` on its own database, and a root token it issued for `search_flights`.
struct Runtime {
    service: Service,
    base: String,
    jwt: String,
    db_url: String,
}

impl Runtime {
    /// Starts a runtime named `name` on `db_url` in front of the backend on `backend_port`,
    /// issues its token and warms it up (so that pools and caches are filled, and its log holds
    /// real entries).
    fn start(
        name: &str,
        root: &Path,
        dir: &Path,
        db_url: &str,
        backend_port: u16,
        rt: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Runtime> {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut runtime = Command::new(target_dir(root).join("release/anip-runtime"));
        runtime
            .env("ANIP_RUNTIME_DATABASE_URL", db_url)
            .env("ANIP_RUNTIME_BIND", "127.0.0.1")
            .env("ANIP_RUNTIME_PORT", port.to_string())
            .env(
                "ANIP_RUNTIME_API_KEY_HASHES",
                format!("{PRINCIPAL}={}", signing::secret::token_hash(API_KEY)),
            )
            .env("ANIP_RUNTIME_BUNDLE", root.join(BUNDLE))
            .env(
                "ANIP_RUNTIME_BACKEND_URLS",
                format!("flight_backend=http://127.0.0.1:{backend_port}"),
            )
            .env("ANIP_RUNTIME_REPLICA_ID", format!("bench-{name}"))
            .env("FLIGHT_BACKEND_API_KEY", BACKEND_KEY)
            .env("RUST_LOG", "warn");
        let service = start(
            "anip-runtime",
            runtime,
            &dir.join(format!("runtime-{name}.log")),
            &format!("{base}/readyz"),
            Duration::from_secs(60),
        )?;
        let jwt = rt.block_on(issue_token(&base, API_KEY))?;
        rt.block_on(warm_up(&base, &jwt))?;
        Ok(Runtime {
            service,
            base,
            jwt,
            db_url: db_url.to_owned(),
        })
    }

    /// This runtime, the backend and Postgres: what its runs are charged with.
    fn processes(&self, backend: &Service, dir: &Path) -> Processes {
        Processes {
            sets: vec![
                ("runtime", ProcessSet::Pid(self.service.child.id())),
                ("backend", ProcessSet::Pid(backend.child.id())),
                ("postgres", ProcessSet::Postgres(dir.join("pg/data"))),
            ],
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

fn measure_ours(
    args: &RuntimeBenchArgs,
    root: &Path,
    dir: &Path,
    pg: &store::LocalPostgres,
    rt: &tokio::runtime::Runtime,
    load: &Load,
) -> anyhow::Result<Ours> {
    let backend_port = free_port()?;
    let mut backend = Command::new(target_dir(root).join("release/flight-backend"));
    backend
        .env("FLIGHT_BACKEND_BIND", "127.0.0.1")
        .env("FLIGHT_BACKEND_PORT", backend_port.to_string())
        .env("FLIGHT_BACKEND_API_KEY", BACKEND_KEY)
        .env("RUST_LOG", "warn");
    let backend = start(
        "flight-backend",
        backend,
        &dir.join("flight-backend.log"),
        &format!("http://127.0.0.1:{backend_port}/healthz"),
        Duration::from_secs(30),
    )?;

    rt.block_on(pg.ensure_database("bench_runtime"))?;
    let empty = Runtime::start(
        "empty",
        root,
        dir,
        &pg.url("bench_runtime"),
        backend_port,
        rt,
    )?;
    let mut notes = Vec::new();
    // The grown log lives in a second runtime on its own database, grown before anything is
    // measured, so that the two logs can be measured in alternation.
    let grown = if args.audit_seed > 0 {
        rt.block_on(pg.ensure_database("bench_runtime_grown"))?;
        let grown = Runtime::start(
            "grown",
            root,
            dir,
            &pg.url("bench_runtime_grown"),
            backend_port,
            rt,
        )?;
        let started = Instant::now();
        let head = rt.block_on(seed_audit(&grown.db_url, args.audit_seed))?;
        let seeded_in = started.elapsed();
        // The checkpoint producer covers the seeded entries once; wait for it so that the runs
        // measure the steady state, not that catch-up.
        rt.block_on(wait_for_checkpoint(
            &grown.db_url,
            head,
            Duration::from_secs(300),
        ))?;
        notes.push(format!(
            "grown log: {} entries inserted directly with SQL (chain continued, each hashed and \
             signed with the audit key) in {:.0} s; head {head} before its first run",
            args.audit_seed,
            seeded_in.as_secs_f64()
        ));
        Some(grown)
    } else {
        None
    };

    let load_on = |runtime: &Runtime, runs: u32| Load {
        processes: Some(runtime.processes(&backend, dir)),
        runs,
        ..load.clone()
    };
    rt.block_on(settle(&empty.db_url))?;
    let discovery = load_on(&empty, load.runs).run(
        "discovery GET /.well-known/anip",
        &format!("{}/.well-known/anip", empty.base),
        &[],
    )?;
    let tokens = run_post(
        &load_on(&empty, load.runs),
        dir,
        "token issuance POST /anip/tokens (API key)",
        &format!("{}/anip/tokens", empty.base),
        &Post {
            bearer: API_KEY,
            body: TOKEN_BODY,
        },
    )?;

    // Invocation runs alternate between the two logs, each starting settled, so that drift in
    // the machine's speed over the minutes of the run falls on both alike.
    let mut problems = Vec::new();
    let mut sides = vec![InvokeSide::new(&empty, "empty audit log")];
    if let Some(grown) = &grown {
        let head = rt.block_on(audit_head(&grown.db_url))?;
        sides.push(InvokeSide::new(grown, &format!("{head}+ entries")));
    }
    for _ in 0..load.runs.max(1) {
        for side in &mut sides {
            for runtime in [Some(&empty), grown.as_ref()].into_iter().flatten() {
                rt.block_on(settle(&runtime.db_url))?;
            }
            side.run_once(&load_on(side.runtime, 1), dir, rt, &mut problems)?;
        }
    }
    let mut invokes = sides.into_iter().map(|side| side.finish(&mut notes));
    let (invoke, pairs) = invokes.next().context("no invocation runs")?;
    let invoke_seeded = invokes.next().map(|(seeded, seeded_pairs)| {
        let ratios: Vec<String> = pairs
            .iter()
            .zip(&seeded_pairs)
            .map(|(e, g)| format!("{:.0}%", 100.0 * g / e))
            .collect();
        notes.push(format!(
            "grown / empty, run by run (each grown run right after its empty one): {}",
            ratios.join(", ")
        ));
        seeded
    });
    for runtime in [Some(&empty), grown.as_ref()].into_iter().flatten() {
        match rt.block_on(verify_log(&runtime.db_url)) {
            Ok(summary) => notes.push(summary),
            Err(error) => problems.push(format!("audit log check: {error:#}")),
        }
    }
    Ok(Ours {
        discovery,
        tokens,
        invoke,
        invoke_seeded,
        notes,
        problems,
    })
}

/// The invocation runs against one runtime.
struct InvokeSide<'a> {
    runtime: &'a Runtime,
    label: String,
    runs: Vec<LoadResult>,
    acknowledged: u64,
    written: u64,
    /// WAL written during the runs, cluster-wide: bytes, and full-page images among them.
    wal: Wal,
}

impl<'a> InvokeSide<'a> {
    fn new(runtime: &'a Runtime, log: &str) -> Self {
        InvokeSide {
            runtime,
            label: format!("invoke search_flights ({log})"),
            runs: Vec::new(),
            acknowledged: 0,
            written: 0,
            wal: Wal::default(),
        }
    }

    /// One invocation run, checking afterwards that every acknowledged invocation has its
    /// entry.
    fn run_once(
        &mut self,
        load: &Load,
        dir: &Path,
        rt: &tokio::runtime::Runtime,
        problems: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let before = rt.block_on(audit_head(&self.runtime.db_url))?;
        let wal_before = rt.block_on(Wal::read(&self.runtime.db_url))?;
        let measured = run_post(
            load,
            dir,
            &self.label,
            &format!("{}/anip/invoke/search_flights", self.runtime.base),
            &Post {
                bearer: &self.runtime.jwt,
                body: INVOKE_BODY,
            },
        )?;
        let after = rt.block_on(audit_head(&self.runtime.db_url))?;
        let wal_after = rt.block_on(Wal::read(&self.runtime.db_url))?;
        self.wal.add(wal_before.until(wal_after));
        let acknowledged = measured.completed.saturating_sub(measured.non_2xx);
        let written = u64::try_from(after - before).unwrap_or(0);
        // wrk does not count responses still in flight when it stops, so the log may hold a
        // few more entries than wrk saw answered, never fewer.
        if written < acknowledged {
            problems.push(format!(
                "{}: {acknowledged} invocations acknowledged but only {written} audit entries",
                self.label
            ));
        }
        self.acknowledged += acknowledged;
        self.written += written;
        self.runs.push(measured);
        Ok(())
    }

    /// The median run, and each run's requests/s in the order they ran.
    fn finish(self, notes: &mut Vec<String>) -> (LoadResult, Vec<f64>) {
        notes.push(format!(
            "{}: {} acknowledged invocations, {} audit entries committed",
            self.label, self.acknowledged, self.written
        ));
        if self.written > 0 {
            notes.push(format!(
                "{}: {}",
                self.label,
                self.wal.describe(self.written)
            ));
        }
        let each = self.runs.iter().map(|r| r.requests_per_sec).collect();
        (median(self.runs), each)
    }
}

/// The WAL the cluster has written since it started (`pg_stat_wal`): what a run appends to
/// the log, whose flush every acknowledged invocation waits for.
#[derive(Clone, Copy, Default)]
struct Wal {
    bytes: i64,
    full_pages: i64,
    /// Flushes (`fdatasync` and the like) and their total time in milliseconds, which is zero
    /// unless the run sets `track_wal_io_timing=on`.
    flushes: i64,
    flush_ms: f64,
}

impl Wal {
    async fn read(db_url: &str) -> anyhow::Result<Wal> {
        let row = connect(db_url)
            .await?
            .query_one(
                "SELECT wal_bytes::bigint, wal_fpi, wal_sync, wal_sync_time FROM pg_stat_wal",
                &[],
            )
            .await?;
        Ok(Wal {
            bytes: row.get(0),
            full_pages: row.get(1),
            flushes: row.get(2),
            flush_ms: row.get(3),
        })
    }

    /// What was written between `self` and `later`.
    fn until(self, later: Wal) -> Wal {
        Wal {
            bytes: later.bytes - self.bytes,
            full_pages: later.full_pages - self.full_pages,
            flushes: later.flushes - self.flushes,
            flush_ms: later.flush_ms - self.flush_ms,
        }
    }

    fn add(&mut self, other: Wal) {
        self.bytes += other.bytes;
        self.full_pages += other.full_pages;
        self.flushes += other.flushes;
        self.flush_ms += other.flush_ms;
    }

    /// One line on this WAL, written for `entries` audit entries.
    fn describe(&self, entries: u64) -> String {
        let per = |n: f64| n / entries.max(1) as f64;
        let mut line = format!(
            "{:.0} bytes of WAL per audit entry, {:.3} full-page images per entry, {} flushes \
             ({:.1} entries per flush)",
            per(self.bytes as f64),
            per(self.full_pages as f64),
            self.flushes,
            entries as f64 / self.flushes.max(1) as f64,
        );
        if self.flush_ms > 0.0 {
            line.push_str(&format!(
                ", {:.3} ms per flush",
                self.flush_ms / self.flushes.max(1) as f64
            ));
        }
        line
    }
}

/// A POST wrk sends on every request.
struct Post<'a> {
    bearer: &'a str,
    body: &'a str,
}

/// Runs `post` against `url` with `load`: the request is a wrk Lua script written into `dir`.
fn run_post(
    load: &Load,
    dir: &Path,
    label: &str,
    url: &str,
    post: &Post<'_>,
) -> anyhow::Result<LoadResult> {
    static SCRIPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = SCRIPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let script = dir.join(format!("post-{number}.lua"));
    fs::write(&script, lua_post(post))?;
    load.run_script(label, url, &script)
}

/// A wrk script that POSTs `body` with a bearer credential.
fn lua_post(post: &Post<'_>) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    format!(
        "wrk.method = \"POST\"\n\
         wrk.body = {}\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = {}\n",
        quote(post.body),
        quote(&format!("Bearer {}", post.bearer))
    )
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// A root token for `search_flights` issued with a bootstrap key.
async fn issue_token(base: &str, api_key: &str) -> anyhow::Result<String> {
    let response = http_client()?
        .post(format!("{base}/anip/tokens"))
        .bearer_auth(api_key)
        .header("content-type", "application/json")
        .body(TOKEN_BODY)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("token issuance answered {status}: {body}"))
}

/// A few hundred invocations before measuring; each must succeed.
async fn warm_up(base: &str, jwt: &str) -> anyhow::Result<()> {
    let http = http_client()?;
    for _ in 0..200 {
        let response = http
            .post(format!("{base}/anip/invoke/search_flights"))
            .bearer_auth(jwt)
            .header("content-type", "application/json")
            .body(INVOKE_BODY)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(
            status == 200 && body["success"] == json!(true),
            "warm-up invocation answered {status}: {body}"
        );
    }
    Ok(())
}

async fn connect(db_url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn audit_head(db_url: &str) -> anyhow::Result<i64> {
    let client = connect(db_url).await?;
    // Give invocations still in flight when wrk stopped time to commit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(client
        .query_one(
            "SELECT last_sequence FROM runtime_audit_head WHERE id = 1",
            &[],
        )
        .await?
        .get(0))
}

/// Appends `count` entries after the current head in one transaction, as the runtime would:
/// each a copy of the newest real entry with its own sequence number, invocation id and
/// previous hash, hashed into the chain and signed with the audit key. Returns the new head.
async fn seed_audit(db_url: &str, count: u64) -> anyhow::Result<i64> {
    eprintln!("== growing the audit log by {count} entries");
    let mut client = connect(db_url).await?;
    let key_der: Vec<u8> = client
        .query_one(
            "SELECT pkcs8 FROM runtime_signing_keys WHERE purpose = 'audit'",
            &[],
        )
        .await?
        .get(0);
    let key = signing::es256::Es256KeyPair::from_pkcs8_der(&key_der)?;
    let tx = client.transaction().await?;
    let head = tx
        .query_one(
            "SELECT last_sequence, last_hash FROM runtime_audit_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await?;
    let (mut sequence, mut previous): (i64, String) = (head.get(0), head.get(1));
    let template = tx
        .query_one(
            "SELECT canonical, root_principal, capability, task_id, event_class
             FROM runtime_audit_log ORDER BY sequence_number DESC LIMIT 1",
            &[],
        )
        .await
        .context("the log needs one real entry to copy")?;
    let mut fields: Map<String, Value> = serde_json::from_str(template.get::<_, &str>(0))?;
    let (principal, capability, task, class): (String, String, Option<String>, String) = (
        template.get(1),
        template.get(2),
        template.get(3),
        template.get(4),
    );
    let insert = tx
        .prepare(
            "INSERT INTO runtime_audit_log (sequence_number, canonical, entry_hash, previous_hash,
                 signature, leaf_hash, recorded_at, root_principal, capability, invocation_id,
                 task_id, event_class, expires_at)
             SELECT s, c, h, p, sig, leaf, now(), $7, $8, inv, $9, $10, now() + interval '7 days'
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::bytea[], $11::text[]) AS t(s, c, h, p, sig, leaf, inv)",
        )
        .await?;
    const CHUNK: u64 = 10_000;
    let mut done = 0;
    while done < count {
        let n = CHUNK.min(count - done);
        let mut sequences = Vec::with_capacity(n as usize);
        let mut canonicals = Vec::with_capacity(n as usize);
        let mut hashes = Vec::with_capacity(n as usize);
        let mut previous_hashes = Vec::with_capacity(n as usize);
        let mut leaves = Vec::with_capacity(n as usize);
        let mut invocations = Vec::with_capacity(n as usize);
        for _ in 0..n {
            sequence += 1;
            let invocation = format!("inv-{:012x}", sequence as u64 ^ 0x5eed_0000_0000);
            fields.insert("sequence_number".into(), json!(sequence));
            fields.insert("previous_hash".into(), json!(previous));
            fields.insert("invocation_id".into(), json!(invocation));
            let canonical = serde_json::to_string(&fields)?;
            let digest = signing::digest::sha256_hex(canonical.as_bytes());
            let mut leaf = vec![0u8];
            leaf.extend_from_slice(canonical.as_bytes());
            leaves.push(signing::digest::sha256(&leaf).to_vec());
            sequences.push(sequence);
            previous_hashes.push(std::mem::replace(&mut previous, format!("sha256:{digest}")));
            hashes.push(previous.clone());
            canonicals.push(canonical);
            invocations.push(invocation);
        }
        let signatures = sign_all(&key, &hashes)?;
        tx.execute(
            &insert,
            &[
                &sequences,
                &canonicals,
                &hashes,
                &previous_hashes,
                &signatures,
                &leaves,
                &principal,
                &capability,
                &task,
                &class,
                &invocations,
            ],
        )
        .await?;
        done += n;
        if done % 100_000 == 0 {
            eprintln!("   {done} entries");
        }
    }
    tx.execute(
        "UPDATE runtime_audit_head SET last_sequence = $1, last_hash = $2 WHERE id = 1",
        &[&sequence, &previous],
    )
    .await?;
    tx.commit().await?;
    settle(db_url).await?;
    Ok(sequence)
}

/// Settles what earlier writes left to do in the database at `db_url` (vacuum, statistics, and
/// writing the dirty pages out), so that the next run is not charged with them: every
/// invocation run starts settled. (Two statements: VACUUM cannot run inside the implicit
/// transaction of a multi-statement query.)
async fn settle(db_url: &str) -> anyhow::Result<()> {
    let client = connect(db_url).await?;
    client.batch_execute("VACUUM ANALYZE").await?;
    client.batch_execute("CHECKPOINT").await?;
    Ok(())
}

/// Entry signatures (`{"audit_hash": hex}` JWTs) for `sha256:<hex>` hashes, on every core.
fn sign_all(key: &signing::es256::Es256KeyPair, hashes: &[String]) -> anyhow::Result<Vec<String>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = hashes.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = hashes
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|h| {
                            let hex = h.trim_start_matches("sha256:");
                            signing::jwt::sign(key, &json!({ "audit_hash": hex }))
                                .map_err(anyhow::Error::from)
                        })
                        .collect::<anyhow::Result<Vec<String>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(hashes.len());
        for worker in workers {
            let signed = worker
                .join()
                .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
            all.extend(signed);
        }
        Ok(all)
    })
}

async fn wait_for_checkpoint(db_url: &str, head: i64, wait: Duration) -> anyhow::Result<()> {
    let client = connect(db_url).await?;
    let deadline = Instant::now() + wait;
    loop {
        let covered: Option<i64> = client
            .query_one("SELECT max(last_sequence) FROM runtime_checkpoints", &[])
            .await?
            .get(0);
        if covered.unwrap_or(0) >= head {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no checkpoint covered the seeded log within {wait:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Recomputes, in SQL, the whole log: sequence numbers 1..n without gaps, each entry hash the
/// SHA-256 of its canonical text, each previous hash the entry hash before it.
async fn verify_log(db_url: &str) -> anyhow::Result<String> {
    let client = connect(db_url).await?;
    let row = client
        .query_one(
            "SELECT count(*),
                    count(*) FILTER (WHERE sequence_number <> prev_seq + 1),
                    count(*) FILTER (WHERE previous_hash <> prev_hash),
                    count(*) FILTER (WHERE entry_hash <> 'sha256:' || encode(sha256(convert_to(canonical, 'UTF8')), 'hex')),
                    min(sequence_number), max(sequence_number)
             FROM (SELECT sequence_number, canonical, entry_hash, previous_hash,
                          coalesce(lag(sequence_number) OVER w, 0) AS prev_seq,
                          coalesce(lag(entry_hash) OVER w, 'sha256:0') AS prev_hash
                   FROM runtime_audit_log WINDOW w AS (ORDER BY sequence_number)) AS chain",
            &[],
        )
        .await?;
    let (count, gaps, links, hashes): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let (first, last): (Option<i64>, Option<i64>) = (row.get(4), row.get(5));
    anyhow::ensure!(
        first == Some(1) && gaps == 0 && links == 0 && hashes == 0,
        "{count} entries from {first:?} to {last:?}: {gaps} gaps, {links} broken links, {hashes} wrong hashes"
    );
    Ok(format!(
        "audit log checked in SQL: {count} entries, sequence 1..{} gap-free, hash chain unbroken",
        last.unwrap_or(0)
    ))
}

/// The upstream reference, or why it could not be run.
fn measure_reference(
    root: &Path,
    dir: &Path,
    rt: &tokio::runtime::Runtime,
    load: &Load,
) -> Result<Reference, String> {
    let repo = match std::env::var_os("ANIP_UPSTREAM_REPO") {
        Some(repo) if Path::new(&repo).exists() => PathBuf::from(repo),
        Some(repo) => {
            return Err(format!(
                "ANIP_UPSTREAM_REPO={} does not exist",
                Path::new(&repo).display()
            ))
        }
        None => {
            return Err(
                "ANIP_UPSTREAM_REPO is not set (a clone of the upstream anip repository; its \
                 examples/anip is the reference flight service)"
                    .to_owned(),
            )
        }
    };
    reference(root, dir, &repo, rt, load).map_err(|e| format!("{e:#}"))
}

fn reference(
    root: &Path,
    dir: &Path,
    repo: &Path,
    rt: &tokio::runtime::Runtime,
    load: &Load,
) -> anyhow::Result<Reference> {
    // The venv outlives a run (installing takes a while); the example is extracted anew each
    // run into the run's directory and never leaves target/.
    let venv = target_dir(root).join("bench/runtime-reference-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!("== python3 -m venv {}", venv.display());
        run_command(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    let installed = Command::new(&python)
        .args([
            "-c",
            "import anip_service, anip_fastapi, uvicorn, httpx, jwt",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("== pip install anip-service anip-fastapi uvicorn (0.24.x)");
        run_command(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "anip-service>=0.24,<0.25",
            "anip-fastapi>=0.24,<0.25",
            "uvicorn",
            "httpx",
            "PyJWT[crypto]",
        ]))?;
    }
    let reference_dir = dir.join("reference");
    fs::create_dir_all(&reference_dir)?;
    let archive = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", "HEAD", "examples/anip"])
        .output()
        .context("git archive")?;
    anyhow::ensure!(
        archive.status.success(),
        "git archive of examples/anip failed: {}",
        String::from_utf8_lossy(&archive.stderr).trim()
    );
    let tar_path = reference_dir.join("examples-anip.tar");
    fs::write(&tar_path, &archive.stdout)?;
    run_command(
        Command::new("tar")
            .arg("-x")
            .arg("-f")
            .arg(&tar_path)
            .arg("-C")
            .arg(&reference_dir),
    )?;
    let app_dir = reference_dir.join("examples/anip");
    anyhow::ensure!(
        app_dir.join("app.py").exists(),
        "examples/anip/app.py is not in {}",
        repo.display()
    );
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(&python);
    // One uvicorn worker, as the example's own main.py runs it (without --reload), and no
    // access log, as our runtime runs with RUST_LOG=warn.
    cmd.args(["-m", "uvicorn", "app:app", "--host", "127.0.0.1"])
        .arg("--port")
        .arg(port.to_string())
        .arg("--app-dir")
        .arg(&app_dir)
        .args(["--no-access-log", "--log-level", "warning"])
        .current_dir(&reference_dir)
        .env("ANIP_DB_PATH", reference_dir.join("anip.db"))
        .env("ANIP_KEY_PATH", reference_dir.join("anip-keys"))
        .env("PYTHONPATH", &app_dir);
    let server = start(
        "reference",
        cmd,
        &dir.join("reference.log"),
        &format!("{base}/.well-known/anip"),
        Duration::from_secs(90),
    )?;
    // One process: uvicorn with the service and its SQLite storage in it.
    let processes = Processes {
        sets: vec![("reference", ProcessSet::Pid(server.child.id()))],
        cores: 1,
    };
    let jwt = rt.block_on(issue_token(&base, REFERENCE_API_KEY))?;
    rt.block_on(async {
        let response = http_client()?
            .post(format!("{base}/anip/invoke/search_flights"))
            .bearer_auth(&jwt)
            .header("content-type", "application/json")
            .body(INVOKE_BODY)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(
            status == 200 && body["success"] == json!(true),
            "reference invocation answered {status}: {body}"
        );
        Ok(())
    })?;
    let load = &Load {
        processes: Some(processes),
        ..load.clone()
    };
    let discovery = load.run(
        "discovery GET /.well-known/anip",
        &format!("{base}/.well-known/anip"),
        &[],
    )?;
    let tokens = run_post(
        load,
        dir,
        "token issuance POST /anip/tokens (API key)",
        &format!("{base}/anip/tokens"),
        &Post {
            bearer: REFERENCE_API_KEY,
            body: TOKEN_BODY,
        },
    )?;
    let invoke = run_post(
        load,
        dir,
        "invoke search_flights",
        &format!("{base}/anip/invoke/search_flights"),
        &Post {
            bearer: &jwt,
            body: INVOKE_BODY,
        },
    )?;
    Ok(Reference {
        discovery,
        tokens,
        invoke,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_post_scripts() {
        let script = lua_post(&Post {
            bearer: "k\"ey",
            body: r#"{"a":"b"}"#,
        });
        assert!(script.contains(r#"wrk.body = "{\"a\":\"b\"}""#), "{script}");
        assert!(script.contains(r#""Bearer k\"ey""#), "{script}");
    }
}

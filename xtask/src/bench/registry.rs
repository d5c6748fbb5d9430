//! `cargo xtask bench registry`: the Registry under load, beside nginx serving the same bytes.
//!
//! 1. A release `anip-registry` against a fresh private Postgres.
//! 2. Publish latency: packages of about 270 KB, published one after another.
//! 3. Download throughput with wrk, and nginx serving the identical bytes from a file: the
//!    static-file ceiling on this machine, measured in the same run.
//! 4. List and search with 100,000 packages in the database (`--list-search-only` runs this
//!    part alone): answered from the registry's in-memory catalogue, the same page over and
//!    over and a distinct page every request; then the distinct pages again from a second
//!    registry with caching off, which is what every list costs while a catalogue reloads after
//!    a write.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::cpu::{ProcessSet, Processes};
use super::load::{Load, LoadResult, StaticServer};
use crate::local::{cargo, run as run_command, target_dir, terminate, workspace_root};
use store::free_port;

#[derive(clap::Args)]
pub struct RegistryBenchArgs {
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
    /// Packages published for the publish-latency figures.
    #[arg(long, default_value_t = 200)]
    publishes: usize,
    /// Packages seeded for the list and search figures.
    #[arg(long, default_value_t = 100_000)]
    catalogue: u32,
    /// Use the release binary already built.
    #[arg(long)]
    no_build: bool,
    /// Measure list and search only (skip publish, download and the nginx ceiling).
    #[arg(long)]
    list_search_only: bool,
}

const PUBLISH_TOKEN: &str = "bench-publish-token-0123456789abcdef";
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";

pub fn run(args: RegistryBenchArgs) -> anyhow::Result<()> {
    let root = workspace_root();
    if !args.no_build {
        eprintln!("== cargo build --release -p registry-api");
        run_command(cargo().args(["build", "--release", "-p", "registry-api"]))?;
    }
    let bench_dir = target_dir(&root).join("bench/registry");
    let _ = fs::remove_dir_all(&bench_dir);
    fs::create_dir_all(&bench_dir)?;

    let pg = store::LocalPostgres::start(&bench_dir.join("pg"), None)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(pg.ensure_database("bench_registry"))?;
    let db_url = pg.url("bench_registry");

    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}/registry-api/v1");
    let mut registry = start_registry(&root, &bench_dir, &db_url, port, LISTING_CACHE_TTL)?;
    let processes = Processes {
        sets: vec![
            ("registry", ProcessSet::Pid(registry.id())),
            ("postgres", ProcessSet::Postgres(bench_dir.join("pg/data"))),
        ],
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let outcome = rt.block_on(measure(&args, &base, &db_url, &bench_dir, processes));

    terminate(&mut registry, "anip-registry", Duration::from_secs(30));
    pg.stop()?;
    let report = outcome?;
    println!("{report}");
    fs::write(bench_dir.join("report.txt"), &report)?;
    eprintln!(
        "(report also in {})",
        bench_dir.join("report.txt").display()
    );
    Ok(())
}

/// A release registry on `port`, logging to `registry-PORT.log` in `dir`; `listing_cache_ttl`
/// zero turns the listing cache and the catalogue off.
fn start_registry(
    root: &Path,
    dir: &Path,
    db_url: &str,
    port: u16,
    listing_cache_ttl: Duration,
) -> anyhow::Result<Child> {
    let binary = target_dir(root).join("release/anip-registry");
    let log_path = dir.join(format!("registry-{port}.log"));
    let log = fs::File::create(&log_path)?;
    let mut child = Command::new(&binary)
        .env("ANIP_REGISTRY_DATABASE_URL", db_url)
        .env("ANIP_REGISTRY_ADDR", format!("127.0.0.1:{port}"))
        .env("ANIP_REGISTRY_MODE", "dev")
        .env("ANIP_REGISTRY_KEY_ID", "bench-key")
        .env(
            "ANIP_REGISTRY_ED25519_PRIVATE_KEY",
            "YmVuY2gtc2VlZC10aGlydHktdHdvLWJ5dGVzLWxvbmc=",
        )
        .env("ANIP_REGISTRY_PUBLISH_TOKEN", PUBLISH_TOKEN)
        .env("ANIP_REGISTRY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ANIP_REGISTRY_PUBLISHER_ID", "bench")
        .env("ANIP_REGISTRY_PUBLISHER_TYPE", "organization")
        .env(
            "ANIP_REGISTRY_LISTING_CACHE_TTL_MS",
            listing_cache_ttl.as_millis().to_string(),
        )
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "anip-registry exited ({status}); see {}",
                log_path.display()
            );
        }
        if crate::up::http_status(&format!("http://127.0.0.1:{port}/registry-api/v1/readyz"))
            .unwrap_or(0)
            == 200
        {
            return Ok(child);
        }
        anyhow::ensure!(Instant::now() < deadline, "anip-registry not ready in 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn measure(
    args: &RegistryBenchArgs,
    base: &str,
    db_url: &str,
    dir: &Path,
    processes: Processes,
) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut lines = vec![format!(
        "Registry benchmark ({} cores, wrk -t2 -c{} -d{}s, loopback, release build; load average \
         at start {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.connections,
        args.seconds,
        load_average()
    )];
    let load = Load {
        threads: 2,
        connections: args.connections,
        duration: Duration::from_secs(args.seconds),
        processes: Some(processes),
        runs: args.runs,
    };
    if !args.list_search_only {
        measure_publish_and_download(args, base, dir, &http, &load, &mut lines).await?;
    }
    measure_list_and_search(args, base, db_url, dir, &load, &mut lines).await?;
    measure_database_path(db_url, dir, &load, &mut lines)?;
    Ok(lines.join("\n"))
}

/// The one-minute load average, as `uptime` shows it: other work on the machine moves latency
/// percentiles, so the report names it.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

async fn measure_publish_and_download(
    args: &RegistryBenchArgs,
    base: &str,
    dir: &Path,
    http: &reqwest::Client,
    load: &Load,
    lines: &mut Vec<String>,
) -> anyhow::Result<()> {
    // Publish latency, one after another, with a 270 KB package.
    let mut latencies = Vec::with_capacity(args.publishes);
    let mut size_270 = 0;
    for i in 0..args.publishes {
        let body = crate::sample_package::publish_request(
            &format!("bench-large-{i}"),
            "1.0.0",
            270 * 1024,
        );
        let bytes = serde_json::to_vec(&body)?;
        size_270 = bytes.len();
        let started = Instant::now();
        let resp = http
            .post(format!("{base}/publications"))
            .bearer_auth(PUBLISH_TOKEN)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await?;
        let status = resp.status();
        let _ = resp.bytes().await?;
        latencies.push(started.elapsed());
        if status != 201 {
            bail!("publish {i} answered {status}");
        }
    }
    latencies.sort();
    lines.push(format!(
        "{:<56} {:>10} publishes   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} bytes each)",
        "publish 270 KB package (sequential)",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        size_270
    ));

    // Download of a 60 KB package, and nginx serving the same bytes.
    let body = crate::sample_package::publish_request("bench-download", "1.0.0", 60 * 1024);
    let resp = http
        .post(format!("{base}/publications"))
        .bearer_auth(PUBLISH_TOKEN)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 201,
        "publish for download: {}",
        resp.status()
    );
    let download_path = format!("{base}/packages/bench-download/1.0.0/download");
    let served = http.get(&download_path).send().await?.bytes().await?;
    let static_root = dir.join("static");
    fs::create_dir_all(&static_root)?;
    fs::write(static_root.join("package.json"), &served)?;
    let nginx_port = free_port()?;
    let nginx = StaticServer::start(&dir.join("nginx"), &static_root, nginx_port)?;
    let unmetered = Load {
        processes: None,
        ..load.clone()
    };
    let ceiling = unmetered.run(
        &format!("nginx static file ({} bytes)", served.len()),
        &format!("http://127.0.0.1:{nginx_port}/package.json"),
        &[],
    )?;
    drop(nginx);
    let download = load.run(
        &format!("registry download ({} bytes)", served.len()),
        &download_path,
        &[],
    )?;
    let revalidate = {
        let etag = http
            .get(&download_path)
            .send()
            .await?
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .context("download has no ETag")?;
        load.run(
            "registry download, If-None-Match (304)",
            &download_path,
            &[&format!("If-None-Match: {etag}")],
        )?
    };
    for r in [&ceiling, &download, &revalidate] {
        lines.push(r.report(""));
    }
    lines.push(format!(
        "{:<56} {:>9.0}%",
        "download / static-file ceiling",
        100.0 * download.requests_per_sec / ceiling.requests_per_sec
    ));

    check_errors(&[&download, &revalidate])
}

async fn measure_list_and_search(
    args: &RegistryBenchArgs,
    base: &str,
    db_url: &str,
    dir: &Path,
    load: &Load,
    lines: &mut Vec<String>,
) -> anyhow::Result<()> {
    seed_catalogue(db_url, args.catalogue).await?;
    let load_seconds = await_catalogue(base, db_url, args.catalogue).await?;
    let (served_before, misses_before) =
        (catalogue_pages(base).await?, catalogue_misses(base).await?);
    lines.push(format!(
        "{:<56} {:>10.0} ms to load {} versions (rows and indexes); registry RSS {}",
        "catalogue load",
        load_seconds * 1000.0,
        args.catalogue,
        registry_rss(load)
    ));
    // The same URL again and again.
    let list = load.run(
        &format!(
            "list (first page of 50, {} pkgs) (same page)",
            args.catalogue
        ),
        &format!("{base}/publications"),
        &[],
    )?;
    let list_deep = load.run(
        "list (limit 20, offset 2000) (same page)",
        &format!("{base}/publications?limit=20&offset=2000"),
        &[],
    )?;
    let search = load.run(
        "search q=pkg-4242 (same page)",
        &format!("{base}/publications?q=pkg-4242"),
        &[],
    )?;
    let prefix = load.run(
        "search q=zz (prefix, no match) (same page)",
        &format!("{base}/publications?q=zz"),
        &[],
    )?;
    let medium = load.run(
        "search q=pkg-42 (1,111 matches) (same page)",
        &format!("{base}/publications?q=pkg-42"),
        &[],
    )?;
    let broad = load.run(
        "search q=package (every package) (same page)",
        &format!("{base}/publications?q=package"),
        &[],
    )?;
    let cached = [&list, &list_deep, &search, &prefix, &medium, &broad];
    for r in cached {
        lines.push(r.report(""));
    }

    // Every request a page no other request of the run asked for.
    let distinct = distinct_pages(base, dir, load, "")?;
    for r in &distinct {
        lines.push(r.report(""));
    }
    let served = catalogue_pages(base).await? - served_before;
    let requests = cached.iter().map(|r| r.completed).sum::<u64>()
        + distinct.iter().map(|r| r.completed).sum::<u64>();
    let misses = catalogue_misses(base).await? - misses_before;
    lines.push(format!(
        "{:<56} {:>10.0} pages; misses: {misses} (wrk completed {requests} list and search requests)",
        "answered from the catalogue", served
    ));
    check_errors(&cached)?;
    check_errors(&distinct.iter().collect::<Vec<_>>())
}

/// The distinct-page runs against the registry at `base`, labelled with `suffix`. (A page
/// repeats only after [`DISTINCT_KEYS`] requests; the catalogue answers before the listing
/// cache, and the report counts what it answered; the database runs have no cache.)
fn distinct_pages(
    base: &str,
    dir: &Path,
    load: &Load,
    suffix: &str,
) -> anyhow::Result<Vec<LoadResult>> {
    let url = format!("{base}/publications");
    let mut results = Vec::new();
    for (i, (label, path)) in DISTINCT.iter().enumerate() {
        let script = dir.join(format!("distinct-{i}.lua"));
        fs::write(&script, distinct_script(path, load.threads))?;
        let label = format!("{label}{suffix}");
        results.push(load.run_script(&label, &url, &script)?);
    }
    Ok(results)
}

/// The distinct pages again, from a second registry on the same database with the listing cache
/// and the catalogue off: what each list costs in the database, as while a catalogue reloads
/// after a write.
fn measure_database_path(
    db_url: &str,
    dir: &Path,
    load: &Load,
    lines: &mut Vec<String>,
) -> anyhow::Result<()> {
    let port = free_port()?;
    let mut registry = start_registry(&workspace_root(), dir, db_url, port, Duration::ZERO)?;
    let metered = Load {
        processes: Some(Processes {
            sets: vec![
                ("registry", ProcessSet::Pid(registry.id())),
                ("postgres", ProcessSet::Postgres(dir.join("pg/data"))),
            ],
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }),
        ..load.clone()
    };
    let base = format!("http://127.0.0.1:{port}/registry-api/v1");
    let outcome = distinct_pages(&base, dir, &metered, " (database)");
    terminate(&mut registry, "anip-registry", Duration::from_secs(30));
    let results = outcome?;
    for r in &results {
        lines.push(r.report(""));
    }
    check_errors(&results.iter().collect::<Vec<_>>())
}

/// The resident memory of the metered registry process, as `/proc` shows it.
fn registry_rss(load: &Load) -> String {
    let pid = load.processes.as_ref().and_then(|p| {
        p.sets.iter().find_map(|(name, set)| match set {
            ProcessSet::Pid(pid) if *name == "registry" => Some(*pid),
            _ => None,
        })
    });
    pid.and_then(|pid| fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A series of the registry's `/metrics`.
async fn metric(base: &str, name: &str) -> anyhow::Result<Option<f64>> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok()))
}

async fn catalogue_pages(base: &str) -> anyhow::Result<f64> {
    Ok(metric(base, "anip_registry_catalogue_pages_total")
        .await?
        .unwrap_or(0.0))
}

/// The reasons of `anip_registry_catalogue_misses_total`.
const MISS_REASONS: [&str; 3] = ["stale", "unconfirmed", "expired"];

/// Lists the catalogue held but did not answer (they went to the database), by reason.
async fn catalogue_misses(base: &str) -> anyhow::Result<Misses> {
    let mut misses = Misses::default();
    for (count, reason) in misses.0.iter_mut().zip(MISS_REASONS) {
        let series = format!("anip_registry_catalogue_misses_total{{reason=\"{reason}\"}}");
        *count = metric(base, &series).await?.unwrap_or(0.0);
    }
    Ok(misses)
}

/// Catalogue misses, one count per [`MISS_REASONS`] entry.
#[derive(Default)]
struct Misses([f64; 3]);

impl std::ops::Sub for Misses {
    type Output = Misses;
    fn sub(self, before: Misses) -> Misses {
        Misses(std::array::from_fn(|i| self.0[i] - before.0[i]))
    }
}

impl std::fmt::Display for Misses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = MISS_REASONS
            .iter()
            .zip(self.0)
            .map(|(r, n)| format!("{r} {n:.0}"))
            .collect();
        write!(f, "{}", parts.join(", "))
    }
}

/// Tells the registry that listings changed (the seed bypassed it), waits until its catalogue
/// answers lists again with `versions` or more, and returns how long its last load took.
async fn await_catalogue(base: &str, db_url: &str, versions: u32) -> anyhow::Result<f64> {
    let (client, connection) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute("SELECT pg_notify('registry_lifecycle', 'listings')")
        .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held = metric(base, "anip_registry_catalogue_versions")
            .await?
            .unwrap_or(0.0);
        if held >= f64::from(versions) {
            let before = catalogue_pages(base).await?;
            reqwest::get(format!("{base}/publications")).await?;
            if catalogue_pages(base).await? > before {
                return Ok(metric(base, "anip_registry_catalogue_load_seconds")
                    .await?
                    .unwrap_or(f64::NAN));
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the catalogue never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `ANIP_REGISTRY_LISTING_CACHE_TTL_MS` for the benchmarked registry (its default).
const LISTING_CACHE_TTL: Duration = Duration::from_millis(1000);

/// Distinct pages each distinct-page run cycles through.
const DISTINCT_KEYS: u32 = 10_000;

/// Distinct-page runs: a label and a Lua expression for the request's query string, over `key`
/// (0 to [`DISTINCT_KEYS`] - 1, never the same for two requests in a row of 10,000).
const DISTINCT: [(&str, &str); 3] = [
    (
        "list (limit 1-100, offset 0-99) (distinct pages)",
        r#"string.format("limit=%d&offset=%d", 1 + key % 100, math.floor(key / 100))"#,
    ),
    (
        "search q=pkg-1000..9999 (~11 matches) (distinct pages)",
        r#"string.format("q=pkg-%d", 1000 + key % 9000)"#,
    ),
    (
        "search q=package, limit 1-100, offset 0-99 (distinct pages)",
        r#"string.format("q=package&limit=%d&offset=%d", 1 + key % 100, math.floor(key / 100))"#,
    ),
];

/// A wrk script whose `threads` threads interleave `key`s, so no two requests within
/// [`DISTINCT_KEYS`] ask for the same page.
fn distinct_script(query: &str, threads: u32) -> String {
    const TEMPLATE: &str = r#"-- Generated by cargo xtask bench registry: every request asks for another page.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  n = 0
end
function request()
  local key = (n * STRIDE + id) % KEYS
  n = n + 1
  return wrk.format("GET", wrk.path .. "?" .. QUERY)
end
"#;
    TEMPLATE
        .replace("STRIDE", &threads.to_string())
        .replace("KEYS", &DISTINCT_KEYS.to_string())
        .replace("QUERY", query)
}

fn check_errors(results: &[&LoadResult]) -> anyhow::Result<()> {
    for r in results {
        // 304s count as non-2xx in wrk's report; only the revalidation run expects them.
        if r.non_2xx > 0 && !r.label.contains("304") {
            bail!("{}: {} non-2xx responses", r.label, r.non_2xx);
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Inserts `count` packages straight into the Registry's tables, as the scale test in
/// `crates/registry-api/tests/scale.rs` does: publishing 100,000 packages through the API would
/// measure the publish path, not listing.
async fn seed_catalogue(db_url: &str, count: u32) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "INSERT INTO registry_packages (package_id, package_version, project_ref, product_revision_ref, \
             developer_revision_ref, contract_signature, schema_version, publisher_id, publisher_type, \
             manifest_digest, definition_digest, lock_digest, name, search_text, published_at, published_at_ts, \
             manifest, service_definition, recommended_lock, record_json, record_etag, download_count) \
             SELECT 'pkg-' || i, '1.0.0', 'p', 'r', 'd', 'c', 'anip-service-definition/v1', 'bench', 'organization', \
             'sha256:m', 'sha256:d', 'sha256:l', 'Package ' || i, 'pkg-' || i || ' package ' || i || ' bench', \
             '2026-01-01T00:00:00Z', now() - (i || ' seconds')::interval, '{{}}', '{{}}', '{{}}', '\\x7b7d0a', 'e', i % 1000 \
             FROM generate_series(1, {count}) AS i; \
             UPDATE registry_counters SET value = value + {count} WHERE name = 'listed_packages';"
        ))
        .await?;
    // What autovacuum does within a minute of such an import (statistics and the visibility
    // map), done now so that every run measures the same state.
    client
        .batch_execute("VACUUM (ANALYZE) registry_packages")
        .await?;
    Ok(())
}

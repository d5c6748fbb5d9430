//! Test support: a database per test, cloned from a template migrated once.
//!
//! # Which server
//!
//! If `ANIP_TEST_DATABASE_URL` is set, it is a `postgres://` URL to the
//! maintenance database (e.g. `postgres`) of a running server whose role may
//! create databases. Test databases created there are dropped when their
//! [`TestDatabase`] is dropped, unless the test panicked (so the data can be
//! inspected; the name is printed).
//!
//! Otherwise each test process starts one private cluster (a
//! [`LocalPostgres`](crate::LocalPostgres) layout) in a fresh directory under
//! [`std::env::temp_dir`], tuned for throwaway use (no fsync). Statics are
//! never dropped, so the cluster's lifetime is tied to the process by a
//! *supervisor*: a small `/bin/sh` child in its own process group whose stdin
//! is a pipe held by this process. The supervisor runs `initdb` and
//! `pg_ctl start`, reports `ready`, then blocks reading stdin. The kernel
//! closes the pipe whenever this process ends, however it ends (normal exit,
//! panic, `SIGKILL`), and the supervisor then runs `pg_ctl stop -m
//! immediate` and removes the directory. Because initdb, start, stop and
//! removal run in that one sequential script, a test process killed at any
//! point (even during initdb or startup) leaves neither a postmaster nor
//! files behind. Terminal `SIGINT`/`SIGHUP`/`SIGQUIT` do not reach the
//! supervisor (own process group, signals ignored, as is `SIGPIPE` should
//! its reader be gone), so Ctrl-C on `cargo test` also cleans up. Only
//! killing the supervisor itself with `SIGKILL` would defeat this.
//!
//! # Templates
//!
//! For each [`MigrationSet`] a template database
//! `tmpl_<service>_<hash of migration names and checksums>` is created and
//! migrated once per server, across processes: builders serialize on a
//! server-wide advisory lock in the maintenance database, build under a
//! temporary name and rename when complete, so a half-migrated template is
//! never used. The template is marked `IS_TEMPLATE` and
//! `ALLOW_CONNECTIONS false`; since nobody can connect to it, concurrent
//! `CREATE DATABASE ... TEMPLATE` clones cannot fail with "source database
//! is being accessed by other users" and need no lock (a clone that still
//! hits that error is retried).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::local::{shell_quote, Cluster};
use crate::migrate::{migrate, MigrationSet};
use crate::ports::free_port;
use crate::url::{connect_dedicated, parse_config, parse_target, quote_ident, url_with_database};
use crate::{connect_pool, Pool, PoolOptions, StoreError};

/// Environment variable naming an external test server's maintenance database.
pub const TEST_DATABASE_URL_ENV: &str = "ANIP_TEST_DATABASE_URL";

/// Advisory lock key (in the maintenance database) serializing template builds.
const TEMPLATE_LOCK: i64 = 0x414e_4950_7465_6d70;

/// Connect timeout for the maintenance database.
const MAINTENANCE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the private throwaway cluster.
const FAST_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "200"),
];

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The server the tests of this process use.
struct Server {
    maintenance_url: String,
    /// External servers outlive the process: drop test databases there.
    external: bool,
    /// Keeps the supervisor's stdin pipe open for the process lifetime.
    _supervisor: Option<Supervisor>,
}

struct Supervisor {
    _child: Child,
    _stdin: ChildStdin,
    _stdout: BufReader<ChildStdout>,
}

/// A database for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// `postgres://` URL of the database.
    pub url: String,
    /// The database name.
    pub name: String,
    maintenance_url: String,
    drop_on_drop: bool,
}

impl TestDatabase {
    /// A pool on this database with [`PoolOptions::default`].
    pub fn pool(&self) -> Pool {
        connect_pool(&self.url, &PoolOptions::default())
            .unwrap_or_else(|e| panic!("pool for test database {}: {e}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.drop_on_drop {
            return;
        }
        if std::thread::panicking() {
            eprintln!(
                "keeping test database {} for inspection (test panicked)",
                self.name
            );
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // use a private runtime on a helper thread.
        let maintenance_url = self.maintenance_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = maintenance(&maintenance_url)
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote_ident(&name)
                    ))
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

/// A fresh database with `set`'s migrations applied, cloned from the
/// set's template (built on first use). Panics if no server is available.
pub async fn test_database(set: &'static MigrationSet) -> TestDatabase {
    let server = server();
    let template = ensure_template(server, set)
        .await
        .unwrap_or_else(|e| panic!("preparing the {} template database: {e}", set.service));
    create(server, set.service, &template)
        .await
        .unwrap_or_else(|e| panic!("creating a {} test database: {e}", set.service))
}

/// A fresh database with no migrations (for migration tests). Panics if no
/// server is available.
pub async fn empty_database() -> TestDatabase {
    create(server(), "empty", "template0")
        .await
        .unwrap_or_else(|e| panic!("creating an empty test database: {e}"))
}

fn server() -> &'static Server {
    match SERVER.get_or_init(init_server) {
        Ok(server) => server,
        Err(e) => panic!("no PostgreSQL for tests: {e}"),
    }
}

fn init_server() -> Result<Server, String> {
    if let Ok(url) = std::env::var(TEST_DATABASE_URL_ENV) {
        if !url.trim().is_empty() {
            parse_config(&url).map_err(|e| format!("{TEST_DATABASE_URL_ENV}: {e}"))?;
            url_with_database(&url, "x").map_err(|e| format!("{TEST_DATABASE_URL_ENV}: {e}"))?;
            return Ok(Server {
                maintenance_url: url,
                external: true,
                _supervisor: None,
            });
        }
    }
    let mut last_error = String::new();
    for attempt in 0..3 {
        match start_private_cluster(attempt) {
            Ok(server) => return Ok(server),
            Err(e) => last_error = e,
        }
        if !last_error.contains("could not bind") && !last_error.contains("already in use") {
            break;
        }
    }
    Err(format!(
        "{TEST_DATABASE_URL_ENV} is not set and a private cluster could not be started: \
         {last_error}"
    ))
}

/// Starts the per-process cluster under a supervisor (see the module docs).
fn start_private_cluster(attempt: u32) -> Result<Server, String> {
    let root: PathBuf = std::env::temp_dir().join(format!(
        "anip-pg-{}-{}-{attempt}",
        std::process::id(),
        nanos()
    ));
    let cluster = Cluster::locate(&root).map_err(|e| e.to_string())?;
    let port = free_port().map_err(|e| e.to_string())?;
    let words = |argv: Vec<std::ffi::OsString>| -> String {
        argv.iter()
            .map(|w| shell_quote(&w.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let initdb_errors = cluster.root.join("initdb.err");
    // initdb, start, wait for the parent to go away, stop, clean up: all in
    // one sequential script, so no step can outlive the cleanup.
    let script = format!(
        "trap '' INT HUP QUIT PIPE\n\
         if {initdb} >/dev/null 2>{initdb_errors} && {start} >/dev/null 2>&1; \
         then echo ready; else echo failed; fi\n\
         while read -r _line; do :; done\n\
         {stop} >/dev/null 2>&1\n\
         rm -rf {root}\n",
        initdb = words(cluster.initdb_argv(true)),
        initdb_errors = shell_quote(&initdb_errors.to_string_lossy()),
        start = words(cluster.start_argv(port, FAST_SETTINGS)),
        stop = words(cluster.stop_argv("immediate")),
        root = shell_quote(&cluster.root.to_string_lossy()),
    );
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(&cluster.root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawning the PostgreSQL supervisor: {e}"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("supervisor pipes missing".to_owned());
    };
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    // A read error leaves `line` empty, which counts as failure below.
    let _ = stdout.read_line(&mut line);
    if line.trim() != "ready" {
        let log = format!(
            "{}\n{}",
            std::fs::read_to_string(&initdb_errors)
                .unwrap_or_default()
                .trim(),
            cluster.log_tail()
        );
        // Closing stdin lets the supervisor clean up; wait so the next
        // attempt does not race it.
        drop(stdin);
        let _ = child.wait();
        return Err(format!("initdb or pg_ctl start failed\n{log}"));
    }
    Ok(Server {
        maintenance_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        external: false,
        _supervisor: Some(Supervisor {
            _child: child,
            _stdin: stdin,
            _stdout: stdout,
        }),
    })
}

async fn maintenance(url: &str) -> Result<Client, StoreError> {
    connect_dedicated(&parse_target(url)?, MAINTENANCE_CONNECT_TIMEOUT).await
}

async fn database_exists(client: &Client, name: &str) -> Result<bool, StoreError> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some())
}

/// `tmpl_<service>_<hash>`; the hash covers the history table and every
/// migration's name and checksum.
fn template_name(set: &MigrationSet) -> String {
    let mut hash = Fnv::new();
    hash.write(set.history_table);
    for migration in (set.runner)().get_migrations() {
        hash.write(&format!("{migration}:{}", migration.checksum()));
    }
    format!(
        "tmpl_{}_{:012x}",
        sanitize(set.service),
        hash.0 & 0xffff_ffff_ffff
    )
}

async fn ensure_template(server: &Server, set: &MigrationSet) -> Result<String, StoreError> {
    let template = template_name(set);
    let client = maintenance(&server.maintenance_url).await?;
    if database_exists(&client, &template).await? {
        return Ok(template);
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await?;
    let built = build_template(server, set, &client, &template).await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await;
    built.map(|()| template)
}

async fn build_template(
    server: &Server,
    set: &MigrationSet,
    client: &Client,
    template: &str,
) -> Result<(), StoreError> {
    if database_exists(client, template).await? {
        return Ok(());
    }
    let building = format!("{template}_build");
    let quoted = quote_ident(&building);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {quoted} TEMPLATE template0"))
        .await?;
    migrate(&url_with_database(&server.maintenance_url, &building)?, set).await?;
    client
        .batch_execute(&format!(
            "ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true; \
             ALTER DATABASE {quoted} RENAME TO {}",
            quote_ident(template)
        ))
        .await?;
    tracing::info!(template, "built test template database");
    Ok(())
}

async fn create(server: &Server, label: &str, template: &str) -> Result<TestDatabase, StoreError> {
    let name = format!(
        "t_{}_{}_{}_{}",
        sanitize(label),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos() % 1_000_000_000_000
    );
    let client = maintenance(&server.maintenance_url).await?;
    let sql = format!(
        "CREATE DATABASE {} TEMPLATE {}",
        quote_ident(&name),
        quote_ident(template)
    );
    let mut tries = 0;
    loop {
        match client.batch_execute(&sql).await {
            Ok(()) => break,
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(TestDatabase {
        url: url_with_database(&server.maintenance_url, &name)?,
        name,
        maintenance_url: server.maintenance_url.clone(),
        drop_on_drop: server.external,
    })
}

/// Lower-case alphanumerics and `_`, at most 20 characters.
fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(20)
        .collect()
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// 64-bit FNV-1a: stable across Rust releases and processes.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, text: &str) {
        for byte in text.bytes().chain(std::iter::once(0)) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A TCP proxy in front of a test database that can stall: while stalled, what either side
/// sends is read and held back, and the connections stay open, as with a frozen server, a
/// stalled disk or a network that drops packets. For tests of what a service does when its
/// database stops answering without going away.
pub struct StallingProxy {
    url: String,
    stalled: tokio::sync::watch::Sender<bool>,
}

impl StallingProxy {
    /// A proxy in front of the server of `database_url` (a `postgres://...@host:port/db` URL, as
    /// [`TestDatabase::url`] is), passing traffic until [`StallingProxy::stall`].
    ///
    /// # Panics
    /// When the URL has no `@host:port/` part or no loopback port can be bound (test support).
    pub async fn in_front_of(database_url: &str) -> StallingProxy {
        let (before, after) = database_url
            .split_once('@')
            .expect("a database URL with a host");
        let (target, database) = after
            .split_once('/')
            .expect("a database URL with a database");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the proxy");
        let port = listener.local_addr().expect("the proxy's port").port();
        let (stalled, _) = tokio::sync::watch::channel(false);
        let gate = stalled.clone();
        let target = target.to_owned();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let (from_client, to_client) = inbound.into_split();
                let (from_server, to_server) = outbound.into_split();
                tokio::spawn(forward(from_client, to_server, gate.subscribe()));
                tokio::spawn(forward(from_server, to_client, gate.subscribe()));
            }
        });
        StallingProxy {
            url: format!("{before}@127.0.0.1:{port}/{database}"),
            stalled,
        }
    }

    /// The database URL through the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stalls (`true`) or lets traffic through again (`false`); held-back bytes then flow.
    pub fn stall(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|stalled| !stalled).await.is_err()
            || to.write_all(&buffer[..n]).await.is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_labels() {
        assert_eq!(sanitize("Studio-API"), "studio_api");
        assert_eq!(sanitize(&"x".repeat(40)).len(), 20);
    }

    #[test]
    fn fnv_is_stable() {
        let mut h = Fnv::new();
        h.write("a");
        assert_eq!(h.0, {
            let mut v: u64 = 0xcbf2_9ce4_8422_2325;
            for b in [b'a', 0] {
                v ^= u64::from(b);
                v = v.wrapping_mul(0x0100_0000_01b3);
            }
            v
        });
    }
}

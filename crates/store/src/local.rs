//! A private PostgreSQL cluster for development and tests.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::ports::free_port;
use crate::url::{connect_dedicated, parse_target, quote_ident, DEFAULT_CONNECT_TIMEOUT};
use crate::StoreError;

/// The unprivileged account PostgreSQL runs as when we are root.
const UNPRIVILEGED_USER: &str = "nobody";

/// Unix socket paths must fit in `sun_path` (108 bytes on Linux, 104 on macOS).
const MAX_SOCKET_PATH: usize = 100;

/// A private PostgreSQL cluster under a directory, listening on
/// `127.0.0.1:port`.
///
/// Layout of the directory: `data/` (the cluster, created by `initdb` on the
/// first start and reused afterwards) and `postgres.log`. The server's Unix
/// socket is placed in the directory too when its path is short enough.
/// The superuser is `postgres` with `trust` authentication, so only use this
/// for local development and tests.
///
/// When the process runs as root (PostgreSQL refuses to), the directory is
/// handed to the `nobody` account and `initdb`/`pg_ctl` run through
/// `runuser -u nobody --`; the directory's parents must then be
/// traversable by everyone.
///
/// The server is stopped (`pg_ctl stop -m fast`) on drop or by
/// [`stop`](LocalPostgres::stop), unless [`detach`](LocalPostgres::detach)ed.
/// Starting and stopping run `initdb`/`pg_ctl` synchronously (about a
/// second or two); inside an async runtime prefer `spawn_blocking` or do it
/// before serving. Like any daemon started by `pg_ctl`, the server outlives
/// a process that is killed before dropping the handle.
#[derive(Debug)]
pub struct LocalPostgres {
    cluster: Cluster,
    port: u16,
    armed: bool,
}

impl LocalPostgres {
    /// Starts (creating with `initdb` if needed) the cluster under `dir` on
    /// `127.0.0.1:port`; `None` or `Some(0)` picks a free port. If the
    /// cluster is already running (e.g. an earlier handle was
    /// [`detach`](LocalPostgres::detach)ed) it is adopted, provided the port
    /// matches.
    pub fn start(dir: &Path, port: Option<u16>) -> Result<Self, StoreError> {
        Self::start_with(dir, port, &[])
    }

    /// [`LocalPostgres::start`] with server settings (`-c name=value`), e.g. the memory and WAL
    /// sizing a benchmark compares.
    pub fn start_with(
        dir: &Path,
        port: Option<u16>,
        settings: &[(&str, &str)],
    ) -> Result<Self, StoreError> {
        let cluster = Cluster::prepare(dir, false)?;
        let port = cluster.start(port.filter(|p| *p != 0), settings)?;
        Ok(LocalPostgres {
            cluster,
            port,
            armed: true,
        })
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory (`<dir>/data`).
    pub fn data_dir(&self) -> &Path {
        &self.cluster.data
    }

    /// `postgres://postgres@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates database `name` unless it exists (safe to call concurrently).
    pub async fn ensure_database(&self, name: &str) -> Result<(), StoreError> {
        let target = parse_target(&self.url("postgres"))?;
        let client = connect_dedicated(&target, DEFAULT_CONNECT_TIMEOUT).await?;
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if exists {
            return Ok(());
        }
        match client
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stops the server (`pg_ctl stop -m fast`, waiting until it is gone).
    pub fn stop(mut self) -> Result<(), StoreError> {
        self.armed = false;
        self.cluster.stop("fast")
    }

    /// Leaves the server running; dropping the handle no longer stops it.
    pub fn detach(mut self) {
        self.armed = false;
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = self.cluster.stop("fast") {
                tracing::warn!(error = %e, "stopping the local PostgreSQL failed");
            }
        }
    }
}

/// Paths and tools of one cluster directory.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) root: PathBuf,
    pub(crate) data: PathBuf,
    log: PathBuf,
    pg_ctl: PathBuf,
    initdb: PathBuf,
    run_as: Option<&'static str>,
}

impl Cluster {
    /// Creates `dir` (owned by the unprivileged account when we are root)
    /// and runs `initdb` unless the cluster exists. `fast` skips fsync in
    /// initdb (for throwaway clusters).
    pub(crate) fn prepare(dir: &Path, fast: bool) -> Result<Cluster, StoreError> {
        let cluster = Cluster::locate(dir)?;
        if !cluster.initialized()? {
            let out = cluster.run_argv(&cluster.initdb_argv(fast), "initdb")?;
            if !out.status.success() {
                return Err(StoreError::LocalPostgres(format!(
                    "initdb failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            tracing::info!(data = %cluster.data.display(), "initialised a local PostgreSQL cluster");
        }
        Ok(cluster)
    }

    /// Finds the tools and creates `dir` (owned by the unprivileged account
    /// when we are root); does not run anything else.
    pub(crate) fn locate(dir: &Path) -> Result<Cluster, StoreError> {
        let pg_ctl = find_pg_bin("pg_ctl").ok_or_else(|| {
            StoreError::LocalPostgres(
                "pg_ctl not found (install PostgreSQL, put its bin directory on PATH, \
                 or set ANIP_PG_BIN_DIR)"
                    .to_owned(),
            )
        })?;
        let initdb = sibling_or_search(&pg_ctl, "initdb").ok_or_else(|| {
            StoreError::LocalPostgres("initdb not found next to pg_ctl or on PATH".to_owned())
        })?;

        fs::create_dir_all(dir).map_err(StoreError::io(format!("creating {}", dir.display())))?;
        let root = dir
            .canonicalize()
            .map_err(StoreError::io(format!("resolving {}", dir.display())))?;
        let run_as = if effective_uid_is_root() {
            Some(UNPRIVILEGED_USER)
        } else {
            None
        };
        let cluster = Cluster {
            data: root.join("data"),
            log: root.join("postgres.log"),
            root,
            pg_ctl,
            initdb,
            run_as,
        };
        if let Some(user) = run_as {
            cluster.hand_over(user)?;
        }
        Ok(cluster)
    }

    /// Whether `data` holds a cluster; an occupied non-cluster directory is
    /// an error.
    pub(crate) fn initialized(&self) -> Result<bool, StoreError> {
        if self.data.join("PG_VERSION").exists() {
            return Ok(true);
        }
        let occupied = fs::read_dir(&self.data)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false);
        if occupied {
            return Err(StoreError::LocalPostgres(format!(
                "{} exists but is not a PostgreSQL data directory",
                self.data.display()
            )));
        }
        Ok(false)
    }

    /// The argument vector (program first) of `initdb` for this cluster.
    pub(crate) fn initdb_argv(&self, fast: bool) -> Vec<OsString> {
        let mut argv = self.run_as_prefix();
        argv.push(self.initdb.clone().into());
        argv.extend([
            OsString::from("-D"),
            self.data.clone().into(),
            "-U".into(),
            "postgres".into(),
            "--auth=trust".into(),
            "-E".into(),
            "UTF8".into(),
            "--locale=C".into(),
        ]);
        if fast {
            argv.push("--no-sync".into());
        }
        argv
    }

    /// Gives the cluster directory to `user` (mode 0700) and checks that the
    /// account can reach it.
    fn hand_over(&self, user: &str) -> Result<(), StoreError> {
        let uid = id_of(user, "-u")?;
        let gid = id_of(user, "-g")?;
        std::os::unix::fs::chown(&self.root, Some(uid), Some(gid))
            .map_err(StoreError::io(format!("chown {}", self.root.display())))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .map_err(StoreError::io(format!("chmod {}", self.root.display())))?;
        let out = run(
            self.command(Path::new("test")).arg("-w").arg(&self.root),
            "runuser",
        )?;
        if !out.status.success() {
            return Err(StoreError::LocalPostgres(format!(
                "{} is not accessible to user {user}; PostgreSQL cannot run as root, so \
                 choose a directory whose parents are traversable by everyone",
                self.root.display()
            )));
        }
        Ok(())
    }

    /// A command running `program` as the cluster's owner, in the cluster
    /// directory, with stdin closed.
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.current_dir(&self.root).stdin(Stdio::null());
        cmd
    }

    /// The argument vector (program first) of `pg_ctl ... start` on `port`.
    pub(crate) fn start_argv(&self, port: u16, settings: &[(&str, &str)]) -> Vec<OsString> {
        let socket_dir = self.root.to_string_lossy();
        let socket_dir = if socket_dir.len() + "/.s.PGSQL.65535.lock".len() <= MAX_SOCKET_PATH {
            shell_quote(&socket_dir)
        } else {
            "''".to_owned()
        };
        // pg_ctl hands these options to /bin/sh, hence the quoting.
        let mut options = format!("-p {port} -c listen_addresses=127.0.0.1 -k {socket_dir}");
        for (key, value) in settings {
            options.push_str(&format!(" -c {key}={}", shell_quote(value)));
        }
        let mut argv = self.argv_prefix();
        argv.extend([
            OsString::from("-w"),
            "-t".into(),
            "60".into(),
            "-D".into(),
            self.data.clone().into(),
            "-l".into(),
            self.log.clone().into(),
            "-o".into(),
            options.into(),
            "start".into(),
        ]);
        argv
    }

    /// The argument vector (program first) of `pg_ctl stop -m mode`.
    pub(crate) fn stop_argv(&self, mode: &str) -> Vec<OsString> {
        let mut argv = self.argv_prefix();
        argv.extend([
            OsString::from("-w"),
            "-t".into(),
            "60".into(),
            "-D".into(),
            self.data.clone().into(),
            "-m".into(),
            mode.into(),
            "stop".into(),
        ]);
        argv
    }

    fn run_as_prefix(&self) -> Vec<OsString> {
        match self.run_as {
            Some(user) => vec!["runuser".into(), "-u".into(), user.into(), "--".into()],
            None => Vec::new(),
        }
    }

    fn argv_prefix(&self) -> Vec<OsString> {
        let mut argv = self.run_as_prefix();
        argv.push(self.pg_ctl.clone().into());
        argv
    }

    fn run_argv(&self, argv: &[OsString], what: &str) -> Result<Output, StoreError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| StoreError::LocalPostgres("empty command".to_owned()))?;
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(&self.root).stdin(Stdio::null());
        run(&mut cmd, what)
    }

    /// The port of the running server, or `None` if it is not running.
    pub(crate) fn running_port(&self) -> Result<Option<u16>, StoreError> {
        let mut cmd = self.command(&self.pg_ctl);
        cmd.arg("-D").arg(&self.data).arg("status");
        let out = run(&mut cmd, "pg_ctl status")?;
        if !out.status.success() {
            return Ok(None);
        }
        let pid_file = self.data.join("postmaster.pid");
        let text = fs::read_to_string(&pid_file)
            .map_err(StoreError::io(format!("reading {}", pid_file.display())))?;
        // Line 4 of postmaster.pid is the port.
        text.lines()
            .nth(3)
            .and_then(|line| line.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| StoreError::LocalPostgres(format!("no port in {}", pid_file.display())))
    }

    /// Starts the server (or adopts a running one) and returns its port.
    pub(crate) fn start(
        &self,
        port: Option<u16>,
        settings: &[(&str, &str)],
    ) -> Result<u16, StoreError> {
        if let Some(running) = self.running_port()? {
            return match port {
                Some(wanted) if wanted != running => Err(StoreError::LocalPostgres(format!(
                    "the cluster in {} is already running on port {running}, not {wanted}",
                    self.data.display()
                ))),
                _ => Ok(running),
            };
        }
        // A port picked here could be taken before the server binds it;
        // retry with another one in that case.
        let attempts = if port.is_some() { 1 } else { 3 };
        let mut last_error = String::new();
        for _ in 0..attempts {
            let port = match port {
                Some(port) => port,
                None => free_port()?,
            };
            let out = self.run_argv(&self.start_argv(port, settings), "pg_ctl start")?;
            if out.status.success() {
                tracing::info!(port, data = %self.data.display(), "local PostgreSQL started");
                return Ok(port);
            }
            last_error = format!(
                "pg_ctl start failed ({}): {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log_tail()
            );
            if !last_error.contains("could not bind") && !last_error.contains("already in use") {
                break;
            }
        }
        Err(StoreError::LocalPostgres(last_error))
    }

    /// Stops the server and waits until it is gone; not running is fine.
    pub(crate) fn stop(&self, mode: &str) -> Result<(), StoreError> {
        let out = self.run_argv(&self.stop_argv(mode), "pg_ctl stop")?;
        if out.status.success() || self.running_port()?.is_none() {
            return Ok(());
        }
        Err(StoreError::LocalPostgres(format!(
            "pg_ctl stop failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }

    /// The last lines of the server log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(15);
        format!(
            "last lines of {}:\n{}",
            self.log.display(),
            lines[start..].join("\n")
        )
    }
}

/// Locates a PostgreSQL program: `$ANIP_PG_BIN_DIR`, then `PATH`, then the
/// usual install locations (`/usr/lib/postgresql/*/bin`, newest first;
/// `/usr/local/pgsql/bin`; Homebrew's `postgresql@*`; Postgres.app).
pub fn find_pg_bin(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("ANIP_PG_BIN_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.extend(versioned_dirs(Path::new("/usr/lib/postgresql"), "", "bin"));
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    for prefix in ["/opt/homebrew/opt", "/usr/local/opt"] {
        dirs.extend(versioned_dirs(Path::new(prefix), "postgresql", "bin"));
    }
    dirs.extend([
        PathBuf::from("/opt/homebrew/bin"),
        PathBuf::from("/usr/local/bin"),
        PathBuf::from("/Applications/Postgres.app/Contents/Versions/latest/bin"),
    ]);
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// `parent/<entry>/leaf` for entries starting with `prefix`, highest
/// version number first.
fn versioned_dirs(parent: &Path, prefix: &str, leaf: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(prefix)?;
            let digits: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            let version = digits.parse().unwrap_or(0);
            Some((version, entry.path().join(leaf)))
        })
        .collect();
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    found.into_iter().map(|(_, path)| path).collect()
}

fn sibling_or_search(program: &Path, name: &str) -> Option<PathBuf> {
    program
        .parent()
        .map(|dir| dir.join(name))
        .filter(|p| is_executable(p))
        .or_else(|| find_pg_bin(name))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn run(cmd: &mut Command, what: &str) -> Result<Output, StoreError> {
    cmd.output()
        .map_err(StoreError::io(format!("running {what}")))
}

/// Whether the effective uid is 0: the `Uid:` line of `/proc/self/status`
/// (real, effective, saved, fs), falling back to `id -u`.
pub(crate) fn effective_uid_is_root() -> bool {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            if let Some(euid) = line.split_whitespace().nth(2) {
                return euid == "0";
            }
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn id_of(user: &str, flag: &str) -> Result<u32, StoreError> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(StoreError::io("running id"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| StoreError::LocalPostgres(format!("user {user} not found (id {flag})")))
}

/// Quotes a word for `/bin/sh`.
pub(crate) fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn finds_pg_ctl_on_this_machine() {
        // The development machines and CI have PostgreSQL installed.
        assert!(find_pg_bin("pg_ctl").is_some());
        assert!(find_pg_bin("definitely-not-a-postgres-program").is_none());
    }
}

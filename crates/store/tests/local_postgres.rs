//! `LocalPostgres`: start, stop, restart with the same data, adoption of a
//! detached server, and no process left behind.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use store::{find_pg_bin, LocalPostgres};

/// Removes the directory when the test ends, even on panic.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("anip-{label}-{}-{nanos}", std::process::id()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn postmaster_pid(data: &Path) -> u32 {
    std::fs::read_to_string(data.join("postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether `pid` is a live (not zombie) process.
fn process_exists(pid: u32) -> bool {
    if Path::new("/proc/self/stat").exists() {
        // Linux: a zombie (state Z) has exited and only awaits reaping by
        // whichever process adopted it.
        return match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            }
            Err(_) => false,
        };
    }
    // Elsewhere `kill -0` works and needs no unsafe code.
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Asserts the server of `data` (formerly `pid`) is completely gone.
fn assert_stopped(data: &Path, pid: u32) {
    assert!(
        !data.join("postmaster.pid").exists(),
        "postmaster.pid left behind"
    );
    // The postmaster is not our child (pg_ctl daemonizes it), so it is
    // reaped by init right away; allow a moment for that.
    for _ in 0..50 {
        if !process_exists(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!process_exists(pid), "postmaster {pid} still running");
    let status = std::process::Command::new(find_pg_bin("pg_ctl").unwrap())
        .arg("-D")
        .arg(data)
        .arg("status")
        .output()
        .unwrap();
    // 3 = not running (pg_ctl status refuses root but still exits non-zero).
    assert!(!status.status.success(), "pg_ctl status says running");
}

async fn query_names(pg: &LocalPostgres) -> Vec<String> {
    let (client, conn) = tokio_postgres::connect(&pg.url("app"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .query("SELECT name FROM things ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn data_survives_restart_and_nothing_is_left_running() {
    let tmp = TempDir::new("local-pg");

    // First start: initdb + start on a free port.
    let pg = LocalPostgres::start(&tmp.0, None).unwrap();
    let data = pg.data_dir().to_owned();
    assert!(pg.port() > 0);
    assert_eq!(
        pg.url("app"),
        format!("postgres://postgres@127.0.0.1:{}/app", pg.port())
    );
    pg.ensure_database("app").await.unwrap();
    pg.ensure_database("app").await.unwrap(); // idempotent
    {
        let (client, conn) = tokio_postgres::connect(&pg.url("app"), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute("CREATE TABLE things (name text); INSERT INTO things VALUES ('kept');")
            .await
            .unwrap();
    }
    let pid = postmaster_pid(&data);
    pg.stop().unwrap();
    assert_stopped(&data, pid);

    // Second start on an explicit port reuses the data directory.
    let port = store::free_port().unwrap();
    let pg = LocalPostgres::start(&tmp.0, Some(port)).unwrap();
    assert_eq!(pg.port(), port);
    assert_eq!(query_names(&pg).await, ["kept"]);

    // Detach leaves it running; a new handle adopts it.
    let pid = postmaster_pid(&data);
    pg.detach();
    assert!(process_exists(pid));
    assert!(LocalPostgres::start(&tmp.0, Some(port.wrapping_add(1))).is_err());
    let pg = LocalPostgres::start(&tmp.0, None).unwrap();
    assert_eq!(pg.port(), port);
    assert_eq!(query_names(&pg).await, ["kept"]);

    // Dropping the handle stops the server too.
    drop(pg);
    assert_stopped(&data, pid);
}

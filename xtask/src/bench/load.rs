//! Load generation with `wrk` and a static-file ceiling with `nginx`, both from Debian.
//!
//! Every run is bounded in time and aimed at loopback only.

use std::fmt;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use super::cpu::Processes;

/// What one wrk run measured.
#[derive(Clone, Debug)]
pub struct LoadResult {
    pub label: String,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    /// Responses wrk counted (`N requests in ...`).
    pub completed: u64,
    /// The CPU each charged process spent per request, when the run was charged to some
    /// ([`Load::processes`]).
    pub cpu: Option<String>,
}

impl LoadResult {
    /// The result's line of a report, indented by `indent`, and under it its CPU per request
    /// when the run was charged.
    pub fn report(&self, indent: &str) -> String {
        match &self.cpu {
            Some(cpu) => format!("{indent}{self}\n{indent}  {cpu}"),
            None => format!("{indent}{self}"),
        }
    }
}

impl fmt::Display for LoadResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<56} {:>10.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   non-2xx {:>6}   socket errors {}",
            self.label,
            self.requests_per_sec,
            self.p50_ms,
            self.p99_ms,
            self.non_2xx,
            self.socket_errors
        )
    }
}

/// Settings of one wrk run.
#[derive(Clone)]
pub struct Load {
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
    /// The processes serving the load, whose CPU time each run is charged with.
    pub processes: Option<Processes>,
    /// wrk runs per measurement (at least one): the report is the run with the median
    /// requests/s, with the responses, errors and non-2xx answers of all of them counted.
    pub runs: u32,
}

impl Load {
    /// `wrk -t threads -c connections -d duration --latency url`, parsed.
    pub fn run(&self, label: &str, url: &str, headers: &[&str]) -> anyhow::Result<LoadResult> {
        self.run_with(label, url, headers, None)
    }

    /// [`Load::run`] with a wrk Lua script (`-s`), e.g. one that varies every request's path.
    pub fn run_script(&self, label: &str, url: &str, script: &Path) -> anyhow::Result<LoadResult> {
        self.run_with(label, url, &[], Some(script))
    }

    fn run_with(
        &self,
        label: &str,
        url: &str,
        headers: &[&str],
        script: Option<&Path>,
    ) -> anyhow::Result<LoadResult> {
        let mut results = Vec::new();
        for _ in 0..self.runs.max(1) {
            results.push(self.run_once(label, url, headers, script)?);
        }
        Ok(median(results))
    }

    fn run_once(
        &self,
        label: &str,
        url: &str,
        headers: &[&str],
        script: Option<&Path>,
    ) -> anyhow::Result<LoadResult> {
        anyhow::ensure!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
            "load is only ever aimed at loopback, not {url}"
        );
        let mut cmd = Command::new("wrk");
        cmd.arg("-t")
            .arg(self.threads.to_string())
            .arg("-c")
            .arg(self.connections.to_string())
            .arg("-d")
            .arg(format!("{}s", self.duration.as_secs().max(1)))
            .arg("--timeout")
            .arg("5s")
            .arg("--latency");
        for header in headers {
            cmd.arg("-H").arg(header);
        }
        if let Some(script) = script {
            cmd.arg("-s").arg(script);
        }
        cmd.arg(url);
        eprintln!("== {label}");
        let before = self.processes.as_ref().map(Processes::snapshot);
        let out = cmd
            .output()
            .context("could not run wrk (apt-get install wrk)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "wrk failed: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut result = parse_wrk(label, &text)?;
        if let (Some(processes), Some(before)) = (&self.processes, &before) {
            result.cpu = processes.per_request(before, result.completed);
        }
        eprintln!("{}", result.report("   "));
        Ok(result)
    }
}

/// The run with the median requests/s, labelled with the number of runs, carrying the
/// responses, errors and non-2xx answers of all of them.
pub fn median(mut results: Vec<LoadResult>) -> LoadResult {
    results.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    let runs = results.len();
    let (completed, non_2xx, socket_errors) = results.iter().fold((0, 0, 0), |(c, n, e), r| {
        (c + r.completed, n + r.non_2xx, e + r.socket_errors)
    });
    let mut result = results.swap_remove(runs / 2);
    if runs > 1 {
        result.label = format!("{} (median of {runs})", result.label);
    }
    result.completed = completed;
    result.non_2xx = non_2xx;
    result.socket_errors = socket_errors;
    result
}

/// Parses wrk's `--latency` report.
pub fn parse_wrk(label: &str, text: &str) -> anyhow::Result<LoadResult> {
    let mut result = LoadResult {
        label: label.to_owned(),
        requests_per_sec: 0.0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        non_2xx: 0,
        socket_errors: 0,
        completed: 0,
        cpu: None,
    };
    for line in text.lines().map(str::trim) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", rps] => result.requests_per_sec = rps.parse()?,
            [n, "requests", "in", ..] => result.completed = n.parse()?,
            ["50%", value] => result.p50_ms = parse_duration_ms(value)?,
            ["99%", value] => result.p99_ms = parse_duration_ms(value)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => result.non_2xx = n.parse()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                result.socket_errors = rest
                    .iter()
                    .filter_map(|f| f.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    anyhow::ensure!(
        result.requests_per_sec > 0.0,
        "wrk reported no requests:\n{text}"
    );
    Ok(result)
}

/// `812.00us`, `1.25ms`, `2.01s` → milliseconds.
fn parse_duration_ms(value: &str) -> anyhow::Result<f64> {
    let (number, scale) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        bail!("unknown wrk duration {value}")
    };
    Ok(number.parse::<f64>()? * scale)
}

/// nginx serving one directory on a loopback port, as the static-file ceiling.
pub struct StaticServer {
    child: Child,
}

impl StaticServer {
    /// Starts `nginx` in the foreground with a private config under `dir`, serving `root`.
    pub fn start(dir: &Path, root: &Path, port: u16) -> anyhow::Result<Self> {
        fs::create_dir_all(dir.join("tmp"))?;
        let conf = dir.join("nginx.conf");
        fs::write(
            &conf,
            format!(
                "worker_processes auto;\n\
                 daemon off;\n\
                 pid {dir}/nginx.pid;\n\
                 error_log {dir}/error.log warn;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n\
                   access_log off;\n\
                   sendfile on; tcp_nopush on; keepalive_requests 1000000;\n\
                   client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp;\n\
                   fastcgi_temp_path {dir}/tmp; uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;\n\
                   default_type application/json;\n\
                   server {{ listen 127.0.0.1:{port}; root {root}; }}\n\
                 }}\n",
                dir = dir.display(),
                root = root.display(),
            ),
        )?;
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .arg("-v")
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
            })
            .context("nginx not found (apt-get install nginx-light)")?;
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self { child };
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("nginx did not start; see {}/error.log", dir.display())
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_wrk_latency_report() {
        let report = "Running 10s test @ http://127.0.0.1:8200/x
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   512.00us  100.00us   5.00ms   90.00%
  Latency Distribution
     50%  450.00us
     75%  600.00us
     90%  800.00us
     99%    2.50ms
  123456 requests in 10.00s, 7.00GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  12345.60
Transfer/sec:    700.00MB
";
        let r = parse_wrk("x", report).unwrap();
        assert!((r.requests_per_sec - 12345.6).abs() < 1e-6);
        assert!((r.p50_ms - 0.45).abs() < 1e-9);
        assert!((r.p99_ms - 2.5).abs() < 1e-9);
        assert_eq!(r.non_2xx, 5);
        assert_eq!(r.socket_errors, 3);
        assert_eq!(r.completed, 123456);

        let run = |rps: f64, completed: u64| LoadResult {
            requests_per_sec: rps,
            completed,
            non_2xx: 1,
            ..r.clone()
        };
        let m = median(vec![run(3.0, 30), run(1.0, 10), run(2.0, 20)]);
        assert_eq!(m.requests_per_sec, 2.0);
        assert_eq!(m.label, "x (median of 3)");
        assert_eq!((m.completed, m.non_2xx), (60, 3));
        assert_eq!(median(vec![run(5.0, 50)]).label, "x");
    }
}

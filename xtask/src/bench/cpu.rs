//! The CPU time the processes serving a load run spent on it, from `/proc`: what a request
//! costs each of them, and so how many requests the machine's cores could serve at most.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// The processes whose CPU time a run is charged with, by name, and how many cores they can
/// use between them (the reference is one Python process: one core).
#[derive(Clone)]
pub struct Processes {
    pub sets: Vec<(&'static str, ProcessSet)>,
    pub cores: usize,
}

#[derive(Clone)]
pub enum ProcessSet {
    /// One process.
    Pid(u32),
    /// A Postgres cluster: the postmaster (its pid in `postmaster.pid`) and its children.
    Postgres(PathBuf),
}

impl ProcessSet {
    pub fn pids(&self) -> Vec<u32> {
        match self {
            ProcessSet::Pid(pid) => vec![*pid],
            ProcessSet::Postgres(data) => {
                let Some(master) = fs::read_to_string(data.join("postmaster.pid"))
                    .ok()
                    .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
                else {
                    return Vec::new();
                };
                let mut pids = vec![master];
                if let Ok(entries) = fs::read_dir("/proc") {
                    for entry in entries.flatten() {
                        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                            continue;
                        };
                        if proc_stat(pid).is_some_and(|(ppid, _)| ppid == master) {
                            pids.push(pid);
                        }
                    }
                }
                pids
            }
        }
    }
}

/// `(parent pid, user + system CPU ticks)` of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// Clock ticks per second of `/proc` CPU times.
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU ticks of each process of each set, at one moment.
pub struct Snapshot(Vec<HashMap<u32, u64>>);

impl Processes {
    /// CPU ticks of every process of every set, now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(
            self.sets
                .iter()
                .map(|(_, set)| {
                    set.pids()
                        .into_iter()
                        .filter_map(|pid| Some((pid, proc_stat(pid)?.1)))
                        .collect()
                })
                .collect(),
        )
    }

    /// `CPU per request: runtime 120 µs + ...` between `before` and now, over `requests`. A
    /// process that started in between (a Postgres backend for a new pool connection) is
    /// charged all its CPU time; one that exited in between is not counted, so the figures are
    /// lower bounds.
    pub fn per_request(&self, before: &Snapshot, requests: u64) -> Option<String> {
        if self.sets.is_empty() || requests == 0 {
            return None;
        }
        let tick_us = 1e6 / ticks_per_second();
        let mut parts = Vec::new();
        let mut total = 0.0;
        for ((name, _), (then, now)) in self.sets.iter().zip(before.0.iter().zip(self.snapshot().0))
        {
            let ticks: u64 = now
                .iter()
                .map(|(pid, ticks)| ticks.saturating_sub(then.get(pid).copied().unwrap_or(0)))
                .sum();
            let us = ticks as f64 * tick_us / requests as f64;
            total += us;
            parts.push(format!("{name} {us:.0} µs"));
        }
        Some(format!(
            "CPU per request: {} = {total:.0} µs, so at most {:.0} req/s on {} core{} (wrk's own CPU aside)",
            parts.join(" + "),
            self.cores as f64 * 1e6 / total,
            self.cores,
            if self.cores == 1 { "" } else { "s" },
        ))
    }
}

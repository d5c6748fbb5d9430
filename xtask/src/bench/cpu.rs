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

/// CPU ticks of each process of each set, and of the whole machine, at one moment.
pub struct Snapshot {
    /// Per set, in the order of [`Processes::sets`]: pid → ticks.
    processes: Vec<HashMap<u32, u64>>,
    machine: Option<MachineTicks>,
}

/// The machine's CPU ticks from the first line of `/proc/stat`: all of them, idle, waiting on
/// I/O (idle too, with a disk request outstanding), and stolen by the hypervisor.
#[derive(Clone, Copy)]
struct MachineTicks {
    total: u64,
    idle: u64,
    iowait: u64,
    steal: u64,
}

impl MachineTicks {
    fn now() -> Option<MachineTicks> {
        let text = fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = text
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        Some(MachineTicks {
            total: fields.iter().take(8).sum(),
            idle: *fields.get(3)?,
            iowait: *fields.get(4)?,
            steal: *fields.get(7)?,
        })
    }

    /// `machine idle 21% (+8% waiting on disk)` between `self` and `now`.
    fn share_since(&self, now: &MachineTicks) -> Option<String> {
        let total = now.total.checked_sub(self.total).filter(|t| *t > 0)? as f64;
        let percent = |then: u64, now: u64| 100.0 * now.saturating_sub(then) as f64 / total;
        let mut text = format!(
            "machine idle {:.0}% (+{:.0}% waiting on disk)",
            percent(self.idle, now.idle),
            percent(self.iowait, now.iowait)
        );
        let steal = percent(self.steal, now.steal);
        if steal >= 0.5 {
            text.push_str(&format!(", {steal:.0}% stolen by the hypervisor"));
        }
        Some(text)
    }
}

impl Processes {
    /// CPU ticks of every process of every set, now.
    pub fn snapshot(&self) -> Snapshot {
        let processes = self
            .sets
            .iter()
            .map(|(_, set)| {
                set.pids()
                    .into_iter()
                    .filter_map(|pid| Some((pid, proc_stat(pid)?.1)))
                    .collect()
            })
            .collect();
        Snapshot {
            processes,
            machine: MachineTicks::now(),
        }
    }

    /// `CPU per request: runtime 120 µs + ...` between `before` and now, over `requests`. A
    /// process that started in between (a Postgres backend for a new pool connection) is
    /// charged all its CPU time; one that exited in between is not counted, so the figures are
    /// lower bounds. The machine's idle share over the same time follows: CPU left idle while
    /// requests were waiting means the run was bound by latency (a disk flush, a hand-off), not
    /// by CPU.
    pub fn per_request(&self, before: &Snapshot, requests: u64) -> Option<String> {
        if self.sets.is_empty() || requests == 0 {
            return None;
        }
        let tick_us = 1e6 / ticks_per_second();
        let mut parts = Vec::new();
        let mut total = 0.0;
        let after = self.snapshot();
        let sets = before.processes.iter().zip(&after.processes);
        for ((name, _), (then, now)) in self.sets.iter().zip(sets) {
            let ticks: u64 = now
                .iter()
                .map(|(pid, ticks)| ticks.saturating_sub(then.get(pid).copied().unwrap_or(0)))
                .sum();
            let us = ticks as f64 * tick_us / requests as f64;
            total += us;
            parts.push(format!("{name} {us:.0} µs"));
        }
        let machine = before
            .machine
            .zip(after.machine)
            .and_then(|(then, now)| then.share_since(&now))
            .map(|share| format!("; {share}"))
            .unwrap_or_default();
        Some(format!(
            "CPU per request: {} = {total:.0} µs, so at most {:.0} req/s on {} core{} (wrk's own CPU aside){machine}",
            parts.join(" + "),
            self.cores as f64 * 1e6 / total,
            self.cores,
            if self.cores == 1 { "" } else { "s" },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_share_counts_idle_disk_waits_and_steal_over_the_window() {
        let then = MachineTicks {
            total: 1_000,
            idle: 100,
            iowait: 10,
            steal: 0,
        };
        let now = MachineTicks {
            total: 1_200,
            idle: 142,
            iowait: 26,
            steal: 0,
        };
        assert_eq!(
            then.share_since(&now).as_deref(),
            Some("machine idle 21% (+8% waiting on disk)")
        );
        let stolen = MachineTicks { steal: 10, ..now };
        assert_eq!(
            then.share_since(&stolen).as_deref(),
            Some("machine idle 21% (+8% waiting on disk), 5% stolen by the hypervisor")
        );
        assert_eq!(then.share_since(&then), None, "no time passed");
        assert!(MachineTicks::now().is_some(), "/proc/stat reads on Linux");
    }
}

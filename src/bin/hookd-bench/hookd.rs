//! The hookd under test: the real release binary, started as `hookd serve --config FILE` on a
//! config the bench writes, stopped with SIGTERM or killed with SIGKILL, and measured from
//! `/proc` (peak RSS, CPU seconds) and its data directory (bytes on disk).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// A running hookd.
pub struct Hookd {
    child: Child,
    /// The API's address (from the `hookd listening on http://...` line).
    pub addr: SocketAddr,
    /// When the process was spawned.
    pub spawned_at: Instant,
    /// The machine's CPU time and the bench's own when hookd was spawned.
    machine_at_spawn: Option<MachineTimes>,
}

/// How to start hookd: binary, config file, log file.
#[derive(Clone)]
pub struct HookdSpec {
    pub bin: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl HookdSpec {
    /// Spawns hookd and waits (up to 30 s) for its listening line.
    pub fn start(&self) -> anyhow::Result<Hookd> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let spawned_at = Instant::now();
        let machine_at_spawn = MachineTimes::now();
        let mut child = Command::new(&self.bin)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            // `HOOKD_BENCH_LOG` overrides hookd's log filter, for diagnosis (e.g.
            // `hookd::store::commit=trace` logs every group commit into hookd.log).
            .env(
                "HOOKD_LOG",
                std::env::var("HOOKD_BENCH_LOG").unwrap_or_else(|_| "hookd=warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let stdout = child.stdout.take().context("hookd's stdout")?;
        // Read stdout on a thread: report the listening line, then keep draining so hookd
        // never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.split("hookd listening on http://").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => Ok(Hookd {
                child,
                addr: addr
                    .parse()
                    .with_context(|| format!("parsing hookd's address {addr:?}"))?,
                spawned_at,
                machine_at_spawn,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: String = tail.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                bail!("hookd did not print its listening line within 30 s; log tail:\n{tail}")
            }
        }
    }
}

impl Hookd {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no flush, no goodbye.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill().context("SIGKILL hookd")?;
        self.child.wait().context("reaping hookd")?;
        Ok(())
    }

    /// SIGTERM, then wait for the graceful exit (SIGKILL after 60 s).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.child.id());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("hookd exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9()?;
        bail!("hookd did not exit within 60 s of SIGTERM")
    }

    /// Peak and current resident memory and CPU seconds used so far.
    pub fn usage(&self) -> Usage {
        proc_usage(self.pid()).unwrap_or_default()
    }

    /// What the machine did since hookd was spawned: the share of its CPU time stolen by
    /// the hypervisor and left idle, and the CPU seconds of this bench process (loader and
    /// receiver). `None` where `/proc` cannot be read.
    pub fn machine(&self) -> Option<Machine> {
        let (start, now) = (self.machine_at_spawn?, MachineTimes::now()?);
        let total = now.total.saturating_sub(start.total).max(1) as f64;
        Some(Machine {
            steal_pct: 100.0 * now.steal.saturating_sub(start.steal) as f64 / total,
            idle_pct: 100.0 * now.idle.saturating_sub(start.idle) as f64 / total,
            bench_cpu_secs: now.bench.saturating_sub(start.bench) as f64 / 100.0,
        })
    }
}

/// The machine around a run, from [`Hookd::machine`]: noisy neighbours show as steal.
pub struct Machine {
    pub steal_pct: f64,
    pub idle_pct: f64,
    pub bench_cpu_secs: f64,
}

/// Clock ticks (USER_HZ) from `/proc/stat`'s `cpu` line and `/proc/self/stat`.
#[derive(Clone, Copy)]
struct MachineTimes {
    /// Every state of every CPU.
    total: u64,
    /// Idle and waiting for IO.
    idle: u64,
    /// Taken by the hypervisor for other guests.
    steal: u64,
    /// This bench process: user + system.
    bench: u64,
}

impl MachineTimes {
    fn now() -> Option<MachineTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // cpu  user nice system idle iowait irq softirq steal guest guest_nice
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after = own.rsplit_once(')')?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        Some(MachineTimes {
            // guest time is already counted in user; leave it out of the total.
            total: cpu.iter().take(8).sum(),
            idle: cpu.get(3)? + cpu.get(4)?,
            steal: *cpu.get(7)?,
            bench: ticks(11)? + ticks(12)?,
        })
    }
}

impl Drop for Hookd {
    fn drop(&mut self) {
        // A scenario that bails must not leave a daemon behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resource use of a process, read from `/proc`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    /// VmHWM: the peak resident set since the process started, bytes.
    pub peak_rss: u64,
    /// VmRSS: the resident set now, bytes.
    pub rss: u64,
    /// User + system CPU time, seconds.
    pub cpu_secs: f64,
    /// The system (kernel) part of `cpu_secs`.
    pub sys_secs: f64,
    /// Bytes the process caused to be written to storage (`write_bytes` of
    /// `/proc/<pid>/io`: what reached the block layer, journal and tables alike).
    pub written: u64,
}

fn proc_usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`, which may itself hold spaces: state is field 3, utime 14,
    // stime 15 — indexes 11 and 12 after the closing parenthesis.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // USER_HZ is 100 on every Linux ABI.
    let cpu_secs = (ticks(11)? + ticks(12)?) as f64 / 100.0;
    let sys_secs = ticks(12)? as f64 / 100.0;
    let written = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    Some(Usage {
        written,
        sys_secs,
        peak_rss: kib("VmHWM:"),
        rss: kib("VmRSS:"),
        cpu_secs,
    })
}

/// Bytes allocated on disk under `dir` (like `du`).
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

//! `hookd-bench`: the benchmark and fault harness (BENCHMARKS.md).
//!
//! It starts the real release `hookd` on a temp data dir with its own HTTPS receiver (a CA
//! made for the run, passed as `extra_ca_file`), creates a tenant and webhooks, publishes
//! events over keep-alive connections, waits for every delivery and prints a table and one
//! JSON line (the median over `--runs`). Black-box: it speaks only hookd's HTTP API and
//! reads `/proc` for hookd's memory and CPU.
//!
//! ```text
//! cargo build --release && target/release/hookd-bench throughput --runs 3
//! ```

mod api;
mod hookd;
mod pki;
mod receiver;
mod report;
mod run;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use report::Report;
use scenarios::Opts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// 1 webhook, publish as fast as hookd accepts.
    Throughput,
    /// 1 event → 10 webhooks.
    Fanout,
    /// A fixed 2,000 events/s: ingest→receipt latency.
    Latency,
    /// 1,000 events/s to 10 webhooks, half answer 500 (retried, breaker off); the healthy half is measured.
    RetryStorm,
    /// 1,000,000 deliveries held with the receiver down; restart; time to first delivery, drain.
    Backlog,
    /// Sustained load with a 30 s retention window: the data dir levels off.
    Soak,
    /// SIGKILL at random moments under load, restart each time; nothing accepted is lost.
    Crash,
}

/// Benchmark and fault harness for hookd. Every option has a per-scenario default.
#[derive(Debug, Parser)]
#[command(name = "hookd-bench", version)]
struct Args {
    scenario: Scenario,
    /// Repeat the scenario this many times (fresh hookd each time) and report the medians.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Events to publish.
    #[arg(long)]
    events: Option<u64>,
    /// Events per second in total (default: as fast as hookd answers, where the scenario allows).
    #[arg(long)]
    rate: Option<f64>,
    /// Concurrent publishing connections.
    #[arg(long)]
    connections: Option<usize>,
    /// Size of each event's JSON body in bytes.
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// Webhooks, every one subscribed to every event.
    #[arg(long)]
    webhooks: Option<u16>,
    /// Kill/restart rounds (crash).
    #[arg(long, default_value_t = 20)]
    rounds: u32,
    /// Seconds of sustained load (soak).
    #[arg(long, default_value_t = 120)]
    duration_secs: u64,
    /// Stop waiting for deliveries after this many seconds without progress.
    #[arg(long, default_value_t = 60)]
    stall_secs: u64,
    /// The hookd binary (default: `hookd` beside this binary).
    #[arg(long)]
    hookd: Option<PathBuf>,
    /// Keep each run's temp dir (data, config, hookd.log) for inspection.
    #[arg(long)]
    keep: bool,
    /// TOML lines added to hookd's `[storage]`, e.g. 'cache_mb = 16' (repeatable).
    #[arg(long)]
    storage_toml: Vec<String>,
    /// TOML lines added to hookd's `[delivery]`, e.g. 'max_loaded_deliveries = 5000'.
    #[arg(long)]
    delivery_toml: Vec<String>,
}

impl Args {
    fn opts(&self) -> anyhow::Result<Opts> {
        use Scenario::*;
        let (events, rate, webhooks, connections) = match self.scenario {
            Throughput => (50_000, None, 1, 64),
            Fanout => (10_000, None, 10, 32),
            Latency => (20_000, Some(2_000.0), 1, 16),
            RetryStorm => (10_000, Some(1_000.0), 10, 16),
            Backlog => (100_000, None, 10, 32),
            Soak => (0, Some(1_000.0), 1, 8),
            Crash => (0, Some(1_000.0), 2, 8),
        };
        let hookd_bin = match &self.hookd {
            Some(p) => p.clone(),
            None => std::env::current_exe()?.with_file_name("hookd"),
        };
        if !hookd_bin.exists() {
            anyhow::bail!(
                "no hookd binary at {} (build it: cargo build --release, or pass --hookd)",
                hookd_bin.display()
            );
        }
        Ok(Opts {
            hookd_bin,
            events: self.events.unwrap_or(events),
            rate: self.rate.or(rate),
            connections: self.connections.unwrap_or(connections),
            payload_bytes: self.payload_bytes,
            webhooks: self.webhooks.unwrap_or(webhooks).max(1),
            rounds: self.rounds,
            duration_secs: self.duration_secs,
            stall_secs: self.stall_secs,
            keep: self.keep,
            extra: run::HookdConfig {
                storage: self.storage_toml.join("\n"),
                delivery: self.delivery_toml.join("\n"),
            },
        })
    }
}

async fn run_once(scenario: Scenario, o: &Opts) -> anyhow::Result<Report> {
    use Scenario::*;
    match scenario {
        Throughput | Fanout | Latency => scenarios::steady(o).await,
        RetryStorm => scenarios::retry_storm(o).await,
        Backlog => scenarios::backlog(o).await,
        Soak => scenarios::soak(o).await,
        Crash => scenarios::crash(o).await,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let name = args
        .scenario
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let result = (|| -> anyhow::Result<Report> {
        let opts = args.opts()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let mut runs = Vec::new();
        for i in 0..args.runs.max(1) {
            let report = rt.block_on(run_once(args.scenario, &opts))?;
            print!("{}", report.table(&format!("{name} run {}", i + 1)));
            println!("{}", report.json(&name, 1));
            runs.push(report);
        }
        Ok(Report::median(&runs))
    })();
    match result {
        Ok(median) => {
            let runs = args.runs.max(1);
            print!("{}", median.table(&format!("{name}: median of {runs}")));
            println!("{}", median.json(&name, runs));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hookd-bench {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

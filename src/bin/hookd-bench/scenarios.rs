//! The scenarios of BENCHMARKS.md. Each starts a fresh hookd on a fresh data dir with its own
//! receiver, drives it, and returns its figures.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use rand::Rng as _;

use crate::api::{create_tenant, create_webhooks, publish, LoadResult, LoadSpec, Target};
use crate::receiver::Receipts;
use crate::report::Report;
use crate::run::{delivery_figures, resource_figures, wait_delivered, HookdConfig, RunEnv};

/// The knobs a scenario reads (each has a scenario-specific default, see `main.rs`).
#[derive(Debug, Clone)]
pub struct Opts {
    pub hookd_bin: PathBuf,
    pub events: u64,
    pub rate: Option<f64>,
    pub connections: usize,
    pub payload_bytes: usize,
    pub webhooks: u16,
    pub rounds: u32,
    pub duration_secs: u64,
    /// Give up waiting for deliveries after this long without progress.
    pub stall_secs: u64,
    pub keep: bool,
    /// Extra lines for hookd's `[storage]` and `[delivery]` (`--storage-toml`, ...).
    pub extra: HookdConfig,
}

impl Opts {
    fn load(&self) -> LoadSpec {
        LoadSpec {
            events: self.events,
            rate: self.rate,
            connections: self.connections,
            payload_bytes: self.payload_bytes,
        }
    }
}

/// `throughput`, `fanout`, `latency`: every webhook answers 200.
pub async fn steady(o: &Opts) -> anyhow::Result<Report> {
    let all: Vec<u16> = (0..o.webhooks).collect();
    deliver(o, &HookdConfig::default(), &all, &HashSet::new()).await
}

/// `retry-storm`: the odd half of the webhooks answer 500 to everything, with a short retry
/// schedule and the breaker out of the way (the worst case: every failure is retried), while
/// the healthy half is measured.
pub async fn retry_storm(o: &Opts) -> anyhow::Result<Report> {
    let failing: HashSet<u16> = (0..o.webhooks).filter(|w| w % 2 == 1).collect();
    let healthy: Vec<u16> = (0..o.webhooks).filter(|w| w % 2 == 0).collect();
    let config = HookdConfig {
        delivery: "retry_schedule_secs = [1, 2, 4]\nfailing_after_consecutive_failures = 1000000"
            .into(),
        ..HookdConfig::default()
    };
    deliver(o, &config, &healthy, &failing).await
}

/// Publish `o.events` to `o.webhooks` webhooks and measure until every delivery to
/// `measured` arrived.
async fn deliver(
    o: &Opts,
    config: &HookdConfig,
    measured: &[u16],
    failing: &HashSet<u16>,
) -> anyhow::Result<Report> {
    let Live {
        env,
        receipts,
        receiver: _receiver,
        hookd,
        key,
    } = Live::start(o, config, failing.clone()).await?;

    let target: Target = Arc::new(Mutex::new(hookd.addr));
    let load = publish(target, key, o.load(), Arc::new(AtomicBool::new(false))).await;
    wait_delivered(&receipts, &load, measured, stall(o)).await;

    let mut report = Report::default();
    delivery_figures(&mut report, &load, &receipts, measured);
    if !failing.is_empty() {
        let failed_attempts = receipts.requests.load(Ordering::Relaxed)
            - receipts.ok.load(Ordering::Relaxed)
            - receipts.malformed.load(Ordering::Relaxed);
        report.add("attempts_at_failing_webhooks", failed_attempts as f64);
    }
    resource_figures(&mut report, &hookd, &env);
    hookd.stop()?;
    Ok(report)
}

/// `backlog`: the receiver is down while `o.events` events fan out to `o.webhooks` webhooks
/// (1,000,000 deliveries by default); measure RSS and disk with the backlog held, then
/// restart hookd with the receiver up: time to first delivery and drain rate.
///
/// The breaker holds a dead receiver's queue without burning attempts; its cool-down is set
/// to 1 s so the restart measures recovery, not a cool-down.
pub async fn backlog(o: &Opts) -> anyhow::Result<Report> {
    let config = HookdConfig {
        delivery: "breaker_cooldown_secs = 1\nbreaker_max_cooldown_secs = 1".into(),
        ..HookdConfig::default()
    };
    let env = RunEnv::new(o, &config)?;
    // Reserve a port for the receiver, then leave it closed: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let hookd = env.hookd.start()?;
    let key = create_tenant(hookd.addr, &env.operator_key).await?;
    create_webhooks(hookd.addr, &key, port, o.webhooks, 1_000_000, false).await?;
    let target: Target = Arc::new(Mutex::new(hookd.addr));
    let load = publish(
        target,
        key.clone(),
        o.load(),
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    let mut report = Report::default();
    let accepted = load.accepted.len() as f64;
    let (Some(started), Some(finished)) = (load.started, load.finished) else {
        bail!("the publisher did not run");
    };
    report.add("events_accepted", accepted);
    report.add("pending_deliveries", accepted * f64::from(o.webhooks));
    report.add(
        "accepted_per_sec",
        accepted / finished.duration_since(started).as_secs_f64(),
    );
    // Let the breakers open and the scheduler settle with the backlog held.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let usage = hookd.usage();
    report.add("backlog_rss_mb", usage.rss as f64 / 1048576.0);
    report.add("backlog_peak_rss_mb", usage.peak_rss as f64 / 1048576.0);
    report.add("backlog_data_dir_mb", env.disk_bytes() as f64 / 1048576.0);
    hookd.stop()?;

    // Restart with the receiver up.
    let receipts = Arc::new(Receipts::default());
    let _receiver = env.receiver(port, HashSet::new(), receipts.clone()).await?;
    let hookd = env.hookd.start()?;
    let first = loop {
        if receipts.ok.load(Ordering::Relaxed) > 0 {
            break Instant::now();
        }
        if hookd.spawned_at.elapsed() > Duration::from_secs(120) {
            bail!("no delivery within 120 s of the restart");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    report.add(
        "restart_to_first_delivery_ms",
        first.duration_since(hookd.spawned_at).as_secs_f64() * 1000.0,
    );
    let all: Vec<u16> = (0..o.webhooks).collect();
    let done = wait_delivered(&receipts, &load, &all, stall(o)).await;
    let delivered = receipts.unique() as f64;
    report.add("delivered_after_restart", delivered);
    // The drain rate is measured over the first 99 %: the last few are the deliveries the
    // dead receiver had already failed once, waiting for their retry time (60 s).
    let mut arrivals: Vec<Instant> = receipts.snapshot().values().map(|r| r.first_at).collect();
    arrivals.sort();
    if let Some(p99) = arrivals.get(arrivals.len() * 99 / 100) {
        report.add(
            "drain_per_sec",
            (arrivals.len() * 99 / 100) as f64 / p99.duration_since(first).as_secs_f64().max(1e-9),
        );
    }
    report.add("drain_all_secs", done.duration_since(first).as_secs_f64());
    let mut figures = Report::default();
    delivery_figures(&mut figures, &load, &receipts, &all);
    for name in ["lost", "duplicated"] {
        report.add(name, figures.get(name).unwrap_or(0.0));
    }
    let usage = hookd.usage();
    report.add("drain_peak_rss_mb", usage.peak_rss as f64 / 1048576.0);
    report.add("drain_cpu_secs", usage.cpu_secs);
    hookd.stop()?;
    Ok(report)
}

/// `soak`: a sustained rate for `o.duration_secs` with a 30-second retention window; the
/// data dir is sampled every 5 s and must level off once the sweep keeps pace.
pub async fn soak(o: &Opts) -> anyhow::Result<Report> {
    let retention_secs = 30.0;
    let config = HookdConfig {
        storage: format!("retention_days = {}", retention_secs / 86400.0),
        ..HookdConfig::default()
    };
    let Live {
        env,
        receipts,
        receiver: _receiver,
        hookd,
        key,
    } = Live::start(o, &config, HashSet::new()).await?;

    let rate = o.rate.unwrap_or(1000.0);
    let spec = LoadSpec {
        events: (rate * o.duration_secs as f64) as u64,
        rate: Some(rate),
        ..o.load()
    };
    let target: Target = Arc::new(Mutex::new(hookd.addr));
    let load_task = tokio::spawn(publish(target, key, spec, Arc::new(AtomicBool::new(false))));
    let mut samples = Vec::new();
    let start = Instant::now();
    while !load_task.is_finished() {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let usage = hookd.usage();
        samples.push((
            start.elapsed().as_secs(),
            env.disk_bytes() as f64 / 1048576.0,
            usage.rss as f64 / 1048576.0,
        ));
    }
    let load = load_task.await?;
    let all: Vec<u16> = (0..o.webhooks).collect();
    wait_delivered(&receipts, &load, &all, stall(o)).await;

    let mut report = Report::default();
    delivery_figures(&mut report, &load, &receipts, &all);
    resource_figures(&mut report, &hookd, &env);
    // Levelling off: the largest size in the last third against the middle third.
    let third = samples.len() / 3;
    let max_of = |s: &[(u64, f64, f64)]| s.iter().map(|x| x.1).fold(0.0, f64::max);
    if third > 0 {
        report.add(
            "disk_mb_max_middle_third",
            max_of(&samples[third..2 * third]),
        );
        report.add("disk_mb_max_last_third", max_of(&samples[2 * third..]));
    }
    report.notes.push(format!(
        "disk over time (s: data MB / RSS MB): {}",
        samples
            .iter()
            .map(|(t, d, r)| format!("{t}: {d:.1}/{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    hookd.stop()?;
    Ok(report)
}

/// `crash`: publish at a steady rate while hookd is killed with SIGKILL at a random moment
/// of each of `o.rounds` rounds (0.5–2.5 s apart) and restarted at once; then every event
/// that was answered 202 must reach every webhook. Duplicates (attempts in flight or not yet
/// recorded at a kill) are counted.
pub async fn crash(o: &Opts) -> anyhow::Result<Report> {
    let config = HookdConfig {
        delivery: "retry_schedule_secs = [1, 1, 2, 2, 5]\nbreaker_cooldown_secs = 1\n\
                   breaker_max_cooldown_secs = 2"
            .into(),
        ..HookdConfig::default()
    };
    let Live {
        env,
        receipts,
        receiver: _receiver,
        mut hookd,
        key,
    } = Live::start(o, &config, HashSet::new()).await?;

    let target: Target = Arc::new(Mutex::new(hookd.addr));
    let stop = Arc::new(AtomicBool::new(false));
    let spec = LoadSpec {
        events: u64::MAX,
        rate: Some(o.rate.unwrap_or(1000.0)),
        ..o.load()
    };
    let load_task = tokio::spawn(publish(target.clone(), key, spec, stop.clone()));
    let mut restart_ms = Vec::new();
    for _ in 0..o.rounds {
        let wait = rand::thread_rng().gen_range(500..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        hookd.kill9()?;
        let t = Instant::now();
        hookd = env.hookd.start()?;
        restart_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        *target.lock().unwrap_or_else(|p| p.into_inner()) = hookd.addr;
    }
    // A last stretch of load on the final daemon, then stop publishing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let load: LoadResult = load_task.await?;
    let all: Vec<u16> = (0..o.webhooks).collect();
    wait_delivered(&receipts, &load, &all, stall(o)).await;

    let mut report = Report::default();
    report.add("rounds", f64::from(o.rounds));
    delivery_figures(&mut report, &load, &receipts, &all);
    restart_ms.sort_by(f64::total_cmp);
    report.add(
        "restart_ms_median",
        restart_ms.get(restart_ms.len() / 2).copied().unwrap_or(0.0),
    );
    resource_figures(&mut report, &hookd, &env);
    hookd.stop()?;
    Ok(report)
}

/// A run under way: hookd started, a receiver up, a tenant with `o.webhooks` webhooks.
struct Live {
    env: RunEnv,
    receipts: Arc<Receipts>,
    receiver: crate::receiver::Receiver,
    hookd: crate::hookd::Hookd,
    key: String,
}

impl Live {
    async fn start(o: &Opts, config: &HookdConfig, failing: HashSet<u16>) -> anyhow::Result<Live> {
        let env = RunEnv::new(o, config)?;
        let receipts = Arc::new(Receipts::default());
        let receiver = env.receiver(0, failing, receipts.clone()).await?;
        let hookd = env.hookd.start()?;
        let key = create_tenant(hookd.addr, &env.operator_key).await?;
        let port = receiver.addr.port();
        create_webhooks(hookd.addr, &key, port, o.webhooks, 1_000_000, true).await?;
        Ok(Live {
            env,
            receipts,
            receiver,
            hookd,
            key,
        })
    }
}

fn stall(o: &Opts) -> Duration {
    Duration::from_secs(o.stall_secs)
}

//! One run's surroundings: a temp directory, the bench CA, hookd's config, and the
//! measurements every scenario shares (waiting for deliveries, latency, lost, duplicated).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::api::LoadResult;
use crate::hookd::{disk_usage, Hookd, HookdSpec};
use crate::pki::Pki;
use crate::receiver::{Receipts, Receiver};
use crate::report::{percentile_ms, Report};

/// Attempts in flight per webhook in every scenario (hookd's default is 16). One webhook
/// receives at most in-flight ÷ round-trip attempts per second (Little's law): with the
/// receiver and the loader on the same two cores a round trip under load is 2–5 ms, so 16
/// would cap one webhook near 4,000/s, far below what hookd can do. A receiver built for
/// volume is configured like this in production too.
const BENCH_IN_FLIGHT: u32 = 128;

/// What a run needs: its directory, CA, and how to start hookd.
pub struct RunEnv {
    /// Removed when dropped (unless `--keep`).
    _dir: tempfile::TempDir,
    pub pki: Pki,
    pub hookd: HookdSpec,
    pub data_dir: PathBuf,
    pub operator_key: String,
}

/// Extra TOML for hookd's `[storage]` and `[delivery]` sections.
#[derive(Debug, Clone, Default)]
pub struct HookdConfig {
    pub storage: String,
    pub delivery: String,
}

impl RunEnv {
    /// A fresh directory, CA and config. The config lets hookd deliver to the bench's
    /// receiver on loopback (`allowed_networks`, `extra_ca_file`) and lifts the limits that
    /// would measure the limiter instead of hookd (tenant ingest limit, per-webhook rate).
    pub fn new(o: &crate::scenarios::Opts, scenario: &HookdConfig) -> anyhow::Result<RunEnv> {
        let (bin, keep) = (&o.hookd_bin, o.keep);
        let dir = tempfile::Builder::new()
            .prefix("hookd-bench-")
            .disable_cleanup(keep)
            .tempdir()
            .context("creating the run's temp dir")?;
        if keep {
            eprintln!("keeping {}", dir.path().display());
        }
        let pki = Pki::generate(dir.path())?;
        let data_dir = dir.path().join("data");
        let operator_key = random_key();
        let config = format!(
            r#"[server]
listen = "127.0.0.1:0"
ingest_rate_limit_per_sec = 0

[storage]
data_dir = {data_dir:?}
{storage}
{more_storage}

[auth]
operator_key = "{operator_key}"

[delivery]
allowed_networks = ["127.0.0.0/8"]
extra_ca_file = {ca:?}
default_rate_limit_per_sec = 1000000
max_in_flight_per_webhook = {in_flight}
{delivery}
{more_delivery}

[[event_types]]
name = "customer.created"
category = "Customer"
description = "A customer record was created"
sample = {{ id = "cus_7Hq2LmX9rT", name = "Ada Lovelace", email = "ada@example.com" }}
"#,
            data_dir = data_dir.display().to_string(),
            in_flight = BENCH_IN_FLIGHT,
            ca = pki.ca_file.display().to_string(),
            storage = scenario.storage,
            more_storage = o.extra.storage,
            delivery = scenario.delivery,
            more_delivery = o.extra.delivery,
        );
        let config_path = dir.path().join("hookd.toml");
        std::fs::write(&config_path, config)?;
        Ok(RunEnv {
            hookd: HookdSpec {
                bin: bin.to_path_buf(),
                config: config_path,
                log: dir.path().join("hookd.log"),
            },
            _dir: dir,
            pki,
            data_dir,
            operator_key,
        })
    }

    /// Starts a receiver on `port` (0 = any) recording into `receipts`.
    pub async fn receiver(
        &self,
        port: u16,
        failing: HashSet<u16>,
        receipts: Arc<Receipts>,
    ) -> anyhow::Result<Receiver> {
        Receiver::start(port, self.pki.server.clone(), failing, receipts).await
    }

    pub fn disk_bytes(&self) -> u64 {
        disk_usage(&self.data_dir)
    }
}

fn random_key() -> String {
    use rand::Rng as _;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// Waits until every accepted event reached every webhook in `webhooks`, or until nothing
/// new arrived for `stall`. Returns when the last delivery arrived (or the wait ended).
pub async fn wait_delivered(
    receipts: &Receipts,
    load: &LoadResult,
    webhooks: &[u16],
    stall: Duration,
) -> Instant {
    let expected = load.accepted.len() as u64 * webhooks.len() as u64;
    let mut last_count = 0;
    let mut last_change = Instant::now();
    loop {
        let n = receipts.unique();
        if n >= expected && missing(receipts, load, webhooks) == 0 {
            return Instant::now();
        }
        if n != last_count {
            last_count = n;
            last_change = Instant::now();
        } else if last_change.elapsed() > stall {
            return last_change;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn missing(receipts: &Receipts, load: &LoadResult, webhooks: &[u16]) -> u64 {
    receipts.count_missing(
        load.accepted
            .iter()
            .flat_map(|a| webhooks.iter().map(move |w| (*w, a.event))),
    )
}

/// The figures every delivering scenario reports: ingest rate and latency, delivery rate,
/// ingest→receipt latency, lost and duplicated — for the webhooks in `webhooks` only.
pub fn delivery_figures(
    report: &mut Report,
    load: &LoadResult,
    receipts: &Receipts,
    webhooks: &[u16],
) {
    let accepted = load.accepted.len() as f64;
    let (Some(started), Some(finished)) = (load.started, load.finished) else {
        return;
    };
    report.add("events_accepted", accepted);
    report.add("events_refused", load.refused as f64);
    report.add(
        "accepted_per_sec",
        accepted / finished.duration_since(started).as_secs_f64().max(1e-9),
    );
    let mut ingest: Vec<Duration> = load.accepted.iter().map(|a| a.ingest).collect();
    ingest.sort();
    report.add("ingest_p50_ms", percentile_ms(&ingest, 50.0));
    report.add("ingest_p99_ms", percentile_ms(&ingest, 99.0));

    let seen = receipts.snapshot();
    let mut e2e = Vec::with_capacity(load.accepted.len() * webhooks.len());
    let (mut lost, mut duplicated) = (0u64, 0u64);
    let mut last = started;
    for a in &load.accepted {
        for w in webhooks {
            match seen.get(&(*w, a.event)) {
                Some(r) => {
                    e2e.push(r.first_at.saturating_duration_since(a.sent_at));
                    duplicated += u64::from(r.count - 1);
                    last = last.max(r.first_at);
                }
                None => lost += 1,
            }
        }
    }
    e2e.sort();
    report.add("deliveries", e2e.len() as f64);
    report.add(
        "deliveries_per_sec",
        e2e.len() as f64 / last.duration_since(started).as_secs_f64().max(1e-9),
    );
    report.add("e2e_p50_ms", percentile_ms(&e2e, 50.0));
    report.add("e2e_p95_ms", percentile_ms(&e2e, 95.0));
    report.add("e2e_p99_ms", percentile_ms(&e2e, 99.0));
    report.add("e2e_max_ms", percentile_ms(&e2e, 100.0));
    report.add("lost", lost as f64);
    report.add("duplicated", duplicated as f64);
}

/// hookd's peak RSS and CPU seconds, and the data dir's size.
pub fn resource_figures(report: &mut Report, hookd: &Hookd, env: &RunEnv) {
    let usage = hookd.usage();
    report.add("hookd_peak_rss_mb", usage.peak_rss as f64 / 1048576.0);
    report.add("hookd_cpu_secs", usage.cpu_secs);
    report.add("hookd_sys_secs", usage.sys_secs);
    report.add("hookd_written_mb", usage.written as f64 / 1048576.0);
    // Per accepted event (an event with its deliveries and their attempt records).
    let events = report.get("events_accepted").unwrap_or(0.0).max(1.0);
    report.add("cpu_us_per_event", usage.cpu_secs * 1e6 / events);
    report.add(
        "written_kb_per_event",
        usage.written as f64 / 1000.0 / events,
    );
    report.add("data_dir_mb", env.disk_bytes() as f64 / 1048576.0);
    // The machine over hookd's life: figures taken while the hypervisor stole a large
    // share, or while the CPU sat idle, are not comparable with the others.
    if let Some(m) = hookd.machine() {
        report.add("machine_steal_pct", m.steal_pct);
        report.add("machine_idle_pct", m.idle_pct);
        report.add("bench_cpu_secs", m.bench_cpu_secs);
    }
}

//! Delivery: everything between a stored delivery and a receiver's answer.
//!
//! Every new event enters through [`Engine::publish`] ([`publish`]); retries and replays
//! through [`Engine::retry`] and [`Engine::replay`] ([`recover`]). Both store first and
//! then hint the scheduler through a channel (never the other way round). The
//! [`scheduler`] decides what goes when (with each webhook's [`lane`]); an [`attempt`]
//! signs ([`payload`]), sends over the SSRF-guarded client ([`net`]) and records the
//! result; [`retry`] says when to try again.

pub mod attempt;
pub mod failure;
mod fanout;
pub(crate) mod health_events;
pub mod lane;
pub mod net;
pub mod payload;
pub mod publish;
mod recent;
mod recover;
pub mod retry;
pub mod scheduler;
mod target;
#[cfg(test)]
pub(crate) mod testkit;

use std::sync::Arc;
use std::time::Duration;

/// The longest delay any delivery timer is set for: 365 days. tokio-util's `DelayQueue`
/// panics on a deadline beyond about 2^36 ms (795 days), which would kill the scheduler; a
/// timer cut short by this bound simply fires early, and the work it wakes is found not
/// due yet and waits again. Config bounds keep real delays far below it (30 days).
pub const MAX_TIMER_DELAY_MS: u64 = 365 * 86_400_000;

/// The timer delay from `now_ms` until `due_ms` (0 when due), bounded by
/// [`MAX_TIMER_DELAY_MS`]: every deadline handed to a timer goes through this.
pub fn delay_until(due_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(due_ms.saturating_sub(now_ms).min(MAX_TIMER_DELAY_MS))
}

use tokio::sync::{mpsc, oneshot};

/// Hints (`scheduler::Msg`) waiting for the scheduler. A full channel costs a rescan of the
/// schedule, never a lost delivery (see `Publisher::enqueue_new`).
const HINT_CHANNEL_CAPACITY: usize = 4096;

use crate::config::Config;
use crate::model::{now_ms, Delivery, Event, Webhook, WebhookStatus};
use crate::store::{Dedup, Store, StoreError};
use attempt::AttemptContext;
use net::{HttpClientConfig, NetPolicy};
pub use publish::{Published, Publisher};
pub use recover::ReplayScope;

/// The handle the API (and the daemon) use; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    tls: Arc<rustls::ClientConfig>,
    policy: NetPolicy,
    tx: mpsc::Sender<scheduler::Msg>,
    publisher: Publisher,
    ctx: AttemptContext,
    /// When the schedule may be counted again for `/metrics` (see `refresh_gauges`).
    schedule_count: std::sync::Mutex<CountState>,
    /// Raised when an engine task panics or ends before shutdown: the daemon must exit.
    failure: Arc<failure::Failure>,
}

/// The background count of the schedule behind two gauges.
#[derive(Default)]
struct CountState {
    running: bool,
    next_allowed: Option<std::time::Instant>,
}

impl Engine {
    /// Build the client and start the scheduler task (which recovers every open delivery
    /// from the store first).
    pub fn start(store: Store, config: Arc<Config>) -> Result<Engine, net::TlsSetupError> {
        Engine::start_with(store, config, HINT_CHANNEL_CAPACITY)
    }

    /// [`Engine::start`] with a hint channel of `hint_capacity` (tests use a tiny one).
    pub(crate) fn start_with(
        store: Store,
        config: Arc<Config>,
        hint_capacity: usize,
    ) -> Result<Engine, net::TlsSetupError> {
        let d = &config.delivery;
        let extra_ca =
            (!d.extra_ca_file.is_empty()).then(|| std::path::PathBuf::from(&d.extra_ca_file));
        let tls = net::build_tls_config(extra_ca.as_deref())?;
        let client = net::build_client(&HttpClientConfig {
            allowed_networks: d.allowed_networks.clone(),
            extra_ca_file: extra_ca,
            connect_timeout: Duration::from_secs_f64(d.timeout_secs.min(10.0)),
        })?;
        let ctx = AttemptContext {
            store: store.clone(),
            client,
            config: config.clone(),
            recent: Arc::default(),
            targets: Arc::new(target::Targets::new(d.allow_http)),
        };
        let (tx, rx) = mpsc::channel(hint_capacity.max(1));
        let rescan = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let publisher = Publisher::new(store.clone(), &tx, rescan.clone());
        let failure = Arc::new(failure::Failure::default());
        let task = tokio::spawn(
            scheduler::Scheduler::new(ctx.clone(), rx, publisher.clone(), rescan).run(),
        );
        failure::supervise("delivery scheduler", task, failure.clone());
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                tls,
                policy: NetPolicy::new(d.allowed_networks.clone()),
                tx,
                publisher,
                ctx,
                schedule_count: std::sync::Mutex::new(CountState::default()),
                failure,
            }),
        })
    }

    /// Watch another task that belongs to the engine's work (e.g. the retention sweep):
    /// its panic, or its end before shutdown, is an engine failure.
    pub fn supervise(&self, name: &'static str, task: tokio::task::JoinHandle<()>) {
        failure::supervise(name, task, self.inner.failure.clone());
    }

    /// Resolves when the engine has failed (a task panicked or stopped before shutdown),
    /// with the reason. The daemon then shuts down and exits non-zero.
    pub async fn failed(&self) -> String {
        self.inner.failure.wait().await
    }

    /// The reason the engine failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.inner.failure.reason()
    }

    /// Resolve, SSRF-check, connect and (https) handshake, within 5 s.
    pub async fn check_reachable(&self, url: &url::Url) -> Result<(), net::Unreachable> {
        net::check_reachable(
            url,
            &self.inner.policy,
            self.inner.tls.clone(),
            Duration::from_secs(5),
        )
        .await
    }

    /// Publish an event: fan-out, one atomic durable write (with the optional dedup
    /// record), then scheduled. See [`Publisher::publish`].
    pub async fn publish(
        &self,
        event: Event,
        dedup: Option<Dedup<'_>>,
    ) -> Result<Published, StoreError> {
        self.inner.publisher.publish(event, dedup).await
    }

    /// Retry (or replay) one delivery of `webhook` now: durable, then scheduled. `None`:
    /// the webhook has no such delivery.
    pub async fn retry(
        &self,
        webhook: &Webhook,
        delivery_id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        let store = &self.inner.store;
        let Some(d) = recover::retry_nowait(store, webhook, delivery_id, now_ms())? else {
            return Ok(None);
        };
        store.durable().await?;
        self.inner.publisher.enqueue_new(std::slice::from_ref(&d));
        Ok(Some(d))
    }

    /// Replay a window of the tenant's events to `webhook` (see [`ReplayScope`]); returns
    /// how many deliveries were scheduled, all of them durable.
    pub async fn replay(
        &self,
        webhook: &Webhook,
        since_ms: u64,
        until_ms: u64,
        scope: ReplayScope,
    ) -> Result<usize, StoreError> {
        let publisher = &self.inner.publisher;
        recover::replay(
            &self.inner.store,
            webhook,
            since_ms,
            until_ms,
            scope,
            now_ms(),
            |ds| publisher.enqueue_new(ds),
        )
        .await
    }

    /// A webhook was changed or deleted over the API.
    pub fn webhook_changed(&self, id: &str) {
        let tx = self.inner.tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let _ = tx.send(scheduler::Msg::WebhookChanged(id)).await;
        });
    }

    /// Stop starting attempts and wait (at most `grace`) for those in flight.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.failure.stopping();
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(scheduler::Msg::Stop(tx)).await.is_ok()
            && tokio::time::timeout(grace, rx).await.is_err()
        {
            tracing::warn!(
                "attempts still in flight at shutdown; they will be retried after restart"
            );
        }
    }

    /// Update the gauges of `/metrics`. Webhooks by status come from the in-memory cache
    /// (cheap, every scrape). The queue depth and scheduled retries count the schedule,
    /// which is O(backlog): 1,000,000 pending took 3–11 s per scrape, longer than
    /// Prometheus' timeout. So that count runs as blocking work in the background, at most
    /// once per 20 × its own last duration (≤ 5 % of a core); a scrape waits for it at most
    /// 250 ms and otherwise answers with the previous count.
    pub async fn refresh_gauges(&self) {
        self.compute_webhook_gauges();
        let s = self.inner.store.engine_stats();
        crate::ops::metrics::set_storage(&[
            ("write_buffer_bytes", s.write_buffer_bytes as f64),
            ("sealed_memtables", s.sealed_memtables as f64),
            ("outstanding_flushes", s.outstanding_flushes as f64),
            ("journals", s.journals as f64),
            ("cache_bytes", s.cache_bytes as f64),
            ("l0_tables", s.l0_tables as f64),
            ("tables", s.tables as f64),
            ("active_compactions", s.active_compactions as f64),
        ]);
        if let Some(count) = self.start_schedule_count() {
            let _ = tokio::time::timeout(Duration::from_millis(250), count).await;
        }
    }

    fn compute_webhook_gauges(&self) {
        use crate::ops::metrics;
        let (mut active, mut failing, mut disabled, mut open) = (0, 0, 0, 0);
        for w in self.inner.store.all_webhooks() {
            match w.status {
                WebhookStatus::Active => active += 1,
                WebhookStatus::Failing => failing += 1,
                WebhookStatus::Disabled => disabled += 1,
            }
            if w.breaker.state != crate::model::BreakerState::Closed {
                open += 1;
            }
        }
        metrics::set_webhooks_by_status(active, failing, disabled);
        metrics::set_breakers_open(open);
    }

    /// Starts a count of the schedule unless one runs or the last one was too recent.
    fn start_schedule_count(&self) -> Option<tokio::task::JoinHandle<()>> {
        let now = std::time::Instant::now();
        {
            let mut state = self.lock_count_state();
            if state.running || state.next_allowed.is_some_and(|t| now < t) {
                return None;
            }
            state.running = true;
        }
        let engine = self.clone();
        Some(tokio::task::spawn_blocking(move || {
            use crate::ops::metrics;
            let started = std::time::Instant::now();
            let store = &engine.inner.store;
            // Every open delivery has one schedule entry: those due by now are the queue,
            // the rest wait for a later retry.
            let owed = store.schedule_len() as u64;
            let later = store.scheduled_after(now_ms()) as u64;
            metrics::set_queue_depth(owed.saturating_sub(later));
            metrics::set_scheduled_retries(later);
            let mut state = engine.lock_count_state();
            state.running = false;
            state.next_allowed = Some(std::time::Instant::now() + started.elapsed() * 20);
        }))
    }

    fn lock_count_state(&self) -> std::sync::MutexGuard<'_, CountState> {
        // Two plain fields: a panic elsewhere cannot leave them inconsistent.
        self.inner
            .schedule_count
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Per-webhook health as Prometheus text, rendered fresh at each scrape (so a deleted
    /// webhook's series simply disappear): status, consecutive failures, breaker state.
    pub fn per_webhook_metrics(&self) -> String {
        use std::fmt::Write as _;
        let mut webhooks = self.inner.store.all_webhooks();
        webhooks.sort_by(|a, b| a.id.cmp(&b.id));
        let mut out = String::new();
        out.push_str("# HELP hookd_webhook_status 1 for the webhook's current status.\n# TYPE hookd_webhook_status gauge\n");
        for w in &webhooks {
            let _ = writeln!(
                out,
                "hookd_webhook_status{{webhook_id=\"{}\",tenant_id=\"{}\",status=\"{}\"}} 1",
                w.id,
                w.tenant_id,
                w.status.as_str()
            );
        }
        out.push_str("# HELP hookd_webhook_consecutive_failures Failed attempts in a row.\n# TYPE hookd_webhook_consecutive_failures gauge\n");
        for w in &webhooks {
            let _ = writeln!(
                out,
                "hookd_webhook_consecutive_failures{{webhook_id=\"{}\"}} {}",
                w.id, w.consecutive_failures
            );
        }
        out.push_str("# HELP hookd_webhook_breaker_state Circuit breaker: 0 closed, 1 open, 2 half-open.\n# TYPE hookd_webhook_breaker_state gauge\n");
        for w in &webhooks {
            let state = match w.breaker.state {
                crate::model::BreakerState::Closed => 0,
                crate::model::BreakerState::Open => 1,
                crate::model::BreakerState::HalfOpen => 2,
            };
            let _ = writeln!(
                out,
                "hookd_webhook_breaker_state{{webhook_id=\"{}\"}} {state}",
                w.id
            );
        }
        out
    }

    /// The attempt context (for `/test` sends).
    pub fn context(&self) -> &AttemptContext {
        &self.inner.ctx
    }
}

#[cfg(test)]
mod tests;

//! Prometheus metrics: the series `GET /metrics` serves.
//!
//! Why one module owns every metric name: the series are part of the external contract
//! (dashboards and alerts are written against them), so they are spelled once, here, as
//! `pub const`s, and the rest of the code records through the small typed helpers below
//! instead of calling `metrics::counter!` with string literals scattered around.
//!
//! Why no tenant or webhook labels here: a label value per tenant or per webhook makes the
//! number of series grow with the data (thousands of webhooks → thousands of series per
//! metric), which is what takes Prometheus servers down, and `/metrics` needs no key, so such
//! labels would list every tenant and webhook to anyone who can reach it. Every label here
//! has a small fixed set of values, enforced by taking enums rather than strings. The only
//! per-webhook series (status, consecutive failures, breaker state) are rendered by the
//! delivery engine, and only when the operator sets `server.metrics_per_webhook = true`.
//!
//! The recorder is process-global (the `metrics` facade has exactly one), so the helpers are
//! free functions: they work from any layer without threading a handle through, and are
//! no-ops until [`Metrics::install`] has run (e.g. in unit tests of other modules).

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter: events accepted by `POST /api/events` or an inbound source (durably stored).
pub const EVENTS_INGESTED: &str = "hookd_events_ingested_total";
/// Counter, label `outcome` (see [`AttemptOutcome`]): delivery attempts by how they ended.
pub const DELIVERY_ATTEMPTS: &str = "hookd_delivery_attempts_total";
/// Histogram in seconds: from the event being accepted to a receiver's 2xx for it
/// (retries included, so this is the latency a subscriber actually sees).
pub const DELIVERY_LATENCY: &str = "hookd_delivery_latency_seconds";
/// Gauge: deliveries due now but not yet attempted (waiting for a worker, a rate limit slot
/// or a held breaker).
pub const QUEUE_DEPTH: &str = "hookd_queue_depth";
/// Gauge: deliveries waiting for a later retry of their schedule.
pub const SCHEDULED_RETRIES: &str = "hookd_scheduled_retries";
/// Gauge, label `status` = `active` | `failing` | `disabled`: webhooks by status.
pub const WEBHOOKS: &str = "hookd_webhooks";
/// Gauge: webhooks whose circuit breaker currently holds their queue.
pub const BREAKERS_OPEN: &str = "hookd_breakers_open";
/// Counter, label `limit` = `ingest` | `delivery`: work held back by a rate limit.
pub const RATE_LIMITED: &str = "hookd_rate_limited_total";
/// Counter, label `status_class` = `1xx` … `5xx`: API responses by status class.
pub const HTTP_REQUESTS: &str = "hookd_http_requests_total";
/// Storage engine gauges, by `what` (see [`set_storage`]).
pub const STORAGE: &str = "hookd_storage";

/// Upper bounds (seconds) of the latency histogram buckets: 1 ms … 60 s.
///
/// Why these: a healthy delivery lands in the low milliseconds to a few seconds (the
/// product target is p95 < 5 s), and the contract's per-attempt timeout is 30 s by default.
/// Anything later than 60 s has gone through a retry and is counted in `+Inf`; the
/// histogram's job is to show whether the fast path is fast, the delivery log explains the
/// slow ones. Roughly 1-2.5-5 per decade: 16 `_bucket` lines (with `+Inf`) per scrape.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How often the background thread drains histogram samples into their buckets.
///
/// Why a drain at all: the exporter buffers every raw histogram sample until the next
/// render or upkeep. Nobody may scrape `/metrics` for days, and at thousands of deliveries
/// per second the buffer would grow without bound; draining every few seconds keeps it tiny.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The one handle of this process, shared by every [`Metrics::install`] call.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Access to the installed Prometheus recorder, for rendering `GET /metrics`.
///
/// Cheap to clone: it is a reference-counted handle to the process-global recorder.
#[derive(Clone, Debug)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Install the process-global recorder (first call) or return the one already installed.
    ///
    /// Why idempotent: the `metrics` facade accepts exactly one global recorder per process,
    /// and unit tests (and a daemon started twice in one test binary) call this repeatedly.
    /// Every series is registered at zero on install, so dashboards see `0` rather than "no
    /// data" before the first event, and `rate()` works from the first scrape.
    ///
    /// Never fails: should another recorder already be installed globally (not something
    /// hookd does), a warning is logged and the handle renders an empty page; delivery goes
    /// on, since metrics are not worth refusing to start over.
    pub fn install() -> Metrics {
        let handle = HANDLE.get_or_init(|| {
            let handle = match builder().install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics stays empty");
                    builder().build_recorder().handle()
                }
            };
            describe_all();
            register_all_at_zero();
            spawn_upkeep(handle.clone());
            handle
        });
        Metrics {
            handle: handle.clone(),
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every series, for `GET /metrics`.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// The builder with our histogram buckets.
///
/// Why buckets for the latency metric only: without them the exporter renders histograms as
/// summaries (client-side quantiles), which cannot be aggregated across instances or over
/// time. Real `_bucket` lines can (`histogram_quantile`).
fn builder() -> PrometheusBuilder {
    let base = PrometheusBuilder::new();
    match base.set_buckets_for_metric(Matcher::Full(DELIVERY_LATENCY.to_owned()), LATENCY_BUCKETS) {
        Ok(b) => b,
        // Only reachable if LATENCY_BUCKETS were empty; fall back to a summary, not a panic.
        Err(e) => {
            tracing::warn!(error = %e, "latency buckets rejected; rendering a summary");
            PrometheusBuilder::new()
        }
    }
}

/// `# HELP` texts: what an operator reads next to the graph.
fn describe_all() {
    describe_counter!(
        EVENTS_INGESTED,
        Unit::Count,
        "Events accepted and durably stored (API and inbound sources)."
    );
    describe_counter!(
        DELIVERY_ATTEMPTS,
        Unit::Count,
        "Delivery attempts by outcome: success, failure, refused, timeout."
    );
    describe_histogram!(
        DELIVERY_LATENCY,
        Unit::Seconds,
        "Seconds from an event being accepted to a receiver's 2xx for it, retries included."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Deliveries due now and waiting to be attempted."
    );
    describe_gauge!(
        SCHEDULED_RETRIES,
        Unit::Count,
        "Deliveries waiting for a later retry."
    );
    describe_gauge!(
        WEBHOOKS,
        Unit::Count,
        "Webhooks by status: active, failing, disabled."
    );
    describe_gauge!(
        BREAKERS_OPEN,
        Unit::Count,
        "Webhooks whose circuit breaker currently holds their queue."
    );
    describe_counter!(
        RATE_LIMITED,
        Unit::Count,
        "Events refused (ingest) or attempts deferred (delivery) by a rate limit."
    );
    describe_counter!(HTTP_REQUESTS, Unit::Count, "API responses by status class.");
    describe_gauge!(
        STORAGE,
        "The storage engine, by `what`: write_buffer_bytes (memtables, active and sealed), \
         sealed_memtables and l0_tables (of the hot keyspaces), outstanding_flushes, journals, \
         cache_bytes (block cache in use), tables, active_compactions."
    );
}

/// The storage engine's state at this scrape, as (`what`, value) pairs.
pub fn set_storage(values: &[(&'static str, f64)]) {
    for (what, v) in values {
        metrics::gauge!(STORAGE, "what" => *what).set(*v);
    }
}

/// Create every series (every label value too) at zero.
fn register_all_at_zero() {
    metrics::counter!(EVENTS_INGESTED).increment(0);
    for outcome in AttemptOutcome::ALL {
        metrics::counter!(DELIVERY_ATTEMPTS, "outcome" => outcome.as_str()).increment(0);
    }
    // Registering without recording is enough for the histogram to render its buckets.
    let _ = metrics::histogram!(DELIVERY_LATENCY);
    set_queue_depth(0);
    set_scheduled_retries(0);
    set_webhooks_by_status(0, 0, 0);
    set_breakers_open(0);
    for limit in Limit::ALL {
        rate_limited(limit, 0);
    }
    for class in ["2xx", "4xx", "5xx"] {
        metrics::counter!(HTTP_REQUESTS, "status_class" => class).increment(0);
    }
}

/// Drain histogram buffers every [`UPKEEP_INTERVAL`] on a small named thread.
///
/// Why a std thread and not a tokio task: `install` may run before (or without) a runtime,
/// e.g. in `check-config` or in plain `#[test]`s, and a sleeping thread costs nothing.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("hookd-metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        // Rendering still drains the buffers; only memory between scrapes is unbounded.
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
    }
}

/// How a delivery attempt ended: the value of the `outcome` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered 2xx within the timeout.
    Success,
    /// Anything else that reached (or tried to reach) the receiver: a non-2xx status, a
    /// redirect, a connection or TLS error, a malformed response.
    Failure,
    /// hookd refused to send: the address connected to is non-public and not in
    /// `allowed_networks`, or the URL's scheme is not allowed. Counted apart because it
    /// is a configuration problem, not a receiver outage.
    Refused,
    /// No complete response within the attempt's `timeout_secs`.
    Timeout,
}

impl AttemptOutcome {
    /// Every variant, so each label value is registered at zero on install.
    pub const ALL: [AttemptOutcome; 4] = [
        AttemptOutcome::Success,
        AttemptOutcome::Failure,
        AttemptOutcome::Refused,
        AttemptOutcome::Timeout,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Success => "success",
            AttemptOutcome::Failure => "failure",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::Timeout => "timeout",
        }
    }
}

/// Which rate limit held work back: the value of the `limit` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A tenant's `ingest_rate_limit_per_sec`: the event was refused with 429.
    Ingest,
    /// A webhook's `rate_limit_per_sec`: the attempt waits in the queue (never dropped).
    Delivery,
}

impl Limit {
    /// Every variant, so each label value is registered at zero on install.
    pub const ALL: [Limit; 2] = [Limit::Ingest, Limit::Delivery];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Ingest => "ingest",
            Limit::Delivery => "delivery",
        }
    }
}

/// One event was accepted and stored (call once per event, after it is durable).
pub fn ingested_event() {
    metrics::counter!(EVENTS_INGESTED).increment(1);
}

/// One delivery attempt ended with `outcome`.
pub fn attempt(outcome: AttemptOutcome) {
    metrics::counter!(DELIVERY_ATTEMPTS, "outcome" => outcome.as_str()).increment(1);
}

/// A delivery succeeded `seconds` after its event was accepted.
///
/// Negative values (a clock step backwards between accept and success) are recorded as 0
/// and non-finite ones dropped, so one odd clock reading cannot poison the `_sum`.
pub fn delivery_latency(seconds: f64) {
    if seconds.is_finite() {
        metrics::histogram!(DELIVERY_LATENCY).record(seconds.max(0.0));
    }
}

/// Deliveries due now and waiting for a worker, a rate-limit slot or a breaker.
pub fn set_queue_depth(n: u64) {
    metrics::gauge!(QUEUE_DEPTH).set(n as f64);
}

/// Deliveries waiting for a later retry.
pub fn set_scheduled_retries(n: u64) {
    metrics::gauge!(SCHEDULED_RETRIES).set(n as f64);
}

/// Webhook counts by status, all three at once so a scrape never sees a half update
/// that adds up to the wrong total for long.
pub fn set_webhooks_by_status(active: u64, failing: u64, disabled: u64) {
    metrics::gauge!(WEBHOOKS, "status" => "active").set(active as f64);
    metrics::gauge!(WEBHOOKS, "status" => "failing").set(failing as f64);
    metrics::gauge!(WEBHOOKS, "status" => "disabled").set(disabled as f64);
}

/// Webhooks whose circuit breaker is open (holding their queue, probing one at a time).
pub fn set_breakers_open(n: u64) {
    metrics::gauge!(BREAKERS_OPEN).set(n as f64);
}

/// `n` events (ingest) or attempts (delivery) were held back by a rate limit.
pub fn rate_limited(limit: Limit, n: u64) {
    metrics::counter!(RATE_LIMITED, "limit" => limit.as_str()).increment(n);
}

/// One API response was sent with HTTP `status`.
pub fn http_request(status: u16) {
    metrics::counter!(HTTP_REQUESTS, "status_class" => status_class(status)).increment(1);
}

/// `404` → `"4xx"`; anything outside 100..=599 (cannot come from hyper) → `"other"`.
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_twice_renders_every_series_with_types_and_buckets() {
        let first = Metrics::install();
        let second = Metrics::install();

        ingested_event();
        attempt(AttemptOutcome::Success);
        attempt(AttemptOutcome::Timeout);
        delivery_latency(0.042);
        delivery_latency(f64::NAN); // dropped, must not break the render
        set_queue_depth(7);
        set_scheduled_retries(3);
        set_webhooks_by_status(5, 1, 2);
        set_breakers_open(1);
        rate_limited(Limit::Ingest, 4);
        http_request(202);

        // Both handles see the same (global) recorder.
        let text = second.render();
        assert_eq!(
            first
                .render()
                .lines()
                .filter(|l| l.starts_with("# TYPE"))
                .count(),
            text.lines().filter(|l| l.starts_with("# TYPE")).count()
        );

        for (name, kind) in [
            (EVENTS_INGESTED, "counter"),
            (DELIVERY_ATTEMPTS, "counter"),
            (DELIVERY_LATENCY, "histogram"),
            (QUEUE_DEPTH, "gauge"),
            (SCHEDULED_RETRIES, "gauge"),
            (WEBHOOKS, "gauge"),
            (BREAKERS_OPEN, "gauge"),
            (RATE_LIMITED, "counter"),
            (HTTP_REQUESTS, "counter"),
        ] {
            let type_line = format!("# TYPE {name} {kind}");
            assert!(
                text.contains(&type_line),
                "missing `{type_line}` in:\n{text}"
            );
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name}"
            );
        }
        for outcome in AttemptOutcome::ALL {
            let series = format!("{DELIVERY_ATTEMPTS}{{outcome=\"{}\"}}", outcome.as_str());
            assert!(text.contains(&series), "missing {series}");
        }
        for status in ["active", "failing", "disabled"] {
            assert!(text.contains(&format!("{WEBHOOKS}{{status=\"{status}\"}}")));
        }
        assert!(text.contains(&format!("{HTTP_REQUESTS}{{status_class=\"2xx\"}}")));
        assert!(text.contains(&format!("{RATE_LIMITED}{{limit=\"delivery\"}}")));

        // A real histogram: one `_bucket` line per bound plus +Inf, then _sum and _count.
        for le in ["0.001", "5", "60", "+Inf"] {
            let bucket = format!("{DELIVERY_LATENCY}_bucket{{le=\"{le}\"}}");
            assert!(text.contains(&bucket), "missing {bucket} in:\n{text}");
        }
        let buckets = text
            .lines()
            .filter(|l| l.starts_with(&format!("{DELIVERY_LATENCY}_bucket")))
            .count();
        assert_eq!(buckets, LATENCY_BUCKETS.len() + 1);
        assert!(text.contains(&format!("{DELIVERY_LATENCY}_sum")));
        assert!(text.contains(&format!("{DELIVERY_LATENCY}_count")));
        assert!(
            !text.contains("quantile="),
            "rendered as a summary:\n{text}"
        );
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(101), "1xx");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(308), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(42), "other");
        assert_eq!(status_class(600), "other");
    }
}

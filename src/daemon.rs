//! The daemon: wires config, store, delivery engine and API together, and runs until
//! SIGTERM/SIGINT, then shuts down in order (stop accepting, let attempts finish, flush).

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;

use crate::api::{self, AppState, IngestLimiter};
use crate::config::Config;
use crate::delivery::Engine;
use crate::model::{builtin_event_types, EventType, OPERATIONAL_CATEGORY, OPERATIONAL_EVENT_TYPES};
use crate::ops;
use crate::signing::{key_hash, new_api_key};
use crate::store::Store;

/// Refuse a data dir written by an earlier build on sled: its format cannot be read, and
/// starting empty beside it would look like data loss.
fn refuse_sled_data(data_dir: &Path) -> anyhow::Result<()> {
    let old = data_dir.join("sled");
    if old.exists() {
        bail!(
            "{} holds a database of an earlier hookd build (sled), which this build cannot read; \
             move it away (or choose another storage.data_dir) to start with empty storage",
            old.display()
        );
    }
    Ok(())
}

/// Run the daemon until a signal; `Ok` means a clean shutdown (exit 0).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let nofile = ops::fdlimit::raise_nofile_limit();
    let conn_limits = api::ConnLimits::new(&config.server, nofile);
    let data_dir = config.storage.data_dir.clone();
    create_private_dir(&data_dir)?;
    let (operator_key_hash, key_origin) = operator_key(&config, &data_dir)?;
    refuse_sled_data(&data_dir)?;
    let store = Store::open(
        &crate::store::db_dir(&data_dir),
        config.storage.cache_mb,
        Duration::from_secs_f64(config.storage.commit_gap_ms / 1000.0),
    )
    .with_context(|| format!("cannot open storage in {}", data_dir.display()))?;
    let stored = store
        .list_event_types()
        .context("cannot read the event type catalog")?;
    store
        .seed_event_types(&catalog_seed(&config, &stored))
        .context("cannot seed the event type catalog")?;
    // Built at start so a bad [smtp] (unreadable password_file, bad CA file) is refused now
    // rather than when the first alert is due.
    let mailer = if config.smtp.enabled() {
        let mailer =
            crate::alerts::Mailer::from_config(&config.smtp, &config.delivery.extra_ca_file)
                .context("[smtp]")?;
        tracing::info!(
            host = %config.smtp.host,
            port = config.smtp.effective_port(),
            "alert e-mails go out through SMTP"
        );
        Some(mailer)
    } else {
        None
    };
    let metrics = ops::metrics::Metrics::install();
    let engine = Engine::start(store.clone(), config.clone())
        .map_err(|e| anyhow::anyhow!("cannot start delivery: {e}"))?;

    let addr = config.listen_addr()?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the listen address")?;
    let tls = server_tls(&config)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}"));

    let state = Arc::new(AppState {
        store: store.clone(),
        config: config.clone(),
        operator_key_hash,
        delivery: engine.clone(),
        ingest_limiter: IngestLimiter::new(config.server.ingest_rate_limit_per_sec),
        shutting_down: Default::default(),
        metrics,
        portal: api::Portal::new(&base),
        base_url: base.clone(),
    });

    // What a person starting hookd needs to see, on stdout.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "hookd listening on {scheme}://{local}");
    let _ = writeln!(out, "operator key: {key_origin}");
    let _ = writeln!(out, "admin page: {base}/settings/webhooks");
    let _ = writeln!(out, "API: {base}/api");
    let _ = out.flush();
    drop(out);
    tracing::info!(%local, "hookd started");

    let signalled = shutdown_signal();
    ops::systemd::notify_ready();
    let watchdog = ops::systemd::spawn_watchdog();
    let limiter_state = state.clone();
    let shrink = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            limiter_state.ingest_limiter.shrink();
        }
    });

    let sweeper = tokio::spawn(retention_sweep(store.clone(), config.retention_ms()));
    let sweeper_abort = sweeper.abort_handle();
    engine.supervise("retention sweep", sweeper);
    let stats_flusher = tokio::spawn(flush_stats_forever(store.clone()));
    let stats_flusher_abort = stats_flusher.abort_handle();
    engine.supervise("statistics flush", stats_flusher);
    // Sends the alert e-mails the delivery side queues (and those owed from before).
    let alert_sender = mailer.map(|mailer| {
        let task = tokio::spawn(crate::alerts::sender::run(
            store.clone(),
            mailer,
            base.clone(),
        ));
        let abort = task.abort_handle();
        engine.supervise("alert sender", task);
        abort
    });

    let grace = Duration::from_secs_f64(config.delivery.timeout_secs + 1.0);
    let shutdown_state = state.clone();
    let watched_engine = engine.clone();
    api::serve(
        listener,
        tls,
        state.clone(),
        async move {
            // A failed engine stops the daemon too: better a restart by the service manager
            // than an API that accepts events nobody delivers.
            let failed = tokio::select! {
                _ = signalled => None,
                reason = watched_engine.failed() => Some(reason),
            };
            shutdown_state.shutting_down.store(true, Ordering::Relaxed);
            ops::systemd::notify_stopping();
            match failed {
                None => tracing::info!(
                    "shutting down: no new requests; letting attempts in flight finish"
                ),
                Some(reason) => tracing::error!(
                    %reason,
                    "shutting down after a delivery engine failure; exiting non-zero"
                ),
            }
        },
        Duration::from_secs(5),
        conn_limits,
    )
    .await;
    engine.shutdown(grace).await;
    shrink.abort();
    sweeper_abort.abort();
    // An alert being sent now stays owed and goes out after the next start.
    if let Some(sender) = alert_sender {
        sender.abort();
    }
    stats_flusher_abort.abort();
    if let Err(e) = store.flush_stats() {
        tracing::warn!(error = %e, "cannot store the last statistics");
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    if let Err(reason) = store.health() {
        // Nothing written since the failure was acknowledged, and a sync now could not be
        // trusted: there is nothing left to flush. What was acknowledged is on disk.
        tracing::warn!(%reason, "storage had failed; exiting without a final flush");
        return Ok(());
    }
    let flushed = tokio::task::spawn_blocking(move || store.flush_blocking()).await;
    if let Some(reason) = engine.failure() {
        if let Ok(Err(e)) = &flushed {
            tracing::error!(error = %e, "final flush failed");
        }
        return Err(anyhow::anyhow!("delivery engine failure: {reason}"));
    }
    match flushed {
        Ok(Ok(())) => {
            tracing::info!("storage flushed; bye");
            Ok(())
        }
        Ok(Err(e)) => Err(anyhow::anyhow!("final flush failed: {e}")),
        Err(e) => Err(anyhow::anyhow!("final flush panicked: {e}")),
    }
}

/// How often the statistics gathered in memory are added to the stored buckets.
const STATS_FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Statistics buckets are kept this long: the longest window (7 days) and a day more.
const STATS_KEEP_MS: u64 = 8 * 86_400_000;

/// Add the statistics gathered in memory to the stored buckets, forever.
async fn flush_stats_forever(store: Store) {
    loop {
        tokio::time::sleep(STATS_FLUSH_EVERY).await;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.flush_stats()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot store statistics"),
            Err(e) => tracing::error!(error = %e, "statistics flush failed"),
        }
    }
}

/// Purge what is older than the retention window, forever: every twentieth of the window
/// (between 1 s and 60 s), in batches so a large backlog of old events does not stall
/// the store. Events first, then inbound request logs and dedup records.
async fn retention_sweep(store: Store, retention_ms: u64) {
    const BATCH: usize = 5_000;
    let every = Duration::from_millis((retention_ms / 20).clamp(1_000, 60_000));
    loop {
        tokio::time::sleep(every).await;
        let cutoff = crate::model::now_ms().saturating_sub(retention_ms);
        loop {
            match store.purge_before(cutoff, BATCH).await {
                Ok(stats) => {
                    if stats.events > 0 {
                        tracing::info!(
                            events = stats.events,
                            kept_open = stats.kept_open,
                            "retention purge"
                        );
                    }
                    if stats.events < BATCH {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "retention purge failed");
                    break;
                }
            }
            tokio::task::yield_now().await;
        }
        // Statistics buckets outlive the retention window when it is short (their own
        // 8 days), and go when older.
        if let Err(e) =
            store.purge_stats_before(crate::model::now_ms().saturating_sub(STATS_KEEP_MS))
        {
            tracing::error!(error = %e, "purge of old statistics failed");
        }
        // Last-alert times older than the alert window suppress nothing any more.
        let marks_cutoff = crate::model::now_ms()
            .saturating_sub(2 * crate::delivery::health_events::ALERT_WINDOW_MS);
        if let Err(e) = store.purge_alert_marks_before(marks_cutoff) {
            tracing::error!(error = %e, "purge of last-alert times failed");
        }
        // Inbound sources' request logs and dedup records share the window.
        loop {
            match store.purge_inbound_before(cutoff, BATCH).await {
                Ok(stats) => {
                    if stats.requests > 0 || stats.dedup_records > 0 {
                        tracing::info!(
                            requests = stats.requests,
                            dedup_records = stats.dedup_records,
                            "retention purge of inbound sources"
                        );
                    }
                    if stats.requests < BATCH && stats.dedup_records < BATCH {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "retention purge of inbound sources failed");
                    break;
                }
            }
            tokio::task::yield_now().await;
        }
    }
}

/// What to write into the catalog at start: the config's `[[event_types]]` (re-applied at
/// every start), or, when the config names none, hookd's built-in catalog the first time
/// (while the stored catalog holds nothing but operational types, so later edits and
/// deletions over the API stick); plus hookd's own operational event types, always.
fn catalog_seed(config: &Config, stored: &[EventType]) -> Vec<EventType> {
    let mut types: Vec<EventType> = if !config.event_types.is_empty() {
        config
            .event_types
            .iter()
            .map(|et| EventType {
                name: et.name.clone(),
                category: et.category.clone(),
                description: et.description.clone(),
                sample: serde_json::to_string(&et.sample).unwrap_or_else(|_| "{}".into()),
            })
            .collect()
    } else if stored.iter().all(|et| is_operational(&et.name)) {
        builtin_event_types()
    } else {
        Vec::new()
    };
    for (name, description, sample) in OPERATIONAL_EVENT_TYPES {
        types.push(EventType {
            name: name.to_string(),
            category: OPERATIONAL_CATEGORY.into(),
            description: description.to_string(),
            sample: sample.to_string(),
        });
    }
    types
}

fn is_operational(name: &str) -> bool {
    OPERATIONAL_EVENT_TYPES.iter().any(|(n, _, _)| *n == name)
}

/// Resolves at SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled: a signal that arrives while the server is still starting
/// (right after READY) must start a clean shutdown, not hit the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move { wait_for_signals(term, int).await }
}

async fn wait_for_signals(
    term: std::io::Result<tokio::signal::unix::Signal>,
    int: std::io::Result<tokio::signal::unix::Signal>,
) {
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    Ok(())
}

/// The operator key's SHA-256, and where it came from (for the start-up message). The key
/// itself is never logged or stored anywhere but its own file.
fn operator_key(config: &Config, data_dir: &Path) -> anyhow::Result<([u8; 32], String)> {
    if let Some(k) = &config.auth.operator_key {
        return Ok((
            key_hash(k.trim()),
            "from the config file (auth.operator_key)".into(),
        ));
    }
    let path = config
        .auth
        .operator_key_file
        .clone()
        .unwrap_or_else(|| data_dir.join("operator.key"));
    if path.exists() {
        let key = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the operator key file {}", path.display()))?;
        let key = key.trim();
        if key.len() < 16 {
            bail!(
                "the operator key in {} is shorter than 16 characters",
                path.display()
            );
        }
        return Ok((key_hash(key), format!("{}", path.display())));
    }
    let key = new_api_key("hop_");
    write_private_file(&path, &format!("{key}\n"))?;
    Ok((
        key_hash(&key),
        format!("{} (generated now; keep it secret)", path.display()),
    ))
}

fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// rustls server config when `server.tls_cert_file` / `tls_key_file` are set.
fn server_tls(config: &Config) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&config.server.tls_cert_file, &config.server.tls_key_file)
    else {
        return Ok(None);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read server.tls_cert_file {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("server.tls_cert_file {} is not valid PEM", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "cannot read a private key from server.tls_key_file {}",
            key.display()
        )
    })?;
    let mut sc = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS setup")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("server.tls_cert_file and server.tls_key_file do not form a usable certificate")?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(sc)))
}

//! The HTTP API: a hyper 1 server, a small hand-written router, auth,
//! handlers and JSON errors. Handlers call `store` for data and hand new work to
//! `delivery` through its channel; nothing here sends a webhook itself.

mod auth;
mod body;
mod conn;
mod deliveries;
mod error;
mod event_types;
mod events;
mod health;
mod ingest_limit;
mod openapi;
mod own_tenant;
mod portal;
mod query;
mod router;
mod sources;
mod stats;
mod tenants;
mod webhook_actions;
mod webhook_input;
mod webhooks;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub use conn::ConnLimits;

use crate::config::Config;
pub use ingest_limit::IngestLimiter;
pub(crate) use portal::Portal;

use crate::delivery::Engine as DeliveryEngine;
use crate::store::Store;

/// Everything a handler may need; shared by all connections.
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// SHA-256 of the operator key (the key itself is not kept).
    pub operator_key_hash: [u8; 32],
    /// The delivery side: new-work channel, reachability checks, test sends.
    pub delivery: DeliveryEngine,
    pub ingest_limiter: IngestLimiter,
    /// Set at SIGTERM: `/readyz` answers 503 from then on.
    pub shutting_down: AtomicBool,
    /// Renders `/metrics`.
    pub metrics: crate::ops::metrics::Metrics,
    /// The admin page's sign-in links and sessions (in memory).
    pub(crate) portal: Portal,
    /// `server.public_url`, else `http(s)://<listen address>`: the base of the URLs hookd
    /// hands out (a source's `ingest_url`).
    pub base_url: String,
}

impl AppState {
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// Serve the API on `listener` until `shutdown` resolves, then stop accepting and let
/// in-flight requests finish (bounded by `grace`). At most `limits.max_connections` are
/// open at once; each is closed when silent or too slow (see [`conn`]).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
    limits: ConnLimits,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let tls_acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut backoff = conn::AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        // At the cap, `accept` is not called: new connections wait in the kernel backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => {
                    backoff.reset();
                    x
                }
                Err(e) => {
                    let pause = backoff.after(&e);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => continue,
                        _ = &mut shutdown => break,
                    }
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let acceptor = tls_acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let clock = conn::ConnClock::new(limits);
            let io = conn::Watched::new(stream, clock.clone());
            let served = conn::until_deadline(
                &clock,
                serve_connection(io, acceptor, state, peer, clock.clone(), watcher),
            )
            .await;
            if served.is_none() {
                tracing::debug!("connection closed: silent too long or request too slow");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some API connections were still open after the grace period");
    }
}

/// One connection: the TLS handshake when serving HTTPS, then HTTP/1.1 or HTTP/2.
async fn serve_connection(
    io: conn::Watched<tokio::net::TcpStream>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<AppState>,
    peer: SocketAddr,
    clock: Arc<conn::ConnClock>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |req| {
        handle(state.clone(), req, peer, service_clock.clone())
    });
    let result = match acceptor {
        None => {
            let conn = connection_builder()
                .serve_connection_with_upgrades(TokioIo::new(io), service)
                .into_owned();
            watcher.watch(conn).await
        }
        Some(acceptor) => {
            let Ok(tls_stream) = acceptor.accept(io).await else {
                return;
            };
            clock.handshake_done();
            let conn = connection_builder()
                .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                .into_owned();
            watcher.watch(conn).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// HTTP/1.1 and HTTP/2 on one port. The connection clock bounds silence and slow requests;
/// hyper's own HTTP/1 header timeout stays as a backstop far behind it.
fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(2 * 3600 + 60))
        .max_buf_size(64 * 1024);
    builder
}

async fn handle(
    state: Arc<AppState>,
    mut req: Request<Incoming>,
    _peer: SocketAddr,
    clock: Arc<conn::ConnClock>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (_busy, deadline) = clock.request_started();
    req.extensions_mut().insert(deadline);
    let resp = match router::route(&state, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    crate::ops::metrics::http_request(resp.status().as_u16());
    Ok(resp)
}

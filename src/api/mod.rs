//! The HTTP API (CONTRACT §2–§6, §8): a hyper 1 server, a small hand-written router, auth,
//! handlers and JSON errors. Handlers call `store` for data and hand new work to
//! `delivery` through its channel; nothing here sends a webhook itself.

mod auth;
mod body;
mod deliveries;
mod error;
mod event_types;
mod events;
mod health;
mod ingest_limit;
mod query;
mod router;
mod sources;
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

pub use error::ApiError;

use crate::config::Config;
pub use ingest_limit::IngestLimiter;

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
/// in-flight requests finish (bounded by `grace`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let tls_acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let service = hyper::service::service_fn(move |req| handle(state.clone(), req, peer));
        match &tls_acceptor {
            None => {
                let conn = connection_builder()
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls_stream = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        _ => return,
                    };
                    let conn = connection_builder()
                        .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some API connections were still open after the grace period");
    }
}

/// HTTP/1.1 and HTTP/2 on one port, with a bound on how long a client may take to send
/// its request head (a slow-header client cannot hold a connection open forever).
fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(64 * 1024);
    builder
}

async fn handle(
    state: Arc<AppState>,
    req: Request<Incoming>,
    _peer: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let resp = match router::route(&state, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    crate::ops::metrics::http_request(resp.status().as_u16());
    Ok(resp)
}

//! The bench's webhook receiver: real HTTPS (rustls, h2 and HTTP/1.1 by ALPN, keep-alive),
//! one path per webhook (`/w/{index}`), answering 200 — or 500 for the webhooks told to fail.
//!
//! It keeps, per (webhook, `webhook-id`), when the first successful delivery arrived and how
//! many arrived: that is what "lost" and "duplicated" are computed from. Event ids are ULIDs,
//! kept as `u128`, so a million receipts cost tens of megabytes, not hundreds.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The first successful receipt of one event at one webhook, and how many there were.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    pub first_at: Instant,
    pub count: u32,
}

/// What the receiver has seen; shared with the scenario that reads it.
#[derive(Default)]
pub struct Receipts {
    /// `(webhook index, event id as u128)` → receipt.
    map: Mutex<HashMap<(u16, u128), Receipt>>,
    /// Every request, whatever was answered.
    pub requests: AtomicU64,
    /// Requests answered 2xx (duplicates included).
    pub ok: AtomicU64,
    /// Requests whose `webhook-id` was missing or not an `evt_<ULID>`.
    pub malformed: AtomicU64,
}

impl Receipts {
    /// Distinct (webhook, event) pairs delivered successfully.
    pub fn unique(&self) -> u64 {
        self.lock().len() as u64
    }

    /// How many of `pairs` have not been received, checked in place (no copy of the map:
    /// the wait loop asks this every 100 ms with up to a million receipts).
    pub fn count_missing(&self, pairs: impl Iterator<Item = (u16, u128)>) -> u64 {
        let seen = self.lock();
        pairs.filter(|p| !seen.contains_key(p)).count() as u64
    }

    /// Copies the receipts out (for the report, after the run).
    pub fn snapshot(&self) -> HashMap<(u16, u128), Receipt> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u16, u128), Receipt>> {
        // A panic while holding this lock cannot leave the map inconsistent (one insert).
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, webhook: u16, event: u128, at: Instant) {
        self.lock()
            .entry((webhook, event))
            .and_modify(|r| r.count += 1)
            .or_insert(Receipt {
                first_at: at,
                count: 1,
            });
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Serves on `127.0.0.1:port` (0 = any free port). Webhooks whose index is in `failing`
    /// are answered 500.
    pub async fn start(
        port: u16,
        tls: Arc<rustls::ServerConfig>,
        failing: HashSet<u16>,
        receipts: Arc<Receipts>,
    ) -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding the receiver on 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let failing = Arc::new(failing);
        let shared = receipts;
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let receipts = shared.clone();
                let failing = failing.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| {
                        let receipts = receipts.clone();
                        let failing = failing.clone();
                        async move { handle(req, &receipts, &failing).await }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Receiver { addr, task })
    }
}

async fn handle(
    req: Request<Incoming>,
    receipts: &Receipts,
    failing: &HashSet<u16>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    receipts.requests.fetch_add(1, Ordering::Relaxed);
    let webhook = req
        .uri()
        .path()
        .strip_prefix("/w/")
        .and_then(|i| i.parse::<u16>().ok());
    let event = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("evt_"))
        .and_then(|v| ulid::Ulid::from_string(v).ok())
        .map(u128::from);
    // Read the whole body, as a real receiver would before answering.
    let _ = req.into_body().collect().await;
    let at = Instant::now();
    let status = match (webhook, event) {
        (Some(w), _) if failing.contains(&w) => StatusCode::INTERNAL_SERVER_ERROR,
        (Some(w), Some(e)) => {
            receipts.record(w, e, at);
            receipts.ok.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
        _ => {
            receipts.malformed.fetch_add(1, Ordering::Relaxed);
            StatusCode::BAD_REQUEST
        }
    };
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    Ok(resp)
}

//! The bench's side of hookd's HTTP API: one keep-alive HTTP/1.1 connection per client
//! (what a publisher's connection pool does), setup calls (tenant, webhooks) and the
//! publisher that sends events at a fixed rate or as fast as hookd answers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// One HTTP/1.1 keep-alive connection to hookd's API, re-opened after an error.
pub struct ApiConn {
    addr: std::net::SocketAddr,
    key: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl ApiConn {
    pub fn new(addr: std::net::SocketAddr, key: &str) -> ApiConn {
        ApiConn {
            addr,
            key: key.to_string(),
            sender: None,
        }
    }

    /// Points the connection at a (restarted) hookd.
    pub fn retarget(&mut self, addr: std::net::SocketAddr) {
        if addr != self.addr {
            self.addr = addr;
            self.sender = None;
        }
    }

    async fn connect(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let tcp = TcpStream::connect(self.addr)
                .await
                .with_context(|| format!("connecting to hookd at {}", self.addr))?;
            tcp.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        self.sender.as_mut().context("no connection")
    }

    /// Sends one request; any transport error drops the connection (the next call reconnects).
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("authorization", format!("Bearer {}", self.key));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let result = async {
            let sender = self.connect().await?;
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    /// A JSON call that must answer `expect`.
    pub async fn json(
        &mut self,
        method: &str,
        path: &str,
        body: Value,
        expect: u16,
    ) -> anyhow::Result<Value> {
        let (status, bytes) = self
            .call(method, path, Some(Bytes::from(body.to_string())))
            .await?;
        if status != expect {
            bail!(
                "{method} {path} answered {status} (expected {expect}): {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Creates a tenant (operator key) and returns its admin key.
pub async fn create_tenant(
    addr: std::net::SocketAddr,
    operator_key: &str,
) -> anyhow::Result<String> {
    let mut op = ApiConn::new(addr, operator_key);
    let tenant = op
        .json("POST", "/api/tenants", json!({"name": "bench"}), 201)
        .await?;
    tenant["api_key"]
        .as_str()
        .map(str::to_string)
        .context("tenant answer without api_key")
}

/// Creates `count` webhooks pointing at `https://127.0.0.1:{port}/w/{i}`, subscribed to every
/// event type. `verify` false when the receiver is down on purpose.
pub async fn create_webhooks(
    addr: std::net::SocketAddr,
    key: &str,
    port: u16,
    count: u16,
    rate_limit: u32,
    verify: bool,
) -> anyhow::Result<()> {
    let mut api = ApiConn::new(addr, key);
    for i in 0..count {
        api.json(
            "POST",
            "/api/webhooks",
            json!({
                "name": format!("bench {i}"),
                "url": format!("https://127.0.0.1:{port}/w/{i}"),
                "events": ["*"],
                "rate_limit_per_sec": rate_limit,
                "verify": verify,
            }),
            201,
        )
        .await?;
    }
    Ok(())
}

/// How to publish.
#[derive(Clone)]
pub struct LoadSpec {
    /// Events to send (`u64::MAX` with a `stop` flag: until stopped).
    pub events: u64,
    /// Events per second in total; `None` = as fast as hookd answers.
    pub rate: Option<f64>,
    pub connections: usize,
    pub payload_bytes: usize,
}

/// One accepted event: its id, when its request was sent, and how long the 202 took.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub event: u128,
    pub sent_at: Instant,
    pub ingest: Duration,
}

/// What a publishing run saw.
#[derive(Default)]
pub struct LoadResult {
    pub accepted: Vec<Accepted>,
    /// Requests answered with something other than 202, or failed in transport.
    pub refused: u64,
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
}

/// Where hookd is: the publisher follows restarts (the crash scenario swaps it).
pub type Target = Arc<Mutex<std::net::SocketAddr>>;

/// Publishes events with `spec.connections` concurrent connections until `spec.events` were
/// sent or `stop` is set. Transport errors (hookd down) are counted and retried after a
/// short pause, never fatal: an event counts only once hookd answered 202.
pub async fn publish(
    target: Target,
    key: String,
    spec: LoadSpec,
    stop: Arc<AtomicBool>,
) -> LoadResult {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..spec.connections.max(1) {
        let (target, key, spec, stop, next) = (
            target.clone(),
            key.clone(),
            spec.clone(),
            stop.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let addr = *target.lock().unwrap_or_else(|p| p.into_inner());
            let mut conn = ApiConn::new(addr, &key);
            let mut accepted = Vec::new();
            let mut refused = 0u64;
            let pad = "x".repeat(spec.payload_bytes.saturating_sub(80));
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= spec.events {
                    break;
                }
                if let Some(rate) = spec.rate {
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                conn.retarget(*target.lock().unwrap_or_else(|p| p.into_inner()));
                let body = format!(
                    r#"{{"type":"customer.created","data":{{"id":"cus_{i}","seq":{i},"pad":"{pad}"}}}}"#
                );
                let sent_at = Instant::now();
                match conn.call("POST", "/api/events", Some(Bytes::from(body))).await {
                    Ok((202, body)) => {
                        let ingest = sent_at.elapsed();
                        match event_id(&body) {
                            Some(event) => accepted.push(Accepted {
                                event,
                                sent_at,
                                ingest,
                            }),
                            None => refused += 1,
                        }
                    }
                    Ok(_) => refused += 1,
                    Err(_) => {
                        refused += 1;
                        // hookd is down (crash scenario): wait a little, then reconnect.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (accepted, refused)
        }));
    }
    let mut result = LoadResult {
        started: Some(start),
        ..LoadResult::default()
    };
    for task in tasks {
        if let Ok((accepted, refused)) = task.await {
            result.accepted.extend(accepted);
            result.refused += refused;
        }
    }
    result.finished = Some(Instant::now());
    result
}

fn event_id(body: &[u8]) -> Option<u128> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let id = v["id"].as_str()?.strip_prefix("evt_")?;
    ulid::Ulid::from_string(id).ok().map(u128::from)
}

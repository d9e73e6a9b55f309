//! `TestReceiver`: a real HTTPS (or plain HTTP) server that records webhook deliveries and answers
//! with programmable replies; plus signature checks written independently of hookd's code.
//!
//! TLS: one test CA and one leaf certificate (for `localhost`, `127.0.0.1` and `::1`) are
//! generated once per test binary and shared by every receiver, so a single
//! `delivery.extra_ca_file` trusts all receivers of a test. Each receiver writes the CA PEM into
//! its own temp dir: `ca_file()`.
//!
//! The server runs on its own multi-threaded tokio runtime; every method here is blocking, for
//! synchronous tests.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::Sha256;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path alone, e.g. `/hook`.
    pub path: String,
    /// Path and query, e.g. `/hook?x=1`.
    pub uri: String,
    /// Header names lowercased, in arrival order (repeated headers appear repeatedly).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the request (head and body) had fully arrived.
    pub at: Instant,
    pub version: http::Version,
}

impl Received {
    /// First value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Waited before answering (the request is recorded before the wait).
    pub delay: Duration,
    /// Close the connection without any response (after `delay`).
    pub abort: bool,
}

impl Default for Reply {
    /// 200 `ok`, at once.
    fn default() -> Self {
        Reply::text(200, "ok")
    }
}

impl Reply {
    /// `status` with an empty body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            abort: false,
        }
    }

    /// 200 `ok`.
    pub fn ok() -> Reply {
        Reply::default()
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply::status(status)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
    }

    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// 302 with `Location`.
    pub fn redirect(location: &str) -> Reply {
        Reply::status(302).header("location", location)
    }

    /// 429 with `Retry-After: <secs>`.
    pub fn too_many_requests(retry_after_secs: u64) -> Reply {
        Reply::status(429).header("retry-after", &retry_after_secs.to_string())
    }

    /// 503 with `Retry-After: <secs>`.
    pub fn unavailable(retry_after_secs: u64) -> Reply {
        Reply::status(503).header("retry-after", &retry_after_secs.to_string())
    }

    /// 410 Gone.
    pub fn gone() -> Reply {
        Reply::status(410)
    }

    /// 200 `ok` after `delay` (longer than the client's timeout: a timed-out attempt).
    pub fn slow(delay: Duration) -> Reply {
        Reply::ok().delay(delay)
    }

    /// Drop the connection without answering (a connection error for the client).
    pub fn abort_connection() -> Reply {
        Reply {
            abort: true,
            ..Reply::status(500)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// The shared test PKI: a CA and a leaf for `localhost` / `127.0.0.1` / `::1` signed by it.
pub struct TestPki {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub leaf_pem: String,
    pub leaf_der: Vec<u8>,
    /// PKCS#8 private key of the leaf.
    pub leaf_key_pem: String,
    pub leaf_key_der: Vec<u8>,
}

impl TestPki {
    /// Write `ca.pem`, `cert.pem` (the leaf) and `key.pem` into `dir`, returning their paths
    /// (e.g. for hookd's own `server.tls_cert_file` / `tls_key_file`).
    pub fn write_to(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let ca = dir.join("ca.pem");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&ca, &self.ca_pem).expect("write ca.pem");
        std::fs::write(&cert, &self.leaf_pem).expect("write cert.pem");
        std::fs::write(&key, &self.leaf_key_pem).expect("write key.pem");
        (ca, cert, key)
    }

    /// A rustls server config with the leaf, offering `h2` and `http/1.1` by ALPN.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert = rustls_pki_types::CertificateDer::from(self.leaf_der.clone());
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(
            rustls_pki_types::PrivatePkcs8KeyDer::from(self.leaf_key_der.clone()),
        );
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server cert");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }

    /// A rustls client config trusting only the test CA (ring provider), without ALPN.
    pub fn client_config(&self) -> rustls::ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls_pki_types::CertificateDer::from(self.ca_der.clone()))
            .expect("add test CA");
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth()
    }
}

/// The PKI shared by every receiver of this test binary (generated on first use).
pub fn test_pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hookd test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");

        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .expect("leaf params");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca, &ca_key)
            .expect("leaf cert");

        TestPki {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            leaf_pem: leaf.pem(),
            leaf_der: leaf.der().to_vec(),
            leaf_key_pem: leaf_key.serialize_pem(),
            leaf_key_der: leaf_key.serialize_der(),
        }
    })
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    path_script: HashMap<String, VecDeque<Reply>>,
    path_default: HashMap<String, Reply>,
    default: Reply,
}

impl State {
    /// Precedence: the path's script, the global script, the path's default, the default.
    fn next_reply(&mut self, path: &str) -> Reply {
        if let Some(r) = self.path_script.get_mut(path).and_then(|q| q.pop_front()) {
            return r;
        }
        if let Some(r) = self.script.pop_front() {
            return r;
        }
        if let Some(r) = self.path_default.get(path) {
            return r.clone();
        }
        self.default.clone()
    }
}

struct Shared {
    state: Mutex<State>,
    arrived: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not poison the receiver for the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// A webhook receiver on `127.0.0.1:<port>`, HTTPS (h2 + HTTP/1.1 by ALPN) or plain HTTP.
pub struct TestReceiver {
    rt: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    running: Option<Running>,
    dir: tempfile::TempDir,
    ca_file: PathBuf,
}

impl TestReceiver {
    /// An HTTPS receiver answering 200 `ok` by default.
    pub fn start() -> TestReceiver {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(test_pki().server_config()));
        TestReceiver::launch(Some(acceptor))
    }

    /// Same as [`TestReceiver::start`] (reads better beside `plain_http`).
    pub fn https() -> TestReceiver {
        TestReceiver::start()
    }

    /// A plain-HTTP receiver (hookd needs `delivery.allow_http = true` for it).
    pub fn plain_http() -> TestReceiver {
        TestReceiver::launch(None)
    }

    fn launch(tls: Option<tokio_rustls::TlsAcceptor>) -> TestReceiver {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-receiver")
            .enable_all()
            .build()
            .expect("receiver runtime");
        let dir = tempfile::Builder::new()
            .prefix("hookd-receiver-")
            .tempdir()
            .expect("receiver temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &test_pki().ca_pem).expect("write CA file");
        let listener = rt
            .block_on(bind_reuse("127.0.0.1:0".parse().unwrap()))
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let mut receiver = TestReceiver {
            rt: Some(rt),
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                arrived: Condvar::new(),
            }),
            addr,
            tls,
            running: None,
            dir,
            ca_file,
        };
        receiver.serve(listener);
        receiver
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("receiver runtime")
    }

    fn serve(&mut self, listener: TcpListener) {
        let (tx, rx) = oneshot::channel();
        let task = self.rt().spawn(accept_loop(
            listener,
            self.tls.clone(),
            self.shared.clone(),
            rx,
        ));
        self.running = Some(Running { shutdown: tx, task });
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn scheme(&self) -> &'static str {
        if self.is_tls() {
            "https"
        } else {
            "http"
        }
    }

    /// `https://localhost:PORT/path` (`http://` for a plain receiver).
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}://localhost:{}{}",
            self.scheme(),
            self.port(),
            slash(path)
        )
    }

    /// `https://127.0.0.1:PORT/path` (`http://` for a plain receiver).
    pub fn ip_url(&self, path: &str) -> String {
        format!(
            "{}://127.0.0.1:{}{}",
            self.scheme(),
            self.port(),
            slash(path)
        )
    }

    /// The test CA as a PEM file: hookd's `delivery.extra_ca_file`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A temp dir that lives as long as the receiver.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Requests so far to one path.
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        self.shared
            .lock()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn count(&self) -> usize {
        self.shared.lock().received.len()
    }

    /// The most recent request, if any.
    pub fn last(&self) -> Option<Received> {
        self.shared.lock().received.last().cloned()
    }

    /// Wait until at least `n` requests have arrived; false on timeout.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.received.len() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .arrived
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Wait until at least `n` requests to `path` have arrived; false on timeout.
    pub fn wait_for_on(&self, path: &str, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.received.iter().filter(|r| r.path == path).count() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .arrived
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Forget the requests received so far (scripts and defaults stay).
    pub fn clear(&self) {
        self.shared.lock().received.clear();
    }

    /// The reply for requests with no script entry and no path default.
    pub fn set_default(&self, reply: Reply) {
        self.shared.lock().default = reply;
    }

    /// The fallback reply for one path (before the global default).
    pub fn set_path_default(&self, path: &str, reply: Reply) {
        self.shared.lock().path_default.insert(slash(path), reply);
    }

    /// Replies served in order, one per request (any path), before the defaults.
    pub fn push_replies(&self, replies: Vec<Reply>) {
        self.shared.lock().script.extend(replies);
    }

    /// Replies served in order to requests on `path`, before the global script.
    pub fn push_path_replies(&self, path: &str, replies: Vec<Reply>) {
        self.shared
            .lock()
            .path_script
            .entry(slash(path))
            .or_default()
            .extend(replies);
    }

    /// Script entries not consumed yet (global script plus every path script).
    pub fn pending_replies(&self) -> usize {
        let state = self.shared.lock();
        state.script.len() + state.path_script.values().map(VecDeque::len).sum::<usize>()
    }

    /// Stop listening and close every open connection (in-flight requests are cut): the port
    /// refuses connections until [`TestReceiver::start_again`]. Recorded requests stay.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown.send(());
            let task = running.task;
            let _ = self
                .rt()
                .block_on(async move { tokio::time::timeout(Duration::from_secs(10), task).await });
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Listen again on the same port (SO_REUSEADDR), retrying the bind for up to 10 s.
    pub fn start_again(&mut self) {
        if self.running.is_some() {
            return;
        }
        let addr = self.addr;
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match self.rt().block_on(bind_reuse(addr)) {
                Ok(l) => break l,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("receiver cannot bind {addr} again: {e}"),
            }
        };
        self.serve(listener);
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn slash(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

async fn bind_reuse(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let tls = tls.clone();
                let shared = shared.clone();
                conns.spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve_conn(TokioIo::new(stream), shared).await;
                            }
                        }
                        None => serve_conn(TokioIo::new(tcp), shared).await,
                    }
                });
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    // Abort every connection task: their sockets close, in-flight requests are cut.
    conns.shutdown().await;
}

async fn serve_conn<I>(io: TokioIo<I>, shared: Arc<Shared>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move { handle(req, shared).await }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection(io, service).await;
}

#[derive(Debug)]
struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reply scripted to abort the connection")
    }
}

impl std::error::Error for Aborted {}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Aborted> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let path = parts.uri.path().to_string();
    let received = Received {
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| path.clone()),
        path: path.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        at: Instant::now(),
        version: parts.version,
    };
    let reply = {
        let mut state = shared.lock();
        state.received.push(received);
        let reply = state.next_reply(&path);
        shared.arrived.notify_all();
        reply
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.abort {
        return Err(Aborted);
    }
    let mut response = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        response = response.header(k.as_str(), v.as_str());
    }
    Ok(response
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|e| {
            let mut r = Response::new(Full::new(Bytes::from(format!("bad scripted reply: {e}"))));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        }))
}

// ---------------------------------------------------------------------------------------------
// Signature checks, re-implemented here on purpose (not hookd's `signing` module).

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The Standard Webhooks key: base64 of the part after `whsec_` (the prefix is optional).
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`.
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = standard_key(secret).expect("secret is not whsec_<base64>");
    let mac = hmac_sha256(
        &key,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

/// Whether `webhook-signature` holds a `v1,` entry matching `secret` over
/// `{webhook-id}.{webhook-timestamp}.{body}` (entries are space-separated; any may match).
/// Does not check the timestamp's age.
pub fn verify_standard(secret: &str, r: &Received) -> bool {
    let (Some(id), Some(ts), Some(sigs)) = (
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.header("webhook-signature"),
    ) else {
        return false;
    };
    let Some(key) = standard_key(secret) else {
        return false;
    };
    let expected = hmac_sha256(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", &r.body]);
    sigs.split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .any(|sig| sig == expected)
}

/// `sha256=<hex(HMAC-SHA256(secret as UTF-8 bytes, body))>`.
pub fn hex_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
    )
}

/// Whether `X-Webhook-Signature` is `sha256=<hex HMAC-SHA256(secret string, body)>`.
pub fn verify_hex(secret: &str, r: &Received) -> bool {
    let Some(header) = r.header("x-webhook-signature") else {
        return false;
    };
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    sig == hmac_sha256(secret.as_bytes(), &[&r.body])
}

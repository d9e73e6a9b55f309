//! The pooled HTTPS client deliveries are sent with, and the helpers around it.
//!
//! One client is built at startup and shared by every delivery worker: it keeps connections
//! to receivers alive between deliveries (most tenants send bursts to the same host) and
//! speaks HTTP/2 when the receiver offers it via ALPN, HTTP/1.1 otherwise. All its TCP
//! connections go through [`GuardedConnector`], so the SSRF policy cannot be bypassed by
//! anything that uses this client.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use ipnet::IpNet;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

use super::connector::{ConnectError, GuardedConnector};
use super::policy::NetPolicy;

/// The client deliveries are sent with: hyper's pooled client over rustls over the guarded
/// TCP connector, sending fully buffered bodies (webhook payloads are small and signed as a
/// whole, so there is nothing to stream).
pub type DeliveryClient = Client<HttpsConnector<GuardedConnector>, Full<Bytes>>;

/// How long an idle pooled connection is kept before it is closed.
///
/// Long enough to span the gaps in a burst of deliveries to one receiver, short enough that
/// we do not hold sockets to receivers that went quiet (and many servers close idle
/// connections after 60–120 s anyway).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// At most this many idle connections are kept per receiver host; beyond it, connections are
/// closed after use. Bounds file descriptors per receiver without limiting concurrency.
pub const POOL_MAX_IDLE_PER_HOST: usize = 32;

/// What the delivery client is built from: the `[delivery]` settings that concern the network.
///
/// A plain struct (not the whole config) so this module does not depend on the config layer
/// and tests can build clients directly.
#[derive(Debug, Clone, Default)]
pub struct HttpClientConfig {
    /// Non-public networks deliveries may nevertheless connect to
    /// (`delivery.allowed_networks`).
    pub allowed_networks: Vec<IpNet>,
    /// A PEM file of additional CA certificates to trust besides the system's, for receivers
    /// with certificates from a private CA.
    pub extra_ca_file: Option<PathBuf>,
    /// Bound on name resolution and on each TCP connection attempt.
    pub connect_timeout: Duration,
}

/// The rustls client configuration for deliveries and reachability checks.
///
/// Trusts the system's roots (certificates the platform store fails to provide or parse are
/// skipped, and a system without any roots is accepted, since the extra CA may be all the
/// operator needs) plus every certificate in `extra_ca_file`. The ring provider is named
/// explicitly so the result does not depend on which crypto provider happens to be
/// installed process-wide.
///
/// Errors are sentences naming the extra CA file: it is unreadable, is not valid PEM,
/// contains no certificate, or contains a certificate rustls cannot use as a root.
pub fn build_tls_config(
    extra_ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    // Individual unusable system certificates are not our problem to report; the counts are
    // deliberately ignored.
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);

    if let Some(path) = extra_ca_file {
        let file = path.display().to_string();
        let unreadable = |e: rustls_pki_types::pem::Error| TlsSetupError::Unreadable {
            file: file.clone(),
            reason: pem_reason(&e),
        };
        let certs = CertificateDer::pem_file_iter(path).map_err(unreadable)?;
        let mut count = 0usize;
        for cert in certs {
            let cert = cert.map_err(unreadable)?;
            count += 1;
            roots.add(cert).map_err(|e| TlsSetupError::Unusable {
                file: file.clone(),
                index: count,
                reason: e.to_string(),
            })?;
        }
        if count == 0 {
            return Err(TlsSetupError::NoCertificate { file });
        }
    }

    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TlsSetupError::Protocols(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why the delivery client's TLS configuration cannot be built: sentences naming the extra
/// CA file.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read extra CA file {file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("extra CA file {file}: certificate #{index} is not usable: {reason}")]
    Unusable {
        file: String,
        index: usize,
        reason: String,
    },
    #[error("extra CA file {file} contains no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { file: String },
    #[error("cannot set up TLS: {0}")]
    Protocols(String),
}

/// The I/O error itself for I/O failures (so the message reads `No such file or directory`
/// rather than `I/O error: ...`), the PEM parser's text otherwise.
fn pem_reason(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// Builds the shared delivery client.
///
/// HTTPS and plain HTTP are both accepted here: whether `http://` URLs are allowed at all is
/// the operator's `allow_http` decision, checked where webhooks are validated, not a property
/// of the transport. ALPN offers `h2` and `http/1.1`; the pool keeps connections alive (see
/// [`POOL_IDLE_TIMEOUT`] and [`POOL_MAX_IDLE_PER_HOST`]) and runs on the tokio runtime.
///
/// Fails only if the TLS configuration cannot be built (see [`build_tls_config`]).
pub fn build_client(cfg: &HttpClientConfig) -> Result<DeliveryClient, TlsSetupError> {
    let tls = build_tls_config(cfg.extra_ca_file.as_deref())?;
    let tcp = GuardedConnector::new(
        NetPolicy::new(cfg.allowed_networks.clone()),
        cfg.connect_timeout,
    );
    let connector = HttpsConnectorBuilder::new()
        // The builder wants an owned config to set ALPN on; cloning it is cheap (its parts
        // are reference-counted) and leaves the shared one ALPN-free for other users.
        .with_tls_config(rustls::ClientConfig::clone(&tls))
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        // The pool needs a timer to actually expire idle connections; HTTP/2 needs one for
        // its own timeouts.
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector);
    Ok(client)
}

/// Reads at most `cap` bytes of a response body; returns them and whether the body was cut.
///
/// Receivers' responses are only kept for the delivery log, so their size must not be theirs
/// to choose: a receiver answering with gigabytes costs us at most `cap` bytes of memory and
/// no further reading. Frames are pulled only until `cap` bytes are captured; then the body
/// is dropped, which makes hyper close (HTTP/1.1) or reset (HTTP/2) the stream instead of
/// draining it.
///
/// `truncated` is `true` if bytes were left unread, or if reading failed midway (what was
/// captured is still returned: a partial response is more useful in the log than none).
/// When exactly `cap` bytes were read and the stream does not yet know whether more follow,
/// it also reports `true`, rather than waiting on the receiver to find out. Callers bound the
/// total time with their own timeout.
pub async fn read_body_capped(body: hyper::body::Incoming, cap: usize) -> (Vec<u8>, bool) {
    let mut body = body;
    // Do not trust a declared length for the allocation; grow up to the cap as data arrives.
    let mut captured = Vec::with_capacity(cap.min(16 * 1024));
    while captured.len() < cap {
        match body.frame().await {
            None => return (captured, false),
            Some(Err(_)) => return (captured, true),
            Some(Ok(frame)) => {
                // Trailers carry no body bytes.
                if let Ok(data) = frame.into_data() {
                    let room = cap - captured.len();
                    if data.len() > room {
                        captured.extend_from_slice(&data[..room]);
                        return (captured, true);
                    }
                    captured.extend_from_slice(&data);
                }
            }
        }
    }
    let truncated = !hyper::body::Body::is_end_stream(&body);
    (captured, truncated)
}

/// A one-line, human-readable description of a delivery client error.
///
/// hyper wraps connector failures in layers (`client error (Connect)` → boxed error →
/// `io::Error` → `rustls::Error`) whose outer texts say little. This finds the informative
/// layer: the guard's [`ConnectError`] (`refused: ...`, `connect: ...`, `dns: ...`), a TLS
/// failure (`tls: invalid peer certificate: UnknownIssuer`), or hyper's protocol error
/// (`http: connection closed before message completed`), falling back to the chain of
/// messages. None of these layers include the request URL.
pub fn describe_error(err: &(dyn std::error::Error + 'static)) -> String {
    if let Some(e) = find_in_chain::<ConnectError>(err) {
        return e.to_string();
    }
    if let Some(e) = find_in_chain::<rustls::Error>(err) {
        return format!("tls: {e}");
    }
    if let Some(e) = find_in_chain::<hyper::Error>(err) {
        return format!("http: {e}");
    }
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    parts.join(": ")
}

/// The first error of type `T` in `err`'s chain.
///
/// `io::Error::source` skips the error it wraps (it returns the wrapped error's *source*), so
/// wrapped errors are reached through `io::Error::get_ref` instead.
pub(crate) fn find_in_chain<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = err;
    loop {
        if let Some(found) = cur.downcast_ref::<T>() {
            return Some(found);
        }
        let wrapped = cur
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        cur = match wrapped {
            Some(inner) => inner,
            None => cur.source()?,
        };
    }
}

/// A local HTTPS test server with its own CA, shared by this module's and `reachability`'s
/// tests. Loopback only.
#[cfg(test)]
pub(crate) mod test_server {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body_util::combinators::BoxBody;
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::{Frame, Incoming};
    use hyper::{Request, Response};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::io::Write as _;

    /// Size of the `/big` response: far more than any cap, generated lazily.
    pub const BIG_BODY: usize = 50 * 1024 * 1024;

    /// A running server; it lives as long as the test's runtime.
    pub struct TestServer {
        /// The port on 127.0.0.1.
        pub port: u16,
        /// The PEM file of the CA that signed the server's certificate.
        pub ca_file: tempfile::NamedTempFile,
        /// How many bytes of `/big` bodies the server has produced so far.
        pub big_sent: Arc<AtomicUsize>,
        /// How many connections have finished (closed by either side).
        pub closed: Arc<AtomicUsize>,
    }

    /// Which protocols the server offers by ALPN.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Protocols {
        Http1Only,
        H2AndHttp1,
    }

    /// A body of `remaining` bytes produced chunk by chunk as hyper asks for it.
    struct LazyBody {
        remaining: usize,
        chunk: Bytes,
        sent: Arc<AtomicUsize>,
    }

    impl hyper::body::Body for LazyBody {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let this = self.get_mut();
            if this.remaining == 0 {
                return Poll::Ready(None);
            }
            let n = this.remaining.min(this.chunk.len());
            this.remaining -= n;
            this.sent.fetch_add(n, Ordering::SeqCst);
            Poll::Ready(Some(Ok(Frame::data(this.chunk.slice(..n)))))
        }
    }

    async fn handle(
        req: Request<Incoming>,
        big_sent: Arc<AtomicUsize>,
    ) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
        let version = format!("{:?}", req.version());
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let received = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes().len())
            .unwrap_or(0);
        let body = if path == "/big" {
            LazyBody {
                remaining: BIG_BODY,
                chunk: Bytes::from(vec![b'x'; 64 * 1024]),
                sent: big_sent,
            }
            .boxed()
        } else {
            Full::new(Bytes::from(format!("{method} {received} {version}"))).boxed()
        };
        Ok(Response::new(body))
    }

    /// Starts a TLS server on 127.0.0.1 with a fresh CA and a leaf for `localhost` and
    /// `127.0.0.1`.
    pub async fn start(protocols: Protocols) -> TestServer {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hookd test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();

        let mut ca_file = tempfile::NamedTempFile::new().unwrap();
        ca_file.write_all(ca.pem().as_bytes()).unwrap();
        ca_file.flush().unwrap();

        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
        config.alpn_protocols = match protocols {
            Protocols::Http1Only => vec![b"http/1.1".to_vec()],
            Protocols::H2AndHttp1 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let big_sent = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (big, done) = (Arc::clone(&big_sent), Arc::clone(&closed));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, big, done) = (acceptor.clone(), Arc::clone(&big), Arc::clone(&done));
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let mut builder =
                            hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        if protocols == Protocols::Http1Only {
                            builder = builder.http1_only();
                        }
                        let service =
                            hyper::service::service_fn(move |req| handle(req, Arc::clone(&big)));
                        let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        TestServer {
            port,
            ca_file,
            big_sent,
            closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    use super::test_server::{start, Protocols, TestServer, BIG_BODY};
    use super::*;

    fn config(server: &TestServer, allowed: &[&str], with_ca: bool) -> HttpClientConfig {
        HttpClientConfig {
            allowed_networks: allowed.iter().map(|n| n.parse().unwrap()).collect(),
            extra_ca_file: with_ca.then(|| server.ca_file.path().to_owned()),
            connect_timeout: Duration::from_secs(5),
        }
    }

    fn post(port: u16, path: &str, body: &'static str) -> http::Request<Full<Bytes>> {
        http::Request::post(format!("https://localhost:{port}{path}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    }

    async fn text(resp: http::Response<hyper::body::Incoming>) -> String {
        let (bytes, truncated) = read_body_capped(resp.into_body(), 4096).await;
        assert!(!truncated);
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn post_over_http1_succeeds_with_allow_list_and_extra_ca() {
        let server = start(Protocols::Http1Only).await;
        let client = build_client(&config(&server, &["127.0.0.0/8"], true)).unwrap();
        let resp = client
            .request(post(server.port, "/hook", "{\"a\":1}"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_11);
        assert_eq!(text(resp).await, "POST 7 HTTP/1.1");

        let resp = client
            .get(
                format!("https://localhost:{}/", server.port)
                    .parse()
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(text(resp).await, "GET 0 HTTP/1.1");
    }

    #[tokio::test]
    async fn h2_is_negotiated_when_the_server_offers_it() {
        let server = start(Protocols::H2AndHttp1).await;
        let client = build_client(&config(&server, &["127.0.0.0/8"], true)).unwrap();
        let resp = client
            .request(post(server.port, "/hook", "{}"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(text(resp).await, "POST 2 HTTP/2.0");
    }

    #[tokio::test]
    async fn request_to_loopback_fails_as_not_public_without_allow_list() {
        let server = start(Protocols::H2AndHttp1).await;
        let client = build_client(&config(&server, &[], true)).unwrap();
        let err = client
            .request(post(server.port, "/hook?token=s3cret", "{}"))
            .await
            .unwrap_err();
        let msg = describe_error(&err);
        assert!(msg.starts_with("refused: private address refused"), "{msg}");
        assert!(!msg.contains("127.0.0.1"), "{msg}");
        assert!(!msg.contains("s3cret") && !msg.contains("/hook"), "{msg}");
        assert_eq!(
            server.closed.load(Ordering::SeqCst),
            0,
            "no connection made"
        );
    }

    #[tokio::test]
    async fn tls_fails_with_unknown_issuer_without_the_extra_ca() {
        let server = start(Protocols::H2AndHttp1).await;
        let client = build_client(&config(&server, &["127.0.0.0/8"], false)).unwrap();
        let err = client
            .request(post(server.port, "/hook", "{}"))
            .await
            .unwrap_err();
        let msg = describe_error(&err);
        assert!(msg.starts_with("tls: invalid peer certificate"), "{msg}");
        assert!(msg.contains("UnknownIssuer"), "{msg}");
    }

    async fn huge_body_is_cut_at_the_cap(protocols: Protocols) -> TestServer {
        let server = start(protocols).await;
        let client = build_client(&config(&server, &["127.0.0.0/8"], true)).unwrap();
        let started = Instant::now();
        let resp = client
            .get(
                format!("https://localhost:{}/big", server.port)
                    .parse()
                    .unwrap(),
            )
            .await
            .unwrap();
        let (bytes, truncated) = read_body_capped(resp.into_body(), 10240).await;
        assert_eq!(bytes.len(), 10240);
        assert!(truncated);
        assert!(bytes.iter().all(|&b| b == b'x'));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );

        // The abandoned body is not read further: the server stops producing well short of
        // the full 50 MB (what it managed to write sits in socket buffers and flow-control
        // windows, a few MB at most).
        let mut last = server.big_sent.load(Ordering::SeqCst);
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = server.big_sent.load(Ordering::SeqCst);
            if now == last {
                break;
            }
            last = now;
        }
        assert!(last < BIG_BODY / 2, "server produced {last} bytes");
        server
    }

    #[tokio::test]
    async fn huge_http1_body_is_cut_at_the_cap_and_the_connection_dropped() {
        let server = huge_body_is_cut_at_the_cap(Protocols::Http1Only).await;
        // HTTP/1.1 cannot abandon a response and keep the connection, so the client must have
        // closed it rather than leaving it stalled (or draining 50 MB to reuse it).
        let mut waited = 0;
        while server.closed.load(Ordering::SeqCst) == 0 && waited < 50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert_eq!(
            server.closed.load(Ordering::SeqCst),
            1,
            "connection still open"
        );
    }

    #[tokio::test]
    async fn huge_h2_body_is_cut_at_the_cap_and_the_stream_dropped() {
        huge_body_is_cut_at_the_cap(Protocols::H2AndHttp1).await;
    }

    #[test]
    fn extra_ca_file_errors_name_the_file() {
        let err = build_tls_config(Some(Path::new("/nonexistent/hookd-ca.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/hookd-ca.pem"), "{err}");
        assert!(err.starts_with("cannot read extra CA file"), "{err}");

        let empty = tempfile::NamedTempFile::new().unwrap();
        let err = build_tls_config(Some(empty.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&empty.path().display().to_string()), "{err}");
        assert!(err.contains("contains no PEM certificate"), "{err}");
    }

    #[test]
    fn tls_config_builds_without_extra_ca() {
        assert!(build_tls_config(None).is_ok());
    }
}

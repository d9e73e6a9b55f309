//! `HttpsClient`: a blocking HTTPS client (hyper-util legacy client + hyper-rustls, ring) that
//! trusts only the test CA (or a given PEM bundle). Used to prove the receiver, and usable against
//! a hookd serving its API over TLS.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::receiver::test_pki;

/// Which protocols the client offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `h2`, `http/1.1`.
    H2AndHttp1,
    /// No ALPN: HTTP/1.1.
    Http1Only,
    /// `h2` only.
    H2Only,
}

#[derive(Debug, Clone)]
pub struct HttpsResponse {
    pub status: u16,
    pub version: http::Version,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpsResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A pooled (keep-alive) HTTPS client on its own tokio runtime.
pub struct HttpsClient {
    rt: Option<tokio::runtime::Runtime>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpsClient {
    /// Trusting only the shared test CA.
    pub fn new(alpn: Alpn) -> HttpsClient {
        HttpsClient::with_roots(vec![CertificateDer::from(test_pki().ca_der.clone())], alpn)
    }

    /// Trusting only the certificates of a PEM file.
    pub fn with_ca_file(path: &Path, alpn: Alpn) -> HttpsClient {
        let certs = CertificateDer::pem_file_iter(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
        HttpsClient::with_roots(certs, alpn)
    }

    fn with_roots(certs: Vec<CertificateDer<'static>>, alpn: Alpn) -> HttpsClient {
        let mut roots = rustls::RootCertStore::empty();
        for c in certs {
            roots.add(c).expect("add root certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let connector = match alpn {
            Alpn::H2AndHttp1 => builder.enable_http1().enable_http2().build(),
            Alpn::Http1Only => builder.enable_http1().build(),
            Alpn::H2Only => builder.enable_http2().build(),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-https-client")
            .enable_all()
            .build()
            .expect("client runtime");
        // The legacy client needs a runtime context to be built (it may spawn its pool timer).
        let client = {
            let _guard = rt.enter();
            Client::builder(TokioExecutor::new()).build(connector)
        };
        HttpsClient {
            rt: Some(rt),
            client,
            timeout: Duration::from_secs(30),
        }
    }

    /// Per-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> HttpsClient {
        self.timeout = timeout;
        self
    }

    pub fn get(&self, url: &str) -> Result<HttpsResponse, String> {
        self.request("GET", url, &[], b"")
    }

    /// One request; `Err` on any transport or TLS failure or timeout.
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpsResponse, String> {
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| format!("bad request: {e}"))?;
        let client = self.client.clone();
        let timeout = self.timeout;
        self.rt
            .as_ref()
            .expect("client runtime")
            .block_on(async move {
                let fut = async move {
                    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
                    let status = resp.status().as_u16();
                    let version = resp.version();
                    let headers = resp
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_ascii_lowercase(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect();
                    let body = resp
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| format!("reading body: {e}"))?
                        .to_bytes()
                        .to_vec();
                    Ok(HttpsResponse {
                        status,
                        version,
                        headers,
                        body,
                    })
                };
                tokio::time::timeout(timeout, fut)
                    .await
                    .map_err(|_| format!("timed out after {timeout:?}"))?
            })
    }
}

impl Drop for HttpsClient {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

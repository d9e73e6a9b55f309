//! "Can hookd reach this URL?": the probe run when a webhook is created or changed.
//!
//! Deliveries are retried for hours, so a typo in a webhook URL otherwise surfaces as a slow
//! trickle of failures long after the person who made it has moved on. Probing once at
//! registration lets the API reject the URL with a sentence that person can act on. The probe
//! goes exactly as far as a delivery would before sending a request: resolve, apply the SSRF
//! policy, connect (through the same [`connect_checked`] as the delivery client), and for
//! `https` complete a TLS handshake, verifying the certificate for the URL's host.
//!
//! It does not send an HTTP request: receivers are not obliged to answer anything but real
//! deliveries, and a probe request would be an unsigned surprise in their logs.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use url::Url;

use super::client::find_in_chain;
use super::connector::{connect_checked, io_reason, shown_addr, ConnectError};
use super::policy::NetPolicy;

/// Why a URL is not reachable: a sentence naming at most the host (and the address tried),
/// never the URL's path or query.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    #[error("the URL has no host")]
    NoHost,
    #[error("URL scheme {0} is not supported; use https")]
    Scheme(String),
    #[error("the URL for host {0} has no port")]
    NoPort(String),
    #[error("host {host} did not answer within {}s", .timeout.as_secs_f64())]
    Timeout { host: String, timeout: Duration },
    #[error("{}", connect_sentence(.host, .error))]
    Connect { host: String, error: ConnectError },
    #[error("host {host} is not a valid TLS server name: {reason}")]
    ServerName { host: String, reason: String },
    #[error("host {host} did not accept a TLS connection: {reason}")]
    Tls { host: String, reason: String },
}

/// Checks that `url`'s host resolves to an allowed address that accepts a TCP connection and,
/// for `https`, completes a TLS handshake with a certificate valid for the host under `tls`.
///
/// Everything, resolution included, is bounded by `timeout` (the API uses 5 s). The error
/// reads e.g. `host crm.example.com did not accept a TLS connection: invalid peer
/// certificate: UnknownIssuer`.
pub async fn check_reachable(
    url: &Url,
    policy: &NetPolicy,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(), Unreachable> {
    let host = url.host_str().ok_or(Unreachable::NoHost)?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        other => return Err(Unreachable::Scheme(other.to_string())),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Unreachable::NoPort(host.to_string()))?;

    match tokio::time::timeout(timeout, probe(host, port, https, policy, tls, timeout)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(Unreachable::Timeout {
            host: host.to_string(),
            timeout,
        }),
    }
}

/// The probe itself, without the overall time bound.
async fn probe(
    host: &str,
    port: u16,
    https: bool,
    policy: &NetPolicy,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(), Unreachable> {
    let tcp = connect_checked(host, port, policy, timeout)
        .await
        .map_err(|error| Unreachable::Connect {
            host: host.to_string(),
            error,
        })?;
    if !https {
        return Ok(());
    }
    // `host_str` brackets IPv6 literals; SNI and certificate matching want the bare address.
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name = ServerName::try_from(bare.to_owned()).map_err(|e| Unreachable::ServerName {
        host: host.to_string(),
        reason: e.to_string(),
    })?;
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| Unreachable::Tls {
            host: host.to_string(),
            reason: match find_in_chain::<rustls::Error>(&e) {
                Some(tls_error) => tls_error.to_string(),
                None => e.to_string(),
            },
        })?;
    Ok(())
}

/// Turns a connector error into a sentence about `host`.
fn connect_sentence(host: &str, e: &ConnectError) -> String {
    match e {
        ConnectError::NoHost => "the URL has no host".to_owned(),
        ConnectError::Dns { reason, .. } => format!("host {host} does not resolve ({reason})"),
        ConnectError::Refused(_) => {
            format!("host {host} may not be contacted: private address refused")
        }
        ConnectError::Connect { addr, source } => format!(
            "host {host} did not accept a TCP connection at {}: {}",
            shown_addr(*addr),
            io_reason(source)
        ),
        ConnectError::Timeout { addr, timeout } => format!(
            "host {host} did not accept a TCP connection at {} within {}s",
            shown_addr(*addr),
            timeout.as_secs_f64()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::client::build_tls_config;
    use super::super::client::test_server::{start, Protocols};
    use super::*;

    const T: Duration = Duration::from_secs(5);

    fn loopback() -> NetPolicy {
        NetPolicy::new(vec!["127.0.0.0/8".parse().unwrap()])
    }

    #[tokio::test]
    async fn https_server_with_trusted_ca_is_reachable() {
        let server = start(Protocols::H2AndHttp1).await;
        let tls = build_tls_config(Some(server.ca_file.path())).unwrap();
        let url = Url::parse(&format!("https://localhost:{}/hooks?x=1", server.port)).unwrap();
        check_reachable(&url, &loopback(), tls, T).await.unwrap();
    }

    #[tokio::test]
    async fn plain_http_needs_only_a_tcp_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let tls = build_tls_config(None).unwrap();
        check_reachable(&url, &loopback(), tls, T).await.unwrap();
    }

    #[tokio::test]
    async fn loopback_is_refused_without_allow_list_and_path_stays_out() {
        let server = start(Protocols::H2AndHttp1).await;
        let tls = build_tls_config(Some(server.ca_file.path())).unwrap();
        let url = Url::parse(&format!(
            "https://localhost:{}/secret/path?token=abc",
            server.port
        ))
        .unwrap();
        let err = check_reachable(&url, &NetPolicy::default(), tls, T)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "host localhost may not be contacted: private address refused"
        );
        assert!(!err.contains("127.0.0.1"), "{err}");
        assert!(!err.contains("secret") && !err.contains("token"), "{err}");
    }

    #[tokio::test]
    async fn closed_port_is_a_connect_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = Url::parse(&format!("https://localhost:{port}/")).unwrap();
        let err = check_reachable(&url, &loopback(), build_tls_config(None).unwrap(), T)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "host localhost did not accept a TCP connection at a private address: \
             connection refused"
        );
    }

    #[tokio::test]
    async fn untrusted_certificate_fails_the_tls_handshake() {
        let server = start(Protocols::H2AndHttp1).await;
        let url = Url::parse(&format!("https://localhost:{}/", server.port)).unwrap();
        let err = check_reachable(&url, &loopback(), build_tls_config(None).unwrap(), T)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "host localhost did not accept a TLS connection: invalid peer certificate"
            ),
            "{err}"
        );
        assert!(err.contains("UnknownIssuer"), "{err}");
    }

    #[tokio::test]
    async fn plain_tcp_listener_that_hangs_up_fails_the_tls_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            // Accept and immediately close, like a service that does not speak TLS.
            while let Ok((tcp, _)) = listener.accept().await {
                drop(tcp);
            }
        });
        let url = Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
        let err = check_reachable(&url, &loopback(), build_tls_config(None).unwrap(), T)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("host 127.0.0.1 did not accept a TLS connection: "),
            "{err}"
        );
    }

    #[tokio::test]
    async fn silent_server_hits_the_overall_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts (the kernel completes the TCP handshake) but never answers the ClientHello.
        let url = Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
        let err = check_reachable(
            &url,
            &loopback(),
            build_tls_config(None).unwrap(),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(err, "host 127.0.0.1 did not answer within 0.3s");
        drop(listener);
    }

    #[tokio::test]
    async fn unsupported_scheme_is_rejected_before_any_connection() {
        let url = Url::parse("ftp://127.0.0.1/file").unwrap();
        let err = check_reachable(&url, &loopback(), build_tls_config(None).unwrap(), T)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(err, "URL scheme ftp is not supported; use https");
    }
}

//! The TCP connector that enforces [`NetPolicy`] on the address actually connected to.
//!
//! Checking a webhook URL's host once, when the webhook is registered, is not enough: DNS can
//! answer differently a minute later (DNS rebinding), and an IP literal can hide behind forms
//! like `::ffff:127.0.0.1`. So the check lives here, at the last moment: the host is resolved,
//! every resolved address goes through [`NetPolicy::check`], and only an allowed address is
//! handed to `connect(2)`. Nothing between the check and the connect can change the address.
//!
//! [`GuardedConnector`] plugs this into hyper as the inner connector of
//! `hyper_rustls::HttpsConnector`; [`connect_checked`] is the same logic as a plain function,
//! shared with the registration-time reachability probe.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::cork::Corked;
use super::policy::{NetPolicy, Refused};

/// Why [`connect_checked`] produced no connection.
///
/// Each variant's `Display` is one line starting with the stage that failed (`dns:`,
/// `refused:`, `connect:`), so a delivery log line like `connect: connection refused
/// (93.184.216.34:443)` says what to look at. Messages carry at most the host and a public
/// socket address, never the URL (URLs can embed credentials and must not reach logs).
///
/// These messages reach tenants (the delivery log, the API's `unreachable` errors), so a
/// non-public address is never named: "private address refused", "(a private address)".
/// Which address and why is logged for the operator at debug level.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The destination had no host part (hyper normally rejects such URIs before us).
    #[error("invalid destination: no host")]
    NoHost,
    /// Resolving the host failed or took longer than the connect timeout.
    #[error("dns: cannot resolve {host}: {reason}")]
    Dns {
        /// The host name that was looked up.
        host: String,
        /// What the resolver said, e.g. `no such host` or `timed out after 5s`.
        reason: String,
    },
    /// Every address of the host is refused by the policy; this is the first refusal.
    #[error("refused: private address refused (not in delivery.allowed_networks)")]
    Refused(Refused),
    /// The last allowed address could not be connected to.
    #[error("connect: {} ({})", io_reason(.source), shown_addr(*.addr))]
    Connect {
        /// The socket address tried last.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The last allowed address did not complete the TCP handshake in time.
    #[error("connect: timed out after {}s ({})", .timeout.as_secs_f64(), shown_addr(*.addr))]
    Timeout {
        /// The socket address tried last.
        addr: SocketAddr,
        /// The per-address connect timeout that expired.
        timeout: Duration,
    },
}

/// A socket address as tenants may see it: public ones as they are, any other as
/// `a private address` (an allowed internal network is the operator's business).
pub(crate) fn shown_addr(addr: SocketAddr) -> String {
    if NetPolicy::is_public(addr.ip()) {
        addr.to_string()
    } else {
        "a private address".to_owned()
    }
}

/// A short, lower-case description of an I/O error for one-line messages.
///
/// The common connect failures have a clean `ErrorKind` text (`connection refused`); anything
/// else falls back to the OS message, which is more specific than a generic kind.
pub(crate) fn io_reason(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::TimedOut
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::AddrNotAvailable
        | K::PermissionDenied => e.kind().to_string(),
        _ => e.to_string(),
    }
}

/// Resolves `host`, drops every address the policy refuses, and connects to the first
/// allowed address that accepts, in resolver order.
///
/// `host` may be a name, an IP literal, or a bracketed IPv6 literal as it appears in a URI
/// (`[::1]`). IP literals are not sent to the resolver. Name resolution and each connection
/// attempt are bounded by `connect_timeout` separately, so one black-holed address does not
/// stop the next from being tried. The returned stream has `TCP_NODELAY` set: webhook
/// requests are small and latency matters more than packet count.
///
/// Errors: [`ConnectError::Refused`] if no address was allowed at all; otherwise, if no
/// connection succeeded, the failure of the last address tried.
pub async fn connect_checked(
    host: &str,
    port: u16,
    policy: &NetPolicy,
    connect_timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let addrs = resolve(host, port, connect_timeout).await?;

    let mut first_refusal = None;
    let mut last_error = None;
    for addr in addrs {
        if let Err(refused) = policy.check(addr.ip()) {
            tracing::debug!(host, %refused, "address refused by delivery.allowed_networks");
            first_refusal.get_or_insert(refused);
            continue;
        }
        match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                stream
                    .set_nodelay(true)
                    .map_err(|source| ConnectError::Connect { addr, source })?;
                return Ok(stream);
            }
            Ok(Err(source)) => last_error = Some(ConnectError::Connect { addr, source }),
            Err(_elapsed) => {
                last_error = Some(ConnectError::Timeout {
                    addr,
                    timeout: connect_timeout,
                })
            }
        }
    }
    Err(match (last_error, first_refusal) {
        (Some(e), _) => e,
        (None, Some(refused)) => ConnectError::Refused(refused),
        // `resolve` never returns an empty list, but keep the type honest.
        (None, None) => ConnectError::Dns {
            host: host.to_owned(),
            reason: "no addresses".to_owned(),
        },
    })
}

/// The socket addresses for `host:port`: the literal itself for IP literals, else the
/// resolver's answer (never empty on success).
async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let dns_error = |reason: String| ConnectError::Dns {
        host: bare.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(timeout, tokio::net::lookup_host((bare, port))).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => return Err(dns_error(dns_reason(&e))),
            Err(_elapsed) => {
                return Err(dns_error(format!(
                    "timed out after {}s",
                    timeout.as_secs_f64()
                )))
            }
        };
    if addrs.is_empty() {
        return Err(dns_error("no addresses".to_owned()));
    }
    Ok(addrs)
}

/// A readable reason for a resolver failure.
///
/// std reports getaddrinfo failures as `failed to lookup address information: <gai text>`;
/// the prefix adds nothing after `dns: cannot resolve host:`, so it is dropped.
fn dns_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.strip_prefix("failed to lookup address information: ") {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

/// A hyper connector (`Service<Uri>`) that only connects to addresses allowed by a
/// [`NetPolicy`].
///
/// Use it as the inner connector of `hyper_rustls::HttpsConnector`, which does TLS on top.
/// It is cheap to clone (the policy is shared), as hyper's client requires.
#[derive(Debug, Clone)]
pub struct GuardedConnector {
    /// The policy every resolved address is checked against.
    policy: Arc<NetPolicy>,
    /// Bound on name resolution and on each TCP connection attempt.
    connect_timeout: Duration,
}

impl GuardedConnector {
    /// A connector enforcing `policy`, giving up on each step after `connect_timeout`.
    pub fn new(policy: NetPolicy, connect_timeout: Duration) -> GuardedConnector {
        GuardedConnector {
            policy: Arc::new(policy),
            connect_timeout,
        }
    }
}

impl tower_service::Service<Uri> for GuardedConnector {
    /// hyper-util's `TokioIo` adapts the socket to hyper's I/O traits and implements
    /// `Connection`, which both hyper-rustls and the pooled client require. The socket
    /// gathers each turn's writes (see [`Corked`]).
    type Response = TokioIo<Corked>;
    type Error = ConnectError;
    /// Boxed because the future is an `async` block; the allocation is per connection, not
    /// per request, and the pool keeps connections alive.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // No internal capacity limits: each call is independent.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        let connect_timeout = self.connect_timeout;
        Box::pin(async move {
            let host = dst.host().ok_or(ConnectError::NoHost)?;
            let port =
                dst.port_u16()
                    .unwrap_or(if dst.scheme() == Some(&http::uri::Scheme::HTTP) {
                        80
                    } else {
                        443
                    });
            let stream = connect_checked(host, port, &policy, connect_timeout).await?;
            Ok(TokioIo::new(Corked::new(stream)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service as _;

    fn loopback_policy() -> NetPolicy {
        NetPolicy::new(vec!["127.0.0.0/8".parse().unwrap()])
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn loopback_literal_is_refused_without_allow_list() {
        let err = connect_checked("127.0.0.1", 9, &NetPolicy::default(), T)
            .await
            .unwrap_err();
        assert!(matches!(&err, ConnectError::Refused(r) if r.ip == IpAddr::from([127, 0, 0, 1])));
        assert_eq!(
            err.to_string(),
            "refused: private address refused (not in delivery.allowed_networks)"
        );
    }

    #[tokio::test]
    async fn bracketed_ipv6_loopback_literal_is_refused() {
        let err = connect_checked("[::1]", 9, &loopback_policy(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConnectError::Refused(r) if r.ip.is_loopback()),
            "{err:?}"
        );
        assert!(!err.to_string().contains("::1"), "{err}");
    }

    #[tokio::test]
    async fn localhost_name_is_refused_after_resolution() {
        // `localhost` resolves to loopback addresses only: every one is refused, and the
        // error carries the policy's reason rather than a connect failure.
        let err = connect_checked("localhost", 9, &NetPolicy::default(), T)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectError::Refused(_)), "{err:?}");
        assert!(err.to_string().contains("private address refused"), "{err}");
    }

    #[tokio::test]
    async fn allowed_loopback_connects_with_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = connect_checked("localhost", port, &loopback_policy(), T)
            .await
            .unwrap();
        assert!(stream.nodelay().unwrap());
        assert_eq!(
            stream.peer_addr().unwrap().ip(),
            IpAddr::from([127, 0, 0, 1])
        );
    }

    #[tokio::test]
    async fn closed_port_is_a_connect_error_naming_the_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = connect_checked("127.0.0.1", addr.port(), &loopback_policy(), T)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectError::Connect { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "connect: connection refused (a private address)",
            "an allowed internal address is still not named to tenants"
        );
        assert_eq!(
            shown_addr("203.0.113.9:443".parse().unwrap()),
            "a private address"
        );
        assert_eq!(shown_addr("8.8.8.8:443".parse().unwrap()), "8.8.8.8:443");
    }

    #[tokio::test]
    async fn service_uses_uri_host_and_port_and_keeps_url_out_of_errors() {
        let mut connector = GuardedConnector::new(NetPolicy::default(), T);
        let uri: Uri = "https://127.0.0.1:8443/hooks/secret-token?key=abc"
            .parse()
            .unwrap();
        let err = connector.call(uri).await.unwrap_err().to_string();
        assert!(err.starts_with("refused: private address refused"), "{err}");
        assert!(!err.contains("127.0.0.1"), "{err}");
        assert!(
            !err.contains("secret-token") && !err.contains("key=abc"),
            "{err}"
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut connector = GuardedConnector::new(loopback_policy(), T);
        let uri: Uri = format!("http://localhost:{port}/x").parse().unwrap();
        let io = connector.call(uri).await.unwrap();
        assert_eq!(io.inner().get_ref().peer_addr().unwrap().port(), port);
    }
}

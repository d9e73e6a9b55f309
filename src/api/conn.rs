//! Limits on API connections: how many are open at once, how long one may stay silent, and
//! how long one request may take to arrive.
//!
//! Why not hyper's own timeouts alone: hyper's HTTP/1 header timeout starts only once hyper
//! runs, after the TLS handshake and after the HTTP/1-or-HTTP/2 sniffing, and HTTP/2 has no
//! idle timeout at all. So each connection gets one [`ConnClock`], fed by the bytes read off
//! the socket (below TLS, so a handshake counts) and by the requests it serves, and one
//! deadline derived from it, the same for HTTP/1 and HTTP/2, plain and TLS:
//!
//! * no request in progress and no byte since the connection opened (or its TLS handshake
//!   ended, or its last request was answered): closed `idle_timeout` after that;
//! * bytes arriving but no complete request head yet (a TLS handshake, the protocol
//!   preface, a head sent slowly): closed `request_timeout` after the first of them;
//! * a request in progress: the connection stays; the request's body must be complete
//!   `request_timeout` after the first byte of its head ([`RequestDeadline`], enforced
//!   where the body is read, which answers 408).
//!
//! The number of open connections is capped by a semaphore: at the cap the server stops
//! calling `accept`, so new connections wait in the kernel's listen backlog instead of
//! costing descriptors.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ServerConfig;

/// The connection limits in force.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections open at once (after the file-descriptor reserve, see [`ConnLimits::new`]).
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
}

impl ConnLimits {
    /// The configured limits, with `max_connections` kept to at most half of `nofile` (the
    /// process's file-descriptor limit, when known): the other half stays free for delivery
    /// connections (in flight and pooled), storage files and the listener.
    pub fn new(server: &ServerConfig, nofile: Option<u64>) -> ConnLimits {
        let mut max_connections = server.max_connections.max(1);
        if let Some(nofile) = nofile {
            let share = usize::try_from(nofile / 2).unwrap_or(usize::MAX).max(1);
            if max_connections > share {
                tracing::warn!(
                    configured = max_connections,
                    used = share,
                    nofile,
                    "server.max_connections lowered to half the file-descriptor limit"
                );
                max_connections = share;
            }
        }
        ConnLimits {
            max_connections,
            idle_timeout: secs(server.idle_timeout_secs),
            request_timeout: secs(server.request_timeout_secs),
        }
    }
}

/// Seconds from a validated config value; anything odd falls back to one minute.
fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::from_secs(60))
}

/// When the body of a request must be complete: a request extension set for every request
/// the server hands to the router.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Instant);

/// One connection's activity, from which its deadline follows (see the module docs).
pub struct ConnClock {
    limits: ConnLimits,
    state: Mutex<ClockState>,
    /// Woken when the deadline may have moved earlier.
    changed: Notify,
}

struct ClockState {
    /// Requests handed to the router and not yet answered.
    busy: u32,
    /// Since when nothing has been in progress.
    idle_since: Instant,
    /// The first byte read while nothing was in progress (a request head, a handshake).
    receiving_since: Option<Instant>,
}

impl ConnClock {
    pub fn new(limits: ConnLimits) -> Arc<ConnClock> {
        Arc::new(ConnClock {
            limits,
            state: Mutex::new(ClockState {
                busy: 0,
                idle_since: Instant::now(),
                receiving_since: None,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        // Three plain fields, each written whole: a panic elsewhere cannot leave them torn.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes were read from the socket.
    fn on_read(&self) {
        let mut s = self.lock();
        if s.busy == 0 && s.receiving_since.is_none() {
            s.receiving_since = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// The TLS handshake is complete: the connection is idle until a request begins.
    pub fn handshake_done(&self) {
        let mut s = self.lock();
        if s.busy == 0 {
            s.idle_since = Instant::now();
            s.receiving_since = None;
        }
    }

    /// A request head is complete and goes to the router: the connection is busy until the
    /// guard is dropped; the body must be in by the returned deadline.
    pub fn request_started(self: &Arc<Self>) -> (BusyGuard, RequestDeadline) {
        let mut s = self.lock();
        s.busy += 1;
        let start = s.receiving_since.take().unwrap_or_else(Instant::now);
        drop(s);
        (
            BusyGuard(self.clone()),
            RequestDeadline(start + self.limits.request_timeout),
        )
    }

    /// When the connection is to be closed; `None` while a request is in progress.
    pub fn deadline(&self) -> Option<Instant> {
        let s = self.lock();
        if s.busy > 0 {
            return None;
        }
        Some(match s.receiving_since {
            Some(t) => t + self.limits.request_timeout,
            None => s.idle_since + self.limits.idle_timeout,
        })
    }
}

/// Marks a request in progress on its connection.
pub struct BusyGuard(Arc<ConnClock>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.busy = s.busy.saturating_sub(1);
        if s.busy == 0 {
            s.idle_since = Instant::now();
            s.receiving_since = None;
            drop(s);
            self.0.changed.notify_one();
        }
    }
}

/// Run a connection's future until it ends or its clock's deadline passes; `None` when the
/// deadline ended it (the future, and with it the socket, is dropped).
pub async fn until_deadline<F: Future>(clock: &ConnClock, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    loop {
        let deadline = clock.deadline();
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            out = &mut fut => return Some(out),
            _ = clock.changed.notified() => {}
            _ = expired => {
                if clock.deadline().is_some_and(|at| at <= Instant::now()) {
                    return None;
                }
            }
        }
    }
}

/// A socket that reports the bytes it reads to its connection's clock.
pub struct Watched<I> {
    io: I,
    clock: Arc<ConnClock>,
}

impl<I> Watched<I> {
    pub fn new(io: I, clock: Arc<ConnClock>) -> Watched<I> {
        Watched { io, clock }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.on_read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Pauses after a failed `accept`, so that running out of descriptors (or memory) does not
/// turn the accept loop into a busy loop that logs thousands of lines a second.
#[derive(Default)]
pub struct AcceptBackoff {
    delay: Duration,
    failures: u64,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// An accept succeeded.
    pub fn reset(&mut self) {
        self.delay = Duration::ZERO;
        self.failures = 0;
    }

    /// How long to wait after `e`: nothing for an error of one connection (it was reset
    /// before it was accepted), a doubling pause up to 1 s for a lack of resources.
    pub fn after(&mut self, e: &io::Error) -> Duration {
        self.failures += 1;
        let exhausted = matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        );
        if self.failures == 1 || self.failures.is_multiple_of(100) {
            tracing::warn!(error = %e, failures = self.failures, "accept failed");
        }
        if !exhausted {
            return Duration::ZERO;
        }
        self.delay = (self.delay * 2).clamp(Self::FIRST, Self::MAX);
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            max_connections: 10,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn max_connections_keeps_half_the_descriptors_free() {
        let server = ServerConfig {
            max_connections: 4096,
            ..ServerConfig::default()
        };
        assert_eq!(ConnLimits::new(&server, Some(1024)).max_connections, 512);
        assert_eq!(
            ConnLimits::new(&server, Some(1 << 20)).max_connections,
            4096
        );
        assert_eq!(ConnLimits::new(&server, None).max_connections, 4096);
    }

    /// `at` lies in `[from + d, to + d]`.
    fn between(at: Option<Instant>, from: Instant, to: Instant, d: Duration) -> bool {
        at.is_some_and(|at| at >= from + d && at <= to + d)
    }

    #[test]
    fn silence_closes_after_idle_timeout_and_a_started_head_after_request_timeout() {
        let before = Instant::now();
        let clock = ConnClock::new(limits());
        let opened = Instant::now();
        assert!(between(
            clock.deadline(),
            before,
            opened,
            Duration::from_secs(60)
        ));

        let before = Instant::now();
        clock.on_read();
        let read = Instant::now();
        assert!(
            between(clock.deadline(), before, read, Duration::from_secs(30)),
            "a head that started must be complete within the request timeout"
        );
        let first_deadline = clock.deadline();
        clock.on_read();
        assert_eq!(
            clock.deadline(),
            first_deadline,
            "later bytes do not extend it"
        );

        let (guard, RequestDeadline(body_by)) = clock.request_started();
        assert_eq!(
            Some(body_by),
            first_deadline,
            "the body is due with the head"
        );
        assert_eq!(
            clock.deadline(),
            None,
            "a request in progress keeps it open"
        );
        clock.on_read();
        assert_eq!(clock.deadline(), None);

        let before = Instant::now();
        drop(guard);
        let answered = Instant::now();
        assert!(
            between(clock.deadline(), before, answered, Duration::from_secs(60)),
            "idle again from the answer on"
        );
    }

    #[tokio::test]
    async fn until_deadline_drops_a_silent_connection_and_keeps_a_finished_one() {
        let short = ConnLimits {
            idle_timeout: Duration::from_millis(50),
            ..limits()
        };
        let started = std::time::Instant::now();
        let ended = until_deadline(&ConnClock::new(short), std::future::pending::<()>()).await;
        assert!(ended.is_none());
        assert!(started.elapsed() >= Duration::from_millis(50));
        let ended = until_deadline(&ConnClock::new(short), async { 7 }).await;
        assert_eq!(ended, Some(7));
    }

    #[test]
    fn accept_backoff_grows_only_for_resource_exhaustion() {
        let mut b = AcceptBackoff::default();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(b.after(&emfile), Duration::from_millis(10));
        assert_eq!(b.after(&emfile), Duration::from_millis(20));
        for _ in 0..20 {
            b.after(&emfile);
        }
        assert_eq!(b.after(&emfile), Duration::from_secs(1));
        let aborted = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(b.after(&aborted), Duration::ZERO);
        b.reset();
        assert_eq!(b.after(&emfile), Duration::from_millis(10));
    }
}

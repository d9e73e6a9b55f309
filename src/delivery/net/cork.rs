//! A delivery connection's socket that gathers what is written within one turn of the
//! runtime into one `write`.
//!
//! Why: the attempts of a scheduler turn each hand their request to the same HTTP/2
//! connection, whose task flushed each request on its own (HTTP/2 flushes after every
//! frame carrying a body): one `writev` per request (measured: 9,000 a second at 9,000
//! deliveries a second, each crossing to the receiver and waking it). Here a flush that
//! finds bytes waiting keeps them and asks for its task to be polled again; a task that
//! wakes itself is queued behind the tasks already runnable, so by then those have added
//! their requests, and the connection's next read writes them all at once (measured: 11
//! requests, 15 KB, per write). An idle runtime polls the task again at once: a lone
//! request waits for one more poll, not for a timer.
//!
//! What this relies on: whoever owns the connection reads from it after it flushes, as
//! an HTTP client does (it waits for the answer, and hyper's connection tasks read on
//! every poll). A read first writes every waiting byte; so does shutdown, and a write
//! beyond [`MOST_WAITING`] bytes.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Above this many waiting bytes a write goes out before more is taken.
const MOST_WAITING: usize = 256 * 1024;

/// A TCP stream whose writes wait for the end of the runtime's turn (see the module).
#[derive(Debug)]
pub struct Corked {
    inner: TcpStream,
    /// Bytes taken and not yet written; `written` of them are on the socket already.
    waiting: Vec<u8>,
    written: usize,
    /// A flush found bytes waiting and asked to be polled again: the next flush writes.
    deferred: bool,
}

impl Corked {
    pub fn new(inner: TcpStream) -> Corked {
        Corked {
            inner,
            waiting: Vec::new(),
            written: 0,
            deferred: false,
        }
    }

    /// The socket underneath.
    #[cfg(test)]
    pub fn get_ref(&self) -> &TcpStream {
        &self.inner
    }

    /// Write every waiting byte to the socket.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.waiting.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.waiting[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.waiting.clear();
        self.written = 0;
        self.deferred = false;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Corked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.waiting.is_empty() {
            // Pending here means the socket is full; the read goes on regardless, and the
            // next flush or read writes the rest.
            if let Poll::Ready(Err(e)) = this.poll_write_out(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Corked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.waiting.len() >= MOST_WAITING {
            ready!(this.poll_write_out(cx))?;
        }
        this.waiting.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.waiting.len() >= MOST_WAITING {
            ready!(this.poll_write_out(cx))?;
        }
        let mut n = 0;
        for b in bufs {
            this.waiting.extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.waiting.is_empty() {
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        // Written by the read this task makes when polled again, which the wake asks
        // for; flushes before then (HTTP/2 flushes after every frame with a body) only
        // add to what waits.
        if !this.deferred {
            this.deferred = true;
            cx.waker().wake_by_ref();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl Connection for Corked {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (Corked, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (Corked::new(client.unwrap()), accepted.unwrap().0)
    }

    /// The peer reads `n` bytes, then answers `reply`; the task gives what it read.
    fn answer(
        mut peer: TcpStream,
        n: usize,
        reply: &'static [u8],
    ) -> tokio::task::JoinHandle<Vec<u8>> {
        tokio::spawn(async move {
            let mut got = vec![0u8; n];
            peer.read_exact(&mut got).await.unwrap();
            peer.write_all(reply).await.unwrap();
            got
        })
    }

    /// Counts the wakes asked for.
    struct CountWakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountWakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn flushes_keep_the_bytes_and_ask_once_for_another_poll() {
        let (mut corked, _peer) = pair().await;
        let wakes = std::sync::Arc::new(CountWakes(Default::default()));
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        for part in [&b"one "[..], b"two"] {
            assert!(matches!(
                Pin::new(&mut corked).poll_write(&mut cx, part),
                Poll::Ready(Ok(_))
            ));
            assert!(matches!(
                Pin::new(&mut corked).poll_flush(&mut cx),
                Poll::Ready(Ok(()))
            ));
        }
        assert_eq!(corked.waiting, b"one two", "nothing is written at a flush");
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn flushed_writes_go_out_together_at_the_next_read() {
        let (mut corked, peer) = pair().await;
        corked.write_all(b"one ").await.unwrap();
        corked.flush().await.unwrap();
        corked.write_all(b"two").await.unwrap();
        corked.flush().await.unwrap();
        let peer = answer(peer, 7, b"ok");
        let mut got = [0u8; 2];
        corked.read_exact(&mut got).await.unwrap();
        assert_eq!(peer.await.unwrap(), b"one two");
        assert!(corked.waiting.is_empty());
    }

    #[tokio::test]
    async fn a_read_writes_what_waits_so_a_request_never_sits_unsent() {
        let (mut corked, peer) = pair().await;
        corked.write_all(b"ping").await.unwrap();
        let peer = answer(peer, 4, b"pong");
        let mut got = [0u8; 4];
        corked.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
        assert_eq!(peer.await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn shutdown_writes_what_waits_first() {
        let (mut corked, mut peer) = pair().await;
        corked.write_all(b"last words").await.unwrap();
        corked.shutdown().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
    }

    #[tokio::test]
    async fn more_than_the_most_waiting_goes_out_before_more_is_taken() {
        let (mut corked, mut peer) = pair().await;
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            got.len()
        });
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..8 {
            corked.write_all(&chunk).await.unwrap();
            assert!(corked.waiting.len() <= MOST_WAITING + chunk.len());
        }
        corked.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), 8 * chunk.len());
    }
}

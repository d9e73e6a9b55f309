//! The API server protects itself from connections: a cap on open connections (the rest wait
//! in the kernel backlog), silent connections closed after `idle_timeout_secs`, and a request
//! that arrives too slowly cut after `request_timeout_secs`, for HTTP/1 and HTTP/2, plain
//! and TLS.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// Read (and ignore) whatever comes until the peer closes; `true` when it closed before
/// `deadline`.
fn closed_by(stream: &mut impl Read, deadline: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

fn connect(d: &TestDaemon) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", d.port())).expect("connect to hookd");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

fn open_descriptors(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|dir| dir.count())
}

#[test]
fn an_idle_connection_flood_is_capped_and_closed_while_healthz_keeps_answering() {
    let d = TestDaemon::builder()
        .config_extra(
            "[server]\nmax_connections = 50\nidle_timeout_secs = 1\nrequest_timeout_secs = 2\n",
        )
        .start();
    let before = open_descriptors(d.pid());
    let mut idle: Vec<TcpStream> = (0..300).map(|_| connect(&d)).collect();
    std::thread::sleep(Duration::from_millis(300));
    if let (Some(before), Some(during)) = (before, open_descriptors(d.pid())) {
        assert!(
            during <= before + 50 + 5,
            "{during} descriptors open with 300 idle clients (was {before}): the cap of 50 connections is not kept"
        );
    }

    // Health checks get through while the flood waits in the backlog and drains.
    let started = Instant::now();
    let r = Api::anonymous(&d).get("/healthz");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "/healthz took {:?}",
        started.elapsed()
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut still_open = 0;
    for s in idle.iter_mut() {
        if !closed_by(s, deadline) {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "idle connections left open by hookd");
    assert_eq!(Api::anonymous(&d).get("/healthz").status, 200);
}

#[test]
fn a_partial_http2_preface_or_a_silent_http2_connection_is_closed() {
    let d = TestDaemon::builder()
        .config_extra("[server]\nidle_timeout_secs = 1\nrequest_timeout_secs = 2\n")
        .start();
    // A few bytes of the preface: hookd cannot even tell HTTP/1 from HTTP/2 yet.
    let mut partial = connect(&d);
    partial.write_all(b"PRI * HT").unwrap();
    // The whole HTTP/2 preface and SETTINGS, then nothing: an HTTP/2 connection with no
    // stream.
    let mut h2 = connect(&d);
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    assert!(
        closed_by(&mut partial, deadline),
        "partial preface kept open"
    );
    assert!(
        closed_by(&mut h2, deadline),
        "silent HTTP/2 connection kept open"
    );
}

#[test]
fn a_keep_alive_connection_is_closed_after_idle_timeout_not_before() {
    let d = TestDaemon::builder()
        .config_extra("[server]\nidle_timeout_secs = 2\nrequest_timeout_secs = 1\n")
        .start();
    let mut s = connect(&d);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: hookd\r\n\r\n")
        .unwrap();
    let answered = Instant::now();
    let mut buf = [0u8; 1024];
    let n = loop {
        match s.read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Still open a moment later (idle, not request, timeout applies between requests).
    std::thread::sleep(Duration::from_millis(1200));
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: hookd\r\n\r\n")
        .unwrap();
    let n = loop {
        match s.read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("second request on the kept-alive connection: {e}"),
        }
    };
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(closed_by(&mut s, Instant::now() + Duration::from_secs(5)));
    assert!(answered.elapsed() >= Duration::from_secs(3));
}

#[test]
fn a_body_trickled_one_byte_at_a_time_is_cut_within_request_timeout() {
    let d = TestDaemon::builder()
        .config_extra("[server]\nidle_timeout_secs = 10\nrequest_timeout_secs = 2\n")
        .start();
    let mut s = connect(&d);
    let started = Instant::now();
    write!(
        s,
        "POST /api/tenants HTTP/1.1\r\nHost: hookd\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        d.operator_key()
    )
    .unwrap();
    let mut writer = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            if writer.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let mut answer = Vec::new();
    let cut = loop {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
        if started.elapsed() > Duration::from_secs(8) {
            break false;
        }
    };
    let elapsed = started.elapsed();
    drop(s);
    let _ = trickle.join();
    assert!(cut, "a trickled body held the connection for {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(5),
        "cut only after {elapsed:?}"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
}

/// hookd serving HTTPS with the shared test PKI.
fn tls_daemon(extra: &str) -> (TestDaemon, tempfile::TempDir) {
    let pki_dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki().write_to(pki_dir.path());
    let d = TestDaemon::builder()
        .config_extra(&format!(
            "[server]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n{extra}",
            cert.display(),
            key.display()
        ))
        .api_ca_file(&ca)
        .start();
    (d, pki_dir)
}

#[test]
fn silent_and_slow_tls_connections_are_closed() {
    let (d, _pki) = tls_daemon("idle_timeout_secs = 1\nrequest_timeout_secs = 2\n");

    // Nothing at all: not even a ClientHello.
    let mut silent = connect(&d);
    // A ClientHello that never completes: a TLS record header, then one byte a second.
    let mut slow = connect(&d);
    slow.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    let mut slow_writer = slow.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..20 {
            if slow_writer.write_all(&[0x01]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    // A completed handshake (offering h2), then silence.
    let mut config = test_pki().client_config();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", d.port())).unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp).expect("TLS handshake with hookd");
    }
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut handshaken = rustls::StreamOwned::new(tls, tcp);

    let deadline = Instant::now() + Duration::from_secs(5);
    assert!(
        closed_by(&mut silent, deadline),
        "silent TCP connection kept open"
    );
    assert!(
        closed_by(&mut slow, deadline),
        "trickled ClientHello kept open"
    );
    assert!(
        closed_by(&mut handshaken, deadline),
        "silent TLS (h2) connection kept open"
    );
    drop(slow);
    let _ = trickle.join();
}

/// A request body that yields one byte every half second.
struct Trickle {
    sent: usize,
    total: usize,
    tick: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for Trickle {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::future::Future;
        if self.sent == self.total {
            return std::task::Poll::Ready(None);
        }
        if self.tick.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        self.sent += 1;
        let next = tokio::time::Instant::now() + Duration::from_millis(500);
        self.tick.as_mut().reset(next);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(
            bytes::Bytes::from_static(b" "),
        ))))
    }
}

#[test]
fn an_http2_body_trickled_over_tls_gets_408_within_request_timeout() {
    let (d, _pki) = tls_daemon("idle_timeout_secs = 10\nrequest_timeout_secs = 2\n");
    let port = d.port();
    let key = d.operator_key().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body, elapsed) = rt.block_on(async move {
        let mut config = test_pki().client_config();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let req = http::Request::post(format!("https://localhost:{port}/api/tenants"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Trickle {
                sent: 0,
                total: 100,
                tick: Box::pin(tokio::time::sleep(Duration::ZERO)),
            })
            .unwrap();
        let started = Instant::now();
        let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
            .await
            .expect("no answer within 10 s")
            .expect("an answer, not a broken connection");
        let status = resp.status().as_u16();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (
            status,
            String::from_utf8_lossy(&body).into_owned(),
            started.elapsed(),
        )
    });
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("\"request_timeout\""), "{body}");
    assert!(
        elapsed < Duration::from_secs(5),
        "answered after {elapsed:?}"
    );
}

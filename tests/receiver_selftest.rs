//! Proves the test harness itself: the webhook receiver (with a real rustls client that trusts
//! only the test CA), the independent signature checks, and the pure parts of `TestDaemon`
//! (config merging, the listening line). Needs no running hookd.

mod common;

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::daemon::{build_config, parse_listening_line};
use common::receiver::{hex_signature, standard_signature};
use common::*;

const T: Duration = Duration::from_secs(10);

fn received(headers: &[(&str, &str)], body: &[u8]) -> Received {
    Received {
        method: "POST".into(),
        path: "/".into(),
        uri: "/".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: body.to_vec(),
        at: std::time::Instant::now(),
        version: http::Version::HTTP_11,
    }
}

// --- signature checks -------------------------------------------------------------------------

const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TS: &str = "1614265330";
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn verify_standard_accepts_the_standard_webhooks_spec_example() {
    assert_eq!(
        standard_signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY),
        SPEC_SIG
    );
    let r = received(
        &[
            ("webhook-id", SPEC_ID),
            ("webhook-timestamp", SPEC_TS),
            ("webhook-signature", SPEC_SIG),
        ],
        SPEC_BODY,
    );
    assert!(verify_standard(SPEC_SECRET, &r));
}

#[test]
fn verify_standard_accepts_any_of_several_signatures_and_rejects_tampering() {
    let other = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let both = format!("{other} {SPEC_SIG}");
    let ok = received(
        &[
            ("webhook-id", SPEC_ID),
            ("webhook-timestamp", SPEC_TS),
            ("webhook-signature", &both),
        ],
        SPEC_BODY,
    );
    assert!(verify_standard(SPEC_SECRET, &ok));

    let tampered_body = received(
        &[
            ("webhook-id", SPEC_ID),
            ("webhook-timestamp", SPEC_TS),
            ("webhook-signature", SPEC_SIG),
        ],
        br#"{"test": 2432232315}"#,
    );
    assert!(!verify_standard(SPEC_SECRET, &tampered_body));

    let other_timestamp = received(
        &[
            ("webhook-id", SPEC_ID),
            ("webhook-timestamp", "1614265331"),
            ("webhook-signature", SPEC_SIG),
        ],
        SPEC_BODY,
    );
    assert!(!verify_standard(SPEC_SECRET, &other_timestamp));

    assert!(!verify_standard(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &ok
    ));
    let missing = received(&[("webhook-id", SPEC_ID)], SPEC_BODY);
    assert!(!verify_standard(SPEC_SECRET, &missing));
}

#[test]
fn verify_hex_matches_a_known_hmac_sha256_vector() {
    // RFC-independent well-known vector: HMAC-SHA256("key", "The quick brown fox ...").
    let body = b"The quick brown fox jumps over the lazy dog";
    let expected = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
    assert_eq!(hex_signature("key", body), expected);
    assert!(verify_hex(
        "key",
        &received(&[("X-Webhook-Signature", expected)], body)
    ));
    assert!(!verify_hex(
        "other",
        &received(&[("X-Webhook-Signature", expected)], body)
    ));
    assert!(!verify_hex(
        "key",
        &received(&[("X-Webhook-Signature", expected)], b"tampered")
    ));
    assert!(!verify_hex("key", &received(&[], body)));
}

// --- receiver over TLS ------------------------------------------------------------------------

#[test]
fn request_is_recorded_with_method_path_headers_and_body() {
    let rx = TestReceiver::start();
    let client = HttpsClient::new(Alpn::H2AndHttp1);
    let resp = client
        .request(
            "POST",
            &rx.url("/hooks/crm?x=1"),
            &[
                ("Content-Type", "application/json"),
                ("X-Webhook-Event", "customer.created"),
            ],
            br#"{"hello":"world"}"#,
        )
        .expect("request");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "ok");
    assert!(rx.wait_for(1, T));
    let r = rx.last().unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hooks/crm");
    assert_eq!(r.uri, "/hooks/crm?x=1");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("X-WEBHOOK-EVENT"), Some("customer.created"));
    assert!(r.headers.iter().all(|(k, _)| *k == k.to_ascii_lowercase()));
    assert_eq!(r.body, br#"{"hello":"world"}"#);
    assert_eq!(r.json()["hello"], "world");
    assert_eq!(rx.count(), 1);
    assert_eq!(rx.received_on("/hooks/crm").len(), 1);
    rx.clear();
    assert_eq!(rx.count(), 0);
}

#[test]
fn certificate_is_valid_for_localhost_and_for_127_0_0_1() {
    let rx = TestReceiver::start();
    assert!(rx.url("/a").starts_with("https://localhost:"));
    assert!(rx.ip_url("/a").starts_with("https://127.0.0.1:"));
    let client = HttpsClient::with_ca_file(rx.ca_file(), Alpn::H2AndHttp1);
    assert_eq!(client.get(&rx.url("/a")).expect("by name").status, 200);
    assert_eq!(client.get(&rx.ip_url("/b")).expect("by IP").status, 200);
    assert!(rx.wait_for(2, T));
}

#[test]
fn client_without_the_test_ca_is_refused() {
    let rx = TestReceiver::start();
    // Trust some unrelated CA only: the handshake must fail.
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_ca = params.self_signed(&key).unwrap();
    let path = dir.path().join("other.pem");
    std::fs::write(&path, other_ca.pem()).unwrap();
    let client = HttpsClient::with_ca_file(&path, Alpn::H2AndHttp1);
    assert!(client.get(&rx.url("/")).is_err());
    assert_eq!(rx.count(), 0);
}

#[test]
fn scripted_replies_are_served_in_order_then_the_default() {
    let rx = TestReceiver::start();
    rx.set_default(Reply::text(202, "default"));
    rx.push_replies(vec![
        Reply::text(500, "boom"),
        Reply::too_many_requests(7),
        Reply::gone(),
        Reply::json(201, serde_json::json!({"ok": true})).header("x-extra", "1"),
    ]);
    assert_eq!(rx.pending_replies(), 4);
    let client = HttpsClient::new(Alpn::Http1Only);
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(client.request("POST", &rx.url("/h"), &[], b"{}").unwrap());
    }
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 429, 410, 201, 202, 202]);
    assert_eq!(got[0].text(), "boom");
    assert_eq!(got[1].header("retry-after"), Some("7"));
    assert_eq!(got[3].header("x-extra"), Some("1"));
    assert_eq!(got[3].header("content-type"), Some("application/json"));
    assert_eq!(got[4].text(), "default");
    assert_eq!(rx.pending_replies(), 0);
    assert_eq!(rx.count(), 6);
}

#[test]
fn path_script_and_path_default_apply_to_their_path_only() {
    let rx = TestReceiver::start();
    rx.set_path_default("/b", Reply::status(503));
    rx.push_path_replies("/a", vec![Reply::status(418)]);
    rx.push_replies(vec![Reply::status(500)]);
    let client = HttpsClient::new(Alpn::H2AndHttp1);
    let status = |p: &str| client.get(&rx.url(p)).unwrap().status;
    assert_eq!(status("/a"), 418); // the path's script first
    assert_eq!(status("/b"), 500); // then the global script
    assert_eq!(status("/b"), 503); // then the path default
    assert_eq!(status("/a"), 200); // then the default
    assert_eq!(status("/c"), 200);
}

#[test]
fn h2_is_negotiated_when_the_client_offers_it() {
    let rx = TestReceiver::start();
    let h2 = HttpsClient::new(Alpn::H2AndHttp1)
        .get(&rx.url("/two"))
        .unwrap();
    assert_eq!(h2.version, http::Version::HTTP_2);
    let h1 = HttpsClient::new(Alpn::Http1Only)
        .get(&rx.url("/one"))
        .unwrap();
    assert_eq!(h1.version, http::Version::HTTP_11);
    assert!(rx.wait_for(2, T));
    assert_eq!(rx.received_on("/two")[0].version, http::Version::HTTP_2);
    assert_eq!(rx.received_on("/one")[0].version, http::Version::HTTP_11);
}

#[test]
fn redirect_reply_carries_location_and_is_not_followed() {
    let rx = TestReceiver::start();
    let target = rx.url("/elsewhere");
    rx.push_replies(vec![Reply::redirect(&target)]);
    let resp = HttpsClient::new(Alpn::H2AndHttp1)
        .get(&rx.url("/start"))
        .unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("location"), Some(target.as_str()));
    assert_eq!(rx.count(), 1);
}

#[test]
fn delayed_reply_outlasts_a_short_client_timeout_and_is_still_recorded() {
    let mut rx = TestReceiver::start();
    rx.set_default(Reply::slow(Duration::from_secs(30)));
    let client = HttpsClient::new(Alpn::Http1Only).timeout(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let err = client.get(&rx.url("/slow")).unwrap_err();
    assert!(err.contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(rx.wait_for(1, T));
    // Stopping does not wait for the sleeping reply.
    let started = std::time::Instant::now();
    rx.stop();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn abort_reply_closes_the_connection_without_an_answer() {
    let rx = TestReceiver::start();
    rx.push_replies(vec![Reply::abort_connection()]);
    let client = HttpsClient::new(Alpn::Http1Only);
    assert!(client.get(&rx.url("/x")).is_err());
    assert_eq!(client.get(&rx.url("/x")).unwrap().status, 200);
    assert_eq!(rx.count(), 2);
}

#[test]
fn stop_refuses_connections_and_start_again_serves_on_the_same_port() {
    let mut rx = TestReceiver::start();
    let port = rx.port();
    let client = HttpsClient::new(Alpn::H2AndHttp1);
    assert_eq!(client.get(&rx.url("/before")).unwrap().status, 200);

    rx.stop();
    assert!(!rx.is_running());
    let refused = TcpStream::connect_timeout(&rx.addr(), Duration::from_secs(5))
        .expect_err("stopped receiver must refuse connections");
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{refused}"
    );
    // A fresh client (no pooled connection) fails too.
    assert!(HttpsClient::new(Alpn::H2AndHttp1)
        .get(&rx.url("/down"))
        .is_err());

    rx.start_again();
    assert_eq!(rx.port(), port);
    assert_eq!(
        HttpsClient::new(Alpn::H2AndHttp1)
            .get(&rx.url("/after"))
            .unwrap()
            .status,
        200
    );
    // Recorded requests survive the restart.
    let paths: Vec<String> = rx.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/before", "/after"]);
}

#[test]
fn stop_closes_kept_alive_connections() {
    let mut rx = TestReceiver::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(test_pki().client_config()));
    let addr = rx.addr();
    let mut sender = rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(conn);
        sender
    });
    let req = || {
        hyper::Request::builder()
            .uri("/keep")
            .header("host", "localhost")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    let status = rt.block_on(async { sender.send_request(req()).await.unwrap().status() });
    assert_eq!(status, 200);

    rx.stop();
    let closed = rt.block_on(async {
        tokio::time::timeout(T, async {
            // The connection is closed by the receiver: readiness or the request fails.
            match sender.ready().await {
                Err(_) => true,
                Ok(()) => sender.send_request(req()).await.is_err(),
            }
        })
        .await
    });
    assert_eq!(closed, Ok(true));
    assert_eq!(rx.count(), 1);
}

#[test]
fn wait_for_returns_false_when_nothing_arrives() {
    let rx = TestReceiver::start();
    let started = std::time::Instant::now();
    assert!(!rx.wait_for(1, Duration::from_millis(200)));
    assert!(started.elapsed() >= Duration::from_millis(200));
}

// --- plain HTTP receiver ----------------------------------------------------------------------

#[test]
fn plain_http_receiver_serves_without_tls() {
    let mut rx = TestReceiver::plain_http();
    assert!(rx.url("/p").starts_with("http://localhost:"));
    assert!(rx.ip_url("/p").starts_with("http://127.0.0.1:"));
    rx.push_replies(vec![Reply::status(500)]);
    let api = Api::new(&rx.ip_url(""), "");
    let first = api.post("/p", serde_json::json!({"n": 1}));
    assert_eq!(first.status, 500);
    let second = api.post("/p", serde_json::json!({"n": 2}));
    assert_eq!(second.status, 200);
    assert_eq!(second.text, "ok");
    assert!(rx.wait_for(2, T));
    assert_eq!(rx.received()[1].json()["n"], 2);
    assert_eq!(rx.received()[1].version, http::Version::HTTP_11);

    rx.stop();
    let mut buf = [0u8; 1];
    match TcpStream::connect_timeout(&rx.addr(), Duration::from_secs(5)) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Ok(mut s) => {
            // Never expected, but make the failure readable.
            let _ = s.shutdown(Shutdown::Write);
            let n = s.read(&mut buf).unwrap_or(0);
            panic!("stopped plain receiver accepted a connection (read {n} bytes)");
        }
    }
    rx.start_again();
    assert_eq!(api.get("/again").status, 200);
}

// --- TestDaemon's pure parts ------------------------------------------------------------------

#[test]
fn listening_line_is_parsed_into_the_base_url() {
    assert_eq!(
        parse_listening_line("hookd listening on http://127.0.0.1:40123").as_deref(),
        Some("http://127.0.0.1:40123")
    );
    assert_eq!(
        parse_listening_line("hookd listening on https://127.0.0.1:8443/ (admin page ...)")
            .as_deref(),
        Some("https://127.0.0.1:8443")
    );
    assert_eq!(
        parse_listening_line("2026-01-01T00:00:00Z INFO hookd listening on http://127.0.0.1:9.")
            .as_deref(),
        Some("http://127.0.0.1:9")
    );
    assert_eq!(parse_listening_line("operator key written to ./x"), None);
}

#[test]
fn daemon_config_merges_the_extra_toml_over_the_base() {
    let extra = vec![
        "[server]\nmax_payload_bytes = 2048\n[delivery]\nallow_http = true\nallowed_networks = [\"127.0.0.0/8\"]\n".to_string(),
        "[server]\nlisten = \"127.0.0.1:0\"\n[[event_types]]\nname = \"a.b\"\n".to_string(),
        "[delivery]\nallowed_networks = [\"::1/128\"]\n".to_string(),
    ];
    let t = build_config(
        std::path::Path::new("/tmp/x/data"),
        "k".repeat(40).as_str(),
        &extra,
    );
    assert_eq!(t["server"]["listen"].as_str(), Some("127.0.0.1:0"));
    assert_eq!(t["server"]["max_payload_bytes"].as_integer(), Some(2048));
    assert_eq!(t["storage"]["data_dir"].as_str(), Some("/tmp/x/data"));
    assert_eq!(t["auth"]["operator_key"].as_str().map(str::len), Some(40));
    assert_eq!(t["delivery"]["allow_http"].as_bool(), Some(true));
    // Arrays are replaced, not appended.
    assert_eq!(
        t["delivery"]["allowed_networks"].as_array().unwrap().len(),
        1
    );
    assert_eq!(t["event_types"][0]["name"].as_str(), Some("a.b"));
    // The merged config is what hookd itself accepts.
    let text = toml::to_string(&t).unwrap();
    hookd::config::Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
}

//! `hookd listen` and `hookd verify` against real deliveries.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

const CATALOG: &str = "[[event_types]]\nname = \"customer.created\"\ncategory = \"Customer\"\n";

#[test]
fn listen_receives_a_delivery_and_reports_both_signatures_valid() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args([
            "listen",
            "--port",
            "0",
            "--secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let d = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra("[delivery]\nallow_http = true\nallowed_networks = [\"127.0.0.0/8\"]\n")
        .start();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    api.post(
        "/api/webhooks",
        json!({"url": format!("{url}hooks"), "events": ["*"], "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
    )
    .expect_status(201);
    api.post(
        "/api/events",
        json!({"type": "customer.created", "data": {"id": "cus_1"}}),
    )
    .expect_status(202);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut seen = String::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(10)) {
        seen.push_str(&l);
        seen.push('\n');
        if l.contains("signatures:") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("event=customer.created"), "{seen}");
    assert!(
        seen.contains("webhook-signature valid, X-Webhook-Signature valid"),
        "{seen}"
    );
}

#[test]
fn verify_accepts_a_captured_request_and_rejects_a_tampered_one() {
    let rx = TestReceiver::https();
    let d = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&format!(
            "[delivery]\nallowed_networks = [\"127.0.0.0/8\"]\nextra_ca_file = \"{}\"",
            rx.ca_file().display()
        ))
        .start();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let secret = api
        .post(
            "/api/webhooks",
            json!({"url": rx.url("/c"), "events": ["*"], "verify": false}),
        )
        .str("secret")
        .to_string();
    api.post(
        "/api/events",
        json!({"type": "customer.created", "data": {"id": "cus_1"}}),
    )
    .expect_status(202);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let got = rx.last().unwrap();
    let run = |body: &[u8]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookd"));
        cmd.args(["verify", "--secret", &secret]);
        for h in [
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "x-webhook-signature",
        ] {
            cmd.arg("--header")
                .arg(format!("{h}: {}", got.header(h).unwrap()));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(body).unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run(&got.body);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let mut tampered = got.body.clone();
    tampered.push(b' ');
    let bad = run(&tampered);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("INVALID"));
}

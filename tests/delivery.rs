//! Black-box: events in, fan-out, signed HTTPS delivery to a real rustls receiver,
//! retries, timeouts, refused connections, redirects, Retry-After, the SSRF guard,
//! idempotency, the ingest rate limit, and kill -9 in the middle of a backlog.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const CATALOG: &str = r#"
[[event_types]]
name = "customer.created"
category = "Customer"
sample = { id = "cus_123", name = "Ada Lovelace" }

[[event_types]]
name = "customer.updated"
category = "Customer"

[[event_types]]
name = "deal.created"
category = "Deal"

[[event_types]]
name = "job.invoiced"
category = "Job"
"#;

/// A daemon that may deliver to loopback and trusts the receiver's test CA, with a short
/// retry schedule.
fn daemon_for(rx: &TestReceiver, extra: &str) -> TestDaemon {
    TestDaemon::builder()
        .config_extra(CATALOG)
        .delivering_to(rx)
        .config_extra("[delivery]\nretry_schedule_secs = [0.3, 0.3, 0.3]\ntimeout_secs = 5")
        .config_extra(extra)
        .start()
}

fn publish(api: &Api, ty: &str, data: serde_json::Value) -> String {
    let r = api.post(
        "/api/events",
        json!({"type": ty, "data": data, "actor": {"id": "usr_9"}}),
    );
    r.expect_status(202);
    r.str("id").to_string()
}

fn deliveries(api: &Api, wh: &str) -> Vec<serde_json::Value> {
    api.get(&format!("/api/webhooks/{wh}/deliveries")).json["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Wait for the first delivery of a webhook to be final, and return it.
fn final_delivery(api: &Api, wh: &str, timeout: Duration) -> serde_json::Value {
    let mut last = json!(null);
    wait_until(timeout, || {
        last = deliveries(api, wh)
            .into_iter()
            .next()
            .unwrap_or(json!(null));
        matches!(last["status"].as_str(), Some("success" | "failed"))
    });
    last
}

#[test]
fn delivery_is_signed_both_ways_and_carries_the_envelope() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "");
    let (tenant, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, secret) = new_webhook(
        &api,
        &rx.url("/hooks"),
        json!(["customer.created"]),
        json!({"headers": {"X-Api-Key": "k-123"}}),
    );
    let evt = publish(
        &api,
        "customer.created",
        json!({"id": "cus_1", "name": "Ada"}),
    );
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let r = rx.last().unwrap();
    assert!(verify_standard(&secret, &r), "webhook-signature verifies");
    assert!(verify_hex(&secret, &r), "X-Webhook-Signature verifies");
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("webhook-id"), Some(evt.as_str()));
    assert_eq!(r.header("x-webhook-event"), Some("customer.created"));
    assert_eq!(r.header("x-webhook-attempt"), Some("1"));
    assert!(r.header("x-webhook-delivery").unwrap().starts_with("dlv_"));
    assert!(r.header("user-agent").unwrap().starts_with("hookd/"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-api-key"), Some("k-123"));
    let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 30);
    let body = r.json();
    assert_eq!(body["id"], evt.as_str());
    assert_eq!(body["type"], "customer.created");
    assert_eq!(body["data"]["object"]["name"], "Ada");
    assert_eq!(body["account_id"], tenant.as_str());
    assert_eq!(body["actor"]["id"], "usr_9");
    assert!(body["created"].as_str().unwrap().ends_with('Z'));

    // The log: success, the request kept without the custom header's value.
    let dl = final_delivery(&api, &wh, Duration::from_secs(5));
    assert_eq!(dl["status"], "success");
    assert_eq!(dl["attempts"][0]["status_code"], 200);
    assert_eq!(dl["request"]["headers"]["X-Api-Key"], "[redacted]");
    assert!(dl["request"]["body"].as_str().unwrap().contains("cus_1"));

    // The event view shows each delivery's status.
    let e = api.get(&format!("/api/events/{evt}"));
    assert_eq!(e.json["deliveries"][0]["status"], "success");
}

#[test]
fn data_payload_format_and_put_method_are_honoured() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (_, secret) = new_webhook(
        &api,
        &rx.url("/raw"),
        json!(["*"]),
        json!({"payload_format": "data", "method": "PUT"}),
    );
    publish(
        &api,
        "deal.created",
        json!({"id": "deal_7", "amount": 1250000}),
    );
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let r = rx.last().unwrap();
    assert_eq!(r.method, "PUT");
    assert_eq!(r.json(), json!({"id": "deal_7", "amount": 1250000}));
    assert!(verify_standard(&secret, &r) && verify_hex(&secret, &r));
}

#[test]
fn fan_out_reaches_exactly_the_subscribed_webhooks() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    new_webhook(
        &api,
        &rx.url("/exact"),
        json!(["customer.created"]),
        json!({}),
    );
    new_webhook(&api, &rx.url("/prefix"), json!(["customer.*"]), json!({}));
    new_webhook(&api, &rx.url("/all"), json!(["*"]), json!({}));
    new_webhook(&api, &rx.url("/deals"), json!(["deal.*"]), json!({}));
    let (_, other) = create_tenant(&d, "Other");
    new_webhook(
        &Api::with_key(&d, &other),
        &rx.url("/other-tenant"),
        json!(["*"]),
        json!({}),
    );

    let r = api.post(
        "/api/events",
        json!({"type": "customer.created", "data": {"id": "c1"}}),
    );
    assert_eq!(r.json["deliveries"], 3);
    let r = api.post(
        "/api/events",
        json!({"type": "customer.updated", "data": {"id": "c1"}}),
    );
    assert_eq!(r.json["deliveries"], 2);
    let r = api.post(
        "/api/events",
        json!({"type": "job.invoiced", "data": {"id": "j1"}}),
    );
    assert_eq!(r.json["deliveries"], 1);
    assert!(rx.wait_for(6, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.received_on("/exact").len(), 1);
    assert_eq!(rx.received_on("/prefix").len(), 2);
    assert_eq!(rx.received_on("/all").len(), 3);
    assert_eq!(rx.received_on("/deals").len(), 0);
    assert_eq!(rx.received_on("/other-tenant").len(), 0);
}

#[test]
fn two_failures_then_success_is_delivered_on_attempt_three_with_attempts_recorded() {
    let rx = TestReceiver::https();
    rx.push_replies(vec![
        Reply::text(500, "db down"),
        Reply::text(500, "still down"),
    ]);
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(&api, &rx.url("/flaky"), json!(["*"]), json!({}));
    let evt = publish(&api, "customer.created", json!({"id": "cus_1"}));
    let dl = final_delivery(&api, &wh, Duration::from_secs(15));
    assert_eq!(dl["status"], "success", "{dl}");
    let attempts = dl["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["status_code"], 500);
    assert_eq!(attempts[0]["response_body"], "db down");
    assert!(attempts[0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(attempts[2]["status_code"], 200);
    assert!(attempts[2]["error"].is_null());
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["attempt"], i as u64 + 1);
        assert!(a["duration_ms"].is_u64() && a["attempted_at"].is_string());
    }
    let got = rx.received();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == Some(evt.as_str())),
        "same webhook-id on every retry"
    );
    let nums: Vec<_> = got
        .iter()
        .map(|r| r.header("x-webhook-attempt").unwrap().to_string())
        .collect();
    assert_eq!(nums, ["1", "2", "3"]);
    // Retries waited ~0.3 s (±10 %).
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(250), "{gap:?}");
}

#[test]
fn out_of_retries_is_failed() {
    let rx = TestReceiver::https();
    rx.set_default(Reply::status(503));
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(
        &api,
        &rx.url("/down"),
        json!(["*"]),
        json!({"retry_schedule_secs": [0.2]}),
    );
    publish(&api, "customer.created", json!({"id": "cus_1"}));
    let dl = final_delivery(&api, &wh, Duration::from_secs(10));
    assert_eq!(dl["status"], "failed");
    assert_eq!(
        dl["attempts"].as_array().unwrap().len(),
        2,
        "1 attempt + 1 retry"
    );
    assert!(dl["next_attempt_at"].is_null());
}

#[test]
fn a_slow_receiver_times_out() {
    let rx = TestReceiver::https();
    rx.set_default(Reply::slow(Duration::from_secs(5)));
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(
        &api,
        &rx.url("/slow"),
        json!(["*"]),
        json!({"timeout_secs": 1, "retry_schedule_secs": []}),
    );
    let started = Instant::now();
    publish(&api, "customer.created", json!({"id": "cus_1"}));
    let dl = final_delivery(&api, &wh, Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(dl["status"], "failed");
    let a = &dl["attempts"][0];
    assert!(a["status_code"].is_null());
    assert!(a["error"].as_str().unwrap().contains("timeout"), "{a}");
    assert!(a["duration_ms"].as_u64().unwrap() >= 900);
}

#[test]
fn connection_refused_is_a_recorded_failure() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (wh, _) = new_webhook(
        &api,
        &format!("https://localhost:{closed}/x"),
        json!(["*"]),
        json!({"retry_schedule_secs": []}),
    );
    publish(&api, "customer.created", json!({"id": "cus_1"}));
    let dl = final_delivery(&api, &wh, Duration::from_secs(10));
    assert_eq!(dl["status"], "failed");
    let err = dl["attempts"][0]["error"].as_str().unwrap();
    assert!(err.contains("connect") && err.contains("refused"), "{err}");
    assert!(!err.contains("/x"), "no URL path in errors: {err}");
}

#[test]
fn redirects_are_not_followed() {
    let rx = TestReceiver::https();
    rx.set_path_default("/old", Reply::redirect(&rx.url("/new")));
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(
        &api,
        &rx.url("/old"),
        json!(["*"]),
        json!({"retry_schedule_secs": []}),
    );
    publish(&api, "customer.created", json!({"id": "cus_1"}));
    let dl = final_delivery(&api, &wh, Duration::from_secs(10));
    assert_eq!(dl["status"], "failed");
    assert_eq!(dl["attempts"][0]["status_code"], 302);
    assert!(dl["attempts"][0]["error"]
        .as_str()
        .unwrap()
        .contains("redirect"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.received_on("/new").len(), 0);
}

#[test]
fn retry_after_on_429_is_honoured_when_longer() {
    let rx = TestReceiver::https();
    rx.push_replies(vec![Reply::too_many_requests(2)]);
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(&api, &rx.url("/busy"), json!(["*"]), json!({}));
    publish(&api, "customer.created", json!({"id": "cus_1"}));
    assert!(rx.wait_for(2, Duration::from_secs(10)));
    let got = rx.received();
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_millis(1900),
        "waited {gap:?}, not the 0.3 s schedule"
    );
    assert_eq!(
        final_delivery(&api, &wh, Duration::from_secs(5))["status"],
        "success"
    );
}

#[test]
fn loopback_is_refused_unless_allowed_and_the_refusal_is_recorded() {
    let rx = TestReceiver::https();
    let d = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&format!(
            "[delivery]\nextra_ca_file = \"{}\"\nretry_schedule_secs = []",
            rx.ca_file().display()
        ))
        .start();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    // "localhost" resolves to 127.0.0.1: the check is on the address connected to.
    let (wh, _) = new_webhook(&api, &rx.url("/ssrf"), json!(["*"]), json!({}));
    let (wh_ip, _) = new_webhook(&api, &rx.ip_url("/ssrf-ip"), json!(["*"]), json!({}));
    publish(&api, "customer.created", json!({"id": "cus_1"}));
    for w in [wh, wh_ip] {
        let dl = final_delivery(&api, &w, Duration::from_secs(10));
        assert_eq!(dl["status"], "failed");
        let err = dl["attempts"][0]["error"].as_str().unwrap();
        assert!(err.contains("private address refused"), "{err}");
        assert!(
            !err.contains("127.0.0.1"),
            "tenants never see the address: {err}"
        );
    }
    assert_eq!(rx.count(), 0, "nothing reached the receiver");
}

#[test]
fn idempotent_resubmission_creates_no_second_delivery() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    new_webhook(&api, &rx.url("/once"), json!(["*"]), json!({}));
    let body = json!({"type": "customer.created", "data": {"id": "cus_1"}});
    let first = api.post_with_headers("/api/events", &body, &[("Idempotency-Key", "dms-42")]);
    first.expect_status(202);
    let again = api.post_with_headers("/api/events", &body, &[("Idempotency-Key", "dms-42")]);
    again.expect_status(200);
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(again.json["deliveries"], 1);
    // Another tenant may use the same key.
    let (_, other) = create_tenant(&d, "Other");
    Api::with_key(&d, &other)
        .post_with_headers("/api/events", &body, &[("Idempotency-Key", "dms-42")])
        .expect_status(202);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.count(), 1);
}

#[test]
fn bad_events_are_refused_with_their_status_and_nothing_is_stored() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "[server]\nmax_payload_bytes = 2048\n");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    new_webhook(&api, &rx.url("/x"), json!(["*"]), json!({}));
    let big = json!({"type": "customer.created", "data": {"blob": "x".repeat(4096)}});
    assert_eq!(api.post("/api/events", &big).status, 413);
    let r = api.post_raw(
        "/api/events",
        b"{\"type\": \"customer.created\", ",
        "application/json",
        &[],
    );
    assert_eq!((r.status, r.error_code()), (400, Some("invalid_json")));
    let r = api.post(
        "/api/events",
        json!({"type": "vehicle.teleported", "data": {}}),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (422, Some("unknown_event_type"))
    );
    let r = api.post(
        "/api/events",
        json!({"type": "customer.created", "data": [1, 2]}),
    );
    assert_eq!((r.status, r.error_code()), (422, Some("invalid_data")));
    let r = api.post(
        "/api/events",
        json!({"type": "webhook.disabled", "data": {}}),
    );
    assert_eq!(r.status, 422);
    let r = api.post("/api/events", json!({"type": "customer.created"}));
    assert_eq!((r.status, r.error_code()), (400, Some("missing_field")));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.count(), 0);
}

#[test]
fn ingest_over_the_tenant_limit_is_429_with_retry_after_and_stores_nothing() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "[server]\ningest_rate_limit_per_sec = 2\n");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    new_webhook(&api, &rx.url("/x"), json!(["*"]), json!({}));
    let body = json!({"type": "customer.created", "data": {"id": "c"}});
    let mut accepted = 0;
    let mut refused = None;
    for _ in 0..10 {
        let r = api.post("/api/events", &body);
        assert!(
            r.header("ratelimit-limit").is_some()
                && r.header("ratelimit-remaining").is_some()
                && r.header("ratelimit-reset").is_some()
        );
        match r.status {
            202 => accepted += 1,
            429 => refused = Some(r),
            s => panic!("unexpected {s}"),
        }
    }
    let refused = refused.expect("some were refused");
    assert_eq!(refused.error_code(), Some("rate_limited"));
    assert!(
        refused
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(
        (4..=5).contains(&accepted),
        "burst of 2 s at 2/s: {accepted}"
    );
    assert!(rx.wait_for(accepted, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.count(), accepted, "refused events were not stored");
}

#[test]
fn metrics_report_ingest_attempts_latency_and_queue() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    new_webhook(&api, &rx.url("/m"), json!(["*"]), json!({}));
    publish(&api, "customer.created", json!({"id": "c"}));
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    let m = Api::anonymous(&d).get("/metrics").text;
    for series in [
        "hookd_events_ingested_total 1",
        "hookd_delivery_attempts_total{outcome=\"success\"} 1",
        "hookd_delivery_latency_seconds_bucket",
        "hookd_queue_depth 0",
        "hookd_scheduled_retries 0",
        "hookd_webhooks{status=\"active\"} 1",
    ] {
        assert!(m.contains(series), "missing `{series}` in\n{m}");
    }
}

/// The receiver is down, 500 events are accepted, hookd is killed with SIGKILL and
/// restarted with the receiver up: every event arrives. Duplicates are possible only for
/// attempts in flight at the kill; the test counts and prints them.
#[test]
fn kill_9_with_a_backlog_loses_nothing() {
    let mut rx = TestReceiver::https();
    rx.stop();
    let mut d = daemon_for(
        &rx,
        "[delivery]\nretry_schedule_secs = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]\nbreaker_cooldown_secs = 0.5\n",
    );
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    new_webhook(&api, &rx.url("/crash"), json!(["*"]), json!({}));
    let mut ids = std::collections::HashSet::new();
    for i in 0..500 {
        let r = api.post(
            "/api/events",
            json!({"type": "customer.created", "data": {"n": i}}),
        );
        r.expect_status(202);
        ids.insert(r.str("id").to_string());
    }
    d.kill9();
    rx.start_again();
    d.restart();
    assert!(
        rx.wait_for(500, Duration::from_secs(60)),
        "only {} of 500 arrived",
        rx.count()
    );
    std::thread::sleep(Duration::from_millis(500));
    let got = rx.received();
    let mut seen = std::collections::HashMap::new();
    for r in &got {
        *seen
            .entry(r.header("webhook-id").unwrap().to_string())
            .or_insert(0) += 1;
    }
    let missing: Vec<_> = ids.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!("kill -9 with 500 accepted: 0 lost, {duplicates} duplicates");
    assert!(
        duplicates <= 256,
        "duplicates only for attempts in flight at the kill"
    );
}

#[test]
fn http2_is_negotiated_and_a_huge_response_costs_only_the_capture_limit() {
    let rx = TestReceiver::https();
    rx.set_default(Reply::text(200, &"y".repeat(5 * 1024 * 1024)));
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(&api, &rx.url("/big"), json!(["*"]), json!({}));
    publish(&api, "customer.created", json!({"id": "cus_1"}));
    let dl = final_delivery(&api, &wh, Duration::from_secs(10));
    assert_eq!(dl["status"], "success");
    assert_eq!(
        dl["attempts"][0]["response_body"].as_str().unwrap().len(),
        10240
    );
    assert_eq!(rx.last().unwrap().version, http::Version::HTTP_2);
}

#[test]
fn sigterm_lets_the_attempt_in_flight_finish_then_exits_zero() {
    let rx = TestReceiver::https();
    rx.set_default(Reply::ok().delay(Duration::from_millis(1500)));
    let mut d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(&api, &rx.url("/slowish"), json!(["*"]), json!({}));
    publish(&api, "customer.created", json!({"id": "cus_1"}));
    assert!(
        rx.wait_for(1, Duration::from_secs(10)),
        "the attempt started"
    );
    let status = d.sigterm();
    assert!(status.success(), "{status:?}\n{}", d.output());
    d.restart();
    let api = api.rebase(d.base_url());
    let dl = final_delivery(&api, &wh, Duration::from_secs(5));
    assert_eq!(dl["status"], "success", "recorded before exit: {dl}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.count(), 1, "not sent again after the restart");
}

#[test]
fn systemd_notify_socket_receives_ready() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut d = TestDaemon::builder()
        .env("NOTIFY_SOCKET", sock_path.to_str().unwrap())
        .start();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.contains("READY=1"), "{msg}");
    let status = d.sigterm();
    assert!(status.success(), "{status:?}\n{}", d.output());
}

#[test]
fn events_older_than_retention_are_purged_but_pending_ones_are_kept() {
    let rx = TestReceiver::https();
    // 0.00003 days = 2.6 s; the sweep runs every second.
    let d = daemon_for(&rx, "[storage]\nretention_days = 0.00003\n");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (_, _) = new_webhook(&api, &rx.url("/ok"), json!(["customer.created"]), json!({}));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_, _) = new_webhook(
        &api,
        &format!("https://localhost:{closed}/down"),
        json!(["deal.created"]),
        json!({"retry_schedule_secs": [30]}),
    );
    let delivered = publish(&api, "customer.created", json!({"id": "cus_1"}));
    let pending = publish(&api, "deal.created", json!({"id": "deal_1"}));
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    assert!(wait_until(Duration::from_secs(15), || api
        .get(&format!("/api/events/{delivered}"))
        .status
        == 404));
    let p = api.get(&format!("/api/events/{pending}"));
    p.expect_status(200);
    assert_eq!(p.json["deliveries"][0]["status"], "retrying");
}

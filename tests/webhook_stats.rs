//! `GET /api/webhooks/{id}/stats` against the running daemon: exact counts by delivery
//! status after a scripted mix of successes, failures, a retry waiting and one in flight;
//! attempt percentiles; the figures survive a restart; tenant scope.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn daemon(rx: &TestReceiver) -> TestDaemon {
    TestDaemon::builder()
        .config_extra(JOB_CATALOG)
        .delivering_to(rx)
        .config_extra("[delivery]\nfailing_after_consecutive_failures = 50\n")
        .start()
}

fn publish(api: &Api, n: u64) {
    api.post(
        "/api/events",
        json!({"type": "job.created", "data": {"n": n}}),
    )
    .expect_status(202);
}

fn statuses(api: &Api, wh: &str) -> Vec<String> {
    api.get(&format!("/api/webhooks/{wh}/deliveries?limit=100"))
        .json["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| d["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn count(api: &Api, wh: &str, status: &str) -> usize {
    statuses(api, wh).iter().filter(|s| *s == status).count()
}

fn stats(api: &Api, wh: &str) -> Value {
    let r = api.get(&format!("/api/webhooks/{wh}/stats"));
    r.expect_status(200);
    r.json
}

fn counts(window: &Value) -> (u64, u64, u64, u64) {
    let c = &window["counts"];
    let n = |k: &str| c[k].as_u64().unwrap_or(u64::MAX);
    (n("success"), n("failed"), n("retrying"), n("pending"))
}

#[test]
fn stats_count_a_mix_of_successes_failures_a_waiting_retry_and_one_in_flight() {
    let rx = TestReceiver::https();
    let mut d = daemon(&rx);
    let (tenant, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(
        &api,
        &rx.url("/mix"),
        json!(["job.*"]),
        json!({"retry_schedule_secs": [0.2]}),
    );
    let empty = stats(&api, &wh);
    assert_eq!(counts(&empty["last_24h"]), (0, 0, 0, 0));
    assert_eq!(empty["last_24h"]["success_rate"], Value::Null);
    assert_eq!(empty["last_24h"]["p50_ms"], Value::Null);

    // Three successes.
    for n in 1..=3 {
        publish(&api, n);
    }
    assert!(wait_until(Duration::from_secs(10), || count(
        &api, &wh, "success"
    ) == 3));
    // Two failures, each after two attempts.
    rx.set_path_default("/mix", Reply::status(500));
    for n in 4..=5 {
        publish(&api, n);
    }
    assert!(wait_until(Duration::from_secs(10), || count(
        &api, &wh, "failed"
    ) == 2));
    // One that failed once and waits an hour for its retry.
    api.patch(
        &format!("/api/webhooks/{wh}"),
        json!({"retry_schedule_secs": [3600]}),
    )
    .expect_status(200);
    publish(&api, 6);
    assert!(wait_until(Duration::from_secs(10), || count(
        &api, &wh, "retrying"
    ) == 1));
    // One in flight (the receiver holds its answer): still pending.
    rx.set_path_default("/mix", Reply::slow(Duration::from_millis(2500)));
    publish(&api, 7);
    assert!(rx.wait_for_on("/mix", 3 + 4 + 1 + 1, Duration::from_secs(10)));

    let s = stats(&api, &wh);
    assert_eq!(s["webhook_id"], wh.as_str());
    for window in ["last_24h", "last_7d"] {
        let w = &s[window];
        assert_eq!(counts(w), (3, 2, 1, 1), "{window}: {w}");
        assert_eq!(w["total"], 7);
        assert_eq!(w["success_rate"], 0.6, "3 of 5 finished deliveries");
        assert_eq!(w["attempts"], 8, "3 + 2×2 + 1 made, one in flight");
        assert_eq!(w["attempt_success_rate"], 0.375);
        assert!(w["p50_ms"].as_u64().is_some_and(|ms| ms < 1000), "{w}");
    }

    // The slow one succeeds: pending → success, its 2.5 s is the 95th percentile.
    assert!(wait_until(Duration::from_secs(10), || count(
        &api, &wh, "success"
    ) == 4));
    let s = stats(&api, &wh);
    let w = &s["last_24h"];
    assert_eq!(counts(w), (4, 2, 1, 0), "{w}");
    assert_eq!(w["attempts"], 9);
    let p95 = w["p95_ms"].as_u64().unwrap_or(0);
    assert!((2000..=3100).contains(&p95), "p95 {p95} ms");

    // Kept across a restart (flushed at shutdown).
    d.restart();
    let api = api.rebase(d.base_url());
    let again = stats(&api, &wh);
    assert_eq!(again["last_24h"]["counts"], s["last_24h"]["counts"]);
    assert_eq!(again["last_7d"]["attempts"], 9);

    // Another tenant's key cannot see it; the operator can, naming the tenant.
    let (_, other) = create_tenant(&d, "Other");
    Api::with_key(&d, &other)
        .get(&format!("/api/webhooks/{wh}/stats"))
        .expect_status(404);
    Api::as_operator(&d)
        .tenant(&tenant)
        .get(&format!("/api/webhooks/{wh}/stats"))
        .expect_status(200);
    api.get("/api/webhooks/wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA/stats")
        .expect_status(404);
}

#[test]
fn test_sends_are_logged_with_trigger_test_and_change_neither_stats_nor_health() {
    let rx = TestReceiver::https();
    rx.set_path_default("/t", Reply::text(500, "down for maintenance"));
    let d = TestDaemon::builder()
        .config_extra(JOB_CATALOG)
        .delivering_to(&rx)
        .config_extra("[delivery]\nfailing_after_consecutive_failures = 2\n")
        .start();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(&api, &rx.url("/t"), json!(["job.*"]), json!({}));

    let mut sent = Vec::new();
    for _ in 0..3 {
        let r = api.post(&format!("/api/webhooks/{wh}/test"), json!({}));
        r.expect_status(200);
        assert_eq!(r.json["success"], false);
        assert_eq!(r.json["status_code"], 500);
        sent.push(r.json.clone());
    }
    // Three failed sends in a row, and the webhook is as healthy as before.
    let w = api.get(&format!("/api/webhooks/{wh}")).json;
    assert_eq!(
        (w["status"].as_str(), w["consecutive_failures"].as_u64()),
        (Some("active"), Some(0))
    );
    let s = stats(&api, &wh);
    assert_eq!(counts(&s["last_24h"]), (0, 0, 0, 0));
    assert_eq!(s["last_7d"]["attempts"], 0);

    // In the log, newest first, each as sent: request, attempt, trigger.
    let log = api.get(&format!("/api/webhooks/{wh}/deliveries")).json;
    let data = log["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 3);
    let newest = &data[0];
    assert_eq!(newest["id"], sent[2]["delivery_id"]);
    assert_eq!(newest["event_id"], sent[2]["event_id"]);
    assert_eq!(newest["trigger"], "test");
    assert_eq!(newest["status"], "failed");
    assert_eq!(newest["next_attempt_at"], Value::Null);
    assert_eq!(newest["attempts"][0]["status_code"], 500);
    assert_eq!(
        newest["attempts"][0]["response_body"],
        "down for maintenance"
    );
    let got = rx.received_on("/t");
    assert_eq!(
        newest["request"]["headers"]["webhook-id"].as_str(),
        got[2].header("webhook-id")
    );
    assert_eq!(
        newest["request"]["headers"]["x-webhook-delivery"].as_str(),
        got[2].header("x-webhook-delivery")
    );
    assert!(newest["request"]["body"]
        .as_str()
        .is_some_and(|b| b.contains("job.created")));
    // Its event is readable like any.
    let ev = api.get(&format!(
        "/api/events/{}",
        sent[2]["event_id"].as_str().unwrap_or_default()
    ));
    ev.expect_status(200);
    // A test send is not retried.
    let r = api.post(
        &format!(
            "/api/webhooks/{wh}/deliveries/{}/retry",
            sent[0]["delivery_id"].as_str().unwrap_or_default()
        ),
        json!({}),
    );
    r.expect_status(409);
    assert_eq!(r.error_code(), Some("test_delivery"));

    // A real delivery says trigger event, and counts.
    rx.set_path_default("/t", Reply::ok());
    publish(&api, 1);
    assert!(wait_until(Duration::from_secs(10), || count(
        &api, &wh, "success"
    ) == 1));
    let log = api
        .get(&format!("/api/webhooks/{wh}/deliveries?status=success"))
        .json;
    assert_eq!(log["data"][0]["trigger"], "event");
    assert_eq!(counts(&stats(&api, &wh)["last_24h"]), (1, 0, 0, 0));
    // A replay of everything replays the event, not the test sends.
    let r = api.post(
        &format!("/api/webhooks/{wh}/replay"),
        json!({"status": "all"}),
    );
    r.expect_status(202);
    assert_eq!(r.json["count"], 1);
    assert!(rx.wait_for_on("/t", 3 + 2, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.received_on("/t").len(), 5);
}

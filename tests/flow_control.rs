//! Black-box: per-webhook rate limits, isolation of a slow webhook, ordered
//! delivery (with a failure, and across a restart), the circuit breaker, 410 Gone and
//! auto-disable with the `webhook.disabled` operational event.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A daemon for `job.*` with a short retry schedule, plus `extra` config.
fn daemon_for(rx: &TestReceiver, extra: &str) -> TestDaemon {
    job_daemon(rx)
        .config_extra("[delivery]\nretry_schedule_secs = [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]")
        .config_extra(extra)
        .start()
}

#[test]
fn rate_limit_spreads_deliveries_without_dropping_or_failing_any() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let wh = job_webhook(&api, &rx.url("/limited"), json!({"rate_limit_per_sec": 20}));
    publish_jobs(&api, 100);
    assert!(
        rx.wait_for(100, Duration::from_secs(30)),
        "got {}",
        rx.count()
    );
    let got = rx.received();
    let spread = got.last().unwrap().at.duration_since(got[0].at);
    assert!(
        spread >= Duration::from_millis(4500),
        "100 at 20/s took only {spread:?}"
    );
    // No more than ~20 in any one-second window.
    for (i, r) in got.iter().enumerate() {
        let in_window = got[i..]
            .iter()
            .take_while(|s| s.at.duration_since(r.at) < Duration::from_secs(1))
            .count();
        assert!(in_window <= 22, "{in_window} within one second");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.count(), 100, "none dropped, none duplicated");
    let dls = all_deliveries(&api, &wh, "");
    assert_eq!(dls.len(), 100);
    assert!(
        dls.iter()
            .all(|d| d["status"] == "success" && d["attempt_count"] == 1),
        "no failed attempts recorded"
    );
}

#[test]
fn a_webhook_that_times_out_does_not_slow_another() {
    let rx = TestReceiver::https();
    rx.set_path_default("/slow", Reply::slow(Duration::from_secs(10)));
    let d = daemon_for(
        &rx,
        "[delivery]\nmax_in_flight_per_webhook = 4\nworkers = 16\n",
    );
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    job_webhook(&api, &rx.url("/slow"), json!({"timeout_secs": 3}));
    job_webhook(&api, &rx.url("/fast"), json!({}));
    let started = Instant::now();
    publish_jobs(&api, 40);
    assert!(rx.wait_for_on("/fast", 40, Duration::from_secs(10)));
    let fast = started.elapsed();
    let slow_started = rx.received_on("/slow").len();
    eprintln!("fast webhook: 40 delivered in {fast:?}; slow webhook: {slow_started} attempts started meanwhile (bound 4)");
    assert!(
        fast < Duration::from_secs(6),
        "the fast webhook took {fast:?}"
    );
    assert!(
        slow_started <= 4,
        "the slow webhook is bounded to 4 in flight: {slow_started}"
    );
}

#[test]
fn ordered_webhook_delivers_in_event_order_through_a_failure() {
    let rx = TestReceiver::https();
    // The third request fails; everything behind it must wait for its retry.
    rx.push_path_replies(
        "/ordered",
        vec![Reply::ok(), Reply::ok(), Reply::status(500)],
    );
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let wh = job_webhook(&api, &rx.url("/ordered"), json!({"ordered": true}));
    publish_jobs(&api, 20);
    assert!(
        rx.wait_for_on("/ordered", 21, Duration::from_secs(30)),
        "got {}",
        rx.count()
    );
    let seq = job_sequence(&rx, "/ordered");
    let mut expected: Vec<u64> = vec![1, 2, 3];
    expected.extend(3..=20);
    assert_eq!(seq, expected, "strict order, event 3 retried before 4");
    assert!(wait_until(Duration::from_secs(5), || {
        all_deliveries(&api, &wh, "")
            .iter()
            .all(|d| d["status"] == "success")
    }));
}

#[test]
fn ordered_backlog_keeps_its_order_across_a_restart() {
    let rx = TestReceiver::https();
    rx.set_default(Reply::ok().delay(Duration::from_millis(60)));
    let mut d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    job_webhook(&api, &rx.url("/ordered"), json!({"ordered": true}));
    publish_jobs(&api, 40);
    assert!(rx.wait_for(8, Duration::from_secs(20)));
    d.kill9();
    d.restart();
    assert!(
        rx.wait_for(40, Duration::from_secs(30)),
        "got {}",
        rx.count()
    );
    std::thread::sleep(Duration::from_millis(300));
    let seq = job_sequence(&rx, "/ordered");
    // At most the one attempt in flight at the kill is repeated; order is never broken.
    let mut firsts = Vec::new();
    for n in &seq {
        if !firsts.contains(n) {
            firsts.push(*n);
        }
    }
    assert_eq!(
        firsts,
        (1..=40).collect::<Vec<_>>(),
        "arrival order {seq:?}"
    );
    assert!(seq.len() <= 41, "{seq:?}");
    assert!(
        seq.windows(2).all(|w| w[1] >= w[0]),
        "never goes backwards: {seq:?}"
    );
}

#[test]
fn breaker_opens_after_n_failures_holds_the_queue_and_probes_one_at_a_time() {
    let rx = TestReceiver::https();
    rx.set_default(Reply::status(500));
    let d = daemon_for(
        &rx,
        "[server]\nmetrics_per_webhook = true\n[delivery]\nfailing_after_consecutive_failures = 3\nbreaker_cooldown_secs = 1.5\nmax_in_flight_per_webhook = 1\nretry_schedule_secs = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]\n",
    );
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let wh = job_webhook(&api, &rx.url("/broken"), json!({}));
    publish_jobs(&api, 10);
    assert!(rx.wait_for(3, Duration::from_secs(10)));
    // Open: the webhook is failing, nothing is attempted during the cool-down.
    assert!(wait_until(Duration::from_secs(2), || api
        .get(&format!("/api/webhooks/{wh}"))
        .json["status"]
        == "failing"));
    let w = api.get(&format!("/api/webhooks/{wh}")).json;
    assert_eq!(w["breaker"]["state"], "open");
    let m = Api::anonymous(&d).get("/metrics").text;
    assert!(
        m.contains(&format!(
            "hookd_webhook_breaker_state{{webhook_id=\"{wh}\"}} 1"
        )),
        "{m}"
    );
    assert!(m.contains("status=\"failing\"} 1"), "{m}");
    assert!(w["breaker"]["next_probe_at"].is_string());
    assert!(w["consecutive_failures"].as_u64().unwrap() >= 3);
    let at_open = rx.count();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(rx.count(), at_open, "no attempts while the breaker is open");
    // Half-open: one probe, which fails: open again, for longer (3 s).
    assert!(rx.wait_for(at_open + 1, Duration::from_secs(3)));
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        rx.count(),
        at_open + 1,
        "one probe at a time, then a longer cool-down"
    );
    // The receiver recovers: the next probe succeeds, the breaker closes, the queue drains.
    rx.set_default(Reply::ok());
    assert!(wait_until(Duration::from_secs(15), || {
        all_deliveries(&api, &wh, "")
            .iter()
            .all(|d| d["status"] == "success")
    }));
    let w = api.get(&format!("/api/webhooks/{wh}")).json;
    assert_eq!(w["status"], "active");
    assert_eq!(w["breaker"]["state"], "closed");
    assert_eq!(w["consecutive_failures"], 0);
    // Held deliveries burned no attempts: 10 deliveries, 3 + 2 failed attempts in all.
    let attempts: u64 = all_deliveries(&api, &wh, "")
        .iter()
        .map(|d| d["attempt_count"].as_u64().unwrap())
        .sum();
    assert!(attempts <= 10 + 5, "attempts {attempts}");
    let m = Api::anonymous(&d).get("/metrics").text;
    assert!(m.contains("hookd_breakers_open 0"), "{m}");
    assert!(
        m.contains(&format!(
            "hookd_webhook_consecutive_failures{{webhook_id=\"{wh}\"}} 0"
        )),
        "{m}"
    );
}

#[test]
fn gone_disables_at_once_and_raises_webhook_disabled_to_other_webhooks() {
    let rx = TestReceiver::https();
    rx.set_path_default("/gone", Reply::gone());
    let d = daemon_for(&rx, "");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let gone = job_webhook(&api, &rx.url("/gone"), json!({}));
    let watcher = api.post(
        "/api/webhooks",
        json!({"url": rx.url("/ops"), "events": ["webhook.disabled"], "verify": false}),
    );
    watcher.expect_status(201);
    let watcher_secret = watcher.str("secret").to_string();
    publish_jobs(&api, 1);
    assert!(rx.wait_for_on("/ops", 1, Duration::from_secs(10)));
    let ev = rx.received_on("/ops")[0].clone();
    assert!(verify_standard(&watcher_secret, &ev));
    let body = ev.json();
    assert_eq!(body["type"], "webhook.disabled");
    assert_eq!(body["data"]["object"]["webhook_id"], gone.as_str());
    assert!(body["data"]["object"]["reason"]
        .as_str()
        .unwrap()
        .contains("410"));
    assert!(body["data"]["object"]["at"].is_string());
    let w = api.get(&format!("/api/webhooks/{gone}")).json;
    assert_eq!(w["status"], "disabled");
    // Later events are not delivered to it, and it is not retried.
    publish_jobs(&api, 2);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(rx.received_on("/gone").len(), 1);
}

#[test]
fn failing_too_long_with_a_delivery_out_of_retries_disables_the_webhook() {
    let rx = TestReceiver::https();
    rx.set_default(Reply::status(500));
    let d = daemon_for(
        &rx,
        "[delivery]\nfailing_after_consecutive_failures = 2\nbreaker_cooldown_secs = 0.2\nbreaker_max_cooldown_secs = 0.2\ndisable_after_failing_secs = 0.5\nretry_schedule_secs = [0.2, 0.2, 0.2, 0.2]\nmax_in_flight_per_webhook = 1\n",
    );
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let wh = job_webhook(&api, &rx.url("/dead"), json!({}));
    let ops = api.post(
        "/api/webhooks",
        json!({"url": rx.url("/ops"), "events": ["webhook.*"], "verify": false}),
    );
    ops.expect_status(201);
    rx.set_path_default("/ops", Reply::ok());
    publish_jobs(&api, 3);
    assert!(wait_until(Duration::from_secs(20), || api
        .get(&format!("/api/webhooks/{wh}"))
        .json["status"]
        == "disabled"));
    let w = api.get(&format!("/api/webhooks/{wh}")).json;
    assert!(w["disabled_reason"].as_str().unwrap().contains("failing"));
    assert!(rx.wait_for_on("/ops", 1, Duration::from_secs(10)));
    // Its remaining deliveries stop being attempted and are kept (failed, replayable).
    std::thread::sleep(Duration::from_millis(600));
    let n = rx.received_on("/dead").len();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(rx.received_on("/dead").len(), n);
    assert_eq!(all_deliveries(&api, &wh, "").len(), 3);
    assert!(wait_until(Duration::from_secs(5), || all_deliveries(
        &api, &wh, ""
    )
    .iter()
    .all(|d| d["status"] == "failed")));
}

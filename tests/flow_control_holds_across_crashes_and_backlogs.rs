//! More black-box flow control: the circuit breaker's state survives `kill -9`,
//! an ordered webhook whose head runs out of retries moves on in order, and the scheduler's
//! memory cap (`delivery.max_loaded_deliveries`) does not lose a backlog ten times its size.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::json;

fn daemon_for(rx: &TestReceiver, extra: &str) -> TestDaemon {
    job_daemon(rx).config_extra(extra).start()
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn parse_ms(ts: &str) -> u64 {
    let t: jiff::Timestamp = ts
        .parse()
        .unwrap_or_else(|e| panic!("not RFC 3339: {ts}: {e}"));
    t.as_millisecond() as u64
}

#[test]
fn breaker_open_state_and_probe_time_survive_kill9_then_the_probe_closes_it() {
    let mut rx = TestReceiver::https();
    rx.set_default(Reply::status(500));
    let mut d = daemon_for(
        &rx,
        "[delivery]\nfailing_after_consecutive_failures = 3\nbreaker_cooldown_secs = 6\nbreaker_max_cooldown_secs = 60\nmax_in_flight_per_webhook = 1\nretry_schedule_secs = [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]\n",
    );
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let wh = job_webhook(&api, &rx.url("/flaky"), json!({}));
    publish_jobs(&api, 3);

    // Three failed attempts in a row: failing, breaker open for 6 s.
    assert!(
        rx.wait_for(3, Duration::from_secs(10)),
        "got {}",
        rx.count()
    );
    assert!(
        wait_until(Duration::from_secs(3), || {
            let w = api.get(&format!("/api/webhooks/{wh}")).json;
            w["status"] == "failing" && w["breaker"]["state"] == "open"
        }),
        "{}",
        api.get(&format!("/api/webhooks/{wh}")).text
    );
    let before = api.get(&format!("/api/webhooks/{wh}")).json;
    let probe_at_str = before["breaker"]["next_probe_at"]
        .as_str()
        .expect("next_probe_at while open")
        .to_string();
    let probe_at = parse_ms(&probe_at_str);
    assert!(
        probe_at > wall_ms() + 3000,
        "a 6 s cool-down leaves time for the crash and restart: next_probe_at {probe_at_str}"
    );
    // Health is written with the next group commit (not waited for): give it that moment.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.count(), 3, "nothing attempted while open");

    d.kill9();
    // The receiver recovers while hookd is down.
    rx.set_default(Reply::ok());
    d.restart();
    let api = api.rebase(d.base_url());

    // Right after the restart: still failing, still open, same probe time.
    let after = api.get(&format!("/api/webhooks/{wh}")).json;
    assert!(
        wall_ms() + 1000 < probe_at,
        "the restart took too long for the check to be meaningful"
    );
    assert_eq!(after["status"], "failing", "{after}");
    assert_eq!(after["breaker"]["state"], "open", "{after}");
    assert_eq!(
        after["breaker"]["next_probe_at"].as_str(),
        Some(probe_at_str.as_str()),
        "{after}"
    );
    assert!(
        after["consecutive_failures"].as_u64().unwrap() >= 3,
        "{after}"
    );

    // Nothing reaches the receiver before next_probe_at (the queue is held across the crash).
    while wall_ms() + 100 < probe_at {
        assert_eq!(
            rx.count(),
            3,
            "an attempt arrived {} ms before next_probe_at after the restart",
            probe_at.saturating_sub(wall_ms())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Map arrival instants to wall-clock ms.
    let (ref_instant, ref_wall) = (Instant::now(), wall_ms());
    assert!(
        rx.wait_for(4, Duration::from_secs(5)),
        "no probe after next_probe_at: {} requests\n{}",
        rx.count(),
        d.output()
    );
    let probe = rx.received()[3].clone();
    let probe_wall = if probe.at >= ref_instant {
        ref_wall + probe.at.duration_since(ref_instant).as_millis() as u64
    } else {
        ref_wall - ref_instant.duration_since(probe.at).as_millis() as u64
    };
    assert!(
        probe_wall + 20 >= probe_at,
        "the probe came {} ms before next_probe_at",
        probe_at - probe_wall
    );

    // The probe succeeded: active, breaker closed, the held queue drains.
    assert!(
        wait_until(Duration::from_secs(10), || {
            all_deliveries(&api, &wh, "")
                .iter()
                .all(|x| x["status"] == "success")
        }),
        "{:?}",
        all_deliveries(&api, &wh, "")
    );
    let w = api.get(&format!("/api/webhooks/{wh}")).json;
    assert_eq!(w["status"], "active", "{w}");
    assert_eq!(w["breaker"]["state"], "closed", "{w}");
    assert_eq!(w["consecutive_failures"], 0, "{w}");
    let ids: HashSet<String> = rx
        .received()
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 3, "every event delivered");
    rx.stop();
}

#[test]
fn ordered_head_out_of_retries_is_failed_and_the_queue_moves_on_in_order() {
    let rx = TestReceiver::https();
    // Ordered means one request at a time in event order, so the 3rd and 4th requests are
    // event #3 and its one retry (if order broke, the sequence check below says so).
    rx.push_path_replies(
        "/ordered",
        vec![
            Reply::ok(),
            Reply::ok(),
            Reply::status(500),
            Reply::status(500),
        ],
    );
    // The global schedule is long: only the webhook's own [0.2] lets this finish in time.
    let d = daemon_for(&rx, "[delivery]\nretry_schedule_secs = [30, 30]\n");
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let wh = job_webhook(
        &api,
        &rx.url("/ordered"),
        json!({"ordered": true, "retry_schedule_secs": [0.2]}),
    );
    let events = publish_jobs(&api, 6);

    assert!(
        rx.wait_for_on("/ordered", 7, Duration::from_secs(15)),
        "got {:?}",
        job_sequence(&rx, "/ordered")
    );
    std::thread::sleep(Duration::from_millis(800));
    let seq = job_sequence(&rx, "/ordered");
    assert_eq!(
        seq,
        vec![1, 2, 3, 3, 4, 5, 6],
        "#3 tried twice between 2 and 4, nothing else repeated"
    );
    let got = rx.received_on("/ordered");
    assert_eq!(got[2].header("x-webhook-attempt"), Some("1"));
    assert_eq!(got[3].header("x-webhook-attempt"), Some("2"));
    let gap = got[3].at.duration_since(got[2].at);
    assert!(
        gap >= Duration::from_millis(150),
        "the retry waited for the webhook's 0.2 s delay: {gap:?}"
    );
    // The successes, in order.
    let ok: Vec<u64> = seq
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2 && *i != 3)
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(ok, vec![1, 2, 4, 5, 6]);

    let failed = all_deliveries(&api, &wh, "&status=failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["event_id"], events[2].as_str());
    assert_eq!(failed[0]["attempt_count"], 2);
    assert!(wait_until(Duration::from_secs(5), || {
        all_deliveries(&api, &wh, "&status=success").len() == 5
    }));
}

#[test]
fn a_backlog_ten_times_the_memory_cap_is_delivered_completely_after_the_receiver_returns() {
    let mut rx = TestReceiver::https();
    let url = rx.url("/cap");
    // Nothing listens on the port while the backlog builds up.
    rx.stop();
    let retries = vec!["1"; 30].join(", ");
    let d = daemon_for(
        &rx,
        &format!(
            "[delivery]\nmax_loaded_deliveries = 100\nbreaker_cooldown_secs = 1\nbreaker_max_cooldown_secs = 1\nretry_schedule_secs = [{retries}]\ndefault_rate_limit_per_sec = 1000\n"
        ),
    );
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let wh = job_webhook(&api, &url, json!({}));
    let events = publish_jobs(&api, 1000);
    assert_eq!(events.iter().collect::<HashSet<_>>().len(), 1000);
    // While down: the webhook fails and its breaker opens; nothing is lost.
    assert!(
        wait_until(Duration::from_secs(10), || api
            .get(&format!("/api/webhooks/{wh}"))
            .json["status"]
            == "failing"),
        "{}",
        api.get(&format!("/api/webhooks/{wh}")).text
    );

    let up = Instant::now();
    rx.start_again();
    let deadline = Instant::now() + Duration::from_secs(60);
    let distinct = |rx: &TestReceiver| -> HashSet<String> {
        rx.received()
            .iter()
            .filter_map(|r| r.header("webhook-id").map(str::to_string))
            .collect()
    };
    while distinct(&rx).len() < 1000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let ids = distinct(&rx);
    let missing: Vec<&String> = events.iter().filter(|e| !ids.contains(*e)).collect();
    assert!(
        missing.is_empty(),
        "{} of 1000 events never arrived within 60 s (first: {:?}); webhook: {}\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        api.get(&format!("/api/webhooks/{wh}")).text,
        d.output()
    );
    eprintln!(
        "1000 distinct deliveries {:?} after the receiver came back ({} requests)",
        up.elapsed(),
        rx.count()
    );
    assert!(wait_until(Duration::from_secs(10), || {
        all_deliveries(&api, &wh, "&status=success").len() == 1000
    }));
    let w = api.get(&format!("/api/webhooks/{wh}")).json;
    assert_eq!(w["status"], "active", "{w}");
    assert_eq!(w["breaker"]["state"], "closed", "{w}");
}

//! Actions on a webhook: secret rotation with a grace period, `/test`, retrying one
//! delivery, and replaying a window (including events never delivered while disabled).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const CATALOG: &str = r#"
[[event_types]]
name = "vehicle.sold"
category = "Vehicle"
description = "A vehicle was sold"
sample = { id = "veh_42", vin = "WVWZZZ1JZXW000001", price = { amount = 1899000, currency = "GBP" } }
"#;

fn setup(rx: &TestReceiver) -> (TestDaemon, Api) {
    let d = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&format!(
            "[delivery]\nallowed_networks = [\"127.0.0.0/8\"]\nextra_ca_file = \"{}\"\nretry_schedule_secs = []\ntimeout_secs = 2",
            rx.ca_file().display()
        ))
        .start();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    (d, api)
}

fn webhook(api: &Api, url: &str) -> (String, String) {
    let r = api.post(
        "/api/webhooks",
        json!({"url": url, "events": ["vehicle.*"], "verify": false}),
    );
    r.expect_status(201);
    (r.str("id").to_string(), r.str("secret").to_string())
}

fn publish(api: &Api) -> String {
    let r = api.post(
        "/api/events",
        json!({"type": "vehicle.sold", "data": {"id": "veh_1"}}),
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

#[test]
fn rotated_secret_signs_beside_the_old_one_during_the_grace_period() {
    let rx = TestReceiver::https();
    let (_d, api) = setup(&rx);
    let (wh, old) = webhook(&api, &rx.url("/r"));
    let r = api.post(
        &format!("/api/webhooks/{wh}/secret/rotate"),
        json!({"grace_secs": 3600}),
    );
    r.expect_status(200);
    let new = r.str("secret").to_string();
    assert!(new.starts_with("whsec_") && new != old);
    assert_eq!(
        api.get(&format!("/api/webhooks/{wh}/secret")).json["secret"],
        new.as_str()
    );
    publish(&api);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let got = rx.last().unwrap();
    assert_eq!(
        got.header("webhook-signature").unwrap().split(' ').count(),
        2
    );
    assert!(
        verify_standard(&new, &got) && verify_standard(&old, &got),
        "both verify during grace"
    );
    assert!(verify_hex(&new, &got));
    // Rotated without grace, the replaced secret stops at once (the first one is still in
    // its own hour of grace).
    let r = api.post(
        &format!("/api/webhooks/{wh}/secret/rotate"),
        json!({"grace_secs": 0}),
    );
    let newer = r.str("secret").to_string();
    publish(&api);
    assert!(rx.wait_for(2, Duration::from_secs(10)));
    let got = rx.last().unwrap();
    assert!(verify_standard(&newer, &got));
    assert!(!verify_standard(&new, &got));
    assert!(verify_standard(&old, &got));
    assert_eq!(
        api.post(
            &format!("/api/webhooks/{wh}/secret/rotate"),
            json!({"grace_secs": -1})
        )
        .status,
        422
    );
}

#[test]
fn test_sends_the_catalog_sample_and_reports_the_attempt() {
    let rx = TestReceiver::https();
    let (_d, api) = setup(&rx);
    let (wh, secret) = webhook(&api, &rx.url("/t"));
    let r = api.post(&format!("/api/webhooks/{wh}/test"), json!({}));
    r.expect_status(200);
    assert_eq!(r.json["success"], true);
    assert_eq!(r.json["status_code"], 200);
    assert!(r.json["duration_ms"].is_u64());
    let got = rx.last().unwrap();
    assert!(verify_standard(&secret, &got));
    assert_eq!(got.json()["data"]["object"]["vin"], "WVWZZZ1JZXW000001");
    assert_eq!(got.header("x-webhook-event"), Some("vehicle.sold"));
    // Logged as a delivery marked as a test send.
    let log = deliveries(&api, &wh);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["trigger"], "test");
    assert_eq!(log[0]["id"], r.json["delivery_id"]);

    // A failing receiver: still 200, `success` says it, within timeout + 1 s.
    rx.set_default(Reply::slow(Duration::from_secs(10)));
    let started = Instant::now();
    let r = api.post(
        &format!("/api/webhooks/{wh}/test"),
        json!({"event_type": "vehicle.sold"}),
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    r.expect_status(200);
    assert_eq!(r.json["success"], false);
    assert!(r.json["error"].as_str().unwrap().contains("timeout"));
    let r = api.post(
        &format!("/api/webhooks/{wh}/test"),
        json!({"event_type": "nope.nope"}),
    );
    assert_eq!(r.status, 422);
}

#[test]
fn retry_of_a_failed_delivery_sends_it_again() {
    let rx = TestReceiver::https();
    rx.push_replies(vec![Reply::status(500)]);
    let (_d, api) = setup(&rx);
    let (wh, _) = webhook(&api, &rx.url("/x"));
    publish(&api);
    assert!(wait_until(Duration::from_secs(10), || deliveries(
        &api, &wh
    )
    .first()
    .is_some_and(|d| d["status"] == "failed")));
    let dlv = deliveries(&api, &wh)[0]["id"].as_str().unwrap().to_string();
    let r = api.post(
        &format!("/api/webhooks/{wh}/deliveries/{dlv}/retry"),
        json!({}),
    );
    r.expect_status(202);
    assert!(wait_until(Duration::from_secs(10), || deliveries(
        &api, &wh
    )[0]["status"]
        == "success"));
    let one = api.get(&format!("/api/webhooks/{wh}/deliveries/{dlv}"));
    assert_eq!(one.json["attempts"].as_array().unwrap().len(), 2);
    // A success is replayed.
    api.post(
        &format!("/api/webhooks/{wh}/deliveries/{dlv}/retry"),
        json!({}),
    )
    .expect_status(202);
    assert!(rx.wait_for(3, Duration::from_secs(10)));
    assert_eq!(
        api.post(
            &format!("/api/webhooks/{wh}/deliveries/dlv_nope/retry"),
            json!({})
        )
        .status,
        404
    );
}

#[test]
fn replay_retries_failed_ones_and_recovers_events_missed_while_disabled() {
    let rx = TestReceiver::https();
    rx.push_replies(vec![Reply::status(500)]);
    let (_d, api) = setup(&rx);
    let (wh, _) = webhook(&api, &rx.url("/x"));
    let since = "2020-01-01T00:00:00Z";
    publish(&api); // fails once: `failed`
    assert!(wait_until(Duration::from_secs(10), || deliveries(
        &api, &wh
    )
    .first()
    .is_some_and(|d| d["status"] == "failed")));
    api.patch(
        &format!("/api/webhooks/{wh}"),
        json!({"status": "disabled"}),
    )
    .expect_status(200);
    let missed = publish(&api);
    assert_eq!(
        api.get(&format!("/api/events/{missed}")).json["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        api.post(
            &format!("/api/webhooks/{wh}/replay"),
            json!({"since": since})
        )
        .status,
        409
    );
    api.patch(&format!("/api/webhooks/{wh}"), json!({"status": "active"}))
        .expect_status(200);
    let r = api.post(
        &format!("/api/webhooks/{wh}/replay"),
        json!({"since": since, "status": "failed"}),
    );
    r.expect_status(202);
    assert_eq!(r.json["count"], 2, "one failed + one never delivered");
    assert!(wait_until(Duration::from_secs(10), || {
        let ds = deliveries(&api, &wh);
        ds.len() == 2 && ds.iter().all(|d| d["status"] == "success")
    }));
    let r = api.post(
        &format!("/api/webhooks/{wh}/replay"),
        json!({"since": since, "status": "all"}),
    );
    assert_eq!(r.json["count"], 2);
    assert!(rx.wait_for(5, Duration::from_secs(10)));
    assert_eq!(
        api.post(
            &format!("/api/webhooks/{wh}/replay"),
            json!({"status": "some"})
        )
        .status,
        422
    );
}

/// The schedule entries of the whole daemon, from `/metrics` (due now + due later).
fn schedule_entries(d: &TestDaemon) -> u64 {
    let m = Api::anonymous(d).get("/metrics").text;
    ["hookd_queue_depth ", "hookd_scheduled_retries "]
        .iter()
        .map(|series| {
            m.lines()
                .find_map(|l| l.strip_prefix(series))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no `{series}` in\n{m}"))
        })
        .sum()
}

/// A retry asked for while the delivery's attempt is in flight (a receiver that takes 2 s
/// to fail) is kept: the delivery is attempted again at once after the slow attempt, not
/// at the slow attempt's scheduled retry a minute later, and it keeps exactly one schedule
/// entry throughout.
#[test]
fn a_retry_requested_while_the_attempt_is_in_flight_is_kept_with_one_schedule_entry() {
    let rx = TestReceiver::https();
    rx.push_replies(vec![
        Reply::status(500).delay(Duration::from_secs(2)),
        Reply::status(500),
    ]);
    let d = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&format!(
            "[delivery]\nallowed_networks = [\"127.0.0.0/8\"]\nextra_ca_file = \"{}\"\nretry_schedule_secs = [60, 60]\ntimeout_secs = 10",
            rx.ca_file().display()
        ))
        .start();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = webhook(&api, &rx.url("/slow"));
    publish(&api);
    assert!(
        rx.wait_for(1, Duration::from_secs(10)),
        "the attempt started"
    );
    let dlv = deliveries(&api, &wh)[0]["id"].as_str().unwrap().to_string();
    api.post(
        &format!("/api/webhooks/{wh}/deliveries/{dlv}/retry"),
        json!({}),
    )
    .expect_status(202);
    assert!(
        rx.wait_for(2, Duration::from_secs(10)),
        "the retry asked for during the slow attempt was lost"
    );
    let one = |d: &str| api.get(&format!("/api/webhooks/{wh}/deliveries/{d}")).json;
    assert!(wait_until(Duration::from_secs(10), || one(&dlv)
        ["attempts"]
        .as_array()
        .is_some_and(|a| a.len() == 2)));
    let delivery = one(&dlv);
    assert_eq!(delivery["status"], "retrying");
    assert!(wait_until(Duration::from_secs(5), || schedule_entries(&d) == 1));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        schedule_entries(&d),
        1,
        "one open delivery, one schedule entry"
    );
}

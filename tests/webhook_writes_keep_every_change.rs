//! A webhook is written by admins (edits, secret rotation) and by hookd itself (its health:
//! failures, breaker, `failing`; disabling one that keeps failing). An edit waits for its
//! reachability probe (up to 5 s) before it is written: whatever was acknowledged in the
//! meantime is kept, not reverted.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn daemon_for(rx: &TestReceiver) -> TestDaemon {
    job_daemon(rx)
        .config_extra(
            "[delivery]\nretry_schedule_secs = [60]\nfailing_after_consecutive_failures = 1",
        )
        .start()
}

/// Start a PATCH whose new URL takes `delay` to probe; returns its join handle.
fn slow_patch(
    api: &Api,
    wh: &str,
    proxy: &SlowProxy,
    body: serde_json::Value,
) -> std::thread::JoinHandle<Resp> {
    let api = api.clone();
    let path = format!("/api/webhooks/{wh}");
    let mut body = body;
    body["url"] = json!(proxy.https_url("/moved"));
    std::thread::spawn(move || api.patch(&path, body))
}

#[test]
fn an_edit_waiting_for_its_probe_keeps_the_health_change_made_meanwhile() {
    let rx = TestReceiver::https();
    rx.set_path_default("/hook", Reply::status(500));
    let d = daemon_for(&rx);
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let wh = job_webhook(&api, &rx.url("/hook"), json!({}));
    let proxy = SlowProxy::start(rx.port(), Duration::from_secs(2));

    let patch = slow_patch(&api, &wh, &proxy, json!({"name": "renamed"}));
    std::thread::sleep(Duration::from_millis(300));
    api.post("/api/events", json!({"type": "job.created", "data": {}}))
        .expect_status(202);
    assert!(
        wait_until(Duration::from_secs(10), || {
            api.get(&format!("/api/webhooks/{wh}")).json["status"] == "failing"
        }),
        "the failed attempt makes the webhook failing"
    );
    patch.join().unwrap().expect_status(200);

    let got = api.get(&format!("/api/webhooks/{wh}")).json;
    assert_eq!(got["name"], "renamed", "the edit is applied");
    assert_eq!(got["url"], proxy.https_url("/moved"));
    assert_eq!(got["status"], "failing", "the health change is kept: {got}");
    assert_eq!(got["consecutive_failures"], 1);
    assert_eq!(got["breaker"]["state"], "open");
}

#[test]
fn an_edit_waiting_for_its_probe_keeps_a_secret_rotated_meanwhile() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx);
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let (wh, first) = new_webhook(&api, &rx.url("/hook"), json!(["job.*"]), json!({}));
    let proxy = SlowProxy::start(rx.port(), Duration::from_secs(2));

    let patch = slow_patch(&api, &wh, &proxy, json!({"description": "moved"}));
    std::thread::sleep(Duration::from_millis(300));
    let r = api.post(
        &format!("/api/webhooks/{wh}/secret/rotate"),
        json!({"grace_secs": 60}),
    );
    r.expect_status(200);
    let rotated = r.str("secret").to_string();
    assert_ne!(rotated, first);
    patch.join().unwrap().expect_status(200);

    assert_eq!(
        api.get(&format!("/api/webhooks/{wh}/secret")).json["secret"],
        rotated.as_str(),
        "the rotation acknowledged during the edit is kept"
    );
    let got = api.get(&format!("/api/webhooks/{wh}")).json;
    assert_eq!(got["description"], "moved");
    // The old secret still signs beside the new one (the rotation's grace period).
    api.post("/api/events", json!({"type": "job.created", "data": {}}))
        .expect_status(202);
    assert!(rx.wait_for_on("/moved", 1, Duration::from_secs(10)));
    let req = rx.received_on("/moved").pop().unwrap();
    assert!(verify_standard(&rotated, &req) && verify_standard(&first, &req));
}

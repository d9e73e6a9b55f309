//! No value, from the config or from a receiver, can make a timer, a retry or a cool-down
//! overflow: out-of-bounds duration keys are refused at start (naming the key), and a
//! receiver's huge `Retry-After` is capped without stopping delivery.

mod common;

use std::time::Duration;

use common::daemon::hookd_binary;
use common::*;
use serde_json::json;

#[test]
fn check_config_names_each_out_of_bounds_duration_key() {
    let dir = tempfile::tempdir().unwrap();
    for (section, key, value) in [
        ("delivery", "max_retry_after_secs", "1e12"),
        ("delivery", "breaker_max_cooldown_secs", "1e12"),
        ("delivery", "breaker_cooldown_secs", "1e12"),
        ("delivery", "retry_schedule_secs", "[60, 1e12]"),
        ("delivery", "timeout_secs", "1e9"),
        ("delivery", "disable_after_failing_secs", "1e16"),
        ("storage", "retention_days", "1e12"),
        ("server", "idle_timeout_secs", "1e9"),
        ("server", "request_timeout_secs", "-1"),
    ] {
        let path = dir.path().join(format!("{key}.toml"));
        std::fs::write(&path, format!("[{section}]\n{key} = {value}\n")).unwrap();
        let out = std::process::Command::new(hookd_binary())
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{section}.{key} = {value} was accepted"
        );
        assert!(
            stderr.contains(&format!("{section}.{key}")),
            "{section}.{key} = {value}: {stderr}"
        );
    }
}

fn publish(api: &Api) {
    api.post(
        "/api/events",
        json!({"type": "job.created", "data": {"id": "job_1"}}),
    )
    .expect_status(202);
}

#[test]
fn no_accepted_config_lets_a_huge_retry_after_stop_delivery() {
    let rx = TestReceiver::start();
    let start = |max_retry_after: &str| {
        TestDaemon::builder()
            .config_extra(JOB_CATALOG)
            .delivering_to(&rx)
            .config_extra(&format!(
                "[delivery]\nretry_schedule_secs = [1, 1]\nmax_retry_after_secs = {max_retry_after}\n"
            ))
            .try_start()
    };
    // A bound beyond what a timer can hold is refused, naming the key; then the largest
    // accepted bound is the one to prove.
    let d = match start("1e12") {
        Ok(d) => d,
        Err(e) => {
            assert!(
                e.to_string().contains("delivery.max_retry_after_secs"),
                "{e}"
            );
            start("2592000").unwrap_or_else(|e| panic!("{e}"))
        }
    };
    rx.set_path_default("/busy", Reply::unavailable(99_999_999_999));
    let (_tenant, key) = create_tenant(&d, "acme");
    let api = Api::with_key(&d, &key);
    let (busy, _) = new_webhook(&api, &rx.url("/busy"), json!(["job.*"]), json!({}));
    publish(&api);
    assert!(rx.wait_for_on("/busy", 1, Duration::from_secs(10)));

    // The retry is scheduled, at most the bound (30 days) ahead.
    let mut next = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let list = api.get(&format!("/api/webhooks/{busy}/deliveries"));
            next = list.json["data"][0]["next_attempt_at"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            list.json["data"][0]["status"] == "retrying" && !next.is_empty()
        }),
        "the 503 was not recorded as a retry"
    );
    let next: jiff::Timestamp = next.parse().unwrap();
    let ahead = next.duration_since(jiff::Timestamp::now());
    assert!(
        ahead <= jiff::SignedDuration::from_secs(30 * 86400 + 60),
        "next attempt {ahead:?} ahead"
    );

    // Delivery goes on afterwards.
    let (_ok, _) = new_webhook(&api, &rx.url("/ok"), json!(["job.*"]), json!({}));
    for _ in 0..3 {
        publish(&api);
    }
    assert!(
        rx.wait_for_on("/ok", 3, Duration::from_secs(15)),
        "events after a huge Retry-After were not delivered"
    );
    assert_eq!(Api::anonymous(&d).get("/healthz").status, 200);
}

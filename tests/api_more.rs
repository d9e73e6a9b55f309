//! Black-box: tenant deletion (keys, data and pending deliveries gone), SIGINT, secrets kept
//! out of the logs at trace level, and the reachability check on a webhook update — all
//! against the real binary and a real HTTPS receiver on loopback.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const CATALOG: &str = r#"
[[event_types]]
name = "customer.created"
category = "Customer"
sample = { id = "cus_123", name = "Ada Lovelace" }
"#;

/// The delivery settings the receiver needs: loopback allowed, the test CA trusted, a
/// short retry schedule.
fn delivery_extra(rx: &TestReceiver, retry_secs: &str) -> String {
    format!(
        "[delivery]\nallowed_networks = [\"127.0.0.0/8\"]\nextra_ca_file = \"{}\"\nretry_schedule_secs = {retry_secs}\ntimeout_secs = 5",
        rx.ca_file().display()
    )
}

/// A daemon that may deliver to the receiver, retrying after 0.3 s.
fn daemon_for(rx: &TestReceiver) -> TestDaemon {
    TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&delivery_extra(rx, "[0.3, 0.3, 0.3]"))
        .start()
}

/// `POST /api/webhooks` (201); returns `(id, secret)`.
#[track_caller]
fn create_webhook(api: &Api, body: serde_json::Value) -> (String, String) {
    let r = api.post("/api/webhooks", &body);
    r.expect_status(201);
    (r.str("id").to_string(), r.str("secret").to_string())
}

/// `POST /api/events` (202); returns the event id.
#[track_caller]
fn publish(api: &Api) -> String {
    let r = api.post(
        "/api/events",
        json!({"type": "customer.created", "data": {"id": "cus_1", "name": "Ada"}}),
    );
    r.expect_status(202);
    r.str("id").to_string()
}

#[track_caller]
fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.error_code(), Some(code), "{}", r.text);
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn deleting_a_tenant_answers_204_revokes_its_keys_and_stops_its_deliveries() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx);
    let op = Api::as_operator(&d);
    let (tenant, key) = create_tenant(&d, "Doomed");
    let (other, other_key) = create_tenant(&d, "Survivor");
    let api = Api::with_key(&d, &key);
    let (wh, _) = create_webhook(
        &api,
        json!({"url": rx.url("/doomed"), "events": ["*"], "verify": false}),
    );
    let other_api = Api::with_key(&d, &other_key);
    create_webhook(
        &other_api,
        json!({"url": rx.url("/survivor"), "events": ["*"], "verify": false}),
    );

    // Before: the tenant's webhook does receive its events.
    publish(&api);
    assert!(rx.wait_for_on("/doomed", 1, Duration::from_secs(10)));
    rx.clear();

    let r = op.delete(&format!("/api/tenants/{tenant}"));
    r.expect_status(204);
    assert!(r.text.is_empty(), "204 has no body: {}", r.text);

    // The admin key no longer authenticates, anywhere.
    assert_error(&api.get("/api/webhooks"), 401, "unauthorized");
    assert_eq!(api.get(&format!("/api/webhooks/{wh}")).status, 401);
    assert_eq!(
        api.post(
            "/api/events",
            json!({"type": "customer.created", "data": {"id": "cus_2"}}),
        )
        .status,
        401
    );
    // The tenant and its webhook are gone for the operator too.
    assert_error(&op.get(&format!("/api/tenants/{tenant}")), 404, "not_found");
    assert_eq!(op.delete(&format!("/api/tenants/{tenant}")).status, 404);
    let listed = op.get("/api/tenants");
    assert!(!listed.text.contains(&tenant), "{}", listed.text);
    assert_eq!(
        op.clone()
            .tenant(&tenant)
            .get(&format!("/api/webhooks/{wh}"))
            .status,
        404
    );

    // Nothing reaches the deleted tenant's webhook; the other tenant is unaffected.
    publish(&other_api);
    assert!(rx.wait_for_on("/survivor", 1, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_secs(1));
    assert!(rx.received_on("/doomed").is_empty(), "{:?}", rx.received());
    assert_eq!(
        op.get(&format!("/api/tenants/{other}")).status,
        200,
        "the other tenant is kept"
    );
    other_api.get("/api/webhooks").expect_status(200);
}

#[test]
fn deleting_a_tenant_cancels_its_scheduled_retries() {
    let rx = TestReceiver::https();
    // The first attempt fails; the retry is due 2 s later.
    let d = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&delivery_extra(&rx, "[2, 2, 2]"))
        .start();
    let (tenant, key) = create_tenant(&d, "Doomed");
    let api = Api::with_key(&d, &key);
    create_webhook(
        &api,
        json!({"url": rx.url("/doomed"), "events": ["*"], "verify": false}),
    );
    rx.push_replies(vec![Reply::status(500)]);
    let evt = publish(&api);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    // The failure is recorded and a retry is scheduled before the tenant goes.
    let retrying = wait_until(Duration::from_secs(5), || {
        api.get(&format!("/api/events/{evt}")).json["deliveries"][0]["status"] == "retrying"
    });
    assert!(retrying, "{}", api.get(&format!("/api/events/{evt}")).text);

    Api::as_operator(&d)
        .delete(&format!("/api/tenants/{tenant}"))
        .expect_status(204);
    // Well past the retry's due time: no second attempt.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(rx.count(), 1, "{:?}", rx.received());
}

#[test]
fn sigint_stops_the_daemon_with_exit_0_and_keeps_its_data() {
    let mut d = TestDaemon::builder().config_extra(CATALOG).start();
    let (tenant, _) = create_tenant(&d, "Acme");
    let status = d.sigint();
    assert!(status.success(), "exit status {status:?}\n{}", d.output());
    assert_eq!(status.code(), Some(0));
    assert!(!d.is_running());

    d.restart();
    Api::as_operator(&d)
        .get(&format!("/api/tenants/{tenant}"))
        .expect_status(200);
}

#[test]
fn logs_to_a_pipe_are_plain_text_without_terminal_colours() {
    let mut d = TestDaemon::builder().config_extra(CATALOG).start();
    create_tenant(&d, "Acme");
    assert!(d.sigterm().success());
    let logs = d.stderr_text();
    assert!(logs.contains("INFO"), "no log lines at all:\n{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escapes in logs written to a pipe (journald, files):\n{logs}"
    );
}

#[test]
fn trace_logs_contain_no_webhook_url_header_value_secret_or_api_key() {
    const PATH_TOKEN: &str = "tok-SECRETPATH123";
    const HEADER_VALUE: &str = "hdr-SECRETVALUE456";
    let rx = TestReceiver::https();
    let mut d = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&delivery_extra(&rx, "[0.3, 0.3, 0.3]"))
        .env("HOOKD_LOG", "hookd=trace")
        .start();
    let op = Api::as_operator(&d);
    let (tenant, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    // The live receiver: the reachability check runs (and is logged, if at all) too.
    let (wh, secret) = create_webhook(
        &api,
        json!({
            "url": rx.url(&format!("/hooks/{PATH_TOKEN}")),
            "events": ["customer.created"],
            "headers": {"X-Api-Key": HEADER_VALUE},
        }),
    );
    assert!(secret.starts_with("whsec_"), "{secret}");
    // The operator acting in the tenant, so its key travels through the request path too.
    op.clone()
        .tenant(&tenant)
        .get(&format!("/api/webhooks/{wh}"))
        .expect_status(200);

    // 500 once (a failed attempt and a retry), then 200.
    rx.push_replies(vec![Reply::text(500, "boom")]);
    let evt = publish(&api);
    assert!(rx.wait_for(2, Duration::from_secs(15)), "{}", d.output());
    let last = rx.last().unwrap();
    assert_eq!(last.header("x-api-key"), Some(HEADER_VALUE));
    assert!(verify_standard(&secret, &last));
    let delivered = wait_until(Duration::from_secs(10), || {
        api.get(&format!("/api/events/{evt}")).json["deliveries"][0]["status"] == "success"
    });
    assert!(delivered, "{}", api.get(&format!("/api/events/{evt}")).text);

    let status = d.sigterm();
    assert!(status.success(), "exit status {status:?}");
    let out = d.output();
    // Not vacuous: trace logging was on and talked about this webhook.
    assert!(out.contains(&wh), "the log names the webhook id:\n{out}");
    for (what, needle) in [
        ("the URL path", PATH_TOKEN),
        ("the custom header value", HEADER_VALUE),
        ("the webhook secret", secret.as_str()),
        ("the secret's base64 part", &secret["whsec_".len()..]),
        ("the tenant API key", key.as_str()),
        ("the operator key", d.operator_key()),
    ] {
        assert!(
            !out.contains(needle),
            "the log contains {what} ({needle}):\n{out}"
        );
    }
}

#[test]
fn changing_a_webhook_url_to_a_closed_port_is_422_unreachable_unless_verify_is_false() {
    let rx = TestReceiver::https();
    let d = daemon_for(&rx);
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    // Created with the check on: the live receiver passes it.
    let (wh, _) = create_webhook(
        &api,
        json!({"url": rx.url("/hooks"), "events": ["customer.created"]}),
    );
    let path = format!("/api/webhooks/{wh}");
    let closed = format!("https://127.0.0.1:{}/x", closed_port());

    let r = api.patch(&path, json!({"url": closed}));
    assert_error(&r, 422, "unreachable");
    assert_eq!(r.json["error"]["field"], "url", "{}", r.text);
    // Nothing was saved.
    assert_eq!(api.get(&path).json["url"], rx.url("/hooks"));

    let r = api.patch(&path, json!({"url": closed, "verify": false}));
    r.expect_status(200);
    assert_eq!(r.json["url"], closed.as_str());
    assert_eq!(api.get(&path).json["url"], closed.as_str());
}

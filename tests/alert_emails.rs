//! Alert e-mails and operational events from the running daemon, with a real SMTP server
//! on loopback (`tests/smtp_sink.py`, aiosmtpd): a webhook answering 410 (disabled) and a
//! webhook turning failing each mail the tenant's `alert_emails` once, and no second mail
//! within the hour; `webhook.failing` / `webhook.recovered` / `webhook.disabled` reach a
//! webhook subscribed to `webhook.*`; an SMTP server that is down or silent holds up no
//! delivery, and the owed mail goes out once it is back — also across a kill -9.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::smtp::{decoded, free_port, header, SmtpSink};
use common::*;
use serde_json::json;

const FAST: &str = "[delivery]\nretry_schedule_secs = [0.2, 0.2, 0.2, 0.2, 0.2, 0.2]\n\
    failing_after_consecutive_failures = 2\nbreaker_cooldown_secs = 0.3\n\
    breaker_max_cooldown_secs = 0.3\nmax_in_flight_per_webhook = 1\n";

fn smtp_toml(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
         from = \"hookd <hookd@example.com>\"\ntimeout_secs = 2\n"
    )
}

fn daemon(rx: &TestReceiver, smtp_port: u16) -> TestDaemon {
    TestDaemon::builder()
        .config_extra(JOB_CATALOG)
        .delivering_to(rx)
        .config_extra(FAST)
        .config_extra(&smtp_toml(smtp_port))
        .start()
}

/// A tenant with alert addresses; answers its admin client.
fn tenant_with_alerts(d: &TestDaemon) -> Api {
    let (_, key) = create_tenant(d, "Acme Rentals");
    let api = Api::with_key(d, &key);
    api.patch(
        "/api/tenant",
        json!({"alert_emails": ["ops@acme.example", "cto@acme.example"]}),
    )
    .expect_status(200);
    api
}

fn publish(api: &Api, n: u64) {
    api.post(
        "/api/events",
        json!({"type": "job.created", "data": {"n": n}}),
    )
    .expect_status(202);
}

fn status(api: &Api, wh: &str) -> String {
    api.get(&format!("/api/webhooks/{wh}")).json["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The operational events received on `path`: (type, data.object).
fn ops_events(rx: &TestReceiver, path: &str) -> Vec<(String, serde_json::Value)> {
    rx.received_on(path)
        .iter()
        .map(|r| {
            let b = r.json();
            (
                b["type"].as_str().unwrap_or_default().to_string(),
                b["data"]["object"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_webhook_answering_410_is_disabled_and_mails_its_tenant_once_within_the_hour() {
    let sink = SmtpSink::start(&[]);
    let rx = TestReceiver::https();
    rx.set_path_default("/gone", Reply::gone());
    let d = daemon(&rx, sink.port);
    let api = tenant_with_alerts(&d);
    let (wh, _) = new_webhook(
        &api,
        &rx.url("/gone?token=s3cr3t"),
        json!(["job.*"]),
        json!({"name": "Legacy CRM"}),
    );
    let (ops, _) = new_webhook(&api, &rx.url("/ops"), json!(["webhook.*"]), json!({}));
    publish(&api, 1);

    let mails = sink.wait_for(1, Duration::from_secs(15));
    assert_eq!(mails.len(), 1, "{}", d.output());
    let m = &mails[0];
    assert_eq!(
        header(m, "X-Envelope-To"),
        Some("ops@acme.example, cto@acme.example")
    );
    assert_eq!(
        header(m, "Subject"),
        Some("[hookd] Webhook \"Legacy CRM\" was disabled")
    );
    let body = decoded(m);
    for needle in [
        format!("\"Legacy CRM\" ({wh}) was disabled by hookd"),
        "Reason:       the endpoint answered 410 Gone".to_string(),
        "Last error:   receiver answered HTTP 410".to_string(),
        "Status code:  410".to_string(),
        "Endpoint:     localhost".to_string(),
        format!(
            "Deliveries:   {}/settings/webhooks#/webhooks/{wh}/deliveries",
            d.base_url()
        ),
    ] {
        assert!(body.contains(&needle), "{needle:?} not in\n{body}");
    }
    assert!(!body.contains("s3cr3t"), "the URL's query leaked:\n{body}");
    // The link's page is the admin page, which routes `#/webhooks/<id>/deliveries` to
    // that webhook's deliveries.
    let page = Api::anonymous(&d).get("/settings/webhooks");
    page.expect_status(200);
    assert!(page.text.contains("<html"), "{}", page.text);

    // The operational event reached the webhook subscribed to `webhook.*`.
    assert!(rx.wait_for_on("/ops", 1, Duration::from_secs(10)));
    let events = ops_events(&rx, "/ops");
    assert_eq!(events[0].0, "webhook.disabled");
    assert_eq!(events[0].1["webhook_id"], wh.as_str());
    assert_eq!(events[0].1["name"], "Legacy CRM");
    assert_eq!(events[0].1["reason"], "the endpoint answered 410 Gone");
    assert_eq!(events[0].1["last_status_code"], 410);
    assert!(events[0].1["at"].is_string());
    assert_ne!(ops, wh);

    // Enabled again and gone again within the hour: disabled again, an event again, no mail.
    api.patch(&format!("/api/webhooks/{wh}"), json!({"status": "active"}))
        .expect_status(200);
    publish(&api, 2);
    assert!(wait_until(Duration::from_secs(10), || status(&api, &wh) == "disabled"));
    assert!(rx.wait_for_on("/ops", 2, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.messages().len(), 1, "a second alert within the hour");
    assert!(
        d.stderr_text().contains("alert e-mail suppressed"),
        "{}",
        d.output()
    );
}

#[test]
fn a_webhook_turning_failing_mails_once_and_raises_failing_and_recovered_events() {
    let sink = SmtpSink::start(&[]);
    let rx = TestReceiver::https();
    rx.set_path_default("/flaky", Reply::status(503));
    let d = daemon(&rx, sink.port);
    let api = tenant_with_alerts(&d);
    let (wh, _) = new_webhook(
        &api,
        &rx.url("/flaky"),
        json!(["job.*"]),
        json!({"name": "Billing"}),
    );
    new_webhook(&api, &rx.url("/ops"), json!(["webhook.*"]), json!({}));
    publish(&api, 1);
    publish(&api, 2);

    let mails = sink.wait_for(1, Duration::from_secs(15));
    assert_eq!(mails.len(), 1, "{}", d.output());
    assert_eq!(
        header(&mails[0], "Subject"),
        Some("[hookd] Webhook \"Billing\" is failing")
    );
    let body = decoded(&mails[0]);
    for needle in [
        format!("\"Billing\" ({wh}) is failing"),
        "Reason:       2 failed attempts in a row".to_string(),
        "Status code:  503".to_string(),
        "Last error:   receiver answered HTTP 503".to_string(),
        format!("/settings/webhooks#/webhooks/{wh}/deliveries"),
    ] {
        assert!(body.contains(&needle), "{needle:?} not in\n{body}");
    }
    assert_eq!(status(&api, &wh), "failing");

    // The receiver is back: the breaker's probe succeeds, the webhook recovers.
    rx.set_path_default("/flaky", Reply::ok());
    assert!(wait_until(Duration::from_secs(15), || status(&api, &wh) == "active"));
    // And fails again within the hour: failing again, an event again, no second mail.
    rx.set_path_default("/flaky", Reply::status(500));
    publish(&api, 3);
    publish(&api, 4);
    assert!(wait_until(Duration::from_secs(15), || status(&api, &wh) == "failing"));
    assert!(wait_until(Duration::from_secs(10), || ops_events(
        &rx, "/ops"
    )
    .len()
        >= 3));
    let events = ops_events(&rx, "/ops");
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["webhook.failing", "webhook.recovered", "webhook.failing"]
    );
    let failing = &events[0].1;
    assert_eq!(failing["webhook_id"], wh.as_str());
    assert_eq!(failing["name"], "Billing");
    assert_eq!(failing["consecutive_failures"], 2);
    assert_eq!(failing["last_status_code"], 503);
    assert_eq!(failing["reason"], "2 failed attempts in a row");
    let recovered = &events[1].1;
    assert_eq!(recovered["webhook_id"], wh.as_str());
    assert!(recovered["failing_since"].is_string() && recovered["at"].is_string());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.messages().len(), 1, "a second alert within the hour");
}

#[test]
fn a_silent_smtp_server_holds_up_no_delivery_and_the_mail_goes_out_when_smtp_is_back() {
    // A server that accepts connections and never answers: each send waits its 2 s timeout.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let rx = TestReceiver::https();
    rx.set_path_default("/gone", Reply::gone());
    let d = daemon(&rx, port);
    let api = tenant_with_alerts(&d);
    let (wh, _) = new_webhook(&api, &rx.url("/gone"), json!(["job.*"]), json!({}));
    new_webhook(&api, &rx.url("/ok"), json!(["job.*"]), json!({}));
    publish(&api, 0);
    assert!(wait_until(Duration::from_secs(10), || status(&api, &wh) == "disabled"));
    // While the sender is stuck on the silent server, deliveries flow as ever.
    let started = Instant::now();
    for n in 1..=20 {
        publish(&api, n);
    }
    assert!(
        rx.wait_for_on("/ok", 21, Duration::from_secs(10)),
        "{} of 21 delivered",
        rx.received_on("/ok").len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(wait_until(Duration::from_secs(10), || d
        .stderr_text()
        .contains("alert e-mail not sent")));

    // SMTP is back on the same port: the owed mail goes out with the next retry.
    drop(silent);
    let sink = SmtpSink::start_on(port, &[]);
    let mails = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(mails.len(), 1, "{}", d.output());
    assert!(decoded(&mails[0]).contains(&wh));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.messages().len(), 1, "sent twice");
}

#[test]
fn an_owed_alert_survives_kill_9_while_smtp_is_down_and_is_sent_after_the_restart() {
    let port = free_port();
    let rx = TestReceiver::https();
    rx.set_path_default("/gone", Reply::gone());
    let mut d = daemon(&rx, port);
    let api = tenant_with_alerts(&d);
    let (wh, _) = new_webhook(&api, &rx.url("/gone"), json!(["job.*"]), json!({}));
    new_webhook(&api, &rx.url("/ops"), json!(["webhook.*"]), json!({}));
    publish(&api, 1);
    // The event is published after the alert is queued, and it is durable when delivered.
    assert!(rx.wait_for_on("/ops", 1, Duration::from_secs(10)));
    assert!(wait_until(Duration::from_secs(10), || d
        .stderr_text()
        .contains("alert e-mail not sent")));
    d.kill9();

    d.restart();
    assert!(
        d.stderr_text()
            .contains("alert e-mails owed from before the start"),
        "{}",
        d.output()
    );
    let sink = SmtpSink::start_on(port, &[]);
    let mails = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(mails.len(), 1, "{}", d.output());
    let body = decoded(&mails[0]);
    assert!(
        body.contains(&format!("({wh}) was disabled by hookd")),
        "{body}"
    );
    // Sent once: a clean stop and start owes nothing more. (A stop while the mail is
    // being handed over keeps it owed, to be sent once more: so stop only once hookd has
    // settled it.)
    assert!(wait_until(Duration::from_secs(10), || d
        .stderr_text()
        .contains("alert e-mail sent")));
    d.restart();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.messages().len(), 1);
    assert!(!d.stderr_text().contains("owed from before the start"));
}

//! What hookd does not let slip: credentials in webhook URLs, the internal addresses a
//! tenant's host resolves to, every tenant and webhook id on the keyless `/metrics`, secrets
//! that are not what they claim to be, and plain-http deliveries once `allow_http` is off.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn publish(api: &Api) {
    api.post(
        "/api/events",
        json!({"type": "job.created", "data": {"id": "job_1"}}),
    )
    .expect_status(202);
}

/// The first attempt's error of the webhook's newest delivery, once there is one.
fn first_attempt_error(api: &Api, webhook: &str) -> String {
    let mut error = String::new();
    let found = wait_until(Duration::from_secs(10), || {
        let list = api.get(&format!("/api/webhooks/{webhook}/deliveries"));
        match list.json["data"][0]["attempts"][0]["error"].as_str() {
            Some(e) => {
                error = e.to_string();
                true
            }
            None => false,
        }
    });
    assert!(found, "no attempt recorded for {webhook}");
    error
}

#[test]
fn a_url_with_credentials_is_refused_on_create_and_update() {
    let d = TestDaemon::builder().config_extra(JOB_CATALOG).start();
    let (_, key) = create_tenant(&d, "acme");
    let api = Api::with_key(&d, &key);
    for url in [
        "https://user:hunter2@crm.example.com/hooks",
        "https://token@crm.example.com/hooks",
    ] {
        let r = api.post(
            "/api/webhooks",
            json!({"url": url, "events": ["job.*"], "verify": false}),
        );
        assert_eq!(r.status, 422, "{url}: {}", r.text);
        assert_eq!(r.error_code(), Some("invalid_url"));
        assert_eq!(r.json["error"]["field"], "url");
        assert!(!r.text.contains("hunter2"), "{}", r.text);
    }
    let (id, _) = new_webhook(
        &api,
        "https://crm.example.com/hooks",
        json!(["job.*"]),
        json!({}),
    );
    let r = api.patch(
        &format!("/api/webhooks/{id}"),
        json!({"url": "https://user:hunter2@crm.example.com/hooks", "verify": false}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_code(), Some("invalid_url"));
    let r = api.put(
        &format!("/api/webhooks/{id}"),
        json!({"url": "https://user:hunter2@crm.example.com/hooks", "events": ["job.*"], "verify": false}),
    );
    assert_eq!(r.error_code(), Some("invalid_url"), "{}", r.text);
}

#[test]
fn errors_shown_to_tenants_never_name_a_resolved_private_address() {
    // No allow-list: `localhost` resolves to loopback addresses, which are refused.
    let d = TestDaemon::builder().config_extra(JOB_CATALOG).start();
    let (_, key) = create_tenant(&d, "acme");
    let api = Api::with_key(&d, &key);
    let r = api.post(
        "/api/webhooks",
        json!({"url": "https://localhost:9/hooks", "events": ["job.*"]}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_code(), Some("unreachable"));
    let message = r.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("private address refused"), "{message}");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("::1"),
        "{message}"
    );

    let (refused, _) = new_webhook(
        &api,
        "https://localhost:9/hooks",
        json!(["job.*"]),
        json!({}),
    );
    publish(&api);
    let error = first_attempt_error(&api, &refused);
    assert!(error.contains("private address refused"), "{error}");
    assert!(
        !error.contains("127.0.0.1") && !error.contains("::1"),
        "{error}"
    );

    // Allowed by the operator but closed: the connect error does not name it either.
    let rx = TestReceiver::start();
    // A privileged port nothing listens on: an ephemeral port freed here could be taken
    // by another test's server before hookd connects (seen: a plain-HTTP listener there).
    let closed_port = 1;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", closed_port)).is_err(),
        "something listens on 127.0.0.1:{closed_port}"
    );
    let d = TestDaemon::builder()
        .config_extra(JOB_CATALOG)
        .delivering_to(&rx)
        .start();
    let (_, key) = create_tenant(&d, "acme");
    let api = Api::with_key(&d, &key);
    let url = format!("https://localhost:{closed_port}/hooks");
    let r = api.post("/api/webhooks", json!({"url": url, "events": ["job.*"]}));
    assert_eq!(r.error_code(), Some("unreachable"), "{}", r.text);
    assert!(
        !r.text.contains("127.0.0.1") && !r.text.contains("::1"),
        "{}",
        r.text
    );
    let (closed, _) = new_webhook(&api, &url, json!(["job.*"]), json!({}));
    publish(&api);
    let error = first_attempt_error(&api, &closed);
    assert!(error.starts_with("connect:"), "{error}");
    assert!(
        !error.contains("127.0.0.1") && !error.contains("::1"),
        "{error}"
    );
}

#[test]
fn metrics_name_no_tenant_or_webhook_unless_the_operator_opts_in() {
    for opt_in in [false, true] {
        let d = TestDaemon::builder()
            .config_extra(JOB_CATALOG)
            .config_extra(&format!("[server]\nmetrics_per_webhook = {opt_in}\n"))
            .start();
        let (tenant, key) = create_tenant(&d, "acme");
        let api = Api::with_key(&d, &key);
        let (wh, _) = new_webhook(
            &api,
            "https://crm.example.com/hooks",
            json!(["job.*"]),
            json!({}),
        );
        let m = Api::anonymous(&d).get("/metrics");
        assert_eq!(m.status, 200);
        assert!(
            m.text.contains("hookd_webhooks{status=\"active\"} 1"),
            "{}",
            m.text
        );
        let named = m.text.contains(&wh) || m.text.contains(&tenant);
        assert_eq!(named, opt_in, "metrics_per_webhook = {opt_in}:\n{}", m.text);
        if opt_in {
            assert!(m.text.contains(&format!(
                "hookd_webhook_status{{webhook_id=\"{wh}\",tenant_id=\"{tenant}\",status=\"active\"}} 1"
            )));
        }
    }
}

#[test]
fn an_imported_secret_must_be_base64_after_whsec() {
    let d = TestDaemon::builder().config_extra(JOB_CATALOG).start();
    let (_, key) = create_tenant(&d, "acme");
    let api = Api::with_key(&d, &key);
    let body = |secret: &str| json!({"url": "https://crm.example.com/hooks", "events": ["job.*"], "verify": false, "secret": secret});
    for bad in [
        "whsec_this is not base64 at all, though it is long!!",
        "whsec_%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%",
        "whsec_c2hvcnQ=",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        let r = api.post("/api/webhooks", body(bad));
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
        assert_eq!(r.error_code(), Some("invalid_secret"));
        assert_eq!(r.json["error"]["field"], "secret");
    }
    let good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwcmVhbGx5";
    let r = api.post("/api/webhooks", body(good));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["secret"], Value::from(good));
}

#[test]
fn turning_allow_http_off_stops_existing_http_webhooks() {
    let rx = TestReceiver::plain_http();
    let config = |allow_http: bool| {
        format!(
            "{JOB_CATALOG}\n[delivery]\nallow_http = {allow_http}\nallowed_networks = [\"127.0.0.0/8\"]\nretry_schedule_secs = [0.5, 0.5]\n"
        )
    };
    let mut d = TestDaemon::builder().config_extra(&config(true)).start();
    let (_, key) = create_tenant(&d, "acme");
    let api = Api::with_key(&d, &key);
    let (wh, _) = new_webhook(&api, &rx.url("/hooks"), json!(["job.*"]), json!({}));
    publish(&api);
    assert!(rx.wait_for(1, Duration::from_secs(10)));

    d.set_config_extra(&config(false));
    d.restart();
    let api = api.rebase(d.base_url());
    let r = api.post(
        "/api/webhooks",
        json!({"url": rx.url("/new"), "events": ["job.*"], "verify": false}),
    );
    assert_eq!(r.error_code(), Some("invalid_url"), "{}", r.text);
    publish(&api);
    assert!(wait_until(Duration::from_secs(10), || {
        api.get(&format!("/api/webhooks/{wh}/deliveries?status=failed"))
            .json["data"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    let failed = api
        .get(&format!("/api/webhooks/{wh}/deliveries?status=failed"))
        .json;
    let attempts = failed["data"][0]["attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!attempts.is_empty());
    for a in &attempts {
        let error = a["error"].as_str().unwrap_or_default();
        assert!(error.contains("allow_http"), "{error}");
    }
    assert_eq!(rx.count(), 1, "nothing more was sent over plain http");
}

//! Black-box: tenants and keys, the catalog, webhook CRUD and every validation
//! rule, auth and tenant isolation, persistence across restarts, secrets at rest,
//! `check-config` and SIGTERM — all against the real binary on loopback.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// A catalog like the dealer-management system's, small.
const CATALOG: &str = r#"
[[event_types]]
name = "customer.created"
category = "Customer"
description = "A new customer was created"
sample = { id = "cus_123", name = "Ada Lovelace", email = "ada@example.com" }

[[event_types]]
name = "customer.updated"
category = "Customer"

[[event_types]]
name = "deal.created"
category = "Deal"

[[event_types]]
name = "deal.status_changed"
category = "Deal"
"#;

fn daemon() -> TestDaemon {
    TestDaemon::builder().config_extra(CATALOG).start()
}

fn webhook_body(url: &str) -> serde_json::Value {
    json!({"name": "CRM sync", "url": url, "events": ["customer.created", "deal.*"], "verify": false})
}

#[test]
fn operator_creates_tenants_and_keys_and_keys_are_shown_once() {
    let d = daemon();
    let op = Api::as_operator(&d);
    let t = op.post("/api/tenants", json!({"name": "Acme Motors"}));
    t.expect_status(201);
    let tenant = t.str("id").to_string();
    assert!(tenant.starts_with("ten_"));
    assert!(t.str("api_key").len() >= 43, "32 random bytes, base64");
    assert!(t.json["created_at"].as_str().unwrap().ends_with('Z'));

    op.get("/api/tenants").expect_status(200);
    assert_eq!(
        op.get(&format!("/api/tenants/{tenant}")).json["name"],
        "Acme Motors"
    );

    let k = op.post(
        &format!("/api/tenants/{tenant}/keys"),
        json!({"role": "publisher", "name": "DMS"}),
    );
    k.expect_status(201);
    assert_eq!(k.json["role"], "publisher");
    let key_id = k.str("id").to_string();
    let publisher = k.str("key").to_string();

    let list = op.get(&format!("/api/tenants/{tenant}/keys"));
    list.expect_status(200);
    assert_eq!(list.json["data"].as_array().unwrap().len(), 2);
    assert!(
        !list.text.contains(&publisher),
        "listing never shows key values"
    );

    let bad_role = op.post(
        &format!("/api/tenants/{tenant}/keys"),
        json!({"role": "root"}),
    );
    bad_role.expect_status(422);
    assert_eq!(bad_role.error_code(), Some("invalid_role"));

    // The publisher key works until revoked.
    let pubapi = Api::with_key(&d, &publisher);
    pubapi.get("/api/event-types").expect_status(200);
    op.delete(&format!("/api/tenants/{tenant}/keys/{key_id}"))
        .expect_status(204);
    pubapi.get("/api/event-types").expect_status(401);
    op.delete(&format!("/api/tenants/{tenant}/keys/{key_id}"))
        .expect_status(404);
}

#[test]
fn missing_or_wrong_keys_are_401_and_tenant_keys_cannot_manage_tenants() {
    let d = daemon();
    let anon = Api::anonymous(&d);
    let r = anon.get("/api/webhooks");
    r.expect_status(401);
    assert_eq!(r.error_code(), Some("unauthorized"));
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Bearer"));
    Api::new(d.base_url(), "hk_not-a-key")
        .get("/api/webhooks")
        .expect_status(401);

    let (_, admin) = create_tenant(&d, "Acme");
    let r = Api::with_key(&d, &admin).get("/api/tenants");
    r.expect_status(403);
    assert_eq!(r.error_code(), Some("forbidden"));
}

#[test]
fn operator_needs_x_tenant_id_on_tenant_routes() {
    let d = daemon();
    let (tenant, _) = create_tenant(&d, "Acme");
    let op = Api::as_operator(&d);
    let r = op.get("/api/webhooks");
    r.expect_status(400);
    assert_eq!(r.error_code(), Some("missing_tenant"));
    assert_eq!(r.json["error"]["field"], "X-Tenant-Id");
    op.clone()
        .tenant(&tenant)
        .get("/api/webhooks")
        .expect_status(200);
    op.clone()
        .tenant("ten_nope")
        .get("/api/webhooks")
        .expect_status(404);
    let created = op.clone().tenant(&tenant).post(
        "/api/webhooks",
        webhook_body("https://crm.example.com/hooks"),
    );
    created.expect_status(201);
}

#[test]
fn webhook_create_read_list_replace_patch_delete() {
    let d = daemon();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);

    let c = api.post(
        "/api/webhooks",
        json!({
            "name": "CRM sync", "description": "to the CRM", "url": "https://crm.example.com/hooks",
            "events": ["customer.created", "deal.*"], "headers": {"X-Api-Key": "k-123"},
            "verify": false
        }),
    );
    c.expect_status(201);
    let id = c.str("id").to_string();
    assert!(id.starts_with("wh_"));
    let secret = c.str("secret").to_string();
    assert!(secret.starts_with("whsec_"));
    for (field, value) in [
        ("status", json!("active")),
        ("method", json!("POST")),
        ("ordered", json!(false)),
        ("rate_limit_per_sec", json!(100)),
        ("timeout_secs", json!(30)),
        ("payload_format", json!("envelope")),
        ("consecutive_failures", json!(0)),
        ("retry_schedule_secs", json!([60, 300, 1800, 7200, 86400])),
    ] {
        assert_eq!(c.json[field], value, "{field}");
    }

    let g = api.get(&format!("/api/webhooks/{id}"));
    g.expect_status(200);
    assert_eq!(g.json["url"], "https://crm.example.com/hooks");
    assert!(
        g.json.get("secret").is_none(),
        "the secret is only at /secret"
    );
    assert_eq!(
        api.get(&format!("/api/webhooks/{id}/secret")).json["secret"],
        secret.as_str()
    );

    // List with pagination.
    for i in 0..2 {
        api.post(
            "/api/webhooks",
            webhook_body(&format!("https://crm.example.com/h{i}")),
        )
        .expect_status(201);
    }
    let p1 = api.get("/api/webhooks?limit=2");
    assert_eq!(p1.json["data"].as_array().unwrap().len(), 2);
    let cursor = p1.json["next_cursor"].as_str().unwrap().to_string();
    let p2 = api.get(&format!("/api/webhooks?limit=2&cursor={cursor}"));
    assert_eq!(p2.json["data"].as_array().unwrap().len(), 1);
    assert!(p2.json["next_cursor"].is_null());

    // PATCH changes only what is sent.
    let p = api.patch(
        &format!("/api/webhooks/{id}"),
        json!({"status": "disabled", "rate_limit_per_sec": 20}),
    );
    p.expect_status(200);
    assert_eq!(p.json["status"], "disabled");
    assert_eq!(p.json["rate_limit_per_sec"], 20);
    assert_eq!(p.json["description"], "to the CRM");

    // PUT replaces: what is not sent returns to its default. GET-modify-PUT works.
    let mut body = api.get(&format!("/api/webhooks/{id}")).json;
    body["events"] = json!(["customer.*"]);
    body["verify"] = json!(false);
    body.as_object_mut().unwrap().remove("description");
    let r = api.put(&format!("/api/webhooks/{id}"), &body);
    r.expect_status(200);
    assert_eq!(r.json["events"], json!(["customer.*"]));
    assert_eq!(r.json["description"], "");
    let r = api.put(&format!("/api/webhooks/{id}"), json!({"events": ["*"]}));
    r.expect_status(400);
    assert_eq!(r.json["error"]["field"], "url");

    api.delete(&format!("/api/webhooks/{id}"))
        .expect_status(204);
    api.get(&format!("/api/webhooks/{id}")).expect_status(404);
    api.delete(&format!("/api/webhooks/{id}"))
        .expect_status(404);
}

#[track_caller]
fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.error_code(), Some(code), "{}", r.text);
    let msg = r.json["error"]["message"].as_str().unwrap_or("");
    assert!(msg.len() > 10, "a message a person can act on: {msg}");
}

#[test]
fn every_webhook_validation_rule_has_its_status_and_code() {
    let d = daemon();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let base = || webhook_body("https://crm.example.com/hooks");
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    let cases: Vec<(serde_json::Value, u16, &str, &str)> = vec![
        (
            with("url", json!("http://crm.example.com/hooks")),
            422,
            "invalid_url",
            "url",
        ),
        (with("url", json!("not a url")), 422, "invalid_url", "url"),
        (
            with("url", json!("ftp://crm.example.com/")),
            422,
            "invalid_url",
            "url",
        ),
        (with("events", json!([])), 422, "invalid_events", "events"),
        (
            with("events", json!(["customer.deleted"])),
            422,
            "invalid_events",
            "events",
        ),
        (
            with("events", json!(["cust*"])),
            422,
            "invalid_events",
            "events",
        ),
        (
            with("method", json!("GET")),
            422,
            "invalid_method",
            "method",
        ),
        (
            with("headers", json!({"X-Api-Key": "a\r\nX-Injected: 1"})),
            422,
            "invalid_headers",
            "headers",
        ),
        (
            with("headers", json!({"webhook-signature": "v1,forged"})),
            422,
            "invalid_headers",
            "headers",
        ),
        (
            with("headers", json!({"X-Webhook-Signature": "sha256=00"})),
            422,
            "invalid_headers",
            "headers",
        ),
        (
            with("rate_limit_per_sec", json!(101)),
            422,
            "invalid_rate_limit",
            "rate_limit_per_sec",
        ),
        (
            with("rate_limit_per_sec", json!(0)),
            422,
            "invalid_rate_limit",
            "rate_limit_per_sec",
        ),
        (
            with("status", json!("failing")),
            422,
            "invalid_status",
            "status",
        ),
        (
            with("status", json!("paused")),
            422,
            "invalid_status",
            "status",
        ),
        (
            with("payload_format", json!("xml")),
            422,
            "invalid_payload_format",
            "payload_format",
        ),
        (
            with("timeout_secs", json!(0)),
            422,
            "invalid_timeout",
            "timeout_secs",
        ),
        (
            with("retry_schedule_secs", json!([-1])),
            422,
            "invalid_retry_schedule",
            "retry_schedule_secs",
        ),
        (with("surprise", json!(1)), 400, "unknown_field", "surprise"),
        (
            with("events", json!("customer.created")),
            400,
            "invalid_field",
            "",
        ),
    ];
    for (body, status, code, field) in cases {
        let r = api.post("/api/webhooks", &body);
        assert_error(&r, status, code);
        if !field.is_empty() {
            assert_eq!(r.json["error"]["field"], field, "{body}");
        }
    }
    // Nothing was created by any of them.
    assert_eq!(
        api.get("/api/webhooks").json["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Malformed JSON, wrong content type, oversized body.
    assert_error(
        &api.post_raw("/api/webhooks", b"{\"url\": ", "application/json", &[]),
        400,
        "invalid_json",
    );
    assert_error(
        &api.post_raw(
            "/api/webhooks",
            b"url=x",
            "application/x-www-form-urlencoded",
            &[],
        ),
        415,
        "unsupported_media_type",
    );
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    assert_error(
        &api.post_raw("/api/webhooks", huge.as_bytes(), "application/json", &[]),
        413,
        "payload_too_large",
    );

    // A URL is unique within a tenant (409), not across tenants.
    api.post("/api/webhooks", base()).expect_status(201);
    assert_error(&api.post("/api/webhooks", base()), 409, "conflict");
    let (_, other) = create_tenant(&d, "Other");
    Api::with_key(&d, &other)
        .post("/api/webhooks", base())
        .expect_status(201);
    // ... also when changing the URL of another webhook to it.
    let second = api.post(
        "/api/webhooks",
        webhook_body("https://crm.example.com/other"),
    );
    let id = second.str("id");
    assert_error(
        &api.patch(
            &format!("/api/webhooks/{id}"),
            json!({"url": "https://crm.example.com/hooks", "verify": false}),
        ),
        409,
        "conflict",
    );
}

#[test]
fn reachability_check_accepts_a_real_tls_receiver_and_refuses_closed_and_private_ones() {
    let rx = TestReceiver::https();
    let ca = rx.ca_file().display().to_string();
    // Loopback allowed (the test receiver lives there), with the test CA trusted.
    let d = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&format!(
            "[delivery]\nallowed_networks = [\"127.0.0.0/8\"]\nextra_ca_file = \"{ca}\""
        ))
        .start();
    let (_, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let ok = api.post(
        "/api/webhooks",
        json!({"url": rx.url("/hooks"), "events": ["*"]}),
    );
    ok.expect_status(201);

    // A closed port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = api.post(
        "/api/webhooks",
        json!({"url": format!("https://localhost:{closed}/"), "events": ["*"]}),
    );
    assert_error(&r, 422, "unreachable");
    assert!(!r.text.contains("/hooks"));

    // Without allowed_networks, loopback is refused as non-public (SSRF guard).
    let strict = TestDaemon::builder()
        .config_extra(CATALOG)
        .config_extra(&format!("[delivery]\nextra_ca_file = \"{ca}\""))
        .start();
    let (_, key) = create_tenant(&strict, "Acme");
    let r = Api::with_key(&strict, &key).post(
        "/api/webhooks",
        json!({"url": rx.url("/x"), "events": ["*"]}),
    );
    assert_error(&r, 422, "unreachable");
    assert!(r.text.contains("private address refused"), "{}", r.text);
    assert!(!r.text.contains("127.0.0.1"), "{}", r.text);
    // "verify": false saves it anyway (delivery is still guarded).
    Api::with_key(&strict, &key)
        .post(
            "/api/webhooks",
            json!({"url": rx.url("/x"), "events": ["*"], "verify": false}),
        )
        .expect_status(201);
}

#[test]
fn another_tenants_webhook_is_404_for_every_verb() {
    let d = daemon();
    let (_, a) = create_tenant(&d, "A");
    let (_, b) = create_tenant(&d, "B");
    let a = Api::with_key(&d, &a);
    let b = Api::with_key(&d, &b);
    let id = a
        .post("/api/webhooks", webhook_body("https://a.example.com/"))
        .str("id")
        .to_string();
    let p = format!("/api/webhooks/{id}");
    for r in [
        b.get(&p),
        b.patch(&p, json!({"name": "mine now"})),
        b.put(&p, webhook_body("https://b.example.com/")),
        b.delete(&p),
        b.get(&format!("{p}/secret")),
        b.get(&format!("{p}/deliveries")),
    ] {
        assert_error(&r, 404, "not_found");
    }
    assert!(b.get("/api/webhooks").json["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(a.get(&p).json["name"], "CRM sync", "unchanged");
}

#[test]
fn publisher_key_cannot_manage_webhooks() {
    let d = daemon();
    let (tenant, _) = create_tenant(&d, "Acme");
    let op = Api::as_operator(&d);
    let publisher = op
        .post(
            &format!("/api/tenants/{tenant}/keys"),
            json!({"role": "publisher"}),
        )
        .str("key")
        .to_string();
    let p = Api::with_key(&d, &publisher);
    assert_error(&p.get("/api/webhooks"), 403, "forbidden");
    assert_error(
        &p.post("/api/webhooks", webhook_body("https://a.example.com/")),
        403,
        "forbidden",
    );
    let r = p.post(
        "/api/events",
        json!({"type": "customer.created", "data": {"id": "cus_1"}}),
    );
    r.expect_status(202);
}

#[test]
fn event_type_catalog_is_seeded_from_config_and_managed_by_the_operator() {
    let d = daemon();
    let (_, key) = create_tenant(&d, "Acme");
    let tenant = Api::with_key(&d, &key);
    let list = tenant.get("/api/event-types");
    list.expect_status(200);
    let data = list.json["data"].as_array().unwrap();
    let names: Vec<&str> = data.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"customer.created") && names.contains(&"webhook.disabled"));
    let cc = data
        .iter()
        .find(|e| e["name"] == "customer.created")
        .unwrap();
    assert_eq!(cc["category"], "Customer");
    assert_eq!(cc["sample"]["email"], "ada@example.com");

    let new = json!({"name": "vehicle.sold", "category": "Vehicle", "description": "Sold", "sample": {"vin": "WVW"}});
    assert_error(&tenant.post("/api/event-types", &new), 403, "forbidden");
    let op = Api::as_operator(&d);
    op.post("/api/event-types", &new).expect_status(201);
    assert_error(&op.post("/api/event-types", &new), 409, "conflict");
    assert_error(
        &op.post("/api/event-types", json!({"name": "Vehicle Sold"})),
        422,
        "invalid_name",
    );
    let put = op.put(
        "/api/event-types/vehicle.sold",
        json!({"category": "Vehicle", "description": "Vehicle sold"}),
    );
    put.expect_status(200);
    assert_eq!(
        tenant.get("/api/event-types/vehicle.sold").json["description"],
        "Vehicle sold"
    );
    // Now subscribable.
    tenant
        .post(
            "/api/webhooks",
            json!({"url": "https://x.example.com/", "events": ["vehicle.sold"], "verify": false}),
        )
        .expect_status(201);
    op.delete("/api/event-types/vehicle.sold")
        .expect_status(204);
    assert_error(
        &op.delete("/api/event-types/webhook.disabled"),
        409,
        "operational_event_type",
    );
}

#[test]
fn data_survives_a_restart() {
    let mut d = daemon();
    let (tenant, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    let id = api
        .post("/api/webhooks", webhook_body("https://crm.example.com/"))
        .str("id")
        .to_string();
    let evt = api.post(
        "/api/events",
        json!({"type": "customer.created", "data": {"id": "cus_1"}}),
    );
    evt.expect_status(202);
    let evt = evt.str("id").to_string();
    d.restart();
    let api = api.rebase(d.base_url());
    assert_eq!(
        api.get(&format!("/api/webhooks/{id}")).json["url"],
        "https://crm.example.com/"
    );
    let e = api.get(&format!("/api/events/{evt}"));
    e.expect_status(200);
    assert_eq!(e.json["deliveries"].as_array().unwrap().len(), 1);
    let op = Api::as_operator(&d);
    assert_eq!(
        op.get(&format!("/api/tenants/{tenant}")).json["name"],
        "Acme"
    );
}

#[test]
fn no_raw_api_key_or_operator_key_is_stored_in_the_data_directory() {
    let mut d = daemon();
    let (tenant, admin) = create_tenant(&d, "Acme");
    let op = Api::as_operator(&d);
    let publisher = op
        .post(
            &format!("/api/tenants/{tenant}/keys"),
            json!({"role": "publisher"}),
        )
        .str("key")
        .to_string();
    let api = Api::with_key(&d, &admin);
    api.post("/api/webhooks", webhook_body("https://crm.example.com/"))
        .expect_status(201);
    d.sigterm();
    let needles = [admin.as_str(), publisher.as_str(), d.operator_key()];
    let mut files = 0;
    let mut stack = vec![d.data_dir().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for n in needles {
                assert!(
                    !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                    "a raw key is stored in {}",
                    path.display()
                );
            }
        }
    }
    assert!(files > 0, "the data directory holds the database");
}

#[test]
fn check_config_rejects_unknown_keys_and_bad_values_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str| {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let ok = run("[delivery]\nretry_schedule_secs = [1, 2]\n");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let unknown = run("[delivery]\nretry_schedule = [1, 2]\n");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("retry_schedule"));
    let bad = run("[storage]\ncache_mb = 0\n");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("storage.cache_mb"));
    let bad_net = run("[delivery]\nallowed_networks = [\"10.0.0.0/33\"]\n");
    assert!(!bad_net.status.success());
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["check-config", "--config", "/nonexistent/hookd.toml"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/hookd.toml"));
}

#[test]
fn sigterm_exits_zero_and_health_routes_answer() {
    let mut d = daemon();
    let anon = Api::anonymous(&d);
    anon.get("/healthz").expect_status(200);
    anon.get("/readyz").expect_status(200);
    assert!(anon
        .get("/metrics")
        .text
        .contains("hookd_events_ingested_total"));
    let status = d.sigterm();
    assert!(status.success(), "exit status {status:?}\n{}", d.output());
}

#[test]
fn serve_without_a_config_generates_the_operator_key_and_prints_where() {
    // Built-in defaults listen on 127.0.0.1:8080: skip if something else holds it.
    if std::net::TcpListener::bind("127.0.0.1:8080").is_err() {
        eprintln!("127.0.0.1:8080 is in use; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("HOOKD_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let key_file = dir.path().join("hookd-data/operator.key");
    let appeared = wait_until(Duration::from_secs(20), || key_file.exists());
    let ready = wait_until(Duration::from_secs(20), || {
        Api::new("http://127.0.0.1:8080", "")
            .try_send("GET", "/readyz", None, &[])
            .is_ok_and(|r| r.status == 200)
    });
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(appeared && ready, "{out}");
    assert!(status.success());
    assert!(
        out.contains("hookd listening on http://127.0.0.1:8080"),
        "{out}"
    );
    assert!(out.contains("operator.key"), "{out}");
    assert!(out.contains("/settings/webhooks"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The generated key works.
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(key.trim().len() >= 43);
}

#[test]
fn the_api_is_served_over_https_when_a_certificate_is_configured() {
    let pki_dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki().write_to(pki_dir.path());
    let d = TestDaemon::builder()
        .config_extra(&format!(
            "[server]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
            cert.display(),
            key.display()
        ))
        .api_ca_file(&ca)
        .start();
    assert!(d.base_url().starts_with("https://"), "{}", d.base_url());
    for alpn in [Alpn::H2AndHttp1, Alpn::Http1Only] {
        let client = HttpsClient::with_ca_file(&ca, alpn);
        let r = client
            .request(
                "POST",
                &d.url("/api/tenants"),
                &[
                    ("authorization", &format!("Bearer {}", d.operator_key())),
                    ("content-type", "application/json"),
                ],
                br#"{"name": "Acme"}"#,
            )
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

#[test]
fn hookd_config_names_the_config_file_and_bad_tls_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[storage]\ncache_mb = 0\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .arg("check-config")
        .env("HOOKD_CONFIG", &path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage.cache_mb"));
    let err = TestDaemon::builder()
        .config_extra("[server]\ntls_cert_file = \"/nonexistent/cert.pem\"\ntls_key_file = \"/nonexistent/key.pem\"")
        .try_start()
        .err()
        .expect("a missing certificate is refused at start");
    assert!(err.to_string().contains("tls_cert_file"), "{err}");
}

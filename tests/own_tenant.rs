//! `GET / PATCH /api/tenant`: a tenant's admin reads and changes its own name and alert
//! addresses; the operator does the same for a tenant it names with `X-Tenant-Id`.

mod common;

use serde_json::json;

use common::*;

#[test]
fn an_admin_reads_and_changes_its_own_tenant_and_the_change_survives_a_restart() {
    let mut d = TestDaemon::start();
    let (tenant, key) = create_tenant(&d, "Acme Motors");
    let admin = Api::with_key(&d, &key);

    let r = admin.get("/api/tenant");
    r.expect_status(200);
    assert_eq!(r.json["id"], tenant.as_str());
    assert_eq!(r.json["name"], "Acme Motors");
    assert_eq!(r.json["alert_emails"], json!([]));

    let r = admin.patch(
        "/api/tenant",
        json!({"alert_emails": [" ops@acme.example ", "Ada@acme.example", "ada@ACME.example"]}),
    );
    r.expect_status(200);
    assert_eq!(
        r.json["alert_emails"],
        json!(["ops@acme.example", "Ada@acme.example"]),
        "trimmed, duplicates dropped, order kept"
    );
    assert_eq!(r.json["name"], "Acme Motors", "an absent field stays");

    let r = admin.patch("/api/tenant", json!({"name": "Acme Motors GmbH"}));
    r.expect_status(200);
    assert_eq!(r.json["name"], "Acme Motors GmbH");
    assert_eq!(r.json["alert_emails"].as_array().map(Vec::len), Some(2));
    // The operator's list of tenants shows the new name too.
    let r = Api::as_operator(&d).get(&format!("/api/tenants/{tenant}"));
    assert_eq!(r.json["name"], "Acme Motors GmbH");

    d.restart();
    let admin = admin.rebase(d.base_url());
    let r = admin.get("/api/tenant");
    r.expect_status(200);
    assert_eq!(r.json["name"], "Acme Motors GmbH");
    assert_eq!(
        r.json["alert_emails"],
        json!(["ops@acme.example", "Ada@acme.example"])
    );

    // An empty list turns alerts off.
    let r = admin.patch("/api/tenant", json!({"alert_emails": []}));
    r.expect_status(200);
    assert_eq!(r.json["alert_emails"], json!([]));
}

#[test]
fn invalid_or_too_many_alert_addresses_are_422_naming_the_field_and_change_nothing() {
    let d = TestDaemon::start();
    let (_, key) = create_tenant(&d, "Acme");
    let admin = Api::with_key(&d, &key);
    admin
        .patch("/api/tenant", json!({"alert_emails": ["ops@acme.example"]}))
        .expect_status(200);

    for bad in [
        json!(["ops@acme.example", "not an address"]),
        json!(["ops@"]),
        json!(["Ops <ops@acme.example>"]),
        json!(["ops@acme.example\r\nBcc: x@evil.example"]),
    ] {
        let r = admin.patch("/api/tenant", json!({"alert_emails": bad}));
        r.expect_status(422);
        assert_eq!(r.error_code(), Some("invalid_email"), "{}", r.text);
        assert_eq!(r.json["error"]["field"], "alert_emails");
    }
    let eleven: Vec<String> = (0..11).map(|i| format!("ops{i}@acme.example")).collect();
    let r = admin.patch("/api/tenant", json!({ "alert_emails": eleven }));
    r.expect_status(422);
    assert_eq!(r.error_code(), Some("too_many_alert_emails"));
    assert_eq!(r.json["error"]["field"], "alert_emails");
    let ten: Vec<String> = (0..10).map(|i| format!("ops{i}@acme.example")).collect();
    admin
        .patch("/api/tenant", json!({ "alert_emails": ten }))
        .expect_status(200);

    let r = admin.patch("/api/tenant", json!({"name": "  "}));
    r.expect_status(422);
    assert_eq!(r.json["error"]["field"], "name");
    let r = admin.patch("/api/tenant", json!({"plan": "gold"}));
    r.expect_status(400);
    assert_eq!(r.error_code(), Some("unknown_field"));
    let r = admin.patch("/api/tenant", json!({"alert_emails": "ops@acme.example"}));
    r.expect_status(400);

    let r = admin.get("/api/tenant");
    assert_eq!(r.json["name"], "Acme");
    assert_eq!(r.json["alert_emails"].as_array().map(Vec::len), Some(10));
}

#[test]
fn the_own_tenant_route_is_scoped_to_the_callers_tenant() {
    let d = TestDaemon::start();
    let (a, key_a) = create_tenant(&d, "Tenant A");
    let (b, key_b) = create_tenant(&d, "Tenant B");
    let op = Api::as_operator(&d);

    // Each admin key sees and changes only its own tenant.
    assert_eq!(
        Api::with_key(&d, &key_a).get("/api/tenant").json["id"],
        a.as_str()
    );
    Api::with_key(&d, &key_b)
        .patch("/api/tenant", json!({"alert_emails": ["b@b.example"]}))
        .expect_status(200);
    let r = Api::with_key(&d, &key_a).get("/api/tenant");
    assert_eq!(r.json["alert_emails"], json!([]));
    // X-Tenant-Id means nothing to a tenant key.
    let r = Api::with_key(&d, &key_a).tenant(&b).get("/api/tenant");
    assert_eq!(r.json["id"], a.as_str());

    // The operator names the tenant; without the header it is a 400.
    let r = op.get("/api/tenant");
    r.expect_status(400);
    assert_eq!(r.error_code(), Some("missing_tenant"));
    let r = op.clone().tenant(&b).get("/api/tenant");
    r.expect_status(200);
    assert_eq!(r.json["alert_emails"], json!(["b@b.example"]));
    op.clone()
        .tenant(&a)
        .patch("/api/tenant", json!({"name": "Renamed A"}))
        .expect_status(200);
    assert_eq!(
        Api::with_key(&d, &key_a).get("/api/tenant").json["name"],
        "Renamed A"
    );
    op.clone()
        .tenant("ten_01JD3QZ9X8N6R2V4T7Y5K1M0PA")
        .get("/api/tenant")
        .expect_status(404);

    // A publisher key may not read or change tenant settings; no key is a 401.
    let r = op.post(
        &format!("/api/tenants/{a}/keys"),
        json!({"role": "publisher"}),
    );
    r.expect_status(201);
    let publisher = Api::with_key(&d, r.str("key"));
    publisher.get("/api/tenant").expect_status(403);
    publisher
        .patch("/api/tenant", json!({"name": "x"}))
        .expect_status(403);
    Api::anonymous(&d).get("/api/tenant").expect_status(401);
}

//! One tenant cannot hold more than `delivery.max_webhooks_per_tenant` webhooks, so it
//! cannot starve the others by sheer number.

mod common;

use common::*;
use serde_json::json;

#[test]
fn creating_more_webhooks_than_the_tenant_limit_is_422_limit_exceeded() {
    let d = TestDaemon::builder()
        .config_extra(JOB_CATALOG)
        .config_extra("[delivery]\nmax_webhooks_per_tenant = 3\n")
        .start();
    let (_, key) = create_tenant(&d, "acme");
    let api = Api::with_key(&d, &key);
    let mut ids = Vec::new();
    for i in 0..3 {
        let url = format!("https://crm.example.com/hooks/{i}");
        ids.push(new_webhook(&api, &url, json!(["job.*"]), json!({})).0);
    }
    let r = api.post(
        "/api/webhooks",
        json!({"url": "https://crm.example.com/hooks/4", "events": ["job.*"], "verify": false}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_code(), Some("limit_exceeded"));
    assert!(r.json["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains('3')));

    // Another tenant has its own allowance.
    let (_, other) = create_tenant(&d, "globex");
    let other = Api::with_key(&d, &other);
    new_webhook(
        &other,
        "https://crm.example.com/hooks/4",
        json!(["job.*"]),
        json!({}),
    );

    // Deleting one makes room again.
    api.delete(&format!("/api/webhooks/{}", ids[0]))
        .expect_status(204);
    new_webhook(
        &api,
        "https://crm.example.com/hooks/4",
        json!(["job.*"]),
        json!({}),
    );
}

#[test]
fn the_webhook_limit_is_a_checked_config_key() {
    let err = TestDaemon::builder()
        .config_extra("[delivery]\nmax_webhooks_per_tenant = 0\n")
        .try_start()
        .err()
        .expect("a limit of 0 is refused");
    assert!(
        err.to_string().contains("delivery.max_webhooks_per_tenant"),
        "{err}"
    );
}

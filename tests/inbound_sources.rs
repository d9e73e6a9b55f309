//! Inbound sources, black-box: third-party webhooks (AccuLynx, GitHub, Shopify, Stripe,
//! Standard Webhooks) received at `/ingest/{id}`, verified, deduplicated, routed to
//! subscribed webhooks and delivered over HTTPS; the request log; limits; kill -9.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// What AccuLynx's subscription API hands back at registration (any string will do).
const ACCULYNX_SECRET: &str = "acculynx-subscription-secret-7f3a9c";

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A notification shaped like AccuLynx's documented schema.
fn acculynx_body(event_id: &str, milestone: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "topicName": "job-milestone-changed",
        "eventDateTime": "2023-07-11T22:38:57.1993216Z",
        "eventId": event_id,
        "subscriptionId": "f30009c1-b6e3-432a-9a0e-6932c9fabdd8",
        "Event": {
            "jobId": "24732e2b-bc9f-4a7a-a0a3-6200902a6fb4",
            "companyId": "f218fc64-352c-410d-86b7-36787b88b26e",
            "milestoneId": 3,
            "milestoneName": milestone,
            "companyUserId": "e38c052d-38ef-4bb7-90d3-9868bb623aed",
            "adminId": "d133c31c-78b9-495f-a370-aa2ac43c3545",
            "message": "This job was approved",
            "actionLocation": null,
            "milestoneDate": "2023-07-11T22:38:57.0539859Z"
        }
    }))
    .unwrap()
}

/// The AccuLynx source: HMAC-SHA256 of the body, hex, in `X-Signature`.
fn acculynx_source(api: &Api) -> Resp {
    let r = api.post(
        "/api/sources",
        json!({
            "name": "AccuLynx",
            "verification": {"scheme": "hmac-sha256", "secret": ACCULYNX_SECRET,
                             "header": "X-Signature", "encoding": "hex"},
            "type_field": "/topicName",
            "id_field": "/eventId",
            "type_prefix": "acculynx.",
        }),
    );
    r.expect_status(201);
    r
}

fn acculynx_signature(body: &[u8]) -> String {
    hex::encode(hmac_sha256(ACCULYNX_SECRET.as_bytes(), body))
}

/// `POST /ingest/{id}` with no API key, as a provider sends it.
fn ingest(d: &TestDaemon, source_id: &str, body: &[u8], headers: &[(&str, &str)]) -> Resp {
    Api::anonymous(d).post_raw(
        &format!("/ingest/{source_id}"),
        body,
        "application/json",
        headers,
    )
}

/// `POST /ingest/{source_id}` with `body` signed as the AccuLynx source expects.
fn ingest_acculynx(d: &TestDaemon, source_id: &str, body: &[u8]) -> Resp {
    ingest(
        d,
        source_id,
        body,
        &[("X-Signature", &acculynx_signature(body))],
    )
}

fn request_log(api: &Api, source_id: &str) -> Vec<Value> {
    let r = api.get(&format!("/api/sources/{source_id}/requests"));
    r.expect_status(200);
    r.json["data"].as_array().cloned().unwrap_or_default()
}

/// A tenant with an admin client, and a daemon delivering to `rx`.
fn setup(rx: &TestReceiver, extra: &str) -> (TestDaemon, Api) {
    let d = TestDaemon::builder()
        .delivering_to(rx)
        .config_extra(extra)
        .start();
    let (_, key) = create_tenant(&d, "Roofing Co");
    let api = Api::with_key(&d, &key);
    (d, api)
}

#[test]
fn acculynx_notification_signed_with_hmac_is_accepted_routed_and_delivered() {
    let rx = TestReceiver::https();
    let (d, api) = setup(&rx, "");
    // The subscription exists before any AccuLynx event was ever received.
    let (_, wh_secret) = new_webhook(&api, &rx.url("/roofing"), json!(["acculynx.*"]), json!({}));
    let src = acculynx_source(&api);
    let source_id = src.str("id").to_string();
    assert!(source_id.starts_with("src_"), "{}", src.text);
    assert_eq!(
        src.str("ingest_url"),
        d.url(&format!("/ingest/{source_id}")),
        "ingest_url is the daemon's own address"
    );
    assert_eq!(src.json["verification"]["secret"], ACCULYNX_SECRET);

    let body = acculynx_body("a653de1a-84a6-488c-90bc-f6c8e990bf51", "Approved");
    let sig = acculynx_signature(&body);
    let r = ingest(&d, &source_id, &body, &[("X-Signature", &sig)]);
    r.expect_status(202);
    assert_eq!(r.str("type"), "acculynx.job-milestone-changed");
    let event_id = r.str("id").to_string();

    assert!(rx.wait_for(1, Duration::from_secs(15)), "not delivered");
    let got = rx.last().unwrap();
    assert_eq!(got.path, "/roofing");
    assert!(verify_standard(&wh_secret, &got), "hookd's own signature");
    assert!(verify_hex(&wh_secret, &got));
    let envelope = got.json();
    assert_eq!(envelope["id"], event_id);
    assert_eq!(envelope["type"], "acculynx.job-milestone-changed");
    assert_eq!(
        envelope["data"]["object"],
        serde_json::from_slice::<Value>(&body).unwrap(),
        "data is the received JSON"
    );
    assert_eq!(
        got.header("x-webhook-event"),
        Some("acculynx.job-milestone-changed")
    );

    // The type joined the catalog under the source's name.
    let types = api.get("/api/event-types");
    let entry = types.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "acculynx.job-milestone-changed")
        .cloned()
        .unwrap_or_else(|| panic!("not in the catalog: {}", types.text));
    assert_eq!(entry["category"], "AccuLynx");
    // An exact subscription to it is now possible too.
    new_webhook(
        &api,
        &rx.url("/exact"),
        json!(["acculynx.job-milestone-changed"]),
        json!({}),
    );

    // The event is the tenant's, and the log links the request to it.
    api.get(&format!("/api/events/{event_id}"))
        .expect_status(200);
    let log = request_log(&api, &source_id);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["event_id"], event_id);
    assert_eq!(log[0]["verification"]["result"], "valid");
    assert_eq!(log[0]["status_code"], 202);
    assert_eq!(log[0]["headers"]["x-signature"], "[redacted]");
}

#[test]
fn wrong_or_missing_signatures_are_401_logged_with_their_reason_and_never_delivered() {
    let rx = TestReceiver::https();
    let (d, api) = setup(&rx, "");
    new_webhook(&api, &rx.url("/roofing"), json!(["acculynx.*"]), json!({}));
    let source_id = acculynx_source(&api).str("id").to_string();
    let body = acculynx_body("5d1c0b7e-0000-4000-8000-000000000001", "Approved");

    let wrong = hex::encode(hmac_sha256(b"not-the-secret", &body));
    let r = ingest(&d, &source_id, &body, &[("X-Signature", &wrong)]);
    r.expect_status(401);
    assert_eq!(r.error_code(), Some("invalid_signature"), "{}", r.text);

    let r = ingest(&d, &source_id, &body, &[]);
    r.expect_status(401);
    assert_eq!(r.error_code(), Some("missing_signature"), "{}", r.text);

    // The right signature over a different body is wrong for this one.
    let tampered = acculynx_body("5d1c0b7e-0000-4000-8000-000000000001", "Lost");
    let r = ingest(
        &d,
        &source_id,
        &tampered,
        &[("X-Signature", &acculynx_signature(&body))],
    );
    r.expect_status(401);

    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rx.count(), 0, "a refused request was delivered");
    let events: Vec<Value> = api.get("/api/event-types").json["data"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        !events.iter().any(|t| t["category"] == "AccuLynx"),
        "a refused request added a type to the catalog"
    );

    // The log shows every failure, newest first, with why, so a wrong secret is found.
    let log = request_log(&api, &source_id);
    assert_eq!(log.len(), 3, "{log:?}");
    for entry in &log {
        assert_eq!(entry["verification"]["result"], "invalid");
        assert_eq!(entry["outcome"], "unauthorized");
        assert_eq!(entry["status_code"], 401);
        assert!(entry["event_id"].is_null());
    }
    assert!(
        log[1]["reason"].as_str().unwrap().contains("missing"),
        "{}",
        log[1]
    );
    assert!(
        log[2]["reason"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{}",
        log[2]
    );
    assert_eq!(log[2]["headers"]["x-signature"], "[redacted]");
    assert!(log[2]["body"]
        .as_str()
        .unwrap()
        .contains("job-milestone-changed"));
    assert!(log[0]["received_at"].as_str().unwrap() >= log[2]["received_at"].as_str().unwrap());

    // Paginated like the delivery log.
    let page = api.get(&format!("/api/sources/{source_id}/requests?limit=2"));
    assert_eq!(page.json["data"].as_array().unwrap().len(), 2);
    let cursor = page.str("next_cursor").to_string();
    let rest = api.get(&format!(
        "/api/sources/{source_id}/requests?limit=2&cursor={cursor}"
    ));
    assert_eq!(rest.json["data"].as_array().unwrap().len(), 1);
    assert!(rest.json["next_cursor"].is_null());

    // With the right secret it goes through.
    let r = ingest_acculynx(&d, &source_id, &body);
    r.expect_status(202);
    assert!(rx.wait_for(1, Duration::from_secs(15)));
}

#[test]
fn a_replayed_event_id_is_acknowledged_but_not_delivered_twice() {
    let rx = TestReceiver::https();
    let (d, api) = setup(&rx, "");
    new_webhook(&api, &rx.url("/roofing"), json!(["acculynx.*"]), json!({}));
    let source_id = acculynx_source(&api).str("id").to_string();
    let body = acculynx_body("0b9a3c3e-1111-4222-8333-444455556666", "Approved");
    let first = ingest_acculynx(&d, &source_id, &body);
    first.expect_status(202);
    // A redelivery by the sender, even with another body, carries the same eventId.
    let again = acculynx_body("0b9a3c3e-1111-4222-8333-444455556666", "Approved again");
    let second = ingest_acculynx(&d, &source_id, &again);
    second.expect_status(200);
    assert_eq!(second.str("id"), first.str("id"));
    assert_eq!(second.json["duplicate"], true);

    assert!(rx.wait_for(1, Duration::from_secs(15)));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rx.count(), 1, "the repeat was delivered");
    let log = request_log(&api, &source_id);
    assert_eq!(log[0]["outcome"], "duplicate");
    assert_eq!(log[0]["status_code"], 200);
    assert_eq!(log[0]["event_id"], first.str("id"));

    // Without an id in the body, the body's SHA-256 is the id.
    let no_id = br#"{"topicName":"job-created","Event":{"jobId":"j-1"}}"#;
    let sig = acculynx_signature(no_id);
    ingest(&d, &source_id, no_id, &[("X-Signature", &sig)]).expect_status(202);
    ingest(&d, &source_id, no_id, &[("X-Signature", &sig)]).expect_status(200);
    assert!(rx.wait_for(2, Duration::from_secs(15)));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(rx.count(), 2);
}

#[test]
fn a_body_without_its_type_is_422_naming_the_pointer() {
    let rx = TestReceiver::https();
    let (d, api) = setup(&rx, "");
    let source_id = acculynx_source(&api).str("id").to_string();
    // The schema table of the AccuLynx document spells the field `topicNamee` in its
    // example: a source configured for `/topicName` refuses it and says where it looked.
    let body = br#"{"topicNamee":"job-milestone-changed","eventId":"x-1"}"#;
    let r = ingest_acculynx(&d, &source_id, body);
    r.expect_status(422);
    assert_eq!(r.error_code(), Some("missing_event_type"));
    assert_eq!(r.json["error"]["field"], "/topicName");

    let body = br#"{"topicName":42}"#;
    let r = ingest_acculynx(&d, &source_id, body);
    r.expect_status(422);
    assert_eq!(r.json["error"]["field"], "/topicName");

    let body = b"not json";
    let r = ingest_acculynx(&d, &source_id, body);
    r.expect_status(400);
    assert_eq!(r.error_code(), Some("invalid_json"));

    let log = request_log(&api, &source_id);
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|e| e["verification"]["result"] == "valid"));
    assert!(log.iter().all(|e| e["outcome"] == "invalid"));
}

#[test]
fn standard_webhooks_source_accepts_any_of_several_signatures_and_refuses_a_stale_timestamp() {
    let rx = TestReceiver::https();
    let (d, api) = setup(&rx, "");
    new_webhook(&api, &rx.url("/all"), json!(["*"]), json!({}));
    let src = api.post(
        "/api/sources",
        json!({"name": "Billing", "verification": {"scheme": "standard-webhooks"},
               "type_prefix": "billing."}),
    );
    src.expect_status(201);
    let source_id = src.str("id").to_string();
    // hookd made the secret; the sender is given it.
    let secret = src.json["verification"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(src.json["type_field"], "/type");
    assert_eq!(src.json["id_header"], "webhook-id");

    let body = br#"{"type":"invoice.paid","data":{"id":"inv_1"}}"#;
    let send = |msg_id: &str, ts: i64, sigs: &str| {
        ingest(
            &d,
            &source_id,
            body,
            &[
                ("webhook-id", msg_id),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", sigs),
            ],
        )
    };
    let now = unix_now();
    let good = receiver::standard_signature(&secret, "msg_1", &now.to_string(), body);
    let r = send("msg_1", now, &format!("v1,Zm9yZ2VkIHNpZ25hdHVyZQ== {good}"));
    r.expect_status(202);
    assert_eq!(r.str("type"), "billing.invoice.paid");

    let stale = now - 600;
    let sig = receiver::standard_signature(&secret, "msg_2", &stale.to_string(), body);
    let r = send("msg_2", stale, &sig);
    r.expect_status(401);
    assert_eq!(r.error_code(), Some("stale_timestamp"), "{}", r.text);
    let future = now + 600;
    let sig = receiver::standard_signature(&secret, "msg_3", &future.to_string(), body);
    send("msg_3", future, &sig).expect_status(401);
    // The same message id again (the sender retrying) is a duplicate.
    let sig = receiver::standard_signature(&secret, "msg_1", &now.to_string(), body);
    send("msg_1", now, &sig).expect_status(200);

    assert!(rx.wait_for(1, Duration::from_secs(15)));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(rx.count(), 1);
    let log = request_log(&api, &source_id);
    assert!(
        log[1]["reason"].as_str().unwrap().contains("future"),
        "{}",
        log[1]
    );
    assert!(
        log[2]["reason"].as_str().unwrap().contains("old"),
        "{}",
        log[2]
    );
    assert_eq!(log[3]["headers"]["webhook-signature"], "[redacted]");
}

#[test]
fn github_shopify_and_stripe_presets_verify_their_providers_signatures() {
    let rx = TestReceiver::https();
    let (d, api) = setup(&rx, "");
    new_webhook(
        &api,
        &rx.url("/all"),
        json!(["github.*", "shopify.*", "stripe.*"]),
        json!({}),
    );

    // GitHub, with the example of GitHub's "Validating webhook deliveries" page.
    let gh = api.post(
        "/api/sources",
        json!({"name": "GitHub", "verification": {"scheme": "github", "secret": "It's a Secret to Everybody"}}),
    );
    gh.expect_status(201);
    assert_eq!(gh.json["type_header"], "X-GitHub-Event");
    assert_eq!(gh.json["type_prefix"], "github.");
    let gh_id = gh.str("id").to_string();
    let documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let r = ingest(
        &d,
        &gh_id,
        b"Hello, World!",
        &[
            ("X-Hub-Signature-256", documented),
            ("X-GitHub-Event", "ping"),
        ],
    );
    // The signature is valid; the documented payload is just not JSON.
    r.expect_status(400);
    assert_eq!(
        request_log(&api, &gh_id)[0]["verification"]["result"],
        "valid"
    );
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let sig = format!(
        "sha256={}",
        hex::encode(hmac_sha256(b"It's a Secret to Everybody", body))
    );
    let headers = [
        ("X-Hub-Signature-256", sig.as_str()),
        ("X-GitHub-Event", "ping"),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ];
    let r = ingest(&d, &gh_id, body, &headers);
    r.expect_status(202);
    assert_eq!(r.str("type"), "github.ping");
    ingest(&d, &gh_id, body, &headers).expect_status(200);
    let r = ingest(
        &d,
        &gh_id,
        body,
        &[
            ("X-Hub-Signature-256", documented),
            ("X-GitHub-Event", "ping"),
        ],
    );
    r.expect_status(401);

    // Shopify: base64 HMAC of the body with the app's secret; topic and id in headers.
    let shop_secret = "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";
    let shop = api.post(
        "/api/sources",
        json!({"name": "Shopify", "verification": {"scheme": "shopify", "secret": shop_secret}}),
    );
    shop.expect_status(201);
    let shop_id = shop.str("id").to_string();
    let body = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    let sig = b64(&hmac_sha256(shop_secret.as_bytes(), body));
    let r = ingest(
        &d,
        &shop_id,
        body,
        &[
            ("X-Shopify-Hmac-Sha256", sig.as_str()),
            ("X-Shopify-Topic", "orders/create"),
            (
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            ),
        ],
    );
    r.expect_status(202);
    assert_eq!(r.str("type"), "shopify.orders.create");
    let wrong = b64(&hmac_sha256(b"other", body));
    ingest(
        &d,
        &shop_id,
        body,
        &[
            ("X-Shopify-Hmac-Sha256", wrong.as_str()),
            ("X-Shopify-Topic", "orders/create"),
        ],
    )
    .expect_status(401);

    // Stripe: `t=..,v1=..` over `{t}.{body}` with the whole `whsec_` string as key.
    let stripe_secret = "whsec_test_stripe_endpoint_secret";
    let stripe = api.post(
        "/api/sources",
        json!({"name": "Stripe", "verification": {"scheme": "stripe", "secret": stripe_secret}}),
    );
    stripe.expect_status(201);
    let stripe_id = stripe.str("id").to_string();
    let body = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"customer.subscription.created"}"#;
    let stripe_header = |t: i64| {
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(body);
        format!(
            "t={t},v1={},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
            hex::encode(hmac_sha256(stripe_secret.as_bytes(), &signed))
        )
    };
    let r = ingest(
        &d,
        &stripe_id,
        body,
        &[("Stripe-Signature", &stripe_header(unix_now()))],
    );
    r.expect_status(202);
    assert_eq!(r.str("type"), "stripe.customer.subscription.created");
    let r = ingest(
        &d,
        &stripe_id,
        body,
        &[("Stripe-Signature", &stripe_header(unix_now() - 400))],
    );
    r.expect_status(401);
    assert_eq!(r.error_code(), Some("stale_timestamp"));

    assert!(
        rx.wait_for(3, Duration::from_secs(15)),
        "got {}",
        rx.count()
    );
    let mut types: Vec<String> = rx
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or("").to_string())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "github.ping",
            "shopify.orders.create",
            "stripe.customer.subscription.created"
        ]
    );
}

#[test]
fn sources_are_tenant_scoped_validated_and_their_secret_is_write_only() {
    let rx = TestReceiver::https();
    let (d, api) = setup(
        &rx,
        "[server]\npublic_url = \"https://hooks.example.com/\"\n",
    );
    let src = acculynx_source(&api);
    let id = src.str("id").to_string();
    assert_eq!(
        src.str("ingest_url"),
        format!("https://hooks.example.com/ingest/{id}"),
        "ingest_url follows server.public_url"
    );

    let got = api.get(&format!("/api/sources/{id}"));
    got.expect_status(200);
    assert!(
        got.json["verification"].get("secret").is_none(),
        "{}",
        got.text
    );
    assert_eq!(got.json["verification"]["header"], "X-Signature");
    assert_eq!(got.json["type_field"], "/topicName");
    let list = api.get("/api/sources");
    assert_eq!(list.json["data"].as_array().unwrap().len(), 1);
    assert!(list.json["data"][0]["verification"].get("secret").is_none());
    assert_eq!(
        api.get(&format!("/api/sources/{id}/secret")).json["secret"],
        ACCULYNX_SECRET
    );

    // GET-modify-PUT keeps the secret it never saw.
    let mut echoed = got.json.clone();
    echoed["description"] = json!("AccuLynx job events");
    api.put(&format!("/api/sources/{id}"), &echoed)
        .expect_status(200);
    assert_eq!(
        api.get(&format!("/api/sources/{id}/secret")).json["secret"],
        ACCULYNX_SECRET
    );
    let patched = api.patch(
        &format!("/api/sources/{id}"),
        json!({"type_prefix": "roofing."}),
    );
    patched.expect_status(200);
    assert_eq!(patched.json["type_prefix"], "roofing.");
    assert_eq!(patched.json["id_field"], "/eventId");

    // Another tenant sees nothing of it.
    let (_, other_key) = create_tenant(&d, "Other Co");
    let other = Api::with_key(&d, &other_key);
    for path in ["", "/secret", "/requests"] {
        let r = other.get(&format!("/api/sources/{id}{path}"));
        r.expect_status(404);
    }
    other
        .patch(&format!("/api/sources/{id}"), json!({"name": "x"}))
        .expect_status(404);
    other
        .delete(&format!("/api/sources/{id}"))
        .expect_status(404);
    assert!(other.get("/api/sources").json["data"]
        .as_array()
        .unwrap()
        .is_empty());
    // No key at all is 401 (only /ingest/ is open).
    Api::anonymous(&d).get("/api/sources").expect_status(401);

    // Validation errors name the field.
    let cases = [
        (
            json!({"name": "x", "verification": {"scheme": "md5", "secret": "s"}, "type_field": "/t"}),
            "verification.scheme",
        ),
        (
            json!({"name": "x", "verification": {"scheme": "none"}, "type_field": "/t"}),
            "allow_unsigned",
        ),
        (
            json!({"name": "x", "verification": {"scheme": "hmac-sha256", "secret": "s"}, "type_field": "t"}),
            "type_field",
        ),
        (
            json!({"name": "x", "verification": {"scheme": "hmac-sha256", "secret": "s"}}),
            "type_field",
        ),
        (
            json!({"name": "x", "verification": {"scheme": "hmac-sha256", "secret": "s", "encoding": "hexadecimal"}, "type_field": "/t"}),
            "verification.encoding",
        ),
        (
            json!({"name": "x", "verification": {"scheme": "github", "secret": "s", "header": "X-Sig"}}),
            "verification.header",
        ),
        (
            json!({"name": "x", "verification": {"scheme": "standard-webhooks", "secret": "plain"}}),
            "verification.secret",
        ),
        (
            json!({"name": "x", "verification": {"scheme": "github", "secret": "s"}, "type_prefix": "GitHub"}),
            "type_prefix",
        ),
        (
            json!({"name": "", "verification": {"scheme": "github", "secret": "s"}}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let r = api.post("/api/sources", &body);
        r.expect_status(422);
        assert_eq!(r.json["error"]["field"], field, "{body}: {}", r.text);
    }
    // Unsigned only when asked for in so many words.
    let open = api.post(
        "/api/sources",
        json!({"name": "Internal", "verification": {"scheme": "none"}, "allow_unsigned": true,
               "type_field": "/kind", "type_prefix": "internal."}),
    );
    open.expect_status(201);
    let open_id = open.str("id").to_string();
    ingest(&d, &open_id, br#"{"kind":"ping"}"#, &[]).expect_status(202);
    assert_eq!(
        request_log(&api, &open_id)[0]["verification"]["result"],
        "skipped"
    );

    // Deleted: its URL answers 404 like one that never existed, revealing nothing.
    api.delete(&format!("/api/sources/{id}")).expect_status(204);
    let body = acculynx_body("e-1", "Approved");
    let gone = ingest(
        &d,
        &id,
        &body,
        &[("X-Signature", &acculynx_signature(&body))],
    );
    let never = ingest(&d, "src_01JNEVEREXISTED0000000000", &body, &[]);
    gone.expect_status(404);
    never.expect_status(404);
    assert_eq!(gone.text, never.text);
    api.get(&format!("/api/sources/{id}")).expect_status(404);
}

#[test]
fn body_size_and_the_tenants_ingest_rate_limit_apply_to_inbound_requests() {
    let rx = TestReceiver::https();
    let (d, api) = setup(
        &rx,
        "[server]\nmax_payload_bytes = 2048\ningest_rate_limit_per_sec = 1\n",
    );
    let source_id = acculynx_source(&api).str("id").to_string();
    let big = format!(r#"{{"topicName":"x","pad":"{}"}}"#, "a".repeat(4096));
    let r = ingest(
        &d,
        &source_id,
        big.as_bytes(),
        &[("X-Signature", &acculynx_signature(big.as_bytes()))],
    );
    r.expect_status(413);
    // Burst of two per second at 1/s: the third in a row is refused with Retry-After.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..4 {
        let body = acculynx_body(&format!("rate-{i}"), "Approved");
        let r = ingest_acculynx(&d, &source_id, &body);
        if r.status == 429 {
            retry_after = r.header("retry-after").map(str::to_string);
        }
        statuses.push(r.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)));
    let log = request_log(&api, &source_id);
    assert!(log
        .iter()
        .any(|e| e["outcome"] == "rate_limited" && e["status_code"] == 429));
    let too_large = log
        .iter()
        .find(|e| e["outcome"] == "too_large")
        .expect("413 logged");
    assert_eq!(too_large["status_code"], 413);
}

#[test]
fn kill9_right_after_a_202_loses_no_inbound_event() {
    let rx = TestReceiver::https();
    let (mut d, api) = setup(&rx, "");
    new_webhook(&api, &rx.url("/roofing"), json!(["acculynx.*"]), json!({}));
    let source_id = acculynx_source(&api).str("id").to_string();
    let mut accepted = Vec::new();
    for i in 0..20 {
        let body = acculynx_body(&format!("crash-{i}"), "Approved");
        let r = ingest_acculynx(&d, &source_id, &body);
        r.expect_status(202);
        accepted.push((body, r.str("id").to_string()));
    }
    d.kill9();
    d.restart();
    let api = api.rebase(d.base_url());
    for (_, id) in &accepted {
        api.get(&format!("/api/events/{id}")).expect_status(200);
    }
    // The dedup records survived with their events: a redelivery is still a duplicate.
    let (body, first_id) = &accepted[19];
    let r = ingest_acculynx(&d, &source_id, body);
    r.expect_status(200);
    assert_eq!(r.str("id"), first_id);
    // The log entries answered with 202 are there too.
    let log = api.get(&format!("/api/sources/{source_id}/requests?limit=250"));
    let accepted_ids: Vec<&str> = log.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "accepted")
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    for (_, id) in &accepted {
        assert!(
            accepted_ids.contains(&id.as_str()),
            "log entry of {id} lost"
        );
    }
    // And every event reaches the receiver (at least once).
    assert!(
        wait_until(Duration::from_secs(30), || {
            let got: std::collections::HashSet<String> = rx
                .received()
                .iter()
                .filter_map(|r| r.header("webhook-id").map(str::to_string))
                .collect();
            accepted.iter().all(|(_, id)| got.contains(id))
        }),
        "not every accepted event was delivered after the restart"
    );
}

/// Lines of a child's stdout, read on a thread.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collect lines until one contains `mark` (or 15 s pass).
fn read_until(lines: &std::sync::mpsc::Receiver<String>, mark: &str) -> String {
    let mut seen = String::new();
    while let Ok(l) = lines.recv_timeout(Duration::from_secs(15)) {
        seen.push_str(&l);
        seen.push('\n');
        if l.contains(mark) {
            break;
        }
    }
    seen
}

#[test]
fn hookd_listen_reports_a_real_delivery_valid_and_a_tampered_body_invalid() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut listen = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["listen", "--port", "0", "--secret", SECRET])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn hookd listen");
    let lines = lines_of(&mut listen);
    let first = lines
        .recv_timeout(Duration::from_secs(15))
        .expect("listen started");
    let listen_url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("listen URL")
        .to_string();

    let rx = TestReceiver::https();
    let (d, api) = setup(&rx, "[delivery]\nallow_http = true\n");
    // The same event goes to `hookd listen` and to a receiver that captures it.
    for url in [format!("{listen_url}hooks"), rx.url("/capture")] {
        api.post(
            "/api/webhooks",
            json!({"url": url, "events": ["acculynx.*"], "secret": SECRET, "verify": false}),
        )
        .expect_status(201);
    }
    let source_id = acculynx_source(&api).str("id").to_string();
    let body = acculynx_body("listen-1", "Approved");
    ingest_acculynx(&d, &source_id, &body).expect_status(202);

    let valid = read_until(&lines, "signatures:");
    assert!(
        valid.contains("event=acculynx.job-milestone-changed"),
        "{valid}"
    );
    assert!(
        valid.contains("webhook-signature valid, X-Webhook-Signature valid"),
        "{valid}"
    );

    // The captured delivery, its body changed by one byte, sent to `hookd listen`.
    assert!(rx.wait_for(1, Duration::from_secs(15)));
    let got = rx.last().unwrap();
    let mut tampered = got.body.clone();
    tampered.push(b' ');
    let mut req = ureq::post(&format!("{listen_url}hooks"));
    for h in [
        "content-type",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-webhook-signature",
        "x-webhook-event",
    ] {
        req = req.set(h, got.header(h).unwrap_or(""));
    }
    let _ = req.send_bytes(&tampered);
    let invalid = read_until(&lines, "signatures:");
    let _ = listen.kill();
    let _ = listen.wait();
    assert!(
        invalid.contains("webhook-signature INVALID, X-Webhook-Signature INVALID"),
        "{invalid}"
    );
}

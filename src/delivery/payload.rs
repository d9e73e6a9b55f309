//! What a receiver gets: the body (envelope or bare data) and the headers,
//! signed. Pure functions: the attempt builds a request from these.

use std::collections::BTreeMap;

use crate::model::{format_ms, Event, PayloadFormat, Webhook};
use crate::signing::{hex_signature, standard_signature};

/// The delivery log shows at most this much of a request body.
pub const REQUEST_LOG_CAP: usize = 10 * 1024;

/// `hookd/<version>`.
pub const USER_AGENT: &str = concat!("hookd/", env!("CARGO_PKG_VERSION"));

/// The request body for this webhook's payload format.
///
/// The envelope is written directly around the stored `data` and `actor`, which are
/// compact JSON already (made so when the event was accepted): no parse and re-serialise
/// of the payload per attempt. Its keys are in sorted order, as a `serde_json::Map` writes
/// them.
pub fn body(event: &Event, format: PayloadFormat) -> Vec<u8> {
    match format {
        PayloadFormat::Data => event.data.as_bytes().to_vec(),
        PayloadFormat::Envelope => {
            let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
            let data = if event.data.trim().is_empty() {
                "null"
            } else {
                event.data.as_str()
            };
            let actor = event
                .actor
                .as_deref()
                .filter(|a| !a.trim().is_empty())
                .unwrap_or("null");
            let mut out = Vec::with_capacity(event.data.len() + 192);
            out.extend_from_slice(b"{\"account_id\":");
            out.extend_from_slice(quoted(&event.tenant_id).as_bytes());
            out.extend_from_slice(b",\"actor\":");
            out.extend_from_slice(actor.as_bytes());
            out.extend_from_slice(b",\"created\":");
            out.extend_from_slice(quoted(&format_ms(event.created_at)).as_bytes());
            out.extend_from_slice(b",\"data\":{\"object\":");
            out.extend_from_slice(data.as_bytes());
            out.extend_from_slice(b"},\"id\":");
            out.extend_from_slice(quoted(&event.id).as_bytes());
            out.extend_from_slice(b",\"type\":");
            out.extend_from_slice(quoted(&event.event_type).as_bytes());
            out.push(b'}');
            out
        }
    }
}

/// The names of the headers [`headers`] sets itself, in the order it sets them.
pub const OWN_HEADERS: [&str; 9] = [
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-webhook-signature",
    "x-webhook-event",
    "x-webhook-delivery",
    "x-webhook-attempt",
];

/// The headers whose values seldom repeat within an HTTP/2 connection's header table
/// (4 KiB, a few dozen entries): the signatures and the delivery id differ on every
/// request, the event id and the timestamp on nearly every one when many events are in
/// flight. Sent as never-indexed literals: entered into the table they only push out the
/// values that do repeat, and every entry of the same name is compared on each lookup.
pub const NOT_INDEXED: [&str; 5] = [
    "webhook-signature",
    "x-webhook-signature",
    "x-webhook-delivery",
    "webhook-id",
    "webhook-timestamp",
];

/// Every header of one attempt, in the contract's order, ending with the webhook's own.
/// `secrets` are the current secret first, then rotated ones still in grace.
pub fn headers(
    webhook: &Webhook,
    secrets: &[&str],
    event: &Event,
    delivery_id: &str,
    attempt: u32,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let standard: Vec<String> = secrets
        .iter()
        .map(|s| standard_signature(s, &event.id, timestamp, body))
        .collect();
    let mut h = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("user-agent".to_string(), USER_AGENT.to_string()),
        ("webhook-id".to_string(), event.id.clone()),
        ("webhook-timestamp".to_string(), timestamp.to_string()),
        ("webhook-signature".to_string(), standard.join(" ")),
        (
            "x-webhook-signature".to_string(),
            hex_signature(secrets.first().copied().unwrap_or(""), body),
        ),
        ("x-webhook-event".to_string(), event.event_type.clone()),
        ("x-webhook-delivery".to_string(), delivery_id.to_string()),
        ("x-webhook-attempt".to_string(), attempt.to_string()),
    ];
    for (k, v) in &webhook.headers {
        h.push((k.clone(), v.clone()));
    }
    h
}

/// The headers as the delivery log keeps them: the webhook's own header values are
/// redacted (they are often credentials: `X-Api-Key`, `Authorization`). Takes the sent
/// headers over rather than copying them: once sent they are only logged.
pub fn headers_for_log(
    mut headers: Vec<(String, String)>,
    custom: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    for (k, v) in &mut headers {
        if custom.contains_key(k) {
            *v = "[redacted]".to_string();
        }
    }
    headers
}

/// The first `cap` bytes of `bytes` as text (lossy), cut on a character boundary.
pub fn capture(bytes: &[u8], cap: usize) -> String {
    let cut = &bytes[..bytes.len().min(cap)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    while s.len() > cap {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            id: "evt_1".into(),
            tenant_id: "ten_1".into(),
            event_type: "customer.created".into(),
            data: r#"{"id":"cus_1"}"#.into(),
            actor: Some(r#"{"id":"usr_9"}"#.into()),
            created_at: 0,
        }
    }

    #[test]
    fn envelope_is_the_same_bytes_as_a_serde_json_object_of_its_fields() {
        let e = event();
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        let expected = serde_json::json!({
            "id": e.id,
            "type": e.event_type,
            "created": format_ms(e.created_at),
            "data": {"object": data},
            "account_id": e.tenant_id,
            "actor": serde_json::from_str::<serde_json::Value>(e.actor.as_deref().unwrap()).unwrap(),
        });
        assert_eq!(
            String::from_utf8(body(&e, PayloadFormat::Envelope)).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }

    #[test]
    fn the_own_headers_are_those_set_in_that_order() {
        let wh = crate::delivery::testkit::webhook("wh_1", "ten_1");
        let names: Vec<String> = headers(&wh, &["whsec_x"], &event(), "dlv_1", 1, 0, b"{}")
            .into_iter()
            .map(|(k, _)| k)
            .take(OWN_HEADERS.len())
            .collect();
        assert_eq!(names, OWN_HEADERS);
    }

    #[test]
    fn envelope_has_the_contract_fields() {
        let v: serde_json::Value =
            serde_json::from_slice(&body(&event(), PayloadFormat::Envelope)).unwrap();
        assert_eq!(v["id"], "evt_1");
        assert_eq!(v["type"], "customer.created");
        assert_eq!(v["data"]["object"]["id"], "cus_1");
        assert_eq!(v["account_id"], "ten_1");
        assert_eq!(v["actor"]["id"], "usr_9");
        assert_eq!(v["created"], "1970-01-01T00:00:00.000Z");
        assert_eq!(body(&event(), PayloadFormat::Data), br#"{"id":"cus_1"}"#);
    }
}

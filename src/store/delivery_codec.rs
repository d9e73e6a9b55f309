//! How a delivery is laid out in storage.
//!
//! A delivery is written twice or more (when created, then with each attempt), and most of
//! its logged request headers repeat what the delivery itself holds: the event id, its
//! type, the delivery id, the fixed content type, and the names of hookd's own headers.
//! Format 2 stores each such header as a one-byte tag (and a known name as its index),
//! which takes ~40 % off an attempted delivery's bytes, and every byte of it is written
//! again by each flush and compaction. Decoding gives back exactly the headers logged.
//! Format 1 values (the plain postcard of [`Delivery`]) are still read.

use serde::{Deserialize, Serialize};

use super::codec::{self, FORMAT_V1};
use super::StoreError;
use crate::model::{Attempt, Delivery, DeliveryStatus, PayloadFormat, RequestLog, Trigger};

/// The format deliveries are written in today.
const DELIVERY_V2: u8 = 2;

/// hookd's own header names, stored by their index. Append only: the index is stored.
const KNOWN: [&str; 5] = [
    "user-agent",
    "webhook-timestamp",
    "webhook-signature",
    "x-webhook-signature",
    "x-webhook-attempt",
];

/// One logged header as stored.
#[derive(Serialize, Deserialize)]
enum Header<S> {
    /// `content-type: application/json`.
    Json,
    /// `webhook-id: <the delivery's event id>`.
    EventId,
    /// `x-webhook-event: <the delivery's event type>`.
    EventType,
    /// `x-webhook-delivery: <the delivery's id>`.
    DeliveryId,
    /// The name at this index of [`KNOWN`], with its value.
    Known(u8, S),
    /// Any other header, as logged.
    Other(S, S),
}

/// A delivery in format 2, borrowed for writing. Field order is the stored order.
#[derive(Serialize)]
struct DeliveryRef<'a> {
    id: &'a str,
    tenant_id: &'a str,
    webhook_id: &'a str,
    event_id: &'a str,
    event_type: &'a str,
    status: DeliveryStatus,
    created_at: u64,
    next_attempt_at: Option<u64>,
    attempts: &'a [Attempt],
    request: Option<RequestRef<'a>>,
    trigger: Trigger,
}

#[derive(Serialize)]
struct RequestRef<'a> {
    headers: Vec<Header<&'a str>>,
    body: &'a str,
    body_format: Option<PayloadFormat>,
}

/// A delivery in format 2, as read.
#[derive(Deserialize)]
struct Stored {
    id: String,
    tenant_id: String,
    webhook_id: String,
    event_id: String,
    event_type: String,
    status: DeliveryStatus,
    created_at: u64,
    next_attempt_at: Option<u64>,
    attempts: Vec<Attempt>,
    request: Option<StoredRequest>,
    trigger: Trigger,
}

#[derive(Deserialize)]
struct StoredRequest {
    headers: Vec<Header<String>>,
    body: String,
    body_format: Option<PayloadFormat>,
}

/// `[2] ++ postcard(format 2 of d)`.
pub(super) fn encode(d: &Delivery) -> Vec<u8> {
    let request = d.request.as_ref().map(|r| RequestRef {
        headers: r.headers.iter().map(|(k, v)| tag(d, k, v)).collect(),
        body: &r.body,
        body_format: r.body_format,
    });
    let stored = DeliveryRef {
        id: &d.id,
        tenant_id: &d.tenant_id,
        webhook_id: &d.webhook_id,
        event_id: &d.event_id,
        event_type: &d.event_type,
        status: d.status,
        created_at: d.created_at,
        next_attempt_at: d.next_attempt_at,
        attempts: &d.attempts,
        request,
        trigger: d.trigger,
    };
    // Serialising plain fields into a Vec cannot fail; an empty payload (read back as
    // corrupt) rather than a panic should it ever.
    postcard::to_extend(&stored, vec![DELIVERY_V2]).unwrap_or_else(|_| vec![DELIVERY_V2])
}

/// Reverse of [`encode`]; format 1 values too.
pub(super) fn decode(bytes: &[u8]) -> Result<Delivery, StoreError> {
    match bytes.split_first() {
        Some((&DELIVERY_V2, rest)) => {
            let mut s: Stored = postcard::from_bytes(rest)
                .map_err(|e| StoreError::Corrupt(format!("cannot decode stored delivery: {e}")))?;
            let request = s.request.take().map(|r| {
                let ids = Ids {
                    id: &s.id,
                    event_id: &s.event_id,
                    event_type: &s.event_type,
                };
                RequestLog {
                    headers: r.headers.into_iter().map(|h| untag(&ids, h)).collect(),
                    body: r.body,
                    body_format: r.body_format,
                }
            });
            Ok(Delivery {
                id: s.id,
                tenant_id: s.tenant_id,
                webhook_id: s.webhook_id,
                event_id: s.event_id,
                event_type: s.event_type,
                status: s.status,
                created_at: s.created_at,
                next_attempt_at: s.next_attempt_at,
                attempts: s.attempts,
                request,
                trigger: s.trigger,
            })
        }
        Some((&FORMAT_V1, _)) => codec::decode(bytes),
        Some((v, _)) => Err(StoreError::Corrupt(format!(
            "stored delivery has format version {v}, this build reads versions 1 and 2"
        ))),
        None => Err(StoreError::Corrupt("empty stored delivery".into())),
    }
}

fn tag<'a>(d: &Delivery, name: &'a str, value: &'a str) -> Header<&'a str> {
    match name {
        "content-type" if value == "application/json" => Header::Json,
        "webhook-id" if value == d.event_id => Header::EventId,
        "x-webhook-event" if value == d.event_type => Header::EventType,
        "x-webhook-delivery" if value == d.id => Header::DeliveryId,
        _ => match KNOWN.iter().position(|k| *k == name) {
            Some(i) => Header::Known(i as u8, value),
            None => Header::Other(name, value),
        },
    }
}

/// What a tagged header refers to.
struct Ids<'a> {
    id: &'a str,
    event_id: &'a str,
    event_type: &'a str,
}

fn untag(ids: &Ids<'_>, h: Header<String>) -> (String, String) {
    match h {
        Header::Json => ("content-type".into(), "application/json".into()),
        Header::EventId => ("webhook-id".into(), ids.event_id.into()),
        Header::EventType => ("x-webhook-event".into(), ids.event_type.into()),
        Header::DeliveryId => ("x-webhook-delivery".into(), ids.id.into()),
        Header::Known(i, v) => (
            KNOWN
                .get(i as usize)
                .copied()
                .unwrap_or("x-unknown-header")
                .into(),
            v,
        ),
        Header::Other(k, v) => (k, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempted() -> Delivery {
        let mut d = Delivery {
            id: "dlv_01JD5V0Q7X".into(),
            tenant_id: "ten_1".into(),
            webhook_id: "wh_1".into(),
            event_id: "evt_01JD5V0Q7W".into(),
            event_type: "rental.contract.signed".into(),
            status: DeliveryStatus::Retrying,
            created_at: 1_764_633_600_000,
            next_attempt_at: Some(1_764_633_660_000),
            attempts: vec![Attempt {
                attempt: 1,
                status_code: Some(503),
                duration_ms: 12,
                error: Some("receiver answered HTTP 503".into()),
                response_body: "busy".into(),
                attempted_at: 1_764_633_600_010,
            }],
            request: None,
            trigger: Trigger::Event,
        };
        let headers = [
            ("content-type", "application/json"),
            ("user-agent", "hookd/0.1.0"),
            ("webhook-id", "evt_01JD5V0Q7W"),
            ("webhook-timestamp", "1764633600"),
            (
                "webhook-signature",
                "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
            ),
            ("x-webhook-signature", "sha256=0f0e"),
            ("x-webhook-event", "rental.contract.signed"),
            ("x-webhook-delivery", "dlv_01JD5V0Q7X"),
            ("x-webhook-attempt", "1"),
            ("x-api-key", "[redacted]"),
            // Not what the tag stands for: stored as it is.
            ("content-type", "text/plain"),
            ("webhook-id", "evt_other"),
        ];
        d.request = Some(RequestLog {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: String::new(),
            body_format: Some(PayloadFormat::Envelope),
        });
        d
    }

    #[test]
    fn a_delivery_reads_back_exactly_as_written_and_smaller_than_format_1() {
        let d = attempted();
        let bytes = encode(&d);
        assert_eq!(bytes[0], DELIVERY_V2);
        assert_eq!(decode(&bytes).unwrap(), d);
        let v1 = codec::encode(&d);
        assert!(
            bytes.len() * 10 < v1.len() * 7,
            "{} vs {}",
            bytes.len(),
            v1.len()
        );
        let fresh = Delivery {
            request: None,
            attempts: vec![],
            ..d
        };
        assert_eq!(decode(&encode(&fresh)).unwrap(), fresh);
    }

    #[test]
    fn format_1_deliveries_are_still_read_and_unknown_formats_are_errors() {
        let d = attempted();
        assert_eq!(decode(&codec::encode(&d)).unwrap(), d);
        let mut bytes = encode(&d);
        bytes[0] = 9;
        assert!(decode(&bytes).is_err());
        assert!(decode(&[]).is_err());
        assert!(decode(&[DELIVERY_V2, 0xff]).is_err());
    }
}

//! A delivery: one event to one webhook, with every attempt made.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not attempted yet.
    Pending,
    /// Attempted and failed; another attempt is scheduled.
    Retrying,
    Success,
    /// Out of retries (or the webhook was disabled / deleted).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Success => "success",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "retrying" => Some(DeliveryStatus::Retrying),
            "success" => Some(DeliveryStatus::Success),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }

    /// Still owed an attempt.
    pub fn is_open(self) -> bool {
        matches!(self, DeliveryStatus::Pending | DeliveryStatus::Retrying)
    }
}

/// Why a delivery exists.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Trigger {
    /// An event was published and fanned out to the webhook (or replayed to it).
    Event,
    /// `POST /api/webhooks/{id}/test`: sent once at once, recorded in the log, never
    /// retried, and counted in neither the webhook's health nor its statistics.
    Test,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Event => "event",
            Trigger::Test => "test",
        }
    }
}

/// What was sent, as the log shows it: headers without secrets, body cut at 10 KiB.
///
/// The body sent is a pure function of the event and the payload format, and the event is
/// kept (and purged) with its deliveries, so the log stores the format rather than a copy
/// of the body: a third fewer bytes written per delivery. `body` holds the text only for
/// a request that was not built from the event that way.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RequestLog {
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body was `delivery::payload::body(event, format)`.
    pub body_format: Option<super::PayloadFormat>,
}

/// One attempt, recorded on its delivery (durable with the next group commit) in the same
/// write that moves the delivery's schedule entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    pub attempt: u32,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub response_body: String,
    pub attempted_at: u64,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && matches!(self.status_code, Some(200..=299))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub tenant_id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub created_at: u64,
    /// When the next attempt is due (also the key in the schedule tree); `None` once final.
    pub next_attempt_at: Option<u64>,
    pub attempts: Vec<Attempt>,
    pub request: Option<RequestLog>,
    pub trigger: Trigger,
}

impl Delivery {
    /// A new delivery of `event` to a webhook, due at `now`.
    pub fn pending(event: &super::Event, webhook_id: &str, now: u64) -> Delivery {
        Delivery::pending_as(
            super::new_id(super::IdKind::Delivery),
            event,
            webhook_id,
            now,
        )
    }

    /// The delivery a publish stores for `event` and a webhook, with the id `id`: due at
    /// the event's own time, every field but the id derived from the event. Publish makes
    /// them with a new id; the first attempt rebuilds one from its event instead of keeping
    /// or reading it.
    pub fn published_as(id: String, event: &super::Event, webhook_id: &str) -> Delivery {
        Delivery::pending_as(id, event, webhook_id, event.created_at)
    }

    /// [`Delivery::pending`] with the id `id`.
    fn pending_as(id: String, event: &super::Event, webhook_id: &str, now: u64) -> Delivery {
        Delivery {
            id,
            tenant_id: event.tenant_id.clone(),
            webhook_id: webhook_id.to_string(),
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            status: DeliveryStatus::Pending,
            created_at: now,
            next_attempt_at: Some(now),
            attempts: Vec::new(),
            request: None,
            trigger: Trigger::Event,
        }
    }
}

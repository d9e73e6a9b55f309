//! Plain data: what hookd stores and serves. No I/O here.
//!
//! Stored structs are encoded with postcard (see `store::codec`), which is not
//! self-describing: so JSON payloads are kept as JSON *text* (`String`), never as
//! `serde_json::Value`, and no field uses `skip_serializing_if`.

mod alert;
mod alert_emails;
mod builtin_catalog;
mod delivery;
mod event;
mod event_type;
mod ids;
mod latency;
mod source;
mod tenant;
mod time;
mod webhook;

pub use alert::{AlertKind, OwedAlert};
pub use alert_emails::{validate_alert_emails, AlertEmailsError};
pub use builtin_catalog::builtin_event_types;
pub use delivery::{Attempt, Delivery, DeliveryStatus, RequestLog, Trigger};
pub use event::Event;
pub use event_type::{
    validate_event_type_name, EventType, OPERATIONAL_CATEGORY, OPERATIONAL_EVENT_TYPES,
};
pub use ids::{new_id, IdKind};
#[cfg(test)]
pub use latency::bin_value_ms;
pub use latency::{latency_bin, percentile_ms, LATENCY_BINS};
pub use source::{
    InboundOutcome, InboundRequest, Locator, SignatureEncoding, Source, Verification,
    VerificationResult,
};
pub use tenant::{ApiKey, Role, Tenant};
pub use time::{format_ms, now_ms, parse_rfc3339_ms};
pub use webhook::{
    subscription_matches, validate_subscription, Breaker, BreakerState, PayloadFormat, Webhook,
    WebhookHealth, WebhookStatus,
};

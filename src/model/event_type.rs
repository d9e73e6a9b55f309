//! The event-type catalog entry and the rules for names.

use serde::{Deserialize, Serialize};

/// One catalog entry. `sample` is JSON text (what `/test` sends).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventType {
    pub name: String,
    pub category: String,
    pub description: String,
    pub sample: String,
}

/// Event types the daemon raises itself; always in the catalog, under the category
/// [`OPERATIONAL_CATEGORY`]. `(name, description, sample)`.
pub const OPERATIONAL_EVENT_TYPES: &[(&str, &str, &str)] = &[
    (
        "webhook.failing",
        "A webhook failed too many times in a row: hookd holds its queue and probes it",
        r#"{"webhook_id":"wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA","name":"CRM sync","reason":"5 failed attempts in a row","consecutive_failures":5,"last_status_code":503,"last_error":"HTTP 503","at":"2026-11-22T10:30:00.000Z"}"#,
    ),
    (
        "webhook.recovered",
        "A failing webhook accepted a delivery again and is active",
        r#"{"webhook_id":"wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA","name":"CRM sync","failing_since":"2026-11-22T10:30:00.000Z","at":"2026-11-22T11:02:14.000Z"}"#,
    ),
    (
        "webhook.disabled",
        "A webhook was disabled by hookd (410 Gone, or failing too long)",
        r#"{"webhook_id":"wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA","name":"CRM sync","reason":"the endpoint answered 410 Gone","last_status_code":410,"last_error":"receiver answered HTTP 410","at":"2026-11-22T10:30:00.000Z"}"#,
    ),
];

/// The display group of the operational event types.
pub const OPERATIONAL_CATEGORY: &str = "hookd";

/// A name is dotted lowercase segments: `customer.created`, `task.comment.added`.
pub fn validate_event_type_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    for segment in name.split('.') {
        if segment.is_empty() {
            return Err("segments separated by dots must not be empty".into());
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(
                "segments may hold only lowercase letters, digits, `_` and `-` (e.g. customer.created)"
                    .into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_lowercase_names_are_valid() {
        assert!(validate_event_type_name("task.comment.added").is_ok());
        assert!(validate_event_type_name("Customer.Created").is_err());
        assert!(validate_event_type_name("customer..created").is_err());
        assert!(validate_event_type_name("customer.*").is_err());
    }
}

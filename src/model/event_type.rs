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

/// Event types the daemon raises itself; always in the catalog (CONTRACT §3).
pub const OPERATIONAL_EVENT_TYPES: &[(&str, &str, &str)] = &[(
    "webhook.disabled",
    "A webhook was disabled by hookd (410 Gone, or failing too long)",
    r#"{"webhook_id":"wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA","reason":"endpoint answered 410 Gone","at":"2026-11-22T10:30:00.000Z"}"#,
)];

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

//! A webhook (subscription) and the rules for what it subscribes to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum WebhookStatus {
    Active,
    /// Set by an admin, or by hookd (410 Gone, failing too long).
    Disabled,
    /// Set by hookd only: too many failures in a row; its breaker holds the queue.
    Failing,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Active => "active",
            WebhookStatus::Disabled => "disabled",
            WebhookStatus::Failing => "failing",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `{"id","type","created","data":{"object":...},"account_id","actor"}`.
    Envelope,
    /// The event's `data` object alone.
    Data,
}

impl PayloadFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Envelope => "envelope",
            PayloadFormat::Data => "data",
        }
    }

    pub fn parse(s: &str) -> Option<PayloadFormat> {
        match s {
            "envelope" => Some(PayloadFormat::Envelope),
            "data" => Some(PayloadFormat::Data),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Holding the queue until `next_probe_at`.
    Open,
    /// One probe delivery is in flight.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// The circuit breaker's durable state (part of [`WebhookHealth`], so a restart resumes it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Breaker {
    pub state: BreakerState,
    pub next_probe_at: Option<u64>,
    /// How many times it has opened in a row: the cool-down grows with it.
    pub opened_times: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: BreakerState::Closed,
            next_probe_at: None,
            opened_times: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    pub url: String,
    pub events: Vec<String>,
    /// `POST` or `PUT`.
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub status: WebhookStatus,
    pub ordered: bool,
    pub rate_limit_per_sec: u32,
    /// `None`: the config's `delivery.timeout_secs`.
    pub timeout_secs: Option<f64>,
    /// `None`: the config's `delivery.retry_schedule_secs`.
    pub retry_schedule_secs: Option<Vec<f64>>,
    pub payload_format: PayloadFormat,
    pub consecutive_failures: u32,
    /// `whsec_` + base64 of 24 random bytes.
    pub secret: String,
    /// Rotated-out secrets still signing beside the new one, each with its expiry (ms).
    pub previous_secrets: Vec<(String, u64)>,
    /// When the webhook became `failing` (for auto-disable).
    pub failing_since: Option<u64>,
    pub disabled_reason: Option<String>,
    pub breaker: Breaker,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A webhook's health as the delivery engine sees it: stored in a record of its own,
/// written only by the engine, so an admin's edit of the webhook and the engine's view of
/// its receiver never overwrite each other. [`Webhook`] carries a copy of these fields (and
/// the `failing` status derived from them) for reading.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WebhookHealth {
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// When the webhook became `failing`; `None`: it is not failing.
    pub failing_since: Option<u64>,
    pub breaker: Breaker,
}

impl Webhook {
    /// The health fields of this webhook.
    pub fn health(&self) -> WebhookHealth {
        WebhookHealth {
            consecutive_failures: self.consecutive_failures,
            failing_since: self.failing_since,
            breaker: self.breaker.clone(),
        }
    }

    /// This webhook as its admin set it, with `health` laid over it: the health fields are
    /// copied and the status is `disabled` when set so (by an admin, or by hookd giving up),
    /// else `failing` while the health says so, else `active`.
    pub fn with_health(mut self, health: &WebhookHealth) -> Webhook {
        self.consecutive_failures = health.consecutive_failures;
        self.failing_since = health.failing_since;
        self.breaker = health.breaker.clone();
        if self.status != WebhookStatus::Disabled {
            self.status = match health.failing_since {
                Some(_) => WebhookStatus::Failing,
                None => WebhookStatus::Active,
            };
        }
        self
    }

    /// Does this webhook want events of this type?
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.events
            .iter()
            .any(|pattern| subscription_matches(pattern, event_type))
    }
}

/// `*` matches everything; `prefix.*` every name starting with `prefix.`; otherwise exact.
pub fn subscription_matches(pattern: &str, event_type: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => event_type
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == event_type,
    }
}

/// Checks a subscription entry against the catalog: an exact name must exist; a wildcard
/// `prefix.*` must have a syntactically valid prefix.
pub fn validate_subscription(
    pattern: &str,
    in_catalog: impl Fn(&str) -> bool,
) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    if let Some(prefix) = pattern.strip_suffix(".*") {
        return super::validate_event_type_name(prefix)
            .map_err(|p| format!("`{pattern}` is not a valid wildcard: prefix {p}"));
    }
    if pattern.contains('*') {
        return Err(format!(
            "`{pattern}` is not a valid wildcard: use `*` or `prefix.*`"
        ));
    }
    if in_catalog(pattern) {
        Ok(())
    } else {
        Err(format!("`{pattern}` is not in the event type catalog"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matches_only_whole_segments() {
        assert!(subscription_matches("*", "customer.created"));
        assert!(subscription_matches("customer.*", "customer.created"));
        assert!(subscription_matches("task.*", "task.comment.added"));
        assert!(!subscription_matches("customer.*", "customers.created"));
        assert!(!subscription_matches("customer.*", "customer"));
        assert!(subscription_matches("deal.created", "deal.created"));
        assert!(!subscription_matches("deal.created", "deal.created.x"));
    }

    #[test]
    fn subscriptions_are_checked_against_the_catalog() {
        let catalog = |n: &str| n == "customer.created";
        assert!(validate_subscription("customer.created", catalog).is_ok());
        assert!(validate_subscription("customer.deleted", catalog).is_err());
        assert!(validate_subscription("customer.*", catalog).is_ok());
        assert!(validate_subscription("cust*", catalog).is_err());
        assert!(validate_subscription("*", catalog).is_ok());
    }
}

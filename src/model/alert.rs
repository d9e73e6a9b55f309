//! An alert e-mail owed to a tenant: what happened to which webhook, kept in the store's
//! alert queue until it is sent.

use serde::{Deserialize, Serialize};

/// Why an alert is sent.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum AlertKind {
    /// Too many failed attempts in a row: the circuit breaker holds the queue and probes.
    Failing,
    /// hookd stopped delivering to it (410 Gone, or failing for too long).
    Disabled,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Failing => "failing",
            AlertKind::Disabled => "disabled",
        }
    }
}

/// One owed alert. The facts are those of the moment the webhook changed (the webhook may
/// be edited or deleted before the mail goes out); the recipients are read when it is sent,
/// so the tenant's current `alert_emails` get it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OwedAlert {
    /// `alr_...`
    pub id: String,
    pub tenant_id: String,
    pub webhook_id: String,
    pub webhook_name: String,
    /// The endpoint's host only: a URL's path or query often holds a token.
    pub endpoint_host: String,
    pub kind: AlertKind,
    /// Why, as a sentence.
    pub reason: String,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// When the webhook changed (Unix ms).
    pub at_ms: u64,
    /// Sends tried so far, and why the last one failed.
    pub tries: u32,
    pub last_failure: Option<String>,
}

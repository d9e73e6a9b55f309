//! A published event.

use serde::{Deserialize, Serialize};

/// An event as accepted from a publisher (or raised by hookd itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: String,
    pub tenant_id: String,
    pub event_type: String,
    /// The `data` object, as JSON text.
    pub data: String,
    /// The `actor` object, as JSON text, if the publisher sent one.
    pub actor: Option<String>,
    pub created_at: u64,
}

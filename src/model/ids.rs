//! Prefixed ULID ids (`wh_01J...`): sortable by creation time, so a tree keyed by id is
//! also in creation order, which listings, cursors and ordered delivery rely on.

use std::sync::Mutex;

/// What an id names; the prefix tells a person reading a log what they are looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Tenant,
    Key,
    Webhook,
    Event,
    Delivery,
    Source,
    /// A request received by an inbound source (its log entry).
    Request,
    /// An alert e-mail owed to a tenant's `alert_emails`.
    Alert,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Tenant => "ten_",
            IdKind::Key => "key_",
            IdKind::Webhook => "wh_",
            IdKind::Event => "evt_",
            IdKind::Delivery => "dlv_",
            IdKind::Source => "src_",
            IdKind::Request => "req_",
            IdKind::Alert => "alr_",
        }
    }
}

/// One monotonic generator for the process: two ids made in the same millisecond still
/// sort in the order they were made (event order for `ordered` webhooks).
static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);

/// A new id of this kind, greater than every id made before it in this process.
pub fn new_id(kind: IdKind) -> String {
    let ulid = {
        let mut guard = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
        let generator = guard.get_or_insert_with(ulid::Generator::new);
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random one.
        generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
    };
    format!("{}{}", kind.prefix(), ulid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_in_a_row_sort_in_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_id(IdKind::Event)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids[0].starts_with("evt_") && ids[0].len() == 30);
    }
}

//! Key layout of the hot keyspaces: `data`, where deliveries and their indexes live,
//! `events` and `schedule`. One fjall batch (atomic across keyspaces, blind writes: no
//! read-before-write) writes an event with all its deliveries, or an attempt with its
//! schedule move. Each key starts with a one-byte namespace; `/` below is a 0x00 byte.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `E` | evt_id | Event (in `events`; builds before it stored events in `data`) |
//! | `T` | ten_id / evt_id | () — a tenant's events in time order |
//! | `I` | ten_id / idempotency-key | IdempotencyRecord |
//! | `D` | dlv_id | Delivery |
//! | `W` | wh_id / dlv_id | () — a webhook's log in time order |
//! | `L` | evt_id | `[version] ++ postcard Vec<dlv_id>` — an event's deliveries, in creation order |
//! | `V` | evt_id / dlv_id | () — an event's deliveries as builds before the `L` list wrote them: read and removed, never written |
//! | `S` | wh_id / due ms (u64 BE) ++ dlv_id | () — what is owed an attempt, per webhook by due time (in `schedule`) |

pub const EVENT: u8 = b'E';
pub const TENANT_EVENT: u8 = b'T';
pub const IDEMPOTENCY: u8 = b'I';
pub const DELIVERY: u8 = b'D';
pub const WEBHOOK_DELIVERY: u8 = b'W';
/// One key per event listing its deliveries: a fan-out to ten webhooks writes one index
/// key instead of ten, so fewer keys go through the memtable, the journal, every flush and
/// every compaction.
pub const EVENT_DELIVERIES: u8 = b'L';
/// The per-delivery event index of earlier builds; still read and removed (see
/// `Store::event_delivery_ids`).
pub const LEGACY_EVENT_DELIVERY: u8 = b'V';
pub const SCHEDULE: u8 = b'S';

/// `ns ++ a`.
pub fn one(ns: u8, a: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + a.len());
    k.push(ns);
    k.extend_from_slice(a.as_bytes());
    k
}

/// `ns ++ a / b`.
pub fn two(ns: u8, a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + a.len() + b.len());
    k.push(ns);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// Every `ns ++ a / ...` key starts with this.
pub fn prefix(ns: u8, a: &str) -> Vec<u8> {
    two(ns, a, "")
}

/// The exclusive end of a prefix's range.
pub fn prefix_end(mut p: Vec<u8>) -> Vec<u8> {
    p.push(0xff);
    p
}

/// The part after the first 0x00 of a two-part key.
pub fn second(key: &[u8]) -> String {
    match key.iter().position(|b| *b == 0) {
        Some(i) => String::from_utf8_lossy(&key[i + 1..]).into_owned(),
        None => String::new(),
    }
}

/// The id of a one-part key.
pub fn first(key: &[u8]) -> String {
    String::from_utf8_lossy(key.get(1..).unwrap_or_default()).into_owned()
}

/// `S ++ wh_id / due ++ dlv_id`: one webhook's entries are one range, in due order, so a
/// lane reads its own work from its own cursor and never passes another webhook's.
pub fn schedule(webhook_id: &str, due_ms: u64, delivery_id: &str) -> Vec<u8> {
    let mut k = schedule_at(webhook_id, due_ms);
    k.extend_from_slice(delivery_id.as_bytes());
    k
}

/// `S ++ wh_id / due`: where a webhook's entries due at `due_ms` begin.
pub fn schedule_at(webhook_id: &str, due_ms: u64) -> Vec<u8> {
    let mut k = schedule_start(webhook_id);
    k.extend_from_slice(&due_ms.to_be_bytes());
    k
}

/// `S ++ wh_id /`: where a webhook's schedule begins.
pub fn schedule_start(webhook_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + webhook_id.len() + 32);
    k.push(SCHEDULE);
    k.extend_from_slice(webhook_id.as_bytes());
    k.push(0);
    k
}

/// The exclusive end of a webhook's schedule: `S ++ wh_id ++ 0x01`. (Not `prefix_end`: the
/// byte after the separator is the due time's first byte, which may be 0xff.) Ids hold no
/// control bytes, so this is also below every longer id that starts with `wh_id`.
pub fn schedule_end(webhook_id: &str) -> Vec<u8> {
    let mut k = schedule_start(webhook_id);
    if let Some(last) = k.last_mut() {
        *last = 1;
    }
    k
}

/// (webhook id, due, delivery id) of a schedule key.
pub fn parse_schedule(key: &[u8]) -> Option<(String, u64, String)> {
    let rest = key.strip_prefix(&[SCHEDULE])?;
    let sep = rest.iter().position(|b| *b == 0)?;
    let (wh, rest) = rest.split_at(sep);
    let (due, id) = rest.get(1..)?.split_at_checked(8)?;
    Some((
        String::from_utf8(wh.to_vec()).ok()?,
        u64::from_be_bytes(due.try_into().ok()?),
        String::from_utf8(id.to_vec()).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_keys_group_by_webhook_sort_by_due_time_and_round_trip() {
        let a = schedule("wh_1", 5, "dlv_b");
        let b = schedule("wh_1", 6, "dlv_a");
        assert!(a < b);
        assert!(schedule_at("wh_1", 6) <= b && b < schedule_at("wh_1", 7));
        assert_eq!(
            parse_schedule(&a),
            Some(("wh_1".to_string(), 5, "dlv_b".to_string()))
        );
        let late = schedule("wh_1", u64::MAX, "dlv_c");
        assert!(schedule_start("wh_1") < late && late < schedule_end("wh_1"));
        // A webhook whose id extends another's sorts after the whole shorter range.
        let other = schedule("wh_12", 0, "dlv_d");
        assert!(schedule_end("wh_1") <= other);
        assert_eq!(second(&two(WEBHOOK_DELIVERY, "wh_1", "dlv_2")), "dlv_2");
        assert_eq!(first(&one(EVENT, "evt_1")), "evt_1");
    }
}

//! Key layout of the hot keyspaces: `data`, where every high-volume record lives, and
//! `schedule`. One fjall batch (atomic across keyspaces, blind writes: no
//! read-before-write) writes an event with all its deliveries, or an attempt with its
//! schedule move. Each key starts with a one-byte namespace; `/` below is a 0x00 byte.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `E` | evt_id | Event |
//! | `T` | ten_id / evt_id | () — a tenant's events in time order |
//! | `I` | ten_id / idempotency-key | IdempotencyRecord |
//! | `D` | dlv_id | Delivery |
//! | `W` | wh_id / dlv_id | () — a webhook's log in time order |
//! | `V` | evt_id / dlv_id | () — an event's deliveries |
//! | `S` | due ms (u64 BE) ++ dlv_id | wh_id — what is owed an attempt, by due time (in `schedule`) |

pub const EVENT: u8 = b'E';
pub const TENANT_EVENT: u8 = b'T';
pub const IDEMPOTENCY: u8 = b'I';
pub const DELIVERY: u8 = b'D';
pub const WEBHOOK_DELIVERY: u8 = b'W';
pub const EVENT_DELIVERY: u8 = b'V';
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

/// `S ++ due ++ dlv_id`.
pub fn schedule(due_ms: u64, delivery_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + delivery_id.len());
    k.push(SCHEDULE);
    k.extend_from_slice(&due_ms.to_be_bytes());
    k.extend_from_slice(delivery_id.as_bytes());
    k
}

/// `S ++ due`: where entries due at `due_ms` begin.
pub fn schedule_at(due_ms: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(SCHEDULE);
    k.extend_from_slice(&due_ms.to_be_bytes());
    k
}

/// (due, delivery id) of a schedule key.
pub fn parse_schedule(key: &[u8]) -> Option<(u64, String)> {
    let rest = key.strip_prefix(&[SCHEDULE])?;
    let (due, id) = rest.split_at_checked(8)?;
    Some((
        u64::from_be_bytes(due.try_into().ok()?),
        String::from_utf8(id.to_vec()).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_keys_sort_by_due_time_and_round_trip() {
        let a = schedule(5, "dlv_b");
        let b = schedule(6, "dlv_a");
        assert!(a < b);
        assert!(schedule_at(6) <= b && b < schedule_at(7));
        assert_eq!(parse_schedule(&a), Some((5, "dlv_b".to_string())));
        assert_eq!(second(&two(WEBHOOK_DELIVERY, "wh_1", "dlv_2")), "dlv_2");
        assert_eq!(first(&one(EVENT, "evt_1")), "evt_1");
    }
}

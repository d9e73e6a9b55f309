//! Striped locks that make a read-check-write on an event's deliveries atomic with respect
//! to every other such write: recording an attempt, a retry or replay, closing a delivery,
//! and the removals of retention and tenant deletion.
//!
//! fjall batches are atomic but do not read; a writer that must look first ("is the
//! delivery still there?", "is every delivery of this event final?") holds the stripe of
//! the event from its read to its commit. The high-volume path (ingest of new events)
//! takes no stripe: nobody else can know a new event's id yet.

use std::sync::{Mutex, MutexGuard};

const STRIPES: usize = 64;

static EVENT_STRIPES: [Mutex<()>; STRIPES] = [const { Mutex::new(()) }; STRIPES];

fn stripe_of(event_id: &str) -> usize {
    let h = event_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (h % STRIPES as u64) as usize
}

/// The lock of one event's deliveries.
pub(super) fn event(event_id: &str) -> MutexGuard<'static, ()> {
    // The guarded data is `()`: a panic while holding it leaves nothing torn.
    EVENT_STRIPES[stripe_of(event_id)]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The locks of several events' deliveries, taken in stripe order (so two holders of
/// several stripes never wait for each other in a cycle; holders of one never hold another).
pub(super) fn events<'a>(event_ids: impl Iterator<Item = &'a str>) -> Vec<MutexGuard<'static, ()>> {
    let mut stripes: Vec<usize> = event_ids.map(stripe_of).collect();
    stripes.sort_unstable();
    stripes.dedup();
    stripes
        .into_iter()
        .map(|i| EVENT_STRIPES[i].lock().unwrap_or_else(|p| p.into_inner()))
        .collect()
}

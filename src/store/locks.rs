//! Striped locks that make a read-check-write on an event's deliveries atomic with respect
//! to every other such write: recording an attempt, a retry or replay, closing a delivery,
//! and the removals of retention and tenant deletion.
//!
//! fjall batches are atomic but do not read; a writer that must look first ("is the
//! delivery still there?", "is every delivery of this event final?") holds the stripe of
//! the event from its read to its commit. The high-volume path (ingest of new events)
//! takes no stripe: nobody else can know a new event's id yet.
//!
//! Changes that an attempt in flight must see are also counted, in one process-wide
//! count: a writer that may change or remove an open delivery holds a [`Changing`] guard,
//! which adds one when it is let go, after the writes. The attempt record compares the
//! count, under its event's stripe, with the one taken before its copy of the delivery
//! was read (or, for a delivery just published, before it was stored): unchanged means
//! nobody else has changed that delivery since, so the copy is what is stored and need
//! not be read again. (An attempt is the only attempt of its delivery while it runs: the
//! scheduler holds each delivery once.) Such writers are rare (a retry or a close asked
//! over the API, a replay, a tenant deleted); retention, which removes only events whose
//! deliveries are all final, never touches a delivery an attempt works on and counts
//! nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

const STRIPES: usize = 64;

static EVENT_STRIPES: [Mutex<()>; STRIPES] = [const { Mutex::new(()) }; STRIPES];

/// Changes made so far by [`Changing`] holders (see the module comment).
static CHANGES: AtomicU64 = AtomicU64::new(0);

fn stripe_of(event_id: &str) -> usize {
    let h = event_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (h % STRIPES as u64) as usize
}

fn lock(stripe: usize) -> MutexGuard<'static, ()> {
    // The guarded data is `()`: a panic while holding it leaves nothing torn.
    EVENT_STRIPES[stripe]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The lock of one event's deliveries, for a writer that changes no open delivery
/// (retention) or is an attempt record.
pub(super) fn event(event_id: &str) -> MutexGuard<'static, ()> {
    lock(stripe_of(event_id))
}

/// A held stripe whose holder may change or remove an open delivery: counted as a change
/// when let go.
pub(super) struct Changing {
    // Dropped after `drop` below has counted: the count moves while the lock is held.
    _guard: MutexGuard<'static, ()>,
}

impl Drop for Changing {
    fn drop(&mut self) {
        // Release: whoever reads the new count also sees the writes made before it.
        CHANGES.fetch_add(1, Ordering::Release);
    }
}

/// [`event`] for a writer that may change or remove an open delivery.
pub(super) fn event_to_change(event_id: &str) -> Changing {
    Changing {
        _guard: lock(stripe_of(event_id)),
    }
}

/// The locks of several events' deliveries, taken in stripe order (so two holders of
/// several stripes never wait for each other in a cycle; holders of one never hold another).
pub(super) fn events_to_change<'a>(event_ids: impl Iterator<Item = &'a str>) -> Vec<Changing> {
    let mut stripes: Vec<usize> = event_ids.map(stripe_of).collect();
    stripes.sort_unstable();
    stripes.dedup();
    stripes
        .into_iter()
        .map(|stripe| Changing {
            _guard: lock(stripe),
        })
        .collect()
}

/// Where the change count stands: taken before a copy of a delivery is read.
pub(super) fn change_mark() -> u64 {
    // Acquire: a count that includes a change comes with that change's writes visible.
    CHANGES.load(Ordering::Acquire)
}

/// Whether a change was counted since `mark`. Asked with the event's stripe held, which
/// orders it after every change of that event's deliveries already made.
pub(super) fn changed_since(mark: u64) -> bool {
    CHANGES.load(Ordering::Acquire) != mark
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letting_go_of_a_changing_guard_moves_the_count_and_a_plain_one_does_not() {
        let mark = change_mark();
        drop(event_to_change("evt_a"));
        assert!(changed_since(mark));
        let mark = change_mark();
        drop(events_to_change(["evt_b", "evt_a"].into_iter()));
        assert!(changed_since(mark));
        // Other tests change deliveries concurrently; a quiet moment comes soon.
        let quiet = (0..1000).any(|_| {
            let mark = change_mark();
            drop(event("evt_a"));
            !changed_since(mark)
        });
        assert!(quiet, "a plain guard counts no change");
    }
}

//! Loading: what of the durable schedule is held in memory. A cursor over the schedule,
//! the memory caps (`delivery.max_loaded_deliveries` in all, [`PER_LANE_CAP`] per lane),
//! refills up to the horizon, and rescans when a hint was lost or an entry had no room.

use super::{
    Scheduler, Timer, HORIZON_MS, MAX_SKIPPED_PER_REFILL, PER_LANE_CAP, REFILL_BATCH,
    REFILL_PAUSE_MS,
};
use crate::delivery::{attempt, delay_until};
use crate::model::now_ms;
use crate::store::DueEntry;

/// What [`Scheduler::load`] did with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loaded {
    /// In memory now (or already), or closed because its webhook is gone.
    Yes,
    /// Left on disk: its lane is full (the lane reports when it has drained).
    LaneFull,
    /// Left on disk: the scheduler's memory cap is reached.
    MemoryFull,
}

impl Scheduler {
    pub(super) fn cap(&self) -> usize {
        self.ctx.config.delivery.max_loaded_deliveries
    }

    /// Put one schedule entry in memory (wheel or parked). An entry of a full lane is
    /// left on disk (the lane reports when it has drained enough to read it again).
    pub(super) fn load(&mut self, e: DueEntry, now: u64) -> Loaded {
        if self.known.contains(&e.delivery_id) {
            return Loaded::Yes;
        }
        if self.known.len() >= self.cap() {
            self.blocked_full = true;
            return Loaded::MemoryFull;
        }
        let Some(lane) = self.lane_mut(&e.webhook_id) else {
            // The webhook is gone: close the delivery without an attempt.
            self.close_orphan(e);
            return Loaded::Yes;
        };
        if !lane.admit(&e.delivery_id, PER_LANE_CAP) {
            return Loaded::LaneFull;
        }
        let due_now = e.due_ms <= now;
        if due_now {
            lane.park(e.due_ms, e.delivery_id.clone());
        }
        self.known.insert(e.delivery_id.clone());
        if due_now {
            self.mark_runnable(&e.webhook_id);
        } else {
            let delay = delay_until(e.due_ms, now);
            self.wheel.insert(Timer::Due(e), delay);
        }
        Loaded::Yes
    }

    fn close_orphan(&mut self, e: DueEntry) {
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            attempt::close_without_attempt(
                &ctx,
                &e.delivery_id,
                "not sent: the webhook was deleted",
            )
            .await;
        });
    }

    /// Read the schedule from the cursor up to now + horizon, as far as there is room;
    /// then set a timer for the next entry beyond. A refill that has skipped
    /// [`MAX_SKIPPED_PER_REFILL`] entries of full lanes stops there and goes on from its
    /// cursor a moment later, so attempts start (and the scheduler answers its messages)
    /// while a large backlog is still being read.
    pub(super) fn refill(&mut self) {
        let now = now_ms();
        let until = now.saturating_add(HORIZON_MS);
        let mut skipped = 0usize;
        'outer: loop {
            let batch = match self
                .ctx
                .store
                .due_entries(self.cursor.as_ref(), until, REFILL_BATCH)
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the schedule");
                    break;
                }
            };
            let n = batch.len();
            for e in batch {
                let cursor = e.clone();
                match self.load(e, now) {
                    Loaded::Yes => {}
                    Loaded::LaneFull => skipped += 1,
                    Loaded::MemoryFull => break 'outer,
                }
                self.cursor = Some(cursor);
            }
            if n < REFILL_BATCH {
                break;
            }
            if skipped >= MAX_SKIPPED_PER_REFILL {
                self.set_refill(now.saturating_add(REFILL_PAUSE_MS), now);
                return;
            }
        }
        // Wake again for the first entry beyond what was read (none: sleep until told).
        let next = self
            .ctx
            .store
            .due_entries(self.cursor.as_ref(), u64::MAX, 1)
            .ok()
            .and_then(|v| v.into_iter().next());
        if let Some(next) = next {
            if !self.blocked_full {
                let at = next
                    .due_ms
                    .saturating_sub(HORIZON_MS / 2)
                    .max(now.saturating_add(10));
                self.set_refill(at, now);
            }
        }
    }

    /// Refill at `at` (or earlier, if a refill is set for earlier already).
    pub(super) fn set_refill(&mut self, at: u64, now: u64) {
        if let Some((t, key)) = &self.refill_at {
            if *t <= at {
                return;
            }
            self.wheel.remove(key);
        }
        let key = self.wheel.insert(Timer::Refill, delay_until(at, now));
        self.refill_at = Some((at, key));
    }

    /// Forget the cursor: the next refill reads the schedule from the start (skipping what
    /// is loaded). Needed when an entry before the cursor may not be in memory.
    pub(super) fn rescan_soon(&mut self) {
        self.cursor = None;
        let now = now_ms();
        self.set_refill(now.saturating_add(200), now);
    }

    /// Hints of new deliveries.
    pub(super) fn accept_new(&mut self, entries: Vec<DueEntry>) {
        let now = now_ms();
        for e in entries {
            if self.load(e, now) == Loaded::MemoryFull {
                self.rescan_when_room = true;
            }
        }
    }

    /// A finished attempt's delivery: back into the wheel when its retry is due within
    /// the horizon; else out of memory (final, or found again by a refill: beyond the
    /// horizon is after the cursor).
    pub(super) fn reload_or_release(
        &mut self,
        delivery_id: &str,
        webhook_id: &str,
        next_due: Option<u64>,
    ) {
        let now = now_ms();
        match next_due {
            Some(due) if due <= now.saturating_add(HORIZON_MS) => {
                let entry = DueEntry {
                    due_ms: due,
                    delivery_id: delivery_id.to_string(),
                    webhook_id: webhook_id.to_string(),
                };
                self.wheel.insert(Timer::Due(entry), delay_until(due, now));
            }
            next => {
                self.known.remove(delivery_id);
                let drained = self
                    .lanes
                    .get_mut(webhook_id)
                    .is_some_and(|lane| lane.release(PER_LANE_CAP));
                if let Some(due) = next {
                    self.set_refill(due.saturating_sub(HORIZON_MS / 2), now);
                }
                if drained {
                    self.rescan_soon();
                }
            }
        }
        if self.blocked_full && self.known.len() < self.cap() / 10 * 9 {
            self.blocked_full = false;
            if std::mem::take(&mut self.rescan_when_room) {
                self.rescan_soon();
            } else {
                self.set_refill(now, now);
            }
        }
    }
}

//! Loading: what of the durable schedule is held in memory. Each webhook's schedule is
//! its own range of the store's schedule, read by its lane from the lane's own cursor up
//! to the horizon, within the memory caps (`delivery.max_loaded_deliveries` in all,
//! [`PER_LANE_CAP`] per lane). A lane that drains reads on from its cursor; nothing is
//! read twice, and no lane passes over another's entries, so the cost of a refill follows
//! what it loads, not the size of the backlog.

use super::{Scheduler, Timer, HORIZON_MS, PER_LANE_CAP, REFILL_BATCH, RESCAN_DELAY_MS};
use crate::delivery::{attempt, delay_until};
use crate::model::now_ms;
use crate::store::DueEntry;

/// Between two batches of a deleted webhook's entries being closed.
const ORPHAN_BATCH_PAUSE_MS: u64 = 1_000;

/// What [`Scheduler::load`] did with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loaded {
    /// In memory now (or already), or closed because its webhook is gone.
    Yes,
    /// Left on disk: its lane is full (the lane reads on when it has drained).
    LaneFull,
    /// Left on disk: the scheduler's memory cap is reached.
    MemoryFull,
}

impl Scheduler {
    pub(super) fn cap(&self) -> usize {
        self.ctx.config.delivery.max_loaded_deliveries
    }

    /// Put one schedule entry in memory (wheel or parked). An entry of a full lane is
    /// left on disk (the lane reads on once it drains).
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

    /// Closing is idempotent: an entry read again before its close is stored is closed
    /// once.
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

    /// Read every webhook's schedule, each from its lane's cursor: at start (recovery:
    /// every open delivery, including those in flight at a crash, is found again), after
    /// a lost hint (cursors reset first), and when memory has room again. Webhooks with a
    /// lane read on from its cursor; the store is searched only for those without one,
    /// never entering a lane's range (whose front is what was sent lately, removed but
    /// still stepped over until compaction drops it).
    pub(super) fn refill_all(&mut self) {
        let mut lanes: Vec<&str> = self.lanes.keys().map(String::as_str).collect();
        lanes.sort_unstable();
        let found = match self.ctx.store.scheduled_webhooks_besides(&lanes) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the schedule");
                return;
            }
        };
        let mut webhooks: Vec<String> = lanes.into_iter().map(str::to_string).collect();
        webhooks.extend(found);
        webhooks.sort_unstable();
        for id in webhooks {
            if self.blocked_full {
                break;
            }
            self.refill_lane(&id);
        }
    }

    /// Read one webhook's schedule from its lane's cursor up to now + horizon, as far as
    /// the lane and memory have room; then set the lane's refill timer for its first entry
    /// beyond the horizon.
    pub(super) fn refill_lane(&mut self, webhook_id: &str) {
        let now = now_ms();
        let until = now.saturating_add(HORIZON_MS);
        let cap = self.cap();
        let free = cap.saturating_sub(self.known.len());
        let Some(lane) = self.lane_mut(webhook_id) else {
            self.close_orphans(webhook_id);
            return;
        };
        let mut left = lane.room(PER_LANE_CAP).min(free);
        loop {
            let Some(lane) = self.lanes.get(webhook_id) else {
                return;
            };
            let batch = match self.ctx.store.due_entries(
                webhook_id,
                lane.cursor(),
                until,
                REFILL_BATCH,
            ) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(webhook = %webhook_id, error = %e, "cannot read the schedule");
                    return;
                }
            };
            let n = batch.len();
            for e in batch {
                // Entries in memory already (hinted, in flight) are passed, not counted.
                let fresh = !self.known.contains(&e.delivery_id);
                if fresh && left == 0 {
                    // Full: the rest stays on disk until the lane drains or memory frees.
                    let memory_full = self.known.len() >= cap;
                    lane_left_on_disk(self, webhook_id, memory_full);
                    return;
                }
                let (due, id) = (e.due_ms, e.delivery_id.clone());
                match self.load(e, now) {
                    Loaded::Yes => {}
                    Loaded::LaneFull => return,
                    Loaded::MemoryFull => {
                        lane_left_on_disk(self, webhook_id, true);
                        return;
                    }
                }
                if fresh {
                    left -= 1;
                }
                if let Some(lane) = self.lanes.get_mut(webhook_id) {
                    lane.advance_cursor(due, id);
                }
            }
            if n < REFILL_BATCH {
                break;
            }
        }
        // Everything due within the horizon is in memory: wake for the first entry beyond.
        let Some(lane) = self.lanes.get(webhook_id) else {
            return;
        };
        let next = self
            .ctx
            .store
            .due_entries(webhook_id, lane.cursor(), u64::MAX, 1)
            .ok()
            .and_then(|v| v.into_iter().next());
        if let Some(next) = next {
            let at = next
                .due_ms
                .saturating_sub(HORIZON_MS / 2)
                .max(now.saturating_add(10));
            self.set_lane_refill(webhook_id, at, now);
        }
    }

    /// The entries of a deleted webhook still in the schedule: close them unsent, a batch
    /// at a time, [`ORPHAN_BATCH_PAUSE_MS`] apart (time for the closes to be stored).
    fn close_orphans(&mut self, webhook_id: &str) {
        let batch = match self
            .ctx
            .store
            .due_entries(webhook_id, None, u64::MAX, REFILL_BATCH)
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(webhook = %webhook_id, error = %e, "cannot read the schedule");
                return;
            }
        };
        let more = batch.len() == REFILL_BATCH;
        for e in batch {
            if !self.known.contains(&e.delivery_id) {
                self.close_orphan(e);
            }
        }
        if more {
            self.wheel.insert(
                Timer::RefillLane(webhook_id.to_string()),
                std::time::Duration::from_millis(ORPHAN_BATCH_PAUSE_MS),
            );
        }
    }

    /// Read `webhook_id`'s schedule again at `at` (unless a refill is set earlier).
    pub(super) fn set_lane_refill(&mut self, webhook_id: &str, at: u64, now: u64) {
        let Some(lane) = self.lanes.get_mut(webhook_id) else {
            return;
        };
        if lane.refill_at(at) {
            self.wheel.insert(
                Timer::RefillLane(webhook_id.to_string()),
                delay_until(at, now),
            );
        }
    }

    /// Read every webhook's schedule again (from cursors) at `at`, unless set earlier.
    pub(super) fn set_refill_all(&mut self, at: u64, now: u64) {
        if let Some((t, key)) = &self.refill_all_at {
            if *t <= at {
                return;
            }
            self.wheel.remove(key);
        }
        let key = self.wheel.insert(Timer::RefillAll, delay_until(at, now));
        self.refill_all_at = Some((at, key));
    }

    /// A hint was lost: an entry of any webhook may lie before its lane's cursor. Read
    /// every schedule from its start a moment later (what is loaded is skipped as known).
    pub(super) fn rescan_soon(&mut self) {
        for lane in self.lanes.values_mut() {
            lane.reset_cursor();
        }
        let now = now_ms();
        self.set_refill_all(now.saturating_add(RESCAN_DELAY_MS), now);
    }

    /// Hints of new deliveries. One that cannot be loaded stays on disk; its lane's cursor
    /// is moved back before it, so the lane's next read finds it.
    pub(super) fn accept_new(&mut self, entries: Vec<DueEntry>, fresh: Option<super::Fresh>) {
        let now = now_ms();
        for e in entries {
            let (due, webhook_id) = (e.due_ms, e.webhook_id.clone());
            // Keep the event of those now in memory for their first attempt.
            let keep = fresh
                .as_ref()
                .filter(|_| self.fresh.len() < super::FRESH_CAP)
                .map(|f| (e.delivery_id.clone(), f));
            match self.load(e, now) {
                Loaded::Yes => {}
                Loaded::LaneFull => {
                    if let Some(lane) = self.lanes.get_mut(&webhook_id) {
                        lane.rewind_cursor(due);
                    }
                }
                Loaded::MemoryFull => {
                    if let Some(lane) = self.lane_mut(&webhook_id) {
                        lane.rewind_cursor(due);
                        lane.left_on_disk();
                    }
                }
            }
            if let Some((id, f)) = keep {
                if self.known.contains(&id) && !self.fresh.contains_key(&id) {
                    self.fresh.insert(id, f.clone());
                }
            }
        }
    }

    /// A finished attempt's delivery: back into the wheel when its retry is due within
    /// the horizon; else out of memory (final, or read again by its lane's refill, which
    /// is set for it: beyond the horizon is after the lane's cursor).
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
                self.forget(delivery_id);
                let drained = match self.lanes.get_mut(webhook_id) {
                    Some(lane) => {
                        if let Some(due) = next {
                            lane.rewind_cursor(due);
                        }
                        lane.release(PER_LANE_CAP)
                    }
                    None => false,
                };
                if let Some(due) = next {
                    self.set_lane_refill(webhook_id, due.saturating_sub(HORIZON_MS / 2), now);
                }
                if drained {
                    self.refill_lane(webhook_id);
                }
            }
        }
        if self.blocked_full && self.known.len() < self.cap() / 10 * 9 {
            self.blocked_full = false;
            self.set_refill_all(now, now);
        }
    }
}

/// Note on `webhook_id`'s lane that entries stay on disk; when memory (not the lane) is
/// full, the scheduler reads every lane on once completions have freed room.
fn lane_left_on_disk(s: &mut Scheduler, webhook_id: &str, memory_full: bool) {
    if let Some(lane) = s.lanes.get_mut(webhook_id) {
        lane.left_on_disk();
    }
    if memory_full {
        s.blocked_full = true;
    }
}

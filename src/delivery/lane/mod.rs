//! A lane: one webhook's queue in the scheduler, and THE place that decides what is
//! attempted next for it. Rate limit, concurrency bound, ordering and the circuit breaker
//! are all applied in [`Lane::decide`] (`queue.rs`); health transitions (failing, breaker,
//! giving up) all happen in [`Health::record`](health::Health) (`health.rs`), reached
//! through [`Lane::finished`] and [`Lane::record_probe_started`]. The lane's state is
//! private: the scheduler asks, obeys, and writes back what the lane reports.

mod health;
mod queue;

use std::sync::Arc;

use super::attempt::AttemptDone;
use crate::config::DeliveryConfig;
use crate::model::{Webhook, WebhookHealth, WebhookStatus};
use health::Health;
pub(crate) use health::HealthChange;
use queue::Queue;

/// What the lane wants next.
#[derive(Debug, PartialEq)]
pub(crate) enum Decision {
    /// Attempt this delivery now; `probe`: it is the breaker's probe (record that it
    /// started, [`Lane::record_probe_started`]).
    Go { delivery: String, probe: bool },
    /// Nothing may go before this time (ms): rate limit, breaker cool-down, ordered head
    /// waiting for its retry.
    Wait(u64),
    /// Nothing to do until an attempt finishes or new work arrives.
    Idle,
    /// The webhook is disabled or deleted: close what is parked.
    Close(&'static str),
}

pub(crate) struct Lane {
    /// The webhook as last read (what attempts are made with).
    webhook: Arc<Webhook>,
    /// `false` once the webhook is deleted.
    exists: bool,
    health: Health,
    queue: Queue,
}

impl Lane {
    pub(crate) fn new(webhook: Arc<Webhook>) -> Lane {
        Lane {
            health: Health::new(webhook.health()),
            queue: Queue::new(webhook.rate_limit_per_sec),
            webhook,
            exists: true,
        }
    }

    /// The webhook as last read.
    pub(crate) fn webhook(&self) -> &Arc<Webhook> {
        &self.webhook
    }

    /// The webhook's health: the lane's copy is the truth (delivery writes it back).
    pub(crate) fn health(&self) -> &WebhookHealth {
        self.health.state()
    }

    /// Take a fresh copy of the webhook (after an API change, or hookd disabled it),
    /// keeping the lane's health and its rate state unless the limit changed.
    pub(crate) fn refresh(&mut self, webhook: Arc<Webhook>) {
        self.queue.refresh(&self.webhook, &webhook);
        self.webhook = webhook;
    }

    /// The webhook was deleted: what is parked is closed at the next decision.
    pub(crate) fn mark_deleted(&mut self) {
        self.exists = false;
    }

    /// Take one more delivery into memory, unless the lane holds `cap` already (then it
    /// stays on disk and the lane remembers to have it read again once it drains).
    pub(crate) fn admit(&mut self, delivery_id: &str, cap: usize) -> bool {
        if self.queue.loaded >= cap {
            self.queue.skipped = true;
            return false;
        }
        if self.webhook.ordered {
            self.queue.rewind_if_behind(delivery_id);
        }
        self.queue.loaded += 1;
        true
    }

    /// How many more deliveries the lane takes into memory before it holds `cap`.
    pub(crate) fn room(&self, cap: usize) -> usize {
        cap.saturating_sub(self.queue.loaded)
    }

    /// Entries were left on disk (no room in the lane or in memory): read on later.
    pub(crate) fn left_on_disk(&mut self) {
        self.queue.skipped = true;
    }

    /// Where the next read of this webhook's schedule starts (strictly after it).
    pub(crate) fn cursor(&self) -> Option<(u64, &str)> {
        self.queue
            .cursor
            .as_ref()
            .map(|(due, id)| (*due, id.as_str()))
    }

    /// The schedule has been read up to and including this entry.
    pub(crate) fn advance_cursor(&mut self, due_ms: u64, delivery_id: String) {
        self.queue.cursor = Some((due_ms, delivery_id));
    }

    /// An entry due at `due_ms` was left on disk and may lie before the cursor: move the
    /// cursor back before everything due then (what is loaded between is skipped when
    /// read again, as known).
    pub(crate) fn rewind_cursor(&mut self, due_ms: u64) {
        if self
            .queue
            .cursor
            .as_ref()
            .is_some_and(|(due, _)| *due >= due_ms)
        {
            self.queue.cursor = Some((due_ms, String::new()));
        }
    }

    /// Read this webhook's schedule from its start again (e.g. re-enabled: what was closed
    /// in memory is read again from disk).
    pub(crate) fn reset_cursor(&mut self) {
        self.queue.cursor = None;
    }

    /// The lane wants its schedule read again at `at`: `true` if no earlier refill is set
    /// (set one).
    pub(crate) fn refill_at(&mut self, at: u64) -> bool {
        set_if_earlier(&mut self.queue.refill_at, at)
    }

    /// The lane's refill timer fired.
    pub(crate) fn refill_fired(&mut self) {
        self.queue.refill_at = None;
    }

    /// A delivery whose time has come waits here for a slot.
    pub(crate) fn park(&mut self, due_ms: u64, delivery_id: String) {
        self.queue.parked.insert((due_ms, delivery_id));
    }

    /// A delivery leaves memory (final, or due beyond what is loaded). `true` when the
    /// lane had left entries on disk and is now drained enough to read them again.
    pub(crate) fn release(&mut self, cap: usize) -> bool {
        self.queue.loaded = self.queue.loaded.saturating_sub(1);
        if self.queue.skipped && self.queue.loaded < cap / 2 {
            self.queue.skipped = false;
            return true;
        }
        false
    }

    /// Everything parked, removed from the lane (to be closed unsent).
    pub(crate) fn take_parked(&mut self) -> Vec<String> {
        let parked = std::mem::take(&mut self.queue.parked);
        self.queue.loaded = self.queue.loaded.saturating_sub(parked.len());
        parked.into_iter().map(|(_, id)| id).collect()
    }

    /// The lane wants waking at `at`: `true` if no earlier wake-up is set (set one).
    pub(crate) fn wake_at(&mut self, at: u64) -> bool {
        set_if_earlier(&mut self.queue.wake_at, at)
    }

    /// The lane's wake-up fired.
    pub(crate) fn woke(&mut self) {
        self.queue.wake_at = None;
    }

    /// Ordered lanes: the head must be looked up (none known, none in flight).
    pub(crate) fn needs_head(&self) -> bool {
        self.webhook.ordered && self.queue.head.is_none() && self.queue.in_flight == 0
    }

    /// Ordered lanes: where the head lookup starts (every delivery up to it is final).
    pub(crate) fn watermark(&self) -> Option<&str> {
        self.queue.watermark.as_deref()
    }

    /// Ordered lanes: the head found in the store; `newly_loaded` when it was not in
    /// memory yet.
    pub(crate) fn set_head(&mut self, delivery_id: String, due_ms: u64, newly_loaded: bool) {
        if newly_loaded {
            self.queue.loaded += 1;
        }
        self.queue.head = Some((delivery_id, due_ms));
    }

    /// Decide what this webhook attempts next. For ordered lanes the scheduler sets the
    /// head first ([`Lane::set_head`]) so the decision itself does no I/O.
    pub(crate) fn decide(&mut self, now: u64, cfg: &DeliveryConfig) -> Decision {
        if !self.exists {
            return Decision::Close("not sent: the webhook was deleted");
        }
        if self.webhook.status == WebhookStatus::Disabled {
            return Decision::Close("not sent: the webhook is disabled");
        }
        self.queue.decide(&self.webhook, &self.health, now, cfg)
    }

    /// The breaker's probe (a `Decision::Go` with `probe`) started.
    pub(crate) fn record_probe_started(&mut self) -> HealthChange {
        self.health.record_probe_started()
    }

    /// An attempt finished: free its slot, move an ordered lane's head, and record the
    /// outcome in the webhook's health.
    pub(crate) fn finished(
        &mut self,
        done: &AttemptDone,
        now: u64,
        cfg: &DeliveryConfig,
    ) -> HealthChange {
        self.queue.in_flight = self.queue.in_flight.saturating_sub(1);
        if self.webhook.ordered {
            if done.closed {
                self.queue.head_closed(&done.delivery_id);
            } else if let Some(due) = done.next_due {
                self.queue.head = Some((done.delivery_id.clone(), due));
            }
        }
        if !self.exists {
            return HealthChange::default();
        }
        let disabled = self.webhook.status == WebhookStatus::Disabled;
        self.health.record(done, disabled, now, cfg)
    }

    /// Nothing in memory, nothing in flight, nothing left on disk: the lane can be dropped
    /// (a later one starts reading the webhook's schedule from its start).
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.loaded == 0
            && self.queue.in_flight == 0
            && self.queue.parked.is_empty()
            && !self.queue.skipped
    }
}

/// A timer slot: set it to `at` unless it holds an earlier time; `true` if it was set
/// (the caller then puts the timer in the wheel).
fn set_if_earlier(slot: &mut Option<u64>, at: u64) -> bool {
    if slot.is_none_or(|t| t > at) {
        *slot = Some(at);
        return true;
    }
    false
}

#[cfg(test)]
mod tests;

//! The scheduler: one task that owns what is attempted when.
//!
//! * The durable truth is the store's schedule tree (due time → delivery). The scheduler
//!   keeps in memory only what is due within [`HORIZON_MS`], at most
//!   `delivery.max_loaded_deliveries` of it, in a hierarchical timer wheel
//!   (tokio-util's `DelayQueue`); a cursor remembers how far the tree has been read, so a
//!   refill never rescans what is loaded. A backlog of millions costs memory in proportion
//!   to what is loaded, not to the backlog.
//! * When an entry's time comes it is parked in its webhook's [`Lane`]; lanes with parked
//!   work are run round-robin, and each lane decides (rate, concurrency, order, breaker).
//! * Attempts run as tasks, bounded by `delivery.workers`; each records itself durably and
//!   reports back here, where the lane updates the webhook's health.
//! * Idle, the task sleeps: it wakes only on a timer, new work, or a finished attempt.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::time::{delay_queue, DelayQueue};

use super::attempt::{self, AttemptContext, AttemptDone};
use super::lane::{Decision, Lane};
use super::publish::Publisher;
use crate::model::{new_id, now_ms, Event, IdKind, Webhook};
use crate::store::DueEntry;

/// How far ahead the wheel is filled from the schedule tree.
pub const HORIZON_MS: u64 = 30_000;
/// A lane holds at most this many deliveries in memory; the rest wait on disk.
const PER_LANE_CAP: usize = 5_000;
/// Entries read from the tree per refill step.
const REFILL_BATCH: usize = 1_024;

/// Messages to the scheduler.
pub enum Msg {
    /// New deliveries were stored (hint: the tree has them anyway).
    New(Vec<DueEntry>),
    /// A webhook was changed or deleted over the API.
    WebhookChanged(String),
    /// A hint did not fit in the channel: wake up and see the "rescan pending" flag (the
    /// flag, not this message, makes the schedule be read again from the start).
    Rescan,
    /// Stop starting attempts; answer when none is in flight.
    Stop(oneshot::Sender<()>),
}

enum Timer {
    Due(DueEntry),
    LaneWake(String),
    Refill,
}

pub struct Scheduler {
    ctx: AttemptContext,
    rx: mpsc::Receiver<Msg>,
    done_tx: mpsc::UnboundedSender<AttemptDone>,
    done_rx: mpsc::UnboundedReceiver<AttemptDone>,
    wheel: DelayQueue<Timer>,
    lanes: HashMap<String, Lane>,
    /// Delivery ids held in memory (wheel, parked or in flight): never loaded twice.
    known: HashSet<String>,
    runnable: VecDeque<String>,
    in_runnable: HashSet<String>,
    in_flight: usize,
    /// The last schedule entry read; everything before it that is open is in memory.
    cursor: Option<DueEntry>,
    /// A refill timer is set for this time.
    refill_at: Option<(u64, delay_queue::Key)>,
    /// A refill stopped because memory was full: continue (from the cursor) once
    /// completions have freed a tenth of it.
    blocked_full: bool,
    /// A new-work hint could not be loaded for lack of room: its entry may lie before the
    /// cursor, so the refill that follows must start from the beginning.
    rescan_when_room: bool,
    stop: Option<oneshot::Sender<()>>,
    /// Publishes the daemon's operational events.
    publisher: Publisher,
    /// Raised by a publisher whose hint did not fit in the channel: rescan the schedule.
    rescan: Arc<std::sync::atomic::AtomicBool>,
}

impl Scheduler {
    pub fn new(
        ctx: AttemptContext,
        rx: mpsc::Receiver<Msg>,
        publisher: Publisher,
        rescan: Arc<std::sync::atomic::AtomicBool>,
    ) -> Scheduler {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Scheduler {
            ctx,
            rx,
            done_tx,
            done_rx,
            wheel: DelayQueue::new(),
            lanes: HashMap::new(),
            known: HashSet::new(),
            runnable: VecDeque::new(),
            in_runnable: HashSet::new(),
            in_flight: 0,
            cursor: None,
            refill_at: None,
            blocked_full: false,
            rescan_when_room: false,
            stop: None,
            publisher,
            rescan,
        }
    }

    fn cap(&self) -> usize {
        self.ctx.config.delivery.max_loaded_deliveries
    }

    /// Run until stopped. Recovery is the first refill: every open delivery in the tree,
    /// including those in flight at a crash, is found again (at-least-once).
    pub async fn run(mut self) {
        self.refill();
        self.pump();
        loop {
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(Msg::New(entries)) => self.accept_new(entries),
                    Some(Msg::WebhookChanged(id)) => self.webhook_changed(&id),
                    Some(Msg::Rescan) => {}
                    Some(Msg::Stop(tx)) => self.stop = Some(tx),
                    None => self.stop = self.stop.take().or_else(|| Some(oneshot::channel().0)),
                },
                Some(done) = self.done_rx.recv() => self.finished(done),
                Some(expired) = std::future::poll_fn(|cx| self.wheel.poll_expired(cx)), if !self.wheel.is_empty() => {
                    self.fire(expired.into_inner());
                }
            }
            // Drain whatever else is ready before deciding, so bursts are batched.
            while let Ok(done) = self.done_rx.try_recv() {
                self.finished(done);
            }
            // A hint was lost to a full channel (`Msg::Rescan` only wakes us up).
            if self.rescan.swap(false, std::sync::atomic::Ordering::AcqRel) {
                self.rescan_soon();
            }
            if self.stop.is_some() {
                if self.in_flight == 0 {
                    if let Some(tx) = self.stop.take() {
                        let _ = tx.send(());
                    }
                    return;
                }
                continue;
            }
            self.pump();
        }
    }

    fn lane_mut(&mut self, webhook_id: &str) -> Option<&mut Lane> {
        if !self.lanes.contains_key(webhook_id) {
            let wh = self.ctx.store.get_webhook_any(webhook_id).ok().flatten()?;
            self.lanes
                .insert(webhook_id.to_string(), Lane::new(Arc::new(wh)));
        }
        self.lanes.get_mut(webhook_id)
    }

    fn mark_runnable(&mut self, webhook_id: &str) {
        if self.in_runnable.insert(webhook_id.to_string()) {
            self.runnable.push_back(webhook_id.to_string());
        }
    }

    /// Put one schedule entry in memory (wheel or parked). `false` only when memory is
    /// full; an entry of a full lane is left on disk (the lane's `skipped` flag brings it
    /// back when the lane drains) and counts as handled.
    fn load(&mut self, e: DueEntry, now: u64) -> bool {
        if self.known.contains(&e.delivery_id) {
            return true;
        }
        if self.known.len() >= self.cap() {
            self.blocked_full = true;
            return false;
        }
        let Some(lane) = self.lane_mut(&e.webhook_id) else {
            // The webhook is gone: close the delivery without an attempt.
            self.close_orphan(e);
            return true;
        };
        if lane.loaded >= PER_LANE_CAP {
            lane.skipped = true;
            return true;
        }
        lane.rewind_if_behind(&e.delivery_id);
        lane.loaded += 1;
        self.known.insert(e.delivery_id.clone());
        if e.due_ms <= now {
            let id = e.webhook_id.clone();
            if let Some(lane) = self.lanes.get_mut(&id) {
                lane.parked.insert((e.due_ms, e.delivery_id));
            }
            self.mark_runnable(&id);
        } else {
            let delay = super::delay_until(e.due_ms, now);
            self.wheel.insert(Timer::Due(e), delay);
        }
        true
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

    /// Read the tree from the cursor up to now + horizon, as far as there is room; then
    /// set a timer for the next entry beyond.
    fn refill(&mut self) {
        let now = now_ms();
        let until = now.saturating_add(HORIZON_MS);
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
                if !self.load(e, now) {
                    break 'outer;
                }
                self.cursor = Some(cursor);
            }
            if n < REFILL_BATCH {
                break;
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

    fn set_refill(&mut self, at: u64, now: u64) {
        if let Some((t, key)) = &self.refill_at {
            if *t <= at {
                return;
            }
            self.wheel.remove(key);
        }
        let key = self
            .wheel
            .insert(Timer::Refill, super::delay_until(at, now));
        self.refill_at = Some((at, key));
    }

    /// Forget the cursor: the next refill reads the tree from the start (skipping what is
    /// loaded). Needed when an entry before the cursor could not be loaded.
    fn rescan_soon(&mut self) {
        self.cursor = None;
        let now = now_ms();
        self.set_refill(now.saturating_add(200), now);
    }

    fn accept_new(&mut self, entries: Vec<DueEntry>) {
        let now = now_ms();
        for e in entries {
            if !self.load(e, now) {
                self.rescan_when_room = true;
            }
        }
    }

    fn fire(&mut self, t: Timer) {
        match t {
            Timer::Due(e) => {
                let id = e.webhook_id.clone();
                match self.lanes.get_mut(&id) {
                    Some(lane) => {
                        lane.parked.insert((e.due_ms, e.delivery_id));
                        self.mark_runnable(&id);
                    }
                    None => {
                        self.known.remove(&e.delivery_id);
                        let now = now_ms();
                        self.load(e, now);
                    }
                }
            }
            Timer::LaneWake(id) => {
                if let Some(lane) = self.lanes.get_mut(&id) {
                    lane.wake_at = None;
                }
                self.mark_runnable(&id);
            }
            Timer::Refill => {
                self.refill_at = None;
                self.refill();
            }
        }
    }

    /// Start every attempt the lanes allow, round-robin across webhooks.
    fn pump(&mut self) {
        let workers = self.ctx.config.delivery.workers as usize;
        let now = now_ms();
        let mut rounds = self.runnable.len() * 4 + 16;
        while self.in_flight < workers && rounds > 0 {
            rounds -= 1;
            let Some(id) = self.runnable.pop_front() else {
                break;
            };
            self.in_runnable.remove(&id);
            self.ensure_head(&id);
            let cfg = &self.ctx.config.delivery;
            let Some(lane) = self.lanes.get_mut(&id) else {
                continue;
            };
            match lane.decide(now, cfg) {
                Decision::Go(dlv) => {
                    self.known.insert(dlv.clone());
                    let webhook = lane.webhook.clone();
                    let breaker_moved = lane.webhook.breaker.state
                        == crate::model::BreakerState::HalfOpen
                        && lane.in_flight == 1;
                    self.in_flight += 1;
                    let ctx = self.ctx.clone();
                    let tx = self.done_tx.clone();
                    let wh_id = id.clone();
                    tokio::spawn(async move {
                        let run = attempt::run(ctx, webhook, dlv.clone());
                        let _ = tx.send(attempt::supervised(wh_id, dlv, run).await);
                    });
                    if breaker_moved {
                        self.persist_health(&id);
                    }
                    self.mark_runnable(&id);
                }
                Decision::Wait(at) => {
                    if lane.wake_at.is_none_or(|w| w > at) {
                        lane.wake_at = Some(at);
                        self.wheel
                            .insert(Timer::LaneWake(id.clone()), super::delay_until(at, now));
                    }
                }
                Decision::Idle => {}
                Decision::Close(why) => {
                    let parked: Vec<(u64, String)> =
                        std::mem::take(&mut lane.parked).into_iter().collect();
                    lane.loaded = lane.loaded.saturating_sub(parked.len());
                    for (_, dlv) in parked {
                        self.known.remove(&dlv);
                        let ctx = self.ctx.clone();
                        tokio::spawn(async move {
                            attempt::close_without_attempt(&ctx, &dlv, why).await;
                        });
                    }
                }
            }
        }
        self.drop_idle_lanes();
    }

    /// Ordered lanes: find the head (first open delivery) when it is not known.
    fn ensure_head(&mut self, webhook_id: &str) {
        let Some(lane) = self.lanes.get_mut(webhook_id) else {
            return;
        };
        if !lane.webhook.ordered || lane.head.is_some() || lane.in_flight > 0 {
            return;
        }
        match self
            .ctx
            .store
            .first_open_delivery(webhook_id, lane.watermark.as_deref())
        {
            Ok(Some(d)) => {
                let due = d.next_attempt_at.unwrap_or(0);
                if !self.known.contains(&d.id) {
                    lane.loaded += 1;
                    self.known.insert(d.id.clone());
                }
                lane.head = Some((d.id, due));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(webhook = %webhook_id, error = %e, "cannot find the head of an ordered queue")
            }
        }
    }

    fn finished(&mut self, done: AttemptDone) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let now = now_ms();
        let Some(lane) = self.lanes.get_mut(&done.webhook_id) else {
            self.known.remove(&done.delivery_id);
            return;
        };
        let change = lane.record(&done, now, &self.ctx.config.delivery);
        if lane.webhook.ordered {
            if done.closed {
                lane.head_closed(&done.delivery_id);
            } else if let Some(due) = done.next_due {
                lane.head = Some((done.delivery_id.clone(), due));
            }
        }
        let mut drained_lane = false;
        match done.next_due {
            Some(due) if due <= now.saturating_add(HORIZON_MS) => {
                self.wheel.insert(
                    Timer::Due(DueEntry {
                        due_ms: due,
                        delivery_id: done.delivery_id.clone(),
                        webhook_id: done.webhook_id.clone(),
                    }),
                    super::delay_until(due, now),
                );
            }
            next => {
                // Final, or due beyond the horizon (after the cursor: a refill finds it).
                lane.loaded = lane.loaded.saturating_sub(1);
                self.known.remove(&done.delivery_id);
                if lane.skipped && lane.loaded < PER_LANE_CAP / 2 {
                    lane.skipped = false;
                    drained_lane = true;
                }
                if let Some(due) = next {
                    self.set_refill(due.saturating_sub(HORIZON_MS / 2), now);
                }
            }
        }
        if change.changed {
            self.persist_health(&done.webhook_id);
        }
        if let Some(reason) = change.disabled {
            self.raise_disabled(&done.webhook_id, &reason);
        }
        if drained_lane {
            self.rescan_soon();
        } else if self.blocked_full && self.known.len() < self.cap() / 10 * 9 {
            self.blocked_full = false;
            if std::mem::take(&mut self.rescan_when_room) {
                self.rescan_soon();
            } else {
                self.set_refill(now, now);
            }
        }
        self.mark_runnable(&done.webhook_id);
    }

    /// Write the lane's health fields onto the stored webhook (keeping concurrent API
    /// edits of other fields).
    fn persist_health(&mut self, webhook_id: &str) {
        let Some(lane) = self.lanes.get(webhook_id) else {
            return;
        };
        let ours = lane.webhook.clone();
        let store = self.ctx.store.clone();
        let merged = match store.get_webhook_any(webhook_id) {
            Ok(Some(mut stored)) => {
                copy_health(&ours, &mut stored);
                stored
            }
            _ => return,
        };
        if let Err(e) = store.update_webhook_nowait(&merged) {
            tracing::warn!(webhook = %webhook_id, error = %e, "cannot record webhook health");
            return;
        }
        if let Some(lane) = self.lanes.get_mut(webhook_id) {
            lane.webhook = Arc::new(merged);
        }
        tokio::spawn(async move {
            let _ = store.durable().await;
        });
    }

    /// The operational event `webhook.disabled`, fanned out to the tenant's webhooks.
    fn raise_disabled(&mut self, webhook_id: &str, reason: &str) {
        let Some(lane) = self.lanes.get(webhook_id) else {
            return;
        };
        tracing::warn!(webhook = %webhook_id, reason, "webhook disabled");
        let now = now_ms();
        let event = Event {
            id: new_id(IdKind::Event),
            tenant_id: lane.webhook.tenant_id.clone(),
            event_type: "webhook.disabled".into(),
            data: serde_json::json!({
                "webhook_id": webhook_id,
                "reason": reason,
                "at": crate::model::format_ms(now),
            })
            .to_string(),
            actor: None,
            created_at: now,
        };
        // Published like any event (fan-out, durable, scheduled), off the scheduler's
        // task: its deliveries come back here as `Msg::New`.
        let publisher = self.publisher.clone();
        tokio::spawn(async move {
            if let Err(e) = publisher.publish(&event, None).await {
                tracing::error!(error = %e, "cannot store the webhook.disabled event");
            }
        });
    }

    fn webhook_changed(&mut self, id: &str) {
        let fresh = self.ctx.store.get_webhook_any(id).ok().flatten();
        let Some(lane) = self.lanes.get_mut(id) else {
            return;
        };
        match fresh {
            Some(wh) => {
                let enabled_again = lane.webhook.status == crate::model::WebhookStatus::Disabled
                    && wh.status != crate::model::WebhookStatus::Disabled;
                lane.refresh(Arc::new(wh));
                if enabled_again {
                    self.rescan_soon();
                }
            }
            None => lane.exists = false,
        }
        self.mark_runnable(id);
    }

    fn drop_idle_lanes(&mut self) {
        if self.lanes.len() > 1024 {
            self.lanes
                .retain(|id, lane| !lane.is_idle() || self.in_runnable.contains(id));
        }
    }
}

/// The fields the scheduler owns.
fn copy_health(from: &Webhook, to: &mut Webhook) {
    to.consecutive_failures = from.consecutive_failures;
    to.breaker = from.breaker.clone();
    to.failing_since = from.failing_since;
    // Status: the daemon may set failing / active-after-failing / disabled; an admin's
    // disable wins over the daemon's view.
    if to.status != crate::model::WebhookStatus::Disabled {
        to.status = from.status;
        to.disabled_reason = from.disabled_reason.clone();
    }
}

//! The scheduler: one task that owns what is attempted when.
//!
//! * The durable truth is the store's schedule (per webhook, due time → delivery). The
//!   scheduler keeps in memory only what is due within [`HORIZON_MS`], at most
//!   `delivery.max_loaded_deliveries` of it, in a hierarchical timer wheel (tokio-util's
//!   `DelayQueue`); each lane's cursor remembers how far its webhook's schedule has been
//!   read, so a refill never rereads what is loaded nor passes other webhooks' entries. A
//!   backlog of millions costs memory and reading time in proportion to what is loaded,
//!   not to the backlog. All of that is in [`loading`].
//! * When an entry's time comes it is parked in its webhook's [`Lane`]; lanes with parked
//!   work are run round-robin, and each lane decides (rate, concurrency, order, breaker).
//!   Attempts run as tasks, bounded by `delivery.workers`; each records itself (durable
//!   with the next group commit) and reports back. That is [`dispatch`].
//! * What a lane reports about its webhook's health is written back, and acted on
//!   (disabling, operational events), in [`health_writeback`].
//! * Idle, the task sleeps: it wakes only on a timer, new work, or a finished attempt.

mod dispatch;
mod health_writeback;
mod loading;

use std::collections::VecDeque;

// Fx hashing, not the std's SipHash: every key here is an id hookd made itself (webhook
// and delivery ids), never text a client chooses, so SipHash's defence against chosen
// collisions buys nothing, and it cost ~1 % of the CPU in fan-out (several lookups per
// attempt).
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::time::{delay_queue, DelayQueue};

use super::attempt::{self, AttemptContext, AttemptDone};
use super::lane::Lane;
use super::publish::Publisher;
use crate::model::{now_ms, WebhookStatus};
use crate::store::DueEntry;

/// How far ahead the wheel is filled from the schedule.
pub(crate) const HORIZON_MS: u64 = 30_000;
/// A lane holds at most this many deliveries in memory; the rest wait on disk.
const PER_LANE_CAP: usize = 5_000;
/// Entries read from the schedule per refill step.
const REFILL_BATCH: usize = 1_024;
/// How long after a lost hint (or a re-enabled webhook) the schedule is read again, so a
/// burst of them costs one read.
const RESCAN_DELAY_MS: u64 = 200;

/// At most this many just-published deliveries are held for their first attempt
/// ([`Fresh`]); beyond, an attempt reads its delivery and event from the store.
const FRESH_CAP: usize = 4_096;

/// The event of deliveries just published (each of them `Delivery::published_as`): their
/// first attempt takes the event from memory and rebuilds the delivery from it instead of
/// reading both back (two point reads and two decodes per delivery; with fan-out the event
/// is read once per webhook otherwise). Held per delivery as one shared reference, not a
/// copy of the delivery.
pub(crate) type Fresh = attempt::Prepared;

/// Messages to the scheduler.
pub(crate) enum Msg {
    /// New deliveries were stored (a hint: the schedule has them anyway), with their
    /// records when they were just published.
    New(Vec<DueEntry>, Option<Fresh>),
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
    /// Read this webhook's schedule on from its lane's cursor.
    RefillLane(String),
    /// Read every webhook's schedule on from its lane's cursor.
    RefillAll,
}

pub(crate) struct Scheduler {
    /// Shared with every attempt task: one reference count per attempt, not a clone of
    /// each of its parts.
    ctx: Arc<AttemptContext>,
    rx: mpsc::Receiver<Msg>,
    done_tx: mpsc::UnboundedSender<AttemptDone>,
    done_rx: mpsc::UnboundedReceiver<AttemptDone>,
    wheel: DelayQueue<Timer>,
    lanes: HashMap<String, Lane>,
    /// Delivery ids held in memory (wheel, parked or in flight): never loaded twice.
    known: HashSet<String>,
    /// Just-published deliveries held for their first attempt (at most [`FRESH_CAP`]);
    /// every one is also in `known`, and leaves when it leaves `known` or is attempted.
    fresh: HashMap<String, attempt::Prepared>,
    runnable: VecDeque<String>,
    in_runnable: HashSet<String>,
    in_flight: usize,
    /// A refill of every webhook's schedule is set for this time.
    refill_all_at: Option<(u64, delay_queue::Key)>,
    /// A refill stopped because memory was full: every lane reads on (from its cursor)
    /// once completions have freed a tenth of it.
    blocked_full: bool,
    stop: Option<oneshot::Sender<()>>,
    /// Publishes the daemon's operational events.
    publisher: Publisher,
    /// Raised by a publisher whose hint did not fit in the channel: rescan the schedule.
    rescan: Arc<AtomicBool>,
}

impl Scheduler {
    pub(crate) fn new(
        ctx: AttemptContext,
        rx: mpsc::Receiver<Msg>,
        publisher: Publisher,
        rescan: Arc<AtomicBool>,
    ) -> Scheduler {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Scheduler {
            ctx: Arc::new(ctx),
            rx,
            done_tx,
            done_rx,
            wheel: DelayQueue::new(),
            lanes: HashMap::default(),
            known: HashSet::default(),
            fresh: HashMap::default(),
            runnable: VecDeque::new(),
            in_runnable: HashSet::default(),
            in_flight: 0,
            refill_all_at: None,
            blocked_full: false,
            stop: None,
            publisher,
            rescan,
        }
    }

    /// Run until stopped. Recovery is the first refill: every open delivery in the
    /// schedule, including those in flight at a crash, is found again (at-least-once).
    pub(crate) async fn run(mut self) {
        self.refill_all();
        self.pump();
        loop {
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(Msg::New(entries, fresh)) => self.accept_new(entries, fresh),
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
            if self.rescan.swap(false, Ordering::AcqRel) {
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

    /// The lane of a webhook, made from the stored webhook (with its health) when there
    /// is none; `None` when the webhook does not exist.
    fn lane_mut(&mut self, webhook_id: &str) -> Option<&mut Lane> {
        if !self.lanes.contains_key(webhook_id) {
            let wh = self.ctx.store.get_webhook_any(webhook_id).ok().flatten()?;
            self.lanes
                .insert(webhook_id.to_string(), Lane::new(Arc::new(wh)));
        }
        self.lanes.get_mut(webhook_id)
    }

    /// A delivery leaves memory.
    fn forget(&mut self, delivery_id: &str) {
        self.known.remove(delivery_id);
        self.fresh.remove(delivery_id);
    }

    fn mark_runnable(&mut self, webhook_id: &str) {
        if self.in_runnable.insert(webhook_id.to_string()) {
            self.runnable.push_back(webhook_id.to_string());
        }
    }

    fn fire(&mut self, t: Timer) {
        match t {
            Timer::Due(e) => {
                let id = e.webhook_id.clone();
                match self.lanes.get_mut(&id) {
                    Some(lane) => {
                        lane.park(e.due_ms, e.delivery_id);
                        self.mark_runnable(&id);
                    }
                    None => {
                        self.forget(&e.delivery_id);
                        let _ = self.load(e, now_ms());
                    }
                }
            }
            Timer::LaneWake(id) => {
                if let Some(lane) = self.lanes.get_mut(&id) {
                    lane.woke();
                }
                self.mark_runnable(&id);
            }
            Timer::RefillLane(id) => {
                if let Some(lane) = self.lanes.get_mut(&id) {
                    lane.refill_fired();
                }
                self.refill_lane(&id);
            }
            Timer::RefillAll => {
                self.refill_all_at = None;
                self.refill_all();
            }
        }
    }

    fn webhook_changed(&mut self, id: &str) {
        let fresh = self.ctx.store.get_webhook_any(id).ok().flatten();
        let Some(lane) = self.lanes.get_mut(id) else {
            return;
        };
        match fresh {
            Some(wh) => {
                let enabled_again = lane.webhook().status == WebhookStatus::Disabled
                    && wh.status != WebhookStatus::Disabled;
                lane.refresh(Arc::new(wh));
                if enabled_again {
                    // What was closed in memory while disabled is read again from disk.
                    lane.reset_cursor();
                    let now = now_ms();
                    self.set_lane_refill(id, now.saturating_add(RESCAN_DELAY_MS), now);
                }
            }
            None => lane.mark_deleted(),
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

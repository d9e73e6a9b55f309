//! Dispatch: run the lanes round-robin, start the attempts they decide on (at most
//! `delivery.workers` at once), and take their results back.

use super::Scheduler;
use crate::delivery::attempt::{self, AttemptDone};
use crate::delivery::delay_until;
use crate::delivery::lane::Decision;
use crate::model::now_ms;

impl Scheduler {
    /// Start every attempt the lanes allow, round-robin across webhooks.
    pub(super) fn pump(&mut self) {
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
                Decision::Go { delivery, probe } => {
                    let change = if probe {
                        lane.record_probe_started()
                    } else {
                        Default::default()
                    };
                    let webhook = lane.webhook().clone();
                    self.start_attempt(webhook, delivery);
                    self.health_changed(&id, change, None);
                    self.mark_runnable(&id);
                }
                Decision::Wait(at) => {
                    if lane.wake_at(at) {
                        self.wheel
                            .insert(super::Timer::LaneWake(id.clone()), delay_until(at, now));
                    }
                }
                Decision::Idle => {}
                Decision::Close(why) => {
                    for dlv in lane.take_parked() {
                        self.forget(&dlv);
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

    /// One attempt as a task; its result (also should it panic) comes back as
    /// [`AttemptDone`] to [`Scheduler::finished`].
    fn start_attempt(&mut self, webhook: std::sync::Arc<crate::model::Webhook>, delivery: String) {
        self.known.insert(delivery.clone());
        self.in_flight += 1;
        let ctx = self.ctx.clone();
        let tx = self.done_tx.clone();
        let webhook_id = webhook.id.clone();
        let fresh = self.fresh.remove(&delivery);
        tokio::spawn(async move {
            let run = attempt::run(ctx, webhook, delivery.clone(), fresh);
            let _ = tx.send(attempt::supervised(webhook_id, delivery, run).await);
        });
    }

    /// Ordered lanes: find the head (first open delivery) when it is not known.
    fn ensure_head(&mut self, webhook_id: &str) {
        let Some(lane) = self.lanes.get_mut(webhook_id) else {
            return;
        };
        if !lane.needs_head() {
            return;
        }
        match self
            .ctx
            .store
            .first_open_delivery(webhook_id, lane.watermark())
        {
            Ok(Some(d)) => {
                let due = d.next_attempt_at.unwrap_or(0);
                let newly_loaded = self.known.insert(d.id.clone());
                lane.set_head(d.id, due, newly_loaded);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(webhook = %webhook_id, error = %e, "cannot find the head of an ordered queue")
            }
        }
    }

    /// An attempt finished: the lane records it (health included), the delivery goes back
    /// into the wheel or out of memory, and a health change is written back.
    pub(super) fn finished(&mut self, done: AttemptDone) {
        self.in_flight = self.in_flight.saturating_sub(1);
        // A copy kept for a first attempt is stale once any attempt has been made (one
        // loaded by a refill may have started before its hint arrived).
        self.fresh.remove(&done.delivery_id);
        let now = now_ms();
        let Some(lane) = self.lanes.get_mut(&done.webhook_id) else {
            self.forget(&done.delivery_id);
            return;
        };
        let before = lane.health().clone();
        let change = lane.finished(&done, now, &self.ctx.config.delivery);
        self.reload_or_release(&done.delivery_id, &done.webhook_id, done.next_due);
        self.health_changed(&done.webhook_id, change, Some((&before, &done.delivery_id)));
        self.mark_runnable(&done.webhook_id);
    }
}

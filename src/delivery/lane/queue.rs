//! A lane's queue: what of one webhook is in memory, and the decision of what goes next.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::health::Health;
use super::Decision;
use crate::config::DeliveryConfig;
use crate::model::{BreakerState, Webhook};

pub(super) struct Queue {
    /// Deliveries whose time has come, waiting for a slot: (due ms, delivery id).
    pub(super) parked: BTreeSet<(u64, String)>,
    /// Deliveries of this lane held in memory (parked, in the timer wheel or in flight).
    pub(super) loaded: usize,
    pub(super) in_flight: u32,
    /// Entries were left on disk because the lane was full: read on when it drains.
    pub(super) skipped: bool,
    /// How far this webhook's schedule has been read: (due ms, delivery id) of the last
    /// entry read. Every open entry up to it is in memory or was handled; `None`: read from
    /// the start of the webhook's range.
    pub(super) cursor: Option<(u64, String)>,
    /// A refill of this lane is set in the timer wheel for this time.
    pub(super) refill_at: Option<u64>,
    /// A lane wake-up is set in the timer wheel for this time.
    pub(super) wake_at: Option<u64>,
    /// Ordered lanes: the delivery that must go next, with its due time.
    pub(super) head: Option<(String, u64)>,
    /// Ordered lanes: every delivery up to this id is final.
    pub(super) watermark: Option<String>,
    /// Ordered lanes: a delivery older than the head in flight arrived; when the head is
    /// final, look from the start instead of moving the watermark past it.
    pub(super) rewind_after_flight: bool,
    limiter: DefaultDirectRateLimiter,
    limiter_rate: u32,
}

fn limiter(rate: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
    // A small burst (a tenth of a second's worth) so a 20/s limit really spreads 100
    // deliveries over ~5 s instead of sending 20 at once.
    let burst = NonZeroU32::new(rate.get() / 10).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

impl Queue {
    pub(super) fn new(rate: u32) -> Queue {
        Queue {
            parked: BTreeSet::new(),
            loaded: 0,
            in_flight: 0,
            skipped: false,
            cursor: None,
            refill_at: None,
            wake_at: None,
            head: None,
            watermark: None,
            rewind_after_flight: false,
            limiter: limiter(rate),
            limiter_rate: rate,
        }
    }

    /// The webhook changed: keep the rate state unless the limit changed.
    pub(super) fn refresh(&mut self, old: &Webhook, new: &Webhook) {
        if new.rate_limit_per_sec != self.limiter_rate {
            self.limiter = limiter(new.rate_limit_per_sec);
            self.limiter_rate = new.rate_limit_per_sec;
        }
        if new.ordered != old.ordered {
            self.head = None;
        }
    }

    /// Ordered lanes: a delivery with an id at or below the watermark can still arrive —
    /// its id was made before a later event's, but its batch reached the store after that
    /// event was delivered and closed. Forget the watermark (and a later head not in
    /// flight) so the next head lookup finds it: a scan from the webhook's first delivery,
    /// on a rare path.
    pub(super) fn rewind_if_behind(&mut self, delivery_id: &str) {
        if self.watermark.as_deref().is_some_and(|w| delivery_id <= w) {
            self.watermark = None;
        }
        if self
            .head
            .as_ref()
            .is_some_and(|(h, _)| delivery_id < h.as_str())
        {
            if self.in_flight == 0 {
                self.head = None;
            } else {
                self.rewind_after_flight = true;
            }
        }
    }

    /// Ordered lanes: the head `closed_id` is final; the next head lookup starts after it,
    /// unless an older delivery arrived meanwhile (then from the start).
    pub(super) fn head_closed(&mut self, closed_id: &str) {
        self.watermark = if std::mem::take(&mut self.rewind_after_flight) {
            None
        } else {
            Some(closed_id.to_string())
        };
        self.head = None;
    }

    /// Decide what this webhook attempts next (see ARCHITECTURE.md, "How the scheduler
    /// decides"): breaker, concurrency, order, rate. Reads the health, never changes it.
    pub(super) fn decide(
        &mut self,
        webhook: &Webhook,
        health: &Health,
        now: u64,
        cfg: &DeliveryConfig,
    ) -> Decision {
        // Breaker: open holds everything until the probe time; then one probe at a time.
        let mut max_in_flight = if webhook.ordered {
            1
        } else {
            cfg.max_in_flight_per_webhook
        };
        let breaker = health.breaker();
        let probe = breaker.state == BreakerState::Open;
        match breaker.state {
            BreakerState::Open => {
                let at = breaker.next_probe_at.unwrap_or(now);
                if now < at {
                    return Decision::Wait(at);
                }
                if self.in_flight > 0 {
                    return Decision::Idle;
                }
                max_in_flight = 1;
            }
            BreakerState::HalfOpen => max_in_flight = 1,
            BreakerState::Closed => {}
        }
        if self.in_flight >= max_in_flight {
            return Decision::Idle;
        }
        // Order: an ordered lane may only send its head; others send the earliest due.
        let (id, due) = if webhook.ordered {
            match &self.head {
                Some((id, due)) => (id.clone(), *due),
                None => return Decision::Idle,
            }
        } else {
            match self.parked.first() {
                Some((due, id)) => (id.clone(), *due),
                None => return Decision::Idle,
            }
        };
        if due > now {
            return Decision::Wait(due);
        }
        // Rate: a token per attempt; wait (never drop) when there is none.
        if let Err(not_until) = self.limiter.check() {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            return Decision::Wait(now.saturating_add(wait_ms).saturating_add(1));
        }
        self.parked.remove(&(due, id.clone()));
        self.in_flight += 1;
        Decision::Go {
            delivery: id,
            probe,
        }
    }
}

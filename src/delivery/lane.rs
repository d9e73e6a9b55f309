//! A lane: one webhook's queue in the scheduler, and THE place that decides what is
//! attempted next for it. Rate limit, concurrency bound, ordering and the circuit breaker
//! are all applied in [`Lane::decide`]; health transitions (failing, breaker, disable) all
//! happen in [`Lane::record`]. The scheduler only asks and obeys.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::attempt::AttemptDone;
use crate::config::DeliveryConfig;
use crate::model::{BreakerState, Webhook, WebhookStatus};

/// What the lane wants next.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Attempt this delivery now.
    Go(String),
    /// Nothing may go before this time (ms): rate limit, breaker cool-down, ordered head
    /// waiting for its retry.
    Wait(u64),
    /// Nothing to do until an attempt finishes or new work arrives.
    Idle,
    /// The webhook is disabled or deleted: close what is parked.
    Close(&'static str),
}

/// What changed in the webhook's health after an attempt.
#[derive(Debug, Default, PartialEq)]
pub struct HealthChange {
    /// Health fields changed: write the webhook.
    pub changed: bool,
    /// The webhook was disabled now, with this reason: raise `webhook.disabled`.
    pub disabled: Option<String>,
}

pub struct Lane {
    /// The webhook as last read; the lane owns its health fields (failures, breaker,
    /// status `failing`) and writes them back through the scheduler.
    pub webhook: Arc<Webhook>,
    /// `false` once the webhook is deleted.
    pub exists: bool,
    /// Deliveries whose time has come, waiting for a slot: (due ms, delivery id).
    pub parked: BTreeSet<(u64, String)>,
    /// Deliveries of this lane held in memory (parked, in the timer wheel or in flight).
    pub loaded: usize,
    pub in_flight: u32,
    /// Entries were left on disk because the lane was full: rescan when it drains.
    pub skipped: bool,
    /// A lane wake-up is set in the timer wheel for this time.
    pub wake_at: Option<u64>,
    /// Ordered lanes: the delivery that must go next, with its due time.
    pub head: Option<(String, u64)>,
    /// Ordered lanes: every delivery up to this id is final.
    pub watermark: Option<String>,
    /// Ordered lanes: a delivery older than the head in flight arrived; when the head is
    /// final, look from the start instead of moving the watermark past it.
    rewind_after_flight: bool,
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

impl Lane {
    /// Ordered lanes: a delivery with an id at or below the watermark can still arrive —
    /// its id was made before a later event's, but its batch reached the store after that
    /// event was delivered and closed. Forget the watermark (and a later head not in
    /// flight) so the next head lookup finds it: a scan from the webhook's first delivery,
    /// on a rare path.
    pub fn rewind_if_behind(&mut self, delivery_id: &str) {
        if !self.webhook.ordered {
            return;
        }
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
    pub fn head_closed(&mut self, closed_id: &str) {
        self.watermark = if std::mem::take(&mut self.rewind_after_flight) {
            None
        } else {
            Some(closed_id.to_string())
        };
        self.head = None;
    }

    pub fn new(webhook: Arc<Webhook>) -> Lane {
        let rate = webhook.rate_limit_per_sec;
        Lane {
            webhook,
            exists: true,
            parked: BTreeSet::new(),
            loaded: 0,
            in_flight: 0,
            skipped: false,
            wake_at: None,
            head: None,
            watermark: None,
            rewind_after_flight: false,
            limiter: limiter(rate),
            limiter_rate: rate,
        }
    }

    /// Take a fresh copy of the webhook (after an API change), keeping the rate state
    /// unless the limit changed.
    pub fn refresh(&mut self, webhook: Arc<Webhook>) {
        if webhook.rate_limit_per_sec != self.limiter_rate {
            self.limiter = limiter(webhook.rate_limit_per_sec);
            self.limiter_rate = webhook.rate_limit_per_sec;
        }
        if webhook.ordered != self.webhook.ordered {
            self.head = None;
        }
        self.webhook = webhook;
    }

    /// Nothing in memory and nothing in flight: the lane can be dropped.
    pub fn is_idle(&self) -> bool {
        self.loaded == 0 && self.in_flight == 0 && self.parked.is_empty()
    }

    /// Decide what this webhook attempts next. For ordered lanes the scheduler fills
    /// `self.head` first (from the store) so the decision itself does no I/O.
    pub fn decide(&mut self, now: u64, cfg: &DeliveryConfig) -> Decision {
        if !self.exists {
            return Decision::Close("not sent: the webhook was deleted");
        }
        if self.webhook.status == WebhookStatus::Disabled {
            return Decision::Close("not sent: the webhook is disabled");
        }
        // Breaker: open holds everything until the probe time; then one probe at a time.
        let mut max_in_flight = if self.webhook.ordered {
            1
        } else {
            cfg.max_in_flight_per_webhook
        };
        match self.webhook.breaker.state {
            BreakerState::Open => {
                let at = self.webhook.breaker.next_probe_at.unwrap_or(now);
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
        let (id, due) = if self.webhook.ordered {
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
        if self.webhook.breaker.state == BreakerState::Open {
            let mut w = (*self.webhook).clone();
            w.breaker.state = BreakerState::HalfOpen;
            self.webhook = Arc::new(w);
        }
        self.parked.remove(&(due, id.clone()));
        self.in_flight += 1;
        Decision::Go(id)
    }

    /// Account for a finished attempt and move the webhook's health: consecutive failures,
    /// `failing`, the breaker, and disabling (410 Gone, or failing too long with a delivery
    /// out of retries).
    pub fn record(&mut self, done: &AttemptDone, now: u64, cfg: &DeliveryConfig) -> HealthChange {
        self.in_flight = self.in_flight.saturating_sub(1);
        let mut change = HealthChange::default();
        if done.skipped || !self.exists {
            return change;
        }
        let mut w = (*self.webhook).clone();
        if done.success {
            if w.consecutive_failures != 0
                || w.status == WebhookStatus::Failing
                || w.breaker.state != BreakerState::Closed
            {
                w.consecutive_failures = 0;
                if w.status == WebhookStatus::Failing {
                    w.status = WebhookStatus::Active;
                }
                w.failing_since = None;
                w.breaker = Default::default();
                change.changed = true;
            }
        } else {
            change.changed = true;
            w.consecutive_failures = w.consecutive_failures.saturating_add(1);
            if done.gone && w.status != WebhookStatus::Disabled {
                w.status = WebhookStatus::Disabled;
                w.disabled_reason = Some("the endpoint answered 410 Gone".into());
                change.disabled = w.disabled_reason.clone();
            } else if w.breaker.state == BreakerState::HalfOpen {
                // The probe failed: open again, for longer. (Failures of attempts that
                // were already in flight when the breaker opened only count.)
                open_breaker(&mut w, now, cfg);
            } else if w.status == WebhookStatus::Active
                && w.consecutive_failures >= cfg.failing_after_consecutive_failures
            {
                w.status = WebhookStatus::Failing;
                w.failing_since = Some(now);
                open_breaker(&mut w, now, cfg);
            }
            if w.status == WebhookStatus::Failing && done.closed {
                let since = w.failing_since.unwrap_or(now);
                if now.saturating_sub(since) as f64 >= cfg.disable_after_failing_secs * 1000.0 {
                    w.status = WebhookStatus::Disabled;
                    let reason = format!(
                        "failing for more than {} s with a delivery out of retries",
                        cfg.disable_after_failing_secs
                    );
                    w.disabled_reason = Some(reason.clone());
                    change.disabled = Some(reason);
                }
            }
        }
        if change.changed {
            self.webhook = Arc::new(w);
        }
        change
    }
}

/// Open (or re-open) the breaker: cool-down doubles each time, up to the maximum.
fn open_breaker(w: &mut Webhook, now: u64, cfg: &DeliveryConfig) {
    let n = w.breaker.opened_times.min(30);
    let cooldown =
        (cfg.breaker_cooldown_secs * 2f64.powi(n as i32)).min(cfg.breaker_max_cooldown_secs);
    w.breaker.state = BreakerState::Open;
    w.breaker.opened_times = w.breaker.opened_times.saturating_add(1);
    // `as` saturates (NaN and negatives give 0); the sum saturates and the delay is bounded
    // like every timer's, whatever the config says.
    w.breaker.next_probe_at = Some(super::retry::due_after(now, (cooldown * 1000.0) as u64));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Breaker, PayloadFormat};

    fn webhook(rate: u32, ordered: bool) -> Arc<Webhook> {
        Arc::new(Webhook {
            id: "wh_1".into(),
            tenant_id: "ten_1".into(),
            name: "n".into(),
            description: String::new(),
            url: "https://example.com".into(),
            events: vec!["*".into()],
            method: "POST".into(),
            headers: Default::default(),
            status: WebhookStatus::Active,
            ordered,
            rate_limit_per_sec: rate,
            timeout_secs: None,
            retry_schedule_secs: None,
            payload_format: PayloadFormat::Envelope,
            consecutive_failures: 0,
            secret: "whsec_x".into(),
            previous_secrets: vec![],
            failing_since: None,
            disabled_reason: None,
            breaker: Breaker::default(),
            created_at: 0,
            updated_at: 0,
        })
    }

    fn failed(closed: bool) -> AttemptDone {
        AttemptDone {
            webhook_id: "wh_1".into(),
            delivery_id: "d".into(),
            success: false,
            gone: false,
            skipped: false,
            closed,
            next_due: None,
        }
    }

    #[test]
    fn an_ordered_lane_rewinds_for_a_delivery_stored_behind_its_watermark() {
        let mut lane = Lane::new(webhook(1000, true));
        lane.watermark = Some("dlv_05".into());
        lane.head = Some(("dlv_07".into(), 0));
        lane.rewind_if_behind("dlv_06");
        assert_eq!(lane.watermark.as_deref(), Some("dlv_05"), "ahead: kept");
        lane.rewind_if_behind("dlv_04");
        assert_eq!(lane.watermark, None);
        assert_eq!(lane.head, None, "the earlier delivery must become the head");

        // Older than a head in flight: the watermark does not move past it afterwards.
        lane.head = Some(("dlv_07".into(), 0));
        lane.in_flight = 1;
        lane.rewind_if_behind("dlv_03");
        assert_eq!(lane.head.as_ref().map(|h| h.0.as_str()), Some("dlv_07"));
        lane.in_flight = 0;
        lane.head_closed("dlv_07");
        assert_eq!(lane.watermark, None, "dlv_03 must still be found");
        lane.head = Some(("dlv_08".into(), 0));
        lane.head_closed("dlv_08");
        assert_eq!(lane.watermark.as_deref(), Some("dlv_08"));

        let mut unordered = Lane::new(webhook(1000, false));
        unordered.watermark = Some("dlv_05".into());
        unordered.rewind_if_behind("dlv_01");
        assert_eq!(unordered.watermark.as_deref(), Some("dlv_05"));
    }

    #[test]
    fn concurrency_is_bounded_per_webhook() {
        let cfg = DeliveryConfig {
            max_in_flight_per_webhook: 2,
            ..Default::default()
        };
        let mut lane = Lane::new(webhook(1000, false));
        for i in 0..5 {
            lane.parked.insert((0, format!("d{i}")));
        }
        assert!(matches!(lane.decide(10, &cfg), Decision::Go(_)));
        assert!(matches!(lane.decide(10, &cfg), Decision::Go(_)));
        assert_eq!(lane.decide(10, &cfg), Decision::Idle);
    }

    #[test]
    fn rate_limit_makes_the_lane_wait_not_drop() {
        let cfg = DeliveryConfig::default();
        let mut lane = Lane::new(webhook(1, false));
        lane.parked.insert((0, "a".into()));
        lane.parked.insert((0, "b".into()));
        assert_eq!(lane.decide(10, &cfg), Decision::Go("a".into()));
        lane.in_flight = 0;
        assert!(matches!(lane.decide(10, &cfg), Decision::Wait(t) if t > 10));
        assert_eq!(lane.parked.len(), 1, "the waiting delivery stays parked");
    }

    #[test]
    fn breaker_opens_after_threshold_and_probes_one_at_a_time() {
        let cfg = DeliveryConfig {
            failing_after_consecutive_failures: 3,
            breaker_cooldown_secs: 10.0,
            ..Default::default()
        };
        let mut lane = Lane::new(webhook(1000, false));
        for _ in 0..3 {
            lane.in_flight = 1;
            lane.record(&failed(false), 1000, &cfg);
        }
        assert_eq!(lane.webhook.status, WebhookStatus::Failing);
        assert_eq!(lane.webhook.breaker.state, BreakerState::Open);
        for i in 0..3 {
            lane.parked.insert((0, format!("d{i}")));
        }
        assert_eq!(lane.decide(2000, &cfg), Decision::Wait(11_000));
        assert!(matches!(lane.decide(11_000, &cfg), Decision::Go(_)));
        assert_eq!(lane.webhook.breaker.state, BreakerState::HalfOpen);
        assert_eq!(
            lane.decide(11_000, &cfg),
            Decision::Idle,
            "one probe at a time"
        );
        lane.record(&failed(false), 11_500, &cfg);
        assert_eq!(lane.webhook.breaker.state, BreakerState::Open);
        assert_eq!(
            lane.webhook.breaker.next_probe_at,
            Some(11_500 + 20_000),
            "cool-down doubles"
        );
        let mut ok = failed(true);
        ok.success = true;
        lane.in_flight = 1;
        lane.record(&ok, 40_000, &cfg);
        assert_eq!(lane.webhook.status, WebhookStatus::Active);
        assert_eq!(lane.webhook.breaker.state, BreakerState::Closed);
        assert_eq!(lane.webhook.consecutive_failures, 0);
    }

    #[test]
    fn breaker_and_rate_deadlines_saturate_at_the_end_of_time() {
        let cfg = DeliveryConfig {
            failing_after_consecutive_failures: 1,
            breaker_cooldown_secs: 1e12,
            breaker_max_cooldown_secs: 1e15,
            ..Default::default()
        };
        let mut lane = Lane::new(webhook(1, false));
        lane.record(&failed(false), u64::MAX - 5, &cfg);
        assert_eq!(lane.webhook.breaker.state, BreakerState::Open);
        assert_eq!(lane.webhook.breaker.next_probe_at, Some(u64::MAX));

        let mut lane = Lane::new(webhook(1, false));
        lane.parked.insert((0, "a".into()));
        lane.parked.insert((0, "b".into()));
        assert_eq!(lane.decide(u64::MAX, &cfg), Decision::Go("a".into()));
        lane.in_flight = 0;
        assert_eq!(lane.decide(u64::MAX, &cfg), Decision::Wait(u64::MAX));
    }

    #[test]
    fn gone_disables_at_once() {
        let cfg = DeliveryConfig::default();
        let mut lane = Lane::new(webhook(10, false));
        let mut d = failed(true);
        d.gone = true;
        let change = lane.record(&d, 0, &cfg);
        assert!(change.disabled.is_some());
        assert_eq!(lane.webhook.status, WebhookStatus::Disabled);
        lane.parked.insert((0, "x".into()));
        assert!(matches!(lane.decide(0, &cfg), Decision::Close(_)));
    }

    #[test]
    fn ordered_lane_sends_only_its_head() {
        let cfg = DeliveryConfig::default();
        let mut lane = Lane::new(webhook(1000, true));
        lane.parked.insert((0, "b".into()));
        assert_eq!(lane.decide(5, &cfg), Decision::Idle, "no head known yet");
        lane.head = Some(("a".into(), 50));
        assert_eq!(
            lane.decide(5, &cfg),
            Decision::Wait(50),
            "head retrying later blocks b"
        );
        assert_eq!(lane.decide(50, &cfg), Decision::Go("a".into()));
        assert_eq!(lane.decide(50, &cfg), Decision::Idle, "one in flight");
    }
}

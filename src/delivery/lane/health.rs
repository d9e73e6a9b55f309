//! A webhook's health as one lane sees it, and the only code that changes it.
//!
//! [`Health`]'s state is private to this module: the one way to change it is to record
//! something that happened ([`Health::record`] for a finished attempt,
//! [`Health::record_probe_started`] for the breaker's probe). Deciding what to attempt
//! next only reads it (`Queue::decide` gets a `&Health`), so a decision can never make a
//! health transition: the compiler says so.

use super::super::attempt::AttemptDone;
use super::super::retry;
use crate::config::DeliveryConfig;
use crate::model::{Breaker, BreakerState, WebhookHealth};

/// What an event changed in the webhook's health.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct HealthChange {
    /// The health changed: write it back.
    pub(crate) changed: bool,
    /// The webhook became `failing` now.
    pub(crate) became_failing: bool,
    /// The webhook was failing (or its breaker open) and an attempt succeeded now.
    pub(crate) recovered: bool,
    /// hookd gives up on the webhook now, for this reason: disable it, raise
    /// `webhook.disabled`.
    pub(crate) disabled: Option<String>,
}

/// One webhook's health (failures in a row, failing since, breaker): the lane's copy is
/// the truth while the lane exists; it is written back after every change.
#[derive(Debug)]
pub(crate) struct Health {
    state: WebhookHealth,
}

impl Health {
    pub(super) fn new(state: WebhookHealth) -> Health {
        Health { state }
    }

    /// The health as it is now.
    pub(crate) fn state(&self) -> &WebhookHealth {
        &self.state
    }

    pub(super) fn breaker(&self) -> &Breaker {
        &self.state.breaker
    }

    /// The breaker's cool-down is over and its one probe starts now: `half_open`.
    pub(super) fn record_probe_started(&mut self) -> HealthChange {
        if self.state.breaker.state != BreakerState::Open {
            return HealthChange::default();
        }
        self.state.breaker.state = BreakerState::HalfOpen;
        HealthChange {
            changed: true,
            ..HealthChange::default()
        }
    }

    /// Account for a finished attempt: consecutive failures, `failing`, the breaker, and
    /// giving up (410 Gone, or failing too long with a delivery out of retries).
    /// `disabled`: the webhook is disabled already (nothing more to give up).
    pub(super) fn record(
        &mut self,
        done: &AttemptDone,
        disabled: bool,
        now: u64,
        cfg: &DeliveryConfig,
    ) -> HealthChange {
        let mut change = HealthChange::default();
        if done.skipped {
            return change;
        }
        let h = &mut self.state;
        if done.success {
            if h.consecutive_failures != 0
                || h.failing_since.is_some()
                || h.breaker.state != BreakerState::Closed
            {
                change.recovered = h.failing_since.is_some();
                h.consecutive_failures = 0;
                h.failing_since = None;
                h.breaker = Breaker::default();
                change.changed = true;
            }
            return change;
        }
        change.changed = true;
        h.consecutive_failures = h.consecutive_failures.saturating_add(1);
        if done.gone && !disabled {
            change.disabled = Some("the endpoint answered 410 Gone".into());
            return change;
        }
        if h.breaker.state == BreakerState::HalfOpen {
            // The probe failed: open again, for longer. (Failures of attempts that were
            // already in flight when the breaker opened only count.)
            open_breaker(&mut h.breaker, now, cfg);
        } else if !disabled
            && h.failing_since.is_none()
            && h.consecutive_failures >= cfg.failing_after_consecutive_failures
        {
            h.failing_since = Some(now);
            change.became_failing = true;
            open_breaker(&mut h.breaker, now, cfg);
        }
        if let (Some(since), false, true) = (h.failing_since, disabled, done.closed) {
            if now.saturating_sub(since) as f64 >= cfg.disable_after_failing_secs * 1000.0 {
                change.disabled = Some(format!(
                    "failing for more than {} s with a delivery out of retries",
                    cfg.disable_after_failing_secs
                ));
            }
        }
        change
    }
}

/// Open (or re-open) the breaker: the cool-down doubles each time, up to the maximum.
fn open_breaker(b: &mut Breaker, now: u64, cfg: &DeliveryConfig) {
    let n = b.opened_times.min(30);
    let cooldown =
        (cfg.breaker_cooldown_secs * 2f64.powi(n as i32)).min(cfg.breaker_max_cooldown_secs);
    b.state = BreakerState::Open;
    b.opened_times = b.opened_times.saturating_add(1);
    // `as` saturates (NaN and negatives give 0); the sum saturates and the delay is bounded
    // like every timer's, whatever the config says.
    b.next_probe_at = Some(retry::due_after(now, (cooldown * 1000.0) as u64));
}

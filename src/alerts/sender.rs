//! The alert sender: one task that sends the alert e-mails owed in the store's queue.
//!
//! The delivery side only queues (a store write and a nudge, never waiting); this task
//! sends, one alert at a time, each send bounded by `smtp.timeout_secs`. A failed send is
//! tried again later (5 s, doubling, at most every 5 min) — so an SMTP outage delays
//! alerts and nothing else. The queue lives in the store: alerts owed at a crash or a
//! shutdown are sent after the next start. An alert still unsent after
//! [`GIVE_UP_AFTER_MS`] is dropped with an error in the log.

use std::time::Duration;

use super::{compose_alert, AlertFacts, Mailer};
use crate::model::{now_ms, OwedAlert};
use crate::store::Store;

/// The first retry comes this long after a failed send; each later one waits twice as
/// long as the one before, up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: u64 = 5_000;
const MAX_BACKOFF_MS: u64 = 300_000;
/// An alert this old (since its webhook changed) that could not be sent is dropped.
pub const GIVE_UP_AFTER_MS: u64 = 7 * 86_400_000;
/// Alerts handled per look at the queue.
const BATCH: usize = 16;
/// Even without a nudge, the queue is looked at this often.
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// How long to wait before try number `tries + 1`, after `tries` failed sends.
pub fn backoff_ms(tries: u32) -> u64 {
    let doublings = tries.saturating_sub(1).min(16);
    FIRST_BACKOFF_MS
        .saturating_mul(1u64 << doublings)
        .min(MAX_BACKOFF_MS)
}

/// Sends owed alerts until the task is stopped (aborted at shutdown: an alert being sent
/// then stays owed and is sent after the next start, at most once more).
pub async fn run(store: Store, mailer: Mailer, base_url: String) {
    let owed = store.owed_alerts();
    if owed > 0 {
        tracing::info!(owed, "alert e-mails owed from before the start");
    }
    loop {
        let now = now_ms();
        let due = match store.due_alerts(now, BATCH) {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the alert queue");
                Vec::new()
            }
        };
        let full = due.len() == BATCH;
        for (due_ms, alert) in due {
            send_one(&store, &mailer, &base_url, due_ms, alert).await;
        }
        if full {
            continue;
        }
        let wait = match store.next_alert_due() {
            Ok(Some(at)) => Duration::from_millis(at.saturating_sub(now_ms())).min(IDLE_WAKE),
            _ => IDLE_WAKE,
        };
        tokio::select! {
            _ = store.alert_queued() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn send_one(
    store: &Store,
    mailer: &Mailer,
    base_url: &str,
    due_ms: u64,
    mut alert: OwedAlert,
) {
    let recipients = match store.get_tenant(&alert.tenant_id) {
        Ok(Some(t)) => t.alert_emails,
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::error!(alert = %alert.id, error = %e, "cannot read the tenant's alert addresses");
            return;
        }
    };
    if recipients.is_empty() {
        // The tenant was deleted, or took every address off since: nobody to tell.
        tracing::info!(alert = %alert.id, webhook = %alert.webhook_id, "alert e-mail dropped: the tenant has no alert_emails now");
        settle(store, due_ms, &alert);
        return;
    }
    let mail = compose_alert(&AlertFacts {
        kind: alert.kind,
        webhook_id: &alert.webhook_id,
        webhook_name: &alert.webhook_name,
        endpoint_host: &alert.endpoint_host,
        reason: &alert.reason,
        last_status_code: alert.last_status_code,
        last_error: alert.last_error.as_deref(),
        consecutive_failures: alert.consecutive_failures,
        at_ms: alert.at_ms,
        base_url,
    });
    match mailer.send(&recipients, &mail).await {
        Ok(()) => {
            tracing::info!(
                alert = %alert.id,
                webhook = %alert.webhook_id,
                kind = alert.kind.as_str(),
                recipients = recipients.len(),
                "alert e-mail sent"
            );
            settle(store, due_ms, &alert);
        }
        Err(e) => {
            let now = now_ms();
            alert.tries = alert.tries.saturating_add(1);
            alert.last_failure = Some(e.to_string());
            if now.saturating_sub(alert.at_ms) >= GIVE_UP_AFTER_MS {
                tracing::error!(alert = %alert.id, webhook = %alert.webhook_id, tries = alert.tries, error = %e, "alert e-mail given up: not sent for 7 days");
                settle(store, due_ms, &alert);
                return;
            }
            let retry_in = backoff_ms(alert.tries);
            tracing::warn!(
                alert = %alert.id,
                webhook = %alert.webhook_id,
                tries = alert.tries,
                retry_in_ms = retry_in,
                error = %e,
                "alert e-mail not sent; trying again later"
            );
            if let Err(e) = store.reschedule_alert(due_ms, &alert, now + retry_in) {
                tracing::error!(alert = %alert.id, error = %e, "cannot reschedule the alert e-mail");
            }
        }
    }
}

fn settle(store: &Store, due_ms: u64, alert: &OwedAlert) {
    if let Err(e) = store.settle_alert(due_ms, &alert.id) {
        tracing::error!(alert = %alert.id, error = %e, "cannot remove the alert from the queue");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_five_seconds_doubles_and_stops_at_five_minutes() {
        assert_eq!(backoff_ms(1), 5_000);
        assert_eq!(backoff_ms(2), 10_000);
        assert_eq!(backoff_ms(3), 20_000);
        assert_eq!(backoff_ms(7), 300_000);
        assert_eq!(backoff_ms(u32::MAX), 300_000);
    }
}

//! Health write-back: what a lane reports about its webhook's health is made durable
//! (with the next group commit) and acted on. Every health transition passes through
//! [`Scheduler::health_changed`]: the one place to hook anything that must follow one
//! (operational events, alerts).

use std::sync::Arc;

use super::Scheduler;
use crate::delivery::health_events;
use crate::delivery::lane::HealthChange;
use crate::model::{WebhookHealth, WebhookStatus};

impl Scheduler {
    /// A lane reported `change` for `webhook_id`: write the health back; when hookd gives
    /// up on the webhook, disable it; and for a transition caused by an attempt (`cause`:
    /// the health before it, and its delivery), raise the operational event and the alert
    /// e-mail it calls for.
    pub(super) fn health_changed(
        &mut self,
        webhook_id: &str,
        change: HealthChange,
        cause: Option<(&WebhookHealth, &str)>,
    ) {
        if change.changed {
            self.write_health(webhook_id);
        }
        if let Some(reason) = &change.disabled {
            self.disable(webhook_id, reason);
        }
        let transition = change.became_failing || change.recovered || change.disabled.is_some();
        if let (true, Some((before, delivery_id)), Some(lane)) =
            (transition, cause, self.lanes.get(webhook_id))
        {
            let webhook = (**lane.webhook()).clone();
            let before = webhook.clone().with_health(before);
            let after = Arc::new(webhook.with_health(lane.health()));
            // Operational events and alert e-mails of a health transition (off this task).
            health_events::on_health_change(
                &self.ctx,
                &self.publisher,
                &before,
                &after,
                delivery_id,
                change.disabled.as_deref(),
            );
        }
    }

    /// Write the lane's health record (the only writer of it); nothing else of the
    /// webhook is touched, so an admin's concurrent edit is kept.
    fn write_health(&mut self, webhook_id: &str) {
        let Some(lane) = self.lanes.get(webhook_id) else {
            return;
        };
        match self.ctx.store.put_webhook_health(webhook_id, lane.health()) {
            Ok(_) => self.ctx.store.request_commit(),
            Err(e) => {
                tracing::warn!(webhook = %webhook_id, error = %e, "cannot record webhook health")
            }
        }
    }

    /// Set the webhook's status to `disabled` (keeping every other field as stored now),
    /// and close what its lane holds.
    fn disable(&mut self, webhook_id: &str, reason: &str) {
        let stored = self.ctx.store.disable_webhook_by_daemon(webhook_id, reason);
        let Some(lane) = self.lanes.get_mut(webhook_id) else {
            return;
        };
        let webhook = match stored {
            Ok(Some(wh)) => {
                self.ctx.store.request_commit();
                wh
            }
            Ok(None) => return lane.mark_deleted(),
            Err(e) => {
                tracing::error!(webhook = %webhook_id, error = %e, "cannot record that the webhook is disabled");
                // Disabled in memory all the same: nothing more is sent to it.
                let mut wh = (**lane.webhook()).clone();
                wh.status = WebhookStatus::Disabled;
                wh.disabled_reason = Some(reason.to_string());
                wh
            }
        };
        lane.refresh(Arc::new(webhook));
    }
}

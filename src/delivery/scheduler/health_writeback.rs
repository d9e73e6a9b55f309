//! Health write-back: what a lane reports about its webhook's health is made durable
//! (with the next group commit) and acted on. Every health transition passes through
//! [`Scheduler::health_changed`]: the one place to hook anything that must follow one
//! (operational events, alerts).

use std::sync::Arc;

use super::Scheduler;
use crate::delivery::lane::HealthChange;
use crate::model::{new_id, now_ms, Event, WebhookStatus};

impl Scheduler {
    /// A lane reported `change` for `webhook_id`: write the health back; when hookd gives
    /// up on the webhook, disable it and raise `webhook.disabled`.
    pub(super) fn health_changed(&mut self, webhook_id: &str, change: HealthChange) {
        if change.changed {
            self.write_health(webhook_id);
        }
        if let Some(reason) = change.disabled {
            self.disable(webhook_id, &reason);
            self.raise_disabled(webhook_id, &reason);
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

    /// The operational event `webhook.disabled`, fanned out to the tenant's webhooks.
    fn raise_disabled(&mut self, webhook_id: &str, reason: &str) {
        let Some(lane) = self.lanes.get(webhook_id) else {
            return;
        };
        tracing::warn!(webhook = %webhook_id, reason, "webhook disabled");
        let now = now_ms();
        let event = Event {
            id: new_id(crate::model::IdKind::Event),
            tenant_id: lane.webhook().tenant_id.clone(),
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
}

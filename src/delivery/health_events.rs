//! What a change in a webhook's health raises: the operational events `webhook.failing`,
//! `webhook.recovered` and `webhook.disabled`, published like any event (fanned out to the
//! tenant's webhooks that subscribe to them), and for `failing` and `disabled` an alert
//! e-mail owed to the tenant's `alert_emails` where `[smtp]` is configured — at most one
//! per webhook per hour, queued in the store for the alert sender (`alerts::sender`).
//!
//! The scheduler's health write-back calls [`on_health_change`] when a recorded attempt
//! moved the webhook's health (became failing, recovered, disabled). Deciding whether
//! anything happened is pure and immediate; everything that reads or writes storage runs
//! in a task of its own, so the scheduler never waits for it.

use std::sync::Arc;

use super::attempt::AttemptContext;
use super::publish::Publisher;
use crate::model::{
    format_ms, new_id, now_ms, AlertKind, Event, IdKind, OwedAlert, Webhook, WebhookStatus,
};
use crate::store::AlertQueued;

/// At most one alert e-mail per webhook within this window.
pub const ALERT_WINDOW_MS: u64 = 3_600_000;

/// A change worth telling the tenant about.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Too many failures in a row: the webhook turned `failing` (its breaker opened).
    Failing,
    /// A failing webhook accepted a delivery and is `active` again.
    Recovered { failing_since: Option<u64> },
    /// hookd disabled the webhook, for this reason.
    Disabled { reason: String },
}

impl Transition {
    fn event_type(&self) -> &'static str {
        match self {
            Transition::Failing => "webhook.failing",
            Transition::Recovered { .. } => "webhook.recovered",
            Transition::Disabled { .. } => "webhook.disabled",
        }
    }

    fn alert_kind(&self) -> Option<AlertKind> {
        match self {
            Transition::Failing => Some(AlertKind::Failing),
            Transition::Recovered { .. } => None,
            Transition::Disabled { .. } => Some(AlertKind::Disabled),
        }
    }
}

/// What changed between the webhook before and after an attempt was accounted for;
/// `disabled` is the reason when hookd disabled it just now.
pub fn transition(before: &Webhook, after: &Webhook, disabled: Option<&str>) -> Option<Transition> {
    if let Some(reason) = disabled {
        return Some(Transition::Disabled {
            reason: reason.to_string(),
        });
    }
    match (before.status, after.status) {
        (WebhookStatus::Failing, WebhookStatus::Failing) => None,
        (_, WebhookStatus::Failing) => Some(Transition::Failing),
        (WebhookStatus::Failing, WebhookStatus::Active) => Some(Transition::Recovered {
            failing_since: before.failing_since,
        }),
        _ => None,
    }
}

/// Raise what the change from `before` to `after` calls for (nothing, mostly). The
/// attempt that caused it belongs to `delivery_id` (its last error and status code go
/// into the event and the alert). Returns at once.
pub fn on_health_change(
    ctx: &AttemptContext,
    publisher: &Publisher,
    before: &Webhook,
    after: &Arc<Webhook>,
    delivery_id: &str,
    disabled: Option<&str>,
) {
    let Some(t) = transition(before, after, disabled) else {
        return;
    };
    match &t {
        Transition::Recovered { .. } => {
            tracing::info!(webhook = %after.id, "webhook recovered: active again")
        }
        Transition::Failing => tracing::warn!(
            webhook = %after.id,
            consecutive_failures = after.consecutive_failures,
            "webhook failing: its breaker holds the queue and probes"
        ),
        Transition::Disabled { reason } => {
            tracing::warn!(webhook = %after.id, reason = %reason, "webhook disabled")
        }
    }
    let ctx = ctx.clone();
    let publisher = publisher.clone();
    let webhook = after.clone();
    let delivery_id = delivery_id.to_string();
    tokio::spawn(async move { raise(ctx, publisher, t, webhook, delivery_id).await });
}

/// The last attempt's status code and error.
fn last_outcome(ctx: &AttemptContext, delivery_id: &str) -> (Option<u16>, Option<String>) {
    match ctx.store.get_delivery(delivery_id) {
        Ok(Some(d)) => d
            .attempts
            .last()
            .map(|a| (a.status_code, a.error.clone()))
            .unwrap_or_default(),
        _ => (None, None),
    }
}

fn reason_of(t: &Transition, webhook: &Webhook) -> String {
    match t {
        Transition::Failing => format!("{} failed attempts in a row", webhook.consecutive_failures),
        Transition::Recovered { .. } => "a delivery succeeded".to_string(),
        Transition::Disabled { reason } => reason.clone(),
    }
}

/// The operational event's `data`, in the shape of its catalog sample.
pub fn event_data(
    t: &Transition,
    webhook: &Webhook,
    status_code: Option<u16>,
    error: Option<&str>,
    at_ms: u64,
) -> serde_json::Value {
    let at = format_ms(at_ms);
    match t {
        Transition::Failing => serde_json::json!({
            "webhook_id": webhook.id,
            "name": webhook.name,
            "reason": reason_of(t, webhook),
            "consecutive_failures": webhook.consecutive_failures,
            "last_status_code": status_code,
            "last_error": error,
            "at": at,
        }),
        Transition::Recovered { failing_since } => serde_json::json!({
            "webhook_id": webhook.id,
            "name": webhook.name,
            "failing_since": failing_since.map(format_ms),
            "at": at,
        }),
        Transition::Disabled { reason } => serde_json::json!({
            "webhook_id": webhook.id,
            "name": webhook.name,
            "reason": reason,
            "last_status_code": status_code,
            "last_error": error,
            "at": at,
        }),
    }
}

async fn raise(
    ctx: AttemptContext,
    publisher: Publisher,
    t: Transition,
    webhook: Arc<Webhook>,
    delivery_id: String,
) {
    let now = now_ms();
    let (status_code, error) = last_outcome(&ctx, &delivery_id);
    // The alert first: once the event below is durable, so is the alert.
    if let Some(kind) = t.alert_kind() {
        owe_alert(&ctx, kind, &t, &webhook, status_code, error.clone(), now);
    }
    let event = Event {
        id: new_id(IdKind::Event),
        tenant_id: webhook.tenant_id.clone(),
        event_type: t.event_type().to_string(),
        data: event_data(&t, &webhook, status_code, error.as_deref(), now).to_string(),
        actor: None,
        created_at: now,
    };
    // Published like any event (fan-out, durable, scheduled): its deliveries reach the
    // scheduler as new work.
    if let Err(e) = publisher.publish(event, None).await {
        tracing::error!(webhook = %webhook.id, error = %e, event_type = t.event_type(), "cannot store an operational event");
    }
}

/// Queue the alert e-mail when there is anyone to send it to.
fn owe_alert(
    ctx: &AttemptContext,
    kind: AlertKind,
    t: &Transition,
    webhook: &Webhook,
    status_code: Option<u16>,
    error: Option<String>,
    now: u64,
) {
    if !ctx.config.smtp.enabled() {
        return;
    }
    match ctx.store.get_tenant(&webhook.tenant_id) {
        Ok(Some(tenant)) if !tenant.alert_emails.is_empty() => {}
        Ok(_) => return,
        Err(e) => {
            tracing::error!(webhook = %webhook.id, error = %e, "cannot read the tenant's alert addresses");
            return;
        }
    }
    let alert = OwedAlert {
        id: new_id(IdKind::Alert),
        tenant_id: webhook.tenant_id.clone(),
        webhook_id: webhook.id.clone(),
        webhook_name: webhook.name.clone(),
        endpoint_host: url::Url::parse(&webhook.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default(),
        kind,
        reason: reason_of(t, webhook),
        last_status_code: status_code,
        last_error: error,
        consecutive_failures: webhook.consecutive_failures,
        at_ms: now,
        tries: 0,
        last_failure: None,
    };
    match ctx.store.enqueue_alert(&alert, ALERT_WINDOW_MS) {
        Ok(AlertQueued::Queued) => {
            tracing::info!(webhook = %webhook.id, alert = %alert.id, kind = kind.as_str(), "alert e-mail queued")
        }
        Ok(AlertQueued::Suppressed { last_ms }) => tracing::info!(
            webhook = %webhook.id,
            kind = kind.as_str(),
            last = %format_ms(last_ms),
            "alert e-mail suppressed: this webhook had one within the hour"
        ),
        Err(e) => {
            tracing::error!(webhook = %webhook.id, error = %e, "cannot queue the alert e-mail")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Breaker, PayloadFormat};

    fn webhook(status: WebhookStatus) -> Webhook {
        Webhook {
            id: "wh_1".into(),
            tenant_id: "ten_1".into(),
            name: "CRM sync".into(),
            description: String::new(),
            url: "https://crm.example.com/hooks?token=x".into(),
            events: vec!["*".into()],
            method: "POST".into(),
            headers: Default::default(),
            status,
            ordered: false,
            rate_limit_per_sec: 100,
            timeout_secs: None,
            retry_schedule_secs: None,
            payload_format: PayloadFormat::Envelope,
            consecutive_failures: 2,
            secret: "whsec_x".into(),
            previous_secrets: vec![],
            failing_since: Some(1_000),
            disabled_reason: None,
            breaker: Breaker::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn status_changes_map_to_failing_recovered_and_disabled_and_nothing_else() {
        use WebhookStatus::*;
        let t = |a, b, d: Option<&str>| transition(&webhook(a), &webhook(b), d);
        assert_eq!(t(Active, Failing, None), Some(Transition::Failing));
        assert_eq!(
            t(Failing, Active, None),
            Some(Transition::Recovered {
                failing_since: Some(1_000)
            })
        );
        assert_eq!(
            t(Failing, Disabled, Some("failing too long")),
            Some(Transition::Disabled {
                reason: "failing too long".into()
            })
        );
        assert_eq!(
            t(Active, Disabled, Some("410")),
            Some(Transition::Disabled {
                reason: "410".into()
            })
        );
        assert_eq!(t(Failing, Failing, None), None, "a failed probe is no news");
        assert_eq!(t(Active, Active, None), None);
        assert_eq!(t(Disabled, Disabled, None), None);
    }

    /// Each event's data has exactly the keys of its catalog sample.
    #[test]
    fn event_data_has_the_shape_of_the_catalog_samples() {
        let w = webhook(WebhookStatus::Failing);
        for (t, name) in [
            (Transition::Failing, "webhook.failing"),
            (
                Transition::Recovered {
                    failing_since: Some(1_000),
                },
                "webhook.recovered",
            ),
            (
                Transition::Disabled {
                    reason: "the endpoint answered 410 Gone".into(),
                },
                "webhook.disabled",
            ),
        ] {
            assert_eq!(t.event_type(), name);
            let data = event_data(&t, &w, Some(503), Some("receiver answered HTTP 503"), 5_000);
            let sample = crate::model::OPERATIONAL_EVENT_TYPES
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, _, s)| serde_json::from_str::<serde_json::Value>(s).unwrap())
                .unwrap();
            let keys = |v: &serde_json::Value| {
                let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
                k.sort();
                k
            };
            assert_eq!(keys(&data), keys(&sample), "{name}");
        }
        let data = event_data(&Transition::Failing, &w, Some(503), None, 5_000);
        assert_eq!(data["reason"], "2 failed attempts in a row");
        assert_eq!(data["at"], "1970-01-01T00:00:05.000Z");
    }
}

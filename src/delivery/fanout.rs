//! Fan-out: which webhooks get a delivery of an event. Private to `delivery`: every event
//! is fanned out by `publish`, whoever raised it.

use crate::model::{Delivery, Event, WebhookStatus};
use crate::store::Store;

/// One pending delivery, due at the event's time ([`Delivery::published_as`]), per enabled webhook of the event's tenant whose
/// subscriptions match the event's type (exact, `prefix.*` or `*`). Failing webhooks are
/// included: their breaker holds the deliveries, it does not drop them.
pub fn fan_out(store: &Store, event: &Event) -> Vec<Delivery> {
    store
        .tenant_webhooks(&event.tenant_id)
        .iter()
        .filter(|w| w.status != WebhookStatus::Disabled && w.subscribes_to(&event.event_type))
        .map(|w| {
            Delivery::published_as(
                crate::model::new_id(crate::model::IdKind::Delivery),
                event,
                &w.id,
            )
        })
        .collect()
}

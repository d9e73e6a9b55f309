//! Retention: events older than `storage.retention_days`, with their deliveries and
//! attempts, are purged — unless a delivery of theirs is still open (nothing pending is
//! ever purged).

use super::codec::decode;
use super::events::IdempotencyRecord;
use super::keys::{self, EVENT, IDEMPOTENCY};
use super::{Store, StoreError};
use crate::model::Event;

/// What one sweep removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PurgeStats {
    pub events: usize,
    pub kept_open: usize,
    pub idempotency_keys: usize,
}

impl Store {
    /// Purge up to `max` events created before `cutoff_ms` (oldest first), then make it
    /// durable. Events are keyed by time-ordered ids, so the sweep reads only what is old;
    /// removals are blind and share one batch per sweep.
    pub async fn purge_before(&self, cutoff_ms: u64, max: usize) -> Result<PurgeStats, StoreError> {
        let mut stats = PurgeStats::default();
        let mut batch = self.batch()?;
        for item in self.t.data.prefix([EVENT]) {
            let (key, value) = item.into_inner()?;
            match super::id_time_ms(&keys::first(&key)) {
                Some(t) if t < cutoff_ms => {}
                _ => break,
            }
            let event: Event = decode(&value)?;
            if self
                .event_deliveries(&event.id)?
                .iter()
                .any(|d| d.status.is_open())
            {
                stats.kept_open += 1;
                continue;
            }
            self.stage_remove_event(&mut batch, &event.tenant_id, &event.id)?;
            stats.events += 1;
            if stats.events >= max {
                break;
            }
        }
        for item in self.t.data.prefix([IDEMPOTENCY]) {
            let (key, value) = item.into_inner()?;
            if let Ok(rec) = decode::<IdempotencyRecord>(&value) {
                if rec.created_at < cutoff_ms {
                    batch.remove(&self.t.data, key);
                    stats.idempotency_keys += 1;
                }
            }
        }
        if stats.events > 0 || stats.idempotency_keys > 0 {
            self.commit(batch)?;
            self.durable().await?;
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{new_id, now_ms, Delivery, DeliveryStatus, IdKind};

    fn event_at(ms: u64) -> Event {
        let ulid = ulid::Ulid::from_parts(ms, rand::random());
        Event {
            id: format!("evt_{ulid}"),
            tenant_id: "ten_1".into(),
            event_type: "customer.created".into(),
            data: "{}".into(),
            actor: None,
            created_at: ms,
        }
    }

    fn delivery(e: &Event, status: DeliveryStatus) -> Delivery {
        Delivery {
            id: new_id(IdKind::Delivery),
            tenant_id: e.tenant_id.clone(),
            webhook_id: "wh_1".into(),
            event_id: e.id.clone(),
            event_type: e.event_type.clone(),
            status,
            created_at: e.created_at,
            next_attempt_at: status.is_open().then_some(e.created_at),
            attempts: vec![],
            request: None,
            trigger: crate::model::Trigger::Event,
        }
    }

    #[tokio::test]
    async fn old_finished_events_are_purged_and_pending_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8, std::time::Duration::ZERO).unwrap();
        let now = now_ms();
        let old_done = event_at(now - 10_000);
        let old_pending = event_at(now - 9_000);
        let fresh = event_at(now);
        let d1 = delivery(&old_done, DeliveryStatus::Success);
        let d2 = delivery(&old_pending, DeliveryStatus::Retrying);
        let d3 = delivery(&fresh, DeliveryStatus::Success);
        store
            .ingest(&old_done, std::slice::from_ref(&d1), Some("k1"))
            .await
            .unwrap();
        store
            .ingest(&old_pending, std::slice::from_ref(&d2), None)
            .await
            .unwrap();
        store
            .ingest(&fresh, std::slice::from_ref(&d3), None)
            .await
            .unwrap();
        let stats = store.purge_before(now - 5_000, 1000).await.unwrap();
        assert_eq!(stats.events, 1);
        assert_eq!(stats.kept_open, 1);
        assert!(store.get_event_any(&old_done.id).unwrap().is_none());
        assert!(store.get_delivery(&d1.id).unwrap().is_none());
        assert!(
            store.get_delivery(&d2.id).unwrap().is_some(),
            "pending is never purged"
        );
        assert!(store.get_event_any(&fresh.id).unwrap().is_some());
        assert_eq!(
            store.schedule_len(),
            1,
            "the pending delivery keeps its schedule entry"
        );
    }
}

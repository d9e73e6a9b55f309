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
    /// durable. Events are keyed by time-ordered ids, so the sweep reads only what is old.
    /// Each event is checked ("no open delivery") and removed in one batch under the
    /// event's lock, so a retry or replay acknowledged meanwhile either comes first (the
    /// event is kept) or finds the event gone (404, nothing re-created).
    pub async fn purge_before(&self, cutoff_ms: u64, max: usize) -> Result<PurgeStats, StoreError> {
        let mut stats = PurgeStats::default();
        // Events an earlier build stored in `data` are older than any in `events`.
        'keyspaces: for events in [&self.t.data, &self.t.events] {
            for item in events.prefix([EVENT]) {
                let (key, value) = item.into_inner()?;
                match super::id_time_ms(&keys::first(&key)) {
                    Some(t) if t < cutoff_ms => {}
                    _ => continue 'keyspaces,
                }
                let event: Event = decode(&value)?;
                if !self.purge_event_if_final(&event)? {
                    stats.kept_open += 1;
                    continue;
                }
                stats.events += 1;
                if stats.events >= max {
                    break 'keyspaces;
                }
            }
        }
        let mut batch = self.batch()?;
        for item in self.t.data.prefix([IDEMPOTENCY]) {
            let (key, value) = item.into_inner()?;
            if let Ok(rec) = decode::<IdempotencyRecord>(&value) {
                if rec.created_at < cutoff_ms {
                    batch.remove(&self.t.data, key);
                    stats.idempotency_keys += 1;
                }
            }
        }
        if stats.idempotency_keys > 0 {
            self.commit(batch)?;
        }
        if stats.events > 0 || stats.idempotency_keys > 0 {
            self.durable().await?;
        }
        Ok(stats)
    }

    /// Remove `event` with its deliveries if none of them is open, atomically with respect
    /// to every other write of its deliveries. `false`: kept (a delivery is open).
    fn purge_event_if_final(&self, event: &Event) -> Result<bool, StoreError> {
        let _event = super::locks::event(&event.id);
        if self
            .event_deliveries(&event.id)?
            .iter()
            .any(|d| d.status.is_open())
        {
            return Ok(false);
        }
        let mut batch = self.batch()?;
        self.stage_remove_event(&mut batch, &event.tenant_id, &event.id)?;
        self.commit(batch)?;
        Ok(true)
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

    /// An event's deliveries are found from its one list key: those stored with it, those
    /// a replay added, and those an earlier build indexed one key each; purging the event
    /// removes every one of them and every index key.
    #[tokio::test]
    async fn an_events_deliveries_are_listed_and_purged_whoever_indexed_them() {
        use crate::store::keys;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8, std::time::Duration::ZERO).unwrap();
        let now = now_ms();
        let e = event_at(now - 10_000);
        let first = delivery(&e, DeliveryStatus::Success);
        let mut second = delivery(&e, DeliveryStatus::Success);
        second.webhook_id = "wh_2".into();
        store
            .ingest(&e, &[first.clone(), second.clone()], None)
            .await
            .unwrap();
        // An earlier build's index entry for a third delivery.
        let mut legacy = delivery(&e, DeliveryStatus::Success);
        legacy.webhook_id = "wh_3".into();
        let mut batch = store.batch().unwrap();
        super::super::deliveries::stage_delivery(&store.t, &mut batch, &legacy, None);
        batch.insert(
            &store.t.data,
            keys::two(keys::LEGACY_EVENT_DELIVERY, &e.id, &legacy.id),
            [],
        );
        store.commit(batch).unwrap();
        // A replay adds a fourth, and skips a webhook that already has one.
        let mut replayed = delivery(&e, DeliveryStatus::Success);
        replayed.webhook_id = "wh_4".into();
        let mut again = delivery(&e, DeliveryStatus::Success);
        again.webhook_id = "wh_2".into();
        let stored = store.create_deliveries(&[replayed.clone(), again]).unwrap();
        assert_eq!(stored.len(), 1);

        let ids: Vec<String> = store
            .event_deliveries(&e.id)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(
            ids,
            [&first.id, &second.id, &legacy.id, &replayed.id].map(String::clone)
        );

        assert_eq!(store.purge_before(now, 1000).await.unwrap().events, 1);
        for d in [&first, &second, &legacy, &replayed] {
            assert!(store.get_delivery(&d.id).unwrap().is_none());
        }
        let left: Vec<_> = [&store.t.data, &store.t.events]
            .into_iter()
            .flat_map(|ks| ks.iter())
            .map(|kv| kv.key().unwrap().to_vec())
            .filter(|k| k.windows(e.id.len()).any(|w| w == e.id.as_bytes()))
            .collect();
        assert!(left.is_empty(), "keys of the event left: {left:?}");
    }

    /// New events go to their own keyspace; one that an earlier build stored beside the
    /// deliveries is still read, replayed to and purged, oldest first with the others.
    #[tokio::test]
    async fn events_stored_beside_the_deliveries_by_an_earlier_build_are_read_and_purged() {
        use crate::store::keys;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8, std::time::Duration::ZERO).unwrap();
        let now = now_ms();
        let legacy = event_at(now - 10_000);
        let current = event_at(now - 9_000);
        let young = event_at(now);
        // The earlier build's layout: the event in `data`.
        let mut batch = store.batch().unwrap();
        batch.insert(
            &store.t.data,
            keys::one(keys::EVENT, &legacy.id),
            crate::store::codec::encode(&legacy),
        );
        let d_legacy = delivery(&legacy, DeliveryStatus::Success);
        super::super::deliveries::stage_new_delivery(&store.t, &mut batch, &d_legacy);
        super::super::deliveries::stage_event_delivery_ids(
            &store.t,
            &mut batch,
            &legacy.id,
            &[&d_legacy.id],
        );
        store.commit(batch).unwrap();
        for e in [&current, &young] {
            let d = delivery(e, DeliveryStatus::Success);
            store.ingest(e, &[d], None).await.unwrap();
        }
        let in_data = |id: &str| {
            store
                .t
                .data
                .get(keys::one(keys::EVENT, id))
                .unwrap()
                .is_some()
        };
        assert!(!in_data(&current.id), "new events are not stored in data");
        assert_eq!(
            store.get_event_any(&legacy.id).unwrap(),
            Some(legacy.clone())
        );

        // A replay to another webhook finds the earlier build's event.
        let mut replay = delivery(&legacy, DeliveryStatus::Success);
        replay.webhook_id = "wh_2".into();
        assert_eq!(store.create_deliveries(&[replay]).unwrap().len(), 1);

        let stats = store.purge_before(now - 5_000, 1000).await.unwrap();
        assert_eq!(stats.events, 2);
        assert!(store.get_event_any(&legacy.id).unwrap().is_none());
        assert!(!in_data(&legacy.id));
        assert!(store.get_event_any(&current.id).unwrap().is_none());
        assert!(store.get_event_any(&young.id).unwrap().is_some());
        assert!(store.get_delivery(&d_legacy.id).unwrap().is_none());
    }

    /// Old finished events are purged while retries of their deliveries are acknowledged,
    /// newest first (towards the sweep, which goes oldest first): every retry that was
    /// acknowledged keeps its delivery, open, with its event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retry_acknowledged_during_the_sweep_is_never_purged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8, std::time::Duration::ZERO).unwrap();
        let now = now_ms();
        let mut deliveries = Vec::new();
        for i in 0..2_000u64 {
            let e = event_at(now - 100_000 + i);
            let d = delivery(&e, DeliveryStatus::Success);
            store
                .ingest_nowait(&e, std::slice::from_ref(&d), None)
                .unwrap();
            deliveries.push(d);
        }
        let retrier = {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for d in deliveries.iter().rev() {
                    let retried = store
                        .update_delivery(&d.id, |d| {
                            d.status = DeliveryStatus::Retrying;
                            d.next_attempt_at = Some(now);
                            true
                        })
                        .unwrap();
                    if retried.is_some() {
                        acknowledged.push(d.clone());
                    }
                }
                acknowledged
            })
        };
        let stats = store.purge_before(now, 100_000).await.unwrap();
        let acknowledged = retrier.join().unwrap();
        assert_eq!(stats.events + acknowledged.len(), 2_000, "{stats:?}");
        for d in &acknowledged {
            let stored = store.get_delivery(&d.id).unwrap();
            assert!(
                stored.is_some_and(|s| s.status.is_open()),
                "an acknowledged retry was purged ({} of {} acknowledged)",
                acknowledged.len(),
                2_000
            );
            assert!(store.get_event_any(&d.event_id).unwrap().is_some());
        }
        assert_eq!(store.schedule_len(), acknowledged.len());
    }
}

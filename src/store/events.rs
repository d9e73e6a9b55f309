//! Events: the atomic, durable ingest of an event with its deliveries, idempotency keys,
//! and purging.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::codec::{decode, encode};
use super::deliveries::schedule_key;
use super::{join_key, prefix_key, Store, StoreError};
use crate::model::{Delivery, Event};

/// What `ingest` did.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    /// Stored with its deliveries.
    Created,
    /// The idempotency key was seen before: the first answer, nothing new stored.
    Duplicate { event_id: String, deliveries: u32 },
}

/// Stored under an idempotency key: the first answer.
#[derive(serde::Serialize, serde::Deserialize)]
struct IdempotencyRecord {
    event_id: String,
    deliveries: u32,
    created_at: u64,
}

impl Store {
    /// Store an event, one delivery per subscribed webhook (each scheduled at its
    /// `next_attempt_at`) and the idempotency key, in one sled transaction; then wait for
    /// the group commit. When this returns `Created`, all of it is on disk.
    pub async fn ingest(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        idempotency_key: Option<&str>,
    ) -> Result<IngestOutcome, StoreError> {
        let outcome = self.ingest_nowait(event, deliveries, idempotency_key)?;
        if outcome == IngestOutcome::Created {
            self.durable().await?;
        }
        Ok(outcome)
    }

    /// [`Store::ingest`] without the durability wait (for the daemon's own events, made
    /// durable by the commit of the write that raised them).
    pub fn ingest_nowait(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        idempotency_key: Option<&str>,
    ) -> Result<IngestOutcome, StoreError> {
        let t = &self.t;
        let idem_key = idempotency_key.map(|k| join_key(&event.tenant_id, k));
        let event_value = encode(event);
        let record = encode(&IdempotencyRecord {
            event_id: event.id.clone(),
            deliveries: deliveries.len() as u32,
            created_at: event.created_at,
        });
        let outcome = (
            &t.events,
            &t.tenant_events,
            &t.idempotency,
            &t.deliveries,
            &t.webhook_deliveries,
            &t.event_deliveries,
            &t.schedule,
        )
            .transaction(
                |(events, tenant_events, idem, dlv, wh_dlv, evt_dlv, schedule)| {
                    if let Some(k) = &idem_key {
                        if let Some(prev) = idem.get(k.as_slice())? {
                            let prev: IdempotencyRecord =
                                decode(&prev).map_err(ConflictableTransactionError::Abort)?;
                            return Ok(IngestOutcome::Duplicate {
                                event_id: prev.event_id,
                                deliveries: prev.deliveries,
                            });
                        }
                        idem.insert(k.as_slice(), record.as_slice())?;
                    }
                    events.insert(event.id.as_bytes(), event_value.as_slice())?;
                    tenant_events.insert(join_key(&event.tenant_id, &event.id), &[])?;
                    for d in deliveries {
                        dlv.insert(d.id.as_bytes(), encode(d))?;
                        wh_dlv.insert(join_key(&d.webhook_id, &d.id), &[])?;
                        evt_dlv.insert(join_key(&d.event_id, &d.id), &[])?;
                        if let Some(due) = d.next_attempt_at {
                            schedule.insert(schedule_key(due, &d.id), d.webhook_id.as_bytes())?;
                        }
                    }
                    Ok(IngestOutcome::Created)
                },
            )?;
        Ok(outcome)
    }

    /// An event of this tenant; `None` for another tenant's id.
    pub fn get_event(&self, tenant_id: &str, id: &str) -> Result<Option<Event>, StoreError> {
        let event: Option<Event> = self
            .t
            .events
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()?;
        Ok(event.filter(|e| e.tenant_id == tenant_id))
    }

    /// An event by id, whichever tenant owns it (delivery side).
    pub fn get_event_any(&self, id: &str) -> Result<Option<Event>, StoreError> {
        self.t
            .events
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Ids of a tenant's events created in `[since, until]`, oldest first.
    pub fn tenant_event_ids_between(
        &self,
        tenant_id: &str,
        since_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for key in self
            .t
            .tenant_events
            .scan_prefix(prefix_key(tenant_id))
            .keys()
        {
            let id = super::key_suffix(&key?);
            let ms = id
                .strip_prefix("evt_")
                .and_then(|u| ulid::Ulid::from_string(u).ok())
                .map(|u| u.timestamp_ms())
                .unwrap_or(0);
            if ms > until_ms {
                break;
            }
            if ms >= since_ms {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Remove one event with its deliveries, their schedule entries and index entries.
    pub(super) fn remove_event(&self, tenant_id: &str, event_id: &str) -> Result<(), StoreError> {
        for key in self
            .t
            .event_deliveries
            .scan_prefix(prefix_key(event_id))
            .keys()
        {
            let key = key?;
            let dlv_id = super::key_suffix(&key);
            self.remove_delivery(&dlv_id)?;
            self.t.event_deliveries.remove(key)?;
        }
        self.t.events.remove(event_id.as_bytes())?;
        self.t.tenant_events.remove(join_key(tenant_id, event_id))?;
        Ok(())
    }

    /// Remove every event of a tenant (tenant deletion).
    pub(super) fn purge_tenant_events(&self, tenant_id: &str) -> Result<(), StoreError> {
        for key in self
            .t
            .tenant_events
            .scan_prefix(prefix_key(tenant_id))
            .keys()
        {
            let id = super::key_suffix(&key?);
            self.remove_event(tenant_id, &id)?;
        }
        Ok(())
    }
}

//! Events: the atomic, durable ingest of an event with its deliveries, idempotency keys,
//! and removal.

use std::sync::Mutex;

use super::codec::{decode, encode};
use super::keys::{self, EVENT, IDEMPOTENCY, TENANT_EVENT, WEBHOOK_DELIVERY};
use super::{Store, StoreError};
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
pub(super) struct IdempotencyRecord {
    pub event_id: String,
    pub deliveries: u32,
    pub created_at: u64,
}

/// Requests with the same idempotency key check-then-write under the same stripe, so two
/// concurrent repeats cannot both create an event. Requests without a key take no lock.
static IDEMPOTENCY_STRIPES: [Mutex<()>; 64] = [const { Mutex::new(()) }; 64];

fn stripe(key: &[u8]) -> &'static Mutex<()> {
    let h = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    &IDEMPOTENCY_STRIPES[(h % 64) as usize]
}

/// Add the event with its deliveries, index entries and schedule entries to a batch.
fn stage(
    t: &super::Keyspaces,
    batch: &mut fjall::OwnedWriteBatch,
    event: &Event,
    deliveries: &[Delivery],
) {
    batch.insert(&t.events, keys::one(EVENT, &event.id), encode(event));
    batch.insert(
        &t.data,
        keys::two(TENANT_EVENT, &event.tenant_id, &event.id),
        [],
    );
    for d in deliveries {
        super::deliveries::stage_new_delivery(t, batch, d);
    }
    if !deliveries.is_empty() {
        let ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
        super::deliveries::stage_event_delivery_ids(t, batch, &event.id, &ids);
    }
}

/// What makes a second publish of the same thing a repeat (answered with the first
/// outcome, nothing stored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dedup<'a> {
    /// An `Idempotency-Key` of `POST /api/events`, scoped to the event's tenant.
    Idempotency(&'a str),
    /// The sender's event id at an inbound source, scoped to the source.
    Source { source_id: &'a str, id: &'a str },
}

impl Store {
    /// Store an event, one delivery per subscribed webhook (each scheduled at its
    /// `next_attempt_at`) and the idempotency key, in one atomic batch; then wait for the
    /// group commit. When this returns, all of it is on disk — for a `Duplicate` too: a
    /// repeat racing the first request may find its record in memory before the first
    /// request's commit, and must not be answered before the original is durable.
    #[cfg(test)]
    pub async fn ingest(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        idempotency_key: Option<&str>,
    ) -> Result<IngestOutcome, StoreError> {
        self.ingest_dedup(event, deliveries, idempotency_key.map(Dedup::Idempotency))
            .await
    }

    /// [`Store::ingest`] with any kind of dedup record (idempotency key or an inbound
    /// source's event id), stored in the same atomic batch as the event.
    pub async fn ingest_dedup(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        dedup: Option<Dedup<'_>>,
    ) -> Result<IngestOutcome, StoreError> {
        let outcome = self.ingest_nowait(event, deliveries, dedup)?;
        self.durable().await?;
        Ok(outcome)
    }

    /// [`Store::ingest_dedup`] without the durability wait.
    pub fn ingest_nowait(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        dedup: Option<Dedup<'_>>,
    ) -> Result<IngestOutcome, StoreError> {
        let mut batch = self.batch()?;
        stage(&self.t, &mut batch, event, deliveries);
        let Some(dedup) = dedup else {
            self.commit(batch)?;
            return Ok(IngestOutcome::Created);
        };
        let (keyspace, dedup_key) = match dedup {
            Dedup::Idempotency(k) => (&self.t.data, keys::two(IDEMPOTENCY, &event.tenant_id, k)),
            Dedup::Source { source_id, id } => {
                (&self.t.inbound, super::sources::dedup_key(source_id, id))
            }
        };
        let _guard = stripe(&dedup_key).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prev) = keyspace.get(&dedup_key)? {
            let prev: IdempotencyRecord = decode(&prev)?;
            return Ok(IngestOutcome::Duplicate {
                event_id: prev.event_id,
                deliveries: prev.deliveries,
            });
        }
        batch.insert(
            keyspace,
            dedup_key,
            encode(&IdempotencyRecord {
                event_id: event.id.clone(),
                deliveries: deliveries.len() as u32,
                created_at: event.created_at,
            }),
        );
        if let Dedup::Source { source_id, id } = dedup {
            super::sources::stage_dedup_expiry(
                &self.t,
                &mut batch,
                event.created_at,
                source_id,
                id,
            );
        }
        self.commit(batch)?;
        Ok(IngestOutcome::Created)
    }

    /// An event of this tenant; `None` for another tenant's id.
    pub fn get_event(&self, tenant_id: &str, id: &str) -> Result<Option<Event>, StoreError> {
        Ok(self.get_event_any(id)?.filter(|e| e.tenant_id == tenant_id))
    }

    /// An event by id, whichever tenant owns it (delivery side).
    pub fn get_event_any(&self, id: &str) -> Result<Option<Event>, StoreError> {
        self.event_bytes(id)?.map(|v| decode(&v)).transpose()
    }

    /// An event's stored value: in `events`, or in `data` where builds before the
    /// `events` keyspace stored it.
    fn event_bytes(&self, id: &str) -> Result<Option<fjall::Slice>, StoreError> {
        let key = keys::one(EVENT, id);
        match self.t.events.get(&key)? {
            Some(v) => Ok(Some(v)),
            None => Ok(self.t.data.get(&key)?),
        }
    }

    /// Whether an event is stored (in either keyspace), without reading its value.
    pub(super) fn event_exists(&self, id: &str) -> Result<bool, StoreError> {
        let key = keys::one(EVENT, id);
        Ok(self.t.events.contains_key(&key)? || self.t.data.contains_key(&key)?)
    }

    /// Up to `limit` ids of a tenant's events created in `[since, until]` and after the id
    /// `after` (to resume), oldest first: a window is read a page at a time, from its
    /// start (ids begin with their creation time), never loaded whole.
    pub fn tenant_event_ids_page(
        &self,
        tenant_id: &str,
        since_ms: u64,
        until_ms: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let first_possible = format!("evt_{}", ulid::Ulid::from_parts(since_ms, 0));
        let start = match after {
            Some(a) if a >= first_possible.as_str() => {
                let mut k = keys::two(TENANT_EVENT, tenant_id, a);
                k.push(0);
                k
            }
            _ => keys::two(TENANT_EVENT, tenant_id, &first_possible),
        };
        let end = keys::prefix_end(keys::prefix(TENANT_EVENT, tenant_id));
        let mut out = Vec::new();
        for item in self.t.data.range(start..end) {
            let id = keys::second(&item.key()?);
            let ms = super::id_time_ms(&id).unwrap_or(0);
            if ms > until_ms || out.len() == limit {
                break;
            }
            if ms >= since_ms {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Stage the removal of one event with its deliveries, their schedule entries and
    /// index entries (blind removes: nothing is read but the event's delivery list and
    /// its deliveries).
    pub(super) fn stage_remove_event(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        tenant_id: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        for id in self.event_delivery_ids(event_id)? {
            if let Some(d) = self.get_delivery(&id)? {
                if let Some(due) = d.next_attempt_at {
                    batch.remove(&self.t.schedule, keys::schedule(&d.webhook_id, due, &d.id));
                }
                batch.remove(
                    &self.t.data,
                    keys::two(WEBHOOK_DELIVERY, &d.webhook_id, &d.id),
                );
                batch.remove(&self.t.data, keys::one(super::keys::DELIVERY, &d.id));
            }
            batch.remove(
                &self.t.data,
                keys::two(keys::LEGACY_EVENT_DELIVERY, event_id, &id),
            );
        }
        batch.remove(&self.t.data, keys::one(keys::EVENT_DELIVERIES, event_id));
        batch.remove(&self.t.events, keys::one(EVENT, event_id));
        // Where builds before the `events` keyspace stored it.
        batch.remove(&self.t.data, keys::one(EVENT, event_id));
        batch.remove(&self.t.data, keys::two(TENANT_EVENT, tenant_id, event_id));
        Ok(())
    }

    /// Remove every event and idempotency key of a tenant (tenant deletion). Each event
    /// goes in one batch under its lock: an attempt recorded meanwhile either lands before
    /// (and is removed with it) or finds its delivery gone and writes nothing.
    pub(super) fn purge_tenant_events(&self, tenant_id: &str) -> Result<(), StoreError> {
        for item in self.t.data.prefix(keys::prefix(TENANT_EVENT, tenant_id)) {
            let event_id = keys::second(&item.key()?);
            let _event = super::locks::event_to_change(&event_id);
            let mut batch = self.batch()?;
            self.stage_remove_event(&mut batch, tenant_id, &event_id)?;
            self.commit(batch)?;
        }
        let mut batch = self.batch()?;
        for item in self.t.data.prefix(keys::prefix(IDEMPOTENCY, tenant_id)) {
            batch.remove(&self.t.data, item.key()?);
        }
        self.commit(batch)
    }
}

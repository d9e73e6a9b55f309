//! Inbound sources, their request logs and their dedup records.
//!
//! `sources`: `src_id` → Source (cold; a tenant's are found by scanning, there are few).
//!
//! `inbound` (`/` below is a 0x00 byte):
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `Q` | src_id / req_id | InboundRequest — the request log, in time order |
//! | `R` | src_id / sender's event id | IdempotencyRecord — the dedup record |
//! | `X` | ms (u64 BE) ++ src_id / sender's event id | () — dedup records by age, for retention |
//!
//! A dedup record is written in the event's own batch (see `events.rs`), so an accepted
//! event and the record that makes its repeat a duplicate are durable together.
//!
//! A source's log is bounded: past [`REQUEST_LOG_CAP`] entries the oldest are removed, so
//! a flood of bad requests costs at most that much disk per source.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use super::codec::{decode, encode};
use super::keys;
use super::{Store, StoreError};
use crate::model::{InboundRequest, Source};

/// The most log entries kept per source (the newest).
pub const REQUEST_LOG_CAP: usize = 10_000;
/// When a log passes the cap it is trimmed this far below it at once, so trimming (a
/// range read and a batch of removals) happens once per this many requests, not on each.
const TRIM_STEP: usize = 500;

const REQUEST: u8 = b'Q';
const DEDUP: u8 = b'R';
const DEDUP_AGE: u8 = b'X';

/// Log entries per source, counted once per process on a source's first logged request
/// and kept in step afterwards. The lock also serialises each append with its trim.
static LOG_COUNTS: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Mutex::default);

/// The key of a source's dedup record for a sender's event id.
pub(super) fn dedup_key(source_id: &str, id: &str) -> Vec<u8> {
    keys::two(DEDUP, source_id, id)
}

/// Add the age index entry of a dedup record to the batch that writes it.
pub(super) fn stage_dedup_expiry(
    t: &super::Keyspaces,
    batch: &mut fjall::OwnedWriteBatch,
    created_ms: u64,
    source_id: &str,
    id: &str,
) {
    batch.insert(&t.inbound, age_key(created_ms, source_id, id), []);
}

fn age_key(ms: u64, source_id: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + source_id.len() + id.len());
    k.push(DEDUP_AGE);
    k.extend_from_slice(&ms.to_be_bytes());
    k.extend_from_slice(source_id.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// What one retention sweep removed from the inbound side.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SourcePurgeStats {
    pub requests: usize,
    pub dedup_records: usize,
}

impl Store {
    /// Create a source, durably.
    pub async fn create_source(&self, source: &Source) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.insert(&self.t.sources, source.id.as_bytes(), encode(source));
        self.commit(batch)?;
        self.durable().await
    }

    /// Replace a stored source of the same tenant; `NotFound` if it is gone.
    pub async fn update_source(&self, source: &Source) -> Result<(), StoreError> {
        {
            let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.get_source(&source.tenant_id, &source.id)?.is_none() {
                return Err(StoreError::NotFound);
            }
            let mut batch = self.batch()?;
            batch.insert(&self.t.sources, source.id.as_bytes(), encode(source));
            self.commit(batch)?;
        }
        self.durable().await
    }

    /// A source of this tenant; `None` for another tenant's id, exactly as if absent.
    pub fn get_source(&self, tenant_id: &str, id: &str) -> Result<Option<Source>, StoreError> {
        Ok(self
            .get_source_any(id)?
            .filter(|s| s.tenant_id == tenant_id))
    }

    /// A source by id, whichever tenant owns it (the ingest side).
    pub fn get_source_any(&self, id: &str) -> Result<Option<Source>, StoreError> {
        self.t
            .sources
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// One page of a tenant's sources in creation order, after `cursor` (a source id).
    pub fn list_sources(
        &self,
        tenant_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Source>, Option<String>), StoreError> {
        let mut out = Vec::new();
        let mut more = false;
        for item in self.t.sources.iter() {
            let (key, value) = item.into_inner()?;
            if cursor.is_some_and(|c| key.as_ref() <= c.as_bytes()) {
                continue;
            }
            let source: Source = decode(&value)?;
            if source.tenant_id != tenant_id {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(source);
        }
        let next = if more {
            out.last().map(|s| s.id.clone())
        } else {
            None
        };
        Ok((out, next))
    }

    /// Delete a source of this tenant with its request log and dedup records; `false` if
    /// there is none. (Age index entries of its dedup records stay until retention
    /// removes them; they point at nothing.)
    pub async fn delete_source(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
        {
            let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.get_source(tenant_id, id)?.is_none() {
                return Ok(false);
            }
            let mut batch = self.batch()?;
            batch.remove(&self.t.sources, id.as_bytes());
            self.commit(batch)?;
        }
        self.remove_source_records(id)?;
        self.durable().await?;
        Ok(true)
    }

    /// Delete every source of a tenant with their logs and dedup records (tenant deletion).
    pub async fn delete_tenant_sources(&self, tenant_id: &str) -> Result<usize, StoreError> {
        let mut ids = Vec::new();
        for item in self.t.sources.iter() {
            let (key, value) = item.into_inner()?;
            if decode::<Source>(&value)?.tenant_id == tenant_id {
                ids.push(String::from_utf8_lossy(&key).into_owned());
            }
        }
        for id in &ids {
            let mut batch = self.batch()?;
            batch.remove(&self.t.sources, id.as_bytes());
            self.commit(batch)?;
            self.remove_source_records(id)?;
        }
        self.durable().await?;
        Ok(ids.len())
    }

    /// Remove a source's log and dedup records, in batches of a few thousand keys.
    fn remove_source_records(&self, source_id: &str) -> Result<(), StoreError> {
        for ns in [REQUEST, DEDUP] {
            let mut batch = self.batch()?;
            let mut staged = 0;
            for item in self.t.inbound.prefix(keys::prefix(ns, source_id)) {
                batch.remove(&self.t.inbound, item.key()?);
                staged += 1;
                if staged == 4096 {
                    self.commit(std::mem::replace(&mut batch, self.batch()?))?;
                    staged = 0;
                }
            }
            self.commit(batch)?;
        }
        lock_counts().remove(source_id);
        Ok(())
    }

    /// Append one entry to a source's request log (durable with the next group commit;
    /// call [`Store::durable`] to wait for it), trimming the log to the cap.
    pub fn log_inbound_request(&self, entry: &InboundRequest) -> Result<(), StoreError> {
        let mut counts = lock_counts();
        let mut batch = self.batch()?;
        batch.insert(
            &self.t.inbound,
            keys::two(REQUEST, &entry.source_id, &entry.id),
            encode(entry),
        );
        self.commit(batch)?;
        let count = match counts.get_mut(&entry.source_id) {
            Some(c) => {
                *c += 1;
                *c
            }
            None => {
                let n = self
                    .t
                    .inbound
                    .prefix(keys::prefix(REQUEST, &entry.source_id))
                    .count();
                counts.insert(entry.source_id.clone(), n);
                n
            }
        };
        if count > REQUEST_LOG_CAP {
            let excess = count - (REQUEST_LOG_CAP - TRIM_STEP);
            let mut batch = self.batch()?;
            let mut removed = 0;
            for item in self
                .t
                .inbound
                .prefix(keys::prefix(REQUEST, &entry.source_id))
                .take(excess)
            {
                batch.remove(&self.t.inbound, item.key()?);
                removed += 1;
            }
            self.commit(batch)?;
            counts.insert(entry.source_id.clone(), count - removed);
        }
        Ok(())
    }

    /// One page of a source's request log, newest first, strictly older than `cursor`.
    pub fn list_inbound_requests(
        &self,
        source_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<InboundRequest>, Option<String>), StoreError> {
        let start = keys::prefix(REQUEST, source_id);
        let end = match cursor {
            Some(c) => keys::two(REQUEST, source_id, c),
            None => keys::prefix_end(start.clone()),
        };
        let mut out: Vec<InboundRequest> = Vec::new();
        let mut more = false;
        for item in self.t.inbound.range(start..end).rev() {
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(decode(&item.value()?)?);
        }
        let next = if more {
            out.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok((out, next))
    }

    /// Retention for the inbound side: log entries and dedup records made before
    /// `cutoff_ms`, at most `max` of each per call; then durable.
    pub async fn purge_inbound_before(
        &self,
        cutoff_ms: u64,
        max: usize,
    ) -> Result<SourcePurgeStats, StoreError> {
        let mut stats = SourcePurgeStats::default();
        let mut batch = self.batch()?;
        let mut trimmed_sources = Vec::new();
        'sources: for item in self.t.sources.iter() {
            let source_id = String::from_utf8_lossy(&item.key()?).into_owned();
            let mut removed_here = false;
            for entry in self.t.inbound.prefix(keys::prefix(REQUEST, &source_id)) {
                let key = entry.key()?;
                match super::id_time_ms(&keys::second(&key)) {
                    Some(t) if t < cutoff_ms => {}
                    _ => break,
                }
                batch.remove(&self.t.inbound, key);
                removed_here = true;
                stats.requests += 1;
                if stats.requests >= max {
                    trimmed_sources.push(source_id);
                    break 'sources;
                }
            }
            if removed_here {
                trimmed_sources.push(source_id);
            }
        }
        let end = {
            let mut k = vec![DEDUP_AGE];
            k.extend_from_slice(&cutoff_ms.to_be_bytes());
            k
        };
        for item in self.t.inbound.range(vec![DEDUP_AGE]..end).take(max) {
            let key = item.key()?;
            if let Some(rest) = key.get(9..) {
                let mut record = Vec::with_capacity(1 + rest.len());
                record.push(DEDUP);
                record.extend_from_slice(rest);
                batch.remove(&self.t.inbound, record);
            }
            batch.remove(&self.t.inbound, key);
            stats.dedup_records += 1;
        }
        if stats.requests > 0 || stats.dedup_records > 0 {
            self.commit(batch)?;
            {
                let mut counts = lock_counts();
                for id in &trimmed_sources {
                    // Counted again on the next logged request.
                    counts.remove(id);
                }
            }
            self.durable().await?;
        }
        Ok(stats)
    }
}

fn lock_counts() -> std::sync::MutexGuard<'static, HashMap<String, usize>> {
    LOG_COUNTS.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        new_id, now_ms, Event, IdKind, InboundOutcome, Locator, Verification, VerificationResult,
    };
    use crate::store::Dedup;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8, std::time::Duration::ZERO).unwrap();
        (dir, store)
    }

    fn source(tenant: &str) -> Source {
        Source {
            id: new_id(IdKind::Source),
            tenant_id: tenant.into(),
            name: "AccuLynx".into(),
            description: String::new(),
            verification: Verification::None,
            allow_unsigned: true,
            event_type: Locator::Field("/topicName".into()),
            event_id: Some(Locator::Field("/eventId".into())),
            type_prefix: "acculynx.".into(),
            created_at: now_ms(),
            updated_at: now_ms(),
        }
    }

    fn entry(source_id: &str, at_ms: u64) -> InboundRequest {
        let ulid = ulid::Ulid::from_parts(at_ms, rand::random());
        InboundRequest {
            id: format!("req_{ulid}"),
            source_id: source_id.into(),
            received_at: at_ms,
            headers: vec![],
            body: "{}".into(),
            body_bytes: 2,
            verification: VerificationResult::Invalid,
            outcome: InboundOutcome::Unauthorized,
            status_code: 401,
            reason: Some("signature does not match".into()),
            event_id: None,
        }
    }

    #[tokio::test]
    async fn sources_are_tenant_scoped_and_deleted_with_their_log() {
        let (_dir, store) = store();
        let a = source("ten_a");
        let b = source("ten_b");
        store.create_source(&a).await.unwrap();
        store.create_source(&b).await.unwrap();
        assert!(store.get_source("ten_b", &a.id).unwrap().is_none());
        assert_eq!(
            store.list_sources("ten_a", None, 50).unwrap().0,
            vec![a.clone()]
        );
        store.log_inbound_request(&entry(&a.id, now_ms())).unwrap();
        assert!(!store.delete_source("ten_b", &a.id).await.unwrap());
        assert!(store.delete_source("ten_a", &a.id).await.unwrap());
        assert!(store
            .list_inbound_requests(&a.id, None, 10)
            .unwrap()
            .0
            .is_empty());
        assert_eq!(store.delete_tenant_sources("ten_b").await.unwrap(), 1);
        assert!(store.get_source_any(&b.id).unwrap().is_none());
    }

    #[tokio::test]
    async fn the_request_log_is_newest_first_paginated_and_capped() {
        let (_dir, store) = store();
        let s = source("ten_a");
        store.create_source(&s).await.unwrap();
        let start = now_ms();
        for i in 0..(REQUEST_LOG_CAP as u64 + 1) {
            store.log_inbound_request(&entry(&s.id, start + i)).unwrap();
        }
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = store
                .list_inbound_requests(&s.id, cursor.as_deref(), 250)
                .unwrap();
            all.extend(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(all.len(), REQUEST_LOG_CAP - TRIM_STEP);
        assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        assert_eq!(all[0].received_at, start + REQUEST_LOG_CAP as u64);
    }

    #[tokio::test]
    async fn retention_purges_old_log_entries_and_dedup_records() {
        let (_dir, store) = store();
        let s = source("ten_a");
        store.create_source(&s).await.unwrap();
        let now = now_ms();
        store
            .log_inbound_request(&entry(&s.id, now - 10_000))
            .unwrap();
        store.log_inbound_request(&entry(&s.id, now)).unwrap();
        let old = Event {
            id: format!("evt_{}", ulid::Ulid::from_parts(now - 10_000, 1)),
            tenant_id: "ten_a".into(),
            event_type: "acculynx.x".into(),
            data: "{}".into(),
            actor: None,
            created_at: now - 10_000,
        };
        let dedup = Some(Dedup::Source {
            source_id: &s.id,
            id: "e-1",
        });
        store.ingest_dedup(&old, &[], dedup).await.unwrap();
        let stats = store.purge_inbound_before(now - 5_000, 1000).await.unwrap();
        assert_eq!(
            stats,
            SourcePurgeStats {
                requests: 1,
                dedup_records: 1
            }
        );
        assert_eq!(
            store
                .list_inbound_requests(&s.id, None, 10)
                .unwrap()
                .0
                .len(),
            1
        );
        let again = Event {
            id: new_id(IdKind::Event),
            created_at: now,
            ..old
        };
        assert_eq!(
            store.ingest_dedup(&again, &[], dedup).await.unwrap(),
            crate::store::IngestOutcome::Created,
            "the id may be used again once its record has expired"
        );
    }
}

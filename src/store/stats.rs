//! Per-webhook delivery statistics in hourly buckets, for `GET /api/webhooks/{id}/stats`
//! without reading the delivery log.
//!
//! A bucket (webhook, hour) holds: the deliveries created in that hour counted by their
//! current status (each status change moves one count), and the attempts made in that
//! hour with a log-scale histogram of their durations. A window is the sum of its hours.
//!
//! Why in memory first: every attempt changes a bucket, at up to 10,000 attempts/s.
//! Writing the bucket in the attempt's own batch would need a read-modify-write of the
//! bucket per attempt (fjall batches are blind writes), serialised per bucket across the
//! concurrent attempts of a webhook: a read and a lock on the hot path. Instead each change
//! is a few additions under a mutex, and [`Store::flush_stats`] (every 2 s, and at
//! shutdown) adds what accumulated into the stored buckets — one read and one write per
//! bucket touched, whatever the attempt rate. Reads add the unflushed part, so answers are
//! exact at once; a crash loses at most the last seconds of counts, never a delivery.
//!
//! Keyspace `stats`: hour (u64 BE, Unix ms / 3,600,000) ++ wh_id → StatsBucket. Hour first,
//! so the retention sweep removes old hours with one range; a window reads one key per
//! hour.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::codec::{decode, encode};
use super::{Store, StoreError};
use crate::model::{latency_bin, Attempt, Delivery, DeliveryStatus, LATENCY_BINS};

const HOUR_MS: u64 = 3_600_000;

/// One webhook's figures for one hour (or, summed, for a window). Status counts are
/// signed: a delivery created in an hour already flushed moves from `pending` in a later
/// delta.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsBucket {
    pub pending: i64,
    pub retrying: i64,
    pub success: i64,
    pub failed: i64,
    /// Attempts made (a receiver was tried), and how many of them got a 2xx.
    pub attempts: u64,
    pub attempts_ok: u64,
    /// Attempt durations: `LATENCY_BINS` counts (see `model::latency`), or empty.
    pub latency: Vec<u64>,
}

impl StatsBucket {
    fn count(&mut self, status: DeliveryStatus, delta: i64) {
        let c = match status {
            DeliveryStatus::Pending => &mut self.pending,
            DeliveryStatus::Retrying => &mut self.retrying,
            DeliveryStatus::Success => &mut self.success,
            DeliveryStatus::Failed => &mut self.failed,
        };
        *c += delta;
    }

    fn attempt(&mut self, a: &Attempt) {
        self.attempts += 1;
        if a.succeeded() {
            self.attempts_ok += 1;
        }
        if self.latency.len() != LATENCY_BINS {
            self.latency.resize(LATENCY_BINS, 0);
        }
        self.latency[latency_bin(a.duration_ms)] += 1;
    }

    /// Add `other` into `self`.
    pub fn add(&mut self, other: &StatsBucket) {
        self.pending += other.pending;
        self.retrying += other.retrying;
        self.success += other.success;
        self.failed += other.failed;
        self.attempts += other.attempts;
        self.attempts_ok += other.attempts_ok;
        if !other.latency.is_empty() {
            if self.latency.len() < other.latency.len() {
                self.latency.resize(other.latency.len(), 0);
            }
            for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
                *mine += theirs;
            }
        }
    }
}

/// Changes not yet added to the stored buckets, by webhook, then hour.
#[derive(Default)]
pub(super) struct StatsDeltas {
    unflushed: Mutex<HashMap<String, HashMap<u64, StatsBucket>>>,
    /// Held by a flush and by a read, so a read never sees a delta both stored and
    /// unflushed, or neither.
    flush: Mutex<()>,
}

impl StatsDeltas {
    fn with(&self, webhook_id: &str, hour: u64, f: impl FnOnce(&mut StatsBucket)) {
        let mut all = self.unflushed.lock().unwrap_or_else(|p| p.into_inner());
        // No allocation when the webhook already has changes waiting (the usual case).
        let hours = match all.get_mut(webhook_id) {
            Some(h) => h,
            None => all.entry(webhook_id.to_string()).or_default(),
        };
        f(hours.entry(hour).or_default());
    }
}

fn key(hour: u64, webhook_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + webhook_id.len());
    k.extend_from_slice(&hour.to_be_bytes());
    k.extend_from_slice(webhook_id.as_bytes());
    k
}

/// A webhook's figures over the last day and the last week.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookStats {
    /// The current hour and the 23 before it.
    pub last_24h: StatsBucket,
    /// The current hour and the 167 before it.
    pub last_7d: StatsBucket,
}

impl Store {
    /// New deliveries (all `pending`): count them in their creation hour.
    pub fn stats_created(&self, deliveries: &[Delivery]) {
        for d in deliveries {
            self.stats.with(&d.webhook_id, d.created_at / HOUR_MS, |b| {
                b.count(d.status, 1)
            });
        }
    }

    /// `d` changed from status `from` to its current status without an attempt (closed
    /// unsent, requeued by a retry or replay).
    pub fn stats_moved(&self, d: &Delivery, from: DeliveryStatus) {
        if from != d.status {
            self.stats.with(&d.webhook_id, d.created_at / HOUR_MS, |b| {
                b.count(from, -1);
                b.count(d.status, 1);
            });
        }
    }

    /// An attempt of `d` was recorded (its last attempt), moving it from `from` to its
    /// current status.
    pub fn stats_attempted(&self, d: &Delivery, from: DeliveryStatus) {
        self.stats_moved(d, from);
        if let Some(a) = d.attempts.last() {
            self.stats
                .with(&d.webhook_id, a.attempted_at / HOUR_MS, |b| b.attempt(a));
        }
    }

    /// Add the changes gathered in memory into the stored buckets (one batch), durable
    /// with the next group commit. Returns how many buckets were written.
    pub fn flush_stats(&self) -> Result<usize, StoreError> {
        let _flush = self.stats.flush.lock().unwrap_or_else(|p| p.into_inner());
        let taken = std::mem::take(
            &mut *self
                .stats
                .unflushed
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        if taken.is_empty() {
            return Ok(0);
        }
        let mut batch = self.batch()?;
        let mut n = 0;
        for (webhook_id, hours) in taken {
            for (hour, delta) in hours {
                let k = key(hour, &webhook_id);
                let mut bucket: StatsBucket = match self.t.stats.get(&k)? {
                    Some(v) => decode(&v)?,
                    None => StatsBucket::default(),
                };
                bucket.add(&delta);
                batch.insert(&self.t.stats, k, encode(&bucket));
                n += 1;
            }
        }
        self.commit(batch)?;
        self.request_commit();
        Ok(n)
    }

    /// One webhook's figures for the windows ending at `now_ms`: 24 and 168 point reads,
    /// plus what is not flushed yet.
    pub fn webhook_stats(&self, webhook_id: &str, now_ms: u64) -> Result<WebhookStats, StoreError> {
        let _flush = self.stats.flush.lock().unwrap_or_else(|p| p.into_inner());
        let unflushed: HashMap<u64, StatsBucket> = self
            .stats
            .unflushed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(webhook_id)
            .cloned()
            .unwrap_or_default();
        let now_hour = now_ms / HOUR_MS;
        let mut out = WebhookStats::default();
        for age in 0..168u64 {
            let Some(hour) = now_hour.checked_sub(age) else {
                break;
            };
            let mut bucket = match self.t.stats.get(key(hour, webhook_id))? {
                Some(v) => decode::<StatsBucket>(&v)?,
                None => StatsBucket::default(),
            };
            if let Some(delta) = unflushed.get(&hour) {
                bucket.add(delta);
            }
            if age < 24 {
                out.last_24h.add(&bucket);
            }
            out.last_7d.add(&bucket);
        }
        Ok(out)
    }

    /// Remove every bucket of an hour that began before `cutoff_ms`; returns how many.
    pub fn purge_stats_before(&self, cutoff_ms: u64) -> Result<usize, StoreError> {
        let end = (cutoff_ms / HOUR_MS).to_be_bytes().to_vec();
        let mut batch = self.batch()?;
        let mut n = 0;
        for item in self.t.stats.range(..end) {
            batch.remove(&self.t.stats, item.key()?);
            n += 1;
        }
        self.commit_removals(batch, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{new_id, IdKind};

    fn delivery(webhook_id: &str, created_at: u64) -> Delivery {
        Delivery {
            id: new_id(IdKind::Delivery),
            tenant_id: "ten_1".into(),
            webhook_id: webhook_id.into(),
            event_id: "evt_1".into(),
            event_type: "job.created".into(),
            status: DeliveryStatus::Pending,
            created_at,
            next_attempt_at: Some(created_at),
            attempts: vec![],
            request: None,
            trigger: crate::model::Trigger::Event,
        }
    }

    fn attempt(
        d: &mut Delivery,
        status: u16,
        ms: u64,
        at: u64,
        then: DeliveryStatus,
    ) -> DeliveryStatus {
        let from = d.status;
        d.attempts.push(Attempt {
            attempt: d.attempts.len() as u32 + 1,
            status_code: Some(status),
            duration_ms: ms,
            error: (status >= 300).then(|| format!("receiver answered HTTP {status}")),
            response_body: String::new(),
            attempted_at: at,
        });
        d.status = then;
        from
    }

    #[tokio::test]
    async fn counts_follow_each_delivery_across_flushes_and_a_reopen_and_old_hours_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_000 * HOUR_MS + 5_000;
        {
            let store = Store::open(dir.path(), 8, std::time::Duration::ZERO).unwrap();
            let mut a = delivery("wh_1", now - 1_000);
            let mut b = delivery("wh_1", now - 1_000);
            let old = delivery("wh_1", now - 30 * HOUR_MS);
            let week_old = delivery("wh_1", now - 200 * HOUR_MS);
            let other = delivery("wh_2", now);
            store.stats_created(&[a.clone(), b.clone(), old, week_old, other]);
            assert_eq!(store.flush_stats().unwrap(), 4, "a and b share a bucket");

            let from = attempt(&mut a, 200, 12, now, DeliveryStatus::Success);
            store.stats_attempted(&a, from);
            let from = attempt(&mut b, 500, 100, now, DeliveryStatus::Retrying);
            store.stats_attempted(&b, from);
            // Unflushed changes are counted at once.
            let s = store.webhook_stats("wh_1", now).unwrap();
            assert_eq!(
                (
                    s.last_24h.pending,
                    s.last_24h.retrying,
                    s.last_24h.success,
                    s.last_24h.failed
                ),
                (0, 1, 1, 0)
            );
            assert_eq!((s.last_24h.attempts, s.last_24h.attempts_ok), (2, 1));
            assert_eq!(s.last_7d.pending, 1, "30 h old: in the week, not the day");
            store.flush_stats().unwrap();
            let from = attempt(&mut b, 500, 100, now, DeliveryStatus::Failed);
            store.stats_attempted(&b, from);
            store.flush_stats().unwrap();
            store.durable().await.unwrap();
        }
        let store = crate::store::reopen(dir.path(), 8);
        let s = store.webhook_stats("wh_1", now).unwrap();
        assert_eq!(
            (
                s.last_24h.pending,
                s.last_24h.retrying,
                s.last_24h.success,
                s.last_24h.failed
            ),
            (0, 0, 1, 1)
        );
        assert_eq!(s.last_24h.attempts, 3);
        assert_eq!(
            crate::model::percentile_ms(&s.last_24h.latency, 0.5),
            Some(crate::model::bin_value_ms(latency_bin(100)))
        );
        assert_eq!(s.last_7d.pending, 1);
        assert_eq!(
            store.webhook_stats("wh_2", now).unwrap().last_24h.pending,
            1
        );

        assert_eq!(store.purge_stats_before(now - 8 * 24 * HOUR_MS).unwrap(), 1);
        assert_eq!(store.purge_stats_before(now - 8 * 24 * HOUR_MS).unwrap(), 0);
        assert_eq!(store.webhook_stats("wh_1", now).unwrap().last_7d.pending, 1);
    }
}

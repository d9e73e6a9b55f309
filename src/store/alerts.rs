//! The alert queue: alert e-mails owed to tenants, kept until sent (a restart re-reads
//! them), and the time of each webhook's last alert (at most one per webhook per window).
//!
//! Keyspace `alerts`:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `Q` | due ms (u64 BE) ++ alr_id | OwedAlert — owed, to be tried at `due` |
//! | `L` | wh_id | u64 — when the webhook's last alert was queued (Unix ms) |

use super::codec::{decode, encode};
use super::{Store, StoreError};
use crate::model::OwedAlert;

const QUEUE: u8 = b'Q';
const LAST: u8 = b'L';

fn queue_key(due_ms: u64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.push(QUEUE);
    k.extend_from_slice(&due_ms.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn queue_due(key: &[u8]) -> Option<u64> {
    let due = key.get(1..9)?;
    Some(u64::from_be_bytes(due.try_into().ok()?))
}

fn last_key(webhook_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + webhook_id.len());
    k.push(LAST);
    k.extend_from_slice(webhook_id.as_bytes());
    k
}

/// What [`Store::enqueue_alert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertQueued {
    /// Owed now; the sender was nudged.
    Queued,
    /// The webhook had an alert queued at `last_ms`, within the window: nothing queued.
    Suppressed { last_ms: u64 },
}

impl Store {
    /// Queue `alert` (due at once) unless its webhook had one queued within `window_ms`
    /// of `alert.at_ms`; the queue entry and the webhook's last-alert time are one atomic
    /// write. Does not wait for the disk (the next group commit, requested here, makes it
    /// durable): the delivery side calls this and must never wait.
    pub fn enqueue_alert(
        &self,
        alert: &OwedAlert,
        window_ms: u64,
    ) -> Result<AlertQueued, StoreError> {
        {
            // Check-then-write: two transitions of one webhook racing must not both queue.
            let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            let last = last_key(&alert.webhook_id);
            if let Some(v) = self.t.alerts.get(&last)? {
                let last_ms: u64 = decode(&v)?;
                if alert.at_ms < last_ms.saturating_add(window_ms) {
                    return Ok(AlertQueued::Suppressed { last_ms });
                }
            }
            let mut batch = self.batch()?;
            batch.insert(&self.t.alerts, last, encode(&alert.at_ms));
            batch.insert(
                &self.t.alerts,
                queue_key(alert.at_ms, &alert.id),
                encode(alert),
            );
            self.commit(batch)?;
        }
        self.request_commit();
        self.alert_nudge.notify_one();
        Ok(AlertQueued::Queued)
    }

    /// Resolves when an alert was queued since the last call (or, the first time, ever):
    /// the sender sleeps on this beside its timer.
    pub async fn alert_queued(&self) {
        self.alert_nudge.notified().await;
    }

    /// Up to `limit` owed alerts due at or before `now_ms`, with their due times, in due
    /// order.
    pub fn due_alerts(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<(u64, OwedAlert)>, StoreError> {
        let end = queue_key(now_ms.saturating_add(1), "");
        let mut out = Vec::new();
        for item in self.t.alerts.range(vec![QUEUE]..end).take(limit) {
            let (k, v) = item.into_inner()?;
            if let Some(due) = queue_due(&k) {
                out.push((due, decode(&v)?));
            }
        }
        Ok(out)
    }

    /// When the earliest owed alert is due, if any is owed.
    pub fn next_alert_due(&self) -> Result<Option<u64>, StoreError> {
        match self.t.alerts.prefix([QUEUE]).next() {
            Some(item) => Ok(queue_due(&item.key()?)),
            None => Ok(None),
        }
    }

    /// How many alerts are owed.
    pub fn owed_alerts(&self) -> usize {
        self.t.alerts.prefix([QUEUE]).count()
    }

    /// The alert due at `due_ms` is settled (sent, or given up): remove it.
    pub fn settle_alert(&self, due_ms: u64, id: &str) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.remove(&self.t.alerts, queue_key(due_ms, id));
        self.commit(batch)?;
        self.request_commit();
        Ok(())
    }

    /// Move an owed alert from `old_due_ms` to `due_ms`, with its updated record (tries,
    /// last failure), atomically.
    pub fn reschedule_alert(
        &self,
        old_due_ms: u64,
        alert: &OwedAlert,
        due_ms: u64,
    ) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.remove(&self.t.alerts, queue_key(old_due_ms, &alert.id));
        batch.insert(&self.t.alerts, queue_key(due_ms, &alert.id), encode(alert));
        self.commit(batch)?;
        self.request_commit();
        Ok(())
    }

    /// Forget last-alert times older than `cutoff_ms` (they no longer suppress anything);
    /// returns how many.
    pub fn purge_alert_marks_before(&self, cutoff_ms: u64) -> Result<usize, StoreError> {
        let mut batch = self.batch()?;
        let mut n = 0;
        for item in self.t.alerts.prefix([LAST]) {
            let (k, v) = item.into_inner()?;
            if decode::<u64>(&v).is_ok_and(|ms| ms < cutoff_ms) {
                batch.remove(&self.t.alerts, k);
                n += 1;
            }
        }
        self.commit_removals(batch, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{new_id, AlertKind, IdKind};

    fn alert(webhook_id: &str, at_ms: u64) -> OwedAlert {
        OwedAlert {
            id: new_id(IdKind::Alert),
            tenant_id: "ten_1".into(),
            webhook_id: webhook_id.into(),
            webhook_name: "CRM sync".into(),
            endpoint_host: "crm.example.com".into(),
            kind: AlertKind::Failing,
            reason: "2 failed attempts in a row".into(),
            last_status_code: Some(503),
            last_error: Some("receiver answered HTTP 503".into()),
            consecutive_failures: 2,
            at_ms,
            tries: 0,
            last_failure: None,
        }
    }

    #[tokio::test]
    async fn one_alert_per_webhook_per_window_is_queued_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let hour = 3_600_000;
        let first = alert("wh_1", 10 * hour);
        {
            let store = Store::open(dir.path(), 8, std::time::Duration::ZERO).unwrap();
            assert_eq!(
                store.enqueue_alert(&first, hour).unwrap(),
                AlertQueued::Queued
            );
            assert_eq!(
                store
                    .enqueue_alert(&alert("wh_1", 10 * hour + hour - 1), hour)
                    .unwrap(),
                AlertQueued::Suppressed { last_ms: 10 * hour }
            );
            assert_eq!(
                store
                    .enqueue_alert(&alert("wh_2", 10 * hour), hour)
                    .unwrap(),
                AlertQueued::Queued,
                "another webhook has its own window"
            );
            store.durable().await.unwrap();
        }
        let store = crate::store::reopen(dir.path(), 8);
        assert_eq!(store.owed_alerts(), 2);
        let due = store.due_alerts(10 * hour, 10).unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0], (10 * hour, first.clone()));
        assert!(store.due_alerts(10 * hour - 1, 10).unwrap().is_empty());

        // A failed send moves it later; a sent one is gone.
        let mut retried = first.clone();
        retried.tries = 1;
        store
            .reschedule_alert(10 * hour, &retried, 10 * hour + 5_000)
            .unwrap();
        assert_eq!(store.next_alert_due().unwrap(), Some(10 * hour));
        let (due_b, b) = store.due_alerts(10 * hour, 10).unwrap().remove(0);
        store.settle_alert(due_b, &b.id).unwrap();
        assert_eq!(store.next_alert_due().unwrap(), Some(10 * hour + 5_000));
        assert_eq!(
            store.due_alerts(u64::MAX, 10).unwrap(),
            vec![(10 * hour + 5_000, retried)]
        );

        // After the window the webhook may alert again; old marks can be purged.
        assert_eq!(
            store
                .enqueue_alert(&alert("wh_1", 11 * hour), hour)
                .unwrap(),
            AlertQueued::Queued
        );
        assert_eq!(store.purge_alert_marks_before(11 * hour).unwrap(), 1);
    }
}

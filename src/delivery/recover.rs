//! Retry and replay: delivering again what was delivered (or given up on) before.
//!
//! Both change stored deliveries through `Store::update_delivery`, which reads and writes
//! under the event's lock: a retry racing an attempt in flight, the retention sweep or a
//! tenant deletion never leaves a second schedule entry, overwrites a newer state, or
//! brings back what was removed. A replay over a long window reads the tenant's events a
//! page at a time and makes each page durable with one group commit.

use crate::model::{Delivery, DeliveryStatus, Trigger, Webhook};
use crate::store::{Store, StoreError};

/// Events read (and deliveries made durable together) per step of a replay.
pub(crate) const REPLAY_PAGE: usize = 256;

/// Which deliveries of a window a replay sends again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplayScope {
    /// Failed ones (and events the webhook never got).
    Failed,
    /// Failed and successful ones (and events the webhook never got).
    All,
}

/// Make the delivery due at `now` again: failed → retried, success → replayed, open →
/// sooner.
fn make_due(d: &mut Delivery, now: u64) {
    d.status = if d.attempts.is_empty() {
        DeliveryStatus::Pending
    } else {
        DeliveryStatus::Retrying
    };
    d.next_attempt_at = Some(now);
}

/// Retry one delivery of `webhook` now (without waiting for durability). `None`: no such
/// delivery of this webhook (or it was removed, or it is a test send, never retried).
pub(crate) fn retry_nowait(
    store: &Store,
    webhook: &Webhook,
    delivery_id: &str,
    now: u64,
) -> Result<Option<Delivery>, StoreError> {
    let mut from = None;
    let stored = store.update_delivery(delivery_id, |d| {
        if d.webhook_id != webhook.id || d.trigger == Trigger::Test {
            return false;
        }
        from = Some(d.status);
        make_due(d, now);
        true
    })?;
    let (Some(d), Some(from)) = (stored, from) else {
        return Ok(None);
    };
    store.stats_moved(&d, from);
    Ok(Some(d))
}

/// Replay the events of `webhook`'s tenant created in `[since_ms, until_ms]` to it: the
/// deliveries `scope` selects are made due now, and events it has no delivery of (e.g.
/// while it was disabled) get one. Each page of events is one group commit, after which
/// `scheduled` is told about its deliveries. Returns how many deliveries were scheduled.
pub(crate) async fn replay(
    store: &Store,
    webhook: &Webhook,
    since_ms: u64,
    until_ms: u64,
    scope: ReplayScope,
    now: u64,
    scheduled: impl Fn(&[Delivery]),
) -> Result<usize, StoreError> {
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let ids = store.tenant_event_ids_page(
            &webhook.tenant_id,
            since_ms,
            until_ms,
            after.as_deref(),
            REPLAY_PAGE,
        )?;
        let Some(last) = ids.last() else {
            break;
        };
        after = Some(last.clone());
        let mut fresh = Vec::new();
        let mut again = Vec::new();
        for event_id in &ids {
            let Some(event) = store.get_event_any(event_id)? else {
                continue;
            };
            if !webhook.subscribes_to(&event.event_type) {
                continue;
            }
            let deliveries = store.event_deliveries(&event.id)?;
            // A test send's event was never published: not replayed, nor recovered.
            if deliveries.iter().any(|d| d.trigger == Trigger::Test) {
                continue;
            }
            let mine: Vec<Delivery> = deliveries
                .into_iter()
                .filter(|d| d.webhook_id == webhook.id)
                .collect();
            if mine.is_empty() {
                fresh.push(Delivery::pending(&event, &webhook.id, now));
            }
            for d in mine {
                let mut from = None;
                let stored = store.update_delivery(&d.id, |d| {
                    let wanted = match d.status {
                        DeliveryStatus::Failed => true,
                        DeliveryStatus::Success => scope == ReplayScope::All,
                        _ => false,
                    };
                    if wanted {
                        from = Some(d.status);
                        make_due(d, now);
                    }
                    wanted
                })?;
                if let (Some(d), Some(from)) = (stored, from) {
                    store.stats_moved(&d, from);
                    again.push(d);
                }
            }
        }
        let created = store.create_deliveries(&fresh)?;
        store.stats_created(&created);
        if !created.is_empty() || !again.is_empty() {
            store.durable().await?;
        }
        count += created.len() + again.len();
        scheduled(&created);
        scheduled(&again);
        if ids.len() < REPLAY_PAGE {
            break;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testkit;

    /// 1,000 events the webhook never got (created before it) and 100 failed deliveries:
    /// a replay schedules all of them, reading the window a page at a time and making each
    /// page durable with one group commit, not one per delivery.
    #[tokio::test]
    async fn a_replay_shares_one_group_commit_per_page_of_events() {
        let (_dir, store) = testkit::store();
        let wh = testkit::webhook("wh_1", "ten_1");
        let mut failed = Vec::new();
        for i in 0..1_100 {
            let event = testkit::event("ten_1");
            let mut ds = Vec::new();
            if i % 11 == 0 {
                let mut d = Delivery::pending(&event, &wh.id, event.created_at);
                d.status = DeliveryStatus::Failed;
                d.next_attempt_at = None;
                failed.push(d.id.clone());
                ds.push(d);
            }
            store.ingest_nowait(&event, &ds, None).unwrap();
        }
        store.durable().await.unwrap();
        let before = store.commits_made();
        let told = std::sync::Mutex::new(0usize);
        let count = replay(&store, &wh, 0, u64::MAX, ReplayScope::Failed, 5, |ds| {
            *told.lock().unwrap() += ds.len();
        })
        .await
        .unwrap();
        let commits = store.commits_made() - before;
        assert_eq!(count, 1_100);
        assert_eq!(*told.lock().unwrap(), 1_100, "every delivery was scheduled");
        let pages = 1_100u64.div_ceil(REPLAY_PAGE as u64);
        assert!(
            commits <= pages,
            "{commits} group commits for {pages} pages"
        );
        assert_eq!(store.schedule_len(), 1_100);
        for id in failed {
            let d = store.get_delivery(&id).unwrap().unwrap();
            assert_eq!(
                (d.status, d.next_attempt_at),
                (DeliveryStatus::Pending, Some(5))
            );
        }
    }
}

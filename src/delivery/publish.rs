//! The one way an event enters delivery: fan it out to the subscribed webhooks, store it
//! with its deliveries (and its dedup record) in one atomic batch, wait until that is on
//! disk, then hand the deliveries to the scheduler. The events API, inbound sources and
//! the daemon's own operational events all publish through [`Publisher::publish`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::fanout::fan_out;
use super::scheduler::{Fresh, Msg};
use crate::model::{Delivery, Event};
use crate::store::{ChangeMark, Dedup, DueEntry, IngestOutcome, Store, StoreError};

/// What a publish did.
#[derive(Debug, Clone, PartialEq)]
pub enum Published {
    /// Stored, durable, and handed to the scheduler: `deliveries` webhooks will get it.
    Created { event_id: String, deliveries: u32 },
    /// The dedup key was seen before: the first outcome, nothing new stored.
    Duplicate { event_id: String, deliveries: u32 },
}

/// Cheap to clone; held by the engine and by the scheduler.
#[derive(Clone)]
pub struct Publisher {
    store: Store,
    /// Weak: the scheduler holds a publisher too, and its channel must still close when
    /// the engine (the last strong sender) is gone.
    tx: mpsc::WeakSender<Msg>,
    /// Raised when a hint could not be sent (channel full); the scheduler clears it and
    /// rescans the schedule. Shared with the scheduler.
    rescan: Arc<AtomicBool>,
}

impl Publisher {
    pub(super) fn new(store: Store, tx: &mpsc::Sender<Msg>, rescan: Arc<AtomicBool>) -> Publisher {
        Publisher {
            store,
            tx: tx.downgrade(),
            rescan,
        }
    }

    /// Publish `event` (its `created_at` is the deliveries' due time). Returns once the
    /// event, its deliveries and the dedup record are durable — a `Duplicate` too.
    ///
    /// Takes the event rather than borrowing it: it goes on to the scheduler for the first
    /// attempts, moved, not copied.
    pub async fn publish(
        &self,
        event: Event,
        dedup: Option<Dedup<'_>>,
    ) -> Result<Published, StoreError> {
        let deliveries = fan_out(&self.store, &event);
        // Before the deliveries are stored: whatever changes them later is counted after.
        let mark = self.store.change_mark();
        match self.store.ingest_dedup(&event, &deliveries, dedup).await? {
            IngestOutcome::Created => {
                self.store.stats_created(&deliveries);
                let created = Published::Created {
                    event_id: event.id.clone(),
                    deliveries: deliveries.len() as u32,
                };
                self.send_fresh(&deliveries, event, mark);
                crate::ops::metrics::ingested_event();
                Ok(created)
            }
            IngestOutcome::Duplicate {
                event_id,
                deliveries,
            } => Ok(Published::Duplicate {
                event_id,
                deliveries,
            }),
        }
    }

    /// Tell the scheduler about freshly stored deliveries. A full channel loses nothing:
    /// the deliveries are in the schedule, so the hint is replaced by a request to rescan
    /// it: the "rescan pending" flag (which the scheduler checks after every message it
    /// handles) and one `Msg::Rescan` to wake it, sent in the channel's last slot, which
    /// hints never take. However many publishes find the channel full, that is one flag and at
    /// most one message until the scheduler has rescanned; nothing is spawned, nothing waits.
    pub fn enqueue_new(&self, deliveries: &[Delivery]) {
        self.send_hint(due_entries(deliveries), None);
    }

    /// [`Publisher::enqueue_new`] for deliveries just published: they travel with the
    /// hint (with their event), so their first attempt need not read them back.
    fn send_fresh(&self, deliveries: &[Delivery], event: Event, mark: ChangeMark) {
        self.send_hint(
            due_entries(deliveries),
            Some(Fresh {
                event: Arc::new(event),
                mark,
            }),
        );
    }

    fn send_hint(&self, entries: Vec<DueEntry>, fresh: Option<Fresh>) {
        if entries.is_empty() {
            return;
        }
        let Some(tx) = self.tx.upgrade() else {
            // The engine has stopped; the schedule holds the deliveries for the next start.
            return;
        };
        // The last slot is kept for the `Rescan` message.
        let sent = tx.capacity() > 1 && tx.try_send(Msg::New(entries, fresh)).is_ok();
        if !sent && !self.rescan.swap(true, Ordering::AcqRel) {
            // Should another publisher have taken the last slot, the flag is seen anyway.
            let _ = tx.try_send(Msg::Rescan);
        }
    }
}

/// The schedule entries of `deliveries` (those still due).
fn due_entries(deliveries: &[Delivery]) -> Vec<DueEntry> {
    deliveries
        .iter()
        .filter_map(|d| {
            Some(DueEntry {
                due_ms: d.next_attempt_at?,
                delivery_id: d.id.clone(),
                webhook_id: d.webhook_id.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testkit;

    /// The first attempt rebuilds a published delivery from the event the hint carries:
    /// the rebuilt delivery is, field for field, the one the publish stored.
    #[tokio::test]
    async fn a_published_delivery_rebuilt_from_its_hint_is_the_stored_one() {
        let (_dir, store) = testkit::store();
        for wh in ["wh_1", "wh_2"] {
            store
                .create_webhook(&testkit::webhook(wh, "ten_1"))
                .await
                .unwrap();
        }
        let (tx, mut rx) = mpsc::channel(4);
        let publisher = Publisher::new(store.clone(), &tx, Arc::new(AtomicBool::new(false)));
        let mut event = testkit::event("ten_1");
        event.created_at -= 5_000;
        publisher.publish(event.clone(), None).await.unwrap();
        let Ok(Msg::New(entries, Some(fresh))) = rx.try_recv() else {
            panic!("a hint with the event");
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(*fresh.event, event);
        for e in entries {
            let rebuilt =
                Delivery::published_as(e.delivery_id.clone(), &fresh.event, &e.webhook_id);
            assert_eq!(Some(rebuilt), store.get_delivery(&e.delivery_id).unwrap());
        }
    }

    /// However many publishes find the channel full: one `Rescan` message, one flag, and
    /// no task spawned (this runs outside a runtime, where spawning would panic).
    #[test]
    fn a_full_hint_channel_raises_one_rescan_and_spawns_nothing() {
        let (_dir, store) = testkit::store();
        let (tx, mut rx) = mpsc::channel(2);
        let flag = Arc::new(AtomicBool::new(false));
        let publisher = Publisher::new(store, &tx, flag.clone());
        let event = testkit::event("ten_1");
        let d = Delivery::pending(&event, "wh_1", event.created_at);
        for _ in 0..10 {
            publisher.enqueue_new(std::slice::from_ref(&d));
        }
        assert!(matches!(rx.try_recv(), Ok(Msg::New(e, _)) if e.len() == 1));
        assert!(matches!(rx.try_recv(), Ok(Msg::Rescan)));
        assert!(rx.try_recv().is_err(), "nothing more was queued");
        assert!(flag.load(Ordering::Acquire), "the rescan is pending");

        // The scheduler took the flag: the next hint goes through as a hint again.
        flag.store(false, Ordering::Release);
        publisher.enqueue_new(std::slice::from_ref(&d));
        assert!(matches!(rx.try_recv(), Ok(Msg::New(..))));
    }
}

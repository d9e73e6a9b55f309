//! The one way an event enters delivery: fan it out to the subscribed webhooks, store it
//! with its deliveries (and its dedup record) in one atomic batch, wait until that is on
//! disk, then hand the deliveries to the scheduler. The events API, inbound sources and
//! the daemon's own operational events all publish through [`Publisher::publish`].

use tokio::sync::mpsc;

use super::fanout::fan_out;
use super::scheduler::Msg;
use crate::model::{Delivery, Event};
use crate::store::{Dedup, DueEntry, IngestOutcome, Store, StoreError};

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
}

impl Publisher {
    pub(super) fn new(store: Store, tx: &mpsc::Sender<Msg>) -> Publisher {
        Publisher {
            store,
            tx: tx.downgrade(),
        }
    }

    /// Publish `event` (its `created_at` is the deliveries' due time). Returns once the
    /// event, its deliveries and the dedup record are durable — a `Duplicate` too.
    pub async fn publish(
        &self,
        event: &Event,
        dedup: Option<Dedup<'_>>,
    ) -> Result<Published, StoreError> {
        let deliveries = fan_out(&self.store, event, event.created_at);
        match self.store.ingest_dedup(event, &deliveries, dedup).await? {
            IngestOutcome::Created => {
                self.store.stats_created(&deliveries);
                self.enqueue_new(&deliveries);
                crate::ops::metrics::ingested_event();
                Ok(Published::Created {
                    event_id: event.id.clone(),
                    deliveries: deliveries.len() as u32,
                })
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
    /// the deliveries are in the schedule tree, and the scheduler rescans it.
    pub fn enqueue_new(&self, deliveries: &[Delivery]) {
        if deliveries.is_empty() {
            return;
        }
        let Some(tx) = self.tx.upgrade() else {
            // The engine has stopped; the schedule tree holds the deliveries for next start.
            return;
        };
        let entries = deliveries
            .iter()
            .filter_map(|d| {
                Some(DueEntry {
                    due_ms: d.next_attempt_at?,
                    delivery_id: d.id.clone(),
                    webhook_id: d.webhook_id.clone(),
                })
            })
            .collect();
        if tx.try_send(Msg::New(entries)).is_err() {
            // Keep the order of hints but never block the publisher.
            tokio::spawn(async move {
                let _ = tx.send(Msg::New(Vec::new())).await;
            });
        }
    }
}

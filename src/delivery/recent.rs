//! The events attempts read lately, kept for the attempts that come next.
//!
//! Why: with fan-out, one event has a delivery per webhook, and the lanes work through
//! their backlogs side by side, so an event read from the store for one webhook's attempt
//! is wanted by the others moments later (a point read and a decode each: 3 % of the CPU
//! with ten webhooks). Events never change once stored, so a copy is never stale; an
//! event removed meanwhile (retention, tenant deleted) is sent at most as it would have
//! been had its attempt started a moment earlier, and its record finds the delivery gone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::model::Event;
use crate::store::{Store, StoreError};

/// How many events are kept: a few per lane's worth of attempts in flight.
const KEPT: usize = 1_024;

/// Cheap to share; one per engine.
#[derive(Default)]
pub(crate) struct RecentEvents {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Arc<Event>>,
    /// Ids in the order they were kept: the oldest goes first.
    order: VecDeque<String>,
}

impl RecentEvents {
    /// The event `id`, from those kept or else from the store (and then kept).
    pub(crate) fn get(&self, store: &Store, id: &str) -> Result<Option<Arc<Event>>, StoreError> {
        if let Some(e) = self.lock().by_id.get(id) {
            return Ok(Some(e.clone()));
        }
        let Some(event) = store.get_event_any(id)? else {
            return Ok(None);
        };
        let event = Arc::new(event);
        let mut inner = self.lock();
        if inner.by_id.insert(id.to_string(), event.clone()).is_none() {
            inner.order.push_back(id.to_string());
            while inner.order.len() > KEPT {
                if let Some(old) = inner.order.pop_front() {
                    inner.by_id.remove(&old);
                }
            }
        }
        Ok(Some(event))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing is left half-changed by a panic between two statements above that
        // matters: at worst an id is in one of the two collections only, and is dropped
        // with the next eviction or replaced by the next insert.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testkit;

    #[tokio::test]
    async fn a_kept_event_is_served_without_the_store_and_the_oldest_go_first() {
        let (_dir, store) = testkit::store();
        let recent = RecentEvents::default();
        let mut ids = Vec::new();
        for _ in 0..KEPT + 1 {
            let event = testkit::event("ten_1");
            store.ingest(&event, &[], None).await.unwrap();
            assert_eq!(recent.get(&store, &event.id).unwrap().unwrap().id, event.id);
            ids.push(event.id);
        }
        assert!(recent.get(&store, "evt_missing").unwrap().is_none());
        assert_eq!(recent.lock().by_id.len(), KEPT);
        assert!(
            !recent.lock().by_id.contains_key(&ids[0]),
            "the oldest went"
        );
        // A kept event is served from memory: the same copy each time.
        let a = recent.get(&store, &ids[KEPT]).unwrap().unwrap();
        let b = recent.get(&store, &ids[KEPT]).unwrap().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}

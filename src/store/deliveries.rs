//! Deliveries, their log queries, and the durable schedule (what is owed an attempt,
//! keyed by due time).

use std::collections::hash_map::{Entry, HashMap};

use super::keys::{
    self, DELIVERY, EVENT_DELIVERIES, LEGACY_EVENT_DELIVERY, SCHEDULE, WEBHOOK_DELIVERY,
};
use super::{Store, StoreError};
use crate::model::{Delivery, DeliveryStatus};

/// One schedule entry: this delivery (of this webhook) is owed an attempt at `due_ms`.
/// Everything is in the key, so the scheduler places an entry without decoding the
/// delivery.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueEntry {
    pub due_ms: u64,
    pub delivery_id: String,
    pub webhook_id: String,
}

fn parse_entry(key: &[u8]) -> Option<DueEntry> {
    let (webhook_id, due_ms, delivery_id) = keys::parse_schedule(key)?;
    Some(DueEntry {
        due_ms,
        delivery_id,
        webhook_id,
    })
}

/// Add a delivery to a batch, moving its schedule entry from `old_due` to its
/// `next_attempt_at` (none when final). The invariant "an open delivery has exactly one
/// schedule entry" is kept here and only here.
///
/// Each schedule key is written once and removed at most once (an unchanged due time is
/// not written again), so it is removed with a weak tombstone: when a flush or compaction
/// meets the tombstone with the entry, both are dropped. Entries sent within a memtable's
/// life (nearly all, under load) then never reach a table, and a drained range holds no
/// tombstones for later scans to step over.
pub(super) fn stage_delivery(
    t: &super::Keyspaces,
    batch: &mut fjall::OwnedWriteBatch,
    d: &Delivery,
    old_due: Option<u64>,
) {
    if old_due != d.next_attempt_at {
        if let Some(old) = old_due {
            batch.remove_weak(&t.schedule, keys::schedule(&d.webhook_id, old, &d.id));
        }
        if let Some(due) = d.next_attempt_at {
            batch.insert(&t.schedule, keys::schedule(&d.webhook_id, due, &d.id), []);
        }
    }
    batch.insert(
        &t.data,
        keys::one(DELIVERY, &d.id),
        super::delivery_codec::encode(d),
    );
}

/// Add a new delivery with its webhook-log index entry to a batch (the event's list of
/// deliveries is its caller's: one write per event, [`stage_event_delivery_ids`]).
pub(super) fn stage_new_delivery(
    t: &super::Keyspaces,
    batch: &mut fjall::OwnedWriteBatch,
    d: &Delivery,
) {
    stage_delivery(t, batch, d, None);
    batch.insert(
        &t.data,
        keys::two(WEBHOOK_DELIVERY, &d.webhook_id, &d.id),
        [],
    );
}

/// Write an event's list of deliveries (all of them, in creation order).
pub(super) fn stage_event_delivery_ids(
    t: &super::Keyspaces,
    batch: &mut fjall::OwnedWriteBatch,
    event_id: &str,
    ids: &[&str],
) {
    batch.insert(
        &t.data,
        keys::one(EVENT_DELIVERIES, event_id),
        super::codec::encode(&ids),
    );
}

/// An event's deliveries while a replay adds to them.
struct EventList {
    ids: Vec<String>,
    /// The webhooks they go to: a webhook gets at most one delivery of an event.
    webhooks: Vec<String>,
    /// Deliveries were added: the list is written again.
    grown: bool,
}

/// Where the count of changes to stored deliveries stood when a copy of a delivery was
/// taken (see [`Store::update_delivery_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMark(u64);

/// Filters of `GET /api/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
}

impl DeliveryFilter {
    fn accepts(&self, d: &Delivery) -> bool {
        self.status.is_none_or(|s| s == d.status)
            && self.event_type.as_deref().is_none_or(|t| t == d.event_type)
            && self.since_ms.is_none_or(|s| d.created_at >= s)
            && self.until_ms.is_none_or(|u| d.created_at <= u)
    }
}

impl Store {
    pub fn get_delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        self.t
            .data
            .get(keys::one(DELIVERY, id))?
            .map(|v| super::delivery_codec::decode(&v))
            .transpose()
    }

    /// Change a stored delivery atomically: `change` gets the delivery as stored now and
    /// returns whether to write it; the schedule entry moves from the stored due time to
    /// the new one in the same batch. Nothing is written for a delivery that no longer
    /// exists (purged by retention, or its tenant deleted): `None`. Otherwise the
    /// delivery as stored afterwards. Durable with the next group commit.
    ///
    /// This is how every change of an existing delivery is made (attempt recorded, retry,
    /// closed unsent): the read and the write happen under the event's lock, so none of
    /// them works from a stale copy, and none re-creates what was removed meanwhile.
    pub fn update_delivery(
        &self,
        id: &str,
        change: impl FnOnce(&mut Delivery) -> bool,
    ) -> Result<Option<Delivery>, StoreError> {
        let Some(first) = self.get_delivery(id)? else {
            return Ok(None);
        };
        self.update_delivery_of(&first.event_id, id, change)
    }

    /// The writes of [`Store::update_delivery`], with the read of the delivery made under
    /// the event's lock.
    fn update_delivery_of(
        &self,
        event_id: &str,
        id: &str,
        change: impl FnOnce(&mut Delivery) -> bool,
    ) -> Result<Option<Delivery>, StoreError> {
        let _event = super::locks::event_to_change(event_id);
        let Some(d) = self.get_delivery(id)? else {
            return Ok(None);
        };
        self.write_changed(d, change).map(Some)
    }

    /// Where the count of changes to stored deliveries stands: taken before a copy of a
    /// delivery is read, or before a delivery is published, and handed with the copy to
    /// [`Store::update_delivery_from`].
    pub fn change_mark(&self) -> ChangeMark {
        ChangeMark(super::locks::change_mark())
    }

    /// [`Store::update_delivery`] for the attempt record, starting from the copy the
    /// attempt worked on (`copy`, read or published after `mark` was taken). The copy is
    /// used as it is when no writer other than attempt records changed a delivery since
    /// `mark` (the attempt is the only one of its delivery while it runs, so the copy is
    /// then what is stored); otherwise the delivery is read again, as `update_delivery`
    /// does. Saves the read (a lookup and a decode) on nearly every attempt.
    pub fn update_delivery_from(
        &self,
        copy: Delivery,
        mark: ChangeMark,
        change: impl FnOnce(&mut Delivery) -> bool,
    ) -> Result<Option<Delivery>, StoreError> {
        // Not a `Changing` guard: an attempt's record changes only its own delivery.
        let _event = super::locks::event(&copy.event_id);
        let d = if super::locks::changed_since(mark.0) {
            match self.get_delivery(&copy.id)? {
                Some(d) => d,
                None => return Ok(None),
            }
        } else {
            copy
        };
        self.write_changed(d, change).map(Some)
    }

    /// Apply `change` to `d` (as stored now) and write it when asked, moving its schedule
    /// entry. Answers the delivery as stored afterwards.
    fn write_changed(
        &self,
        mut d: Delivery,
        change: impl FnOnce(&mut Delivery) -> bool,
    ) -> Result<Delivery, StoreError> {
        let old_due = d.next_attempt_at;
        if change(&mut d) {
            let mut batch = self.batch()?;
            stage_delivery(&self.t, &mut batch, &d, old_due);
            self.commit(batch)?;
        }
        Ok(d)
    }

    /// Store new deliveries of existing events (a replay recovering events a webhook never
    /// got), many in one batch; durable with the next group commit. A delivery is skipped
    /// when its event is gone or already has a delivery to the same webhook. Returns those
    /// stored. Atomic with respect to retention: an event is never purged between this
    /// check and the write.
    pub fn create_deliveries(&self, deliveries: &[Delivery]) -> Result<Vec<Delivery>, StoreError> {
        let _events =
            super::locks::events_to_change(deliveries.iter().map(|d| d.event_id.as_str()));
        let mut batch = self.batch()?;
        let mut stored: Vec<Delivery> = Vec::new();
        // Each event as stored now, read once: `None` when it is gone.
        let mut events: HashMap<&str, Option<EventList>> = HashMap::new();
        for d in deliveries {
            let list = match events.entry(d.event_id.as_str()) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(self.event_list(&d.event_id)?),
            };
            let Some(list) = list else { continue };
            if list.webhooks.contains(&d.webhook_id) {
                continue;
            }
            stage_new_delivery(&self.t, &mut batch, d);
            list.ids.push(d.id.clone());
            list.webhooks.push(d.webhook_id.clone());
            list.grown = true;
            stored.push(d.clone());
        }
        // Each event's list gains its new deliveries (read and written under its lock).
        for (event_id, list) in &events {
            if let Some(list) = list.as_ref().filter(|l| l.grown) {
                let ids: Vec<&str> = list.ids.iter().map(String::as_str).collect();
                stage_event_delivery_ids(&self.t, &mut batch, event_id, &ids);
            }
        }
        if !stored.is_empty() {
            self.commit(batch)?;
        }
        Ok(stored)
    }

    /// One page of a webhook's log, newest first, strictly older than `cursor`.
    pub fn list_webhook_deliveries(
        &self,
        webhook_id: &str,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        let start = keys::prefix(WEBHOOK_DELIVERY, webhook_id);
        let end = match cursor {
            Some(c) => keys::two(WEBHOOK_DELIVERY, webhook_id, c),
            None => keys::prefix_end(start.clone()),
        };
        let mut out = Vec::new();
        let mut more = false;
        for item in self.t.data.range(start..end).rev() {
            let Some(d) = self.get_delivery(&keys::second(&item.key()?))? else {
                continue;
            };
            if !filter.accepts(&d) {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(d);
        }
        let next = if more {
            out.last().map(|d| d.id.clone())
        } else {
            None
        };
        Ok((out, next))
    }

    /// Every delivery of an event, oldest first.
    pub fn event_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let mut out = Vec::new();
        for id in self.event_delivery_ids(event_id)? {
            if let Some(d) = self.get_delivery(&id)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// An event's deliveries as [`Store::create_deliveries`] extends them; `None` when the
    /// event is gone.
    fn event_list(&self, event_id: &str) -> Result<Option<EventList>, StoreError> {
        if !self.event_exists(event_id)? {
            return Ok(None);
        }
        let ids = self.event_delivery_ids(event_id)?;
        let mut webhooks = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(d) = self.get_delivery(id)? {
                webhooks.push(d.webhook_id);
            }
        }
        Ok(Some(EventList {
            ids,
            webhooks,
            grown: false,
        }))
    }

    /// The ids of an event's deliveries, oldest first: its list, and the per-delivery
    /// index entries a data dir written by an earlier build may still hold for it (ids
    /// are time-ordered, so sorting keeps creation order; the scan finds nothing for
    /// events stored since).
    pub(super) fn event_delivery_ids(&self, event_id: &str) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = match self.t.data.get(keys::one(EVENT_DELIVERIES, event_id))? {
            Some(v) => super::codec::decode(&v)?,
            None => Vec::new(),
        };
        let listed = ids.len();
        for item in self
            .t
            .data
            .prefix(keys::prefix(LEGACY_EVENT_DELIVERY, event_id))
        {
            let id = keys::second(&item.key()?);
            if !ids[..listed].contains(&id) {
                ids.push(id);
            }
        }
        if ids.len() > listed {
            ids.sort();
        }
        Ok(ids)
    }

    /// The first open delivery of a webhook with an id greater than `after` (the head of an
    /// ordered webhook's queue). Deliveries before the head are all final.
    pub fn first_open_delivery(
        &self,
        webhook_id: &str,
        after: Option<&str>,
    ) -> Result<Option<Delivery>, StoreError> {
        let start = match after {
            Some(a) => {
                let mut k = keys::two(WEBHOOK_DELIVERY, webhook_id, a);
                k.push(0);
                k
            }
            None => keys::prefix(WEBHOOK_DELIVERY, webhook_id),
        };
        let end = keys::prefix_end(keys::prefix(WEBHOOK_DELIVERY, webhook_id));
        for item in self.t.data.range(start..end) {
            if let Some(d) = self.get_delivery(&keys::second(&item.key()?))? {
                if d.status.is_open() {
                    return Ok(Some(d));
                }
            }
        }
        Ok(None)
    }

    /// Up to `limit` of `webhook_id`'s schedule entries due at or before `until_ms` and
    /// strictly after `after` (a lane's cursor: due time and delivery id; an empty id means
    /// "before everything due at that time"), in due order.
    pub fn due_entries(
        &self,
        webhook_id: &str,
        after: Option<(u64, &str)>,
        until_ms: u64,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let start = match after {
            Some((due, id)) => {
                let mut k = keys::schedule(webhook_id, due, id);
                k.push(0);
                k
            }
            None => keys::schedule_start(webhook_id),
        };
        let end = match until_ms.checked_add(1) {
            Some(u) => keys::schedule_at(webhook_id, u),
            None => keys::schedule_end(webhook_id),
        };
        let mut out = Vec::new();
        for item in self.t.schedule.range(start..end).take(limit) {
            if let Some(e) = parse_entry(&item.key()?) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Every webhook with at least one schedule entry, other than those in `skip` (sorted):
    /// one seek per webhook found, each jumping over the webhook's whole range, and none
    /// entering the range of a webhook in `skip`.
    ///
    /// Why `skip`: the front of a range that is being worked through is made of entries
    /// already removed, which the storage engine steps over one by one until compaction
    /// drops them, so a seek to the start of such a range costs as much as what its webhook
    /// has been sent lately (measured: 8.5 % of the CPU while a 1,000,000 backlog drained).
    /// The scheduler reads those webhooks on from its own cursors instead and asks here only
    /// for the ones it does not know.
    pub fn scheduled_webhooks_besides(&self, skip: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut start = vec![SCHEDULE];
        let ends = skip
            .iter()
            .map(|id| (keys::schedule_start(id), keys::schedule_end(id)))
            .chain(std::iter::once((vec![SCHEDULE + 1], Vec::new())));
        for (gap_end, next_start) in ends {
            // Webhooks between the last skipped range and the next one.
            while start < gap_end {
                let Some(item) = self.t.schedule.range(start.clone()..gap_end.clone()).next()
                else {
                    break;
                };
                let Some((webhook_id, _, _)) = keys::parse_schedule(&item.key()?) else {
                    break;
                };
                start = keys::schedule_end(&webhook_id);
                out.push(webhook_id);
            }
            start = start.max(next_start);
        }
        Ok(out)
    }

    /// Schedule entries due after `after_ms`: retries waiting for their time.
    pub fn scheduled_after(&self, after_ms: u64) -> usize {
        self.t
            .schedule
            .prefix([SCHEDULE])
            .filter_map(|item| item.key().ok())
            .filter(|k| keys::parse_schedule(k).is_some_and(|(_, due, _)| due > after_ms))
            .count()
    }

    /// How many deliveries are owed an attempt.
    pub fn schedule_len(&self) -> usize {
        self.t.schedule.prefix([SCHEDULE]).count()
    }
}

//! Deliveries, their log queries, and the durable schedule (what is owed an attempt,
//! keyed by due time).

use sled::Transactional;

use super::codec::{decode, encode};
use super::{join_key, prefix_key, Store, StoreError};
use crate::model::{Delivery, DeliveryStatus};

/// `due_ms` big-endian ++ delivery id: the schedule tree iterates in due order.
pub(super) fn schedule_key(due_ms: u64, delivery_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + delivery_id.len());
    k.extend_from_slice(&due_ms.to_be_bytes());
    k.extend_from_slice(delivery_id.as_bytes());
    k
}

/// One schedule entry: this delivery (of this webhook) is owed an attempt at `due_ms`.
/// The value of the entry is the webhook id, so the scheduler can place an entry without
/// decoding the delivery.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueEntry {
    pub due_ms: u64,
    pub delivery_id: String,
    pub webhook_id: String,
}

fn parse_schedule_entry(key: &[u8], value: &[u8]) -> Option<DueEntry> {
    let (due, id) = key.split_at_checked(8)?;
    Some(DueEntry {
        due_ms: u64::from_be_bytes(due.try_into().ok()?),
        delivery_id: String::from_utf8(id.to_vec()).ok()?,
        webhook_id: String::from_utf8(value.to_vec()).ok()?,
    })
}

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
            .deliveries
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Save a delivery and move its schedule entry from `old_due` to its
    /// `next_attempt_at`, atomically. Durable with the next group commit.
    pub fn save_delivery_nowait(
        &self,
        d: &Delivery,
        old_due: Option<u64>,
    ) -> Result<(), StoreError> {
        (
            &self.t.deliveries,
            &self.t.schedule,
            &self.t.webhook_deliveries,
        )
            .transaction(|(dlv, schedule, wh_dlv)| {
                if let Some(old) = old_due {
                    schedule.remove(schedule_key(old, &d.id))?;
                }
                if let Some(due) = d.next_attempt_at {
                    schedule.insert(schedule_key(due, &d.id), d.webhook_id.as_bytes())?;
                }
                dlv.insert(d.id.as_bytes(), encode(d))?;
                wh_dlv.insert(join_key(&d.webhook_id, &d.id), &[])?;
                Ok(())
            })?;
        Ok(())
    }

    /// Save a new or changed delivery and wait for durability.
    pub async fn save_delivery(
        &self,
        d: &Delivery,
        old_due: Option<u64>,
    ) -> Result<(), StoreError> {
        self.save_delivery_nowait(d, old_due)?;
        // A replay may create a delivery: index it like ingest does.
        self.t
            .event_deliveries
            .insert(join_key(&d.event_id, &d.id), &[])?;
        self.t
            .webhook_deliveries
            .insert(join_key(&d.webhook_id, &d.id), &[])?;
        self.durable().await
    }

    /// One page of a webhook's log, newest first, strictly older than `cursor`.
    pub fn list_webhook_deliveries(
        &self,
        webhook_id: &str,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        let prefix = prefix_key(webhook_id);
        let end = match cursor {
            Some(c) => join_key(webhook_id, c),
            None => {
                let mut e = prefix.clone();
                e.push(0xff);
                e
            }
        };
        let mut out = Vec::new();
        let mut more = false;
        for key in self
            .t
            .webhook_deliveries
            .range(prefix.clone()..end)
            .keys()
            .rev()
        {
            let id = super::key_suffix(&key?);
            let Some(d) = self.get_delivery(&id)? else {
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
        for key in self
            .t
            .event_deliveries
            .scan_prefix(prefix_key(event_id))
            .keys()
        {
            if let Some(d) = self.get_delivery(&super::key_suffix(&key?))? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Up to `limit` schedule entries due at or before `until_ms` and strictly after
    /// `after` (to resume a scan), in due order.
    pub fn due_entries(
        &self,
        after: Option<&DueEntry>,
        until_ms: u64,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let start = match after {
            Some(e) => {
                let mut k = schedule_key(e.due_ms, &e.delivery_id);
                k.push(0);
                k
            }
            None => Vec::new(),
        };
        let end = (until_ms.saturating_add(1)).to_be_bytes().to_vec();
        let mut out = Vec::new();
        for item in self.t.schedule.range(start..end).take(limit) {
            let (k, v) = item?;
            if let Some(e) = parse_schedule_entry(&k, &v) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The earliest due time in the schedule, if any.
    pub fn next_due_ms(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .t
            .schedule
            .first()?
            .and_then(|(k, v)| parse_schedule_entry(&k, &v))
            .map(|e| e.due_ms))
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
                let mut k = join_key(webhook_id, a);
                k.push(0);
                k
            }
            None => prefix_key(webhook_id),
        };
        let mut end = prefix_key(webhook_id);
        end.push(0xff);
        for key in self.t.webhook_deliveries.range(start..end).keys() {
            if let Some(d) = self.get_delivery(&super::key_suffix(&key?))? {
                if d.status.is_open() {
                    return Ok(Some(d));
                }
            }
        }
        Ok(None)
    }

    /// Schedule entries due after `after_ms`: retries waiting for their time.
    pub fn scheduled_after(&self, after_ms: u64) -> usize {
        self.t
            .schedule
            .range(after_ms.saturating_add(1).to_be_bytes().to_vec()..)
            .count()
    }

    /// How many deliveries are owed an attempt.
    pub fn schedule_len(&self) -> usize {
        self.t.schedule.len()
    }

    /// Remove a delivery with its schedule and webhook-log entries.
    pub(super) fn remove_delivery(&self, id: &str) -> Result<(), StoreError> {
        if let Some(d) = self.get_delivery(id)? {
            if let Some(due) = d.next_attempt_at {
                self.t.schedule.remove(schedule_key(due, id))?;
            }
            self.t
                .webhook_deliveries
                .remove(join_key(&d.webhook_id, id))?;
            self.t.deliveries.remove(id.as_bytes())?;
        }
        Ok(())
    }
}

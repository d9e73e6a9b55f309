//! The event-type catalog.

use super::codec::{decode, encode};
use super::{Store, StoreError};
use crate::model::EventType;

impl Store {
    /// Insert or replace one catalog entry, durably.
    pub async fn put_event_type(&self, et: &EventType) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.insert(&self.t.event_types, et.name.as_bytes(), encode(et));
        self.commit(batch)?;
        self.durable().await
    }

    /// Seed the catalog on start: entries named here replace stored ones of the same
    /// name (the config file is the source of truth for what it names); entries added over
    /// the API and absent here are kept.
    pub fn seed_event_types(&self, types: &[EventType]) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        for et in types {
            batch.insert(&self.t.event_types, et.name.as_bytes(), encode(et));
        }
        self.commit(batch)?;
        self.flush_blocking()
    }

    pub fn get_event_type(&self, name: &str) -> Result<Option<EventType>, StoreError> {
        self.t
            .event_types
            .get(name.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    pub fn has_event_type(&self, name: &str) -> bool {
        matches!(self.t.event_types.contains_key(name.as_bytes()), Ok(true))
    }

    /// The whole catalog, by name.
    pub fn list_event_types(&self) -> Result<Vec<EventType>, StoreError> {
        super::decode_values(self.t.event_types.iter())
    }

    /// `false` if there was no such entry.
    pub async fn delete_event_type(&self, name: &str) -> Result<bool, StoreError> {
        if !self.t.event_types.contains_key(name.as_bytes())? {
            return Ok(false);
        }
        let mut batch = self.batch()?;
        batch.remove(&self.t.event_types, name.as_bytes());
        self.commit(batch)?;
        self.durable().await?;
        Ok(true)
    }
}

//! The event-type catalog.

use super::codec::{decode, encode};
use super::{Store, StoreError};
use crate::model::EventType;

impl Store {
    /// The catalog's names, write-locked: catalog writes hold it across their commit, so
    /// the names change in the order the stored entries do.
    fn names_to_change(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, std::collections::HashSet<String>> {
        self.event_type_names
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Read the catalog's names (at open).
    pub(super) fn load_event_type_names(&self) -> Result<(), StoreError> {
        let mut names = self.names_to_change();
        for item in self.t.event_types.iter() {
            names.insert(String::from_utf8_lossy(&item.key()?).into_owned());
        }
        Ok(())
    }

    /// Insert or replace one catalog entry, durably.
    pub async fn put_event_type(&self, et: &EventType) -> Result<(), StoreError> {
        {
            let mut names = self.names_to_change();
            let mut batch = self.batch()?;
            batch.insert(&self.t.event_types, et.name.as_bytes(), encode(et));
            self.commit(batch)?;
            names.insert(et.name.clone());
        }
        self.durable().await
    }

    /// Seed the catalog on start: entries named here replace stored ones of the same
    /// name (the config file is the source of truth for what it names); entries added over
    /// the API and absent here are kept.
    pub fn seed_event_types(&self, types: &[EventType]) -> Result<(), StoreError> {
        {
            let mut names = self.names_to_change();
            let mut batch = self.batch()?;
            for et in types {
                batch.insert(&self.t.event_types, et.name.as_bytes(), encode(et));
            }
            self.commit(batch)?;
            names.extend(types.iter().map(|et| et.name.clone()));
        }
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
        self.event_type_names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    /// The whole catalog, by name.
    pub fn list_event_types(&self) -> Result<Vec<EventType>, StoreError> {
        super::decode_values(self.t.event_types.iter())
    }

    /// `false` if there was no such entry.
    pub async fn delete_event_type(&self, name: &str) -> Result<bool, StoreError> {
        {
            let mut names = self.names_to_change();
            if !self.t.event_types.contains_key(name.as_bytes())? {
                return Ok(false);
            }
            let mut batch = self.batch()?;
            batch.remove(&self.t.event_types, name.as_bytes());
            self.commit(batch)?;
            names.remove(name);
        }
        self.durable().await?;
        Ok(true)
    }
}

//! Tenants and API keys.

use super::codec::{decode, encode};
use super::{join_key, prefix_key, Store, StoreError};
use crate::model::{ApiKey, Tenant};

impl Store {
    /// Create a tenant with its first (admin) key, atomically and durably.
    pub async fn create_tenant(
        &self,
        tenant: &Tenant,
        key: &ApiKey,
        key_hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.insert(&self.t.tenants, tenant.id.as_bytes(), encode(tenant));
        batch.insert(&self.t.keys, &key_hash[..], encode(key));
        batch.insert(
            &self.t.tenant_keys,
            join_key(&tenant.id, &key.id),
            &key_hash[..],
        );
        self.commit(batch)?;
        self.key_cache.forget_all();
        self.durable().await
    }

    pub fn get_tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        self.t
            .tenants
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Replace a tenant's record (name, alert addresses), durably. `NotFound` when the
    /// tenant was deleted meanwhile: a late update must not bring it back.
    pub async fn update_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        {
            let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.t.tenants.get(tenant.id.as_bytes())?.is_none() {
                return Err(StoreError::NotFound);
            }
            let mut batch = self.batch()?;
            batch.insert(&self.t.tenants, tenant.id.as_bytes(), encode(tenant));
            self.commit(batch)?;
        }
        self.durable().await
    }

    /// Every tenant, oldest first.
    pub fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        super::decode_values(self.t.tenants.iter())
    }

    /// Add a key to an existing tenant.
    pub async fn create_key(&self, key: &ApiKey, key_hash: &[u8; 32]) -> Result<(), StoreError> {
        {
            let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.t.tenants.get(key.tenant_id.as_bytes())?.is_none() {
                return Err(StoreError::NotFound);
            }
            let mut batch = self.batch()?;
            batch.insert(&self.t.keys, &key_hash[..], encode(key));
            batch.insert(
                &self.t.tenant_keys,
                join_key(&key.tenant_id, &key.id),
                &key_hash[..],
            );
            self.commit(batch)?;
            self.key_cache.forget_all();
        }
        self.durable().await
    }

    /// The key whose SHA-256 this is, if any.
    pub fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        let generation = match self.key_cache.get(hash) {
            Ok(key) => return Ok(Some(key)),
            Err(generation) => generation,
        };
        let key: Option<ApiKey> = self
            .t
            .keys
            .get(&hash[..])?
            .map(|v| decode(&v))
            .transpose()?;
        if let Some(k) = &key {
            self.key_cache.put(generation, *hash, k);
        }
        Ok(key)
    }

    /// A tenant's keys (metadata only: values are never stored).
    pub fn list_keys(&self, tenant_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        let mut out = Vec::new();
        for item in self.t.tenant_keys.prefix(prefix_key(tenant_id)) {
            let hash = item.value()?;
            if let Some(v) = self.t.keys.get(&hash)? {
                out.push(decode(&v)?);
            }
        }
        Ok(out)
    }

    /// Revoke one key; `false` if the tenant has no such key.
    pub async fn revoke_key(&self, tenant_id: &str, key_id: &str) -> Result<bool, StoreError> {
        let index = join_key(tenant_id, key_id);
        {
            let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            let Some(hash) = self.t.tenant_keys.get(&index)? else {
                return Ok(false);
            };
            let mut batch = self.batch()?;
            batch.remove(&self.t.keys, hash);
            batch.remove(&self.t.tenant_keys, index);
            self.commit(batch)?;
            self.key_cache.forget_all();
        }
        self.durable().await?;
        Ok(true)
    }

    /// Remove a tenant and all its data: keys, webhooks, events, deliveries, schedule
    /// entries, idempotency keys. `false` if there is no such tenant.
    pub async fn delete_tenant(&self, tenant_id: &str) -> Result<bool, StoreError> {
        if self.get_tenant(tenant_id)?.is_none() {
            return Ok(false);
        }
        // Keys first: from here on the tenant's keys no longer authenticate.
        let mut batch = self.batch()?;
        for item in self.t.tenant_keys.prefix(prefix_key(tenant_id)) {
            let (index, hash) = item.into_inner()?;
            batch.remove(&self.t.keys, hash);
            batch.remove(&self.t.tenant_keys, index);
        }
        self.commit(batch)?;
        self.key_cache.forget_all();
        for wh in self.tenant_webhooks(tenant_id) {
            self.delete_webhook(tenant_id, &wh.id).await?;
        }
        self.purge_tenant_events(tenant_id)?;
        let mut batch = self.batch()?;
        batch.remove(&self.t.tenants, tenant_id.as_bytes());
        self.commit(batch)?;
        self.durable().await?;
        Ok(true)
    }
}

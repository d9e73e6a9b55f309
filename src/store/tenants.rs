//! Tenants and API keys.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

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
        (&self.t.tenants, &self.t.keys, &self.t.tenant_keys).transaction(
            |(tenants, keys, tenant_keys)| {
                tenants.insert(tenant.id.as_bytes(), encode(tenant))?;
                keys.insert(&key_hash[..], encode(key))?;
                tenant_keys.insert(join_key(&tenant.id, &key.id), &key_hash[..])?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            },
        )?;
        self.durable().await
    }

    pub fn get_tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        self.t
            .tenants
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Every tenant, oldest first.
    pub fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.t
            .tenants
            .iter()
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// Add a key to an existing tenant.
    pub async fn create_key(&self, key: &ApiKey, key_hash: &[u8; 32]) -> Result<(), StoreError> {
        (&self.t.tenants, &self.t.keys, &self.t.tenant_keys).transaction(
            |(tenants, keys, tenant_keys)| {
                if tenants.get(key.tenant_id.as_bytes())?.is_none() {
                    return super::abort(StoreError::NotFound);
                }
                keys.insert(&key_hash[..], encode(key))?;
                tenant_keys.insert(join_key(&key.tenant_id, &key.id), &key_hash[..])?;
                Ok(())
            },
        )?;
        self.durable().await
    }

    /// The key whose SHA-256 this is, if any.
    pub fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        self.t.keys.get(&hash[..])?.map(|v| decode(&v)).transpose()
    }

    /// A tenant's keys (metadata only: values are never stored).
    pub fn list_keys(&self, tenant_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        let mut out = Vec::new();
        for item in self.t.tenant_keys.scan_prefix(prefix_key(tenant_id)) {
            let (_, hash) = item?;
            if let Some(v) = self.t.keys.get(&hash)? {
                out.push(decode(&v)?);
            }
        }
        Ok(out)
    }

    /// Revoke one key; `false` if the tenant has no such key.
    pub async fn revoke_key(&self, tenant_id: &str, key_id: &str) -> Result<bool, StoreError> {
        let index = join_key(tenant_id, key_id);
        let found =
            (&self.t.keys, &self.t.tenant_keys).transaction(
                |(keys, tenant_keys)| match tenant_keys.remove(index.as_slice())? {
                    Some(hash) => {
                        keys.remove(hash)?;
                        Ok::<_, ConflictableTransactionError<StoreError>>(true)
                    }
                    None => Ok(false),
                },
            )?;
        if found {
            self.durable().await?;
        }
        Ok(found)
    }

    /// Remove a tenant and all its data: keys, webhooks, events, deliveries, schedule
    /// entries, idempotency keys. `false` if there is no such tenant.
    pub async fn delete_tenant(&self, tenant_id: &str) -> Result<bool, StoreError> {
        if self.get_tenant(tenant_id)?.is_none() {
            return Ok(false);
        }
        // Keys first: from here on the tenant's keys no longer authenticate.
        for item in self.t.tenant_keys.scan_prefix(prefix_key(tenant_id)) {
            let (index, hash) = item?;
            self.t.keys.remove(hash)?;
            self.t.tenant_keys.remove(index)?;
        }
        for wh in self.tenant_webhooks(tenant_id) {
            self.delete_webhook(tenant_id, &wh.id).await?;
        }
        self.purge_tenant_events(tenant_id)?;
        self.t.tenants.remove(tenant_id.as_bytes())?;
        self.durable().await?;
        Ok(true)
    }
}

//! Webhooks, their per-tenant unique-URL index, and the in-memory cache of them.

use std::sync::Arc;

use super::codec::{decode, encode};
use super::{join_key, Store, StoreError};
use crate::model::Webhook;

fn url_taken(url: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a webhook with the URL {url} already exists in this tenant"
    ))
}

impl Store {
    /// Fill the cache from the tree (on open).
    pub(super) fn load_webhook_cache(&self) -> Result<(), StoreError> {
        let mut cache = self
            .webhook_cache
            .write()
            .unwrap_or_else(|p| p.into_inner());
        cache.clear();
        for item in self.t.webhooks.iter() {
            let wh: Webhook = decode(&item.value()?)?;
            cache
                .entry(wh.tenant_id.clone())
                .or_default()
                .push(Arc::new(wh));
        }
        Ok(())
    }

    fn cache_put(&self, wh: &Webhook) {
        let mut cache = self
            .webhook_cache
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let list = cache.entry(wh.tenant_id.clone()).or_default();
        let new = Arc::new(wh.clone());
        match list.iter_mut().find(|w| w.id == wh.id) {
            Some(slot) => *slot = new,
            None => {
                list.push(new);
                list.sort_by(|a, b| a.id.cmp(&b.id));
            }
        }
    }

    fn cache_remove(&self, tenant_id: &str, id: &str) {
        let mut cache = self
            .webhook_cache
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(list) = cache.get_mut(tenant_id) {
            list.retain(|w| w.id != id);
        }
    }

    /// A tenant's webhooks from the cache, in creation order.
    pub fn tenant_webhooks(&self, tenant_id: &str) -> Vec<Arc<Webhook>> {
        self.webhook_cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every webhook of every tenant (from the cache).
    pub fn all_webhooks(&self) -> Vec<Arc<Webhook>> {
        self.webhook_cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// Create a webhook; `Conflict` if its URL is taken in the tenant.
    pub async fn create_webhook(&self, wh: &Webhook) -> Result<(), StoreError> {
        let url_key = join_key(&wh.tenant_id, &wh.url);
        {
            let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.t.webhook_urls.get(&url_key)?.is_some() {
                return Err(url_taken(&wh.url));
            }
            let mut batch = self.batch()?;
            batch.insert(&self.t.webhook_urls, url_key, wh.id.as_bytes());
            batch.insert(&self.t.webhooks, wh.id.as_bytes(), encode(wh));
            self.commit(batch)?;
            self.cache_put(wh);
        }
        self.durable().await
    }

    /// Replace a stored webhook (same id and tenant); keeps the URL index in step.
    /// `NotFound` if it is gone, `Conflict` if the new URL is taken by another webhook.
    pub async fn update_webhook(&self, wh: &Webhook) -> Result<(), StoreError> {
        self.update_webhook_nowait(wh)?;
        self.durable().await
    }

    /// [`Store::update_webhook`] without waiting for durability: for state the daemon
    /// itself maintains (failure counters, breaker), made durable with the next commit.
    pub fn update_webhook_nowait(&self, wh: &Webhook) -> Result<(), StoreError> {
        let new_url_key = join_key(&wh.tenant_id, &wh.url);
        let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(old) = self.get_webhook_any(&wh.id)? else {
            return Err(StoreError::NotFound);
        };
        if old.tenant_id != wh.tenant_id {
            return Err(StoreError::NotFound);
        }
        let mut batch = self.batch()?;
        if old.url != wh.url {
            if self.t.webhook_urls.get(&new_url_key)?.is_some() {
                return Err(url_taken(&wh.url));
            }
            batch.remove(&self.t.webhook_urls, join_key(&old.tenant_id, &old.url));
            batch.insert(&self.t.webhook_urls, new_url_key, wh.id.as_bytes());
        }
        batch.insert(&self.t.webhooks, wh.id.as_bytes(), encode(wh));
        self.commit(batch)?;
        self.cache_put(wh);
        Ok(())
    }

    /// A webhook of this tenant; `None` for another tenant's id, exactly as if absent.
    pub fn get_webhook(&self, tenant_id: &str, id: &str) -> Result<Option<Webhook>, StoreError> {
        Ok(self
            .get_webhook_any(id)?
            .filter(|w| w.tenant_id == tenant_id))
    }

    /// A webhook by id, whichever tenant owns it (delivery side).
    pub fn get_webhook_any(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        self.t
            .webhooks
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// One page of a tenant's webhooks in creation order, after `cursor` (a webhook id).
    pub fn list_webhooks(
        &self,
        tenant_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<Arc<Webhook>>, Option<String>) {
        let all = self.tenant_webhooks(tenant_id);
        let start = match cursor {
            Some(c) => all.partition_point(|w| w.id.as_str() <= c),
            None => 0,
        };
        let page: Vec<_> = all.iter().skip(start).take(limit).cloned().collect();
        let next = if start + page.len() < all.len() {
            page.last().map(|w| w.id.clone())
        } else {
            None
        };
        (page, next)
    }

    /// Delete a webhook of this tenant; `false` if there is none. Its delivery log stays
    /// until retention purges it; its open deliveries are closed by the scheduler, which
    /// finds the webhook gone.
    pub async fn delete_webhook(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
        {
            let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
            let Some(old) = self.get_webhook_any(id)? else {
                return Ok(false);
            };
            if old.tenant_id != tenant_id {
                return Ok(false);
            }
            let mut batch = self.batch()?;
            batch.remove(&self.t.webhooks, id.as_bytes());
            batch.remove(&self.t.webhook_urls, join_key(&old.tenant_id, &old.url));
            self.commit(batch)?;
            self.cache_remove(tenant_id, id);
        }
        self.durable().await?;
        Ok(true)
    }
}

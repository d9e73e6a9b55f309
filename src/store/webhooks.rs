//! Webhooks, their per-tenant unique-URL index, their health, and the in-memory cache.
//!
//! A webhook is two records: the webhook as its admin set it (`webhooks`: URL, secret,
//! subscriptions, status `active`/`disabled`, ...) and its health (`webhook_health`:
//! failures in a row, `failing` since when, the breaker), written only by the delivery
//! engine ([`Store::put_webhook_health`]). Every read returns the two combined
//! ([`Webhook::with_health`]). Writes of the first kind are read-modify-writes under the
//! store's lock ([`Store::modify_webhook`]): a change is applied to the webhook as stored
//! at that moment, so two admin edits, a secret rotation and the engine's own changes
//! (disabling a webhook that keeps failing) never revert one another; none of them can
//! touch the health, and the engine's health writes touch nothing else.

use std::sync::Arc;

use super::codec::{decode, encode};
use super::{join_key, Store, StoreError};
use crate::model::{Webhook, WebhookHealth, WebhookStatus};

fn url_taken(url: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a webhook with the URL {url} already exists in this tenant"
    ))
}

impl Store {
    /// Fill the cache from the keyspaces (on open).
    pub(super) fn load_webhook_cache(&self) -> Result<(), StoreError> {
        let mut cache = self
            .webhook_cache
            .write()
            .unwrap_or_else(|p| p.into_inner());
        cache.clear();
        for item in self.t.webhooks.iter() {
            let wh: Webhook = decode(&item.value()?)?;
            let wh = self.with_stored_health(wh)?;
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
            batch.insert(
                &self.t.webhook_health,
                wh.id.as_bytes(),
                encode(&wh.health()),
            );
            self.commit(batch)?;
            self.cache_put(wh);
        }
        self.durable().await
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
            .map(|v| decode(&v).and_then(|wh| self.with_stored_health(wh)))
            .transpose()
    }

    /// `wh` (as its admin record) combined with its stored health. A webhook without a
    /// health record (written before health had one) keeps the health fields it carries.
    fn with_stored_health(&self, wh: Webhook) -> Result<Webhook, StoreError> {
        let health = match self.t.webhook_health.get(wh.id.as_bytes())? {
            Some(v) => decode::<WebhookHealth>(&v)?,
            None => wh.health(),
        };
        Ok(wh.with_health(&health))
    }

    /// Record a webhook's health (the delivery engine's write, the only one of health):
    /// durable with the next group commit. Nothing is written for a webhook that no longer
    /// exists; else the webhook as read from now on.
    pub fn put_webhook_health(
        &self,
        id: &str,
        health: &WebhookHealth,
    ) -> Result<Option<Webhook>, StoreError> {
        let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(v) = self.t.webhooks.get(id.as_bytes())? else {
            return Ok(None);
        };
        let wh = decode::<Webhook>(&v)?.with_health(health);
        let mut batch = self.batch()?;
        batch.insert(&self.t.webhook_health, id.as_bytes(), encode(health));
        self.commit(batch)?;
        self.cache_put(&wh);
        Ok(Some(wh))
    }

    /// Change a webhook of this tenant as stored at this moment and wait until that is
    /// durable: `change` gets the webhook (with its health, for reading) and may refuse
    /// with its own error; the URL index follows a changed URL (`Conflict` when another
    /// webhook of the tenant has it). Health fields changed by `change` are not written.
    /// `Ok(None)`: no such webhook in this tenant. The new webhook otherwise.
    ///
    /// `change` runs under the store's lock: keep it to plain computation (no I/O, no
    /// waiting; do network checks before calling this).
    pub async fn modify_webhook<E: From<StoreError>>(
        &self,
        tenant_id: &str,
        id: &str,
        change: impl FnOnce(&mut Webhook) -> Result<(), E>,
    ) -> Result<Option<Webhook>, E> {
        let new = self.modify_webhook_nowait(Some(tenant_id), id, change)?;
        if new.is_some() {
            self.durable().await?;
        }
        Ok(new)
    }

    /// hookd gives up on a webhook: its status becomes `disabled` with `reason` (its other
    /// fields as stored now). Durable with the next group commit. `None`: the webhook is
    /// gone; else the webhook as read from now on.
    pub fn disable_webhook_by_daemon(
        &self,
        id: &str,
        reason: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        self.modify_webhook_nowait(None, id, |wh| {
            if wh.status != WebhookStatus::Disabled {
                wh.status = WebhookStatus::Disabled;
                wh.disabled_reason = Some(reason.to_string());
            }
            Ok::<(), StoreError>(())
        })
    }

    /// [`Store::modify_webhook`] without the durability wait; `tenant_id` `None`: any tenant.
    fn modify_webhook_nowait<E: From<StoreError>>(
        &self,
        tenant_id: Option<&str>,
        id: &str,
        change: impl FnOnce(&mut Webhook) -> Result<(), E>,
    ) -> Result<Option<Webhook>, E> {
        let _meta = self.meta_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(old) = self.get_webhook_any(id)? else {
            return Ok(None);
        };
        if tenant_id.is_some_and(|t| t != old.tenant_id) {
            return Ok(None);
        }
        let health = old.health();
        let mut wh = old.clone();
        change(&mut wh)?;
        wh.id = old.id.clone();
        wh.tenant_id = old.tenant_id.clone();
        // The admin record keeps `active` or `disabled`; `failing` comes from the health.
        if wh.status == WebhookStatus::Failing {
            wh.status = WebhookStatus::Active;
        }
        let mut batch = self.batch()?;
        if old.url != wh.url {
            let new_url_key = join_key(&wh.tenant_id, &wh.url);
            let taken = self
                .t
                .webhook_urls
                .get(&new_url_key)
                .map_err(StoreError::from)?;
            if taken.is_some() {
                return Err(url_taken(&wh.url).into());
            }
            batch.remove(&self.t.webhook_urls, join_key(&old.tenant_id, &old.url));
            batch.insert(&self.t.webhook_urls, new_url_key, wh.id.as_bytes());
        }
        let wh = wh.with_health(&health);
        batch.insert(&self.t.webhooks, wh.id.as_bytes(), encode(&wh));
        self.commit(batch)?;
        self.cache_put(&wh);
        Ok(Some(wh))
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
            batch.remove(&self.t.webhook_health, id.as_bytes());
            batch.remove(&self.t.webhook_urls, join_key(&old.tenant_id, &old.url));
            self.commit(batch)?;
            self.cache_remove(tenant_id, id);
        }
        self.durable().await?;
        Ok(true)
    }
}

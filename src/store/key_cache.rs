//! API keys lately used, by the SHA-256 of their value: every request is authenticated,
//! and reading the key from storage was 2 % of hookd's CPU at full ingest.
//!
//! Never stale after a revocation has been answered: every write of the `keys` keyspace
//! forgets the whole cache after its commit, and bumps a generation first counted by each
//! reader, so a key read from storage before such a write is not put in afterwards.
//! Only keys that exist are kept (unknown values cannot fill it), at most [`MOST`].

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::ApiKey;

/// The most keys kept; when full, the cache starts again empty.
const MOST: usize = 1_024;

#[derive(Default)]
pub(super) struct KeyCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every write of keys.
    generation: u64,
    keys: HashMap<[u8; 32], ApiKey>,
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key cached for `hash`, or the generation to hand to [`KeyCache::put`] with
    /// what storage answers.
    pub(super) fn get(&self, hash: &[u8; 32]) -> Result<ApiKey, u64> {
        let inner = self.lock();
        inner.keys.get(hash).cloned().ok_or(inner.generation)
    }

    /// Keep `key`, read from storage after [`KeyCache::get`] answered `generation`,
    /// unless keys were written since.
    pub(super) fn put(&self, generation: u64, hash: [u8; 32], key: &ApiKey) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.keys.len() >= MOST {
            inner.keys.clear();
        }
        inner.keys.insert(hash, key.clone());
    }

    /// Keys were written: forget every one (called after the write's commit).
    pub(super) fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    fn key(id: &str) -> ApiKey {
        ApiKey {
            id: id.into(),
            tenant_id: "t1".into(),
            name: "ci".into(),
            role: Role::Publisher,
            created_at: 0,
            prefix: "hk_ab12".into(),
        }
    }

    #[test]
    fn a_key_read_before_a_write_of_keys_is_not_kept() {
        let cache = KeyCache::default();
        let generation = cache.get(&[1; 32]).unwrap_err();
        cache.forget_all();
        cache.put(generation, [1; 32], &key("k1"));
        assert!(cache.get(&[1; 32]).is_err());
    }

    #[test]
    fn a_kept_key_is_answered_until_keys_are_written() {
        let cache = KeyCache::default();
        let generation = cache.get(&[1; 32]).unwrap_err();
        cache.put(generation, [1; 32], &key("k1"));
        assert_eq!(cache.get(&[1; 32]).map(|k| k.id), Ok("k1".to_string()));
        cache.forget_all();
        assert!(cache.get(&[1; 32]).is_err());
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = KeyCache::default();
        for i in 0..=MOST {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
            cache.put(0, hash, &key("k"));
        }
        assert_eq!(cache.lock().keys.len(), 1);
    }
}

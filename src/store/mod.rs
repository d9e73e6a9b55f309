//! Storage: the only module that touches sled.
//!
//! One sled database in `storage.data_dir/db`, one tree per kind of record plus index
//! trees. Every value is `codec`-encoded. Writes that must be atomic together go through
//! one multi-tree sled transaction; a write is acknowledged only after
//! [`Committer::durable`] (group commit + fdatasync). Key layouts are documented on each
//! tree below; ids are ULIDs, so id order is creation order.

mod catalog;
pub mod codec;
mod commit;
mod deliveries;
mod events;
mod keys;
mod retention;
mod tenants;
mod webhooks;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use commit::Committer;
pub use deliveries::{DeliveryFilter, DueEntry};
pub use events::IngestOutcome;
pub use retention::PurgeStats;

use crate::model::Webhook;

/// A storage failure or a storage-level rule violation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("storage I/O error: {0}")]
    Io(String),
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A uniqueness rule: the message says which.
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

/// Abort a sled transaction with one of our errors.
fn abort<T>(e: StoreError) -> sled::transaction::ConflictableTransactionResult<T, StoreError> {
    Err(sled::transaction::ConflictableTransactionError::Abort(e))
}

/// The trees. The cold, low-volume records each have a tree (`/` is a 0x00 byte); the
/// high-volume ones share `data`, laid out in `keys.rs`, so that each hot write is one
/// atomic batch.
#[derive(Clone)]
struct Trees {
    /// `ten_id` → Tenant
    tenants: sled::Tree,
    /// sha256(key) → ApiKey
    keys: sled::Tree,
    /// `ten_id/key_id` → sha256(key)
    tenant_keys: sled::Tree,
    /// `wh_id` → Webhook
    webhooks: sled::Tree,
    /// `ten_id/url` → wh_id (a URL is unique within a tenant)
    webhook_urls: sled::Tree,
    /// name → EventType
    event_types: sled::Tree,
    /// events, deliveries, schedule, indexes, idempotency keys: see `keys.rs`
    data: sled::Tree,
}

/// The creation time encoded in a ULID-based id (`evt_01...`).
fn id_time_ms(id: &str) -> Option<u64> {
    let (_, ulid) = id.split_once('_')?;
    ulid::Ulid::from_string(ulid).ok().map(|u| u.timestamp_ms())
}

/// The storage handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    t: Trees,
    committer: Committer,
    /// Every webhook, by tenant, kept in step with the `webhooks` tree by the writes in
    /// `webhooks.rs`: fan-out on ingest reads this instead of scanning sled per event.
    webhook_cache: Arc<RwLock<HashMap<String, Vec<Arc<Webhook>>>>>,
}

/// `a/b` as an index key (0x00 separator: ids and names never contain it).
fn join_key(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + 1 + b.len());
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// The prefix of every `a/...` key.
fn prefix_key(a: &str) -> Vec<u8> {
    join_key(a, "")
}

impl Store {
    /// Open (or create) the database in `dir` with a page cache of `cache_mb` MiB.
    /// Only one process may open a database: a second gets a clear error.
    /// `commit_gap` is the group committer's least pause between flushes (see `commit.rs`).
    pub fn open(dir: &Path, cache_mb: u64, commit_gap: Duration) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb * 1024 * 1024)
            .mode(sled::Mode::HighThroughput)
            // We make writes durable ourselves (group commit); no background flusher.
            .flush_every_ms(None)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Io(format!(
                        "the database in {} is in use by another hookd process",
                        dir.display()
                    ))
                }
                other => StoreError::Io(format!(
                    "cannot open the database in {}: {other}",
                    dir.display()
                )),
            })?;
        let tree = |name: &str| db.open_tree(name);
        let t = Trees {
            tenants: tree("tenants")?,
            keys: tree("keys")?,
            tenant_keys: tree("tenant_keys")?,
            webhooks: tree("webhooks")?,
            webhook_urls: tree("webhook_urls")?,
            event_types: tree("event_types")?,
            data: tree("data")?,
        };
        let committer = Committer::start(db.clone(), dir, commit_gap)?;
        let store = Store {
            db,
            t,
            committer,
            webhook_cache: Arc::default(),
        };
        store.load_webhook_cache()?;
        Ok(store)
    }

    /// Wait until every write made before this call is on disk (group commit).
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.committer.durable().await
    }

    /// Make recent writes durable soon, without waiting (group commit).
    pub fn request_commit(&self) {
        self.committer.request();
    }

    /// Blocking flush, for shutdown.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.committer.durable_blocking()
    }

    /// How many of sled's blob files (items over 128 KiB) the committer has synced.
    pub fn blobs_synced(&self) -> u64 {
        self.committer.blobs_synced()
    }

    /// Bytes the database occupies on disk (for metrics and benchmarks).
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the database files as they are on disk now, opened on its own: what a
    /// crash at this moment would leave (sled keeps unflushed writes in memory, and
    /// dropping a store flushes, so reopening the original would prove nothing).
    fn open_disk_copy(dir: &Path) -> (tempfile::TempDir, Store) {
        let copy = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", dir.display()))
            .arg(copy.path())
            .status()
            .unwrap();
        assert!(status.success());
        let store = Store::open(copy.path(), 16, std::time::Duration::ZERO).unwrap();
        (copy, store)
    }

    /// 64 tasks write and wait for durability at once: all complete (no sled flush
    /// deadlock) and every value is in the database files while it is still open.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sixty_four_concurrent_writers_complete_and_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 16, std::time::Duration::ZERO).unwrap();
            let mut tasks = Vec::new();
            for i in 0..64u32 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for j in 0..20u32 {
                        let et = crate::model::EventType {
                            name: format!("w{i}.e{j}"),
                            category: "Test".into(),
                            description: String::new(),
                            sample: "{}".into(),
                        };
                        store.put_event_type(&et).await.unwrap();
                    }
                }));
            }
            let all = async {
                for t in tasks {
                    t.await.unwrap();
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(60), all)
                .await
                .expect("64 concurrent durable writers deadlocked");
            let (_copy, on_disk) = open_disk_copy(dir.path());
            assert_eq!(on_disk.list_event_types().unwrap().len(), 64 * 20);
        }
        // sled releases its lock when its last handle (held by background threads too)
        // is dropped: retry the reopen briefly.
        let mut reopened = Store::open(dir.path(), 16, std::time::Duration::ZERO);
        for _ in 0..50 {
            if reopened.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            reopened = Store::open(dir.path(), 16, std::time::Duration::ZERO);
        }
        let store = reopened.unwrap();
        assert_eq!(store.list_event_types().unwrap().len(), 64 * 20);
    }

    /// An item over 128 KiB goes to its own blob file, which sled never syncs: the
    /// committer does, before a durable write is acknowledged.
    #[tokio::test]
    async fn values_over_128_kib_are_synced_before_durable_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16, std::time::Duration::ZERO).unwrap();
        let big = "x".repeat(300 * 1024);
        let et = crate::model::EventType {
            name: "big.sample".into(),
            category: "Test".into(),
            description: String::new(),
            sample: format!("{{\"pad\":\"{big}\"}}"),
        };
        store.put_event_type(&et).await.unwrap();
        assert!(store.blobs_synced() >= 1, "no blob file was synced");
        let (_copy, on_disk) = open_disk_copy(dir.path());
        let types = on_disk.list_event_types().unwrap();
        assert_eq!(types.len(), 1);
        assert_eq!(types[0].sample.len(), et.sample.len());
    }
}

//! Storage: the only module that touches fjall.
//!
//! One fjall database in `storage.data_dir/db`, one keyspace (an LSM tree of its own; all
//! share one journal) per family of records. Every value is `codec`-encoded. Writes that
//! must be atomic together are one fjall `WriteBatch`, which may span keyspaces; a write is
//! acknowledged only after [`Store::durable`] (group commit: one journal `fdatasync` for
//! every writer waiting). Key layouts are documented on each keyspace below; ids are
//! ULIDs, so id order is creation order. No fjall type appears in this module's interface.

mod alerts;
mod catalog;
pub mod codec;
mod commit;
mod deliveries;
mod delivery_codec;
mod events;
mod key_cache;
mod keys;
mod locks;
mod retention;
mod sources;
mod stats;
mod tenants;
mod webhooks;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fjall::config::PartitioningPolicy;
use fjall::{Database, Keyspace, KeyspaceCreateOptions};

pub use alerts::AlertQueued;
pub use deliveries::{ChangeMark, DeliveryFilter, DueEntry};

pub use events::{Dedup, IngestOutcome};
pub use stats::StatsBucket;

use crate::model::Webhook;
use commit::Committer;

/// A storage failure or a storage-level rule violation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed a read or a write (the text says which and why).
    #[error("storage error: {0}")]
    Engine(String),
    /// A write or a sync failed earlier: nothing written since can be trusted to reach the
    /// disk, so every write is refused until hookd is restarted.
    #[error("storage is unavailable after a failed write or sync ({0}); restart hookd once the cause (disk full, I/O error) is fixed")]
    Poisoned(String),
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

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        match e {
            fjall::Error::Poisoned => StoreError::Poisoned("the database refused the write".into()),
            other => StoreError::Engine(format!("{other:?}")),
        }
    }
}

/// Where the database lives inside `storage.data_dir`.
pub fn db_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("db")
}

/// The keyspaces. Cold, low-volume records each have one; the high-volume ones share
/// `data` (laid out in `keys.rs`) except the schedule, whose entries live a few seconds
/// and are removed again, so its tombstones stay out of the log's way.
#[derive(Clone)]
struct Keyspaces {
    /// `ten_id` → Tenant
    tenants: Keyspace,
    /// sha256(key) → ApiKey
    keys: Keyspace,
    /// `ten_id/key_id` → sha256(key)
    tenant_keys: Keyspace,
    /// `wh_id` → Webhook: the webhook as its admin set it (status `active` or `disabled`)
    webhooks: Keyspace,
    /// `wh_id` → WebhookHealth: written only by the delivery engine (see `webhooks.rs`)
    webhook_health: Keyspace,
    /// `ten_id/url` → wh_id (a URL is unique within a tenant)
    webhook_urls: Keyspace,
    /// name → EventType
    event_types: Keyspace,
    /// deliveries, their indexes, idempotency keys (and the events an earlier build stored
    /// here): see `keys.rs`
    data: Keyspace,
    /// `E ++ evt_id` → Event: the payloads, written once and removed by retention. Apart
    /// from `data` because their keys only grow: a table flushed here overlaps no older
    /// one, so compaction moves it down whole instead of rewriting it with everything it
    /// overlaps. In `data` each flushed table spans every key family (deliveries, one
    /// index range per webhook) and merging it rewrote the events around them too.
    events: Keyspace,
    /// `S ++ due ms ++ dlv_id` → wh_id: what is owed an attempt, by due time
    schedule: Keyspace,
    /// `src_id` → Source
    sources: Keyspace,
    /// inbound request logs and dedup records: see `sources.rs`
    inbound: Keyspace,
    /// owed alert e-mails and each webhook's last alert time: see `alerts.rs`
    alerts: Keyspace,
    /// per-webhook hourly delivery statistics: see `stats.rs`
    stats: Keyspace,
}

/// The creation time encoded in a ULID-based id (`evt_01...`).
fn id_time_ms(id: &str) -> Option<u64> {
    let (_, ulid) = id.split_once('_')?;
    ulid::Ulid::from_string(ulid).ok().map(|u| u.timestamp_ms())
}

/// A snapshot of the storage engine's state (see [`Store::engine_stats`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineStats {
    pub write_buffer_bytes: u64,
    pub sealed_memtables: usize,
    pub outstanding_flushes: usize,
    pub journals: usize,
    pub cache_bytes: u64,
    pub l0_tables: usize,
    pub tables: usize,
    /// Compactions running now (fjall's worker).
    pub active_compactions: usize,
}

/// The storage handle; cheap to clone: one reference count, however many keyspaces and
/// shared parts it holds. (Every attempt and publish clones it; as a struct of ~25 `Arc`s
/// it cost ~25 atomic increments and decrements each time, on cache lines both cores
/// touch.)
#[derive(Clone)]
pub struct Store(Arc<StoreInner>);

impl std::ops::Deref for Store {
    type Target = StoreInner;

    fn deref(&self) -> &StoreInner {
        &self.0
    }
}

/// What a [`Store`] handle shares.
pub struct StoreInner {
    db: Database,
    t: Keyspaces,
    committer: Committer,
    /// Every webhook, by tenant, kept in step with the `webhooks` keyspace by the writes in
    /// `webhooks.rs`: fan-out on ingest reads this instead of reading storage per event.
    webhook_cache: Arc<RwLock<HashMap<String, Vec<Arc<Webhook>>>>>,
    /// Serialises the check-then-write of cold records (a webhook's unique URL, a key's
    /// tenant): fjall batches are atomic but do not read, so the check and the batch run
    /// under this lock. Cold writes are rare; hot writes never take it.
    meta_lock: Arc<Mutex<()>>,
    /// Wakes the alert sender when an alert is queued (see `alerts.rs`).
    alert_nudge: Arc<tokio::sync::Notify>,
    /// Statistics changes not yet added to the `stats` keyspace (see `stats.rs`).
    stats: Arc<stats::StatsDeltas>,
    /// API keys lately used (see `key_cache.rs`).
    key_cache: Arc<key_cache::KeyCache>,
    /// The names in the `event_types` keyspace, kept in step by the writes in
    /// `catalog.rs`: every publish checks its type, and a lookup in storage was 1.3 % of
    /// hookd's CPU at full ingest.
    event_type_names: Arc<RwLock<HashSet<String>>>,
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

/// Tables that queue in level 0 of `data` before they are merged into level 1 (fjall's
/// default is 4).
///
/// Why more: each table flushed from `data` spans every key family in it (deliveries, the
/// event lists, one log range per webhook), so it overlaps every table of level 1 and a
/// merge rewrites all of level 1. Merging twice as much at a time rewrites level 1 half as
/// often: fan-out wrote 21.3 -> 18.4 KB per event (BENCHMARKS.md). The price is reads: a
/// point read may look at up to 8 level-0 tables' filters instead of 4 (the drain of a
/// 1,000,000-delivery backlog, which reads every delivery, measured the same). fjall keeps
/// a keyspace's strategy from its creation: a data dir made by an earlier build keeps 4.
const DATA_L0_TABLES: u8 = 8;

/// Memory given to each part of fjall out of `storage.cache_mb`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MemoryBudget {
    /// The block cache (decoded blocks of the on-disk tables), shared by every keyspace.
    cache_bytes: u64,
    /// The most the `data` keyspace's memtable holds before it is sealed and flushed.
    data_memtable_bytes: u64,
    /// The same for `events` (written once: a larger memtable saves nothing).
    events_memtable_bytes: u64,
    /// The same for `schedule` (small entries, removed again within seconds).
    schedule_memtable_bytes: u64,
    /// The same for a cold keyspace (tenants, keys, webhooks, catalog, sources).
    cold_memtable_bytes: u64,
}

impl MemoryBudget {
    /// A quarter of the budget is block cache, three sixteenths the `data` memtable, a
    /// sixteenth each the events' and the schedule's, and the eleven cold keyspaces 512 KiB
    /// at most each. While a sealed memtable is being flushed a second one fills, so the
    /// usual peak is cache + 2 × the hot memtables + the cold ones ≈ 0.96 × the budget.
    /// (fjall lets up to four sealed memtables queue per keyspace before it stalls
    /// writers; that happens only when the disk cannot keep up.)
    ///
    /// Why memtables this large: most of what hookd writes is short-lived — a delivery is
    /// rewritten by its attempt record and its schedule entry removed within seconds. When
    /// both versions meet in the memtable, only the last is ever flushed to a table, so
    /// larger memtables write fewer bytes and compact less (measured in BENCHMARKS.md).
    fn from_cache_mb(cache_mb: u64) -> MemoryBudget {
        let total = cache_mb.max(4) * 1024 * 1024;
        MemoryBudget {
            cache_bytes: total / 4,
            data_memtable_bytes: total * 3 / 16,
            events_memtable_bytes: (total / 16).max(256 * 1024),
            schedule_memtable_bytes: (total / 16).max(256 * 1024),
            cold_memtable_bytes: (total / 128).clamp(64 * 1024, 512 * 1024),
        }
    }
}

impl Store {
    /// Open (or create) the database in `dir`, bounding fjall's memory by `cache_mb` MiB.
    /// Only one process may open a database: a second gets a clear error.
    /// `commit_gap` is the group committer's least pause between syncs (see `commit.rs`).
    pub fn open(dir: &Path, cache_mb: u64, commit_gap: Duration) -> Result<Store, StoreError> {
        Store::open_timed(dir, cache_mb, commit_gap, commit::LAZY_GAP)
    }

    /// [`Store::open`] with the committer's wait for syncs nobody waits for set (tests set
    /// it long, to see which syncs ride on which).
    fn open_timed(
        dir: &Path,
        cache_mb: u64,
        commit_gap: Duration,
        lazy_gap: Duration,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let budget = MemoryBudget::from_cache_mb(cache_mb);
        let db = Database::builder(dir)
            .cache_size(budget.cache_bytes)
            // Only the committer makes the journal durable (group commit); no write syncs
            // or flushes on its own.
            .manual_journal_persist(true)
            // Journals beyond this force memtable flushes: a restart replays at most this.
            .max_journaling_size(64 * 1024 * 1024)
            // One background thread for flushes and compactions. With two or more, fjall
            // 3.1's worker 0 hands every compaction request back to the shared queue
            // (leaving compactions to the others) and, while they are busy, takes it back
            // at once: a spin that cost ~14 % of hookd's CPU under load (perf: `flume`
            // `send` and `worker_tick` self time). One worker does flushes and compactions
            // in turn, which two cores shared with the API and deliveries cannot beat.
            .worker_threads(1)
            .open()
            .map_err(|e| match e {
                fjall::Error::Locked => StoreError::Io(format!(
                    "the database in {} is in use by another hookd process",
                    dir.display()
                )),
                other => StoreError::Io(format!(
                    "cannot open the database in {}: {other:?}",
                    dir.display()
                )),
            })?;
        let cold = budget.cold_memtable_bytes;
        let mut rotations = Vec::new();
        let mut ks = |name: &str, memtable: u64| -> Result<Keyspace, fjall::Error> {
            let l0_tables = if name == "data" { DATA_L0_TABLES } else { 4 };
            let k = db.keyspace(name, || {
                KeyspaceCreateOptions::default()
                    .compaction_strategy(Arc::new(
                        fjall::compaction::Leveled::default().with_l0_threshold(l0_tables),
                    ))
                    .manual_journal_persist(true)
                    // fjall itself never rotates: the committer does (see `Rotation`).
                    .max_memtable_size(commit::NEVER_BY_FJALL)
                    // Every table gets two-level index and filter blocks. A whole one
                    // that is not pinned in memory is loaded (through the block cache) by
                    // every point read: for a 64 MiB table ~600–800 KB of filter or index,
                    // more than the cache keeps, read and checksummed for one 4 KiB block.
                    // Partitioned, a read loads one small partition of each. Level 0 too:
                    // a table keeps the format it was written in, a flushed table that
                    // overlaps nothing below is moved down whole, and after a restart fjall
                    // pins blocks by the level a table is in now. (With levels 0 and 1
                    // whole, a drain after a restart that met such tables spent two thirds
                    // of its CPU loading filter and index blocks and ran at half speed:
                    // perf of `hookd-bench backlog`.)
                    .index_block_partitioning_policy(PartitioningPolicy::all(true))
                    .filter_block_partitioning_policy(PartitioningPolicy::all(true))
            })?;
            rotations.push(commit::Rotation::new(k.clone(), memtable));
            Ok(k)
        };
        let t = Keyspaces {
            tenants: ks("tenants", cold)?,
            keys: ks("keys", cold)?,
            tenant_keys: ks("tenant_keys", cold)?,
            webhooks: ks("webhooks", cold)?,
            webhook_health: ks("webhook_health", cold)?,
            webhook_urls: ks("webhook_urls", cold)?,
            event_types: ks("event_types", cold)?,
            data: ks("data", budget.data_memtable_bytes)?,
            events: ks("events", budget.events_memtable_bytes)?,
            schedule: ks("schedule", budget.schedule_memtable_bytes)?,
            sources: ks("sources", cold)?,
            inbound: ks("inbound", cold)?,
            alerts: ks("alerts", cold)?,
            stats: ks("stats", cold)?,
        };
        let committer = Committer::start(db.clone(), dir, rotations, commit_gap, lazy_gap)?;
        let store = Store(Arc::new(StoreInner {
            db,
            t,
            committer,
            webhook_cache: Arc::default(),
            meta_lock: Arc::default(),
            key_cache: Arc::default(),
            event_type_names: Arc::default(),
            alert_nudge: Arc::default(),
            stats: Arc::default(),
        }));
        store.load_webhook_cache()?;
        store.load_event_type_names()?;
        Ok(store)
    }

    /// Wait until every write made before this call is on disk (group commit).
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.committer.durable().await
    }

    /// Make recent writes durable soon, without waiting (group commit): within
    /// `LAZY_GAP` (20 ms) of the previous sync, or with the next sync someone waits for.
    pub fn request_commit(&self) {
        self.committer.request();
    }

    /// How many group commits (journal syncs) the store has made since it was opened.
    #[cfg(test)]
    pub fn commits_made(&self) -> u64 {
        self.committer.syncs()
    }

    /// Blocking flush, for shutdown.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.committer.durable_blocking()
    }

    /// What the storage engine holds right now, for `/metrics`: memtables (active and
    /// sealed), flushes waiting, journals, the block cache, tables in level 0.
    pub fn engine_stats(&self) -> EngineStats {
        let hot = [&self.t.data, &self.t.events, &self.t.schedule];
        EngineStats {
            write_buffer_bytes: self.db.write_buffer_size(),
            sealed_memtables: hot.iter().map(|k| k.sealed_memtable_count()).sum(),
            outstanding_flushes: self.db.outstanding_flushes(),
            journals: self.db.journal_count(),
            cache_bytes: self.db.cache_size(),
            l0_tables: hot.iter().map(|k| k.l0_table_count()).sum(),
            tables: hot.iter().map(|k| k.table_count()).sum(),
            active_compactions: self.db.active_compactions(),
        }
    }

    /// `Err` with the reason once a write or sync has failed: from then on nothing is
    /// written or acknowledged (for `/readyz`).
    pub fn health(&self) -> Result<(), String> {
        match self.committer.poisoned() {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// A new atomic batch, refused at once when the store is poisoned (fjall would refuse
    /// its commit too, but only after the caller did the work of filling it).
    fn batch(&self) -> Result<fjall::OwnedWriteBatch, StoreError> {
        if let Some(reason) = self.committer.poisoned() {
            return Err(StoreError::Poisoned(reason));
        }
        Ok(self.db.batch())
    }

    /// Commit a batch of `n` housekeeping removals (none: nothing to do) and have it made
    /// durable with the next group commit, without waiting: a removal lost in a crash is
    /// made again by the next sweep. Answers `n`.
    fn commit_removals(
        &self,
        batch: fjall::OwnedWriteBatch,
        n: usize,
    ) -> Result<usize, StoreError> {
        if n > 0 {
            self.commit(batch)?;
            self.request_commit();
        }
        Ok(n)
    }

    /// Commit a batch; a failure poisons the store (see `commit.rs`).
    fn commit(&self, batch: fjall::OwnedWriteBatch) -> Result<(), StoreError> {
        batch.commit().map_err(|e| self.committer.poison(e))?;
        Ok(())
    }
}

/// Decode every value of an iterator of fjall entries.
fn decode_values<T: serde::de::DeserializeOwned>(
    iter: impl Iterator<Item = fjall::Guard>,
) -> Result<Vec<T>, StoreError> {
    iter.map(|g| codec::decode(&g.value()?)).collect()
}

/// Open a database whose previous `Store` was just dropped (tests that reopen): the old
/// committer and sealer threads end on their own a moment after the last handle is gone,
/// and until then fjall's lock says "in use". Waits up to 5 s for that.
#[cfg(test)]
pub(crate) fn reopen(dir: &Path, cache_mb: u64) -> Store {
    let started = std::time::Instant::now();
    loop {
        match Store::open(dir, cache_mb, Duration::ZERO) {
            Ok(store) => return store,
            Err(e)
                if e.to_string().contains("in use by another hookd")
                    && started.elapsed() < Duration::from_secs(5) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot reopen {}: {e}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the database files as they are on disk now, opened on its own: what a
    /// crash at this moment would leave (a dropped store persists its journal, so
    /// reopening the original would prove nothing).
    fn open_disk_copy(dir: &Path) -> (tempfile::TempDir, Store) {
        // fjall's worker may flush (write a table, drop a journal) while `cp` runs: `cp`
        // fails on a file that vanished under it, and a copy whose directory listing was
        // read before a table was written but whose manifest was copied after it names a
        // table the copy lacks (no crash leaves that: a table is on disk before any
        // manifest names it). Either way, copy again, as a crash at a slightly later
        // moment.
        for _ in 0..20 {
            let copy = tempfile::tempdir().unwrap();
            let copied = std::process::Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", dir.display()))
                .arg(copy.path())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
                .success();
            if copied {
                // The copy carries the lock file of the live database; fjall locks it again.
                if let Ok(store) = Store::open(copy.path(), 16, std::time::Duration::ZERO) {
                    return (copy, store);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("cannot copy and open {} in 20 tries", dir.display());
    }

    #[tokio::test]
    async fn the_catalog_check_follows_seeds_puts_deletes_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 16, Duration::ZERO).unwrap();
            store
                .seed_event_types(&[event_type("rental.created".into(), "{}".into())])
                .unwrap();
            store
                .put_event_type(&event_type("invoice.paid".into(), "{}".into()))
                .await
                .unwrap();
            assert!(store.has_event_type("rental.created"));
            assert!(store.has_event_type("invoice.paid"));
            assert!(!store.has_event_type("invoice.voided"));
            assert!(store.delete_event_type("invoice.paid").await.unwrap());
            assert!(!store.has_event_type("invoice.paid"));
            store
                .put_event_type(&event_type("invoice.voided".into(), "{}".into()))
                .await
                .unwrap();
        }
        let store = Store::open(dir.path(), 16, Duration::ZERO).unwrap();
        assert!(store.has_event_type("rental.created"));
        assert!(store.has_event_type("invoice.voided"));
        assert!(!store.has_event_type("invoice.paid"));
    }

    fn event_type(name: String, sample: String) -> crate::model::EventType {
        crate::model::EventType {
            name,
            category: "Test".into(),
            description: String::new(),
            sample,
        }
    }

    /// 64 tasks write and wait for durability at once: all complete, and every value is
    /// in the database files while the store is still open.
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
                        let et = event_type(format!("w{i}.e{j}"), "{}".into());
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
        let store = reopen(dir.path(), 16);
        assert_eq!(store.list_event_types().unwrap().len(), 64 * 20);
    }

    /// A sync nobody waits for (an attempt record's) waits for more writes, but not for
    /// long once someone does wait: the waiter's sync covers both.
    #[test]
    fn a_waiter_ends_the_wait_of_a_sync_nobody_waits_for() {
        let dir = tempfile::tempdir().unwrap();
        let lazy = std::time::Duration::from_secs(600);
        let store = Store::open_timed(dir.path(), 16, std::time::Duration::ZERO, lazy).unwrap();
        store.flush_blocking().unwrap();
        let before = store.commits_made();
        store.t.event_types.insert(b"a", b"1").unwrap();
        store.request_commit();
        store.request_commit();
        store.t.event_types.insert(b"b", b"2").unwrap();
        let started = std::time::Instant::now();
        store.flush_blocking().unwrap();
        assert!(
            started.elapsed() < lazy / 2,
            "the waiter waited out the lazy gap"
        );
        assert_eq!(
            store.commits_made() - before,
            1,
            "one sync answers all three"
        );
        let (_copy, on_disk) = open_disk_copy(dir.path());
        assert!(on_disk.t.event_types.get(b"a").unwrap().is_some());
        assert!(on_disk.t.event_types.get(b"b").unwrap().is_some());
    }

    /// The search for scheduled webhooks finds every webhook with an entry, none whose
    /// entries are all removed, and none it was told to pass over (an id that is a prefix of
    /// another included).
    #[test]
    fn scheduled_webhooks_are_found_around_those_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16, std::time::Duration::ZERO).unwrap();
        for (wh, n) in [
            ("wh_a", 3u64),
            ("wh_b", 2),
            ("wh_bb", 1),
            ("wh_c", 2),
            ("wh_d", 1),
        ] {
            for i in 0..n {
                let k = keys::schedule(wh, 1_000 + i, &format!("dlv_{wh}_{i}"));
                store.t.schedule.insert(k, []).unwrap();
            }
        }
        for i in 0..2u64 {
            let k = keys::schedule("wh_c", 1_000 + i, &format!("dlv_wh_c_{i}"));
            store.t.schedule.remove(k).unwrap();
        }
        let found = |skip: &[&str]| store.scheduled_webhooks_besides(skip).unwrap();
        assert_eq!(found(&[]), ["wh_a", "wh_b", "wh_bb", "wh_d"]);
        assert_eq!(found(&["wh_b"]), ["wh_a", "wh_bb", "wh_d"]);
        assert_eq!(found(&["wh_a", "wh_bb", "wh_d"]), ["wh_b"]);
        assert_eq!(
            found(&["wh_0", "wh_c", "wh_z"]),
            ["wh_a", "wh_b", "wh_bb", "wh_d"]
        );
    }

    /// Schedule entries are removed with weak tombstones: through a flush of the
    /// entries, a flush of their removals and moves, a compaction of both, and a reopen,
    /// every open delivery keeps exactly its one entry at its due time and no final one
    /// keeps any (an unchanged due time is not written a second time).
    #[tokio::test]
    async fn schedule_entries_stay_exact_through_flushes_compaction_and_reopen() {
        use crate::model::{Delivery, DeliveryStatus, Event};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16, std::time::Duration::ZERO).unwrap();
        let mut ids = Vec::new();
        for i in 0..300u64 {
            let event = Event {
                id: format!("evt_{i:04}"),
                tenant_id: "ten_1".into(),
                event_type: "rental.contract.signed".into(),
                data: "{}".into(),
                actor: None,
                created_at: 1_000 + i,
            };
            let d = Delivery::pending(&event, "wh_1", event.created_at);
            store
                .ingest(&event, std::slice::from_ref(&d), None)
                .await
                .unwrap();
            ids.push(d.id);
        }
        store.t.schedule.rotate_memtable_and_wait().unwrap();
        let mut expected = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let stored = store
                .update_delivery(id, |d| {
                    match i % 3 {
                        0 => {
                            d.status = DeliveryStatus::Failed;
                            d.next_attempt_at = None;
                        }
                        1 => d.next_attempt_at = Some(50_000 + i as u64),
                        // The due time stays: nothing is written to the schedule.
                        _ => d.status = DeliveryStatus::Retrying,
                    }
                    true
                })
                .unwrap()
                .unwrap();
            if let Some(due) = stored.next_attempt_at {
                expected.push((due, id.clone()));
            }
        }
        expected.sort();
        let check = |store: &Store| {
            let found: Vec<(u64, String)> = store
                .due_entries("wh_1", None, u64::MAX, 1_000)
                .unwrap()
                .into_iter()
                .map(|e| (e.due_ms, e.delivery_id))
                .collect();
            assert_eq!(found, expected);
        };
        check(&store);
        store.t.schedule.rotate_memtable_and_wait().unwrap();
        check(&store);
        store.t.schedule.major_compact().unwrap();
        check(&store);
        store.flush_blocking().unwrap();
        drop(store);
        check(&reopen(dir.path(), 16));
    }

    /// A value of 300 KiB is in the files once `durable` returns, like a small one.
    #[tokio::test]
    async fn large_values_are_on_disk_when_durable_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16, std::time::Duration::ZERO).unwrap();
        let big = "x".repeat(300 * 1024);
        let et = event_type("big.sample".into(), format!("{{\"pad\":\"{big}\"}}"));
        store.put_event_type(&et).await.unwrap();
        let (_copy, on_disk) = open_disk_copy(dir.path());
        let types = on_disk.list_event_types().unwrap();
        assert_eq!(types.len(), 1);
        assert_eq!(types[0].sample.len(), et.sample.len());
    }

    /// fjall starts a new journal file once one passes 64 MB; the committer's syncs follow
    /// it there: writes made durable after the switch are in the files like those before.
    #[tokio::test]
    async fn durable_writes_after_a_journal_switch_are_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16, std::time::Duration::ZERO).unwrap();
        // Bytes that do not compress (the journal is LZ4-compressed), written raw.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let big: Vec<u8> = (0..1024 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut written = 0u32;
        while !dir.path().join("1.jnl").exists() {
            assert!(written < 500, "fjall never started a second journal");
            let mut batch = store.batch().unwrap();
            batch.insert(
                &store.t.data,
                format!("test/big/{}", written % 8),
                big.clone(),
            );
            store.commit(batch).unwrap();
            store.durable().await.unwrap();
            written += 1;
        }
        for i in 0..20 {
            let et = event_type(format!("after.t{i}"), "{}".into());
            store.put_event_type(&et).await.unwrap();
        }
        let (_copy, on_disk) = open_disk_copy(dir.path());
        assert_eq!(on_disk.list_event_types().unwrap().len(), 20);
    }

    /// Memtables are sealed and flushed by the committer, never left to grow: 2 MB written
    /// to a keyspace whose memtable holds 128 KiB leaves well under 2 MB in memory.
    #[tokio::test]
    async fn full_memtables_are_rotated_and_flushed_by_the_committer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16, std::time::Duration::ZERO).unwrap();
        let pad = "y".repeat(20 * 1024);
        for i in 0..100 {
            let et = event_type(format!("big.t{i}"), format!("{{\"pad\":\"{pad}\"}}"));
            store.put_event_type(&et).await.unwrap();
        }
        let mut held = u64::MAX;
        for _ in 0..200 {
            held = store.engine_stats().write_buffer_bytes;
            if held < 512 * 1024 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(held < 512 * 1024, "{held} bytes still in memtables");
        assert_eq!(store.list_event_types().unwrap().len(), 100);
        // The sealer frees the memtables it sealed once fjall lets go of them (fjall drops
        // the versions that refer to a flushed memtable when it next seals one), so it
        // holds a few at most, not every one it sealed.
        let (sealed, still_held) = store.committer.sealed_memtables();
        assert!(sealed >= 8, "only {sealed} memtables sealed");
        assert!(
            still_held <= 4,
            "{still_held} of {sealed} sealed memtables still held"
        );
    }

    /// A second open of the same directory (another hookd) is refused with a sentence.
    #[test]
    fn a_second_open_of_the_same_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), 8, std::time::Duration::ZERO).unwrap();
        let err = Store::open(dir.path(), 8, std::time::Duration::ZERO)
            .err()
            .expect("second open succeeded");
        assert!(err.to_string().contains("in use by another hookd"), "{err}");
    }

    #[test]
    fn the_memory_budget_splits_cache_mb_between_cache_and_write_buffers() {
        let b = MemoryBudget::from_cache_mb(64);
        assert_eq!(b.cache_bytes, 16 * 1024 * 1024);
        // Usual peak: one active and one flushing memtable per hot keyspace.
        let usual = b.cache_bytes
            + 2 * (b.data_memtable_bytes + b.events_memtable_bytes + b.schedule_memtable_bytes)
            + 11 * b.cold_memtable_bytes;
        assert!(usual <= 64 * 1024 * 1024, "{usual}");
    }
}

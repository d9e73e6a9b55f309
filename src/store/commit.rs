//! Group commit: the one place that makes sled durable.
//!
//! Why a dedicated thread: on sled 0.34.7, `flush_async` called from 7+ tasks at once
//! deadlocks (upstream #1308), and its flush uses `sync_file_range`, which is not a real
//! fsync (upstream #1452). So every writer applies its change in memory, then asks this
//! committer for durability; the committer takes every request waiting at that moment,
//! flushes sled once, `fdatasync`s the database file once, and answers them all. Under
//! load, N concurrent writers cost one flush, not N.
//!
//! sled writes any log item larger than a quarter of a segment (128 KiB: a big event, or a
//! leaf node holding several) to its own file under `blobs/`, with a plain `write` and no
//! sync at all. So after each flush the committer also syncs every blob file it has not
//! synced yet, and the `blobs/` directory when a file appeared (its entry must survive a
//! crash too); without it a 202 for an event over 128 KiB could precede its fsync.
//!
//! The committer also waits until `gap` has passed since the previous flush ended before
//! starting the next (`storage.commit_gap_ms`, default 2 ms): under load, writers arriving
//! in that window join the flush instead of each costing their own. Measured with
//! `hookd-bench throughput` (BENCHMARKS.md): ~1,000 flushes/s with no gap, CPU per event
//! down ~15 % and accepted events/s up ~20 % with 2 ms. An idle store pays nothing: a
//! writer arriving after a quiet spell is flushed at once.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::StoreError;

/// Someone waiting for durability: an async task or a blocking thread.
enum Waiter {
    Task(oneshot::Sender<Result<(), String>>),
    Thread(mpsc::SyncSender<Result<(), String>>),
    /// Nobody waits: a write that may be made durable a moment later (see
    /// [`Committer::request`]).
    Nobody,
}

impl Waiter {
    fn answer(self, result: Result<(), String>) {
        match self {
            Waiter::Task(tx) => {
                let _ = tx.send(result);
            }
            Waiter::Thread(tx) => {
                let _ = tx.send(result);
            }
            Waiter::Nobody => {}
        }
    }
}

/// Handle to the committer thread; cheap to clone. The thread ends when the last
/// handle is dropped.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Waiter>,
    /// A `Nobody` request is queued and its flush has not started: further requests can
    /// ride on it instead of queueing their own.
    requested: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Blob files synced so far (for tests and the curious).
    blobs_synced: Arc<AtomicU64>,
}

impl Committer {
    /// Start the committer for `db`, whose directory is `dir` (sled's data file is `dir/db`).
    pub fn start(db: sled::Db, dir: &Path, gap: Duration) -> Result<Committer, StoreError> {
        let path = dir.join("db");
        let file = File::open(&path).map_err(|e| {
            StoreError::Io(format!("cannot open {} for fdatasync: {e}", path.display()))
        })?;
        let (tx, rx) = mpsc::channel::<Waiter>();
        let requested = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = requested.clone();
        let blob_dir = dir.join("blobs");
        let blobs_synced = Arc::new(AtomicU64::new(0));
        let synced = blobs_synced.clone();
        std::thread::Builder::new()
            .name("hookd-commit".into())
            .spawn(move || run(db, file, rx, flag, gap, blob_dir, synced))
            .map_err(|e| StoreError::Io(format!("cannot start the committer thread: {e}")))?;
        Ok(Committer {
            tx,
            requested,
            blobs_synced,
        })
    }

    /// Ask for a group commit without waiting for it: for writes whose loss in a crash is
    /// harmless (an attempt record: the attempt is made again). Costs nothing when a
    /// commit is already requested.
    pub fn request(&self) {
        use std::sync::atomic::Ordering;
        if !self.requested.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(Waiter::Nobody);
        }
    }

    /// How many of sled's blob files the committer has synced.
    pub fn blobs_synced(&self) -> u64 {
        self.blobs_synced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wait until everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Waiter::Task(tx))
            .map_err(|_| StoreError::Io("the committer has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Io(e)),
            Err(_) => Err(StoreError::Io("the committer has stopped".into())),
        }
    }

    /// Blocking form of [`Committer::durable`], for start-up, shutdown and synchronous
    /// callers (safe inside a runtime thread too: it waits on a std channel).
    pub fn durable_blocking(&self) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Waiter::Thread(tx))
            .map_err(|_| StoreError::Io("the committer has stopped".into()))?;
        match rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Io(e)),
            Err(_) => Err(StoreError::Io("the committer has stopped".into())),
        }
    }
}

fn run(
    db: sled::Db,
    file: File,
    rx: mpsc::Receiver<Waiter>,
    requested: std::sync::Arc<std::sync::atomic::AtomicBool>,
    gap: Duration,
    blob_dir: PathBuf,
    blobs_synced: Arc<AtomicU64>,
) {
    let mut waiters: Vec<Waiter> = Vec::new();
    let mut last_end = Instant::now();
    let mut blobs = BlobSync::new(blob_dir, blobs_synced);
    while let Ok(first) = rx.recv() {
        waiters.push(first);
        if let Some(rest) = gap.checked_sub(last_end.elapsed()) {
            std::thread::sleep(rest);
        }
        // Everyone who asked while the previous flush ran shares this one.
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        // Writes requested from now on need the next flush.
        requested.store(false, std::sync::atomic::Ordering::Release);
        let started = Instant::now();
        let result = db
            .flush()
            .map_err(|e| format!("sled flush failed: {e}"))
            .and_then(|_| {
                file.sync_data()
                    .map_err(|e| format!("fdatasync of the database file failed: {e}"))
            })
            .and_then(|_| blobs.sync_new());
        if let Err(e) = &result {
            tracing::error!(error = %e, "durable write failed");
        }
        tracing::trace!(
            writers = waiters.len(),
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        for w in waiters.drain(..) {
            w.answer(result.clone());
        }
        last_end = Instant::now();
    }
}

/// The blob files already synced, so each flush syncs only the new ones.
struct BlobSync {
    dir: PathBuf,
    synced: HashSet<OsString>,
    count: Arc<AtomicU64>,
}

impl BlobSync {
    fn new(dir: PathBuf, count: Arc<AtomicU64>) -> BlobSync {
        BlobSync {
            dir,
            synced: HashSet::new(),
            count,
        }
    }

    /// `fsync` every blob file not synced yet, then the directory if one was new. Names
    /// sled has removed (blob GC) are forgotten. An empty directory costs one `readdir`.
    fn sync_new(&mut self) -> Result<(), String> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot list {}: {e}", self.dir.display())),
        };
        let mut present = HashSet::new();
        let mut new = 0u64;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", self.dir.display()))?;
            let name = entry.file_name();
            if !self.synced.contains(&name) {
                let path = entry.path();
                match File::open(&path) {
                    Ok(f) => f
                        .sync_all()
                        .map_err(|e| format!("fsync of {} failed: {e}", path.display()))?,
                    // Collected by sled between the listing and the open: nothing to sync.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
                }
                new += 1;
            }
            present.insert(name);
        }
        if new > 0 {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| format!("fsync of {} failed: {e}", self.dir.display()))?;
            self.count
                .fetch_add(new, std::sync::atomic::Ordering::Relaxed);
        }
        self.synced = present;
        Ok(())
    }
}

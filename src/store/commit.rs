//! Group commit: the one place that makes the journal durable.
//!
//! Every writer commits its fjall batch (which appends it to the journal's in-memory
//! buffer: the database is opened with `manual_journal_persist`, so no batch writes or
//! syncs on its own), then asks this committer for durability. The committer takes every
//! request waiting at that moment, calls `persist(SyncData)` once (flush the buffer to the
//! journal file, `fdatasync` it) and answers them all: under load N writers cost one sync.
//!
//! It also waits until `gap` has passed since the previous sync ended before starting the
//! next (`storage.commit_gap_ms`): under load, writers arriving in that window join the
//! sync instead of each costing their own. An idle store pays nothing: a writer arriving
//! after a quiet spell is synced at once.
//!
//! A failed sync is never retried: after `fsync` fails, the kernel may have dropped the
//! dirty pages and a second `fsync` can succeed without them. So the first failure of a
//! sync or of a journal write poisons the store for good: every waiter of that round and
//! every later write or `durable` call gets [`StoreError::Poisoned`] until a restart
//! (fjall refuses writes after such a failure too).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use fjall::{Database, PersistMode};
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
pub(super) struct Committer {
    tx: mpsc::Sender<Waiter>,
    /// A `Nobody` request is queued and its sync has not started: further requests can
    /// ride on it instead of queueing their own.
    requested: Arc<AtomicBool>,
    /// Why the store stopped accepting writes, once it has.
    poisoned: Arc<OnceLock<String>>,
    /// Journal syncs made so far (read by tests that count group commits).
    #[cfg_attr(not(test), allow(dead_code))]
    syncs: Arc<AtomicU64>,
}

impl Committer {
    /// Start the committer thread for `db`.
    pub(super) fn start(db: Database, gap: Duration) -> Result<Committer, StoreError> {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let requested = Arc::new(AtomicBool::new(false));
        let poisoned = Arc::new(OnceLock::new());
        let syncs = Arc::new(AtomicU64::new(0));
        let (flag, poison, count) = (requested.clone(), poisoned.clone(), syncs.clone());
        std::thread::Builder::new()
            .name("hookd-commit".into())
            .spawn(move || run(db, rx, flag, poison, gap, count))
            .map_err(|e| StoreError::Io(format!("cannot start the committer thread: {e}")))?;
        Ok(Committer {
            tx,
            requested,
            poisoned,
            syncs,
        })
    }

    /// How many journal syncs (group commits) have been made.
    #[cfg(test)]
    pub(super) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Why the store is poisoned, if it is.
    pub(super) fn poisoned(&self) -> Option<String> {
        self.poisoned.get().cloned()
    }

    /// Record a failed journal write: the store refuses writes from now on.
    pub(super) fn poison(&self, e: fjall::Error) -> StoreError {
        let reason = format!("journal write failed: {e:?}");
        tracing::error!(error = %reason, "storage poisoned: no further writes are accepted");
        let _ = self.poisoned.set(reason);
        StoreError::Poisoned(self.poisoned().unwrap_or_default())
    }

    /// Ask for a group commit without waiting for it: for writes whose loss in a crash is
    /// harmless (an attempt record: the attempt is made again). Costs nothing when a
    /// commit is already requested.
    pub(super) fn request(&self) {
        if !self.requested.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(Waiter::Nobody);
        }
    }

    /// Wait until everything written before this call is on disk.
    pub(super) async fn durable(&self) -> Result<(), StoreError> {
        if let Some(reason) = self.poisoned() {
            return Err(StoreError::Poisoned(reason));
        }
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Waiter::Task(tx))
            .map_err(|_| StoreError::Io("the committer has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Poisoned(e)),
            Err(_) => Err(StoreError::Io("the committer has stopped".into())),
        }
    }

    /// Blocking form of [`Committer::durable`], for start-up, shutdown and synchronous
    /// callers (safe inside a runtime thread too: it waits on a std channel).
    pub(super) fn durable_blocking(&self) -> Result<(), StoreError> {
        if let Some(reason) = self.poisoned() {
            return Err(StoreError::Poisoned(reason));
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Waiter::Thread(tx))
            .map_err(|_| StoreError::Io("the committer has stopped".into()))?;
        match rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Poisoned(e)),
            Err(_) => Err(StoreError::Io("the committer has stopped".into())),
        }
    }
}

fn run(
    db: Database,
    rx: mpsc::Receiver<Waiter>,
    requested: Arc<AtomicBool>,
    poisoned: Arc<OnceLock<String>>,
    gap: Duration,
    syncs: Arc<AtomicU64>,
) {
    let mut waiters: Vec<Waiter> = Vec::new();
    let mut last_end = Instant::now();
    while let Ok(first) = rx.recv() {
        waiters.push(first);
        if let Some(rest) = gap.checked_sub(last_end.elapsed()) {
            std::thread::sleep(rest);
        }
        // Everyone who asked while the previous sync ran shares this one.
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        // Writes requested from now on need the next sync.
        requested.store(false, Ordering::Release);
        let started = Instant::now();
        let result = match poisoned.get() {
            Some(reason) => Err(reason.clone()),
            None => db.persist(PersistMode::SyncData).map_err(|e| {
                let reason = format!("journal sync failed: {e:?}");
                tracing::error!(error = %reason, "storage poisoned: no further writes are accepted");
                let _ = poisoned.set(reason.clone());
                reason
            }),
        };
        syncs.fetch_add(1, Ordering::Relaxed);
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

//! Group commit: the one place that makes the journal durable.
//!
//! Every writer commits its fjall batch (which appends it to the journal's in-memory
//! buffer: the database is opened with `manual_journal_persist`, so no batch writes or
//! syncs on its own), then asks this committer for durability. The committer takes every
//! request waiting at that moment, makes the journal durable once and answers them all:
//! under load N writers cost one sync.
//!
//! The sync is made in two steps, and only the first holds fjall's journal lock:
//! `persist(Buffer)` writes the journal's buffer to its file, then [`JournalSync`]
//! `fdatasync`s the file through a descriptor of its own. fjall's `persist(SyncData)`
//! would hold the journal lock through the `fdatasync`, and every batch commit waits for
//! that lock: the runtime threads that write batches stood still for each sync (measured
//! at full speed: 0.5 ms per sync, 18 % of the time, single syncs up to 106 ms), leaving
//! CPU idle and requests waiting.
//!
//! It also waits until `gap` has passed since the previous sync ended before starting the
//! next (`storage.commit_gap_ms`): under load, writers arriving in that window join the
//! sync instead of each costing their own. An idle store pays nothing: a writer arriving
//! after a quiet spell is synced at once.
//!
//! After each sync it also wakes the sealer, the one thread that rotates memtables (seals
//! a keyspace's full memtable and hands it to fjall's worker to flush): see [`Rotation`].
//! Sealing takes fjall's journal lock and tidies its version history (measured up to
//! 22 ms), so it runs beside the committer, not in the way of the next sync.
//!
//! A failed sync is never retried: after `fsync` fails, the kernel may have dropped the
//! dirty pages and a second `fsync` can succeed without them. So the first failure of a
//! sync or of a journal write poisons the store for good: every waiter of that round and
//! every later write or `durable` call gets [`StoreError::Poisoned`] until a restart
//! (fjall refuses writes after such a failure too).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use fjall::{AbstractTree, Database, Keyspace, PersistMode};
use tokio::sync::oneshot;

use super::StoreError;

/// What fjall is told a memtable may hold: more than ever fills, so fjall's own rotation
/// never triggers and [`Rotation`] does it instead.
pub(super) const NEVER_BY_FJALL: u64 = 1 << 40;

/// A keyspace and the most its active memtable holds before the committer seals it.
///
/// Why not fjall's own rotation: in fjall 3.1 every write to a keyspace whose memtable is
/// over its size asks the background worker to rotate it, by a message on the worker's
/// bounded (1,000) queue. While the worker is busy with a long compaction those requests
/// fill the queue; the worker then takes one, rotates, and blocks sending itself the
/// flush message on its own full queue: a deadlock (fjall-rs/fjall#323, open). Flushes
/// stop for good and the memtable grows without bound (measured: 500 MB and more while a
/// 1,000,000-delivery backlog was written, restarts replaying it for seconds). The sealer
/// thread rotates instead, after every sync and every [`LOOK_EVERY`] between: one flush
/// message per memtable sealed, so the queue never fills.
pub(super) struct Rotation {
    keyspace: Keyspace,
    max_bytes: u64,
}

impl Rotation {
    pub(super) fn new(keyspace: Keyspace, max_bytes: u64) -> Rotation {
        Rotation {
            keyspace,
            max_bytes,
        }
    }

    fn is_full(&self) -> bool {
        self.keyspace.tree.active_memtable().size() >= self.max_bytes
    }
}

/// A memtable the sealer sealed, kept alive by the sealer until nothing else holds it.
///
/// Why: fjall frees a flushed memtable when it drops the last version that refers to it,
/// which it does while holding that keyspace's version lock for writing. Every write to
/// the keyspace takes the same lock for reading, with fjall's journal lock held, so
/// freeing a 16 MB skiplist there (2 % of hookd's CPU at full speed) stopped every writer
/// for that long. With the sealer holding one more reference, fjall's drop only counts
/// down, and the memory is freed here, outside every lock, once this is the last one.
type Sealed = Arc<dyn std::any::Any + Send + Sync>;

/// How often the sealer looks for full memtables and for sealed ones it can free when no
/// sync wakes it. Why a timer and not a look after every write: looking costs a lock and
/// two reference counts per keyspace, 13 keyspaces, which after every batch was 1.6 % of
/// hookd's CPU at full speed; a memtable outgrows its size by at most what 50 ms write.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// The sealer thread: after every sync (the committer wakes it) and every [`LOOK_EVERY`],
/// seal every memtable that is full and free the sealed memtables fjall no longer uses.
/// Ends when the committer (its only waker) ends.
fn seal_when_woken(
    wake: mpsc::Receiver<()>,
    rotations: Arc<Vec<Rotation>>,
    poisoned: Arc<OnceLock<String>>,
    counts: Arc<SealCounts>,
) {
    let mut sealed: Vec<Sealed> = Vec::new();
    loop {
        match wake.recv_timeout(LOOK_EVERY) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) if poisoned.get().is_none() => {
                let before = sealed.len();
                rotate_full(&rotations, &poisoned, &mut sealed);
                let new = (sealed.len() - before) as u64;
                counts.sealed.fetch_add(new, Ordering::Relaxed);
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // A count of one is this list's own: nothing else can reach the memtable again.
        sealed.retain(|m| Arc::strong_count(m) > 1);
        counts.held.store(sealed.len(), Ordering::Relaxed);
    }
}

/// What the sealer has done, for tests: memtables sealed, and those it still holds.
#[derive(Default)]
pub(super) struct SealCounts {
    pub(super) sealed: AtomicU64,
    pub(super) held: AtomicUsize,
}

/// Seal every memtable that is full (fjall's worker flushes it), keeping a reference to
/// each (see [`Sealed`]). An error here is a failed journal write: it poisons the store
/// like any other.
fn rotate_full(rotations: &[Rotation], poisoned: &OnceLock<String>, sealed: &mut Vec<Sealed>) {
    for r in rotations.iter().filter(|r| r.is_full()) {
        let started = Instant::now();
        // The active memtable, about to be sealed. Should another rotation come first,
        // this holds a memtable a little longer than needed, nothing worse.
        let memtable = r.keyspace.tree.active_memtable();
        let rotated = r.keyspace.rotate_memtable();
        let took = started.elapsed();
        if took > Duration::from_millis(20) {
            tracing::warn!(
                keyspace = %r.keyspace.name(),
                millis = took.as_millis() as u64,
                "sealing a memtable took long (fjall journal lock or version history)"
            );
        }
        match rotated {
            Ok(true) => sealed.push(memtable),
            Ok(false) => {}
            Err(e) => {
                let reason = format!("memtable rotation failed: {e:?}");
                tracing::error!(error = %reason, "storage poisoned: no further writes are accepted");
                let _ = poisoned.set(reason);
                return;
            }
        }
    }
}

/// The committer's own descriptor of fjall's active journal, to `fdatasync` it without
/// fjall's journal lock (see the module comment).
///
/// fjall names journals `<n>.jnl` in the database directory and writes only to the one
/// with the highest `n`; it moves to `<n+1>.jnl` (syncing `<n>` first) when a journal
/// grows past its size, never back. So after `persist(Buffer)` every byte written so far
/// is in the file this tracks or in a later one: [`JournalSync::sync`] syncs this one,
/// and while a later one exists, moves to it and syncs that too.
///
/// A sync through this descriptor reports every write-back error of the file since the
/// descriptor was opened (Linux keeps that per open file), whether or not fjall's own
/// descriptor reported it first.
struct JournalSync {
    dir: PathBuf,
    id: u64,
    file: File,
}

impl JournalSync {
    /// Track the active journal of the database in `dir` (the highest-numbered).
    fn open(dir: &Path) -> std::io::Result<JournalSync> {
        let mut newest: Option<u64> = None;
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let id = name
                .to_str()
                .and_then(|n| n.strip_suffix(".jnl"))
                .and_then(|n| n.parse::<u64>().ok());
            newest = newest.max(id);
        }
        let id = newest.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no journal file in {}", dir.display()),
            )
        })?;
        let file = Self::open_journal(dir, id)?;
        Ok(JournalSync {
            dir: dir.to_path_buf(),
            id,
            file,
        })
    }

    fn open_journal(dir: &Path, id: u64) -> std::io::Result<File> {
        File::options()
            .write(true)
            .open(dir.join(format!("{id}.jnl")))
    }

    /// `fdatasync` every journal that may hold what `persist(Buffer)` wrote: the tracked
    /// one, then each later one, ending on the newest.
    fn sync(&mut self) -> std::io::Result<()> {
        loop {
            self.file.sync_data()?;
            match Self::open_journal(&self.dir, self.id + 1) {
                Ok(next) => {
                    self.file = next;
                    self.id += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

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
    /// The sealer's counts (read by tests).
    #[cfg_attr(not(test), allow(dead_code))]
    seal_counts: Arc<SealCounts>,
}

impl Committer {
    /// Start the committer thread for `db`.
    pub(super) fn start(
        db: Database,
        dir: &Path,
        rotations: Vec<Rotation>,
        gap: Duration,
        lazy_gap: Duration,
    ) -> Result<Committer, StoreError> {
        let journal = JournalSync::open(dir).map_err(|e| {
            StoreError::Io(format!("cannot open the journal in {}: {e}", dir.display()))
        })?;
        let (tx, rx) = mpsc::channel::<Waiter>();
        let requested = Arc::new(AtomicBool::new(false));
        let poisoned = Arc::new(OnceLock::new());
        let syncs = Arc::new(AtomicU64::new(0));
        let rotations = Arc::new(rotations);
        // One pending wake-up is enough: the sealer looks at every keyspace each time.
        let (wake_sealer, wake) = mpsc::sync_channel::<()>(1);
        let seal_counts = Arc::new(SealCounts::default());
        let (list, poison, counts) = (rotations.clone(), poisoned.clone(), seal_counts.clone());
        std::thread::Builder::new()
            .name("hookd-seal".into())
            .spawn(move || seal_when_woken(wake, list, poison, counts))
            .map_err(|e| StoreError::Io(format!("cannot start the memtable sealer thread: {e}")))?;
        let shared = Shared {
            requested: requested.clone(),
            poisoned: poisoned.clone(),
            syncs: syncs.clone(),
            rotations,
            wake_sealer,
        };
        std::thread::Builder::new()
            .name("hookd-commit".into())
            .spawn(move || run(db, journal, rx, shared, gap, lazy_gap))
            .map_err(|e| StoreError::Io(format!("cannot start the committer thread: {e}")))?;
        Ok(Committer {
            tx,
            requested,
            poisoned,
            syncs,
            seal_counts,
        })
    }

    /// Memtables sealed so far, and those the sealer still holds (not yet freed).
    #[cfg(test)]
    pub(super) fn sealed_memtables(&self) -> (u64, usize) {
        (
            self.seal_counts.sealed.load(Ordering::Relaxed),
            self.seal_counts.held.load(Ordering::Relaxed),
        )
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
    /// commit is already requested. The sync starts [`LAZY_GAP`] after the previous one
    /// ended, or sooner with someone who waits: a delivery drain asks after every
    /// attempt, and syncing at once each time cost ~3 % of the CPU.
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

/// What the committer thread shares with the handles.
struct Shared {
    requested: Arc<AtomicBool>,
    poisoned: Arc<OnceLock<String>>,
    syncs: Arc<AtomicU64>,
    rotations: Arc<Vec<Rotation>>,
    /// Wakes the sealer thread.
    wake_sealer: mpsc::SyncSender<()>,
}

/// How long a sync that nobody waits for (only attempt records asked for it) may wait
/// after the previous sync ended, gathering more writes; one that someone waits for
/// starts it at once (after the usual gap).
pub(super) const LAZY_GAP: Duration = Duration::from_millis(20);

fn run(
    db: Database,
    mut journal: JournalSync,
    rx: mpsc::Receiver<Waiter>,
    shared: Shared,
    gap: Duration,
    lazy_gap: Duration,
) {
    let Shared {
        requested,
        poisoned,
        syncs,
        rotations,
        wake_sealer,
    } = shared;
    let mut waiters: Vec<Waiter> = Vec::new();
    let mut last_end = Instant::now();
    while let Ok(first) = rx.recv() {
        let lazy = matches!(first, Waiter::Nobody);
        waiters.push(first);
        if lazy {
            // Only writes whose loss is harmless are waiting: let more of them share this
            // sync, until someone who waits arrives.
            let until = last_end + lazy_gap.max(gap);
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(Waiter::Nobody) => {}
                    Ok(w) => {
                        waiters.push(w);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
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
            None => sync(&db, &mut journal).map_err(|e| {
                let reason = format!("journal sync failed: {e}");
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
        if result.is_ok() && rotations.iter().any(Rotation::is_full) {
            let _ = wake_sealer.try_send(());
        }
        last_end = Instant::now();
    }
}

/// Make everything committed so far durable: write fjall's journal buffer to the file
/// (under fjall's lock, a `write`), then `fdatasync` it outside that lock.
fn sync(db: &Database, journal: &mut JournalSync) -> Result<(), String> {
    db.persist(PersistMode::Buffer)
        .map_err(|e| format!("writing the journal: {e:?}"))?;
    journal
        .sync()
        .map_err(|e| format!("fdatasync of journal {}.jnl: {e}", journal.id))
}

#[cfg(test)]
mod tests {
    use super::JournalSync;

    /// The active journal is the highest-numbered `.jnl` file; other files are ignored.
    #[test]
    fn the_highest_numbered_journal_is_tracked() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["3.jnl", "12.jnl", "7.jnl", "99.txt", "lock"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(JournalSync::open(dir.path()).unwrap().id, 12);
        assert!(JournalSync::open(tempfile::tempdir().unwrap().path()).is_err());
    }

    /// After fjall moved on to later journals, a sync covers each of them and then tracks
    /// the newest.
    #[test]
    fn a_sync_follows_the_journal_to_the_newest_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0.jnl"), b"a").unwrap();
        let mut journal = JournalSync::open(dir.path()).unwrap();
        journal.sync().unwrap();
        assert_eq!(journal.id, 0);
        std::fs::write(dir.path().join("1.jnl"), b"b").unwrap();
        std::fs::write(dir.path().join("2.jnl"), b"c").unwrap();
        journal.sync().unwrap();
        assert_eq!(journal.id, 2);
        // A sealed journal fjall deleted meanwhile does not matter.
        std::fs::remove_file(dir.path().join("0.jnl")).unwrap();
        journal.sync().unwrap();
        assert_eq!(journal.id, 2);
    }
}

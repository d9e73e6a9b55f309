//! Handing memory that hookd has freed back to the OS.
//!
//! mimalloc does not return a freed page to the OS at once: it schedules the page to be
//! purged a second later (its `purge_delay`), so that memory freed and needed again soon is
//! not unmapped and faulted back in. A scheduled purge is carried out only when some thread
//! next frees or abandons a page of its own. After a burst (a large backlog written, a
//! compaction) hookd can go quiet with no such call for as long as it stays quiet, and the
//! pages it freed stay in its RSS: measured here, a 1,000,000-delivery backlog held in
//! 100–130 MB or in 180–200 MB depending on whether anything happened to allocate after the
//! last memtable was freed.
//!
//! Two things keep that from depending on luck:
//! - a thread that asks the allocator once a second to carry out the purges that are due
//!   (arenas are process-wide, so any thread can);
//! - each runtime worker, as it runs out of work, takes back the blocks other threads freed
//!   from its own pages (at most once a second), so pages emptied by another thread (a sealed
//!   memtable is dropped on the sealer thread) become free pages to purge.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often the purges that are due are carried out, and how often at most one worker
/// collects. A collection walks the calling thread's pages: cheap once a second, wasteful on
/// every one of the thousands of parks a busy second has.
const EVERY: Duration = Duration::from_secs(1);

thread_local! {
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Which of the two run: `HOOKD_ALLOC_COLLECT` = 0 (neither), 1 (workers only), 2 (the
/// purge thread only), 3 or unset (both). A switch for measuring what each one does
/// (BENCHMARKS.md, "Memory"), read once.
fn mode() -> u8 {
    static MODE: OnceLock<u8> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("HOOKD_ALLOC_COLLECT").as_deref() {
        Ok("0") => 0,
        Ok("1") => 1,
        Ok("2") => 2,
        _ => 3,
    })
}

/// Called by each runtime worker as it parks (runs out of work): at most once per [`EVERY`],
/// takes back what other threads freed from this worker's pages.
pub fn collect_on_park() {
    if mode() & 1 == 0 {
        return;
    }
    LAST.with(|last| {
        let now = Instant::now();
        if last.get().is_some_and(|t| now.duration_since(t) < EVERY) {
            return;
        }
        last.set(Some(now));
        // SAFETY: `mi_collect` takes no pointers; it walks the calling thread's own pages
        // and the process's arenas, under the allocator's own synchronisation.
        unsafe { libmimalloc_sys::mi_collect(false) };
    });
}

/// Start the thread that carries out due purges once per [`EVERY`]. It holds nothing and
/// lives as long as the process; failing to start it only costs memory, so that is logged.
pub fn start_purger() {
    if mode() & 2 == 0 {
        return;
    }
    let started = std::thread::Builder::new()
        .name("hookd-purge".into())
        .spawn(|| {
            loop {
                std::thread::sleep(EVERY);
                // SAFETY: as in `collect_on_park`; this thread owns no pages, so the call
                // only carries out the arenas' purges that are due.
                unsafe { libmimalloc_sys::mi_collect(false) };
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the allocator's purge thread");
    }
}

//! The `hookd` binary: everything lives in the library; see `cli`.

use std::os::unix::process::CommandExt as _;

fn main() -> std::process::ExitCode {
    return_memory_promptly();
    hookd::cli::main()
}

/// mimalloc instead of glibc malloc: the storage engine and the HTTP stacks allocate many small,
/// short-lived buffers; measured here, glibc spent ~10 % of CPU in malloc/consolidation
/// and fragmented badly under a large backlog (RSS), which mimalloc avoids.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How mimalloc should treat freed memory, as `(variable, value)`: purge freed pages at
/// once instead of after 10 ms (×10 for arenas), and commit arena memory as it is used.
/// Under a backlog, bursts of short-lived buffers otherwise stay resident: a
/// 300,000-delivery backlog was held in 54 MB instead of 119 MB, the drain peaked at
/// 101 MB instead of 273 MB (BENCHMARKS.md, "Memory").
const ALLOCATOR_ENV: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

/// mimalloc reads its options from the environment when the process starts, before `main`,
/// and some (eager arena commit) only then. So when none is set, hookd sets them and
/// replaces itself with a fresh image of the same binary (same pid, arguments and
/// environment otherwise; systemd sees nothing). An operator's own `MIMALLOC_*` settings
/// win: nothing is changed then. If the re-exec fails, hookd runs on as it is.
fn return_memory_promptly() {
    if ALLOCATOR_ENV
        .iter()
        .any(|(k, _)| std::env::var_os(k).is_some())
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1));
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    cmd.envs(ALLOCATOR_ENV);
    // Only returns on failure.
    let _ = cmd.exec();
}

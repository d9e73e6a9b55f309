//! The `hookd` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    hookd::cli::main()
}

/// mimalloc instead of glibc malloc: the storage engine and the HTTP stacks allocate many small,
/// short-lived buffers; measured here, glibc spent ~10 % of CPU in malloc/consolidation
/// and fragmented badly under a large backlog (RSS), which mimalloc avoids. It runs on its
/// defaults, with freed memory handed back by `ops::alloc`: a 1,000,000-delivery backlog is
/// held in 76–189 MB, median 110 MB (BENCHMARKS.md, "Memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

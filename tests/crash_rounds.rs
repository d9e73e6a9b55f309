//! The short crash scenario of `hookd-bench`, run as a normal test: hookd is killed with
//! SIGKILL at three random moments under steady load and restarted each time; every event
//! it answered 202 must reach both webhooks at least once. (The long version, 20 rounds, is
//! `hookd-bench crash`; see BENCHMARKS.md.)

use std::process::Command;

/// Three SIGKILL rounds at 1,000 events/s to two webhooks, with `extra` arguments for
/// `hookd-bench crash`; asserts that events were accepted and none was lost.
fn three_kill_rounds(extra: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_hookd-bench"))
        .args([
            "crash",
            "--rounds",
            "3",
            "--rate",
            "1000",
            // The debug build answers in ~20 ms: enough connections to keep the rate.
            "--connections",
            "32",
            "--webhooks",
            "2",
            "--stall-secs",
            "45",
            "--hookd",
            env!("CARGO_BIN_EXE_hookd"),
        ])
        .args(extra)
        .output()
        .expect("run hookd-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "hookd-bench crash failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let figures: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not the JSON summary ({e}): {last}"));
    let accepted = figures["events_accepted"].as_f64().unwrap_or(0.0);
    let lost = figures["lost"].as_f64().unwrap_or(-1.0);
    let duplicated = figures["duplicated"].as_f64().unwrap_or(-1.0);
    eprintln!("crash rounds: accepted {accepted}, lost {lost}, duplicated {duplicated}");
    // Three rounds of 0.5 s or more, then 1 s, at up to 1,000/s: a debug build on a busy
    // 2-core machine accepts a few hundred per round. Enough to mean something: 500.
    assert!(
        accepted >= 500.0,
        "too few events accepted to mean anything: {accepted}\n{stdout}"
    );
    assert_eq!(lost, 0.0, "accepted events were lost:\n{stdout}");
    assert!(duplicated >= 0.0, "no duplicate count reported:\n{stdout}");
}

#[test]
fn sigkill_under_load_three_times_loses_no_accepted_event() {
    three_kill_rounds(&[]);
}

#[test]
fn sigkill_during_memtable_flushes_and_compactions_loses_no_accepted_event() {
    // cache_mb = 4 gives a log memtable of 1 MiB: under 1,000 events/s to two webhooks it
    // is sealed and flushed, and tables compacted, several times a second, so the kills
    // land inside them.
    three_kill_rounds(&["--storage-toml", "cache_mb = 4"]);
}

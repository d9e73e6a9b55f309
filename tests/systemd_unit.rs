//! The shipped unit (`systemd/hookd.service`) carries the hardening a careful packager sets,
//! and systemd itself accepts it: `systemd-analyze verify` is clean and `systemd-analyze
//! security --offline` rates it "OK" (exposure ≤ 2.0) — when systemd-analyze is installed.

use std::path::PathBuf;
use std::process::Command;

fn unit_text() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("systemd/hookd.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_unit_sets_the_hardening_options_a_packager_expects() {
    let unit = unit_text();
    for directive in [
        "Type=notify",
        "WatchdogSec=",
        "User=hookd",
        "StateDirectory=hookd",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
    ] {
        assert!(
            unit.lines().any(|l| l.trim_start().starts_with(directive)),
            "systemd/hookd.service lacks {directive}"
        );
    }
}

#[test]
fn systemd_analyze_accepts_the_unit_and_rates_it_ok() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: only the directives were checked");
        return;
    }
    // The unit as installed, with ExecStart pointing at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let unit_path = dir.path().join("hookd.service");
    let unit = unit_text().replace("/usr/local/bin/hookd", env!("CARGO_BIN_EXE_hookd"));
    std::fs::write(&unit_path, unit).unwrap();

    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );

    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for hookd.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(
        exposure <= 2.0,
        "exposure {exposure} is worse than OK:\n{text}"
    );
}

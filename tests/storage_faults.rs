//! Storage faults against the real binary: a full disk (a small tmpfs mounted by the test),
//! and a data dir left by the earlier sled-based build. (kill -9 during flushes and
//! compactions: `crash_rounds.rs`.)

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;

/// A tmpfs mounted for one test and unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mount a tmpfs of `size_mb`; `Err` with the reason when this machine does not allow it
    /// (not root, no mount permission in a container).
    fn mount(size_mb: u32) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("no temp dir: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fill the file system holding `dir` with a file, leaving about `leave_kib` KiB free.
fn fill_leaving(dir: &Path, leave_kib: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xAAu8; 64 * 1024];
    let mut written = 0u64;
    while f.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    let _ = f.flush();
    drop(f);
    let keep = written.saturating_sub(leave_kib * 1024);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(keep).unwrap();
    f.sync_all().unwrap();
    path
}

#[test]
fn a_full_disk_answers_503_keeps_reads_and_loses_no_acknowledged_event_after_restart() {
    let fs = match Tmpfs::mount(48) {
        Ok(fs) => fs,
        Err(reason) => {
            println!("SKIPPED: the disk-full test needs a tmpfs mount, and {reason}");
            return;
        }
    };
    let data = fs.path().join("data");
    let mut d = TestDaemon::builder()
        .config_extra(JOB_CATALOG)
        .config_extra(&format!(
            "[storage]\ndata_dir = \"{}\"\ncache_mb = 16\n",
            data.display()
        ))
        .start();
    let (_tenant, key) = create_tenant(&d, "Acme");
    let api = Api::with_key(&d, &key);
    new_webhook(
        &api,
        "https://hooks.example.com/a",
        json!(["job.*"]),
        json!({}),
    );
    let filler = fill_leaving(fs.path(), 768);

    // Publish 4 KiB events until the disk is full.
    let pad = "x".repeat(4096);
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for i in 0..2000 {
        let r = api.post(
            "/api/events",
            json!({"type": "job.created", "data": {"n": i, "pad": pad}}),
        );
        match r.status {
            202 => acknowledged.push(r.str("id").to_string()),
            _ => {
                refusal = Some(r);
                break;
            }
        }
    }
    let refusal = refusal.expect("2,000 events of 4 KiB fit in 768 KiB of free space");
    assert_eq!(refusal.status, 503, "{}", refusal.text);
    assert_eq!(refusal.error_code(), Some("storage_unavailable"));
    assert!(
        !acknowledged.is_empty(),
        "no event fitted before the disk filled"
    );

    // From now on: writes 503, /readyz 503, reads still answer.
    let again = api.post("/api/events", json!({"type": "job.created", "data": {}}));
    assert_eq!(again.status, 503, "{}", again.text);
    let ready = Api::anonymous(&d).get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.text);
    api.get(&format!("/api/events/{}", acknowledged[0]))
        .expect_status(200);
    api.get("/api/webhooks").expect_status(200);

    // SIGTERM still exits 0.
    let status = d.sigterm();
    assert_eq!(status.code(), Some(0), "{}", d.output());

    // Space returns; a restart recovers every acknowledged event and accepts writes again.
    std::fs::remove_file(&filler).unwrap();
    d.restart();
    Api::anonymous(&d).get("/readyz").expect_status(200);
    let api = Api::with_key(&d, &key);
    for id in &acknowledged {
        api.get(&format!("/api/events/{id}")).expect_status(200);
    }
    api.post("/api/events", json!({"type": "job.created", "data": {}}))
        .expect_status(202);
}

#[test]
fn a_data_dir_left_by_the_sled_build_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sled")).unwrap();
    std::fs::write(data.join("sled").join("db"), b"old").unwrap();
    let err = TestDaemon::builder()
        .config_extra(&format!("[storage]\ndata_dir = \"{}\"\n", data.display()))
        .try_start()
        .err()
        .expect("hookd started on a sled data dir");
    let sled_path = data.join("sled").display().to_string();
    assert!(
        err.stderr.contains(&sled_path) && err.stderr.contains("sled"),
        "{err}"
    );
    assert!(
        !data.join("db").exists(),
        "an empty database was created beside it"
    );
}

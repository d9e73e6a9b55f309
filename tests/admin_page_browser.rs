//! The admin page end to end in real headless Chromium: a real daemon, a real HTTPS receiver,
//! and `tests/browser/admin_page.mjs` (playwright-core driving Debian's `/usr/bin/chromium`)
//! walking every story: portal link sign-in and reuse, API-key sign-in, the https rule, add
//! with the secret shown once, send test, deliveries with bodies, retry after a failure,
//! edit's Advanced part, disable, rotate, delete, phone width, page errors, foreign requests.
//!
//! Needs Chromium and the npm package: `./scripts/test` installs both when missing
//! (`apt-get install -y chromium`, `npm ci --prefix tests/browser`). Without them this test
//! fails and says so; it never passes silently. Screenshots go to
//! `target/browser-artifacts/`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const CATALOG: &str = r#"
[[event_types]]
name = "customer.created"
category = "Customer"
description = "A customer record was created"
sample = { id = "cus_7Hq2LmX9rT", name = "Ada Lovelace", email = "ada.lovelace@example.com" }

[[event_types]]
name = "customer.updated"
category = "Customer"
description = "A customer's details changed"
sample = { id = "cus_7Hq2LmX9rT", name = "Ada Lovelace", vip = true }

[[event_types]]
name = "deal.completed"
category = "Deal"
description = "A deal was completed and the vehicle handed over"
sample = { id = "deal_5Rk2Vw8Jm", amount = 1395000, currency = "GBP" }

[[event_types]]
name = "job.invoiced"
category = "Job"
description = "A workshop job was invoiced"
sample = { id = "job_2Cm7Xt5Bv", total = 34830, currency = "GBP" }

[[event_types]]
name = "vehicle.sold"
category = "Vehicle"
description = "A vehicle was sold"
sample = { id = "veh_3Nf8Qz1Lw", registration = "LN19 XKD" }
"#;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole script takes about 30 s; a hung browser must not hang the suite.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(300);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts")
}

/// Fail (never skip) when a tool the test needs is missing, naming the command that installs it.
fn require_tools() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium` \
         (./scripts/test does this when it is missing)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: install it with `apt-get install -y nodejs npm`"
    );
    assert!(
        browser_dir()
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is missing: run `npm ci --prefix tests/browser` \
         (./scripts/test does this when it is missing)"
    );
}

/// A tiny HTTP control for the script: `GET /received` lists what the receiver got;
/// `POST /reply?status=N` sets the receiver's answer. Serves until `stop` is set.
fn serve_control(listener: &TcpListener, rx: &TestReceiver, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let _ = handle_control(stream, rx);
    }
}

fn handle_control(mut stream: TcpStream, rx: &TestReceiver) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = if target == "/received" {
        let list: Vec<_> = rx
            .received()
            .iter()
            .map(|r| {
                json!({
                    "path": r.path,
                    "event": r.header("x-webhook-event"),
                    "webhook_id": r.header("webhook-id"),
                    "body": r.body_text(),
                })
            })
            .collect();
        (200, serde_json::Value::Array(list).to_string())
    } else if let Some(code) = target.strip_prefix("/reply?status=") {
        match code.parse::<u16>() {
            Ok(200) => {
                rx.set_default(Reply::ok());
                (200, "{}".to_string())
            }
            Ok(code) => {
                rx.set_default(Reply::text(code, "receiver down for maintenance"));
                (200, "{}".to_string())
            }
            Err(_) => (400, "{}".to_string()),
        }
    } else {
        (404, "{}".to_string())
    };
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

struct StopControl<'a> {
    stop: &'a AtomicBool,
    addr: std::net::SocketAddr,
}

impl Drop for StopControl<'_> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the control thread's accept so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

struct ScriptOutput {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run `cmd` to its end, or kill it after `deadline`; its output either way.
fn run_with_deadline(mut cmd: Command, deadline: Duration) -> ScriptOutput {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node tests/browser/admin_page.mjs");
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let status = child.wait().expect("wait for node");
            let stdout = out_reader.join().unwrap_or_default();
            panic!("the browser script did not finish within {deadline:?} ({status}):\n{stdout}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    ScriptOutput {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

#[test]
fn every_admin_page_story_works_in_headless_chromium() {
    require_tools();
    let rx = TestReceiver::https();
    let d = TestDaemon::builder()
        .delivering_to(&rx)
        .config_extra(CATALOG)
        // No retries: a failed attempt is a failed delivery at once, ready for Retry.
        .config_extra("[delivery]\nretry_schedule_secs = []\ntimeout_secs = 3\n")
        .start();
    let tenant_name = "Northgate Motors";
    let (tenant, key) = create_tenant(&d, tenant_name);
    let link = Api::as_operator(&d)
        .tenant(&tenant)
        .post("/api/portal-links", json!({"expires_in_secs": 600}));
    link.expect_status(201);
    let portal_url = link.str("url").to_string();

    let control = TcpListener::bind("127.0.0.1:0").expect("bind the control listener");
    let control_addr = control.local_addr().expect("control address");
    let stop = AtomicBool::new(false);
    let artifacts = artifacts_dir();
    // Screenshots of an earlier run must not pass for this run's.
    let _ = std::fs::remove_dir_all(&artifacts);

    let output = std::thread::scope(|s| {
        s.spawn(|| serve_control(&control, &rx, &stop));
        let mut cmd = Command::new("node");
        cmd.arg(browser_dir().join("admin_page.mjs"))
            .current_dir(browser_dir())
            .env("HOOKD_URL", d.base_url())
            .env("HOOKD_ADMIN_KEY", &key)
            .env("HOOKD_TENANT_NAME", tenant_name)
            .env("HOOKD_PORTAL_URL", &portal_url)
            .env("HOOKD_RECEIVER_URL", rx.url("/hook"))
            .env("HOOKD_CONTROL_URL", format!("http://{control_addr}"))
            .env("HOOKD_ARTIFACTS", &artifacts)
            .env("HOOKD_CHROMIUM", CHROMIUM);
        // Stops the control thread when the script ends, also by a panic (the scope waits
        // for the thread).
        let _stop = StopControl {
            stop: &stop,
            addr: control_addr,
        };
        run_with_deadline(cmd, SCRIPT_DEADLINE)
    });
    let stdout = &output.stdout;
    let stderr = &output.stderr;
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the browser script failed ({}):\n{stdout}\n{stderr}\n{}",
        output.status,
        d.output()
    );
    for name in ["admin-desktop.png", "admin-phone.png"] {
        assert!(
            artifacts.join(name).exists(),
            "screenshot {name} missing in {}",
            artifacts.display()
        );
    }
}

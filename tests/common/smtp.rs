//! A loopback SMTP server for tests: `tests/smtp_sink.py` (Python's `aiosmtpd`), which
//! stores each message it receives as a file. `scripts/test` installs aiosmtpd when it is
//! missing.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `tests/smtp_sink.py`; killed on drop.
pub struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl SmtpSink {
    /// On a free port; `extra` are `smtp_sink.py` options (`--starttls`, `--auth`).
    pub fn start(extra: &[&str]) -> SmtpSink {
        SmtpSink::start_on(free_port(), extra)
    }

    /// On `port` (e.g. one a daemon was configured with while no server was there yet).
    pub fn start_on(port: u16, extra: &[&str]) -> SmtpSink {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "the test SMTP server needs Python's aiosmtpd: `pip install aiosmtpd` \
                 (scripts/test installs it)\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!("python3 is needed for the test SMTP server: {e}"),
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        // Its log (TLS handshakes the tests break off on purpose) stays out of the test output.
        let log = std::fs::File::create(dir.path().join("sink.log")).expect("create sink.log");
        let mut child = Command::new("python3")
            .args(["-W", "ignore::DeprecationWarning"])
            .arg(script)
            .args(["--port", &port.to_string(), "--out"])
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn python3 tests/smtp_sink.py");
        let stdout = child.stdout.take().expect("sink stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        if !matches!(read, Ok(n) if n > 0) || line.trim() != "listening" {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the test SMTP server did not start (said {line:?})");
        }
        SmtpSink { child, dir, port }
    }

    /// Every stored message, oldest first, waiting up to `timeout` for at least `n`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() >= deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn messages(&self) -> Vec<String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read sink dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read message"))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// The message's body with quoted-printable soft breaks and escapes undone (lettre picks
/// that encoding for long lines).
pub fn decoded(message: &str) -> String {
    let message = message.replace("\r\n", "\n");
    let (head, body) = message.split_once("\n\n").unwrap_or((&message, ""));
    if !head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        return body.to_string();
    }
    let body = body.replace("=\n", "");
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    message
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim())
}

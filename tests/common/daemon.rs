//! `TestDaemon`: the real `hookd` binary, run as `hookd serve --config <file>` on a temp data dir.
//!
//! The config file is generated: a base (`[server] listen = "127.0.0.1:0"`,
//! `[storage] data_dir = "<tmp>/data"`, `[auth] operator_key = "<random>"`) deep-merged with the
//! test's extra TOML, the test's values winning. Startup is detected by the stdout line
//! `hookd listening on http://127.0.0.1:PORT` (or `https://`). `HOOKD_TEST_BIN` may name another
//! binary to test (default: the one cargo built).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::https::{Alpn, HttpsClient};

/// How long to wait for the listening line (and for readiness).
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `sigterm()` waits for a graceful exit.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a failed start saw.
#[derive(Debug)]
pub struct StartError {
    pub reason: String,
    /// `Some` when the process had exited.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hookd did not start: {} (exit status: {:?})\n--- hookd stdout ---\n{}\n--- hookd stderr ---\n{}",
            self.reason, self.status, self.stdout, self.stderr
        )
    }
}

/// Builder for [`TestDaemon`].
#[derive(Default)]
pub struct TestDaemonBuilder {
    extra: Vec<String>,
    env: Vec<(String, String)>,
    operator_key: Option<String>,
    no_wait_ready: bool,
    api_ca_file: Option<PathBuf>,
}

impl TestDaemonBuilder {
    /// Lets the daemon deliver to `rx`: loopback allowed, the receiver's test CA trusted.
    pub fn delivering_to(self, rx: &super::receiver::TestReceiver) -> Self {
        self.config_extra(&format!(
            "[delivery]\nallowed_networks = [\"127.0.0.0/8\"]\nextra_ca_file = \"{}\"\n",
            rx.ca_file().display()
        ))
    }

    /// The CA that signs hookd's own API certificate when it serves `https://` (used by
    /// `wait_ready`; default: the shared test CA of `receiver::test_pki()`).
    pub fn api_ca_file(mut self, path: &Path) -> Self {
        self.api_ca_file = Some(path.to_path_buf());
        self
    }

    /// Extra TOML merged over the base config (may repeat sections the base has; the extra wins;
    /// several calls merge in order).
    pub fn config_extra(mut self, toml_text: &str) -> Self {
        self.extra.push(toml_text.to_string());
        self
    }

    /// An environment variable for the daemon (e.g. `HOOKD_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Use this operator key instead of a random 40-character one.
    pub fn operator_key(mut self, key: &str) -> Self {
        self.operator_key = Some(key.to_string());
        self
    }

    /// Return as soon as the listening line is printed, without polling `/readyz`.
    pub fn no_wait_ready(mut self) -> Self {
        self.no_wait_ready = true;
        self
    }

    /// Start, panicking with the daemon's output if it does not come up.
    pub fn start(self) -> TestDaemon {
        match self.try_start() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    /// Start, or say why not (for tests that expect a bad config to be refused).
    pub fn try_start(self) -> Result<TestDaemon, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("hookd-test-")
            .tempdir()
            .expect("temp dir");
        let data_dir = dir.path().join("data");
        let config_path = dir.path().join("hookd.toml");
        let operator_key = self.operator_key.unwrap_or_else(|| random_key(40));
        let mut daemon = TestDaemon {
            dir,
            data_dir,
            config_path,
            operator_key,
            extra: self.extra,
            env: self.env,
            wait_ready_on_start: !self.no_wait_ready,
            api_ca_file: self.api_ca_file,
            proc: None,
            base_url: String::new(),
        };
        daemon.write_config();
        daemon.launch()?;
        Ok(daemon)
    }
}

/// One run of the child process and the threads draining its output.
struct Proc {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

impl Proc {
    fn stdout_text(&self) -> String {
        lock(&self.stdout).join("\n")
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
            }
        }
        self.exit
    }

    /// Wait for the exit, then for the readers to drain the pipes.
    fn wait(&mut self) -> ExitStatus {
        if self.exit.is_none() {
            self.exit = Some(self.child.wait().expect("wait for hookd"));
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.exit.unwrap()
    }

    fn kill9(&mut self) -> ExitStatus {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
        }
        self.wait()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `hookd` daemon under test. Dropping it kills the process (SIGKILL) and removes its
/// temp dir.
pub struct TestDaemon {
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    config_path: PathBuf,
    operator_key: String,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    wait_ready_on_start: bool,
    api_ca_file: Option<PathBuf>,
    proc: Option<Proc>,
    base_url: String,
}

impl TestDaemon {
    pub fn builder() -> TestDaemonBuilder {
        TestDaemonBuilder::default()
    }

    /// A daemon with the base config only.
    pub fn start() -> TestDaemon {
        TestDaemon::builder().start()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash), as printed by the daemon.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `base_url() + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn port(&self) -> u16 {
        self.base_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in base URL")
    }

    pub fn operator_key(&self) -> &str {
        &self.operator_key
    }

    /// `<tmp>/data`: `storage.data_dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<tmp>/hookd.toml`.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temp dir holding the config and the data dir (a place for other test files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config file's current text.
    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config_path).expect("read config")
    }

    /// Replace the extra TOML (takes effect at the next `restart()`).
    pub fn set_config_extra(&mut self, toml_text: &str) {
        self.extra = vec![toml_text.to_string()];
        self.write_config();
    }

    pub fn pid(&self) -> u32 {
        self.proc.as_ref().expect("hookd not running").child.id()
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        match self.proc.as_mut() {
            Some(p) => p.try_wait().is_none(),
            None => false,
        }
    }

    /// Every stdout line of the current run so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.proc
            .as_ref()
            .map(|p| lock(&p.stdout).clone())
            .unwrap_or_default()
    }

    /// Everything written to stderr in the current run so far.
    pub fn stderr_text(&self) -> String {
        self.proc
            .as_ref()
            .map(Proc::stderr_text)
            .unwrap_or_default()
    }

    /// Stdout and stderr of the current run, for assertion messages.
    pub fn output(&self) -> String {
        match &self.proc {
            Some(p) => format!(
                "--- hookd stdout ---\n{}\n--- hookd stderr ---\n{}",
                p.stdout_text(),
                p.stderr_text()
            ),
            None => String::from("(hookd not started)"),
        }
    }

    /// SIGKILL, then wait for the exit.
    pub fn kill9(&mut self) -> ExitStatus {
        self.proc.as_mut().expect("hookd not running").kill9()
    }

    /// SIGTERM, then wait up to 30 s for the exit (SIGKILL and panic after that).
    pub fn sigterm(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(STOP_TIMEOUT)
    }

    /// SIGINT, then wait up to 30 s for the exit.
    pub fn sigint(&mut self) -> ExitStatus {
        self.signal("INT");
        self.wait_exit(STOP_TIMEOUT)
    }

    /// Send a signal by name (`TERM`, `INT`, `HUP`, ...) with `kill(1)`; does not wait.
    pub fn signal(&mut self, name: &str) {
        let pid = self.pid();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed: {status}");
    }

    /// Wait for the process to exit by itself; panics (after SIGKILL) on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let proc = self.proc.as_mut().expect("hookd not running");
        loop {
            if proc.try_wait().is_some() {
                return proc.wait();
            }
            if Instant::now() >= deadline {
                proc.kill9();
                panic!(
                    "hookd did not exit within {timeout:?}\n--- hookd stdout ---\n{}\n--- hookd stderr ---\n{}",
                    proc.stdout_text(),
                    proc.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Start again on the same config and data dir. A running daemon is stopped first with
    /// SIGTERM. The port may change: `base_url()` is re-read.
    pub fn restart(&mut self) {
        if self.is_running() {
            self.sigterm();
        }
        if let Err(e) = self.launch() {
            panic!("{e}");
        }
    }

    /// Poll `GET /readyz` until it answers 200 (20 s; panics with the output after that). Over
    /// `https://` it trusts the builder's `api_ca_file`, else the shared test CA.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = self.url("/readyz");
        let probe: Box<dyn Fn() -> Result<u16, String>> = if url.starts_with("https://") {
            let client = match &self.api_ca_file {
                Some(ca) => HttpsClient::with_ca_file(ca, Alpn::H2AndHttp1),
                None => HttpsClient::new(Alpn::H2AndHttp1),
            }
            .timeout(Duration::from_secs(5));
            Box::new(move || client.get(&url).map(|r| r.status))
        } else {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(5))
                .redirects(0)
                .build();
            Box::new(move || match agent.get(&url).call() {
                Ok(r) => Ok(r.status()),
                Err(ureq::Error::Status(code, _)) => Ok(code),
                Err(e) => Err(e.to_string()),
            })
        };
        loop {
            let last = match probe() {
                Ok(200) => return,
                Ok(code) => format!("status {code}"),
                Err(e) => e,
            };
            if !self.is_running() {
                panic!("hookd exited while waiting for /readyz\n{}", self.output());
            }
            if Instant::now() >= deadline {
                panic!(
                    "GET /readyz not 200 within {START_TIMEOUT:?} (last: {last})\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Write the config file; the operator key becomes whatever the merged config says (an
    /// extra `[auth] operator_key` wins over the random one).
    fn write_config(&mut self) {
        let config = build_config(&self.data_dir, &self.operator_key, &self.extra);
        if let Some(key) = config
            .get("auth")
            .and_then(|a| a.get("operator_key"))
            .and_then(|k| k.as_str())
        {
            self.operator_key = key.to_string();
        }
        let text = toml::to_string(&config).expect("serialize config");
        std::fs::write(&self.config_path, text).expect("write config");
    }

    fn launch(&mut self) -> Result<(), StartError> {
        let mut cmd = Command::new(hookd_binary());
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .env_remove("HOOKD_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if std::env::var_os("HOOKD_LOG").is_none() {
            cmd.env("HOOKD_LOG", "info");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn hookd");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let out_pipe = child.stdout.take().expect("stdout pipe");
        let lines = stdout.clone();
        readers.push(std::thread::spawn(move || {
            let mut reader = BufReader::new(out_pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\n', '\r']).to_string();
                        lock(&lines).push(line);
                    }
                }
            }
        }));
        let mut err_pipe = child.stderr.take().expect("stderr pipe");
        let err_buf = stderr.clone();
        readers.push(std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match err_pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => lock(&err_buf).extend_from_slice(&chunk[..n]),
                }
            }
        }));
        self.proc = Some(Proc {
            child,
            stdout,
            stderr,
            readers,
            exit: None,
        });
        self.base_url = String::new();

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let proc = self.proc.as_mut().unwrap();
            if let Some(url) = lock(&proc.stdout)
                .iter()
                .find_map(|l| parse_listening_line(l))
            {
                self.base_url = url;
                break;
            }
            let exited = proc.try_wait();
            if exited.is_some() || Instant::now() >= deadline {
                let status = if exited.is_some() {
                    Some(proc.wait())
                } else {
                    Some(proc.kill9())
                };
                return Err(StartError {
                    reason: if exited.is_some() {
                        "exited before printing `hookd listening on ...`".into()
                    } else {
                        format!(
                            "no `hookd listening on ...` line on stdout within {START_TIMEOUT:?}"
                        )
                    },
                    status,
                    stdout: proc.stdout_text(),
                    stderr: proc.stderr_text(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.wait_ready_on_start {
            self.wait_ready();
        }
        Ok(())
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(proc) = self.proc.as_mut() {
            proc.kill9();
            if std::thread::panicking() {
                // Shown by libtest beside the failing test's panic message.
                eprintln!(
                    "--- hookd stdout (last run) ---\n{}\n--- hookd stderr (last run) ---\n{}",
                    tail(&proc.stdout_text(), 200),
                    tail(&proc.stderr_text(), 200)
                );
            }
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    all[skip..].join("\n")
}

/// The binary under test: `$HOOKD_TEST_BIN` if set (e.g. a release build), else the one cargo
/// built for this test run.
pub fn hookd_binary() -> PathBuf {
    std::env::var_os("HOOKD_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hookd")))
}

/// The base URL out of a `... hookd listening on http://127.0.0.1:PORT ...` line.
pub fn parse_listening_line(line: &str) -> Option<String> {
    const MARK: &str = "listening on ";
    let rest = &line[line.find(MARK)? + MARK.len()..];
    let url = rest.split_whitespace().next()?;
    let url = url.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}

/// A random alphanumeric key.
pub fn random_key(len: usize) -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The base config deep-merged with each extra TOML text in order (later values win; tables
/// merge key by key, anything else, arrays included, is replaced).
pub fn build_config(data_dir: &Path, operator_key: &str, extra: &[String]) -> toml::Table {
    let mut base = toml::Table::new();
    let mut server = toml::Table::new();
    server.insert("listen".into(), "127.0.0.1:0".into());
    let mut storage = toml::Table::new();
    storage.insert(
        "data_dir".into(),
        data_dir.to_str().expect("UTF-8 temp path").into(),
    );
    let mut auth = toml::Table::new();
    auth.insert("operator_key".into(), operator_key.into());
    base.insert("server".into(), server.into());
    base.insert("storage".into(), storage.into());
    base.insert("auth".into(), auth.into());
    for text in extra {
        let table: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("config_extra is not valid TOML: {e}\n{text}"));
        merge(&mut base, table);
    }
    base
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

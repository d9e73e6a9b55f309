//! systemd integration: `Type=notify` readiness, stop notification and the watchdog.
//!
//! Why: with `Type=notify` systemd orders dependent units after hookd only once it has said
//! `READY=1` (storage open, listener bound), not merely once the process exists; and with
//! `WatchdogSec=` it restarts a hookd whose runtime has wedged. See `systemd/hookd.service`.
//!
//! Everything here is a silent no-op when `NOTIFY_SOCKET` is unset (not under systemd, or a
//! unit without `Type=notify`), so the daemon calls these unconditionally. Failures to send
//! are logged, never fatal: a daemon that delivers webhooks but cannot talk to systemd is
//! still better than one that exits.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tell systemd start-up is complete: call once the API listener is bound and storage is open.
pub fn notify_ready() {
    send(&[NotifyState::Ready], "READY=1");
}

/// Tell systemd a graceful stop has begun (on SIGTERM/SIGINT), before draining in-flight
/// attempts, so `systemctl status` shows "deactivating" rather than a hung "active".
pub fn notify_stopping() {
    send(&[NotifyState::Stopping], "STOPPING=1");
}

/// Start pinging the watchdog, if systemd asked for one (`WatchdogSec=` in the unit).
///
/// Pings `WATCHDOG=1` every half of the interval systemd gave (`WATCHDOG_USEC`), the margin
/// `sd_watchdog_enabled(3)` recommends. Returns `None`, doing nothing, when `NOTIFY_SOCKET` is
/// unset, when no watchdog is configured for this process, or when called outside a tokio
/// runtime (logged: that is a wiring mistake).
///
/// Why a tokio task rather than a thread: the ping then proves the runtime that runs the
/// API and the delivery workers still schedules tasks; a thread would keep pinging while
/// the runtime itself is stuck, which is exactly the hang the watchdog exists to catch.
/// Abort the returned handle on shutdown, or let it die with the runtime.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    std::env::var_os("NOTIFY_SOCKET")?;
    let mut usec = 0u64;
    // `false`: keep WATCHDOG_USEC/PID in the environment; nothing else reads them and
    // unsetting process-global env from a library is a footgun.
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return None;
    }
    // Half the interval, but never a busy loop should systemd pass something tiny.
    let period = Duration::from_micros(usec / 2).max(Duration::from_millis(10));
    let runtime = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime,
        Err(_) => {
            tracing::warn!("systemd watchdog requested but no tokio runtime; not pinging");
            return None;
        }
    };
    tracing::debug!(
        period_ms = period.as_millis() as u64,
        "systemd watchdog enabled"
    );
    Some(runtime.spawn(async move {
        let mut ticker = tokio::time::interval(period);
        // After a stall, ping once and carry on: a burst of catch-up pings would hide it.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut warned = false;
        loop {
            ticker.tick().await;
            match sd_notify::notify(false, &[NotifyState::Watchdog]) {
                Ok(()) => warned = false,
                // Warn once per run of failures, not every tick.
                Err(e) if !warned => {
                    tracing::warn!(error = %e, "cannot ping the systemd watchdog");
                    warned = true;
                }
                Err(_) => {}
            }
        }
    }))
}

/// Send `states`; `what` names them in the log line should that fail.
fn send(states: &[NotifyState], what: &str) {
    // `false`: keep NOTIFY_SOCKET, later notifications (STOPPING, WATCHDOG) need it.
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, state = what, "cannot notify systemd");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::net::UnixDatagram;
    use std::sync::{Mutex, MutexGuard, PoisonError};

    /// The environment is process-global and tests run on parallel threads: every test that
    /// sets these variables holds this lock, and [`EnvGuard`] restores them afterwards.
    static ENV_LOCK: Mutex<()> = Mutex::new(());

    const VARS: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

    struct EnvGuard {
        saved: Vec<(&'static str, Option<OsString>)>,
        _lock: MutexGuard<'static, ()>,
    }

    impl EnvGuard {
        fn take() -> EnvGuard {
            let lock = ENV_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
            let saved = VARS.iter().map(|v| (*v, std::env::var_os(v))).collect();
            for v in VARS {
                std::env::remove_var(v);
            }
            EnvGuard { saved, _lock: lock }
        }
    }

    impl Drop for EnvGuard {
        fn drop(&mut self) {
            for (var, value) in &self.saved {
                match value {
                    Some(value) => std::env::set_var(var, value),
                    None => std::env::remove_var(var),
                }
            }
        }
    }

    /// A bound datagram socket standing in for systemd's notify socket.
    fn fake_systemd() -> (tempfile::TempDir, UnixDatagram) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        (dir, socket)
    }

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn ready_and_stopping_reach_the_notify_socket() {
        let _env = EnvGuard::take();
        let (_dir, socket) = fake_systemd();
        notify_ready();
        assert_eq!(receive(&socket), "READY=1\n");
        notify_stopping();
        assert_eq!(receive(&socket), "STOPPING=1\n");
    }

    #[test]
    fn without_notify_socket_nothing_happens() {
        let _env = EnvGuard::take();
        std::env::set_var("WATCHDOG_USEC", "1000000");
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        notify_ready(); // must not fail or panic
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        assert!(rt.block_on(async { spawn_watchdog() }).is_none());
    }

    #[test]
    fn watchdog_pings_at_half_the_interval() {
        let _env = EnvGuard::take();
        let (_dir, socket) = fake_systemd();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();

        // A watchdog meant for another process is not ours to answer.
        std::env::set_var("WATCHDOG_USEC", "200000");
        std::env::set_var("WATCHDOG_PID", "1");
        assert!(rt.block_on(async { spawn_watchdog() }).is_none());

        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        rt.block_on(async {
            let task = spawn_watchdog().expect("watchdog requested");
            // 350 ms at a 100 ms period: the immediate ping plus about three more.
            tokio::time::sleep(Duration::from_millis(350)).await;
            task.abort();
        });
        socket.set_nonblocking(true).unwrap();
        let mut count = 0;
        let mut buf = [0u8; 64];
        while let Ok(n) = socket.recv(&mut buf) {
            assert_eq!(&buf[..n], b"WATCHDOG=1\n");
            count += 1;
        }
        assert!((2..=6).contains(&count), "{count} pings in 350 ms");
    }
}

//! Engine failures that must stop the process.
//!
//! Why: a panic in a tokio task ends only that task. When that task is the scheduler, the
//! API goes on answering 202 while nothing is delivered any more, a daemon alive but
//! headless. Instead the failure is raised here, the daemon shuts down and exits non-zero,
//! and the service manager (systemd `Restart=`) starts a fresh process, which recovers every
//! open delivery from storage.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::task::{JoinError, JoinHandle};

/// The first reason the engine can no longer work, once raised.
#[derive(Default)]
pub struct Failure {
    reason: Mutex<Option<String>>,
    raised: Notify,
    /// Set at an orderly shutdown: tasks ending from then on are expected to.
    stopping: AtomicBool,
}

impl Failure {
    /// Record `reason` (the first one wins) and wake [`Failure::wait`].
    pub fn raise(&self, reason: String) {
        tracing::error!(%reason, "delivery engine failure: hookd will exit");
        let mut slot = self.lock();
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.raised.notify_one();
    }

    /// Resolves with the reason once a failure was raised.
    pub async fn wait(&self) -> String {
        loop {
            if let Some(reason) = self.lock().clone() {
                return reason;
            }
            self.raised.notified().await;
        }
    }

    /// The reason, if a failure was raised.
    pub fn reason(&self) -> Option<String> {
        self.lock().clone()
    }

    /// An orderly shutdown began.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // One plain Option, written whole: a panic elsewhere cannot leave it torn.
        self.reason.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Watch a task that should run until shutdown: if it panics, or ends before an orderly
/// shutdown began, raise a failure naming it.
pub fn supervise(name: &'static str, task: JoinHandle<()>, failure: Arc<Failure>) {
    tokio::spawn(async move {
        let result = task.await;
        let panicked = matches!(&result, Err(e) if e.is_panic());
        if failure.stopping.load(Ordering::Relaxed) && !panicked {
            return;
        }
        failure.raise(describe(name, result));
    });
}

/// A sentence about how a task ended.
pub fn describe(name: &str, result: Result<(), JoinError>) -> String {
    match result {
        Ok(()) => format!("the {name} stopped unexpectedly"),
        Err(e) if e.is_panic() => {
            format!("the {name} panicked: {}", panic_message(e.into_panic()))
        }
        Err(_) => format!("the {name} was cancelled"),
    }
}

/// The message of a panic payload (`panic!` with a literal or a formatted string).
pub fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "(no message)".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_panicked_task_raises_a_failure_naming_it() {
        let failure = Arc::new(Failure::default());
        supervise(
            "delivery scheduler",
            tokio::spawn(async { panic!("invalid deadline") }),
            failure.clone(),
        );
        let reason = tokio::time::timeout(Duration::from_secs(5), failure.wait())
            .await
            .expect("the failure is raised");
        assert_eq!(reason, "the delivery scheduler panicked: invalid deadline");
    }

    #[tokio::test]
    async fn a_task_ending_early_is_a_failure_but_not_after_shutdown_began() {
        let failure = Arc::new(Failure::default());
        supervise("retention sweep", tokio::spawn(async {}), failure.clone());
        let reason = tokio::time::timeout(Duration::from_secs(5), failure.wait())
            .await
            .expect("the failure is raised");
        assert_eq!(reason, "the retention sweep stopped unexpectedly");

        let failure = Arc::new(Failure::default());
        failure.stopping();
        supervise(
            "delivery scheduler",
            tokio::spawn(async {}),
            failure.clone(),
        );
        let waited = tokio::time::timeout(Duration::from_millis(200), failure.wait()).await;
        assert!(waited.is_err(), "an orderly end is not a failure");
    }
}

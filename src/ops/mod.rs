//! Operations: what the daemon exposes to the people and machines that run it.
//!
//! - [`metrics`]: the Prometheus series of `GET /metrics` and the typed
//!   helpers every layer records through;
//! - [`fdlimit`]: raising the file-descriptor soft limit at start;
//! - [`systemd`]: `Type=notify` readiness, stop notification and watchdog pings;
//! - [`alloc`]: handing memory freed by a burst of work back to the OS once hookd is quiet.
//!
//! Why a leaf module: these are process-wide side channels that the API, inbound and
//! delivery layers all report into; keeping them free of imports from those layers means
//! any of them can call in without creating cycles.

pub mod alloc;
pub mod fdlimit;
pub mod metrics;
pub mod systemd;

//! The harness shared by the integration tests: `mod common;` then `use common::*;`.
//!
//! - [`daemon`]: `TestDaemon`, the real `hookd` binary on a temp data dir.
//! - [`api`]: `Api`, a blocking JSON client, `create_tenant`, `wait_until`.
//! - [`receiver`]: `TestReceiver`, an HTTPS/HTTP webhook receiver with scripted replies, and
//!   independent signature checks (`verify_standard`, `verify_hex`).
//! - [`jobs`]: numbered `job.created` events, their webhooks, order and delivery log.
//! - [`smtp`]: `SmtpSink`, a loopback SMTP server (aiosmtpd) storing what it receives.
//! - [`https`]: `HttpsClient`, a blocking rustls client trusting only the test CA.
//! - [`slow_proxy`]: `SlowProxy`, a TCP proxy that holds each connection for a while.

// Each test binary uses a subset of the harness.
#![allow(dead_code)]
#![allow(unused_imports)]

/// A one-type catalog (`job.created`) for tests that subscribe to `job.*`.
pub const JOB_CATALOG: &str = r#"
[[event_types]]
name = "job.created"
category = "Job"
"#;

pub mod api;
pub mod daemon;
pub mod https;
pub mod jobs;
pub mod receiver;
pub mod slow_proxy;
pub mod smtp;

pub use api::{create_tenant, new_webhook, wait_until, Api, Resp};
pub use daemon::{StartError, TestDaemon, TestDaemonBuilder};
pub use https::{Alpn, HttpsClient, HttpsResponse};
pub use jobs::{all_deliveries, job_daemon, job_sequence, job_webhook, publish_jobs};
pub use receiver::{test_pki, verify_hex, verify_standard, Received, Reply, TestReceiver};
pub use slow_proxy::SlowProxy;

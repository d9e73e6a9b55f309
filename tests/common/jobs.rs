//! Helpers for tests that publish numbered `job.created` events (the [`JOB_CATALOG`]) and
//! look at the order and fate of their deliveries.

use serde_json::{json, Value};

use super::api::{new_webhook, Api};
use super::daemon::{TestDaemon, TestDaemonBuilder};
use super::receiver::TestReceiver;
use super::JOB_CATALOG;

/// A daemon with the `job.*` catalog that may deliver to `rx`; add config, then `start()`.
pub fn job_daemon(rx: &TestReceiver) -> TestDaemonBuilder {
    TestDaemon::builder()
        .config_extra(JOB_CATALOG)
        .delivering_to(rx)
}

/// A webhook subscribed to `job.*` (`extra`: more fields of the create body); its id.
pub fn job_webhook(api: &Api, url: &str, extra: Value) -> String {
    new_webhook(api, url, json!(["job.*"]), extra).0
}

/// Publish events `job.created` with `n = 1..=count`; their event ids, in order.
pub fn publish_jobs(api: &Api, count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| {
            let r = api.post(
                "/api/events",
                json!({"type": "job.created", "data": {"n": i}}),
            );
            r.expect_status(202);
            r.str("id").to_string()
        })
        .collect()
}

/// The `data.object.n` of each request received on `path`, in arrival order.
pub fn job_sequence(rx: &TestReceiver, path: &str) -> Vec<u64> {
    rx.received_on(path)
        .iter()
        .map(|r| r.json()["data"]["object"]["n"].as_u64().unwrap_or(0))
        .collect()
}

/// Every delivery of a webhook's log (all pages); `filter` is appended to the query
/// (`&status=failed`).
pub fn all_deliveries(api: &Api, wh: &str, filter: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = api.get(&format!(
            "/api/webhooks/{wh}/deliveries?limit=250{filter}{cursor}"
        ));
        r.expect_status(200);
        out.extend(r.json["data"].as_array().cloned().unwrap_or_default());
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

//! Shared test fixtures of the delivery module: a store in a temp dir, webhooks, events.

use std::sync::Arc;

use crate::config::Config;
use crate::model::{Breaker, Event, PayloadFormat, Webhook, WebhookStatus};
use crate::store::Store;

/// A store in a fresh temp dir (kept alive by the returned guard).
pub(crate) fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), 8, std::time::Duration::ZERO).expect("open store");
    (dir, store)
}

/// An active webhook of `tenant` subscribed to everything, at a closed loopback port
/// (the default network policy refuses it: every attempt fails fast, without a network).
pub(crate) fn webhook(id: &str, tenant: &str) -> Webhook {
    Webhook {
        id: id.into(),
        tenant_id: tenant.into(),
        name: "n".into(),
        description: String::new(),
        url: format!("https://127.0.0.1:9/{id}"),
        events: vec!["*".into()],
        method: "POST".into(),
        headers: Default::default(),
        status: WebhookStatus::Active,
        ordered: false,
        rate_limit_per_sec: 1000,
        timeout_secs: None,
        retry_schedule_secs: None,
        payload_format: PayloadFormat::Envelope,
        consecutive_failures: 0,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        previous_secrets: vec![],
        failing_since: None,
        disabled_reason: None,
        breaker: Breaker::default(),
        created_at: 0,
        updated_at: 0,
    }
}

/// A new event of `tenant` created now.
pub(crate) fn event(tenant: &str) -> Event {
    Event {
        id: crate::model::new_id(crate::model::IdKind::Event),
        tenant_id: tenant.into(),
        event_type: "job.created".into(),
        data: "{}".into(),
        actor: None,
        created_at: crate::model::now_ms(),
    }
}

/// The default config with one retry a minute later and no breaker in the way (every
/// attempt of [`webhook`] fails).
pub(crate) fn config() -> Arc<Config> {
    let mut c = Config::default();
    c.delivery.retry_schedule_secs = vec![60.0];
    c.delivery.failing_after_consecutive_failures = u32::MAX;
    Arc::new(c)
}

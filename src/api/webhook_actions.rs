//! Actions on one webhook: rotate its secret with a grace period, send a test event,
//! retry one delivery and replay a window.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;

use super::auth::Principal;
use super::body::{json_response, optional_json};
use super::error::ApiError;
use super::router::admin_tenant;
use super::AppState;
use crate::delivery::ReplayScope;
use crate::model::{
    new_id, now_ms, parse_rfc3339_ms, subscription_matches, Event, IdKind, Trigger, Webhook,
};
use crate::signing::new_secret;

type Resp = Result<Response<Full<Bytes>>, ApiError>;

fn load(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Result<Webhook, ApiError> {
    let tenant = admin_tenant(state, p, parts)?;
    state
        .store
        .get_webhook(&tenant, id)?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateInput {
    grace_secs: Option<f64>,
}

/// A new secret; the old one keeps signing beside it for `grace_secs` (default 86400).
pub async fn rotate_secret(
    state: &AppState,
    p: &Principal,
    parts: &Parts,
    body: &Bytes,
    id: &str,
) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let input: RotateInput = optional_json(&parts.headers, body)?;
    let grace = input.grace_secs.unwrap_or(86400.0);
    if !(grace.is_finite() && (0.0..=30.0 * 86400.0).contains(&grace)) {
        return Err(ApiError::unprocessable(
            "invalid_grace",
            "grace_secs",
            "`grace_secs` must be between 0 and 2592000",
        ));
    }
    let now = now_ms();
    let secret = new_secret();
    let wh = state
        .store
        .modify_webhook(&tenant, id, |wh| {
            let old = std::mem::replace(&mut wh.secret, secret);
            wh.previous_secrets.retain(|(_, until)| *until > now);
            if grace > 0.0 {
                wh.previous_secrets
                    .push((old, now.saturating_add((grace * 1000.0) as u64)));
            }
            wh.updated_at = now.max(wh.updated_at.saturating_add(1));
            Ok::<(), ApiError>(())
        })
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    state.delivery.webhook_changed(&wh.id);
    tracing::info!(webhook = %wh.id, grace_secs = grace, "secret rotated");
    Ok(json_response(StatusCode::OK, &json!({"secret": wh.secret})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestInput {
    event_type: Option<String>,
}

/// Send the catalog sample now and answer with the attempt (200 also when the receiver
/// failed: `success` says it). The send is recorded in the delivery log as a delivery with
/// `trigger: test` (with its event, so both are purged with the retention window), which is
/// never retried and counts in neither health nor statistics.
pub async fn test(state: &AppState, p: &Principal, parts: &Parts, body: &Bytes, id: &str) -> Resp {
    let wh = load(state, p, parts, id)?;
    let input: TestInput = optional_json(&parts.headers, body)?;
    let catalog = state.store.list_event_types()?;
    let et = match &input.event_type {
        Some(name) => catalog.iter().find(|e| &e.name == name).ok_or_else(|| {
            ApiError::unprocessable("unknown_event_type", "event_type", format!("event type `{name}` is not in the catalog"))
        })?,
        None => catalog
            .iter()
            .find(|e| wh.events.iter().any(|pat| subscription_matches(pat, &e.name)))
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_event_type",
                    "event_type",
                    "no catalog event type matches this webhook's subscriptions; name one in `event_type`",
                )
            })?,
    };
    let event = Event {
        id: new_id(IdKind::Event),
        tenant_id: wh.tenant_id.clone(),
        event_type: et.name.clone(),
        data: et.sample.clone(),
        actor: None,
        created_at: now_ms(),
    };
    let d = crate::delivery::attempt::send_test(state.delivery.context(), &wh, &event).await;
    // Recorded without waiting for the disk: the answer is due within the timeout, and a
    // test send lost in a crash is only a log line lost.
    match state
        .store
        .ingest_nowait(&event, std::slice::from_ref(&d), None)
    {
        Ok(_) => state.store.request_commit(),
        Err(e) => tracing::error!(webhook = %wh.id, error = %e, "cannot record a test send"),
    }
    let Some(a) = d.attempts.last() else {
        return Err(ApiError::internal("a test send without its attempt"));
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": a.succeeded(),
            "status_code": a.status_code,
            "duration_ms": a.duration_ms,
            "response_body": a.response_body,
            "error": a.error,
            "event_type": event.event_type,
            "event_id": event.id,
            "delivery_id": d.id,
        }),
    ))
}

pub async fn retry(state: &AppState, p: &Principal, parts: &Parts, id: &str, dlv: &str) -> Resp {
    let wh = load(state, p, parts, id)?;
    let d = match state.store.get_delivery(dlv)? {
        Some(d) if d.webhook_id == wh.id => d,
        _ => return Err(ApiError::not_found("delivery")),
    };
    if d.trigger == Trigger::Test {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "test_delivery",
            "a test send is not retried; send another test",
        ));
    }
    if wh.status == crate::model::WebhookStatus::Disabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "webhook_disabled",
            "the webhook is disabled; set its status to active first",
        ));
    }
    if state.delivery.retry(&wh, dlv).await?.is_none() {
        return Err(ApiError::not_found("delivery"));
    }
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({"id": dlv, "status": "retrying"}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReplayInput {
    since: Option<String>,
    until: Option<String>,
    status: Option<String>,
}

/// Bulk retry (`failed`) or replay (`all`) of a window, plus the window's events that
/// never got a delivery to this webhook (e.g. while it was disabled).
pub async fn replay(
    state: &AppState,
    p: &Principal,
    parts: &Parts,
    body: &Bytes,
    id: &str,
) -> Resp {
    let wh = load(state, p, parts, id)?;
    if wh.status == crate::model::WebhookStatus::Disabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "webhook_disabled",
            "the webhook is disabled; set its status to active first",
        ));
    }
    let input: ReplayInput = optional_json(&parts.headers, body)?;
    let time = |v: &Option<String>, field: &'static str, default: u64| match v {
        None => Ok(default),
        Some(s) => parse_rfc3339_ms(s).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_time",
                field,
                format!("`{field}` must be an RFC 3339 time, not `{s}`"),
            )
        }),
    };
    let now = now_ms();
    let since = time(
        &input.since,
        "since",
        now.saturating_sub(state.config.retention_ms()),
    )?;
    let until = time(&input.until, "until", now)?;
    let scope = match input.status.as_deref() {
        None | Some("failed") => ReplayScope::Failed,
        Some("all") => ReplayScope::All,
        Some(other) => {
            return Err(ApiError::unprocessable(
                "invalid_status",
                "status",
                format!("`status` must be `failed` or `all`, not `{other}`"),
            ))
        }
    };
    let count = state.delivery.replay(&wh, since, until, scope).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({"count": count}),
    ))
}

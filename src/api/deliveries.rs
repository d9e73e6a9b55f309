//! The delivery log: `GET /api/webhooks/{id}/deliveries[/{delivery_id}]`.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use super::auth::Principal;
use super::body::json_response;
use super::error::ApiError;
use super::router::admin_tenant;
use super::{query, AppState};
use crate::model::{format_ms, Attempt, Delivery, DeliveryStatus, Event};
use crate::store::DeliveryFilter;

type Resp = Result<Response<Full<Bytes>>, ApiError>;

fn attempt_json(a: &Attempt) -> serde_json::Value {
    json!({
        "attempt": a.attempt,
        "status_code": a.status_code,
        "duration_ms": a.duration_ms,
        "error": a.error,
        "response_body": a.response_body,
        "attempted_at": format_ms(a.attempted_at),
    })
}

/// The full form, with request and attempts. `event` is the delivery's event, from which
/// the logged request body is rebuilt (see `RequestLog`).
pub fn delivery_json(d: &Delivery, event: Option<&Event>) -> serde_json::Value {
    let mut v = delivery_summary_json(d);
    let headers: serde_json::Map<String, serde_json::Value> = d
        .request
        .as_ref()
        .map(|r| {
            r.headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect()
        })
        .unwrap_or_default();
    v["request"] = match &d.request {
        Some(r) => {
            let body = match (r.body_format, event) {
                (Some(format), Some(e)) => crate::delivery::payload::capture(
                    &crate::delivery::payload::body(e, format),
                    crate::delivery::payload::REQUEST_LOG_CAP,
                ),
                _ => r.body.clone(),
            };
            json!({"headers": headers, "body": body})
        }
        None => serde_json::Value::Null,
    };
    v["attempts"] = d.attempts.iter().map(attempt_json).collect();
    v
}

/// Without request and attempts' bodies: for lists.
pub fn delivery_summary_json(d: &Delivery) -> serde_json::Value {
    json!({
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status.as_str(),
        "created_at": format_ms(d.created_at),
        "next_attempt_at": d.next_attempt_at.map(format_ms),
        "attempt_count": d.attempts.len(),
        "trigger": d.trigger.as_str(),
    })
}

/// The webhook must be this tenant's; 404 otherwise.
fn check_webhook(state: &AppState, tenant: &str, id: &str) -> Result<(), ApiError> {
    match state.store.get_webhook(tenant, id)? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("webhook")),
    }
}

pub fn list(state: &AppState, p: &Principal, parts: &Parts, webhook_id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    check_webhook(state, &tenant, webhook_id)?;
    let q = query::pairs(parts.uri.query());
    let status = match query::get(&q, "status") {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("`status` must be pending, retrying, success or failed, not `{s}`"),
            )
            .with_field("status")
        })?),
    };
    let filter = DeliveryFilter {
        status,
        event_type: query::get(&q, "event_type").map(str::to_string),
        since_ms: query::time(&q, "since")?,
        until_ms: query::time(&q, "until")?,
    };
    let limit = query::limit(&q)?;
    let (page, next) = state.store.list_webhook_deliveries(
        webhook_id,
        &filter,
        query::get(&q, "cursor"),
        limit,
    )?;
    let mut data = Vec::with_capacity(page.len());
    for d in &page {
        let event = state.store.get_event_any(&d.event_id)?;
        data.push(delivery_json(d, event.as_ref()));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": data, "next_cursor": next}),
    ))
}

pub fn get(state: &AppState, p: &Principal, parts: &Parts, webhook_id: &str, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    check_webhook(state, &tenant, webhook_id)?;
    match state.store.get_delivery(id)? {
        Some(d) if d.webhook_id == webhook_id && d.tenant_id == tenant => {
            let event = state.store.get_event_any(&d.event_id)?;
            Ok(json_response(
                StatusCode::OK,
                &delivery_json(&d, event.as_ref()),
            ))
        }
        _ => Err(ApiError::not_found("delivery")),
    }
}

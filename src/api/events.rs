//! `POST /api/events` (publish) and `GET /api/events/{id}` (an event with its deliveries).
//!
//! Publishing is the hot path: auth, rate limit, parse, then `delivery::Engine::publish`
//! (fan-out against the in-memory webhook cache, one atomic batch, one shared group
//! commit, scheduled), 202. The publisher never waits on a receiver.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;

use super::auth::{tenant_scope, Need, Principal};
use super::body::{compact_json, json_response, parse_json, require_json_content_type};
use super::deliveries::delivery_summary_json;
use super::error::ApiError;
use super::AppState;
use crate::delivery::Published;
use crate::model::{format_ms, new_id, now_ms, Event, IdKind, OPERATIONAL_EVENT_TYPES};
use crate::store::Dedup;

type Resp = Result<Response<Full<Bytes>>, ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishInput {
    #[serde(rename = "type")]
    event_type: String,
    /// Kept as the text sent (checked to be JSON): stored and delivered as sent, keys in
    /// the sender's order and numbers as written, without a tree built and written out
    /// again per event.
    data: Box<serde_json::value::RawValue>,
    /// `null` reads as absent.
    #[serde(default)]
    actor: Option<Box<serde_json::value::RawValue>>,
}

/// Whether a JSON text (valid JSON) is an object.
fn is_object(raw: &serde_json::value::RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

/// `Idempotency-Key`: 1–255 visible ASCII characters.
fn idempotency_key(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(v) = parts.headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "`Idempotency-Key` must be 1 to 255 visible ASCII characters",
        )
        .with_field("Idempotency-Key")),
    }
}

pub async fn publish(state: &AppState, p: &Principal, parts: &Parts, body: &Bytes) -> Resp {
    let tenant = tenant_scope(state, p, &parts.headers, Need::Publish)?;
    let decision = state.ingest_limiter.check(&tenant);
    let with_headers = |mut resp: Response<Full<Bytes>>| {
        for (k, v) in &decision.headers {
            if let Ok(v) = http::HeaderValue::from_str(v) {
                resp.headers_mut().insert(*k, v);
            }
        }
        resp
    };
    if !decision.allowed {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this tenant is publishing faster than its ingest limit; retry after `Retry-After` seconds",
        );
        e.headers = decision.headers.clone();
        return Err(e);
    }
    let result = publish_inner(state, &tenant, parts, body).await;
    match result {
        Ok(resp) => Ok(with_headers(resp)),
        Err(e) => Ok(with_headers(e.into_response())),
    }
}

async fn publish_inner(state: &AppState, tenant: &str, parts: &Parts, body: &Bytes) -> Resp {
    require_json_content_type(&parts.headers)?;
    let idem = idempotency_key(parts)?;
    let input: PublishInput = parse_json(body)?;
    if !state.store.has_event_type(&input.event_type) {
        return Err(ApiError::unprocessable(
            "unknown_event_type",
            "type",
            format!(
                "event type `{}` is not in the catalog (GET /api/event-types lists it)",
                input.event_type
            ),
        ));
    }
    if OPERATIONAL_EVENT_TYPES
        .iter()
        .any(|(n, _, _)| *n == input.event_type)
    {
        return Err(ApiError::unprocessable(
            "reserved_event_type",
            "type",
            format!(
                "`{}` is raised by hookd itself and cannot be published",
                input.event_type
            ),
        ));
    }
    if !is_object(&input.data) {
        return Err(ApiError::unprocessable(
            "invalid_data",
            "data",
            "`data` must be a JSON object",
        ));
    }
    if input.actor.as_deref().is_some_and(|a| !is_object(a)) {
        return Err(ApiError::unprocessable(
            "invalid_actor",
            "actor",
            "`actor` must be a JSON object",
        ));
    }
    let now = now_ms();
    let event = Event {
        id: new_id(IdKind::Event),
        tenant_id: tenant.to_string(),
        event_type: input.event_type,
        data: compact_json(input.data.get()),
        actor: input.actor.map(|a| compact_json(a.get())),
        created_at: now,
    };
    let dedup = idem.as_deref().map(Dedup::Idempotency);
    match state.delivery.publish(event, dedup).await? {
        Published::Created {
            event_id,
            deliveries,
        } => Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({"id": event_id, "deliveries": deliveries}),
        )),
        Published::Duplicate {
            event_id,
            deliveries,
        } => Ok(json_response(
            StatusCode::OK,
            &json!({"id": event_id, "deliveries": deliveries}),
        )),
    }
}

pub fn get(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = tenant_scope(state, p, &parts.headers, Need::Admin)?;
    let event = state
        .store
        .get_event(&tenant, id)?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let deliveries: Vec<_> = state
        .store
        .event_deliveries(&event.id)?
        .iter()
        .map(delivery_summary_json)
        .collect();
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or(json!({}));
    let actor: Option<serde_json::Value> = event
        .actor
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok());
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": event.id,
            "type": event.event_type,
            "created_at": format_ms(event.created_at),
            "data": data,
            "actor": actor,
            "deliveries": deliveries,
        }),
    ))
}

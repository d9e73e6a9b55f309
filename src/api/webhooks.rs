//! `/api/webhooks`: a tenant's subscriptions.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use super::auth::Principal;
use super::body::{json_response, no_content, read_json};
use super::error::ApiError;
use super::router::admin_tenant;
use super::webhook_input::{apply, validate, WebhookInput};
use super::{query, AppState};
use crate::config::Config;
use crate::model::{
    format_ms, new_id, now_ms, Breaker, IdKind, PayloadFormat, Webhook, WebhookStatus,
};
use crate::signing::{decode_secret, new_secret};

type Resp = Result<Response<Full<Bytes>>, ApiError>;

/// The public JSON form (no secret; effective timeout and schedule).
pub fn webhook_json(wh: &Webhook, config: &Config) -> serde_json::Value {
    json!({
        "id": wh.id,
        "name": wh.name,
        "description": wh.description,
        "url": wh.url,
        "events": wh.events,
        "method": wh.method,
        "headers": wh.headers,
        "status": wh.status.as_str(),
        "ordered": wh.ordered,
        "rate_limit_per_sec": wh.rate_limit_per_sec,
        "timeout_secs": seconds(wh.timeout_secs.unwrap_or(config.delivery.timeout_secs)),
        "retry_schedule_secs": wh
            .retry_schedule_secs
            .as_ref()
            .unwrap_or(&config.delivery.retry_schedule_secs)
            .iter()
            .map(|s| seconds(*s))
            .collect::<Vec<_>>(),
        "payload_format": wh.payload_format.as_str(),
        "consecutive_failures": wh.consecutive_failures,
        "breaker": {
            "state": wh.breaker.state.as_str(),
            "next_probe_at": wh.breaker.next_probe_at.map(format_ms),
        },
        "disabled_reason": wh.disabled_reason,
        "created_at": format_ms(wh.created_at),
        "updated_at": format_ms(wh.updated_at),
    })
}

/// Seconds as the contract writes them: `30`, not `30.0`; fractions (allowed, e.g. in tests'
/// short schedules) stay as they are.
fn seconds(s: f64) -> serde_json::Value {
    if s.fract() == 0.0 && (0.0..=9.0e15).contains(&s) {
        json!(s as u64)
    } else {
        json!(s)
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("webhook")
}

pub fn list(state: &AppState, p: &Principal, parts: &Parts) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let q = query::pairs(parts.uri.query());
    let limit = query::limit(&q)?;
    let (page, next) = state
        .store
        .list_webhooks(&tenant, query::get(&q, "cursor"), limit);
    let data: Vec<_> = page
        .iter()
        .map(|w| webhook_json(w, &state.config))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": data, "next_cursor": next}),
    ))
}

pub async fn create(state: &AppState, p: &Principal, parts: &Parts, body: &Bytes) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let max = state.config.delivery.max_webhooks_per_tenant;
    // Checked first, before any network probe. Two creates racing at the limit may both
    // pass this count; the overshoot is bounded by the concurrent requests of one tenant.
    if state.store.tenant_webhooks(&tenant).len() >= max {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
            format!(
                "this tenant already has the maximum of {max} webhooks \
                 (delivery.max_webhooks_per_tenant); delete one first"
            ),
        ));
    }
    let mut input: WebhookInput = read_json(&parts.headers, body)?;
    let verify = input.verify.unwrap_or(true);
    let secret = match input.secret.take() {
        Some(s) => {
            if decode_secret(&s).is_none_or(|key| key.len() < 24) {
                return Err(ApiError::unprocessable(
                    "invalid_secret",
                    "secret",
                    "`secret` must be `whsec_` followed by the base64 of at least 24 bytes (or leave it out to get a new one)",
                ));
            }
            s
        }
        None => new_secret(),
    };
    let now = now_ms();
    let mut wh = Webhook {
        id: new_id(IdKind::Webhook),
        tenant_id: tenant,
        name: String::new(),
        description: String::new(),
        url: String::new(),
        events: Vec::new(),
        method: "POST".into(),
        headers: Default::default(),
        status: WebhookStatus::Active,
        ordered: false,
        rate_limit_per_sec: state.config.delivery.default_rate_limit_per_sec,
        timeout_secs: None,
        retry_schedule_secs: None,
        payload_format: PayloadFormat::Envelope,
        consecutive_failures: 0,
        secret,
        previous_secrets: Vec::new(),
        failing_since: None,
        disabled_reason: None,
        breaker: Breaker::default(),
        created_at: now,
        updated_at: now,
    };
    apply(&mut wh, input, true, &state.config)?;
    let url = validate(&mut wh, &state.config, &state.store)?;
    if state
        .store
        .tenant_webhooks(&wh.tenant_id)
        .iter()
        .any(|w| w.url == wh.url)
    {
        // Checked before the network round trip; the store re-checks atomically.
        return Err(crate::store::StoreError::Conflict(format!(
            "a webhook with the URL {} already exists in this tenant",
            wh.url
        ))
        .into());
    }
    if verify {
        check_reachable(state, &url).await?;
    }
    state.store.create_webhook(&wh).await?;
    tracing::info!(webhook = %wh.id, tenant = %wh.tenant_id, host = url.host_str().unwrap_or(""), "webhook created");
    let mut out = webhook_json(&wh, &state.config);
    out["secret"] = json!(wh.secret);
    Ok(json_response(StatusCode::CREATED, &out))
}

async fn check_reachable(state: &AppState, url: &url::Url) -> Result<(), ApiError> {
    state.delivery.check_reachable(url).await.map_err(|m| {
        ApiError::unprocessable(
            "unreachable",
            "url",
            format!("{m} (send \"verify\": false to save it anyway)"),
        )
    })
}

pub fn get(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let wh = state
        .store
        .get_webhook(&tenant, id)?
        .ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &webhook_json(&wh, &state.config),
    ))
}

pub async fn update(
    state: &AppState,
    p: &Principal,
    parts: &Parts,
    body: &Bytes,
    id: &str,
    replace: bool,
) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let mut input: WebhookInput = read_json(&parts.headers, body)?;
    let current = state
        .store
        .get_webhook(&tenant, id)?
        .ok_or_else(not_found)?;
    if input.secret.take().is_some() {
        return Err(ApiError::unprocessable(
            "invalid_secret",
            "secret",
            "a secret cannot be set on update; POST /api/webhooks/{id}/secret/rotate makes a new one",
        ));
    }
    let verify = input.verify.unwrap_or(true);
    // Checked on the webhook as read now, so a bad request costs no network probe ...
    let mut preview = current.clone();
    apply(&mut preview, input.clone(), replace, &state.config)?;
    let url = validate(&mut preview, &state.config, &state.store)?;
    if verify && preview.url != current.url {
        check_reachable(state, &url).await?;
    }
    // ... then applied to the webhook as stored when written: a change made meanwhile (a
    // secret rotation, another edit, hookd's own) is kept, not reverted. The URL the
    // request sets is the one probed; one it does not set is not this request's to check.
    let now = now_ms();
    let wh = state
        .store
        .modify_webhook(&tenant, id, |wh| {
            apply(wh, input, replace, &state.config)?;
            validate(wh, &state.config, &state.store)?;
            wh.updated_at = now.max(wh.updated_at.saturating_add(1));
            Ok::<(), ApiError>(())
        })
        .await?
        .ok_or_else(not_found)?;
    state.delivery.webhook_changed(&wh.id);
    Ok(json_response(
        StatusCode::OK,
        &webhook_json(&wh, &state.config),
    ))
}

pub async fn delete(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    if state.store.delete_webhook(&tenant, id).await? {
        state.delivery.webhook_changed(id);
        tracing::info!(webhook = %id, "webhook deleted");
        Ok(no_content())
    } else {
        Err(not_found())
    }
}

pub fn secret(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let wh = state
        .store
        .get_webhook(&tenant, id)?
        .ok_or_else(not_found)?;
    Ok(json_response(StatusCode::OK, &json!({"secret": wh.secret})))
}

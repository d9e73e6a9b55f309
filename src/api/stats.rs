//! `GET /api/webhooks/{id}/stats`: a webhook's delivery figures over the last 24 hours
//! and 7 days, from the store's hourly buckets (never a scan of the delivery log).

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use super::auth::Principal;
use super::body::json_response;
use super::error::ApiError;
use super::router::admin_tenant;
use super::AppState;
use crate::model::{format_ms, now_ms, percentile_ms};
use crate::store::StatsBucket;

type Resp = Result<Response<Full<Bytes>>, ApiError>;

/// A share of two counts, rounded to four places; `null` when there is nothing to share.
fn ratio(part: u64, whole: u64) -> serde_json::Value {
    if whole == 0 {
        return serde_json::Value::Null;
    }
    json!(((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0)
}

/// One window: deliveries created in it by their current status; the attempts made in
/// it with their success share and duration percentiles.
fn window_json(b: &StatsBucket) -> serde_json::Value {
    let n = |c: i64| c.max(0) as u64;
    let (pending, retrying, success, failed) =
        (n(b.pending), n(b.retrying), n(b.success), n(b.failed));
    json!({
        "counts": {
            "pending": pending,
            "retrying": retrying,
            "success": success,
            "failed": failed,
        },
        "total": pending + retrying + success + failed,
        "success_rate": ratio(success, success + failed),
        "attempts": b.attempts,
        "attempt_success_rate": ratio(b.attempts_ok, b.attempts),
        "p50_ms": percentile_ms(&b.latency, 0.50),
        "p95_ms": percentile_ms(&b.latency, 0.95),
    })
}

pub fn get(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    if state.store.get_webhook(&tenant, id)?.is_none() {
        return Err(ApiError::not_found("webhook"));
    }
    let now = now_ms();
    let stats = state.store.webhook_stats(id, now)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "webhook_id": id,
            "generated_at": format_ms(now),
            "last_24h": window_json(&stats.last_24h),
            "last_7d": window_json(&stats.last_7d),
        }),
    ))
}

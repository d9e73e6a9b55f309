//! `/healthz`, `/readyz`, `/metrics`: no authentication, so a load balancer
//! or Prometheus can call them.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::body::json_response;
use super::AppState;

/// Alive: the process answers.
pub fn healthz() -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// Ready: storage open and accepting writes, and not shutting down.
pub fn readyz(state: &AppState) -> Response<Full<Bytes>> {
    if let Err(reason) = state.store.health() {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "storage_failed", "reason": reason}),
        )
    } else if state.is_shutting_down() {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "shutting_down"}),
        )
    } else {
        json_response(StatusCode::OK, &serde_json::json!({"status": "ready"}))
    }
}

/// Prometheus text.
pub async fn metrics(state: &AppState) -> Response<Full<Bytes>> {
    state.delivery.refresh_gauges().await;
    let mut text = state.metrics.render();
    if state.config.server.metrics_per_webhook {
        text.push_str(&state.delivery.per_webhook_metrics());
    }
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

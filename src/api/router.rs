//! The router: method + path segments → handler. Hand-written (no framework): the route
//! table below is the whole API surface, readable in one screen.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::auth::{self, Principal};
use super::body::read_body;
use super::error::ApiError;
use super::{
    deliveries, event_types, events, health, sources, tenants, webhook_actions, webhooks, AppState,
};

type Resp = Result<Response<Full<Bytes>>, ApiError>;

/// Dispatch one request.
pub async fn route(state: &Arc<AppState>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["healthz"] => get_only(&parts.method).map(|_| health::healthz()),
        ["readyz"] => get_only(&parts.method).map(|_| health::readyz(state)),
        ["metrics"] => {
            get_only(&parts.method)?;
            Ok(health::metrics(state).await)
        }
        ["ingest", source_id] => {
            Ok(crate::inbound::handle(state.as_ref(), parts, body, source_id).await)
        }
        ["api", rest @ ..] => {
            let body = read_body(&parts.headers, body, state.config.max_payload_bytes()).await?;
            let principal = auth::authenticate(state, &parts.headers)?;
            api(state, &principal, &parts, &body, rest).await
        }
        _ => Err(unknown_route(&parts)),
    }
}

async fn api(
    state: &Arc<AppState>,
    p: &Principal,
    parts: &Parts,
    body: &Bytes,
    rest: &[&str],
) -> Resp {
    use Method as M;
    let m = parts.method.clone();
    match (&m, rest) {
        (&M::POST, ["tenants"]) => tenants::create(state, p, parts, body).await,
        (&M::GET, ["tenants"]) => tenants::list(state, p),
        (&M::GET, ["tenants", id]) => tenants::get(state, p, id),
        (&M::DELETE, ["tenants", id]) => tenants::delete(state, p, id).await,
        (&M::POST, ["tenants", id, "keys"]) => tenants::create_key(state, p, parts, body, id).await,
        (&M::GET, ["tenants", id, "keys"]) => tenants::list_keys(state, p, id),
        (&M::DELETE, ["tenants", id, "keys", key_id]) => {
            tenants::revoke_key(state, p, id, key_id).await
        }

        (&M::GET, ["event-types"]) => event_types::list(state),
        (&M::POST, ["event-types"]) => event_types::create(state, p, parts, body).await,
        (&M::GET, ["event-types", name]) => event_types::get(state, name),
        (&M::PUT, ["event-types", name]) => event_types::put(state, p, parts, body, name).await,
        (&M::DELETE, ["event-types", name]) => event_types::delete(state, p, name).await,

        (&M::GET, ["webhooks"]) => webhooks::list(state, p, parts),
        (&M::POST, ["webhooks"]) => webhooks::create(state, p, parts, body).await,
        (&M::GET, ["webhooks", id]) => webhooks::get(state, p, parts, id),
        (&M::PUT, ["webhooks", id]) => webhooks::update(state, p, parts, body, id, true).await,
        (&M::PATCH, ["webhooks", id]) => webhooks::update(state, p, parts, body, id, false).await,
        (&M::DELETE, ["webhooks", id]) => webhooks::delete(state, p, parts, id).await,
        (&M::GET, ["webhooks", id, "secret"]) => webhooks::secret(state, p, parts, id),
        (&M::POST, ["webhooks", id, "secret", "rotate"]) => {
            webhook_actions::rotate_secret(state, p, parts, body, id).await
        }
        (&M::POST, ["webhooks", id, "test"]) => {
            webhook_actions::test(state, p, parts, body, id).await
        }
        (&M::POST, ["webhooks", id, "replay"]) => {
            webhook_actions::replay(state, p, parts, body, id).await
        }
        (&M::POST, ["webhooks", id, "deliveries", dlv, "retry"]) => {
            webhook_actions::retry(state, p, parts, id, dlv).await
        }
        (&M::GET, ["webhooks", id, "deliveries"]) => deliveries::list(state, p, parts, id),
        (&M::GET, ["webhooks", id, "deliveries", dlv]) => deliveries::get(state, p, parts, id, dlv),

        (&M::POST, ["events"]) => events::publish(state, p, parts, body).await,
        (&M::GET, ["events", id]) => events::get(state, p, parts, id),

        (_, ["sources", rest @ ..]) => sources::route(state, p, parts, body, rest).await,

        _ => Err(unknown_route(parts)),
    }
}

fn get_only(m: &Method) -> Result<(), ApiError> {
    if m == Method::GET || m == Method::HEAD {
        Ok(())
    } else {
        Err(method_not_allowed(m, "GET"))
    }
}

fn method_not_allowed(m: &Method, allowed: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{m} is not allowed here; use {allowed}"),
    )
    .with_header("allow", allowed.to_string())
}

/// 405 with `Allow` when the path exists under other methods, 404 otherwise.
fn unknown_route(parts: &Parts) -> ApiError {
    let path = parts.uri.path();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let allowed = match segs.as_slice() {
        ["api", "tenants"] | ["api", "webhooks"] | ["api", "event-types"] => Some("GET, POST"),
        ["api", "tenants", _] => Some("GET, DELETE"),
        ["api", "tenants", _, "keys"] => Some("GET, POST"),
        ["api", "tenants", _, "keys", _] => Some("DELETE"),
        ["api", "event-types", _] => Some("GET, PUT, DELETE"),
        ["api", "webhooks", _] => Some("GET, PUT, PATCH, DELETE"),
        ["api", "webhooks", _, "secret"] => Some("GET"),
        ["api", "webhooks", _, "deliveries"] => Some("GET"),
        ["api", "webhooks", _, "deliveries", _] => Some("GET"),
        ["api", "webhooks", _, "secret", "rotate"]
        | ["api", "webhooks", _, "test"]
        | ["api", "webhooks", _, "replay"]
        | ["api", "webhooks", _, "deliveries", _, "retry"] => Some("POST"),
        ["api", "events"] => Some("POST"),
        ["api", "events", _] => Some("GET"),
        _ => None,
    };
    match allowed {
        Some(a) => method_not_allowed(&parts.method, a),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("no route for {} {path}", parts.method),
        ),
    }
}

/// The principal's tenant for an admin route (shared by the tenant-scoped handlers).
pub fn admin_tenant(state: &AppState, p: &Principal, parts: &Parts) -> Result<String, ApiError> {
    auth::tenant_scope(state, p, &parts.headers, auth::Need::Admin)
}

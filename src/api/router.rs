//! The router: method + path → handler. Hand-written (no framework): [`ROUTES`] is the
//! whole HTTP surface as data (a test walks it against the OpenAPI document), and
//! [`dispatch`] maps each [`RouteId`] to its handler with an exhaustive `match`.

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
    deliveries, event_types, events, health, openapi, own_tenant, portal, sources, stats, tenants,
    webhook_actions, webhooks, AppState,
};

type Resp = Result<Response<Full<Bytes>>, ApiError>;

/// One variant per (method, path pattern) of [`ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteId {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
    TenantCreate,
    TenantList,
    TenantGet,
    TenantDelete,
    KeyCreate,
    KeyList,
    KeyRevoke,
    OwnTenantGet,
    OwnTenantPatch,
    EventTypeList,
    EventTypeCreate,
    EventTypeGet,
    EventTypePut,
    EventTypeDelete,
    WebhookList,
    WebhookCreate,
    WebhookGet,
    WebhookPut,
    WebhookPatch,
    WebhookDelete,
    WebhookSecret,
    WebhookSecretRotate,
    WebhookTest,
    WebhookReplay,
    WebhookStats,
    DeliveryList,
    DeliveryGet,
    DeliveryRetry,
    EventPublish,
    EventGet,
    PortalLinkCreate,
    PortalSessionGet,
    PortalSessionDelete,
    SourceList,
    SourceCreate,
    SourceGet,
    SourcePut,
    SourcePatch,
    SourceDelete,
    SourceSecret,
    SourceRequests,
}

/// Every route. `{name}` in a pattern captures one path segment. Routes under `/api` need a
/// bearer key (checked before the route is looked up) unless [`RouteId::is_public`].
pub(crate) static ROUTES: &[(Method, &str, RouteId)] = {
    use Method as M;
    use RouteId as R;
    &[
        (M::GET, "/healthz", R::Healthz),
        (M::GET, "/readyz", R::Readyz),
        (M::GET, "/metrics", R::Metrics),
        (M::GET, "/api/openapi.json", R::OpenApi),
        (M::POST, "/api/tenants", R::TenantCreate),
        (M::GET, "/api/tenants", R::TenantList),
        (M::GET, "/api/tenants/{id}", R::TenantGet),
        (M::DELETE, "/api/tenants/{id}", R::TenantDelete),
        (M::POST, "/api/tenants/{id}/keys", R::KeyCreate),
        (M::GET, "/api/tenants/{id}/keys", R::KeyList),
        (M::DELETE, "/api/tenants/{id}/keys/{key_id}", R::KeyRevoke),
        (M::GET, "/api/tenant", R::OwnTenantGet),
        (M::PATCH, "/api/tenant", R::OwnTenantPatch),
        (M::GET, "/api/event-types", R::EventTypeList),
        (M::POST, "/api/event-types", R::EventTypeCreate),
        (M::GET, "/api/event-types/{name}", R::EventTypeGet),
        (M::PUT, "/api/event-types/{name}", R::EventTypePut),
        (M::DELETE, "/api/event-types/{name}", R::EventTypeDelete),
        (M::GET, "/api/webhooks", R::WebhookList),
        (M::POST, "/api/webhooks", R::WebhookCreate),
        (M::GET, "/api/webhooks/{id}", R::WebhookGet),
        (M::PUT, "/api/webhooks/{id}", R::WebhookPut),
        (M::PATCH, "/api/webhooks/{id}", R::WebhookPatch),
        (M::DELETE, "/api/webhooks/{id}", R::WebhookDelete),
        (M::GET, "/api/webhooks/{id}/secret", R::WebhookSecret),
        (
            M::POST,
            "/api/webhooks/{id}/secret/rotate",
            R::WebhookSecretRotate,
        ),
        (M::POST, "/api/webhooks/{id}/test", R::WebhookTest),
        (M::POST, "/api/webhooks/{id}/replay", R::WebhookReplay),
        (M::GET, "/api/webhooks/{id}/stats", R::WebhookStats),
        (M::GET, "/api/webhooks/{id}/deliveries", R::DeliveryList),
        (
            M::GET,
            "/api/webhooks/{id}/deliveries/{delivery_id}",
            R::DeliveryGet,
        ),
        (
            M::POST,
            "/api/webhooks/{id}/deliveries/{delivery_id}/retry",
            R::DeliveryRetry,
        ),
        (M::POST, "/api/events", R::EventPublish),
        (M::GET, "/api/events/{id}", R::EventGet),
        (M::POST, "/api/portal-links", R::PortalLinkCreate),
        (M::GET, "/api/portal-session", R::PortalSessionGet),
        (M::DELETE, "/api/portal-session", R::PortalSessionDelete),
        (M::GET, "/api/sources", R::SourceList),
        (M::POST, "/api/sources", R::SourceCreate),
        (M::GET, "/api/sources/{id}", R::SourceGet),
        (M::PUT, "/api/sources/{id}", R::SourcePut),
        (M::PATCH, "/api/sources/{id}", R::SourcePatch),
        (M::DELETE, "/api/sources/{id}", R::SourceDelete),
        (M::GET, "/api/sources/{id}/secret", R::SourceSecret),
        (M::GET, "/api/sources/{id}/requests", R::SourceRequests),
    ]
};

impl RouteId {
    /// Served without a bearer key.
    pub(crate) fn is_public(self) -> bool {
        matches!(
            self,
            RouteId::Healthz | RouteId::Readyz | RouteId::Metrics | RouteId::OpenApi
        )
    }
}

/// Dispatch one request.
pub async fn route(state: &Arc<AppState>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // The admin page and its assets (outside `/api`, no key: the page signs in itself).
    match segs.as_slice() {
        ["settings", "webhooks", "portal"] => return Ok(portal::open_link(state, &parts)),
        ["settings", ..] => return Ok(crate::ui::serve(&parts.method, &path, &state.config)),
        // Third-party webhooks: no bearer key, the signature is the authentication.
        ["ingest", source_id] => {
            return Ok(crate::inbound::handle(state.as_ref(), parts, body, source_id).await);
        }
        _ => {}
    }
    let found = lookup(&parts.method, &segs);
    let public = matches!(&found, Ok((id, _)) if id.is_public());
    if segs.first() == Some(&"api") && !public {
        let read = read_body(&parts.headers, body, state.config.max_payload_bytes());
        let body = within_request_deadline(&parts, read).await?;
        let principal = auth::authenticate(state, &parts.headers)?;
        let (id, params) = found.map_err(|allow| unknown_route(&parts, allow))?;
        return dispatch(id, state, Some(&principal), &parts, &body, &params).await;
    }
    let (id, params) = found.map_err(|allow| unknown_route(&parts, allow))?;
    dispatch(id, state, None, &parts, &Bytes::new(), &params).await
}

/// Receive the body by the request's deadline (set by the server for every request), or
/// answer 408 and close the connection: a body sent slowly must not hold it open.
async fn within_request_deadline(
    parts: &Parts,
    read: impl std::future::Future<Output = Result<Bytes, ApiError>>,
) -> Result<Bytes, ApiError> {
    let Some(super::conn::RequestDeadline(at)) = parts.extensions.get().copied() else {
        return read.await;
    };
    match tokio::time::timeout_at(at, read).await {
        Ok(read) => read,
        Err(_) => {
            let e = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request did not arrive completely within server.request_timeout_secs",
            );
            // HTTP/2 has no `Connection` header; hyper resets the stream instead.
            Err(if parts.version < http::Version::HTTP_2 {
                e.with_header("connection", "close".into())
            } else {
                e
            })
        }
    }
}

/// The route for `method` and `segs`, with its captured segments; or, when none matches,
/// the methods the path has (empty: no such path). HEAD is served as GET outside `/api`.
fn lookup<'a>(method: &Method, segs: &[&'a str]) -> Result<(RouteId, Params<'a>), Vec<Method>> {
    let head_as_get = method == Method::HEAD && segs.first() != Some(&"api");
    let mut allowed = Vec::new();
    for (m, pattern, id) in ROUTES {
        let Some(params) = match_pattern(pattern, segs) else {
            continue;
        };
        if m == method || (head_as_get && m == Method::GET) {
            return Ok((*id, params));
        }
        allowed.push(m.clone());
    }
    Err(allowed)
}

/// The captured segments when `segs` fits `pattern`. Runs for every route on every
/// request: one pass, and nothing is allocated before a segment is captured (most
/// patterns differ from the path in a literal segment before that).
fn match_pattern<'a>(pattern: &str, segs: &[&'a str]) -> Option<Params<'a>> {
    let mut parts = pattern.trim_matches('/').split('/');
    let mut params = Vec::new();
    for s in segs {
        let p = parts.next()?;
        if p.starts_with('{') && p.ends_with('}') {
            params.push(*s);
        } else if p != *s {
            return None;
        }
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Params(params))
}

/// Captured path segments, in pattern order.
struct Params<'a>(Vec<&'a str>);

impl<'a> Params<'a> {
    fn at(&self, i: usize) -> &'a str {
        self.0.get(i).copied().unwrap_or_default()
    }
}

async fn dispatch(
    id: RouteId,
    state: &Arc<AppState>,
    principal: Option<&Principal>,
    parts: &Parts,
    body: &Bytes,
    params: &Params<'_>,
) -> Resp {
    use RouteId as R;
    let (a, b) = (params.at(0), params.at(1));
    // `route` authenticates every route that is not public before dispatching it.
    let key = || principal.ok_or_else(|| ApiError::internal("a keyed route without a key"));
    match id {
        R::Healthz => Ok(health::healthz()),
        R::Readyz => Ok(health::readyz(state)),
        R::Metrics => Ok(health::metrics(state).await),
        R::OpenApi => Ok(openapi::document()),
        R::TenantCreate => tenants::create(state, key()?, parts, body).await,
        R::TenantList => tenants::list(state, key()?),
        R::TenantGet => tenants::get(state, key()?, a),
        R::TenantDelete => tenants::delete(state, key()?, a).await,
        R::KeyCreate => tenants::create_key(state, key()?, parts, body, a).await,
        R::KeyList => tenants::list_keys(state, key()?, a),
        R::KeyRevoke => tenants::revoke_key(state, key()?, a, b).await,
        R::OwnTenantGet => own_tenant::get(state, key()?, parts),
        R::OwnTenantPatch => own_tenant::patch(state, key()?, parts, body).await,
        R::EventTypeList => event_types::list(state),
        R::EventTypeCreate => event_types::create(state, key()?, parts, body).await,
        R::EventTypeGet => event_types::get(state, a),
        R::EventTypePut => event_types::put(state, key()?, parts, body, a).await,
        R::EventTypeDelete => event_types::delete(state, key()?, a).await,
        R::WebhookList => webhooks::list(state, key()?, parts),
        R::WebhookCreate => webhooks::create(state, key()?, parts, body).await,
        R::WebhookGet => webhooks::get(state, key()?, parts, a),
        R::WebhookPut => webhooks::update(state, key()?, parts, body, a, true).await,
        R::WebhookPatch => webhooks::update(state, key()?, parts, body, a, false).await,
        R::WebhookDelete => webhooks::delete(state, key()?, parts, a).await,
        R::WebhookSecret => webhooks::secret(state, key()?, parts, a),
        R::WebhookSecretRotate => {
            webhook_actions::rotate_secret(state, key()?, parts, body, a).await
        }
        R::WebhookTest => webhook_actions::test(state, key()?, parts, body, a).await,
        R::WebhookReplay => webhook_actions::replay(state, key()?, parts, body, a).await,
        R::WebhookStats => stats::get(state, key()?, parts, a),
        R::DeliveryList => deliveries::list(state, key()?, parts, a),
        R::DeliveryGet => deliveries::get(state, key()?, parts, a, b),
        R::DeliveryRetry => webhook_actions::retry(state, key()?, parts, a, b).await,
        R::EventPublish => events::publish(state, key()?, parts, body).await,
        R::EventGet => events::get(state, key()?, parts, a),
        R::PortalLinkCreate => portal::create_link(state, key()?, parts, body).await,
        R::PortalSessionGet => portal::get_session(state, parts),
        R::PortalSessionDelete => portal::sign_out(state, parts),
        R::SourceList => sources::list(state, key()?, parts),
        R::SourceCreate => sources::create(state, key()?, parts, body).await,
        R::SourceGet => sources::get(state, key()?, parts, a),
        R::SourcePut => sources::update(state, key()?, parts, body, a, true).await,
        R::SourcePatch => sources::update(state, key()?, parts, body, a, false).await,
        R::SourceDelete => sources::delete(state, key()?, parts, a).await,
        R::SourceSecret => sources::secret(state, key()?, parts, a),
        R::SourceRequests => sources::requests(state, key()?, parts, a),
    }
}

/// 405 with `Allow` when the path exists under other methods, 404 otherwise.
fn unknown_route(parts: &Parts, allowed: Vec<Method>) -> ApiError {
    if allowed.is_empty() {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("no route for {} {}", parts.method, parts.uri.path()),
        );
    }
    let order = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let allow: Vec<&str> = order
        .iter()
        .filter(|m| allowed.contains(m))
        .map(Method::as_str)
        .collect();
    let allow = allow.join(", ");
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed here; use {allow}", parts.method),
    )
    .with_header("allow", allow)
}

/// The principal's tenant for an admin route (shared by the tenant-scoped handlers).
pub fn admin_tenant(state: &AppState, p: &Principal, parts: &Parts) -> Result<String, ApiError> {
    auth::tenant_scope(state, p, &parts.headers, auth::Need::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<&str> {
        path.trim_matches('/').split('/').collect()
    }

    #[test]
    fn each_method_and_pattern_is_routed_once() {
        let mut seen = std::collections::HashSet::new();
        for (m, pattern, _) in ROUTES {
            assert!(seen.insert((m.clone(), *pattern)), "{m} {pattern} twice");
        }
    }

    #[test]
    fn lookup_captures_segments_and_lists_other_methods() {
        let path = segs("/api/webhooks/wh_1/deliveries/dlv_2/retry");
        let Ok((id, params)) = lookup(&Method::POST, &path) else {
            panic!("no route");
        };
        assert_eq!(id, RouteId::DeliveryRetry);
        assert_eq!((params.at(0), params.at(1)), ("wh_1", "dlv_2"));
        let path = segs("/api/webhooks/wh_1");
        let Err(allowed) = lookup(&Method::POST, &path) else {
            panic!("POST on a webhook is not a route");
        };
        assert_eq!(
            allowed,
            [Method::GET, Method::PUT, Method::PATCH, Method::DELETE]
        );
        assert!(matches!(lookup(&Method::GET, &segs("/api/nope")), Err(a) if a.is_empty()));
        assert!(matches!(
            lookup(&Method::HEAD, &segs("/healthz")),
            Ok((RouteId::Healthz, _))
        ));
        assert!(lookup(&Method::HEAD, &segs("/api/webhooks")).is_err());
    }
}

//! `GET / PATCH /api/tenant`: the caller's own tenant (an admin key, or the operator
//! naming it with `X-Tenant-Id`) — its name and the addresses that get alert e-mails.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;

use super::auth::Principal;
use super::body::{json_response, read_json};
use super::error::ApiError;
use super::router::admin_tenant;
use super::tenants::check_name;
use super::AppState;
use crate::model::{format_ms, validate_alert_emails, AlertEmailsError, Tenant};

type Resp = Result<Response<Full<Bytes>>, ApiError>;

/// The fields a tenant's admin may change; absent (or `null`) ones stay as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnTenantPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    alert_emails: Option<Vec<String>>,
}

fn own_tenant_json(t: &Tenant) -> serde_json::Value {
    json!({
        "id": t.id,
        "name": t.name,
        "alert_emails": t.alert_emails,
        "created_at": format_ms(t.created_at),
    })
}

fn load(state: &AppState, p: &Principal, parts: &Parts) -> Result<Tenant, ApiError> {
    let id = admin_tenant(state, p, parts)?;
    state
        .store
        .get_tenant(&id)?
        .ok_or_else(|| ApiError::not_found("tenant"))
}

pub fn get(state: &AppState, p: &Principal, parts: &Parts) -> Resp {
    let tenant = load(state, p, parts)?;
    Ok(json_response(StatusCode::OK, &own_tenant_json(&tenant)))
}

pub async fn patch(state: &AppState, p: &Principal, parts: &Parts, body: &Bytes) -> Resp {
    let mut tenant = load(state, p, parts)?;
    let input: OwnTenantPatch = read_json(&parts.headers, body)?;
    if let Some(name) = &input.name {
        tenant.name = check_name(name, "name")?;
    }
    if let Some(list) = &input.alert_emails {
        tenant.alert_emails = validate_alert_emails(list).map_err(|e| {
            let code = match e {
                AlertEmailsError::TooMany(_) => "too_many_alert_emails",
                AlertEmailsError::Invalid { .. } => "invalid_email",
            };
            ApiError::unprocessable(code, "alert_emails", e.to_string())
        })?;
    }
    state
        .store
        .update_tenant(&tenant)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ApiError::not_found("tenant"),
            other => other.into(),
        })?;
    tracing::info!(
        tenant = %tenant.id,
        alert_emails = tenant.alert_emails.len(),
        "tenant settings changed"
    );
    Ok(json_response(StatusCode::OK, &own_tenant_json(&tenant)))
}

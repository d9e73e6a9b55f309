//! `/api/tenants` and their keys (operator only).

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;

use super::auth::{require_operator, Principal};
use super::body::{json_response, no_content, read_json};
use super::error::ApiError;
use super::AppState;
use crate::model::{format_ms, new_id, now_ms, ApiKey, IdKind, Role, Tenant};
use crate::signing::{key_hash, new_api_key};

type Resp = Result<Response<Full<Bytes>>, ApiError>;

/// Prefix of tenant keys: tells a leaked string's reader what it is.
const TENANT_KEY_PREFIX: &str = "hk_";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    role: String,
    #[serde(default)]
    name: Option<String>,
}

fn tenant_json(t: &Tenant) -> serde_json::Value {
    json!({"id": t.id, "name": t.name, "created_at": format_ms(t.created_at)})
}

fn key_json(k: &ApiKey) -> serde_json::Value {
    json!({
        "id": k.id, "role": k.role.as_str(), "name": k.name,
        "prefix": k.prefix, "created_at": format_ms(k.created_at),
    })
}

pub(super) fn check_name(name: &str, field: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_name",
            field,
            "`name` must be 1 to 200 printable characters",
        ));
    }
    Ok(name.to_string())
}

/// A new key for a tenant: the value (shown once) and its stored metadata.
fn make_key(tenant_id: &str, role: Role, name: String) -> (String, ApiKey, [u8; 32]) {
    let value = new_api_key(TENANT_KEY_PREFIX);
    let meta = ApiKey {
        id: new_id(IdKind::Key),
        tenant_id: tenant_id.to_string(),
        role,
        name,
        created_at: now_ms(),
        prefix: value.chars().take(TENANT_KEY_PREFIX.len() + 4).collect(),
    };
    let hash = key_hash(&value);
    (value, meta, hash)
}

pub async fn create(state: &AppState, p: &Principal, parts: &Parts, body: &Bytes) -> Resp {
    require_operator(p)?;
    let input: CreateTenant = read_json(&parts.headers, body)?;
    let tenant = Tenant {
        id: new_id(IdKind::Tenant),
        name: check_name(&input.name, "name")?,
        created_at: now_ms(),
        alert_emails: Vec::new(),
    };
    let (value, key, hash) = make_key(&tenant.id, Role::Admin, "admin".into());
    state.store.create_tenant(&tenant, &key, &hash).await?;
    tracing::info!(tenant = %tenant.id, "tenant created");
    let mut out = tenant_json(&tenant);
    out["api_key"] = json!(value);
    out["api_key_id"] = json!(key.id);
    Ok(json_response(StatusCode::CREATED, &out))
}

pub fn list(state: &AppState, p: &Principal) -> Resp {
    require_operator(p)?;
    let data: Vec<_> = state
        .store
        .list_tenants()?
        .iter()
        .map(tenant_json)
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"data": data})))
}

pub fn get(state: &AppState, p: &Principal, id: &str) -> Resp {
    require_operator(p)?;
    match state.store.get_tenant(id)? {
        Some(t) => Ok(json_response(StatusCode::OK, &tenant_json(&t))),
        None => Err(ApiError::not_found("tenant")),
    }
}

pub async fn delete(state: &AppState, p: &Principal, id: &str) -> Resp {
    require_operator(p)?;
    // Taken before the delete: the scheduler must hear that each of these is gone, as it
    // does when one webhook is deleted, so it starts no attempt for them.
    let webhooks = state.store.tenant_webhooks(id);
    if state.store.delete_tenant(id).await? {
        state.store.delete_tenant_sources(id).await?;
        for wh in &webhooks {
            state.delivery.webhook_changed(&wh.id);
        }
        tracing::info!(tenant = %id, "tenant deleted with all its data");
        Ok(no_content())
    } else {
        Err(ApiError::not_found("tenant"))
    }
}

pub async fn create_key(
    state: &AppState,
    p: &Principal,
    parts: &Parts,
    body: &Bytes,
    tenant_id: &str,
) -> Resp {
    require_operator(p)?;
    let input: CreateKey = read_json(&parts.headers, body)?;
    let role = Role::parse(&input.role).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_role",
            "role",
            format!(
                "`role` must be `admin` or `publisher`, not `{}`",
                input.role
            ),
        )
    })?;
    let name = match input.name {
        Some(n) => check_name(&n, "name")?,
        None => role.as_str().to_string(),
    };
    if state.store.get_tenant(tenant_id)?.is_none() {
        return Err(ApiError::not_found("tenant"));
    }
    let (value, key, hash) = make_key(tenant_id, role, name);
    state.store.create_key(&key, &hash).await?;
    let mut out = key_json(&key);
    out["key"] = json!(value);
    Ok(json_response(StatusCode::CREATED, &out))
}

pub fn list_keys(state: &AppState, p: &Principal, tenant_id: &str) -> Resp {
    require_operator(p)?;
    if state.store.get_tenant(tenant_id)?.is_none() {
        return Err(ApiError::not_found("tenant"));
    }
    let data: Vec<_> = state
        .store
        .list_keys(tenant_id)?
        .iter()
        .map(key_json)
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"data": data})))
}

pub async fn revoke_key(state: &AppState, p: &Principal, tenant_id: &str, key_id: &str) -> Resp {
    require_operator(p)?;
    if state.store.revoke_key(tenant_id, key_id).await? {
        Ok(no_content())
    } else {
        Err(ApiError::not_found("key"))
    }
}

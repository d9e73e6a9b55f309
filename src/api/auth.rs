//! Who is calling: the operator, a tenant key with a role, or the admin page's session
//! cookie (an admin of one tenant; see `portal`).

use http::{HeaderMap, StatusCode};

use super::error::ApiError;
use super::AppState;
use crate::model::Role;
use crate::signing::{hashes_equal, key_hash};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// May call everything; names the tenant with `X-Tenant-Id` on tenant routes.
    Operator,
    Tenant {
        tenant_id: String,
        role: Role,
    },
}

/// The key from `Authorization: Bearer <key>`, checked against the operator key (constant
/// time, on SHA-256 digests) and the stored key hashes. 401 otherwise.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let unauthorized = |m: &str| {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
            .with_header("www-authenticate", "Bearer".into())
    };
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        // The admin page signed in by a portal link: its session cookie stands in for a key.
        if let Some(session) = super::portal::session_principal(state, headers) {
            return session;
        }
        return Err(unauthorized("missing `Authorization: Bearer <key>` header"));
    };
    let value = value.to_str().unwrap_or("");
    let key = match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => {
            return Err(unauthorized(
                "the Authorization header must be `Bearer <key>`",
            ))
        }
    };
    let hash = key_hash(key);
    if hashes_equal(&hash, &state.operator_key_hash) {
        return Ok(Principal::Operator);
    }
    match state.store.key_by_hash(&hash)? {
        // The lookup is by digest; compare the digest again in constant time all the same.
        Some(k) if hashes_equal(&key_hash(key), &hash) => Ok(Principal::Tenant {
            tenant_id: k.tenant_id,
            role: k.role,
        }),
        _ => Err(unauthorized(
            "the API key is not valid (revoked, mistyped or unknown)",
        )),
    }
}

/// What a tenant-scoped route needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Need {
    /// Admin key or operator.
    Admin,
    /// Admin or publisher key, or operator (`POST /api/events`).
    Publish,
}

/// The tenant a tenant-scoped request acts in. Operator: `X-Tenant-Id` (400 without it,
/// 404 for an unknown tenant). Tenant key: its own tenant, with the role checked (403).
pub fn tenant_scope(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    need: Need,
) -> Result<String, ApiError> {
    match principal {
        Principal::Operator => {
            let Some(id) = headers.get("x-tenant-id") else {
                return Err(ApiError::bad_request(
                    "missing_tenant",
                    "the operator key must name the tenant with the `X-Tenant-Id: ten_...` header on this route",
                )
                .with_field("X-Tenant-Id"));
            };
            let id = id.to_str().unwrap_or("").trim();
            if state.store.get_tenant(id)?.is_none() {
                return Err(ApiError::not_found("tenant").with_field("X-Tenant-Id"));
            }
            Ok(id.to_string())
        }
        Principal::Tenant { tenant_id, role } => {
            let allowed = match need {
                Need::Publish => true,
                Need::Admin => *role == Role::Admin,
            };
            if allowed {
                Ok(tenant_id.clone())
            } else {
                Err(ApiError::forbidden(
                    "a publisher key may only publish events (POST /api/events); use an admin key",
                ))
            }
        }
    }
}

/// Operator-only routes: 403 for tenant keys.
pub fn require_operator(principal: &Principal) -> Result<(), ApiError> {
    match principal {
        Principal::Operator => Ok(()),
        Principal::Tenant { .. } => Err(ApiError::forbidden("this route needs the operator key")),
    }
}

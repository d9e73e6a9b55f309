//! `/api/sources`: a tenant's inbound sources (admin key; tenant-scoped like webhooks), the
//! request log of each, and the glue that lets `inbound` use the daemon's state.
//!
//! A source's secret is shown in the answer that creates it and afterwards only by
//! `GET /api/sources/{id}/secret`.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::body::{json_response, no_content, read_json};
use super::error::ApiError;
use super::router::admin_tenant;
use super::{query, AppState};
use crate::model::{
    format_ms, new_id, now_ms, InboundRequest, Locator, SignatureEncoding, Source, Verification,
};
use crate::signing::{new_secret, secret_key_bytes, SECRET_PREFIX};

type Resp = Result<Response<Full<Bytes>>, ApiError>;

impl crate::inbound::Env for AppState {
    fn store(&self) -> &crate::store::Store {
        &self.store
    }

    fn delivery(&self) -> &crate::delivery::Engine {
        &self.delivery
    }

    fn max_payload_bytes(&self) -> usize {
        self.config.max_payload_bytes()
    }

    fn take_ingest_token(&self, tenant_id: &str) -> crate::inbound::RateDecision {
        let d = self.ingest_limiter.check(tenant_id);
        crate::inbound::RateDecision {
            allowed: d.allowed,
            headers: d.headers,
        }
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("source")
}

/// `{base}/ingest/{id}`: the URL to give the sender.
fn ingest_url(state: &AppState, id: &str) -> String {
    format!("{}/ingest/{id}", state.base_url.trim_end_matches('/'))
}

/// The public JSON form: no secret.
fn source_json(state: &AppState, s: &Source) -> Value {
    let mut verification = json!({"scheme": s.verification.scheme()});
    if let Verification::HmacSha256 {
        header,
        encoding,
        prefix,
        ..
    } = &s.verification
    {
        verification["header"] = json!(header);
        verification["encoding"] = json!(encoding.as_str());
        verification["prefix"] = json!(prefix);
    }
    let (type_field, type_header) = locator_pair(Some(&s.event_type));
    let (id_field, id_header) = locator_pair(s.event_id.as_ref());
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "verification": verification,
        "allow_unsigned": s.allow_unsigned,
        "type_field": type_field,
        "type_header": type_header,
        "id_field": id_field,
        "id_header": id_header,
        "type_prefix": s.type_prefix,
        "ingest_url": ingest_url(state, &s.id),
        "created_at": format_ms(s.created_at),
        "updated_at": format_ms(s.updated_at),
    })
}

fn locator_pair(l: Option<&Locator>) -> (Option<&str>, Option<&str>) {
    match l {
        Some(Locator::Field(p)) => (Some(p), None),
        Some(Locator::Header(h)) => (None, Some(h)),
        None => (None, None),
    }
}

fn request_json(r: &InboundRequest) -> Value {
    let headers: serde_json::Map<String, Value> = r
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "id": r.id,
        "received_at": format_ms(r.received_at),
        "headers": headers,
        "body": r.body,
        "body_bytes": r.body_bytes,
        "body_truncated": r.body_bytes as usize > r.body.len(),
        "verification": {"result": r.verification.as_str()},
        "outcome": r.outcome.as_str(),
        "status_code": r.status_code,
        "reason": r.reason,
        "event_id": r.event_id,
    })
}

/// A create / replace / patch body. `id`, `ingest_url`, `created_at` and `updated_at`
/// (read-only) may be echoed back from a GET and are ignored.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SourceInput {
    name: Option<String>,
    description: Option<String>,
    verification: Option<VerificationInput>,
    allow_unsigned: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    type_field: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    type_header: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    id_field: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    id_header: Option<Option<String>>,
    type_prefix: Option<String>,
    #[serde(rename = "id")]
    _id: Option<Value>,
    #[serde(rename = "ingest_url")]
    _ingest_url: Option<Value>,
    #[serde(rename = "created_at")]
    _created_at: Option<Value>,
    #[serde(rename = "updated_at")]
    _updated_at: Option<Value>,
}

/// `Some(None)` for an explicit `null` (clear it), `None` when absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerificationInput {
    scheme: String,
    secret: Option<String>,
    header: Option<String>,
    encoding: Option<String>,
    prefix: Option<String>,
}

fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, field, message)
}

/// The verification a request asks for. A missing secret keeps `current`'s (a PUT of a
/// GET's answer, which has no secret) or, without one, is generated.
fn build_verification(
    input: VerificationInput,
    current: Option<&Verification>,
) -> Result<Verification, ApiError> {
    let scheme = input.scheme.as_str();
    let is_hmac = scheme == "hmac-sha256";
    for (given, name) in [
        (input.header.is_some(), "header"),
        (input.encoding.is_some(), "encoding"),
        (input.prefix.is_some(), "prefix"),
    ] {
        if given && !is_hmac {
            return Err(invalid(
                "invalid_verification",
                &format!("verification.{name}"),
                format!("`{name}` applies only to the `hmac-sha256` scheme"),
            ));
        }
    }
    if scheme == "none" {
        if input.secret.is_some() {
            return Err(invalid(
                "invalid_verification",
                "verification.secret",
                "the `none` scheme takes no secret",
            ));
        }
        return Ok(Verification::None);
    }
    let secret = match input.secret {
        Some(s) => {
            check_secret(scheme, &s)?;
            s
        }
        None => current
            .and_then(Verification::secret)
            .map(str::to_string)
            .unwrap_or_else(new_secret),
    };
    Ok(match scheme {
        "standard-webhooks" => Verification::StandardWebhooks { secret },
        "hmac-sha256" => {
            let header = input.header.unwrap_or_else(|| "X-Signature".into());
            if header.is_empty()
                || header.len() > 100
                || http::HeaderName::from_bytes(header.as_bytes()).is_err()
            {
                return Err(invalid(
                    "invalid_verification",
                    "verification.header",
                    format!("`{header}` is not a valid header name"),
                ));
            }
            let encoding = match input.encoding.as_deref() {
                None | Some("hex") => SignatureEncoding::Hex,
                Some("base64") => SignatureEncoding::Base64,
                Some(other) => {
                    return Err(invalid(
                        "invalid_verification",
                        "verification.encoding",
                        format!("`encoding` must be `hex` or `base64`, not `{other}`"),
                    ))
                }
            };
            let prefix = input.prefix.unwrap_or_default();
            if prefix.len() > 64 || prefix.chars().any(|c| c.is_control()) {
                return Err(invalid(
                    "invalid_verification",
                    "verification.prefix",
                    "`prefix` must be at most 64 printable characters",
                ));
            }
            Verification::HmacSha256 {
                secret,
                header,
                encoding,
                prefix,
            }
        }
        "github" => Verification::Github { secret },
        "shopify" => Verification::Shopify { secret },
        "stripe" => Verification::Stripe { secret },
        other => {
            return Err(invalid(
                "invalid_verification",
                "verification.scheme",
                format!("`{other}` is not a scheme: use standard-webhooks, hmac-sha256, github, shopify, stripe or none"),
            ))
        }
    })
}

fn check_secret(scheme: &str, secret: &str) -> Result<(), ApiError> {
    if secret.is_empty() || secret.len() > 1024 || secret.chars().any(|c| c.is_control()) {
        return Err(invalid(
            "invalid_secret",
            "verification.secret",
            "`secret` must be 1 to 1024 printable characters",
        ));
    }
    if scheme == "standard-webhooks"
        && (!secret.starts_with(SECRET_PREFIX)
            || secret_key_bytes(secret).len() < 16
            || secret_key_bytes(secret) == secret.as_bytes())
    {
        return Err(invalid(
            "invalid_secret",
            "verification.secret",
            "a Standard Webhooks secret is `whsec_` followed by the base64 of at least 16 bytes",
        ));
    }
    Ok(())
}

/// A JSON pointer: `/a/b` (RFC 6901).
fn check_pointer(field: &str, p: &str) -> Result<(), ApiError> {
    if !p.starts_with('/') || p.len() > 256 {
        return Err(invalid(
            "invalid_pointer",
            field,
            format!("`{p}` is not a JSON pointer such as `/topicName` (it starts with `/`)"),
        ));
    }
    Ok(())
}

fn check_header_name(field: &str, h: &str) -> Result<(), ApiError> {
    if h.is_empty() || h.len() > 100 || http::HeaderName::from_bytes(h.as_bytes()).is_err() {
        return Err(invalid(
            "invalid_header",
            field,
            format!("`{h}` is not a valid header name"),
        ));
    }
    Ok(())
}

/// Where the type and id are found by default for a scheme (the providers' own headers
/// and fields), when the request names neither.
fn defaults(v: &Verification) -> (Option<Locator>, Option<Locator>, &'static str) {
    let f = |s: &str| Some(Locator::Field(s.into()));
    let h = |s: &str| Some(Locator::Header(s.into()));
    match v {
        Verification::Github { .. } => (h("X-GitHub-Event"), h("X-GitHub-Delivery"), "github."),
        Verification::Shopify { .. } => {
            (h("X-Shopify-Topic"), h("X-Shopify-Webhook-Id"), "shopify.")
        }
        Verification::Stripe { .. } => (f("/type"), f("/id"), "stripe."),
        Verification::StandardWebhooks { .. } => (f("/type"), h("webhook-id"), ""),
        Verification::HmacSha256 { .. } | Verification::None => (None, None, ""),
    }
}

/// Resolve a field/header pair of the input against the current value.
fn locator(
    field: Option<Option<String>>,
    header: Option<Option<String>>,
    current: Option<Locator>,
    names: (&str, &str),
) -> Result<Option<Locator>, ApiError> {
    match (field, header) {
        (Some(Some(_)), Some(Some(_))) => Err(invalid(
            "invalid_field",
            names.0,
            format!("give `{}` or `{}`, not both", names.0, names.1),
        )),
        (Some(Some(p)), _) => {
            check_pointer(names.0, &p)?;
            Ok(Some(Locator::Field(p)))
        }
        (_, Some(Some(h))) => {
            check_header_name(names.1, &h)?;
            Ok(Some(Locator::Header(h)))
        }
        (Some(None), _) | (_, Some(None)) => Ok(None),
        (None, None) => Ok(current),
    }
}

/// Apply an input to a source. `replace` (create, PUT): what is absent returns to its
/// default.
fn apply(s: &mut Source, input: SourceInput, replace: bool) -> Result<(), ApiError> {
    if let Some(name) = input.name {
        s.name = name.trim().to_string();
    } else if replace {
        return Err(invalid("missing_field", "name", "`name` is required"));
    }
    if s.name.is_empty() || s.name.chars().count() > 100 {
        return Err(invalid(
            "invalid_name",
            "name",
            "`name` must be 1 to 100 characters",
        ));
    }
    match input.description {
        Some(d) if d.chars().count() > 1000 => {
            return Err(invalid(
                "invalid_description",
                "description",
                "`description` must be at most 1000 characters",
            ))
        }
        Some(d) => s.description = d,
        None if replace => s.description.clear(),
        None => {}
    }
    let scheme_changed = match input.verification {
        Some(v) => {
            let new = build_verification(v, Some(&s.verification))?;
            let changed = new.scheme() != s.verification.scheme();
            s.verification = new;
            changed
        }
        None if replace => return Err(invalid(
            "missing_field",
            "verification",
            "`verification` is required, e.g. {\"scheme\": \"hmac-sha256\", \"secret\": \"...\"}",
        )),
        None => false,
    };
    match input.allow_unsigned {
        Some(a) => s.allow_unsigned = a,
        None if replace => s.allow_unsigned = false,
        None => {}
    }
    if matches!(s.verification, Verification::None) && !s.allow_unsigned {
        return Err(invalid(
            "unsigned_not_allowed",
            "allow_unsigned",
            "the `none` scheme accepts anyone's requests; set \"allow_unsigned\": true to mean it",
        ));
    }
    let (default_type, default_id, default_prefix) = defaults(&s.verification);
    let keep = !replace && !scheme_changed;
    let current_type = if keep {
        Some(s.event_type.clone())
    } else {
        None
    };
    let current_id = if keep { s.event_id.clone() } else { None };
    let typed = locator(
        input.type_field,
        input.type_header,
        current_type,
        ("type_field", "type_header"),
    )?;
    s.event_type = match typed.or(default_type) {
        Some(l) => l,
        None => {
            return Err(invalid(
                "missing_field",
                "type_field",
                "`type_field` (a JSON pointer such as `/topicName`) or `type_header` says where the event type is",
            ))
        }
    };
    let id_given = input.id_field.is_some() || input.id_header.is_some();
    let id = locator(
        input.id_field,
        input.id_header,
        current_id,
        ("id_field", "id_header"),
    )?;
    s.event_id = if id.is_none() && !id_given {
        if keep {
            s.event_id.clone()
        } else {
            default_id
        }
    } else {
        id
    };
    match input.type_prefix {
        Some(p) => s.type_prefix = p,
        None if !keep => s.type_prefix = default_prefix.to_string(),
        None => {}
    }
    if !s.type_prefix.is_empty() {
        let ok = s
            .type_prefix
            .strip_suffix('.')
            .is_some_and(|p| crate::model::validate_event_type_name(p).is_ok());
        if !ok {
            return Err(invalid(
                "invalid_type_prefix",
                "type_prefix",
                format!(
                    "`{}` is not a type prefix: dotted lowercase segments ending in `.`, such as `acculynx.`",
                    s.type_prefix
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn list(state: &AppState, p: &Principal, parts: &Parts) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let q = query::pairs(parts.uri.query());
    let limit = query::limit(&q)?;
    let (page, next) = state
        .store
        .list_sources(&tenant, query::get(&q, "cursor"), limit)?;
    let data: Vec<_> = page.iter().map(|s| source_json(state, s)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": data, "next_cursor": next}),
    ))
}

pub(crate) async fn create(state: &AppState, p: &Principal, parts: &Parts, body: &Bytes) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let input: SourceInput = read_json(&parts.headers, body)?;
    let now = now_ms();
    let mut s = Source {
        id: new_id(crate::model::IdKind::Source),
        tenant_id: tenant,
        name: String::new(),
        description: String::new(),
        verification: Verification::None,
        allow_unsigned: false,
        event_type: Locator::Field(String::new()),
        event_id: None,
        type_prefix: String::new(),
        created_at: now,
        updated_at: now,
    };
    apply(&mut s, input, true)?;
    state.store.create_source(&s).await?;
    tracing::info!(source = %s.id, tenant = %s.tenant_id, scheme = s.verification.scheme(), "inbound source created");
    let mut out = source_json(state, &s);
    out["verification"]["secret"] = json!(s.verification.secret());
    Ok(json_response(StatusCode::CREATED, &out))
}

pub(crate) fn get(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let s = state.store.get_source(&tenant, id)?.ok_or_else(not_found)?;
    Ok(json_response(StatusCode::OK, &source_json(state, &s)))
}

pub(crate) async fn update(
    state: &AppState,
    p: &Principal,
    parts: &Parts,
    body: &Bytes,
    id: &str,
    replace: bool,
) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let input: SourceInput = read_json(&parts.headers, body)?;
    let mut s = state.store.get_source(&tenant, id)?.ok_or_else(not_found)?;
    apply(&mut s, input, replace)?;
    s.updated_at = now_ms();
    match state.store.update_source(&s).await {
        Err(crate::store::StoreError::NotFound) => return Err(not_found()),
        other => other?,
    }
    Ok(json_response(StatusCode::OK, &source_json(state, &s)))
}

pub(crate) async fn delete(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    if state.store.delete_source(&tenant, id).await? {
        tracing::info!(source = %id, "inbound source deleted");
        Ok(no_content())
    } else {
        Err(not_found())
    }
}

pub(crate) fn secret(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let s = state.store.get_source(&tenant, id)?.ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"secret": s.verification.secret()}),
    ))
}

pub(crate) fn requests(state: &AppState, p: &Principal, parts: &Parts, id: &str) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    state.store.get_source(&tenant, id)?.ok_or_else(not_found)?;
    let q = query::pairs(parts.uri.query());
    let limit = query::limit(&q)?;
    let (page, next) = state
        .store
        .list_inbound_requests(id, query::get(&q, "cursor"), limit)?;
    let data: Vec<_> = page.iter().map(request_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": data, "next_cursor": next}),
    ))
}

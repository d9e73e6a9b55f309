//! `POST /ingest/{source_id}`: no bearer key — the signature is the authentication.
//!
//! Order of checks: the source exists (404, nothing logged: there is nowhere to log and
//! nothing to reveal), the body fits (413), the tenant's ingest rate (429 + `Retry-After`),
//! the signature (401), the body is JSON (400) with an event type (422 naming where it was
//! looked for); then the sender's event id decides between a duplicate (200, nothing
//! stored) and a new event, published and durable before the 202. Every request past the
//! first check is written to the source's request log.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::verify::{self, Rejection};
use super::Env;
use crate::delivery::Published;
use crate::model::{
    new_id, now_ms, validate_event_type_name, Event, EventType, IdKind, InboundOutcome,
    InboundRequest, Locator, Source, Verification, VerificationResult, OPERATIONAL_EVENT_TYPES,
};
use crate::store::{Dedup, StoreError};

/// How much of a body the request log keeps.
pub const LOG_BODY_BYTES: usize = 10 * 1024;
/// Distinct event types one source may add to the catalog; a sender inventing types
/// cannot grow the catalog without bound.
const MAX_TYPES_PER_SOURCE: usize = 500;
/// Longer sender ids are replaced by their SHA-256 in the dedup record's key.
const MAX_ID_BYTES: usize = 200;

type Resp = Response<Full<Bytes>>;

fn json_response(status: StatusCode, value: &Value) -> Resp {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Resp {
    let mut body = json!({"error": {"code": code, "message": message}});
    if let Some(f) = field {
        body["error"]["field"] = json!(f);
    }
    json_response(status, &body)
}

fn not_found() -> Resp {
    error(StatusCode::NOT_FOUND, "not_found", "no such source", None)
}

fn storage_failed() -> Resp {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "storage failed to complete the write; nothing was acknowledged, retry",
        None,
    )
}

/// A refusal on the way: status, code, message, field, and what the log says of it.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    outcome: InboundOutcome,
}

impl Refusal {
    fn invalid(
        status: StatusCode,
        code: &'static str,
        message: String,
        field: Option<String>,
    ) -> Self {
        Refusal {
            status,
            code,
            message,
            field,
            outcome: InboundOutcome::Invalid,
        }
    }
}

/// Handle one request to `/ingest/{source_id}`.
pub async fn handle<E: Env + ?Sized>(
    env: &E,
    parts: Parts,
    body: Incoming,
    source_id: &str,
) -> Resp {
    if parts.method != Method::POST {
        let mut resp = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{} is not allowed here; use POST", parts.method),
            None,
        );
        resp.headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        return resp;
    }
    let source = match env.store().get_source_any(source_id) {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a source");
            return storage_failed();
        }
    };
    match env.store().get_tenant(&source.tenant_id) {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(),
        Err(_) => return storage_failed(),
    }
    let received_at = now_ms();
    let log = LogDraft::new(&source, &parts.headers, received_at);
    let body = match read_body(&parts.headers, body, env.max_payload_bytes()).await {
        Ok(b) => b,
        Err(resp) => {
            let reason = "the body is larger than the size limit";
            let entry = log.finish(
                &Bytes::new(),
                VerificationResult::Skipped,
                InboundOutcome::TooLarge,
                resp.status(),
                Some(reason.into()),
                None,
            );
            record(env, &entry, false).await;
            return resp;
        }
    };
    let decision = env.take_ingest_token(&source.tenant_id);
    let mut resp = if decision.allowed {
        process(env, &source, &parts.headers, &body, &log).await
    } else {
        let entry = log.finish(
            &body,
            VerificationResult::Skipped,
            InboundOutcome::RateLimited,
            StatusCode::TOO_MANY_REQUESTS,
            Some("over the tenant's ingest rate limit".into()),
            None,
        );
        record(env, &entry, false).await;
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this tenant is receiving faster than its ingest limit; retry after `Retry-After` seconds",
            None,
        )
    };
    for (k, v) in &decision.headers {
        if let Ok(v) = http::HeaderValue::from_str(v) {
            resp.headers_mut().insert(*k, v);
        }
    }
    resp
}

/// Verify, parse, deduplicate, publish; log the outcome.
async fn process<E: Env + ?Sized>(
    env: &E,
    source: &Source,
    headers: &HeaderMap,
    body: &Bytes,
    log: &LogDraft,
) -> Resp {
    let now_secs = (log.received_at / 1000) as i64;
    if let Err(Rejection { code, reason }) = verify::verify(
        &source.verification,
        source.allow_unsigned,
        headers,
        body,
        now_secs,
    ) {
        tracing::info!(source = %source.id, code, "inbound request refused: signature");
        let entry = log.finish(
            body,
            VerificationResult::Invalid,
            InboundOutcome::Unauthorized,
            StatusCode::UNAUTHORIZED,
            Some(reason.clone()),
            None,
        );
        record(env, &entry, false).await;
        return error(StatusCode::UNAUTHORIZED, code, &reason, None);
    }
    let verified = match source.verification {
        Verification::None => VerificationResult::Skipped,
        _ => VerificationResult::Valid,
    };
    let refuse = |r: Refusal| {
        let entry = log.finish(
            body,
            verified,
            r.outcome,
            r.status,
            Some(r.message.clone()),
            None,
        );
        (
            entry,
            error(r.status, r.code, &r.message, r.field.as_deref()),
        )
    };
    let prepared = match prepare(env, source, headers, body, log.received_at).await {
        Ok(p) => p,
        Err(r) => {
            let (entry, resp) = refuse(r);
            record(env, &entry, false).await;
            return resp;
        }
    };
    let dedup = Dedup::Source {
        source_id: &source.id,
        id: &prepared.dedup_id,
    };
    let (status, outcome, event_id, deliveries, reason) = match env
        .delivery()
        .publish(prepared.event.clone(), Some(dedup))
        .await
    {
        Ok(Published::Created {
            event_id,
            deliveries,
        }) => (
            StatusCode::ACCEPTED,
            InboundOutcome::Accepted,
            event_id,
            deliveries,
            format!("published as `{}`", prepared.event.event_type),
        ),
        Ok(Published::Duplicate {
            event_id,
            deliveries,
        }) => (
            StatusCode::OK,
            InboundOutcome::Duplicate,
            event_id,
            deliveries,
            format!(
                "a repeat of id `{}`: acknowledged, nothing stored",
                prepared.dedup_id
            ),
        ),
        Err(e) => {
            tracing::error!(source = %source.id, error = %e, "cannot store an inbound event");
            let entry = log.finish(
                body,
                verified,
                InboundOutcome::Failed,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("storage failed; the sender should retry".into()),
                None,
            );
            record(env, &entry, false).await;
            return storage_failed();
        }
    };
    let entry = log.finish(
        body,
        verified,
        outcome,
        status,
        Some(reason),
        Some(event_id.clone()),
    );
    // The event is durable already; its log entry is made durable before the answer too,
    // so what the log shows after a crash matches what the sender was told.
    if !record(env, &entry, true).await {
        return storage_failed();
    }
    json_response(
        status,
        &json!({
            "id": event_id,
            "type": prepared.event.event_type,
            "deliveries": deliveries,
            "duplicate": outcome == InboundOutcome::Duplicate,
        }),
    )
}

/// The event to publish and the id it is deduplicated on.
struct Prepared {
    event: Event,
    dedup_id: String,
}

async fn prepare<E: Env + ?Sized>(
    env: &E,
    source: &Source,
    headers: &HeaderMap,
    body: &Bytes,
    now: u64,
) -> Result<Prepared, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::invalid(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
            None,
        )
    })?;
    let (raw_type, where_) = match &source.event_type {
        Locator::Field(pointer) => (
            value
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string),
            pointer.clone(),
        ),
        Locator::Header(name) => (
            headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            name.clone(),
        ),
    };
    let raw_type = raw_type.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        Refusal::invalid(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_event_type",
            match &source.event_type {
                Locator::Field(p) => {
                    format!("the body has no string at `{p}` to take the event type from")
                }
                Locator::Header(h) => format!("the `{h}` header with the event type is missing"),
            },
            Some(where_.clone()),
        )
    })?;
    let event_type = format!("{}{}", source.type_prefix, normalize_type(&raw_type));
    validate_event_type_name(&event_type).map_err(|problem| {
        Refusal::invalid(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event_type",
            format!("`{raw_type}` at `{where_}` does not make a valid event type (`{event_type}`: {problem})"),
            Some(where_.clone()),
        )
    })?;
    if OPERATIONAL_EVENT_TYPES
        .iter()
        .any(|(n, _, _)| *n == event_type)
    {
        return Err(Refusal::invalid(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reserved_event_type",
            format!("`{event_type}` is raised by hookd itself and cannot be received"),
            Some(where_),
        ));
    }
    ensure_in_catalog(env, source, &event_type).await?;
    let dedup_id = sender_id(source, headers, &value).unwrap_or_else(|| sha256_hex(body));
    let dedup_id = if dedup_id.len() > MAX_ID_BYTES {
        format!("sha256:{}", sha256_hex(dedup_id.as_bytes()))
    } else {
        dedup_id
    };
    Ok(Prepared {
        event: Event {
            id: new_id(IdKind::Event),
            tenant_id: source.tenant_id.clone(),
            event_type,
            // As received (key order, numbers); it parsed as JSON, so it is UTF-8.
            data: String::from_utf8_lossy(body).trim().to_string(),
            actor: None,
            created_at: now,
        },
        dedup_id,
    })
}

/// A type seen for the first time joins the catalog, with the source's name as category,
/// so webhooks can subscribe to it by name.
async fn ensure_in_catalog<E: Env + ?Sized>(
    env: &E,
    source: &Source,
    event_type: &str,
) -> Result<(), Refusal> {
    let store = env.store();
    if store.has_event_type(event_type) {
        return Ok(());
    }
    let storage = |e: StoreError| {
        tracing::error!(error = %e, "cannot update the catalog");
        Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "storage_unavailable",
            message: "storage failed to complete the write; nothing was acknowledged, retry".into(),
            field: None,
            outcome: InboundOutcome::Failed,
        }
    };
    let known = store
        .list_event_types()
        .map_err(storage)?
        .iter()
        .filter(|t| t.category == source.name && t.name.starts_with(&source.type_prefix))
        .count();
    if known >= MAX_TYPES_PER_SOURCE {
        return Err(Refusal::invalid(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
            format!("this source has brought {known} event types into the catalog, the most allowed; `{event_type}` is refused"),
            None,
        ));
    }
    store
        .put_event_type(&EventType {
            name: event_type.to_string(),
            category: source.name.clone(),
            description: format!("Received from the inbound source {}", source.name),
            // The catalog is shared by every tenant: no received data goes into it.
            sample: "{}".into(),
        })
        .await
        .map_err(storage)?;
    tracing::info!(source = %source.id, event_type, "new inbound event type added to the catalog");
    Ok(())
}

/// The sender's own event id, when the source says where it is and it is there.
fn sender_id(source: &Source, headers: &HeaderMap, body: &Value) -> Option<String> {
    let id = match source.event_id.as_ref()? {
        Locator::Field(pointer) => match body.pointer(pointer)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        },
        Locator::Header(name) => headers
            .get(name.as_str())?
            .to_str()
            .ok()?
            .trim()
            .to_string(),
    };
    (!id.is_empty()).then_some(id)
}

/// A received type as a catalog name: lowercase; `/` separates segments as `.` does
/// (Shopify's `orders/create` → `orders.create`); other characters outside
/// `[a-z0-9_-.]` become `_`.
fn normalize_type(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '_' | '-' | '.' => c,
            '/' => '.',
            _ => '_',
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Read the whole body, at most `limit` bytes: `Err` is the 413 to send (with
/// `Connection: close`, as the rest of the body is not read).
async fn read_body(headers: &HeaderMap, body: Incoming, limit: usize) -> Result<Bytes, Resp> {
    let too_large = || {
        let mut resp = error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the request body is larger than the limit of {limit} bytes"),
            None,
        );
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        resp
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "bad_body",
            &format!("the request body could not be read: {e}"),
            None,
        )),
    }
}

/// Write a log entry; with `durable`, wait until it is on disk. `false` when that failed.
async fn record<E: Env + ?Sized>(env: &E, entry: &InboundRequest, durable: bool) -> bool {
    let store = env.store();
    if let Err(e) = store.log_inbound_request(entry) {
        tracing::error!(source = %entry.source_id, error = %e, "cannot write the inbound request log");
        return false;
    }
    if durable {
        if let Err(e) = store.durable().await {
            tracing::error!(error = %e, "cannot make the inbound request log durable");
            return false;
        }
    } else {
        store.request_commit();
    }
    true
}

/// What the log keeps of a request, before its outcome is known.
struct LogDraft {
    source_id: String,
    received_at: u64,
    headers: Vec<(String, String)>,
}

impl LogDraft {
    fn new(source: &Source, headers: &HeaderMap, received_at: u64) -> LogDraft {
        let secret_headers = source.verification.signature_headers();
        let headers = headers
            .iter()
            .map(|(k, v)| {
                let name = k.as_str().to_string();
                let value = if is_sensitive(&name, &secret_headers) {
                    "[redacted]".to_string()
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                };
                (name, value)
            })
            .collect();
        LogDraft {
            source_id: source.id.clone(),
            received_at,
            headers,
        }
    }

    fn finish(
        &self,
        body: &Bytes,
        verification: VerificationResult,
        outcome: InboundOutcome,
        status: StatusCode,
        reason: Option<String>,
        event_id: Option<String>,
    ) -> InboundRequest {
        InboundRequest {
            id: new_id(IdKind::Request),
            source_id: self.source_id.clone(),
            received_at: self.received_at,
            headers: self.headers.clone(),
            body: truncate_text(body, LOG_BODY_BYTES),
            body_bytes: body.len() as u64,
            verification,
            outcome,
            status_code: status.as_u16(),
            reason,
            event_id,
        }
    }
}

/// Credentials and signatures never reach the log: the scheme's signature headers, and
/// any header whose name says it holds a secret.
fn is_sensitive(name: &str, signature_headers: &[String]) -> bool {
    const WORDS: [&str; 8] = [
        "authorization",
        "cookie",
        "secret",
        "token",
        "signature",
        "hmac",
        "api-key",
        "password",
    ];
    signature_headers.iter().any(|h| h == name) || WORDS.iter().any(|w| name.contains(w))
}

/// The first `max` bytes as text, cut on a character boundary.
fn truncate_text(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max + 4)]);
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_types_become_catalog_names() {
        assert_eq!(
            normalize_type("job-milestone-changed"),
            "job-milestone-changed"
        );
        assert_eq!(normalize_type("orders/create"), "orders.create");
        assert_eq!(normalize_type("PullRequest"), "pullrequest");
        assert_eq!(normalize_type("a b"), "a_b");
    }

    #[test]
    fn signatures_and_credentials_are_redacted() {
        let sig = vec!["x-signature".to_string()];
        assert!(is_sensitive("x-signature", &sig));
        assert!(is_sensitive("authorization", &sig));
        assert!(is_sensitive("x-hub-signature-256", &sig));
        assert!(is_sensitive("x-api-key", &sig));
        assert!(!is_sensitive("content-type", &sig));
        assert!(!is_sensitive("x-github-event", &sig));
    }

    #[test]
    fn log_bodies_are_cut_on_a_character_boundary() {
        let text = "é".repeat(10);
        let cut = truncate_text(text.as_bytes(), 5);
        assert_eq!(cut, "éé");
    }
}

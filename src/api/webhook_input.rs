//! Webhook request bodies and every rule a webhook must satisfy, in one
//! place: create, replace (PUT) and patch all end in [`validate`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::ApiError;
use crate::config::{validate_schedule, Config};
use crate::model::{validate_subscription, PayloadFormat, Webhook, WebhookStatus};
use crate::store::Store;

/// A create / replace / patch body. Every field optional here; `create` and `replace`
/// require `url` and `events`. Read-only fields a client may echo back from a GET are
/// accepted and ignored, so GET-modify-PUT works.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub method: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub status: Option<String>,
    pub ordered: Option<bool>,
    pub rate_limit_per_sec: Option<u32>,
    pub timeout_secs: Option<f64>,
    pub retry_schedule_secs: Option<Vec<f64>>,
    pub payload_format: Option<String>,
    /// Create only: bring an existing `whsec_` secret (migrating from another system).
    pub secret: Option<String>,
    /// `false` skips the reachability check.
    pub verify: Option<bool>,
    // Read-only fields echoed back from a GET: accepted and ignored.
    #[allow(dead_code)]
    pub id: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub created_at: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub updated_at: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub consecutive_failures: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub breaker: Option<serde_json::Value>,
    #[allow(dead_code)]
    pub disabled_reason: Option<serde_json::Value>,
}

/// Headers a webhook may not set: hookd's own (`payload::OWN_HEADERS`) and those that
/// belong to the connection, not to the request.
const CONNECTION_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "te",
    "upgrade",
];

fn is_reserved_header(lowercase: &str) -> bool {
    crate::delivery::payload::OWN_HEADERS.contains(&lowercase)
        || CONNECTION_HEADERS.contains(&lowercase)
}

fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, field, message)
}

/// Apply a body to a webhook: `replace` resets every optional field not given to its
/// default (PUT); otherwise only given fields change (PATCH, and create on a fresh one).
pub fn apply(
    wh: &mut Webhook,
    input: WebhookInput,
    replace: bool,
    config: &Config,
) -> Result<(), ApiError> {
    if replace {
        if input.url.is_none() || input.events.is_none() {
            return Err(
                ApiError::bad_request("missing_field", "`url` and `events` are required")
                    .with_field(if input.url.is_none() { "url" } else { "events" }),
            );
        }
        wh.name = String::new();
        wh.description = String::new();
        wh.method = "POST".into();
        wh.headers = BTreeMap::new();
        wh.status = match wh.status {
            WebhookStatus::Disabled => WebhookStatus::Active,
            s => s,
        };
        wh.ordered = false;
        wh.rate_limit_per_sec = config.delivery.default_rate_limit_per_sec;
        wh.timeout_secs = None;
        wh.retry_schedule_secs = None;
        wh.payload_format = PayloadFormat::Envelope;
    }
    if let Some(v) = input.name {
        wh.name = v;
    }
    if let Some(v) = input.description {
        wh.description = v;
    }
    if let Some(v) = input.url {
        wh.url = v.trim().to_string();
    }
    if let Some(v) = input.events {
        wh.events = v;
    }
    if let Some(v) = input.method {
        wh.method = v.to_ascii_uppercase();
    }
    if let Some(v) = input.headers {
        wh.headers = v;
    }
    if let Some(v) = input.status {
        wh.status = match v.as_str() {
            "active" => match wh.status {
                // An admin re-enabling a failing webhook keeps it failing: the daemon
                // decides when it is healthy again.
                WebhookStatus::Failing => WebhookStatus::Failing,
                _ => WebhookStatus::Active,
            },
            "disabled" => WebhookStatus::Disabled,
            "failing" => {
                return Err(invalid(
                    "invalid_status",
                    "status",
                    "`failing` is set by hookd, never by a request; use `active` or `disabled`",
                ))
            }
            other => {
                return Err(invalid(
                    "invalid_status",
                    "status",
                    format!("`status` must be `active` or `disabled`, not `{other}`"),
                ))
            }
        };
        if wh.status != WebhookStatus::Disabled {
            wh.disabled_reason = None;
        }
    }
    if let Some(v) = input.ordered {
        wh.ordered = v;
    }
    if let Some(v) = input.rate_limit_per_sec {
        wh.rate_limit_per_sec = v;
    }
    if let Some(v) = input.timeout_secs {
        wh.timeout_secs = Some(v);
    }
    if let Some(v) = input.retry_schedule_secs {
        wh.retry_schedule_secs = Some(v);
    }
    if let Some(v) = input.payload_format {
        wh.payload_format = PayloadFormat::parse(&v).ok_or_else(|| {
            invalid(
                "invalid_payload_format",
                "payload_format",
                format!("`payload_format` must be `envelope` or `data`, not `{v}`"),
            )
        })?;
    }
    Ok(())
}

/// Every rule a webhook must satisfy except uniqueness (the store enforces it atomically) and
/// reachability (network; the handler runs it last).
pub fn validate(wh: &mut Webhook, config: &Config, store: &Store) -> Result<url::Url, ApiError> {
    let url = validate_url(&wh.url, config.delivery.allow_http)?;
    if wh.name.trim().is_empty() {
        wh.name = url.host_str().unwrap_or("webhook").to_string();
    }
    if wh.name.chars().count() > 200 || wh.name.chars().any(char::is_control) {
        return Err(invalid(
            "invalid_name",
            "name",
            "`name` must be at most 200 printable characters",
        ));
    }
    if wh.description.chars().count() > 2000 {
        return Err(invalid(
            "invalid_description",
            "description",
            "`description` must be at most 2000 characters",
        ));
    }
    if wh.events.is_empty() {
        return Err(invalid(
            "invalid_events",
            "events",
            "`events` must list at least one event type, `prefix.*` or `*`",
        ));
    }
    if wh.events.len() > 500 {
        return Err(invalid(
            "invalid_events",
            "events",
            "`events` may list at most 500 entries",
        ));
    }
    for e in &wh.events {
        validate_subscription(e, |name| store.has_event_type(name))
            .map_err(|m| invalid("invalid_events", "events", m))?;
    }
    wh.events.dedup();
    if wh.method != "POST" && wh.method != "PUT" {
        return Err(invalid(
            "invalid_method",
            "method",
            format!("`method` must be POST or PUT, not `{}`", wh.method),
        ));
    }
    validate_headers(&wh.headers)?;
    let max = config.delivery.default_rate_limit_per_sec;
    if wh.rate_limit_per_sec == 0 || wh.rate_limit_per_sec > max {
        return Err(invalid(
            "invalid_rate_limit",
            "rate_limit_per_sec",
            format!("`rate_limit_per_sec` must be between 1 and the platform maximum of {max}"),
        ));
    }
    if let Some(t) = wh.timeout_secs {
        if !(t.is_finite() && t > 0.0 && t <= 300.0) {
            return Err(invalid(
                "invalid_timeout",
                "timeout_secs",
                "`timeout_secs` must be above 0 and at most 300",
            ));
        }
    }
    if let Some(s) = &wh.retry_schedule_secs {
        validate_schedule("retry_schedule_secs", s).map_err(|e| {
            invalid(
                "invalid_retry_schedule",
                "retry_schedule_secs",
                e.to_string(),
            )
        })?;
    }
    Ok(url)
}

/// `https://` with a host (or `http://` when `allow_http`), no fragment, ≤ 2048 bytes.
pub fn validate_url(raw: &str, allow_http: bool) -> Result<url::Url, ApiError> {
    let bad = |m: String| invalid("invalid_url", "url", m);
    if raw.len() > 2048 {
        return Err(bad("`url` must be at most 2048 characters".into()));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(format!("`url` is not a valid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(bad(
                "`url` must use https:// (plain http is allowed only when the operator sets delivery.allow_http)"
                    .into(),
            ))
        }
        other => return Err(bad(format!("`url` must use https://, not {other}://"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("`url` must name a host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in connection-pool keys and their debug logs; a
        // receiver that needs them can take them from a custom header instead.
        return Err(bad(
            "`url` must not contain credentials (user:password@); send them in a custom header instead"
                .into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(bad("`url` must not contain a #fragment".into()));
    }
    Ok(url)
}

fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let bad = |m: String| invalid("invalid_headers", "headers", m);
    if headers.len() > 32 {
        return Err(bad("at most 32 custom headers".into()));
    }
    for (name, value) in headers {
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n', '\0']) {
            return Err(bad(format!(
                "header `{}` contains a line break; header names and values may not hold CR or LF",
                name.escape_debug()
            )));
        }
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad(format!(
                "`{}` is not a valid header name",
                name.escape_debug()
            )));
        }
        if http::HeaderValue::from_str(value).is_err() || value.len() > 4096 {
            return Err(bad(format!(
                "the value of header `{name}` is not a valid header value (printable, at most 4096 bytes)"
            )));
        }
        if is_reserved_header(&name.to_ascii_lowercase()) {
            return Err(bad(format!(
                "header `{name}` is set by hookd itself (signatures and delivery metadata) and cannot be overridden"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_need_allow_http() {
        assert!(validate_url("https://crm.example.com/hooks", false).is_ok());
        assert_eq!(
            validate_url("http://crm.example.com/", false)
                .unwrap_err()
                .code,
            "invalid_url"
        );
        assert!(validate_url("http://crm.example.com/", true).is_ok());
        assert!(validate_url("ftp://x/", true).is_err());
        assert!(validate_url("https://", false).is_err());
        assert!(validate_url("https://crm.example.com/#frag", false).is_err());
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        for raw in [
            "https://user:s3cret@crm.example.com/hooks",
            "https://s3cret@crm.example.com/hooks",
            "https://:s3cret@crm.example.com/hooks",
        ] {
            let e = validate_url(raw, false).unwrap_err();
            assert_eq!(e.code, "invalid_url", "{raw}");
            assert!(!e.message.contains("s3cret"), "{}", e.message);
        }
    }

    #[test]
    fn header_injection_and_signature_overrides_are_refused() {
        let mut h = BTreeMap::new();
        h.insert("X-Api-Key".to_string(), "abc\r\nX-Evil: 1".to_string());
        assert_eq!(validate_headers(&h).unwrap_err().code, "invalid_headers");
        let mut h = BTreeMap::new();
        h.insert("Webhook-Signature".to_string(), "v1,forged".to_string());
        assert!(validate_headers(&h).is_err());
        let mut h = BTreeMap::new();
        h.insert("X-Api-Key".to_string(), "secret-token".to_string());
        assert!(validate_headers(&h).is_ok());
    }
}

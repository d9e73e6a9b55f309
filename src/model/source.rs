//! An inbound source: a third-party sender (AccuLynx, GitHub, Shopify, Stripe, ...) whose
//! webhooks hookd receives at `/ingest/{id}`, verifies, and turns into events of a tenant;
//! and the log of what it sent.

use serde::{Deserialize, Serialize};

/// How the signature of a request from a source is checked. Plain data: the checks
/// themselves live in `inbound::verify`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Verification {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` (several
    /// signatures allowed); the timestamp within ±5 minutes.
    StandardWebhooks { secret: String },
    /// HMAC-SHA256 of the raw body with the secret's UTF-8 bytes, in `header`, hex or
    /// base64, after `prefix`.
    HmacSha256 {
        secret: String,
        header: String,
        encoding: SignatureEncoding,
        prefix: String,
    },
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github { secret: String },
    /// `X-Shopify-Hmac-Sha256: <base64>`.
    Shopify { secret: String },
    /// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]` over `{t}.{body}`; `t` within ±5 minutes.
    Stripe { secret: String },
    /// Nothing is checked (only on a source with `allow_unsigned`).
    None,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum SignatureEncoding {
    Hex,
    Base64,
}

impl SignatureEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureEncoding::Hex => "hex",
            SignatureEncoding::Base64 => "base64",
        }
    }
}

impl Verification {
    /// The name clients use (`"scheme"` in JSON).
    pub fn scheme(&self) -> &'static str {
        match self {
            Verification::StandardWebhooks { .. } => "standard-webhooks",
            Verification::HmacSha256 { .. } => "hmac-sha256",
            Verification::Github { .. } => "github",
            Verification::Shopify { .. } => "shopify",
            Verification::Stripe { .. } => "stripe",
            Verification::None => "none",
        }
    }

    pub fn secret(&self) -> Option<&str> {
        match self {
            Verification::StandardWebhooks { secret }
            | Verification::HmacSha256 { secret, .. }
            | Verification::Github { secret }
            | Verification::Shopify { secret }
            | Verification::Stripe { secret } => Some(secret),
            Verification::None => None,
        }
    }

    /// The headers that carry this scheme's signature (lowercase): never shown in the log.
    pub fn signature_headers(&self) -> Vec<String> {
        match self {
            Verification::StandardWebhooks { .. } => {
                vec!["webhook-signature".into(), "svix-signature".into()]
            }
            Verification::HmacSha256 { header, .. } => vec![header.to_ascii_lowercase()],
            Verification::Github { .. } => {
                vec!["x-hub-signature-256".into(), "x-hub-signature".into()]
            }
            Verification::Shopify { .. } => vec!["x-shopify-hmac-sha256".into()],
            Verification::Stripe { .. } => vec!["stripe-signature".into()],
            Verification::None => Vec::new(),
        }
    }
}

/// Where a value (the event type, the dedup id) is read from: a JSON pointer into the body
/// or a request header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Locator {
    /// A JSON pointer (RFC 6901) such as `/topicName`.
    Field(String),
    /// A header name such as `X-GitHub-Event`.
    Header(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub id: String,
    pub tenant_id: String,
    /// Shown as the catalog category of the types this source brings in.
    pub name: String,
    pub description: String,
    pub verification: Verification,
    /// Required for `Verification::None`.
    pub allow_unsigned: bool,
    /// Where the event type is.
    pub event_type: Locator,
    /// Where the sender's event id is; `None`: the SHA-256 of the body stands in for it.
    pub event_id: Option<Locator>,
    /// Prepended to the received type: `acculynx.` + `job-milestone-changed`.
    pub type_prefix: String,
    pub created_at: u64,
    pub updated_at: u64,
}

/// What became of one request to `/ingest/{id}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Verified and stored as a new event (202).
    Accepted,
    /// Verified; its id was seen before, nothing stored (200).
    Duplicate,
    /// The signature was missing, malformed, stale or wrong (401).
    Unauthorized,
    /// Verified, but the body is not usable: not JSON, no type, bad type (400 / 422).
    Invalid,
    /// Over the body size limit (413).
    TooLarge,
    /// Over the tenant's ingest rate limit (429).
    RateLimited,
    /// Storage failed (503).
    Failed,
}

impl InboundOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundOutcome::Accepted => "accepted",
            InboundOutcome::Duplicate => "duplicate",
            InboundOutcome::Unauthorized => "unauthorized",
            InboundOutcome::Invalid => "invalid",
            InboundOutcome::TooLarge => "too_large",
            InboundOutcome::RateLimited => "rate_limited",
            InboundOutcome::Failed => "failed",
        }
    }
}

/// The signature check's result, as the log shows it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum VerificationResult {
    Valid,
    Invalid,
    /// Not checked: the source is unsigned, or the request was refused before the check.
    Skipped,
}

impl VerificationResult {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationResult::Valid => "valid",
            VerificationResult::Invalid => "invalid",
            VerificationResult::Skipped => "skipped",
        }
    }
}

/// One entry of a source's request log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InboundRequest {
    pub id: String,
    pub source_id: String,
    pub received_at: u64,
    /// Lowercase names; secrets and signatures replaced by `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// The first 10 KiB of the body (as text; invalid UTF-8 replaced).
    pub body: String,
    /// The whole body's size in bytes.
    pub body_bytes: u64,
    pub verification: VerificationResult,
    pub outcome: InboundOutcome,
    pub status_code: u16,
    /// Why it was refused, or what happened, in a sentence.
    pub reason: Option<String>,
    /// The event made (accepted), or the one the repeat was of (duplicate).
    pub event_id: Option<String>,
}

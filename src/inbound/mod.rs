//! Inbound sources: `POST /ingest/{source_id}` receives a third-party webhook (AccuLynx,
//! GitHub, Shopify, Stripe, any Standard Webhooks sender, ...), verifies its signature
//! ([`verify`]), deduplicates it on the sender's event id, and publishes it as an event of
//! the source's tenant through `delivery::Engine::publish`, like any other event. Every
//! request is written to the source's request log, refused ones included.
//!
//! Same layer as `api`; it reaches what it needs from the daemon through [`Env`], which
//! the API's shared state implements, so neither module imports the other's internals.

mod ingest;
pub mod verify;

pub use ingest::handle;

use crate::delivery::Engine;
use crate::store::Store;

/// The answer of the tenant's ingest rate limit for one request.
pub struct RateDecision {
    pub allowed: bool,
    /// `RateLimit-*` headers, and `Retry-After` when refused.
    pub headers: Vec<(&'static str, String)>,
}

/// What the ingest handler needs from the running daemon.
pub trait Env {
    fn store(&self) -> &Store;
    fn delivery(&self) -> &Engine;
    /// Largest accepted body (the same limit as `POST /api/events`).
    fn max_payload_bytes(&self) -> usize;
    /// Take one token of this tenant's ingest budget (shared with `POST /api/events`).
    fn take_ingest_token(&self, tenant_id: &str) -> RateDecision;
}

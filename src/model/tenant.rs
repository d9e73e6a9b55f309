//! Tenants and their API keys.

use serde::{Deserialize, Serialize};

/// An isolated customer organisation: everything else belongs to exactly one tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub created_at: u64,
    /// Who is e-mailed when one of its webhooks turns failing or is disabled by hookd
    /// (bare addresses, at most ten; see `validate_alert_emails`).
    pub alert_emails: Vec<String>,
}

/// What a tenant key may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Role {
    /// Everything inside its tenant.
    Admin,
    /// Only `POST /api/events`: what a business system that emits events gets.
    Publisher,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Publisher => "publisher",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "publisher" => Some(Role::Publisher),
            _ => None,
        }
    }
}

/// A tenant key as stored: the key itself is never stored, only its SHA-256 (the tree key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub tenant_id: String,
    pub role: Role,
    pub name: String,
    pub created_at: u64,
    /// First characters of the key (`hk_ab12`), so a person can tell keys apart in a list.
    pub prefix: String,
}

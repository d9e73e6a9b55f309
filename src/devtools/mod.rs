//! Developer tools in the same binary: `hookd listen` receives webhooks
//! locally and checks their signatures; `hookd verify` checks one captured request. Both
//! use only `signing`, so what they accept is exactly what hookd sends.

pub mod listen;
pub mod verify;

/// The verdict on one request's signatures.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `webhook-signature` (Standard Webhooks) verified.
    pub standard: bool,
    /// `X-Webhook-Signature: sha256=` verified.
    pub hex: bool,
    /// Why a check failed, for the person reading.
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.standard && self.hex
    }
}

/// Check both signatures of a request (`headers` with lowercase names).
pub fn check(secret: &str, headers: &[(String, String)], body: &[u8]) -> Verdict {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut problems = Vec::new();
    let standard = match (
        get("webhook-id"),
        get("webhook-timestamp"),
        get("webhook-signature"),
    ) {
        (Some(id), Some(ts), Some(sig)) => match ts.trim().parse::<i64>() {
            Ok(ts) => {
                let ok = crate::signing::verify_standard(secret, id, ts, body, sig);
                if !ok {
                    problems.push("webhook-signature does not match this secret".into());
                }
                ok
            }
            Err(_) => {
                problems.push(format!("webhook-timestamp `{ts}` is not a number"));
                false
            }
        },
        _ => {
            problems.push("missing webhook-id, webhook-timestamp or webhook-signature".into());
            false
        }
    };
    let hex = match get("x-webhook-signature") {
        Some(sig) => {
            let ok = crate::signing::verify_hex(secret, body, sig);
            if !ok {
                problems.push("X-Webhook-Signature does not match this secret".into());
            }
            ok
        }
        None => {
            problems.push("missing X-Webhook-Signature".into());
            false
        }
    };
    Verdict {
        standard,
        hex,
        problems,
    }
}

//! Secrets and signatures: Standard Webhooks `webhook-signature` and the
//! GitHub-style `X-Webhook-Signature`. Pure functions, shared by the sender, the inbound
//! verifier and the `listen` / `verify` dev tools.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Prefix of every webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// `whsec_` + base64 of 24 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// A random API key: 32 bytes from the OS, URL-safe base64, with a prefix naming its use.
pub fn new_api_key(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// SHA-256 of a key: what is stored in its place.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The HMAC key of a Standard Webhooks secret: base64 after `whsec_`. A secret that is not
/// of that form signs with its raw bytes (what most verifiers do too).
pub fn secret_key_bytes(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b| B64.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The key bytes of a `whsec_` secret, strictly: `None` unless it starts with `whsec_` and
/// the rest is valid base64 (for checking secrets brought from elsewhere).
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    B64.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac
}

/// `v1,<base64>`: HMAC-SHA256 over `{id}.{timestamp}.{body}` with the decoded secret.
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac(
        &secret_key_bytes(secret),
        &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// `sha256=<hex>`: HMAC-SHA256 over the body with the secret string as UTF-8 bytes.
pub fn hex_signature(secret: &str, body: &[u8]) -> String {
    let mac = hmac(secret.as_bytes(), &[body]);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Does any `v1,` entry of a space-separated `webhook-signature` header verify?
/// Compared in constant time.
pub fn verify_standard(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let ts = timestamp.to_string();
    let key = secret_key_bytes(secret);
    header.split_whitespace().any(|entry| {
        let Some(sig) = entry.strip_prefix("v1,") else {
            return false;
        };
        let Ok(sig) = B64.decode(sig) else {
            return false;
        };
        hmac(&key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body])
            .verify_slice(&sig)
            .is_ok()
    })
}

/// Does `sha256=<hex>` verify over the body with the secret string? Constant time.
pub fn verify_hex(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(sig) else {
        return false;
    };
    hmac(secret.as_bytes(), &[body]).verify_slice(&sig).is_ok()
}

/// Raw HMAC-SHA256 verification for inbound sources with a configurable encoding.
pub fn verify_hmac_raw(key: &[u8], body: &[u8], signature: &[u8]) -> bool {
    hmac(key, &[body]).verify_slice(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification (standardwebhooks.com).
    #[test]
    fn standard_signature_matches_the_specification_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let sig = standard_signature(secret, id, 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify_standard(
            secret,
            id,
            1614265330,
            body,
            &format!("v1,bad {sig}")
        ));
        assert!(!verify_standard(secret, id, 1614265331, body, &sig));
    }

    #[test]
    fn hex_signature_verifies_and_rejects_tampering() {
        let sig = hex_signature("whsec_abc", b"{}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify_hex("whsec_abc", b"{}", &sig));
        assert!(!verify_hex("whsec_abc", b"{ }", &sig));
    }

    #[test]
    fn new_secret_has_24_random_bytes() {
        let s = new_secret();
        assert_eq!(secret_key_bytes(&s).len(), 24);
        assert_ne!(s, new_secret());
    }
}

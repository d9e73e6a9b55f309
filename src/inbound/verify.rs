//! Signature checks of inbound requests, one per [`Verification`] scheme, over the
//! primitives of `signing`. Every comparison of a signature is constant-time: the HMAC
//! crate's `verify_slice` compares with `subtle`.

use base64::Engine as _;
use http::HeaderMap;

use crate::model::{SignatureEncoding, Verification};
use crate::signing;

/// How far a signed timestamp (Standard Webhooks, Stripe) may be from hookd's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a request was refused: a code a program can branch on, and a sentence for the
/// person reading the request log (it never contains the secret or the expected value).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: &'static str,
    pub reason: String,
}

fn missing(header: &str) -> Rejection {
    Rejection {
        code: "missing_signature",
        reason: format!("the `{header}` header is missing"),
    }
}

fn malformed(reason: String) -> Rejection {
    Rejection {
        code: "malformed_signature",
        reason,
    }
}

fn mismatch(reason: String) -> Rejection {
    Rejection {
        code: "invalid_signature",
        reason,
    }
}

/// The first value of a header, as text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Rejection> {
    let value = headers.get(name).ok_or_else(|| missing(name))?;
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| malformed(format!("the `{name}` header is not visible ASCII")))
}

/// The first of several header names that is present (Standard Webhooks or its Svix form).
fn header_any<'a>(headers: &'a HeaderMap, names: &[&str]) -> Result<&'a str, Rejection> {
    match names.iter().find(|n| headers.contains_key(**n)) {
        Some(name) => header(headers, name),
        None => Err(missing(names[0])),
    }
}

fn check_timestamp(name: &str, ts: i64, now_secs: i64) -> Result<(), Rejection> {
    let off = now_secs.saturating_sub(ts);
    if off.abs() > TOLERANCE_SECS {
        let when = if off > 0 { "old" } else { "in the future" };
        return Err(Rejection {
            code: "stale_timestamp",
            reason: format!(
                "`{name}` is {} s {when} (tolerance ±{TOLERANCE_SECS} s): a delayed or replayed request, or a clock out of step",
                off.unsigned_abs()
            ),
        });
    }
    Ok(())
}

/// Check one request's signature. `Ok` when it verifies (or the source is unsigned).
pub fn verify(
    scheme: &Verification,
    allow_unsigned: bool,
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), Rejection> {
    match scheme {
        Verification::StandardWebhooks { secret } => {
            let id = header_any(headers, &["webhook-id", "svix-id"])?;
            let ts_text = header_any(headers, &["webhook-timestamp", "svix-timestamp"])?;
            let sigs = header_any(headers, &["webhook-signature", "svix-signature"])?;
            let ts: i64 = ts_text.parse().map_err(|_| {
                malformed(format!(
                    "`webhook-timestamp` `{ts_text}` is not a unix time in seconds"
                ))
            })?;
            check_timestamp("webhook-timestamp", ts, now_secs)?;
            if signing::verify_standard(secret, id, ts, body, sigs) {
                Ok(())
            } else {
                Err(mismatch(
                    "no `v1,` signature in `webhook-signature` matches `{webhook-id}.{webhook-timestamp}.{body}` signed with the source's secret".into(),
                ))
            }
        }
        Verification::HmacSha256 {
            secret,
            header: name,
            encoding,
            prefix,
        } => {
            let value = header(headers, name)?;
            let Some(sig_text) = value.strip_prefix(prefix.as_str()) else {
                return Err(malformed(format!(
                    "the `{name}` header does not start with `{prefix}`"
                )));
            };
            let sig = decode(sig_text, *encoding).ok_or_else(|| {
                malformed(format!(
                    "the `{name}` header is not {} after the prefix",
                    encoding.as_str()
                ))
            })?;
            if signing::verify_hmac_raw(secret.as_bytes(), body, &sig) {
                Ok(())
            } else {
                Err(mismatch(format!(
                    "the `{name}` header does not match the HMAC-SHA256 of the body with the source's secret"
                )))
            }
        }
        Verification::Github { secret } => {
            let value = match header(headers, "x-hub-signature-256") {
                Err(e) if headers.contains_key("x-hub-signature") => {
                    return Err(Rejection {
                        reason: format!(
                            "{}; only the SHA-256 form is accepted, not `X-Hub-Signature` (SHA-1)",
                            e.reason
                        ),
                        ..e
                    })
                }
                other => other?,
            };
            if !value.starts_with("sha256=") {
                return Err(malformed(
                    "the `X-Hub-Signature-256` header does not start with `sha256=`".into(),
                ));
            }
            if signing::verify_hex(secret, body, value) {
                Ok(())
            } else {
                Err(mismatch(
                    "the `X-Hub-Signature-256` header does not match the HMAC-SHA256 of the body with the source's secret".into(),
                ))
            }
        }
        Verification::Shopify { secret } => {
            let value = header(headers, "x-shopify-hmac-sha256")?;
            let sig = decode(value, SignatureEncoding::Base64).ok_or_else(|| {
                malformed("the `X-Shopify-Hmac-Sha256` header is not base64".into())
            })?;
            if signing::verify_hmac_raw(secret.as_bytes(), body, &sig) {
                Ok(())
            } else {
                Err(mismatch(
                    "the `X-Shopify-Hmac-Sha256` header does not match the HMAC-SHA256 of the body with the source's secret".into(),
                ))
            }
        }
        Verification::Stripe { secret } => {
            let value = header(headers, "stripe-signature")?;
            let mut ts = None;
            let mut sigs = Vec::new();
            for item in value.split(',') {
                match item.trim().split_once('=') {
                    Some(("t", t)) if ts.is_none() => ts = Some(t),
                    Some(("v1", s)) => sigs.push(s),
                    _ => {}
                }
            }
            let (Some(ts_text), false) = (ts, sigs.is_empty()) else {
                return Err(malformed(
                    "the `Stripe-Signature` header needs `t=<unix time>` and at least one `v1=<hex>`"
                        .into(),
                ));
            };
            let ts: i64 = ts_text.parse().map_err(|_| {
                malformed(format!(
                    "`t={ts_text}` in `Stripe-Signature` is not a unix time in seconds"
                ))
            })?;
            check_timestamp("Stripe-Signature t", ts, now_secs)?;
            let mut signed = Vec::with_capacity(ts_text.len() + 1 + body.len());
            signed.extend_from_slice(ts_text.as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(body);
            let any = sigs.iter().any(|s| {
                hex::decode(s)
                    .is_ok_and(|sig| signing::verify_hmac_raw(secret.as_bytes(), &signed, &sig))
            });
            if any {
                Ok(())
            } else {
                Err(mismatch(
                    "no `v1=` signature in `Stripe-Signature` matches `{t}.{body}` signed with the source's secret".into(),
                ))
            }
        }
        Verification::None if allow_unsigned => Ok(()),
        Verification::None => Err(mismatch(
            "the source has no verification and does not allow unsigned requests".into(),
        )),
    }
}

fn decode(text: &str, encoding: SignatureEncoding) -> Option<Vec<u8>> {
    let text = text.trim();
    match encoding {
        SignatureEncoding::Hex => hex::decode(text).ok(),
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
            .ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    // The example GitHub documents for validating webhook deliveries.
    #[test]
    fn github_documented_example_verifies() {
        let scheme = Verification::Github {
            secret: "It's a Secret to Everybody".into(),
        };
        let h = headers(&[(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        assert_eq!(verify(&scheme, false, &h, b"Hello, World!", 0), Ok(()));
        let e = verify(&scheme, false, &h, b"Hello, World?", 0).unwrap_err();
        assert_eq!(e.code, "invalid_signature");
        let e = verify(&scheme, false, &HeaderMap::new(), b"Hello, World!", 0).unwrap_err();
        assert_eq!(e.code, "missing_signature");
    }

    #[test]
    fn hmac_sha256_honours_header_prefix_and_encoding() {
        let body = br#"{"topicName":"job-milestone-changed"}"#;
        let mac = hmac_sha256(b"s3cret", body);
        let hex_scheme = Verification::HmacSha256 {
            secret: "s3cret".into(),
            header: "x-acculynx-signature".into(),
            encoding: SignatureEncoding::Hex,
            prefix: "sha256=".into(),
        };
        let good = format!("sha256={}", hex::encode(&mac));
        let h = headers(&[("x-acculynx-signature", &good)]);
        assert_eq!(verify(&hex_scheme, false, &h, body, 0), Ok(()));
        let h = headers(&[("x-acculynx-signature", &hex::encode(&mac))]);
        assert_eq!(
            verify(&hex_scheme, false, &h, body, 0).unwrap_err().code,
            "malformed_signature"
        );
        let b64_scheme = Verification::HmacSha256 {
            secret: "s3cret".into(),
            header: "x-signature".into(),
            encoding: SignatureEncoding::Base64,
            prefix: String::new(),
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(&mac);
        let h = headers(&[("x-signature", &b64)]);
        assert_eq!(verify(&b64_scheme, false, &h, body, 0), Ok(()));
    }

    #[test]
    fn standard_webhooks_checks_the_timestamp_and_any_signature() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let scheme = Verification::StandardWebhooks {
            secret: secret.into(),
        };
        let body = br#"{"test": 2432232314}"#;
        let sig = signing::standard_signature(secret, "msg_1", 1_614_265_330, body);
        let h = headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", &format!("v1,AAAA {sig}")),
        ]);
        assert_eq!(
            verify(&scheme, false, &h, body, 1_614_265_330 + 299),
            Ok(())
        );
        let e = verify(&scheme, false, &h, body, 1_614_265_330 + 301).unwrap_err();
        assert_eq!(e.code, "stale_timestamp");
        let e = verify(&scheme, false, &h, body, 1_614_265_330 - 301).unwrap_err();
        assert_eq!(e.code, "stale_timestamp");
    }

    #[test]
    fn stripe_accepts_any_v1_within_tolerance() {
        let body = br#"{"id":"evt_1","type":"customer.created"}"#;
        let t = 1_700_000_000i64;
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(body);
        let sig = hex::encode(hmac_sha256(b"whsec_stripe", &signed));
        let scheme = Verification::Stripe {
            secret: "whsec_stripe".into(),
        };
        let value = format!("t={t},v1={},v1={sig},v0=abc", "00".repeat(32));
        let h = headers(&[("stripe-signature", &value)]);
        assert_eq!(verify(&scheme, false, &h, body, t + 10), Ok(()));
        assert_eq!(
            verify(&scheme, false, &h, body, t + 301).unwrap_err().code,
            "stale_timestamp"
        );
        let h = headers(&[("stripe-signature", "v1=00")]);
        assert_eq!(
            verify(&scheme, false, &h, body, t).unwrap_err().code,
            "malformed_signature"
        );
    }

    #[test]
    fn none_passes_only_when_unsigned_is_allowed() {
        assert!(verify(&Verification::None, true, &HeaderMap::new(), b"{}", 0).is_ok());
        assert!(verify(&Verification::None, false, &HeaderMap::new(), b"{}", 0).is_err());
    }
}

//! One attempt: build the signed request, send it over the guarded client with a total
//! timeout, capture at most `max_response_capture_bytes` of the answer, and record the
//! attempt durably before reporting back to the scheduler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;

use super::net::{describe_error, read_body_capped, DeliveryClient};
use super::{payload, retry};
use crate::config::Config;
use crate::model::{now_ms, Attempt, Delivery, DeliveryStatus, RequestLog, Webhook};
use crate::ops::metrics::{self, AttemptOutcome};
use crate::store::Store;

/// The log keeps at most this much of the request body.
const REQUEST_LOG_CAP: usize = 10 * 1024;

/// What the scheduler needs to know about a finished attempt.
#[derive(Debug)]
pub struct AttemptDone {
    pub webhook_id: String,
    pub delivery_id: String,
    /// The receiver answered 2xx.
    pub success: bool,
    /// The receiver answered 410 Gone: disable the webhook.
    pub gone: bool,
    /// No attempt was made (delivery or event gone): not a signal about the receiver.
    pub skipped: bool,
    /// The delivery is final (`success` or `failed`).
    pub closed: bool,
    /// When the next attempt is due, if retrying.
    pub next_due: Option<u64>,
}

/// Everything an attempt needs besides the delivery id.
#[derive(Clone)]
pub struct AttemptContext {
    pub store: Store,
    pub client: DeliveryClient,
    pub config: Arc<Config>,
}

/// Make the attempt and record it. Never panics on receiver behaviour.
pub async fn run(ctx: AttemptContext, webhook: Arc<Webhook>, delivery_id: String) -> AttemptDone {
    let mut done = AttemptDone {
        webhook_id: webhook.id.clone(),
        delivery_id: delivery_id.clone(),
        success: false,
        gone: false,
        skipped: true,
        closed: false,
        next_due: None,
    };
    let delivery = match ctx.store.get_delivery(&delivery_id) {
        Ok(Some(d)) if d.status.is_open() => d,
        Ok(_) => {
            done.closed = true;
            return done;
        }
        Err(e) => {
            tracing::error!(delivery = %delivery_id, error = %e, "cannot load delivery");
            return done;
        }
    };
    let event = match ctx.store.get_event_any(&delivery.event_id) {
        Ok(Some(e)) => e,
        _ => {
            close_without_attempt(&ctx, delivery, "not sent: the event no longer exists").await;
            done.closed = true;
            return done;
        }
    };
    done.skipped = false;
    let cfg = &ctx.config.delivery;
    let attempt_no = delivery.attempts.len() as u32 + 1;
    let now = now_ms();
    let secrets: Vec<&str> = std::iter::once(webhook.secret.as_str())
        .chain(
            webhook
                .previous_secrets
                .iter()
                .filter(|(_, until)| *until > now)
                .map(|(s, _)| s.as_str()),
        )
        .collect();
    let Exchange {
        attempt,
        headers,
        body,
        retry_after,
    } = exchange(&ctx, &webhook, &event, &delivery.id, attempt_no, &secrets).await;
    let status_code = attempt.status_code;
    done.success = attempt.succeeded();
    done.gone = status_code == Some(410);
    metrics::attempt(if done.success {
        AttemptOutcome::Success
    } else if status_code.is_none()
        && attempt
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("timeout"))
    {
        AttemptOutcome::Timeout
    } else if attempt
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("refused"))
    {
        AttemptOutcome::Refused
    } else {
        AttemptOutcome::Failure
    });
    if done.success {
        metrics::delivery_latency(now_ms().saturating_sub(event.created_at) as f64 / 1000.0);
    }
    let schedule = webhook
        .retry_schedule_secs
        .as_deref()
        .unwrap_or(&cfg.retry_schedule_secs);
    let retry_after_secs = match status_code {
        Some(429) | Some(503) => retry_after.and_then(|v| retry::parse_retry_after(&v, now)),
        _ => None,
    };
    let next_due = if done.success || done.gone {
        None
    } else {
        retry::next_delay_ms(
            schedule,
            attempt_no,
            retry_after_secs,
            cfg.max_retry_after_secs,
        )
        .map(|d| retry::due_after(now_ms(), d))
    };
    let mut delivery = delivery;
    let old_due = delivery.next_attempt_at;
    delivery.status = match (done.success, next_due) {
        (true, _) => DeliveryStatus::Success,
        (false, Some(_)) => DeliveryStatus::Retrying,
        (false, None) => DeliveryStatus::Failed,
    };
    delivery.next_attempt_at = next_due;
    delivery.request = Some(RequestLog {
        headers: payload::headers_for_log(&headers, &webhook.headers),
        body: payload::capture(&body, REQUEST_LOG_CAP),
    });
    delivery.attempts.push(attempt);
    done.closed = next_due.is_none();
    done.next_due = next_due;
    // Recorded without waiting for the fsync: the next group commit (which starts as soon
    // as the one running ends) makes it durable. A crash before that loses only the record,
    // and the schedule entry still at `old_due` makes the attempt again: a duplicate,
    // never a loss (at-least-once). Waiting here would cap each webhook at
    // max_in_flight / fsync-latency attempts per second.
    if let Err(e) = ctx.store.save_delivery_nowait(&delivery, old_due) {
        // Not recorded: the schedule entry is still at `old_due`, so the attempt will be
        // made again (at-least-once), which is the safe side.
        tracing::error!(delivery = %delivery.id, error = %e, "cannot record attempt");
    }
    if webhook.ordered {
        // An ordered webhook sends its next delivery only once this outcome is on disk:
        // after a crash the receiver may see the last attempt again, never an earlier
        // event after a later one. (One fsync per attempt is affordable at one in flight.)
        if let Err(e) = ctx.store.durable().await {
            tracing::error!(delivery = %delivery.id, error = %e, "cannot make the attempt durable");
        }
    } else {
        ctx.store.request_commit();
    }
    done
}

/// After an attempt task panicked, the delivery is tried again this much later.
const PANICKED_RETRY_MS: u64 = 10_000;

/// Run `attempt` (an [`run`] future) as a task of its own and return its result; should it
/// panic, a result that says nothing about the receiver (`skipped`) and asks for another
/// attempt [`PANICKED_RETRY_MS`] later, so the scheduler's in-flight counts still fall and
/// the delivery (whose schedule entry was never moved) is not forgotten.
pub async fn supervised<F>(webhook_id: String, delivery_id: String, attempt: F) -> AttemptDone
where
    F: std::future::Future<Output = AttemptDone> + Send + 'static,
{
    match tokio::spawn(attempt).await {
        Ok(done) => done,
        Err(e) => {
            let why = if e.is_panic() {
                super::failure::panic_message(e.into_panic())
            } else {
                "cancelled".to_string()
            };
            tracing::error!(webhook = %webhook_id, delivery = %delivery_id, reason = %why, "attempt task failed; trying again later");
            AttemptDone {
                webhook_id,
                delivery_id,
                success: false,
                gone: false,
                skipped: true,
                closed: false,
                next_due: Some(super::retry::due_after(now_ms(), PANICKED_RETRY_MS)),
            }
        }
    }
}

/// Send one unrecorded attempt of `event` now (the `/test` route): the same request a
/// real delivery makes, signed, through the same guarded client and timeout.
pub async fn send_test(
    ctx: &AttemptContext,
    webhook: &Webhook,
    event: &crate::model::Event,
) -> Attempt {
    let delivery_id = crate::model::new_id(crate::model::IdKind::Delivery);
    exchange(
        ctx,
        webhook,
        event,
        &delivery_id,
        1,
        &[webhook.secret.as_str()],
    )
    .await
    .attempt
}

/// One request and its answer, as recorded.
struct Exchange {
    attempt: Attempt,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    retry_after: Option<String>,
}

/// Build the signed request, send it within the webhook's timeout, and describe the
/// outcome as an [`Attempt`] (the one code path of real deliveries and `/test`).
async fn exchange(
    ctx: &AttemptContext,
    webhook: &Webhook,
    event: &crate::model::Event,
    delivery_id: &str,
    attempt_no: u32,
    secrets: &[&str],
) -> Exchange {
    let cfg = &ctx.config.delivery;
    let body = payload::body(event, webhook.payload_format);
    let now = now_ms();
    let headers = payload::headers(
        webhook,
        secrets,
        event,
        delivery_id,
        attempt_no,
        (now / 1000) as i64,
        &body,
    );
    let timeout = attempt_timeout(webhook.timeout_secs.unwrap_or(cfg.timeout_secs));
    let started = Instant::now();
    let result = match url_refusal(&webhook.url, cfg.allow_http) {
        Some(refusal) => Ok(Err(refusal)),
        None => {
            tokio::time::timeout(
                timeout,
                send(
                    &ctx.client,
                    webhook,
                    &headers,
                    body.clone(),
                    cfg.max_response_capture_bytes,
                ),
            )
            .await
        }
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let (status_code, error, response_body, retry_after) = match result {
        Err(_) => (None, Some(timeout_error(timeout)), String::new(), None),
        Ok(Err(e)) => (None, Some(e), String::new(), None),
        Ok(Ok((status, body, retry_after))) => {
            (Some(status), status_error(status), body, retry_after)
        }
    };
    Exchange {
        attempt: Attempt {
            attempt: attempt_no,
            status_code,
            duration_ms,
            error,
            response_body,
            attempted_at: now,
        },
        headers,
        body,
        retry_after,
    }
}

/// Why a stored webhook URL may not be sent to under the current config, if it may not:
/// URLs are validated when a webhook is saved, but the operator may have turned
/// `delivery.allow_http` off since, and webhooks saved by older versions may carry
/// credentials. Such an attempt fails with this error (and is retried on schedule, so
/// fixing the URL or the config lets the delivery through) instead of being sent.
fn url_refusal(raw: &str, allow_http: bool) -> Option<String> {
    let Ok(url) = url::Url::parse(raw) else {
        return Some("refused: the webhook URL is not a valid URL".into());
    };
    if url.scheme() == "http" && !allow_http {
        return Some(
            "refused: plain http:// delivery is turned off (delivery.allow_http = false); \
             change the webhook URL to https://"
                .into(),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some(
            "refused: the webhook URL contains credentials (user:password@); \
             send them in a custom header instead"
                .into(),
        );
    }
    None
}

/// An attempt's time limit from its configured seconds; a stored value that is not a valid
/// duration (validation refuses those) falls back to 30 s rather than panicking, and none
/// exceeds 300 s.
fn attempt_timeout(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs)
        .unwrap_or(Duration::from_secs(30))
        .min(Duration::from_secs(300))
}

/// The recorded error of an attempt that got no complete answer in time.
fn timeout_error(timeout: Duration) -> String {
    format!(
        "timeout: no complete answer within {:.1} s",
        timeout.as_secs_f64()
    )
}

/// The recorded error of an answer: none for 2xx.
fn status_error(status: u16) -> Option<String> {
    match status {
        200..=299 => None,
        300..=399 => Some(format!(
            "redirect ({status}) not followed: webhooks must answer 2xx at the registered URL"
        )),
        _ => Some(format!("receiver answered HTTP {status}")),
    }
}

async fn save(
    store: &Store,
    d: &Delivery,
    old_due: Option<u64>,
) -> Result<(), crate::store::StoreError> {
    store.save_delivery_nowait(d, old_due)?;
    store.durable().await
}

/// Close a delivery as `failed` with a note saying why it was not sent.
pub async fn close_without_attempt(ctx: &AttemptContext, mut d: Delivery, why: &str) {
    let old_due = d.next_attempt_at;
    d.attempts.push(Attempt {
        attempt: d.attempts.len() as u32 + 1,
        status_code: None,
        duration_ms: 0,
        error: Some(why.to_string()),
        response_body: String::new(),
        attempted_at: now_ms(),
    });
    d.status = DeliveryStatus::Failed;
    d.next_attempt_at = None;
    if let Err(e) = save(&ctx.store, &d, old_due).await {
        tracing::error!(delivery = %d.id, error = %e, "cannot close delivery");
    }
}

/// Send and read the head and up to `cap` bytes of the body. Errors are one line, with
/// the host at most.
async fn send(
    client: &DeliveryClient,
    webhook: &Webhook,
    headers: &[(String, String)],
    body: Vec<u8>,
    cap: usize,
) -> Result<(u16, String, Option<String>), String> {
    let method = if webhook.method == "PUT" {
        http::Method::PUT
    } else {
        http::Method::POST
    };
    let mut req = http::Request::builder().method(method).uri(&webhook.url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: cannot build the request: {e}"))?;
    let resp = client.request(req).await.map_err(|e| describe_error(&e))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (bytes, _truncated) = read_body_capped(resp.into_body(), cap).await;
    Ok((status, payload::capture(&bytes, cap), retry_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicked_attempt_reports_back_as_a_skipped_attempt_retried_soon() {
        let done = supervised("wh_1".into(), "dlv_1".into(), async {
            panic!("attempt bug");
        })
        .await;
        assert_eq!(done.delivery_id, "dlv_1");
        assert!(!done.success && done.skipped && !done.closed);
        let due = done.next_due.expect("retried");
        assert!(due > now_ms() && due <= now_ms() + PANICKED_RETRY_MS);
    }

    #[test]
    fn http_urls_are_refused_once_allow_http_is_off_and_credentials_always() {
        assert_eq!(url_refusal("https://crm.example.com/hooks", false), None);
        assert_eq!(url_refusal("http://127.0.0.1:9/hooks", true), None);
        let e = url_refusal("http://127.0.0.1:9/hooks", false).unwrap();
        assert!(e.starts_with("refused:") && e.contains("allow_http"), "{e}");
        let e = url_refusal("https://user:secret@crm.example.com/", false).unwrap();
        assert!(e.starts_with("refused:") && !e.contains("secret@"), "{e}");
    }
}

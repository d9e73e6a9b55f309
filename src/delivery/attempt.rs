//! One attempt: build the signed request, send it over the guarded client with a total
//! timeout, capture at most `max_response_capture_bytes` of the answer, and record the
//! attempt durably before reporting back to the scheduler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;

use super::net::client::find_in_chain;
use super::net::{describe_error, read_body_capped, ConnectError, DeliveryClient};
use super::target::Target;
use super::{payload, retry};
use crate::config::Config;
use crate::model::{now_ms, Attempt, Delivery, DeliveryStatus, RequestLog, Webhook};
use crate::ops::metrics::{self, AttemptOutcome};
use crate::store::{ChangeMark, Store};

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
    /// Events read lately, for the next attempts of their other deliveries.
    pub(crate) recent: Arc<super::recent::RecentEvents>,
    /// Webhook URLs checked and parsed.
    pub(crate) targets: Arc<super::target::Targets>,
}

/// The event of a delivery just published: what [`run`] would otherwise read. The delivery
/// itself is rebuilt from it (`Delivery::published_as`: every field but the id derives from
/// the event).
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) event: Arc<crate::model::Event>,
    /// Taken before the delivery was stored: see `Store::update_delivery_from`.
    pub(crate) mark: ChangeMark,
}

/// Make the attempt and record it. Never panics on receiver behaviour. `prepared`: the
/// delivery and event as published (a first attempt right after ingest); otherwise both
/// are read from the store. Either way the record is written against the delivery as
/// stored then (`update_delivery`), so a copy older than the store changes nothing there.
pub async fn run(
    ctx: Arc<AttemptContext>,
    webhook: Arc<Webhook>,
    delivery_id: String,
    prepared: Option<Prepared>,
) -> AttemptDone {
    let mut done = AttemptDone {
        webhook_id: webhook.id.clone(),
        delivery_id: delivery_id.clone(),
        success: false,
        gone: false,
        skipped: true,
        closed: false,
        next_due: None,
    };
    let (delivery, event, mark) = match prepared {
        Some(p) => (
            Delivery::published_as(delivery_id.clone(), &p.event, &webhook.id),
            p.event,
            p.mark,
        ),
        None => {
            let mark = ctx.store.change_mark();
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
            let event = match ctx.recent.get(&ctx.store, &delivery.event_id) {
                Ok(Some(e)) => e,
                _ => {
                    close_without_attempt(
                        &ctx,
                        &delivery.id,
                        "not sent: the event no longer exists",
                    )
                    .await;
                    done.closed = true;
                    return done;
                }
            };
            (delivery, event, mark)
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
        failure,
        headers,
        retry_after,
    } = exchange(&ctx, &webhook, &event, &delivery.id, attempt_no, &secrets).await;
    let status_code = attempt.status_code;
    done.success = failure.is_none();
    done.gone = matches!(failure, Some(AttemptError::Status(410)));
    metrics::attempt(match failure {
        None => AttemptOutcome::Success,
        Some(AttemptError::Timeout(_)) => AttemptOutcome::Timeout,
        Some(AttemptError::Refused(_)) => AttemptOutcome::Refused,
        Some(AttemptError::Transport(_) | AttemptError::Status(_)) => AttemptOutcome::Failure,
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
    let request = RequestLog {
        headers: payload::headers_for_log(headers, &webhook.headers),
        // The body is rebuilt from the event when the log is read (see `RequestLog`).
        body: String::new(),
        body_format: Some(webhook.payload_format),
    };
    let verdict = Verdict {
        success: done.success,
        gone: done.gone,
        next_due,
    };
    // Recorded without waiting for the fsync: the next group commit (which starts as soon
    // as the one running ends) makes it durable. A crash before that loses only the record,
    // and the schedule entry still at its old time makes the attempt again: a duplicate,
    // never a loss (at-least-once). Waiting here would cap each webhook at
    // max_in_flight / fsync-latency attempts per second.
    match record(&ctx.store, delivery, mark, attempt, request, &verdict) {
        Ok(Some(stored)) => {
            done.closed = !stored.status.is_open();
            done.next_due = stored.next_attempt_at;
        }
        Ok(None) => {
            // Removed while in flight (tenant deleted, or the event purged): nothing to
            // record, nothing re-created.
            done.closed = true;
        }
        Err(e) => {
            // Not recorded: the schedule entry is still at its old time, so the attempt
            // will be made again (at-least-once), which is the safe side.
            tracing::error!(delivery = %delivery_id, error = %e, "cannot record attempt");
            done.closed = next_due.is_none();
            done.next_due = next_due;
        }
    }
    if webhook.ordered {
        // An ordered webhook sends its next delivery only once this outcome is on disk:
        // after a crash the receiver may see the last attempt again, never an earlier
        // event after a later one. (One fsync per attempt is affordable at one in flight.)
        if let Err(e) = ctx.store.durable().await {
            tracing::error!(delivery = %delivery_id, error = %e, "cannot make the attempt durable");
        }
    } else {
        ctx.store.request_commit();
    }
    done
}

/// After an attempt task panicked, the delivery is tried again this much later.
const PANICKED_RETRY_MS: u64 = 10_000;

/// Run `attempt` (an [`run`] future) and return its result; should it panic, a result
/// that says nothing about the receiver (`skipped`) and asks for another attempt
/// [`PANICKED_RETRY_MS`] later, so the scheduler's in-flight counts still fall and the
/// delivery (whose schedule entry was never moved) is not forgotten.
///
/// The panic is caught around each poll, in the caller's task: a task of its own for
/// every attempt, awaited by the task that reports back, cost a second spawn, wake and
/// join per delivery.
pub async fn supervised<F>(webhook_id: String, delivery_id: String, attempt: F) -> AttemptDone
where
    F: std::future::Future<Output = AttemptDone>,
{
    let mut attempt = std::pin::pin!(attempt);
    let outcome = std::future::poll_fn(|cx| {
        // Unwind safety: a panicked attempt is dropped, never polled again, and what it
        // shares (the store, the client) is what a panicking task shared before.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| attempt.as_mut().poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(done)) => std::task::Poll::Ready(Ok(done)),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    })
    .await;
    match outcome {
        Ok(done) => done,
        Err(panic) => {
            let why = super::failure::panic_message(panic);
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

/// Send `event` once now (the `/test` route): the same request a real delivery makes,
/// signed, through the same guarded client and timeout. Answers the delivery as the log
/// shows it (`trigger: test`, final, with its one attempt and request); storing it is
/// the caller's business. Nothing here touches the webhook's health or statistics.
pub async fn send_test(
    ctx: &AttemptContext,
    webhook: &Webhook,
    event: &crate::model::Event,
) -> Delivery {
    let mut delivery = Delivery::pending(event, &webhook.id, event.created_at);
    delivery.trigger = crate::model::Trigger::Test;
    let Exchange {
        attempt, headers, ..
    } = exchange(
        ctx,
        webhook,
        event,
        &delivery.id,
        1,
        &[webhook.secret.as_str()],
    )
    .await;
    delivery.status = if attempt.succeeded() {
        DeliveryStatus::Success
    } else {
        DeliveryStatus::Failed
    };
    delivery.next_attempt_at = None;
    delivery.request = Some(RequestLog {
        headers: payload::headers_for_log(headers, &webhook.headers),
        body: String::new(),
        body_format: Some(webhook.payload_format),
    });
    delivery.attempts.push(attempt);
    delivery
}

/// Why an attempt did not deliver: what the delivery log says (its `Display`) and how
/// the metrics count it (its variant).
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    /// No complete answer within the attempt's time limit.
    #[error("timeout: no complete answer within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// Not sent: the destination is not allowed (network policy, config). The text starts
    /// with `refused:`.
    #[error("{0}")]
    Refused(String),
    /// Connecting or exchanging failed (DNS, TCP, TLS, HTTP).
    #[error("{0}")]
    Transport(String),
    /// The receiver answered, but not 2xx.
    #[error("{}", status_error(*.0))]
    Status(u16),
}

/// One request and its answer, as recorded.
struct Exchange {
    attempt: Attempt,
    /// `None`: delivered (2xx).
    failure: Option<AttemptError>,
    headers: Vec<(String, String)>,
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
    let result = match ctx.targets.of(&webhook.url) {
        Target::Refused(refusal) => Ok(Err(AttemptError::Refused(refusal))),
        Target::Unusable(why) => Ok(Err(AttemptError::Transport(why))),
        Target::Send(uri) => {
            tokio::time::timeout(
                timeout,
                send(
                    &ctx.client,
                    webhook,
                    uri,
                    &headers,
                    body,
                    cfg.max_response_capture_bytes,
                ),
            )
            .await
        }
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let (status_code, failure, response_body, retry_after) = match result {
        Err(_) => (
            None,
            Some(AttemptError::Timeout(timeout)),
            String::new(),
            None,
        ),
        Ok(Err(e)) => (None, Some(e), String::new(), None),
        Ok(Ok((status, body, retry_after))) => {
            let failure = (!(200..=299).contains(&status)).then_some(AttemptError::Status(status));
            (Some(status), failure, body, retry_after)
        }
    };
    Exchange {
        attempt: Attempt {
            attempt: attempt_no,
            status_code,
            duration_ms,
            error: failure.as_ref().map(ToString::to_string),
            response_body,
            attempted_at: now,
        },
        failure,
        headers,
        retry_after,
    }
}

/// An attempt's time limit from its configured seconds; a stored value that is not a valid
/// duration (validation refuses those) falls back to 30 s rather than panicking, and none
/// exceeds 300 s.
fn attempt_timeout(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs)
        .unwrap_or(Duration::from_secs(30))
        .min(Duration::from_secs(300))
}

/// The recorded error of a non-2xx answer.
fn status_error(status: u16) -> String {
    match status {
        300..=399 => format!(
            "redirect ({status}) not followed: webhooks must answer 2xx at the registered URL"
        ),
        _ => format!("receiver answered HTTP {status}"),
    }
}

/// What a finished attempt concluded, before it is merged with the stored delivery.
struct Verdict {
    success: bool,
    gone: bool,
    /// The next attempt's time by the retry schedule; `None`: out of retries (or gone).
    next_due: Option<u64>,
}

/// Record a finished attempt on the delivery as stored now, not on the copy the attempt
/// started from (`started`, taken after `mark`): a retry requested over the API while the attempt ran keeps
/// its time (unless the attempt succeeded, which satisfies it, or was answered 410 Gone),
/// so the delivery keeps exactly one schedule entry and no change is overwritten. Nothing
/// is written when the delivery was removed meanwhile (`None`).
fn record(
    store: &Store,
    started: Delivery,
    mark: ChangeMark,
    attempt: Attempt,
    request: RequestLog,
    verdict: &Verdict,
) -> Result<Option<Delivery>, crate::store::StoreError> {
    let (due_at_start, attempts_at_start) = (started.next_attempt_at, started.attempts.len());
    let mut old_status = started.status;
    let stored = store.update_delivery_from(started, mark, |d| {
        old_status = d.status;
        let untouched = d.next_attempt_at == due_at_start && d.attempts.len() == attempts_at_start;
        d.attempts.push(attempt);
        d.request = Some(request);
        if verdict.success {
            d.status = DeliveryStatus::Success;
            d.next_attempt_at = None;
        } else if untouched || verdict.gone {
            d.status = match verdict.next_due {
                Some(_) => DeliveryStatus::Retrying,
                None => DeliveryStatus::Failed,
            };
            d.next_attempt_at = verdict.next_due;
        } else if d.status.is_open() {
            // A retry was requested while this attempt ran: it keeps the time asked for.
            d.status = DeliveryStatus::Retrying;
        }
        true
    })?;
    if let Some(d) = &stored {
        store.stats_attempted(d, old_status);
    }
    Ok(stored)
}

/// Close a delivery as `failed` with a note saying why it was not sent, if it is still
/// open, and wait until that is durable.
pub async fn close_without_attempt(ctx: &AttemptContext, delivery_id: &str, why: &str) {
    let mut old_status = None;
    let closed = ctx.store.update_delivery(delivery_id, |d| {
        if !d.status.is_open() {
            return false;
        }
        old_status = Some(d.status);
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
        true
    });
    let result = match closed {
        Ok(stored) => {
            if let (Some(d), Some(from)) = (&stored, old_status) {
                ctx.store.stats_moved(d, from);
            }
            ctx.store.durable().await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(delivery = %delivery_id, error = %e, "cannot close delivery");
    }
}

/// Send and read the head and up to `cap` bytes of the body. Errors are one line, with
/// the host at most; a destination the network policy refuses is `Refused`.
async fn send(
    client: &DeliveryClient,
    webhook: &Webhook,
    uri: http::Uri,
    headers: &[(String, String)],
    body: Vec<u8>,
    cap: usize,
) -> Result<(u16, String, Option<String>), AttemptError> {
    let method = if webhook.method == "PUT" {
        http::Method::PUT
    } else {
        http::Method::POST
    };
    let cannot_build = |e: &dyn std::fmt::Display| {
        AttemptError::Transport(format!("request: cannot build the request: {e}"))
    };
    // Built in place rather than through `http::request::Builder`, which moves the whole
    // request through a closure for each header (2 % of hookd's CPU in fan-out).
    let mut req = http::Request::new(Full::new(Bytes::from(body)));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let map = req.headers_mut();
    map.reserve(headers.len());
    for (k, v) in headers {
        let name = header_name(k).map_err(|e| cannot_build(&e))?;
        let mut value = http::HeaderValue::from_str(v).map_err(|e| cannot_build(&e))?;
        // Values that seldom repeat are sent as never-indexed literals (`NOT_INDEXED`).
        value.set_sensitive(payload::NOT_INDEXED.contains(&k.as_str()));
        map.append(name, value);
    }
    let resp = client.request(req).await.map_err(|e| {
        let text = describe_error(&e);
        match find_in_chain::<ConnectError>(&e) {
            Some(ConnectError::Refused(_)) => AttemptError::Refused(text),
            _ => AttemptError::Transport(text),
        }
    })?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (bytes, _truncated) = read_body_capped(resp.into_body(), cap).await;
    Ok((status, payload::capture(&bytes, cap), retry_after))
}

/// A header's name; hookd's own names without parsing or allocating them (0.8 % of the
/// CPU at full speed).
fn header_name(name: &str) -> Result<http::HeaderName, http::header::InvalidHeaderName> {
    match payload::OWN_HEADERS.iter().find(|own| **own == name) {
        Some(own) => Ok(http::HeaderName::from_static(own)),
        None => http::HeaderName::from_bytes(name.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_header_names_are_the_parsed_names_and_others_are_parsed() {
        let wh = testkit::webhook("wh_1", "ten_1");
        let event = testkit::event("ten_1");
        for (k, _) in payload::headers(&wh, &["whsec_x"], &event, "dlv_1", 1, 0, b"{}") {
            assert_eq!(
                header_name(&k).unwrap(),
                http::HeaderName::from_bytes(k.as_bytes()).unwrap()
            );
        }
        assert_eq!(header_name("X-Api-Key").unwrap().as_str(), "x-api-key");
        assert!(header_name("bad name").is_err());
    }

    use crate::delivery::testkit;
    use crate::model::Tenant;

    fn failed_attempt() -> (Attempt, RequestLog) {
        let attempt = Attempt {
            attempt: 1,
            status_code: Some(500),
            duration_ms: 3,
            error: Some("receiver answered HTTP 500".into()),
            response_body: String::new(),
            attempted_at: now_ms(),
        };
        (attempt, RequestLog::default())
    }

    /// Stores an event of `ten_1` with one delivery due now; returns the delivery.
    async fn one_delivery(store: &Store) -> Delivery {
        let event = testkit::event("ten_1");
        let d = Delivery::pending(&event, "wh_1", event.created_at);
        store
            .ingest(&event, std::slice::from_ref(&d), None)
            .await
            .unwrap();
        d
    }

    #[tokio::test]
    async fn a_retry_requested_while_the_attempt_is_in_flight_keeps_one_schedule_entry_and_its_time(
    ) {
        let (_dir, store) = testkit::store();
        let d = one_delivery(&store).await;
        // The attempt starts from the stored delivery ...
        let mark = store.change_mark();
        let started = store.get_delivery(&d.id).unwrap().unwrap();
        // ... a retry is asked for while it is in flight ...
        let asked = started.next_attempt_at.unwrap() + 5;
        let wh = testkit::webhook("wh_1", "ten_1");
        crate::delivery::recover::retry_nowait(&store, &wh, &d.id, asked)
            .unwrap()
            .expect("the delivery exists");
        // ... and the attempt fails, its schedule saying "in a minute".
        let (attempt, request) = failed_attempt();
        let verdict = Verdict {
            success: false,
            gone: false,
            next_due: Some(asked + 60_000),
        };
        let stored = record(&store, started, mark, attempt, request, &verdict)
            .unwrap()
            .unwrap();
        assert_eq!(
            store.schedule_len(),
            1,
            "one open delivery, one schedule entry"
        );
        let entry = store
            .due_entries(&stored.webhook_id, None, u64::MAX, 10)
            .unwrap();
        assert_eq!(entry[0].due_ms, asked, "the retry keeps the time asked for");
        assert_eq!(stored.next_attempt_at, Some(asked));
        assert_eq!(stored.status, DeliveryStatus::Retrying);
        assert_eq!(stored.attempts.len(), 1, "the attempt is recorded");
    }

    #[tokio::test]
    async fn an_attempt_finishing_after_its_tenant_was_deleted_recreates_nothing() {
        let (_dir, store) = testkit::store();
        let tenant = Tenant {
            id: "ten_1".into(),
            name: "t".into(),
            created_at: 0,
            alert_emails: vec![],
        };
        let key = crate::model::ApiKey {
            id: "key_1".into(),
            tenant_id: "ten_1".into(),
            role: crate::model::Role::Admin,
            name: "k".into(),
            created_at: 0,
            prefix: "hk_".into(),
        };
        store.create_tenant(&tenant, &key, &[7; 32]).await.unwrap();
        let d = one_delivery(&store).await;
        let mark = store.change_mark();
        let started = store.get_delivery(&d.id).unwrap().unwrap();
        assert!(store.delete_tenant("ten_1").await.unwrap());
        let (attempt, request) = failed_attempt();
        let verdict = Verdict {
            success: false,
            gone: false,
            next_due: Some(now_ms() + 60_000),
        };
        let stored = record(&store, started, mark, attempt, request, &verdict).unwrap();
        assert!(stored.is_none());
        assert!(
            store.get_delivery(&d.id).unwrap().is_none(),
            "not re-created"
        );
        assert_eq!(store.schedule_len(), 0, "no schedule entry left behind");
    }

    /// The common case: nothing but the attempt touched the delivery, so its copy is
    /// recorded as it is; the store then holds exactly what a read would have given.
    #[tokio::test]
    async fn an_attempt_on_an_untouched_delivery_records_on_its_copy() {
        let (_dir, store) = testkit::store();
        let mark = store.change_mark();
        let d = one_delivery(&store).await;
        let (attempt, request) = failed_attempt();
        let next = d.next_attempt_at.unwrap() + 60_000;
        let verdict = Verdict {
            success: false,
            gone: false,
            next_due: Some(next),
        };
        // Another event's delivery closed over the API meanwhile: counted as a change, so
        // the copy is read again, with the same outcome.
        for other in [false, true] {
            let mark = if other {
                let o = one_delivery(&store).await;
                let mark = store.change_mark();
                store
                    .update_delivery(&o.id, |o| {
                        o.status = DeliveryStatus::Failed;
                        o.next_attempt_at = None;
                        true
                    })
                    .unwrap();
                assert_ne!(mark, store.change_mark());
                mark
            } else {
                mark
            };
            let copy = store.get_delivery(&d.id).unwrap().unwrap();
            let stored = record(
                &store,
                copy,
                mark,
                attempt.clone(),
                request.clone(),
                &verdict,
            )
            .unwrap()
            .unwrap();
            assert_eq!(Some(&stored), store.get_delivery(&d.id).unwrap().as_ref());
            assert_eq!(stored.status, DeliveryStatus::Retrying);
            assert_eq!(stored.attempts.len(), if other { 2 } else { 1 });
        }
        assert_eq!(
            store.schedule_len(),
            1,
            "one open delivery, one schedule entry"
        );
    }

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
}

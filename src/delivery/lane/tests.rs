use super::*;
use crate::delivery::testkit;
use crate::model::BreakerState;

fn webhook(rate: u32, ordered: bool) -> Arc<Webhook> {
    let mut w = testkit::webhook("wh_1", "ten_1");
    w.rate_limit_per_sec = rate;
    w.ordered = ordered;
    Arc::new(w)
}

fn failed(closed: bool) -> AttemptDone {
    AttemptDone {
        webhook_id: "wh_1".into(),
        delivery_id: "d".into(),
        success: false,
        gone: false,
        skipped: false,
        closed,
        next_due: None,
    }
}

fn go(id: &str) -> Decision {
    Decision::Go {
        delivery: id.into(),
        probe: false,
    }
}

#[test]
fn an_ordered_lane_rewinds_for_a_delivery_stored_behind_its_watermark() {
    let mut lane = Lane::new(webhook(1000, true));
    lane.queue.watermark = Some("dlv_05".into());
    lane.queue.head = Some(("dlv_07".into(), 0));
    lane.admit("dlv_06", 10);
    assert_eq!(lane.watermark(), Some("dlv_05"), "ahead: kept");
    lane.admit("dlv_04", 10);
    assert_eq!(lane.watermark(), None);
    assert!(
        lane.needs_head(),
        "the earlier delivery must become the head"
    );

    // Older than a head in flight: the watermark does not move past it afterwards.
    lane.queue.head = Some(("dlv_07".into(), 0));
    lane.queue.in_flight = 1;
    lane.admit("dlv_03", 10);
    assert_eq!(
        lane.queue.head.as_ref().map(|h| h.0.as_str()),
        Some("dlv_07")
    );
    let mut closed = failed(true);
    closed.delivery_id = "dlv_07".into();
    lane.finished(&closed, 0, &DeliveryConfig::default());
    assert_eq!(lane.watermark(), None, "dlv_03 must still be found");
    lane.queue.head = Some(("dlv_08".into(), 0));
    lane.queue.in_flight = 1;
    closed.delivery_id = "dlv_08".into();
    lane.finished(&closed, 0, &DeliveryConfig::default());
    assert_eq!(lane.watermark(), Some("dlv_08"));

    let mut unordered = Lane::new(webhook(1000, false));
    unordered.queue.watermark = Some("dlv_05".into());
    unordered.admit("dlv_01", 10);
    assert_eq!(unordered.watermark(), Some("dlv_05"));
}

#[test]
fn a_full_lane_leaves_deliveries_on_disk_and_asks_for_them_once_drained() {
    let mut lane = Lane::new(webhook(1000, false));
    assert!(lane.admit("a", 2) && lane.admit("b", 2));
    assert!(!lane.admit("c", 2), "full: left on disk");
    assert!(!lane.release(2), "one of two still loaded: not drained yet");
    assert!(lane.release(2), "drained: read what was left on disk");
    assert!(lane.is_idle());
}

#[test]
fn concurrency_is_bounded_per_webhook() {
    let cfg = DeliveryConfig {
        max_in_flight_per_webhook: 2,
        ..Default::default()
    };
    let mut lane = Lane::new(webhook(1000, false));
    for i in 0..5 {
        lane.park(0, format!("d{i}"));
    }
    assert!(matches!(lane.decide(10, &cfg), Decision::Go { .. }));
    assert!(matches!(lane.decide(10, &cfg), Decision::Go { .. }));
    assert_eq!(lane.decide(10, &cfg), Decision::Idle);
}

#[test]
fn rate_limit_makes_the_lane_wait_not_drop() {
    let cfg = DeliveryConfig::default();
    let mut lane = Lane::new(webhook(1, false));
    lane.park(0, "a".into());
    lane.park(0, "b".into());
    assert_eq!(lane.decide(10, &cfg), go("a"));
    lane.queue.in_flight = 0;
    assert!(matches!(lane.decide(10, &cfg), Decision::Wait(t) if t > 10));
    assert_eq!(
        lane.queue.parked.len(),
        1,
        "the waiting delivery stays parked"
    );
}

#[test]
fn breaker_opens_after_threshold_and_probes_one_at_a_time() {
    let cfg = DeliveryConfig {
        failing_after_consecutive_failures: 3,
        breaker_cooldown_secs: 10.0,
        ..Default::default()
    };
    let mut lane = Lane::new(webhook(1000, false));
    let mut became_failing = 0;
    for _ in 0..3 {
        lane.queue.in_flight = 1;
        became_failing += lane.finished(&failed(false), 1000, &cfg).became_failing as u32;
    }
    assert_eq!(became_failing, 1);
    assert_eq!(lane.health().failing_since, Some(1000));
    assert_eq!(lane.health().breaker.state, BreakerState::Open);
    for i in 0..3 {
        lane.park(0, format!("d{i}"));
    }
    assert_eq!(lane.decide(2000, &cfg), Decision::Wait(11_000));
    let probe = lane.decide(11_000, &cfg);
    assert!(
        matches!(probe, Decision::Go { probe: true, .. }),
        "{probe:?}"
    );
    assert_eq!(
        lane.health().breaker.state,
        BreakerState::Open,
        "deciding changes no health"
    );
    assert!(lane.record_probe_started().changed);
    assert_eq!(lane.health().breaker.state, BreakerState::HalfOpen);
    assert_eq!(
        lane.decide(11_000, &cfg),
        Decision::Idle,
        "one probe at a time"
    );
    lane.finished(&failed(false), 11_500, &cfg);
    assert_eq!(lane.health().breaker.state, BreakerState::Open);
    assert_eq!(
        lane.health().breaker.next_probe_at,
        Some(11_500 + 20_000),
        "cool-down doubles"
    );
    let mut ok = failed(true);
    ok.success = true;
    lane.queue.in_flight = 1;
    let change = lane.finished(&ok, 40_000, &cfg);
    assert!(change.recovered);
    assert_eq!(lane.health(), &WebhookHealth::default());
}

#[test]
fn breaker_and_rate_deadlines_saturate_at_the_end_of_time() {
    let cfg = DeliveryConfig {
        failing_after_consecutive_failures: 1,
        breaker_cooldown_secs: 1e12,
        breaker_max_cooldown_secs: 1e15,
        ..Default::default()
    };
    let mut lane = Lane::new(webhook(1, false));
    lane.finished(&failed(false), u64::MAX - 5, &cfg);
    assert_eq!(lane.health().breaker.state, BreakerState::Open);
    assert_eq!(lane.health().breaker.next_probe_at, Some(u64::MAX));

    let mut lane = Lane::new(webhook(1, false));
    lane.park(0, "a".into());
    lane.park(0, "b".into());
    assert_eq!(lane.decide(u64::MAX, &cfg), go("a"));
    lane.queue.in_flight = 0;
    assert_eq!(lane.decide(u64::MAX, &cfg), Decision::Wait(u64::MAX));
}

#[test]
fn gone_gives_up_at_once_and_a_disabled_webhook_closes_what_is_parked() {
    let cfg = DeliveryConfig::default();
    let mut lane = Lane::new(webhook(10, false));
    let mut d = failed(true);
    d.gone = true;
    let change = lane.finished(&d, 0, &cfg);
    assert!(change.disabled.is_some());
    let mut disabled = (**lane.webhook()).clone();
    disabled.status = WebhookStatus::Disabled;
    lane.refresh(Arc::new(disabled));
    lane.park(0, "x".into());
    assert!(matches!(lane.decide(0, &cfg), Decision::Close(_)));
}

#[test]
fn failing_too_long_with_a_delivery_out_of_retries_gives_up() {
    let cfg = DeliveryConfig {
        failing_after_consecutive_failures: 1,
        disable_after_failing_secs: 60.0,
        ..Default::default()
    };
    let mut lane = Lane::new(webhook(10, false));
    assert!(lane.finished(&failed(false), 0, &cfg).became_failing);
    assert_eq!(lane.finished(&failed(true), 59_000, &cfg).disabled, None);
    assert!(lane
        .finished(&failed(false), 61_000, &cfg)
        .disabled
        .is_none());
    assert!(lane
        .finished(&failed(true), 61_000, &cfg)
        .disabled
        .is_some());
}

#[test]
fn ordered_lane_sends_only_its_head() {
    let cfg = DeliveryConfig::default();
    let mut lane = Lane::new(webhook(1000, true));
    lane.park(0, "b".into());
    assert_eq!(lane.decide(5, &cfg), Decision::Idle, "no head known yet");
    lane.set_head("a".into(), 50, true);
    assert_eq!(
        lane.decide(5, &cfg),
        Decision::Wait(50),
        "head retrying later blocks b"
    );
    assert_eq!(lane.decide(50, &cfg), go("a"));
    assert_eq!(lane.decide(50, &cfg), Decision::Idle, "one in flight");
}

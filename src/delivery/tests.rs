//! Engine-level tests: the scheduler fed through the real publish path.

use std::time::Duration;

use super::testkit;
use super::Engine;

/// A hint channel of one slot, flooded by concurrent publishes: every delivery still gets
/// its attempt (a full channel turns into a rescan of the schedule, not a lost hint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_whose_hints_find_the_channel_full_are_still_attempted() {
    let (_dir, store) = testkit::store();
    store
        .create_webhook(&testkit::webhook("wh_1", "ten_1"))
        .await
        .unwrap();
    let engine = Engine::start_with(store.clone(), testkit::config(), 1).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..25 {
                let event = testkit::event("ten_1");
                engine.publish(event.clone(), None).await.unwrap();
                ids.push(event.id);
            }
            ids
        }));
    }
    let mut events = Vec::new();
    for t in tasks {
        events.extend(t.await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let unattempted = events
            .iter()
            .flat_map(|e| store.event_deliveries(e).unwrap())
            .filter(|d| d.attempts.is_empty())
            .count();
        if unattempted == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unattempted} of {} deliveries were never attempted",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.shutdown(Duration::from_secs(5)).await;
}

/// A webhook whose breaker waits until the end of time (a probe time far beyond any timer
/// the wheel can hold) with a delivery due now: the scheduler keeps running.
#[tokio::test]
async fn a_lane_waiting_beyond_the_timer_range_does_not_stop_the_scheduler() {
    let (_dir, store) = testkit::store();
    let mut wh = testkit::webhook("wh_1", "ten_1");
    wh.status = crate::model::WebhookStatus::Failing;
    wh.breaker.state = crate::model::BreakerState::Open;
    wh.breaker.next_probe_at = Some(u64::MAX);
    store.create_webhook(&wh).await.unwrap();
    let engine = Engine::start_with(store.clone(), testkit::config(), 16).unwrap();
    engine.publish(testkit::event("ten_1"), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(engine.failure(), None);
    engine.shutdown(Duration::from_secs(5)).await;
}

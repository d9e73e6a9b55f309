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
                engine.publish(&event, None).await.unwrap();
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

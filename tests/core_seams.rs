//! The core's seams, end to end through the API: the controller's one clock (grant windows
//! and timestamps move with a test clock, no sleeping), and caches that never refuse what the
//! store already has (a token or a person written by another process a moment ago).

mod common;

use std::time::Duration;

use common::{face, Db, TestApp};
use serde_json::{json, Value};
use wardgate::clock::TestClock;
use wardgate::model::{Role, TokenRole};

/// 2030-06-01T08:00:00Z.
const EIGHT_AM: i64 = 1_906_531_200_000;

fn decide(id: &str, door: &str, probe: &[f32]) -> Value {
    json!({"type": "authenticate", "request_id": id, "door": door, "staff": {"embedding": probe}})
}

#[tokio::test]
async fn grant_windows_and_timestamps_follow_the_controllers_clock() {
    let clock = TestClock::at(EIGHT_AM);
    let Some(a) = TestApp::spawn_at(Db::Sqlite, |_| {}, false, clock.clone()).await else {
        return;
    };
    let (s, d) = a
        .post(
            "/api/v1/doors",
            &a.admin,
            json!({"id": "ward-1", "name": "Ward 1", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["created_at"], "2030-06-01T08:00:00.000Z", "{d}");
    let (s, r) = a
        .post(
            "/register_face",
            &a.sync,
            json!({"name": "Dr A", "role": "doctor", "external_id": "E1", "embedding": face(7)}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    // A shift grant, 09:00 to 17:00 on the controller's day.
    let (s, g) = a
        .post(
            "/api/v1/grants",
            &a.sync,
            json!({"staff_id": r["subject_id"], "door_id": "ward-1",
                   "valid_from": "2030-06-01T09:00:00Z", "valid_until": "2030-06-01T17:00:00Z"}),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let at = |id: &str| decide(id, "ward-1", &face(7));

    let (_, d) = a.post("/api/v1/decisions", &a.terminal, at("r1")).await;
    assert_eq!(d["reason"], "grant_not_yet_valid", "{d}");
    clock.advance(Duration::from_secs(3600));
    let (_, d) = a.post("/api/v1/decisions", &a.terminal, at("r2")).await;
    assert_eq!(d["reason"], "granted", "{d}");
    clock.set(EIGHT_AM + 9 * 3_600_000 + 1);
    let (_, d) = a.post("/api/v1/decisions", &a.terminal, at("r3")).await;
    assert_eq!(d["reason"], "grant_expired", "{d}");

    // The events carry the controller's time, not the machine's.
    a.state.core.events.flush().await.unwrap();
    let (_, ev) = a
        .get("/api/v1/events?kind=decision&limit=10", &a.technician)
        .await;
    let times: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2030-06-01T17:00:00.001Z",
            "2030-06-01T09:00:00.000Z",
            "2030-06-01T08:00:00.000Z"
        ],
        "{ev}"
    );
    // "In the past" is judged by the controller's clock too: 12:00 is past at 17:00 of its day,
    // although it is years ahead of the machine's.
    let (s, p) = a
        .post(
            "/create_access",
            &a.sync,
            json!({"action": "grant", "staff_id": r["subject_id"], "patient_id": "nobody",
                   "valid_until": "2030-06-01T12:00:00Z"}),
        )
        .await;
    assert_eq!(s / 100, 4, "{p}");
    a.stop().await;
}

#[tokio::test]
async fn a_token_made_elsewhere_works_at_once_and_a_revoked_one_stops_within_the_feed() {
    let Some(a) = TestApp::spawn_with(Db::Sqlite, |c| c.database.change_poll_ms = 1000).await
    else {
        return;
    };
    // `wardgate token create` is another process: it writes the store, not this cache.
    let other = a.db.store().await;
    let cli = wardgate::tokens::TokenAuth::new(None);
    let (token, rec) = cli
        .create(&other, "made by the cli", TokenRole::Technician)
        .await
        .unwrap();
    let (s, body) = a.get("/api/v1/doors", &token).await;
    assert_eq!(
        s, 200,
        "the token was refused although the store has it: {body}"
    );
    // Unknown tokens still count as failures (and are still refused).
    let (s, _) = a.get("/api/v1/doors", "wg_not-a-token").await;
    assert_eq!(s, 401);
    // A revocation reaches the cache within the feed's interval.
    other.revoke_token(&rec.id).await.unwrap();
    let t = std::time::Instant::now();
    loop {
        let (s, _) = a.get("/api/v1/doors", &token).await;
        if s == 401 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(3), "still accepted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
}

#[tokio::test]
async fn a_person_enrolled_on_another_controller_is_recognised_at_once() {
    let Some(a) = TestApp::spawn_with(Db::Sqlite, |c| c.database.change_poll_ms = 1000).await
    else {
        return;
    };
    let (s, _) = a
        .post(
            "/api/v1/doors",
            &a.admin,
            json!({"id": "ward-2", "name": "Ward 2", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 201);
    // Let this controller's own write settle in its caches before the other one writes.
    a.state.core.changes.sync().await.unwrap();
    let other = a.db.store().await.with_writer("controller-b");
    let model = a.state.core.catalog.model_id().to_owned();
    let (nurse, _) = other
        .register_subject_with_face("N9", "Nurse B", Role::Nurse, &model, &face(42))
        .await
        .unwrap();
    other
        .grant(
            &nurse.id,
            &wardgate::model::GrantTarget::Door("ward-2".into()),
            None,
            None,
            "admin",
        )
        .await
        .unwrap();
    let (_, d) = a
        .post(
            "/api/v1/decisions",
            &a.terminal,
            decide("r1", "ward-2", &face(42)),
        )
        .await;
    assert_eq!(d["reason"], "granted", "{d}");
    assert_eq!(d["staff"]["subject_id"], nurse.id.as_str(), "{d}");
    // A stranger is still a stranger (the extra read found nothing new to apply).
    let (_, d) = a
        .post(
            "/api/v1/decisions",
            &a.terminal,
            decide("r2", "ward-2", &face(43)),
        )
        .await;
    assert_eq!(d["reason"], "unknown_staff", "{d}");
    a.stop().await;
}

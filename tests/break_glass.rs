//! Break-glass through the API (docs/privacy.md, "Emergency access"): admin only, a reason
//! required, bounded by `door.break_glass_minutes`; it unlocks the door, raises the
//! `break_glass` alarm (audit log and /ws/events), refuses in lockdown, and the report lists
//! the episode with who, why, when and how long. The key switch and the timing are tested on
//! the state machine (`door::controller` tests) and on gpio-sim in the hardware tests.

mod common;

use std::time::{Duration, Instant};

use common::{Db, TestApp};
use serde_json::json;

async fn command(a: &TestApp, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    a.post("/api/v1/doors/door-1/commands", token, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_unlocks_alarms_is_reported_and_audited() {
    let a = TestApp::spawn_with_door(Db::Sqlite).await.unwrap();
    let why = "cardiac arrest in room 12, team locked out";

    let (s, p) = command(
        &a,
        &a.technician,
        json!({"command": "break_glass", "reason": why}),
    )
    .await;
    assert_eq!(s, 403, "admin only: {p}");
    let (s, p) = command(&a, &a.admin, json!({"command": "break_glass"})).await;
    assert_eq!(s, 422, "a reason is required: {p}");
    let (s, p) = command(
        &a,
        &a.admin,
        json!({"command": "break_glass", "reason": "  "}),
    )
    .await;
    assert_eq!(s, 422, "{p}");
    assert!(p.to_string().contains("reason"), "{p}");
    let (s, p) = command(
        &a,
        &a.admin,
        json!({"command": "break_glass", "reason": why, "minutes": 16}),
    )
    .await;
    assert_eq!(s, 422, "bounded by door.break_glass_minutes: {p}");
    assert!(a.get("/api/v1/doors/door-1", &a.admin).await.1["state"]["locked"] == true);

    let (s, st) = command(
        &a,
        &a.admin,
        json!({"command": "break_glass", "reason": why, "minutes": 5}),
    )
    .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["state"], "unlocked", "{st}");
    assert_eq!(st["unlock_reason"], "break_glass", "{st}");
    assert!(
        st["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|al| al["alarm"] == "break_glass" && al["active"] == true),
        "{st}"
    );

    // Lockdown ends it; a break-glass command in lockdown is refused.
    let (s, st) = command(&a, &a.admin, json!({"command": "lockdown"})).await;
    assert_eq!((s, st["locked"].as_bool()), (200, Some(true)), "{st}");
    let (s, p) = command(
        &a,
        &a.admin,
        json!({"command": "break_glass", "reason": why}),
    )
    .await;
    assert_eq!(s, 409, "{p}");
    command(&a, &a.admin, json!({"command": "release_lockdown"})).await;

    // The alarm is in the audit log (and so on /ws/events); the report has the episode.
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        a.state.core.events.flush().await.unwrap();
        let (s, r) = a.get("/api/v1/break-glass", &a.technician).await;
        assert_eq!(s, 200, "{r}");
        if r["episodes"][0]["ended_at"].is_string() {
            break r;
        }
        assert!(Instant::now() < deadline, "no ended episode: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let episodes = report["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 1, "{report}");
    let e = &episodes[0];
    assert_eq!(e["door_id"], "door-1");
    assert_eq!(e["source"], "command");
    assert_eq!(e["minutes"], 5);
    assert_eq!(e["reason"], why);
    assert_eq!(e["role"], "admin");
    assert!(e["token_id"].as_str().is_some_and(|t| !t.is_empty()), "{e}");
    assert!(e["seconds"].as_u64().is_some_and(|s| s < 60), "{e}");
    let (_, ev) = a
        .get(
            "/api/v1/events?door_id=door-1&kind=alarm&limit=100",
            &a.admin,
        )
        .await;
    assert!(
        ev["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "alarm_raised" && e["details"]["alarm"] == "break_glass"),
        "{ev}"
    );
    // A period before it holds nothing; a bad time names its field.
    let (_, r) = a
        .get("/api/v1/break-glass?to=2020-01-01T00:00:00Z", &a.admin)
        .await;
    assert_eq!(r["episodes"].as_array().unwrap().len(), 0, "{r}");
    let (s, p) = a.get("/api/v1/break-glass?from=yesterday", &a.admin).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("from")), "{p}");
    a.stop().await;
}

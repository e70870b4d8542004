//! The door this controller drives, through the API: state, commands with their role rules,
//! and granted decisions that really unlock it (simulated relay).

mod common;

use common::{face, perturbed, Db, TestApp};
use serde_json::json;

async fn decide(a: &TestApp, staff: u64) -> serde_json::Value {
    let (s, r) = a
        .post("/api/v1/decisions", &a.terminal, json!({"request_id": "d", "door": "door-1", "staff": {"embedding": perturbed(staff, 0.3, 5)}}))
        .await;
    assert_eq!(s, 200, "{r}");
    r
}

#[tokio::test]
async fn door_state_commands_and_unlock_on_grant() {
    let a = TestApp::spawn_with_door(Db::Sqlite).await.unwrap();
    let (s, door) = a.get("/api/v1/doors/door-1", &a.technician).await;
    assert_eq!(s, 200, "the controller registers its door");
    assert_eq!(door["mode"], "staff");
    assert_eq!(door["state"]["state"], "locked", "{door}");

    let (s, st) = a
        .post(
            "/api/v1/doors/door-1/commands",
            &a.technician,
            json!({"command": "pulse"}),
        )
        .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["state"], "unlocked");
    let (s, p) = a
        .post(
            "/api/v1/doors/door-1/commands",
            &a.technician,
            json!({"command": "lockdown"}),
        )
        .await;
    assert_eq!(
        (s, p["status"].as_u64()),
        (403, Some(403)),
        "lockdown is admin only"
    );
    let (s, _) = a
        .post(
            "/api/v1/doors/door-1/commands",
            &a.sync,
            json!({"command": "pulse"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, p) = a
        .post(
            "/api/v1/doors/door-1/commands",
            &a.admin,
            json!({"command": "hold", "minutes": 100000}),
        )
        .await;
    assert_eq!(s, 422, "{p}");
    let (s, _) = a
        .post(
            "/api/v1/doors/door-1/commands",
            &a.admin,
            json!({"command": "open_sesame"}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = a
        .post(
            "/api/v1/doors/other/commands",
            &a.admin,
            json!({"command": "pulse"}),
        )
        .await;
    assert_eq!(s, 404, "only the door this controller drives");

    let (_, r) = a
        .post(
            "/register_face",
            &a.sync,
            json!({"name": "N", "role": "nurse", "external_id": "E1", "embedding": face(3)}),
        )
        .await;
    a.post(
        "/api/v1/grants",
        &a.sync,
        json!({"staff_id": r["subject_id"], "door_id": "door-1"}),
    )
    .await;
    assert_eq!(decide(&a, 3).await["reason"], "granted");

    let (s, st) = a
        .post(
            "/api/v1/doors/door-1/commands",
            &a.admin,
            json!({"command": "lockdown"}),
        )
        .await;
    assert_eq!((s, st["lockdown"].as_bool()), (200, Some(true)), "{st}");
    let r = decide(&a, 3).await;
    assert_eq!(
        (r["granted"].as_bool(), r["reason"].as_str()),
        (Some(false), Some("lockdown")),
        "{r}"
    );
    a.post(
        "/api/v1/doors/door-1/commands",
        &a.admin,
        json!({"command": "release_lockdown"}),
    )
    .await;
    assert_eq!(decide(&a, 3).await["reason"], "granted");

    // Door commands and door state changes are in the audit log.
    a.state.core.events.flush().await.unwrap();
    let (_, ev) = a
        .get(
            "/api/v1/events?door_id=door-1&kind=door&limit=100",
            &a.technician,
        )
        .await;
    let reasons: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    for expected in [
        "lock_changed",
        "lockdown_started",
        "unlock_refused",
        "lockdown_released",
    ] {
        assert!(
            reasons.contains(&expected),
            "{expected} missing from {reasons:?}"
        );
    }
    a.stop().await;
}

//! Hospital-system sync over HTTP, and its effect on door decisions.

mod common;

use common::{face, perturbed, Db, TestApp};
use serde_json::json;

async fn put(
    a: &TestApp,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    a.call(reqwest::Method::PUT, path, Some(token), Some(body))
        .await
}

async fn decide(a: &TestApp, door: &str, staff: u64, patient: Option<u64>) -> String {
    let mut body =
        json!({"request_id": "q", "door": door, "staff": {"embedding": perturbed(staff, 0.3, 77)}});
    if let Some(p) = patient {
        body["patient"] = json!({"embedding": perturbed(p, 0.3, 78)});
    }
    let (s, r) = a.post("/api/v1/decisions", &a.terminal, body).await;
    assert_eq!(s, 200, "{r}");
    r["reason"].as_str().unwrap().to_owned()
}

async fn sync_flow(db: Db) {
    let Some(a) = TestApp::spawn(db).await else {
        return;
    };
    let people = json!({"source": "his", "subjects": [
        {"external_id": "E1", "name": "Dr One", "role": "doctor"},
        {"external_id": "E2", "name": "Nurse Two", "role": "nurse"},
        {"external_id": "P1", "name": "Pat One", "role": "patient"},
        {"external_id": "P2", "name": "Pat Two", "role": "patient"},
    ]});
    let (s, out) = put(&a, "/api/v1/sync/subjects", &a.sync, people.clone()).await;
    assert_eq!((s, out["added"].as_u64()), (200, Some(4)), "{out}");
    let (_, again) = put(&a, "/api/v1/sync/subjects", &a.sync, people).await;
    assert_eq!(
        (
            again["added"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64(),
            again["version"].as_i64()
        ),
        (Some(0), Some(0), Some(4), Some(1))
    );
    // Faces are enrolled separately (sync never touches templates).
    for (i, ext) in ["E1", "E2", "P1", "P2"].iter().enumerate() {
        let sub = a
            .state
            .core
            .store
            .subject_by_external_id(ext)
            .await
            .unwrap()
            .unwrap();
        let (s, _) = a
            .post(
                "/register_face",
                &a.sync,
                json!({"subject_id": sub.id, "embedding": face(i as u64 + 1)}),
            )
            .await;
        assert_eq!(s, 201);
    }
    a.post(
        "/api/v1/doors",
        &a.admin,
        json!({"id": "room-1", "name": "Room 1", "mode": "staff_with_patient"}),
    )
    .await;
    a.post(
        "/api/v1/doors",
        &a.admin,
        json!({"id": "ward", "name": "Ward", "mode": "staff"}),
    )
    .await;

    let snapshot = json!({"source": "his", "grants": [
        {"staff": "E1", "patient": "P1"},
        {"staff": "E1", "patient": "P2"},
        {"staff": "E2", "patient": "P2", "valid_until": "2999-01-01T00:00:00Z"},
        {"staff": "E2", "door": "ward"},
    ]});
    let (s, first) = put(&a, "/api/v1/sync/grants", &a.sync, snapshot.clone()).await;
    assert_eq!(
        (s, first["added"].as_u64(), first["version"].as_i64()),
        (200, Some(4), Some(1)),
        "{first}"
    );
    let (_, second) = put(&a, "/api/v1/sync/grants", &a.sync, snapshot).await;
    assert_eq!(
        (
            second["added"].as_u64(),
            second["removed"].as_u64(),
            second["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(4))
    );
    assert_eq!(
        (second["version"].as_i64(), &second["digest"]),
        (Some(1), &first["digest"]),
        "the same snapshot twice changes nothing"
    );
    assert_eq!(decide(&a, "room-1", 1, Some(4)).await, "granted");
    assert_eq!(decide(&a, "room-1", 1, Some(3)).await, "granted");
    assert_eq!(decide(&a, "ward", 2, None).await, "granted");

    // The next snapshot lacks E1→P2: exactly that grant goes, and the door denies at once.
    let (_, third) = put(
        &a,
        "/api/v1/sync/grants",
        &a.sync,
        json!({"source": "his", "grants": [
            {"staff": "E1", "patient": "P1"},
            {"staff": "E2", "patient": "P2", "valid_until": "2999-01-01T00:00:00Z"},
            {"staff": "E2", "door": "ward"},
        ]}),
    )
    .await;
    assert_eq!(
        (
            third["removed"].as_u64(),
            third["unchanged"].as_u64(),
            third["version"].as_i64()
        ),
        (Some(1), Some(3), Some(2))
    );
    assert_eq!(decide(&a, "room-1", 1, Some(4)).await, "not_permitted");
    assert_eq!(decide(&a, "room-1", 1, Some(3)).await, "granted");
    assert_eq!(decide(&a, "room-1", 2, Some(4)).await, "granted");

    // A bad entry rejects the whole snapshot, naming it; nothing changes.
    let (s, p) = put(
        &a,
        "/api/v1/sync/grants",
        &a.sync,
        json!({"source": "his", "grants": [
            {"staff": "E1", "patient": "P1"},
            {"staff": "E9", "patient": "P1"},
        ]}),
    )
    .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("grants[1].staff")));
    let (s, p) = put(
        &a,
        "/api/v1/sync/grants",
        &a.sync,
        json!({"source": "his", "grants": [{"staff": "E1", "patient": "P1", "door": "ward"}]}),
    )
    .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("grants[0].patient")));
    let (s, p) = put(
        &a,
        "/api/v1/sync/grants",
        &a.sync,
        json!({"source": "admin", "grants": []}),
    )
    .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("source")));
    let (s, _) = put(
        &a,
        "/api/v1/sync/grants",
        &a.technician,
        json!({"source": "his", "grants": []}),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        decide(&a, "room-1", 2, Some(4)).await,
        "granted",
        "rejected snapshots change nothing"
    );
    a.stop().await;
}

#[tokio::test]
async fn sync_flow_sqlite() {
    sync_flow(Db::Sqlite).await;
}

#[tokio::test]
async fn sync_flow_mysql() {
    sync_flow(Db::MySql).await;
}

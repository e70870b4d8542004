//! Erasure (GDPR Art. 17, docs/privacy.md): `DELETE /api/v1/subjects/{id}?erase=true` removes
//! the person's record, templates, grants and consent, and on SQLite their name and external
//! id are then found nowhere in the database's files (the file and its write-ahead log, read
//! as bytes); the audit log keeps its events under the person's subject id — a pseudonym that
//! nothing maps to them any more — and its chain still verifies. A bad `erase` value is a 422
//! naming it. On MariaDB the same request succeeds and removes the rows.

mod common;

use std::time::{Duration, Instant};

use common::{face, Db, TestApp};
use serde_json::json;

const NAME: &str = "Zyxwvut Erasable";
const EXTERNAL: &str = "MRN-ERASE-7731";

/// Every byte of the SQLite database's files.
fn files(app: &TestApp) -> Vec<u8> {
    let mut out = Vec::new();
    for f in ["t.db", "t.db-wal"] {
        if let Ok(b) = std::fs::read(app.db.dir.path().join(f)) {
            out.extend(b);
        }
    }
    out
}

fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

async fn erase(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (s, p) = app
        .post(
            "/api/v1/subjects",
            &app.admin,
            json!({"external_id": EXTERNAL, "name": NAME, "role": "patient"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .post(
            &format!("/api/v1/subjects/{id}/faces"),
            &app.admin,
            json!({"embedding": face(31)}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/subjects/{id}/consent"),
            Some(&app.admin),
            Some(json!({"method": "written", "document": "FR-01 v3"})),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {b}");
    if db == Db::Sqlite {
        assert!(holds(&files(&app), NAME), "the search sees the name before");
    }

    let (s, b) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/subjects/{id}?erase=maybe"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["field"], "erase", "{b}");
    let (s, b) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/subjects/{id}?erase=true"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, 204, "{b}");

    let (s, _) = app.get(&format!("/api/v1/subjects/{id}"), &app.admin).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .get(&format!("/api/v1/subjects/{id}/report"), &app.admin)
        .await;
    assert_eq!(s, 404);
    if db == Db::Sqlite {
        let bytes = files(&app);
        assert!(
            !holds(&bytes, NAME),
            "the name is left in the database files"
        );
        assert!(
            !holds(&bytes, EXTERNAL),
            "the external id is left in the database files"
        );
    }

    // The events stay, under the pseudonym; the erasure is one of them, and names nobody.
    let store = &app.state.core.store;
    let deadline = Instant::now() + Duration::from_secs(10);
    let erased = loop {
        let (events, _) = store
            .list_events(&wardgate::store::EventFilter {
                kind: Some("admin".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        if let Some(e) = events.into_iter().find(|e| e.reason == "subject_erased") {
            break e;
        }
        assert!(Instant::now() < deadline, "no subject_erased event");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(erased.details["subject_id"], id.as_str());
    assert_eq!(erased.details["templates_purged"], 1);
    assert_eq!(erased.details["consent_removed"], true);
    let text = erased.details.to_string();
    assert!(!text.contains(NAME) && !text.contains(EXTERNAL), "{text}");
    for node in store.event_nodes().await.unwrap() {
        let c = store.verify_chain(&node).await.unwrap();
        assert!(c.broken.is_none() && c.checked > 0, "node {node}: {c:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_copy_and_the_chain_verifies_sqlite() {
    erase(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_copy_and_the_chain_verifies_mysql() {
    erase(Db::MySql).await;
}

//! The change feed on both backends: which writes bump which kinds (in the same
//! transaction, so a refused write bumps nothing), and a write made through another store —
//! another controller, the CLI — reaching a running controller's catalog and tokens, with the
//! gallery updated by difference.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{face, perturbed, Db, TestApp, TestDb};
use serde_json::json;
use wardgate::model::{DoorMode, GrantTarget, Role, SubjectStatus, TokenRole};
use wardgate::store::{changed_kinds, ChangeKind, ChangeVersions, Store};

/// The kinds bumped since `v` was read; `v` becomes the current state.
async fn since(s: &Store, v: &mut ChangeVersions) -> BTreeSet<ChangeKind> {
    let now = s.change_versions().await.unwrap();
    let changed = changed_kinds(v, &now);
    *v = now;
    changed
}

fn set(k: &[ChangeKind]) -> BTreeSet<ChangeKind> {
    k.iter().copied().collect()
}

async fn every_write_bumps_its_kinds(db: Db) {
    use ChangeKind::*;
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let s = tdb.store().await.with_writer("node-x");
    let mut v = s.change_versions().await.unwrap();
    assert!(v.is_empty(), "a fresh database has no change rows");

    s.create_door("d1", "D1", DoorMode::Staff).await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Doors]));
    s.update_door("d1", Some("Door one"), None).await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Doors]));
    let (staff, _) = s
        .register_subject_with_face("E1", "Dr A", Role::Doctor, "m", &face(1))
        .await
        .unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Subjects, Faces]));
    let f2 = s.add_face(&staff.id, "m", &face(2)).await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Faces]));
    s.delete_face(&staff.id, &f2.id).await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Faces]));
    let g = s
        .grant(
            &staff.id,
            &GrantTarget::Door("d1".into()),
            None,
            None,
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Grants]));
    s.revoke_grant(&g.id).await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Grants]));
    // Refused writes roll back, bump included.
    assert!(s.create_door("d1", "again", DoorMode::Staff).await.is_err());
    assert!(s.delete_face(&staff.id, "no-such-face").await.is_err());
    assert!(s
        .create_subject("E1", "dup", Role::Nurse, SubjectStatus::Active, "admin")
        .await
        .is_err());
    assert_eq!(since(&s, &mut v).await, set(&[]));
    let tok = s
        .create_token("t", TokenRole::Terminal, "ab".repeat(32).as_str())
        .await
        .unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Tokens]));
    s.revoke_token(&tok.id).await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Tokens]));
    // Using a token changes nothing the caches hold.
    s.touch_token(&tok.id, 5).await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[]));
    s.delete_subject(&staff.id).await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Subjects, Faces, Grants]));
    s.delete_door("d1").await.unwrap();
    assert_eq!(since(&s, &mut v).await, set(&[Doors, Grants]));
    // Two writers keep their own rows.
    let other = tdb.store().await.with_writer("node-y");
    other
        .create_door("d2", "D2", DoorMode::Staff)
        .await
        .unwrap();
    let now = s.change_versions().await.unwrap();
    assert_eq!(now.get(&("node-x".to_owned(), Doors)), Some(&3));
    assert_eq!(now.get(&("node-y".to_owned(), Doors)), Some(&1));
    tdb.cleanup().await;
}

#[tokio::test]
async fn every_write_bumps_its_kinds_sqlite() {
    every_write_bumps_its_kinds(Db::Sqlite).await;
}

#[tokio::test]
async fn every_write_bumps_its_kinds_mysql() {
    every_write_bumps_its_kinds(Db::MySql).await;
}

/// Polls `cond` every 5 ms; panics after 1 s.
async fn within_1s(what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{what}: not within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

async fn writes_elsewhere_reach_the_catalog(db: Db) {
    let Some(a) = TestApp::spawn(db).await else {
        return;
    };
    // Another controller (or the CLI) on the same database.
    let other = a.db.store().await.with_writer("elsewhere");
    let model = a.state.core.catalog.model_id().to_owned();
    other
        .create_door("ward", "Ward", DoorMode::Staff)
        .await
        .unwrap();
    let (doc, f1) = other
        .register_subject_with_face("E1", "Dr A", Role::Doctor, &model, &face(1))
        .await
        .unwrap();
    other
        .grant(
            &doc.id,
            &GrantTarget::Door("ward".into()),
            None,
            None,
            "admin",
        )
        .await
        .unwrap();
    let cat = a.state.core.catalog.clone();
    within_1s("door, subject, face and grant", || {
        let s = cat.snapshot();
        s.gallery.len() == 1 && s.directory.subject_count() == 1
    })
    .await;
    let decide = |seed: u64| {
        let body = json!({"request_id": "q", "door": "ward", "staff": {"embedding": perturbed(seed, 0.3, 5)}});
        let a = &a;
        async move {
            let (s, r) = a.post("/api/v1/decisions", &a.terminal, body).await;
            assert_eq!(s, 200, "{r}");
            r["reason"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(decide(1).await, "granted");

    // Incremental gallery: the kept rows are the same allocations' values, one row added.
    let before = cat.snapshot().gallery.clone();
    let f2 = other.add_face(&doc.id, &model, &face(2)).await.unwrap();
    within_1s("added template", || cat.snapshot().gallery.len() == 2).await;
    let ids: BTreeSet<String> = cat
        .snapshot()
        .gallery
        .face_ids()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids, BTreeSet::from([f1.id.clone(), f2.id.clone()]));
    assert_eq!(before.len(), 1, "the installed gallery is never mutated");
    assert_eq!(decide(2).await, "granted", "the new template is searched");
    other.delete_face(&doc.id, &f1.id).await.unwrap();
    within_1s("removed template", || cat.snapshot().gallery.len() == 1).await;
    assert_eq!(
        decide(1).await,
        "unknown_staff",
        "the removed template is gone"
    );

    // Tokens made and revoked elsewhere.
    let (tok, rec) = {
        let t = wardgate::tokens::TokenAuth::generate();
        let r = other
            .create_token("elsewhere", TokenRole::Admin, &a.state.core.tokens.hash(&t))
            .await
            .unwrap();
        (t, r)
    };
    let auth = a.state.core.tokens.clone();
    within_1s("new token", || auth.check(&tok).is_some()).await;
    assert_eq!(a.get("/api/v1/doors", &tok).await.0, 200);
    other.revoke_token(&rec.id).await.unwrap();
    within_1s("revoked token", || auth.check(&tok).is_none()).await;
    assert_eq!(a.get("/api/v1/doors", &tok).await.0, 401);

    // Deleting the subject elsewhere empties gallery and directory.
    other.delete_subject(&doc.id).await.unwrap();
    within_1s("deleted subject", || {
        let s = cat.snapshot();
        s.gallery.is_empty() && s.directory.subject_count() == 0
    })
    .await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_elsewhere_reach_the_catalog_sqlite() {
    writes_elsewhere_reach_the_catalog(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_elsewhere_reach_the_catalog_mysql() {
    writes_elsewhere_reach_the_catalog(Db::MySql).await;
}

//! The store suite, run against SQLite and against the real MariaDB/MySQL server.

mod common;

use common::{face, Db, TestDb, DIM};
use wardgate::audit::{self, Chain, EventDraft};
use wardgate::model::{
    DoorMode, GrantTarget, Role, SubjectKind, SubjectStatus, TokenRole, ADMIN_SOURCE,
};
use wardgate::store::{
    EventFilter, GrantFilter, GrantSnapshotEntry, StoreError, SubjectFilter, SubjectPatch,
    SubjectSnapshotEntry,
};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() { super::$name(Db::Sqlite).await }
            #[tokio::test]
            async fn mysql() { super::$name(Db::MySql).await }
        })*
    };
}

on_both_backends!(
    subjects_crud_paging_and_conflicts,
    faces_round_trip_and_model_isolation,
    grants_validate_parties_and_revoke,
    register_is_all_or_nothing,
    events_append_filter_and_verify,
    sync_grants_reconciles_exactly,
    sync_subjects_reconciles_exactly,
    tokens_store_hashes_only,
);

async fn subjects_crud_paging_and_conflicts(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store().await;
    let doc = s
        .create_subject(
            "E1",
            "Dr Ann",
            Role::Doctor,
            SubjectStatus::Active,
            ADMIN_SOURCE,
        )
        .await
        .unwrap();
    let pat = s
        .create_subject(
            "MRN1",
            "Pat Bo",
            Role::Patient,
            SubjectStatus::Active,
            ADMIN_SOURCE,
        )
        .await
        .unwrap();
    s.create_subject(
        "E2",
        "Nurse Cy",
        Role::Nurse,
        SubjectStatus::Suspended,
        ADMIN_SOURCE,
    )
    .await
    .unwrap();
    assert_eq!(s.get_subject(&doc.id).await.unwrap(), doc);
    assert_eq!(
        s.subject_by_external_id("MRN1").await.unwrap().unwrap().id,
        pat.id
    );
    assert!(s.subject_by_external_id("nope").await.unwrap().is_none());
    let dup = s
        .create_subject(
            "E1",
            "Other",
            Role::Nurse,
            SubjectStatus::Active,
            ADMIN_SOURCE,
        )
        .await;
    assert!(
        matches!(
            dup,
            Err(StoreError::Conflict {
                field: "external_id",
                ..
            })
        ),
        "{dup:?}"
    );

    let page = |kind, status, limit, offset| SubjectFilter {
        kind,
        role: None,
        status,
        limit,
        offset,
    };
    let (all, total) = s.list_subjects(&page(None, None, 2, 0)).await.unwrap();
    assert_eq!((all.len(), total), (2, 3));
    let (rest, _) = s.list_subjects(&page(None, None, 2, 2)).await.unwrap();
    assert_eq!(rest.len(), 1);
    let (staff, n) = s
        .list_subjects(&page(Some(SubjectKind::Staff), None, 10, 0))
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert!(staff.iter().all(|x| x.role != Role::Patient));
    let (susp, n) = s
        .list_subjects(&page(None, Some(SubjectStatus::Suspended), 10, 0))
        .await
        .unwrap();
    assert_eq!((n, susp[0].external_id.as_str()), (1, "E2"));

    let patch = SubjectPatch {
        name: Some("Dr Ann Lee".into()),
        status: Some(SubjectStatus::Suspended),
        ..Default::default()
    };
    let upd = s.update_subject(&doc.id, &patch).await.unwrap();
    assert_eq!(
        (upd.name.as_str(), upd.status),
        ("Dr Ann Lee", SubjectStatus::Suspended)
    );
    let clash = SubjectPatch {
        external_id: Some("MRN1".into()),
        ..Default::default()
    };
    assert!(matches!(
        s.update_subject(&doc.id, &clash).await,
        Err(StoreError::Conflict { .. })
    ));
    // Switching kind while a grant references the subject would change the grant's meaning.
    s.grant(
        &doc.id,
        &GrantTarget::Patient(pat.id.clone()),
        None,
        None,
        ADMIN_SOURCE,
    )
    .await
    .unwrap();
    let to_patient = SubjectPatch {
        role: Some(Role::Patient),
        ..Default::default()
    };
    assert!(matches!(
        s.update_subject(&doc.id, &to_patient).await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        s.update_subject("missing", &patch).await,
        Err(StoreError::NotFound { .. })
    ));

    s.delete_subject(&pat.id).await.unwrap();
    assert!(matches!(
        s.get_subject(&pat.id).await,
        Err(StoreError::NotFound { .. })
    ));
    // The grant naming the deleted patient went with it.
    assert!(s.active_grants().await.unwrap().is_empty());
    assert!(matches!(
        s.delete_subject(&pat.id).await,
        Err(StoreError::NotFound { .. })
    ));
    s.close().await;
    t.cleanup().await;
}

async fn faces_round_trip_and_model_isolation(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store().await;
    let a = s
        .create_subject("E1", "A", Role::Doctor, SubjectStatus::Active, ADMIN_SOURCE)
        .await
        .unwrap();
    let v = face(1);
    let f1 = s.add_face(&a.id, "mobilefacenet", &v).await.unwrap();
    s.add_face(&a.id, "other-model", &face(2)).await.unwrap();
    s.add_face(&a.id, "mobilefacenet", &face(3)[..128])
        .await
        .unwrap();
    let listed = s.list_faces(&a.id).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].dim, DIM);
    // Only templates of the configured model and dimension are ever loaded, bit-exact.
    let loaded = s.templates_for_model("mobilefacenet", DIM).await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].face_id, f1.id);
    assert_eq!(loaded[0].vector, v);
    let g = s.load_gallery("mobilefacenet", DIM).await.unwrap();
    let m = g.search(&v).unwrap().unwrap();
    assert_eq!(
        (&*m.subject_id, m.similarity > 0.9999),
        (a.id.as_str(), true)
    );
    assert!(matches!(
        s.add_face("missing", "m", &v).await,
        Err(StoreError::NotFound { .. })
    ));
    s.delete_face(&a.id, &f1.id).await.unwrap();
    assert!(matches!(
        s.delete_face(&a.id, &f1.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        s.delete_subject(&a.id).await.unwrap(),
        2,
        "delete purges the remaining templates"
    );
    assert!(s
        .templates_for_model("other-model", DIM)
        .await
        .unwrap()
        .is_empty());
    s.close().await;
    t.cleanup().await;
}

async fn grants_validate_parties_and_revoke(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store().await;
    let doc = s
        .create_subject("E1", "D", Role::Doctor, SubjectStatus::Active, ADMIN_SOURCE)
        .await
        .unwrap();
    let pat = s
        .create_subject(
            "P1",
            "P",
            Role::Patient,
            SubjectStatus::Active,
            ADMIN_SOURCE,
        )
        .await
        .unwrap();
    s.create_door("ward-1", "Ward 1", DoorMode::Staff)
        .await
        .unwrap();
    assert!(matches!(
        s.create_door("ward-1", "again", DoorMode::Staff).await,
        Err(StoreError::Conflict { .. })
    ));
    let door = GrantTarget::Door("ward-1".into());
    let to_pat = GrantTarget::Patient(pat.id.clone());
    for (staff, target, field) in [
        (pat.id.as_str(), door.clone(), "staff_id"),
        ("nobody", door.clone(), "staff_id"),
        (doc.id.as_str(), GrantTarget::Door("nope".into()), "door_id"),
        (
            doc.id.as_str(),
            GrantTarget::Patient(doc.id.clone()),
            "patient_id",
        ),
    ] {
        match s.grant(staff, &target, None, None, ADMIN_SOURCE).await {
            Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    }
    let g1 = s
        .grant(&doc.id, &door, None, Some(5_000), ADMIN_SOURCE)
        .await
        .unwrap();
    // Re-granting the same pair updates the validity instead of duplicating.
    let g1b = s
        .grant(&doc.id, &door, Some(1_000), None, ADMIN_SOURCE)
        .await
        .unwrap();
    assert_eq!(g1.id, g1b.id);
    assert_eq!((g1b.valid_from, g1b.valid_until), (Some(1_000), None));
    let g2 = s
        .grant(&doc.id, &to_pat, None, None, ADMIN_SOURCE)
        .await
        .unwrap();
    let filter = GrantFilter {
        staff_id: Some(doc.id.clone()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.list_grants(&filter).await.unwrap().1, 2);
    let by_target = GrantFilter {
        target: Some(to_pat.clone()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.list_grants(&by_target).await.unwrap().0[0].id, g2.id);
    let revoked = s.revoke_grant(&g2.id).await.unwrap();
    assert!(revoked.revoked_ms.is_some());
    assert_eq!(
        s.revoke_grant(&g2.id).await.unwrap().revoked_ms,
        revoked.revoked_ms,
        "idempotent"
    );
    assert_eq!(s.list_grants(&filter).await.unwrap().1, 1);
    let with_revoked = GrantFilter {
        include_revoked: true,
        ..filter.clone()
    };
    assert_eq!(s.list_grants(&with_revoked).await.unwrap().1, 2);
    assert_eq!(s.revoke_between(&doc.id, &door).await.unwrap(), 1);
    assert_eq!(s.revoke_between(&doc.id, &door).await.unwrap(), 0);
    s.grant(&doc.id, &door, None, None, ADMIN_SOURCE)
        .await
        .unwrap();
    s.delete_door("ward-1").await.unwrap();
    assert!(
        s.active_grants().await.unwrap().is_empty(),
        "door grants go with the door"
    );
    s.close().await;
    t.cleanup().await;
}

async fn register_is_all_or_nothing(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store().await;
    s.register_subject_with_face("E1", "A", Role::Doctor, "m", &face(1))
        .await
        .unwrap();
    let again = s
        .register_subject_with_face("E1", "B", Role::Nurse, "m", &face(2))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })));
    assert_eq!(
        s.templates_for_model("m", DIM).await.unwrap().len(),
        1,
        "no orphan template"
    );
    let (all, n) = s
        .list_subjects(&SubjectFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((n, all[0].name.as_str()), (1, "A"));
    s.close().await;
    t.cleanup().await;
}

async fn events_append_filter_and_verify(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store().await;
    let mut chain = Chain::new("door-a");
    let mut evs = Vec::new();
    for i in 0..6i64 {
        evs.push(chain.seal(
            EventDraft {
                kind: if i % 3 == 0 {
                    wardgate::audit::EventKind::Admin
                } else {
                    wardgate::audit::EventKind::Decision
                },
                door_id: Some(if i % 2 == 0 { "ward-1" } else { "ward-2" }.into()),
                subject_id: Some(format!("s{}", i % 2)),
                patient_id: (i == 5).then(|| "p9".into()),
                granted: Some(i % 2 == 0),
                reason: "granted".into(),
                details: serde_json::json!({"similarity": 0.8123_f32, "i": i, "name": "Zoë ✓"}),
            },
            10_000 + i * 1000,
        ));
    }
    s.append_events(&evs[..4]).await.unwrap();
    // Re-sending a batch (a spool replay) neither fails nor duplicates.
    s.append_events(&evs[2..]).await.unwrap();
    let all = EventFilter {
        limit: 100,
        ..Default::default()
    };
    let (items, total) = s.list_events(&all).await.unwrap();
    assert_eq!(total, 6);
    assert_eq!(items[0].seq, 6, "newest first");
    assert_eq!(items[5], evs[0], "round trip is exact");
    let f = EventFilter {
        door_id: Some("ward-2".into()),
        from_ms: Some(12_000),
        to_ms: Some(15_000),
        limit: 100,
        ..Default::default()
    };
    let seqs: Vec<i64> = s
        .list_events(&f)
        .await
        .unwrap()
        .0
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![4]);
    let f = EventFilter {
        subject_id: Some("p9".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        s.list_events(&f).await.unwrap().1,
        1,
        "subject filter matches patients too"
    );
    let f = EventFilter {
        kind: Some("admin".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(s.list_events(&f).await.unwrap().1, 2);
    let chain_rows = s.chain_page("door-a", 0, 100).await.unwrap();
    assert_eq!(audit::verify(&chain_rows), Ok(6));
    assert_eq!(s.last_event("door-a").await.unwrap().unwrap().seq, 6);
    assert_eq!(s.event_nodes().await.unwrap(), vec!["door-a".to_owned()]);
    s.close().await;
    t.cleanup().await;
}

async fn sync_grants_reconciles_exactly(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store().await;
    for (ext, role) in [
        ("E1", Role::Doctor),
        ("E2", Role::Nurse),
        ("P1", Role::Patient),
        ("P2", Role::Patient),
    ] {
        s.create_subject(ext, ext, role, SubjectStatus::Active, ADMIN_SOURCE)
            .await
            .unwrap();
    }
    s.create_door("ward-1", "W", DoorMode::Staff).await.unwrap();
    let e1 = s.subject_by_external_id("E1").await.unwrap().unwrap();
    let p1 = s.subject_by_external_id("P1").await.unwrap().unwrap();
    // A hand-made grant the sync must never touch.
    let manual = s
        .grant(
            &e1.id,
            &GrantTarget::Patient(p1.id.clone()),
            None,
            None,
            ADMIN_SOURCE,
        )
        .await
        .unwrap();
    let entry = |staff: &str, target: GrantTarget| GrantSnapshotEntry {
        staff: staff.into(),
        target,
        valid_from: None,
        valid_until: None,
    };
    let snapshot = vec![
        entry("E1", GrantTarget::Patient("P1".into())),
        entry("E1", GrantTarget::Patient("P2".into())),
        entry("E2", GrantTarget::Patient("P2".into())),
        entry("E2", GrantTarget::Door("ward-1".into())),
    ];
    let first = s.sync_grants("his", &snapshot).await.unwrap();
    assert_eq!(
        (first.added, first.removed, first.unchanged, first.version),
        (4, 0, 0, 1)
    );
    let again = s.sync_grants("his", &snapshot).await.unwrap();
    assert_eq!(
        (again.added, again.updated, again.removed, again.unchanged),
        (0, 0, 0, 4)
    );
    assert_eq!(
        (again.version, &again.digest),
        (1, &first.digest),
        "an equal snapshot changes nothing"
    );

    let mut without = snapshot.clone();
    let dropped = without.remove(2);
    without[0].valid_until = Some(9_999_999_999_999);
    let third = s.sync_grants("his", &without).await.unwrap();
    assert_eq!(
        (
            third.added,
            third.updated,
            third.removed,
            third.unchanged,
            third.version
        ),
        (0, 1, 1, 2, 2)
    );
    let e2 = s
        .subject_by_external_id(&dropped.staff)
        .await
        .unwrap()
        .unwrap();
    let active: Vec<_> = s.active_grants().await.unwrap();
    assert!(!active
        .iter()
        .any(|g| g.staff_id == e2.id && matches!(g.target, GrantTarget::Patient(_))));
    assert!(
        active.iter().any(|g| g.id == manual.id),
        "admin grant survives every sync"
    );
    assert_eq!(active.len(), 4);

    // An unknown name anywhere rejects the whole snapshot, naming the entry; nothing changes.
    let mut bad = without.clone();
    bad.insert(0, entry("E1", GrantTarget::Patient("P3".into())));
    bad.pop();
    match s.sync_grants("his", &bad).await {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "grants[0].patient"),
        other => panic!("{other:?}"),
    }
    let staff_as_patient = vec![entry("E1", GrantTarget::Patient("E2".into()))];
    assert!(matches!(
        s.sync_grants("his", &staff_as_patient).await,
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(s.active_grants().await.unwrap().len(), 4);
    assert!(matches!(
        s.sync_grants("admin", &[]).await,
        Err(StoreError::Invalid { .. })
    ));
    // An empty snapshot from the source removes all its grants but no one else's.
    let empty = s.sync_grants("his", &[]).await.unwrap();
    assert_eq!(empty.removed, 3);
    assert_eq!(s.active_grants().await.unwrap().len(), 1);
    s.close().await;
    t.cleanup().await;
}

async fn sync_subjects_reconciles_exactly(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store().await;
    let manual = s
        .create_subject(
            "ADM1",
            "Hand made",
            Role::Other,
            SubjectStatus::Active,
            ADMIN_SOURCE,
        )
        .await
        .unwrap();
    let e = |ext: &str, role| SubjectSnapshotEntry {
        external_id: ext.into(),
        name: format!("n-{ext}"),
        role,
        status: SubjectStatus::Active,
    };
    let snap = vec![
        e("E1", Role::Doctor),
        e("P1", Role::Patient),
        e("P2", Role::Patient),
    ];
    let first = s.sync_subjects("his", &snap).await.unwrap();
    assert_eq!((first.added, first.unchanged), (3, 0));
    let p1 = s.subject_by_external_id("P1").await.unwrap().unwrap();
    s.add_face(&p1.id, "m", &face(5)).await.unwrap();
    let again = s.sync_subjects("his", &snap).await.unwrap();
    assert_eq!(
        (
            again.added,
            again.updated,
            again.removed,
            again.unchanged,
            again.version
        ),
        (0, 0, 0, 3, 1)
    );
    let mut next = vec![e("E1", Role::Doctor), e("P2", Role::Patient)];
    next[0].name = "Dr Renamed".into();
    let third = s.sync_subjects("his", &next).await.unwrap();
    assert_eq!((third.updated, third.removed, third.unchanged), (1, 1, 1));
    let p1 = s.get_subject(&p1.id).await.unwrap();
    assert_eq!(
        p1.status,
        SubjectStatus::Discharged,
        "a patient no longer listed is discharged"
    );
    assert_eq!(
        s.list_faces(&p1.id).await.unwrap().len(),
        1,
        "templates untouched"
    );
    assert_eq!(
        s.get_subject(&manual.id).await.unwrap().status,
        SubjectStatus::Active
    );
    let flip = vec![e("E1", Role::Patient)];
    assert!(matches!(
        s.sync_subjects("his", &flip).await,
        Err(StoreError::Invalid { .. })
    ));
    let dup = vec![e("E1", Role::Doctor), e("E1", Role::Doctor)];
    match s.sync_subjects("his", &dup).await {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "subjects[1].external_id"),
        other => panic!("{other:?}"),
    }
    s.close().await;
    t.cleanup().await;
}

async fn tokens_store_hashes_only(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = t.store().await;
    let auth = wardgate::tokens::TokenAuth::new(None);
    let (token, rec) = auth
        .create(&s, "terminal 1", TokenRole::Terminal)
        .await
        .unwrap();
    let listed = s.list_tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0].hash, token);
    assert!(!listed[0].hash.contains(&token[3..]));
    assert_eq!(auth.check(&token).unwrap().role, TokenRole::Terminal);
    s.touch_token(&rec.id, 42).await.unwrap();
    assert_eq!(s.list_tokens().await.unwrap()[0].last_used_ms, Some(42));
    s.revoke_token(&rec.id).await.unwrap();
    auth.reload(&s).await.unwrap();
    assert!(auth.check(&token).is_none());
    assert!(matches!(
        s.revoke_token("nope").await,
        Err(StoreError::NotFound { .. })
    ));
    s.close().await;
    t.cleanup().await;
}

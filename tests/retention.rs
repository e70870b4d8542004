//! Retention (docs/privacy.md, "Retention"), on SQLite and on the real MariaDB, on a test
//! clock that moves through three years instead of sleeping:
//!
//! - templates are purged under each rule at the end of its period and not a day before —
//!   a discharged patient after `discharged_patient_days`, deactivated staff after
//!   `inactive_staff_days`, anyone unseen for `max_idle_days` — and nobody else's; the dry run
//!   lists exactly the people the run then purges; the audit event names nobody;
//! - a person's last sighting survives the pruning of the events that showed it;
//! - pruned chains still verify from their checkpoints (`wardgate audit verify`); an event
//!   edited after pruning, and a checkpoint moved to hide deleted events, are both caught;
//!   SQLite still refuses to delete an event no checkpoint covers;
//! - one controller at a time holds the daily job;
//! - `wardgate privacy purge --dry-run` and `wardgate privacy purge` do the same from the shell.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{face, Db, TestDb};
use wardgate::audit::{EventDraft, EventKind};
use wardgate::clock::TestClock;
use wardgate::model::{Role, SubjectStatus};
use wardgate::privacy::retention::{run_once, RetentionPolicy, JOB};
use wardgate::privacy::PrivacyConfig;
use wardgate::store::{PurgeRule, Store, SubjectPatch};

const DAY: Duration = Duration::from_secs(86_400);
const DAY_MS: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn policy(event_days: u32) -> RetentionPolicy {
    RetentionPolicy {
        privacy: PrivacyConfig::default(),
        event_days,
        record_node: "ctl-a-retention".into(),
    }
}

async fn person(store: &Store, ext: &str, role: Role) -> String {
    let s = store
        .create_subject(ext, "Retention Test", role, SubjectStatus::Active, "test")
        .await
        .unwrap();
    let seed = ext.bytes().fold(7u64, |h, b| h * 31 + u64::from(b));
    store.add_face(&s.id, "m", &face(seed)).await.unwrap();
    s.id
}

async fn set_status(store: &Store, id: &str, status: SubjectStatus) {
    store
        .update_subject(
            id,
            &SubjectPatch {
                status: Some(status),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// A decision at the door naming `staff` (and `patient`).
async fn seen(store: &Store, staff: &str, patient: Option<&str>) {
    store
        .record_direct(
            "ctl-a",
            EventDraft {
                kind: EventKind::Decision,
                door_id: Some("icu".into()),
                subject_id: Some(staff.into()),
                patient_id: patient.map(str::to_owned),
                granted: Some(true),
                reason: "granted".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

async fn faces(store: &Store, id: &str) -> usize {
    store.list_faces(id).await.unwrap().len()
}

/// The people due now, as (subject id, rule), sorted.
async fn due(store: &Store) -> Vec<(String, PurgeRule)> {
    let mut d: Vec<_> = store
        .due_templates(&PrivacyConfig::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.subject_id, d.rule))
        .collect();
    d.sort();
    d
}

fn sorted(mut v: Vec<(String, PurgeRule)>) -> Vec<(String, PurgeRule)> {
    v.sort();
    v
}

async fn templates_follow_each_rule(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let clock = TestClock::at(T0);
    let store = tdb.store().await.with_clock(clock.clone());
    let p1 = person(&store, "MRN-1", Role::Patient).await;
    let p2 = person(&store, "MRN-22", Role::Patient).await;
    let p3 = person(&store, "MRN-333", Role::Patient).await;
    let n1 = person(&store, "N-1", Role::Nurse).await;
    let n2 = person(&store, "N-22", Role::Nurse).await;
    let n3 = person(&store, "N-333", Role::Nurse).await;
    let d1 = person(&store, "D-1", Role::Doctor).await;
    set_status(&store, &p1, SubjectStatus::Discharged).await;
    set_status(&store, &n1, SubjectStatus::Suspended).await;
    // A rename does not restart the discharge period; only a status change does.
    clock.advance(10 * DAY);
    seen(&store, &n2, None).await;
    store
        .update_subject(
            &p1,
            &SubjectPatch {
                name: Some("Renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    clock.advance(10 * DAY);
    set_status(&store, &p2, SubjectStatus::Discharged).await;
    // Something else happens at the door on day 60, so the day-10 decision is not the last
    // of its chain (which pruning always keeps).
    clock.set(T0 + 60 * DAY_MS);
    door_events_at(&store, "ctl-a", 60).await;

    // Day 29: nothing is due yet.
    clock.set(T0 + 29 * DAY_MS);
    assert_eq!(due(&store).await, []);
    // Day 30: the first discharged patient; the dry run's list is exactly what is purged.
    clock.set(T0 + 30 * DAY_MS);
    let listed = due(&store).await;
    assert_eq!(listed, [(p1.clone(), PurgeRule::Discharged)]);
    let run = run_once(&store, &policy(30)).await.unwrap();
    assert_eq!(
        sorted(
            run.purged
                .iter()
                .map(|d| (d.subject_id.clone(), d.rule))
                .collect()
        ),
        listed
    );
    assert_eq!(run.purged[0].templates, 1);
    assert_eq!(faces(&store, &p1).await, 0);
    for id in [&p2, &p3, &n1, &n2, &n3, &d1] {
        assert_eq!(faces(&store, id).await, 1, "{id} kept");
    }
    // The audit event counts per rule and names nobody.
    let ev = store
        .list_events(&wardgate::store::EventFilter {
            kind: Some("admin".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let purge =
        ev.0.iter()
            .find(|e| e.reason == "templates_purged")
            .expect("a templates_purged event");
    assert_eq!(purge.details["rules"]["discharged"]["templates"], 1);
    let text = purge.details.to_string();
    assert!(!text.contains(&p1) && !text.contains("MRN-1"), "{text}");
    assert!(purge.subject_id.is_none());

    // Day 50: the second patient (discharged on day 20); day 89: the nurse is not yet due
    // (staff have their own, longer period), day 90 she is.
    clock.set(T0 + 50 * DAY_MS);
    assert_eq!(due(&store).await, [(p2.clone(), PurgeRule::Discharged)]);
    run_once(&store, &policy(30)).await.unwrap();
    clock.set(T0 + 89 * DAY_MS);
    assert_eq!(due(&store).await, []);
    clock.set(T0 + 90 * DAY_MS);
    assert_eq!(due(&store).await, [(n1.clone(), PurgeRule::Deactivated)]);
    // This run also prunes events older than 30 days: n2's sighting on day 10 goes, but it
    // was folded into her record first.
    let run = run_once(&store, &policy(30)).await.unwrap();
    assert_eq!(run.purged.len(), 1);
    let (listed, _) = store
        .list_events(&wardgate::store::EventFilter {
            subject_id: Some(n2.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.is_empty(), "the day-10 decision was pruned");

    // d1 is seen on day 1000 at p3's door, as the patient's companion: both count as seen.
    clock.set(T0 + 1000 * DAY_MS);
    seen(&store, &d1, Some(&p3)).await;
    run_once(&store, &policy(0)).await.unwrap();

    // Day 1095: n3 (enrolled day 0, never seen) is idle; n2 (seen day 10) not yet.
    clock.set(T0 + 1095 * DAY_MS);
    assert_eq!(due(&store).await, [(n3.clone(), PurgeRule::Idle)]);
    run_once(&store, &policy(0)).await.unwrap();
    clock.set(T0 + 1104 * DAY_MS);
    assert_eq!(due(&store).await, []);
    clock.set(T0 + 1105 * DAY_MS);
    assert_eq!(due(&store).await, [(n2.clone(), PurgeRule::Idle)]);
    run_once(&store, &policy(0)).await.unwrap();
    for id in [&p3, &d1] {
        assert_eq!(faces(&store, id).await, 1, "{id} was seen on day 1000");
    }
    // A new face restarts the idle period of a person otherwise due.
    clock.set(T0 + 2094 * DAY_MS);
    store.add_face(&d1, "m", &face(99)).await.unwrap();
    clock.set(T0 + 2095 * DAY_MS);
    assert_eq!(due(&store).await, [(p3.clone(), PurgeRule::Idle)]);
    tdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_follow_each_rule_sqlite() {
    templates_follow_each_rule(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_follow_each_rule_mysql() {
    templates_follow_each_rule(Db::MySql).await;
}

fn cli(tdb: &TestDb, args: &[&str]) -> (bool, String) {
    let config = tdb.dir.path().join("cli.toml");
    std::fs::write(&config, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wardgate"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .env("WARDGATE_DATABASE__URL", &tdb.url)
        .env(
            "WARDGATE_PRIVACY__KEY_FILE",
            common::key_file(tdb.dir.path()),
        )
        .env("WARDGATE_EVENTS__NODE", "ctl-a")
        .env("WARDGATE_EVENTS__RETENTION_DAYS", "10")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn raw(tdb: &TestDb, sql: &str) -> Result<u64, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&tdb.url).await?;
    Ok(sqlx::query(sql).execute(&mut c).await?.rows_affected())
}

async fn door_events(store: &Store, clock: &Arc<TestClock>, node: &str, days: i64) {
    for d in 0..days {
        clock.set(T0 + d * DAY_MS);
        door_events_at(store, node, d).await;
    }
}

/// One door event, on the store's clock as it stands.
async fn door_events_at(store: &Store, node: &str, d: i64) {
    store
        .record_direct(
            node,
            EventDraft {
                kind: EventKind::Door,
                door_id: Some("icu".into()),
                reason: format!("day_{d}"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

async fn pruned_chains_verify(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let clock = TestClock::at(T0);
    let store = tdb.store().await.with_clock(clock.clone());
    door_events(&store, &clock, "ctl-a", 30).await;
    door_events(&store, &clock, "ctl-b", 3).await;
    clock.set(T0 + 29 * DAY_MS);
    let (ok, out) = cli(&tdb, &["audit", "verify"]);
    assert!(ok, "{out}");

    // Ten days kept: ctl-a's days 0..=18 go; all of ctl-b is older, but its last event stays.
    let plan = store.prune_plan(10).await.unwrap();
    let pruned = store
        .prune_events(10, "ctl-a-retention", |_, _| {})
        .await
        .unwrap();
    assert_eq!(plan, pruned);
    let by_node: Vec<_> = pruned
        .iter()
        .map(|p| (p.node.as_str(), p.events, p.through_seq))
        .collect();
    assert_eq!(by_node, [("ctl-a", 19, 19), ("ctl-b", 2, 2)]);
    assert_eq!(store.last_event("ctl-b").await.unwrap().unwrap().seq, 3);
    assert_eq!(store.chain_page("ctl-a", 0, 100).await.unwrap()[0].seq, 20);
    // Pruning again the same day finds nothing to do.
    assert!(store.prune_plan(10).await.unwrap().is_empty());
    let (ok, out) = cli(&tdb, &["audit", "verify"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("node ctl-a: 11 events, chain intact from its checkpoint"),
        "{out}"
    );
    assert!(out.contains("checkpoint(s) match"), "{out}");

    // Five days on, the checkpoint moves; the pruned count adds up.
    clock.set(T0 + 34 * DAY_MS);
    store
        .prune_events(10, "ctl-a-retention", |_, _| {})
        .await
        .unwrap();
    let cps = store.checkpoints().await.unwrap();
    assert_eq!((cps[0].through_seq, cps[0].pruned), (24, 24));
    let (ok, out) = cli(&tdb, &["audit", "verify"]);
    assert!(ok, "{out}");

    // SQLite's trigger still refuses to delete an event no checkpoint covers.
    if db == Db::Sqlite {
        let err = raw(&tdb, "DELETE FROM events WHERE node = 'ctl-a' AND seq = 27")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        raw(&tdb, "DROP TRIGGER events_no_update").await.unwrap();
    }
    // An event edited after pruning breaks the chain where it stands.
    raw(
        &tdb,
        "UPDATE events SET reason = 'forged' WHERE node = 'ctl-a' AND seq = 28",
    )
    .await
    .unwrap();
    let (ok, out) = cli(&tdb, &["audit", "verify"]);
    assert!(!ok && out.contains("node ctl-a: BROKEN"), "{out}");
    raw(
        &tdb,
        "UPDATE events SET reason = 'day_27' WHERE node = 'ctl-a' AND seq = 28",
    )
    .await
    .unwrap();
    let (ok, out) = cli(&tdb, &["audit", "verify"]);
    assert!(ok, "{out}");

    // A checkpoint moved forward over events deleted to hide them: the rest of the chain
    // verifies from it, but it is not the checkpoint the audit log recorded.
    let at_26 = store.chain_page("ctl-a", 25, 1).await.unwrap()[0]
        .hash
        .clone();
    raw(
        &tdb,
        &format!(
            "UPDATE event_prunes SET through_seq = 26, last_hash = '{at_26}' \
             WHERE node = 'ctl-a'"
        ),
    )
    .await
    .unwrap();
    raw(
        &tdb,
        "DELETE FROM events WHERE node = 'ctl-a' AND seq <= 26",
    )
    .await
    .unwrap();
    let (ok, out) = cli(&tdb, &["audit", "verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("node ctl-a: 4 events, chain intact from its checkpoint"),
        "{out}"
    );
    assert!(out.contains("checkpoints: BROKEN: node ctl-a"), "{out}");
    tdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_chains_verify_sqlite() {
    pruned_chains_verify(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_chains_verify_mysql() {
    pruned_chains_verify(Db::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_controller_at_a_time_holds_the_daily_job() {
    let Some(tdb) = TestDb::new(Db::MySql).await else {
        return;
    };
    let clock = TestClock::at(T0);
    let a = tdb.store().await.with_clock(clock.clone());
    let b = tdb.store().await.with_clock(clock.clone());
    let lease = 3_600_000;
    assert!(a.claim_job(JOB, "ctl-a", lease, DAY_MS).await.unwrap());
    assert!(!b.claim_job(JOB, "ctl-b", lease, DAY_MS).await.unwrap());
    // A controller that died mid-run loses the job when its lease ends.
    clock.advance(Duration::from_secs(3601));
    assert!(b.claim_job(JOB, "ctl-b", lease, DAY_MS).await.unwrap());
    b.finish_job(JOB, "ctl-b").await.unwrap();
    // Done for the day: nobody runs it again until a day has passed.
    clock.advance(Duration::from_secs(3600));
    assert!(!a.claim_job(JOB, "ctl-a", lease, DAY_MS).await.unwrap());
    clock.advance(DAY);
    assert!(a.claim_job(JOB, "ctl-a", lease, DAY_MS).await.unwrap());
    assert_eq!(a.job_last_run(JOB).await.unwrap(), Some(T0 + 3_601_000));
    tdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_lists_then_purges() {
    let tdb = TestDb::new(Db::Sqlite).await.unwrap();
    // Enrolled and discharged 40 days ago, on the store's clock; the tool runs on today's.
    let now = chrono::Utc::now().timestamp_millis();
    let clock = TestClock::at(now - 40 * DAY_MS);
    let store = tdb.store().await.with_clock(clock.clone());
    let gone = person(&store, "MRN-9", Role::Patient).await;
    let kept = person(&store, "MRN-10", Role::Patient).await;
    set_status(&store, &gone, SubjectStatus::Discharged).await;
    door_events(&store, &clock, "ctl-x", 3).await;
    clock.set(now - 40 * DAY_MS);
    seen(&store, &kept, None).await;

    let (ok, out) = cli(&tdb, &["privacy", "purge", "--dry-run"]);
    assert!(ok, "{out}");
    assert!(out.contains("would purge 1 of MRN-9"), "{out}");
    assert!(out.contains("discharged since"), "{out}");
    assert!(!out.contains("MRN-10"), "{out}");
    assert!(out.contains("would prune 2 of node ctl-x"), "{out}");
    assert_eq!(faces(&store, &gone).await, 1, "a dry run changes nothing");
    let (ok, out) = cli(&tdb, &["privacy", "purge"]);
    assert!(ok, "{out}");
    assert!(out.contains("purged 1 of MRN-9"), "{out}");
    assert!(out.contains("pruned 2 of node ctl-x"), "{out}");
    assert_eq!(faces(&store, &gone).await, 0);
    assert_eq!(faces(&store, &kept).await, 1);
    let (ok, out) = cli(&tdb, &["audit", "verify"]);
    assert!(ok, "{out}");
}

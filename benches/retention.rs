//! What the retention job costs on a year of events (docs/decisions/0008-retention.md), on
//! SQLite (the single-door database), release build:
//! - folding the last sightings of 1,000 people from every decision into `subjects`;
//! - pruning the older half of two controllers' chains (batches of 10,000, a checkpoint and an
//!   `events_pruned` event each);
//! - verifying what remains from the checkpoints (`wardgate audit verify`'s loop);
//! - listing and purging the templates due.
//!
//! Run: `cargo bench --bench retention` (`-- N` for another number of events per chain).

use std::time::Instant;

use wardgate::audit::{Chain, EventDraft, EventKind};
use wardgate::clock::TestClock;
use wardgate::model::{Role, SubjectStatus};
use wardgate::privacy::{PrivacyConfig, TemplateKeys};
use wardgate::store::{DatabaseConfig, Store};

const DAY_MS: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const PEOPLE: usize = 1000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let per_chain: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let cfg = DatabaseConfig {
        url: format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display()),
        ..DatabaseConfig::default()
    };
    let clock = TestClock::at(T0);
    let store = Store::connect(&cfg).await.unwrap();
    store.migrate().await.unwrap();
    let store = store
        .with_template_keys(std::sync::Arc::new(TemplateKeys::ephemeral()))
        .with_clock(clock.clone());
    let mut people = Vec::new();
    for i in 0..PEOPLE {
        let role = if i % 3 == 0 {
            Role::Patient
        } else {
            Role::Nurse
        };
        let s = store
            .create_subject(
                &format!("P-{i}"),
                "Bench",
                role,
                SubjectStatus::Active,
                "bench",
            )
            .await
            .unwrap();
        let v: Vec<f32> = (0..512).map(|d| ((i * 7 + d) % 13) as f32 - 6.0).collect();
        store.add_face(&s.id, "edgeface_xs", &v).await.unwrap();
        people.push(s.id);
    }
    // A year of decisions on two controllers, evenly spread.
    let span = 365 * DAY_MS;
    let t = Instant::now();
    for node in ["ctl-a", "ctl-b"] {
        let mut chain = Chain::new(node);
        let mut batch = Vec::with_capacity(5000);
        for i in 0..per_chain {
            let ts = T0 + span * i as i64 / per_chain as i64;
            batch.push(chain.seal(
                EventDraft {
                    kind: EventKind::Decision,
                    door_id: Some("icu".into()),
                    subject_id: Some(people[i % PEOPLE].clone()),
                    granted: Some(true),
                    reason: "granted".into(),
                    details: serde_json::json!({"channel": "camera"}),
                    ..Default::default()
                },
                ts,
            ));
            if batch.len() == 5000 {
                store.append_events(&batch).await.unwrap();
                batch.clear();
            }
        }
        store.append_events(&batch).await.unwrap();
    }
    eprintln!(
        "{} events written in {:.1} s",
        2 * per_chain,
        t.elapsed().as_secs_f64()
    );
    clock.set(T0 + span);

    let t = Instant::now();
    let folded = store.fold_last_seen(0).await.unwrap();
    let fold = t.elapsed();

    let t = Instant::now();
    let plan = store
        .prune_events(183, "ctl-a-retention", |_, _| {})
        .await
        .unwrap();
    let prune = t.elapsed();
    let pruned: i64 = plan.iter().map(|p| p.events).sum();

    let t = Instant::now();
    let mut checked = 0u64;
    for node in store.event_nodes().await.unwrap() {
        let c = store.verify_chain(&node).await.unwrap();
        assert!(c.broken.is_none(), "{node}: {c:?}");
        checked += c.checked;
    }
    assert!(store.corroborate_checkpoints().await.unwrap().is_ok());
    let verify = t.elapsed();

    // A third of the people are discharged patients, long enough ago.
    for id in people.iter().step_by(3) {
        store
            .update_subject(
                id,
                &wardgate::store::SubjectPatch {
                    status: Some(SubjectStatus::Discharged),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    clock.set(T0 + span + 31 * DAY_MS);
    let cfg = PrivacyConfig::default();
    let t = Instant::now();
    let due = store.due_templates(&cfg).await.unwrap();
    let list = t.elapsed();
    let t = Instant::now();
    let purged = store
        .purge_due_templates(&cfg, "ctl-a-retention")
        .await
        .unwrap();
    let purge = t.elapsed();
    assert_eq!(due.len(), purged.len());

    println!("| step | size | time |");
    println!("|---|---|---:|");
    println!(
        "| fold last sightings | {} events, {folded} people | {:.0} ms |",
        2 * per_chain,
        fold.as_secs_f64() * 1e3
    );
    println!(
        "| prune events older than 183 days | {pruned} of {} events, {} chains | {:.2} s ({:.1} µs per event) |",
        2 * per_chain,
        plan.len(),
        prune.as_secs_f64(),
        prune.as_secs_f64() * 1e6 / pruned.max(1) as f64
    );
    println!(
        "| verify the rest from the checkpoints | {checked} events | {:.2} s |",
        verify.as_secs_f64()
    );
    println!(
        "| list the templates due (dry run) | {PEOPLE} people, {} due | {:.1} ms |",
        due.len(),
        list.as_secs_f64() * 1e3
    );
    println!(
        "| purge them, with the audit event | {} templates | {:.1} ms |",
        purged.iter().map(|d| d.templates).sum::<i64>(),
        purge.as_secs_f64() * 1e3
    );
}

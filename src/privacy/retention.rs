//! The retention job: once a day, on one controller of a shared database, purge the face
//! templates whose purpose has ended and prune events past `events.retention_days`
//! (docs/privacy.md, "Retention").
//!
//! Why a lease in the database rather than a timer per controller: ten controllers on one
//! MariaDB would otherwise run the same purge ten times a day and write ten audit events for
//! it; the lease also lets a job that died mid-run be picked up by another controller.

use std::time::Duration;

use crate::model::Millis;
use crate::store::{DueTemplates, PrunePlan, Store, StoreResult};
use crate::tasks::StopSignal;

use super::PrivacyConfig;

/// The job's row in `job_runs`.
pub const JOB: &str = "retention";
const DAY_MS: Millis = 86_400_000;
/// How long one run may hold the job before another controller may take it over.
const LEASE_MS: Millis = 3_600_000;
/// How often a controller asks whether the daily run is due.
const CHECK_EVERY: Duration = Duration::from_secs(3600);

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionRun {
    pub seen_folded: u64,
    pub purged: Vec<DueTemplates>,
    pub pruned: Vec<PrunePlan>,
}

/// The rules one run applies.
#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    pub privacy: PrivacyConfig,
    /// `events.retention_days`; 0 keeps every event.
    pub event_days: u32,
    /// The audit node the job's own events are recorded under.
    pub record_node: String,
}

/// One run, now: bring last sightings forward from the events (before any of them can be
/// pruned), purge due templates, then prune old events.
pub async fn run_once(store: &Store, policy: &RetentionPolicy) -> StoreResult<RetentionRun> {
    // A day of overlap with the last run: events arriving late from a controller's journal
    // after an outage still count.
    let since = store
        .job_last_run(JOB)
        .await?
        .map_or(0, |t| (t - DAY_MS).max(0));
    let seen_folded = store.fold_last_seen(since).await?;
    let purged = store
        .purge_due_templates(&policy.privacy, &policy.record_node)
        .await?;
    let pruned = if policy.event_days > 0 {
        store
            .prune_events(policy.event_days, &policy.record_node, |_, _| {})
            .await?
    } else {
        Vec::new()
    };
    Ok(RetentionRun {
        seen_folded,
        purged,
        pruned,
    })
}

/// Claims the job when it is due (it last finished a day ago, or never) and runs it.
/// `None` when another controller holds it or it is not due.
pub async fn run_if_due(
    store: &Store,
    policy: &RetentionPolicy,
    holder: &str,
) -> StoreResult<Option<RetentionRun>> {
    if !store.claim_job(JOB, holder, LEASE_MS, DAY_MS).await? {
        return Ok(None);
    }
    let run = run_once(store, policy).await?;
    store.finish_job(JOB, holder).await?;
    Ok(Some(run))
}

/// The service's task: a run at start when due, then a check every hour. A database that is
/// down only postpones the run; the door keeps deciding.
pub async fn run(store: Store, policy: RetentionPolicy, holder: String, mut stop: StopSignal) {
    loop {
        match run_if_due(&store, &policy, &holder).await {
            Ok(Some(r)) => {
                let templates: i64 = r.purged.iter().map(|d| d.templates).sum();
                let events: i64 = r.pruned.iter().map(|p| p.events).sum();
                log::info!(
                    "retention: purged {templates} templates of {} people, pruned {events} \
                     events of {} chains",
                    r.purged.len(),
                    r.pruned.len()
                );
            }
            Ok(None) => {}
            Err(e) => log::warn!("retention job postponed: {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep(CHECK_EVERY) => {}
            () = stop.stopped() => return,
        }
    }
}

//! `wardgate privacy purge`: the daily retention job run now, or shown without changing
//! anything (`--dry-run`): which people's templates are due and under which rule, and how many
//! events of each chain are past `events.retention_days`.

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::privacy::retention::{self, RetentionPolicy};
use crate::store::{DueTemplates, PrunePlan, Store};

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

fn print(due: &[DueTemplates], pruned: &[PrunePlan], dry_run: bool) {
    let (purge, prune) = if dry_run {
        ("would purge", "would prune")
    } else {
        ("purged", "pruned")
    };
    if due.is_empty() {
        println!("templates: none due");
    }
    for d in due {
        println!(
            "templates: {purge} {} of {} ({}), {} since {}",
            d.templates,
            d.external_id,
            d.subject_id,
            d.rule.as_str(),
            date(d.since_ms)
        );
    }
    for p in pruned {
        println!(
            "events: {prune} {} of node {} (through seq {})",
            p.events, p.node, p.through_seq
        );
    }
}

#[derive(Subcommand, Debug)]
pub enum PrivacyCmd {
    /// Run the retention job now: purge the face templates of people discharged, deactivated
    /// or unseen past their period ([privacy]) and prune events older than
    /// events.retention_days, leaving a verifiable checkpoint (docs/privacy.md). The service
    /// runs the same job at start and daily.
    Purge {
        /// List what is due (person, rule, since when; events per chain) and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `wardgate privacy` command.
pub async fn run(cfg: Config, cmd: PrivacyCmd) -> anyhow::Result<()> {
    let PrivacyCmd::Purge { dry_run } = cmd;
    let store = Store::open(&cfg.database, &cfg.privacy)
        .await?
        .with_writer(&cfg.events.node);
    let days = cfg.events.retention_days;
    if dry_run {
        let due = store.due_templates(&cfg.privacy).await?;
        let plan = if days > 0 {
            store.prune_plan(days).await?
        } else {
            Vec::new()
        };
        print(&due, &plan, true);
        if days == 0 {
            println!("events: kept (events.retention_days = 0)");
        }
        return Ok(());
    }
    let holder = format!("{}-cli", cfg.events.node);
    anyhow::ensure!(
        store
            .claim_job(retention::JOB, &holder, 3_600_000, 0)
            .await?,
        "another controller is running the retention job now; try again in a few minutes"
    );
    let policy = RetentionPolicy {
        privacy: cfg.privacy.clone(),
        event_days: days,
        record_node: holder.clone(),
    };
    let result = retention::run_once(&store, &policy).await;
    store.finish_job(retention::JOB, &holder).await?;
    let run = result.context("running the retention job")?;
    print(&run.purged, &run.pruned, false);
    Ok(())
}

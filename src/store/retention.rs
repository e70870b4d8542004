//! Retention: templates purged when their purpose has ended, events pruned past their period
//! with a checkpoint the rest of each chain verifies from (docs/privacy.md, "Retention").
//!
//! Why the rules are decided in Rust over one plain query rather than in SQL: the same
//! [`purge_rule`] decides the dry run (`wardgate privacy purge --dry-run`), the job and the
//! tests, so what an admin is shown is exactly what is deleted.

use sqlx::any::AnyRow;

use super::events::record_in;
use super::{col, Backend, ChangeKind, Store, StoreError, StoreResult};
use crate::audit::{EventDraft, Verifier};
use crate::model::{EventKind, Millis, Role, SubjectStatus};
use crate::privacy::PrivacyConfig;

const DAY_MS: Millis = 86_400_000;
/// Events deleted per transaction, so a first prune of years of events neither holds one
/// huge transaction nor blocks the door's writes for long.
const PRUNE_BATCH: i64 = 10_000;

/// Why a person's templates are due for purging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeRule {
    /// A patient no longer `active` for `privacy.discharged_patient_days`.
    Discharged,
    /// Staff no longer `active` for `privacy.inactive_staff_days`.
    Deactivated,
    /// Nobody saw the person at any door, nor enrolled a new face, for
    /// `privacy.max_idle_days`.
    Idle,
}

impl PurgeRule {
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeRule::Discharged => "discharged",
            PurgeRule::Deactivated => "deactivated",
            PurgeRule::Idle => "idle",
        }
    }
}

/// One person whose templates are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTemplates {
    pub subject_id: String,
    pub external_id: String,
    pub rule: PurgeRule,
    /// When the rule's period started: the status change, or the last sighting.
    pub since_ms: Millis,
    pub templates: i64,
    /// The newest template counted; a face enrolled after the listing is not purged with it.
    pub newest_ms: Millis,
}

/// What one person's row says, as the rules read it.
#[derive(Debug, Clone, Copy)]
pub struct RetentionFacts {
    pub role: Role,
    pub status: SubjectStatus,
    pub status_ms: Millis,
    pub last_seen_ms: Option<Millis>,
    pub newest_template_ms: Millis,
}

/// The rule under which a person's templates are due at `now`, and since when; `None` while
/// they are kept. A status rule comes before idleness: it is the sharper reason.
pub fn purge_rule(
    cfg: &PrivacyConfig,
    f: &RetentionFacts,
    now: Millis,
) -> Option<(PurgeRule, Millis)> {
    let expired = |since: Millis, days: u32| days > 0 && since <= now - i64::from(days) * DAY_MS;
    if f.status != SubjectStatus::Active {
        let (rule, days) = if f.role == Role::Patient {
            (PurgeRule::Discharged, cfg.discharged_patient_days)
        } else {
            (PurgeRule::Deactivated, cfg.inactive_staff_days)
        };
        if expired(f.status_ms, days) {
            return Some((rule, f.status_ms));
        }
    }
    let seen = f.last_seen_ms.unwrap_or(0).max(f.newest_template_ms);
    expired(seen, cfg.max_idle_days).then_some((PurgeRule::Idle, seen))
}

/// One node's pruned prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub node: String,
    pub through_seq: i64,
    pub last_hash: String,
    pub pruned: i64,
}

/// What [`Store::verify_chain`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    pub checked: u64,
    /// The last seq pruned by retention (0: the chain is whole).
    pub pruned_through: i64,
    pub broken: Option<crate::audit::ChainBreak>,
}

/// What pruning would remove from one node's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunePlan {
    pub node: String,
    /// The events older than the cutoff that would go (the chain's newest event always stays).
    pub events: i64,
    pub through_seq: i64,
}

const DUE_SQL: &str = "SELECT s.id, s.external_id, s.role, s.status, s.status_ms, s.updated_ms, \
     s.last_seen_ms, COUNT(f.id) AS n, MAX(f.created_ms) AS newest \
     FROM subjects s JOIN faces f ON f.subject_id = s.id \
     GROUP BY s.id, s.external_id, s.role, s.status, s.status_ms, s.updated_ms, s.last_seen_ms \
     ORDER BY s.id";

fn due_from_row(
    cfg: &PrivacyConfig,
    row: &AnyRow,
    now: Millis,
) -> StoreResult<Option<DueTemplates>> {
    let role: String = col(row, "role")?;
    let status: String = col(row, "status")?;
    let updated_ms: Millis = col(row, "updated_ms")?;
    let status_ms: Option<Millis> = col(row, "status_ms")?;
    let newest: Millis = col(row, "newest")?;
    let facts = RetentionFacts {
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        status: SubjectStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
        status_ms: status_ms.unwrap_or(updated_ms),
        last_seen_ms: col(row, "last_seen_ms")?,
        newest_template_ms: newest,
    };
    purge_rule(cfg, &facts, now)
        .map(|(rule, since_ms)| -> StoreResult<_> {
            Ok(DueTemplates {
                subject_id: col(row, "id")?,
                external_id: col(row, "external_id")?,
                rule,
                since_ms,
                templates: col(row, "n")?,
                newest_ms: newest,
            })
        })
        .transpose()
}

/// The rows of [`DUE_SQL`] that are due at `now`.
fn due_in(cfg: &PrivacyConfig, rows: &[AnyRow], now: Millis) -> StoreResult<Vec<DueTemplates>> {
    let mut out = Vec::new();
    for r in rows {
        out.extend(due_from_row(cfg, r, now)?);
    }
    Ok(out)
}

const CHECKPOINT_SQL: &str =
    "SELECT node, through_seq, last_hash, pruned FROM event_prunes ORDER BY node";

fn checkpoint_from_row(r: &AnyRow) -> StoreResult<Checkpoint> {
    Ok(Checkpoint {
        node: col(r, "node")?,
        through_seq: col(r, "through_seq")?,
        last_hash: col(r, "last_hash")?,
        pruned: col(r, "pruned")?,
    })
}

impl Store {
    /// Folds the newest decision or presentation naming each person (as staff or patient) at
    /// or after `since_ms` into `subjects.last_seen_ms`, so idleness survives event pruning.
    /// Returns how many people were brought forward.
    pub async fn fold_last_seen(&self, since_ms: Millis) -> StoreResult<u64> {
        let mut seen: std::collections::BTreeMap<String, Millis> = Default::default();
        for column in ["subject_id", "patient_id"] {
            let sql = format!(
                "SELECT {column} AS who, MAX(ts_ms) AS ts FROM events \
                 WHERE {column} IS NOT NULL AND ts_ms >= ? AND kind IN ('decision', 'presentation') \
                 GROUP BY {column}"
            );
            let rows = sqlx::query(&sql)
                .bind(since_ms)
                .fetch_all(&self.pool())
                .await?;
            for r in &rows {
                let who: String = col(r, "who")?;
                let ts: Millis = col(r, "ts")?;
                let e = seen.entry(who).or_insert(ts);
                *e = (*e).max(ts);
            }
        }
        let mut tx = self.begin_write().await?;
        let mut moved = 0;
        for (who, ts) in &seen {
            moved += sqlx::query(
                "UPDATE subjects SET last_seen_ms = ? \
                 WHERE id = ? AND (last_seen_ms IS NULL OR last_seen_ms < ?)",
            )
            .bind(*ts)
            .bind(who.clone())
            .bind(*ts)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// The people whose templates are due for purging now, under `cfg`'s rules.
    pub async fn due_templates(&self, cfg: &PrivacyConfig) -> StoreResult<Vec<DueTemplates>> {
        let now = self.now();
        let rows = sqlx::query(DUE_SQL).fetch_all(&self.pool()).await?;
        due_in(cfg, &rows, now)
    }

    /// Purges the templates [`Store::due_templates`] lists, in one transaction with an audit
    /// event under `node` (counts per rule only: the event outlives the person's record and
    /// names nobody). Every controller drops them at its next read of the change feed.
    pub async fn purge_due_templates(
        &self,
        cfg: &PrivacyConfig,
        node: &str,
    ) -> StoreResult<Vec<DueTemplates>> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(DUE_SQL).fetch_all(&mut *tx).await?;
        let due = due_in(cfg, &rows, now)?;
        if due.is_empty() {
            return Ok(due);
        }
        let mut counts = serde_json::Map::new();
        for d in &due {
            sqlx::query("DELETE FROM faces WHERE subject_id = ? AND created_ms <= ?")
                .bind(d.subject_id.clone())
                .bind(d.newest_ms)
                .execute(&mut *tx)
                .await?;
            let entry = counts
                .entry(d.rule.as_str())
                .or_insert_with(|| serde_json::json!({"people": 0, "templates": 0}));
            entry["people"] = (entry["people"].as_i64().unwrap_or(0) + 1).into();
            entry["templates"] = (entry["templates"].as_i64().unwrap_or(0) + d.templates).into();
        }
        self.bump(&mut tx, &[ChangeKind::Faces]).await?;
        record_in(
            &mut tx,
            node,
            EventDraft {
                kind: EventKind::Admin,
                reason: "templates_purged".into(),
                details: serde_json::json!({
                    "rules": counts,
                    "discharged_patient_days": cfg.discharged_patient_days,
                    "inactive_staff_days": cfg.inactive_staff_days,
                    "max_idle_days": cfg.max_idle_days,
                }),
                ..Default::default()
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(due)
    }

    /// Every node's checkpoint.
    pub async fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        let rows = sqlx::query(CHECKPOINT_SQL).fetch_all(&self.pool()).await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    /// A verifier for `node`'s chain as stored: from its checkpoint when a prefix was pruned,
    /// from the start otherwise. Read the chain with [`Store::chain_page`] from `after_seq`.
    pub async fn chain_verifier(&self, node: &str) -> StoreResult<(Verifier, i64)> {
        let row = sqlx::query("SELECT through_seq, last_hash FROM event_prunes WHERE node = ?")
            .bind(node)
            .fetch_optional(&self.pool())
            .await?;
        Ok(match row {
            Some(r) => {
                let through: i64 = col(&r, "through_seq")?;
                let hash: String = col(&r, "last_hash")?;
                (Verifier::resume(through, &hash), through)
            }
            None => (Verifier::default(), 0),
        })
    }

    /// Verifies `node`'s whole stored chain, page by page, from its checkpoint when a prefix
    /// was pruned: the events checked, the seq it started after (0: from the start) and the
    /// first break, if any.
    pub async fn verify_chain(&self, node: &str) -> StoreResult<ChainCheck> {
        let (mut v, start) = self.chain_verifier(node).await?;
        let mut after = start;
        loop {
            let page = self.chain_page(node, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            if let Some(err) = page.iter().find_map(|e| v.push(e).err()) {
                return Ok(ChainCheck {
                    checked: v.checked,
                    pruned_through: start,
                    broken: Some(err),
                });
            }
        }
        Ok(ChainCheck {
            checked: v.checked,
            pruned_through: start,
            broken: None,
        })
    }

    /// Checks that the checkpoints stand where the audit log says they were put: each must
    /// equal what the newest `events_pruned` event records (an event sealed in a chain, so a
    /// checkpoint edited to hide deleted events no longer matches it). Returns the first
    /// disagreement, naming the node.
    pub async fn corroborate_checkpoints(&self) -> StoreResult<Result<usize, String>> {
        let stored = self.checkpoints().await?;
        if stored.is_empty() {
            return Ok(Ok(0));
        }
        let row = sqlx::query(
            "SELECT details FROM events WHERE kind = 'admin' AND reason = 'events_pruned' \
             ORDER BY ts_ms DESC, seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool())
        .await?;
        let recorded: std::collections::BTreeMap<String, Checkpoint> = match row {
            Some(r) => {
                let details: String = col(&r, "details")?;
                let v: serde_json::Value = serde_json::from_str(&details)
                    .map_err(|e| StoreError::Corrupt(format!("events_pruned details: {e}")))?;
                v.get("checkpoints")
                    .and_then(|c| serde_json::from_value::<Vec<Checkpoint>>(c.clone()).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (c.node.clone(), c))
                    .collect()
            }
            None => Default::default(),
        };
        for c in &stored {
            match recorded.get(&c.node) {
                Some(r) if r == c => {}
                Some(_) => {
                    return Ok(Err(format!(
                        "node {}: the checkpoint (through seq {}) differs from the one the \
                         audit log recorded when it was pruned",
                        c.node, c.through_seq
                    )))
                }
                None => {
                    return Ok(Err(format!(
                        "node {}: a checkpoint (through seq {}) that no events_pruned event \
                         records",
                        c.node, c.through_seq
                    )))
                }
            }
        }
        Ok(Ok(stored.len()))
    }

    /// What pruning events older than `retention_days` would remove, per node.
    pub async fn prune_plan(&self, retention_days: u32) -> StoreResult<Vec<PrunePlan>> {
        let cutoff = self.now() - i64::from(retention_days) * DAY_MS;
        let mut out = Vec::new();
        for node in self.event_nodes().await? {
            if let Some((through, events)) = self.prune_through(&node, cutoff).await? {
                out.push(PrunePlan {
                    node,
                    events,
                    through_seq: through,
                });
            }
        }
        Ok(out)
    }

    /// The last seq of `node` to prune for `cutoff`, and how many events that removes; `None`
    /// when nothing is due. The chain's newest event always stays: it is what the next event
    /// links to and what proves the chain's length.
    async fn prune_through(&self, node: &str, cutoff: Millis) -> StoreResult<Option<(i64, i64)>> {
        let row = sqlx::query(
            "SELECT MAX(seq) AS last, \
             MIN(CASE WHEN ts_ms >= ? THEN seq END) AS first_kept, \
             MIN(seq) AS first FROM events WHERE node = ?",
        )
        .bind(cutoff)
        .bind(node)
        .fetch_one(&self.pool())
        .await?;
        let (Some(last), Some(first)) = (
            col::<Option<i64>>(&row, "last")?,
            col::<Option<i64>>(&row, "first")?,
        ) else {
            return Ok(None);
        };
        let first_kept: Option<i64> = col(&row, "first_kept")?;
        let through = first_kept.unwrap_or(last).min(last) - 1;
        Ok((through >= first).then_some((through, through - first + 1)))
    }

    /// Prunes every node's events older than `retention_days`, in batches, each batch in one
    /// transaction with its checkpoint and an `events_pruned` event under `record_node` that
    /// records every checkpoint. `progress` hears (node, pruned so far). Returns the plan done.
    pub async fn prune_events(
        &self,
        retention_days: u32,
        record_node: &str,
        mut progress: impl FnMut(&str, i64),
    ) -> StoreResult<Vec<PrunePlan>> {
        let plan = self.prune_plan(retention_days).await?;
        for p in &plan {
            let mut done = 0;
            // The plan's events run from the chain's first stored seq to `through_seq`.
            let mut at = p.through_seq - p.events;
            while at < p.through_seq {
                let upto = (at + PRUNE_BATCH).min(p.through_seq);
                done += self.prune_batch(&p.node, upto, record_node).await?;
                at = upto;
                progress(&p.node, done);
            }
        }
        Ok(plan)
    }

    /// Prunes `node`'s events through `through_seq` in one transaction.
    async fn prune_batch(
        &self,
        node: &str,
        through_seq: i64,
        record_node: &str,
    ) -> StoreResult<i64> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let Some(last) = sqlx::query("SELECT hash FROM events WHERE node = ? AND seq = ?")
            .bind(node)
            .bind(through_seq)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(0);
        };
        let last_hash: String = col(&last, "hash")?;
        let n = sqlx::query("SELECT COUNT(*) AS n FROM events WHERE node = ? AND seq <= ?")
            .bind(node)
            .bind(through_seq)
            .fetch_one(&mut *tx)
            .await?;
        let n: i64 = col(&n, "n")?;
        let upsert = match self.backend {
            Backend::MySql => {
                "INSERT INTO event_prunes (node, through_seq, last_hash, pruned, pruned_ms) \
                 VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE through_seq = VALUES(through_seq), \
                 last_hash = VALUES(last_hash), pruned = pruned + VALUES(pruned), \
                 pruned_ms = VALUES(pruned_ms)"
            }
            Backend::Sqlite => {
                "INSERT INTO event_prunes (node, through_seq, last_hash, pruned, pruned_ms) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (node) DO UPDATE SET \
                 through_seq = excluded.through_seq, last_hash = excluded.last_hash, \
                 pruned = pruned + excluded.pruned, pruned_ms = excluded.pruned_ms"
            }
        };
        // The checkpoint first: SQLite's trigger lets a delete through only below it.
        sqlx::query(upsert)
            .bind(node)
            .bind(through_seq)
            .bind(last_hash)
            .bind(n)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM events WHERE node = ? AND seq <= ?")
            .bind(node)
            .bind(through_seq)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(CHECKPOINT_SQL).fetch_all(&mut *tx).await?;
        let all = rows
            .iter()
            .map(checkpoint_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        record_in(
            &mut tx,
            record_node,
            EventDraft {
                kind: EventKind::Admin,
                reason: "events_pruned".into(),
                details: serde_json::json!({ "node": node, "pruned": n, "checkpoints": all }),
                ..Default::default()
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Claims `job` for `holder` for `lease_ms` when it is free (or already `holder`'s) and it
    /// last finished at least `min_interval_ms` ago: one controller at a time runs a job on a
    /// shared database, and a controller that died mid-run loses its claim when the lease ends.
    pub async fn claim_job(
        &self,
        job: &str,
        holder: &str,
        lease_ms: Millis,
        min_interval_ms: Millis,
    ) -> StoreResult<bool> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        let insert = match self.backend {
            Backend::MySql => {
                "INSERT IGNORE INTO job_runs (job, holder, lease_until_ms) VALUES (?, '', 0)"
            }
            Backend::Sqlite => {
                "INSERT OR IGNORE INTO job_runs (job, holder, lease_until_ms) VALUES (?, '', 0)"
            }
        };
        sqlx::query(insert).bind(job).execute(&mut *tx).await?;
        let claimed = sqlx::query(
            "UPDATE job_runs SET holder = ?, lease_until_ms = ? WHERE job = ? \
             AND (lease_until_ms < ? OR holder = ?) \
             AND (last_run_ms IS NULL OR last_run_ms <= ?)",
        )
        .bind(holder)
        .bind(now + lease_ms)
        .bind(job)
        .bind(now)
        .bind(holder)
        .bind(now - min_interval_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Marks `job` finished by `holder` now and frees its lease.
    pub async fn finish_job(&self, job: &str, holder: &str) -> StoreResult<()> {
        let now = self.now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE job_runs SET last_run_ms = ?, lease_until_ms = 0 WHERE job = ? AND holder = ?",
        )
        .bind(now)
        .bind(job)
        .bind(holder)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// When `job` last finished, on any controller.
    pub async fn job_last_run(&self, job: &str) -> StoreResult<Option<Millis>> {
        let row = sqlx::query("SELECT last_run_ms FROM job_runs WHERE job = ?")
            .bind(job)
            .fetch_optional(&self.pool())
            .await?;
        Ok(match row {
            Some(r) => col(&r, "last_run_ms")?,
            None => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(role: Role, status: SubjectStatus, status_days_ago: i64) -> RetentionFacts {
        RetentionFacts {
            role,
            status,
            status_ms: NOW - status_days_ago * DAY_MS,
            last_seen_ms: Some(NOW - DAY_MS),
            newest_template_ms: NOW - 10 * DAY_MS,
        }
    }
    const NOW: Millis = 5_000 * DAY_MS;

    #[test]
    fn status_rules_start_at_the_status_change() {
        let cfg = PrivacyConfig::default();
        let p = facts(Role::Patient, SubjectStatus::Discharged, 30);
        assert_eq!(
            purge_rule(&cfg, &p, NOW),
            Some((PurgeRule::Discharged, p.status_ms))
        );
        let p = facts(Role::Patient, SubjectStatus::Discharged, 29);
        assert_eq!(purge_rule(&cfg, &p, NOW), None);
        let s = facts(Role::Nurse, SubjectStatus::Suspended, 90);
        assert_eq!(
            purge_rule(&cfg, &s, NOW),
            Some((PurgeRule::Deactivated, s.status_ms))
        );
        // Staff are not held to the patients' shorter period, and active people to neither.
        assert_eq!(
            purge_rule(
                &cfg,
                &facts(Role::Doctor, SubjectStatus::Suspended, 60),
                NOW
            ),
            None
        );
        assert_eq!(
            purge_rule(&cfg, &facts(Role::Patient, SubjectStatus::Active, 400), NOW),
            None
        );
    }

    #[test]
    fn idleness_counts_from_the_last_sighting_or_enrolment() {
        let cfg = PrivacyConfig::default();
        let mut f = facts(Role::Nurse, SubjectStatus::Active, 2000);
        f.last_seen_ms = Some(NOW - 1095 * DAY_MS);
        f.newest_template_ms = NOW - 1200 * DAY_MS;
        assert_eq!(
            purge_rule(&cfg, &f, NOW),
            Some((PurgeRule::Idle, NOW - 1095 * DAY_MS))
        );
        // A face enrolled since restarts the period; so does never having been seen at all
        // but being enrolled recently.
        f.newest_template_ms = NOW - 100 * DAY_MS;
        assert_eq!(purge_rule(&cfg, &f, NOW), None);
        f.last_seen_ms = None;
        assert_eq!(purge_rule(&cfg, &f, NOW), None);
    }

    #[test]
    fn zero_days_turns_a_rule_off() {
        let cfg = PrivacyConfig {
            discharged_patient_days: 0,
            max_idle_days: 0,
            ..Default::default()
        };
        let mut p = facts(Role::Patient, SubjectStatus::Discharged, 4000);
        p.last_seen_ms = None;
        p.newest_template_ms = 0;
        assert_eq!(purge_rule(&cfg, &p, NOW), None);
    }
}

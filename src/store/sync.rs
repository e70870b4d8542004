//! Reconciliation of complete snapshots from hospital systems.
//!
//! A source system (`"his"`, `"roster"`, …) sends everything it currently knows; the store
//! computes the difference against what that source put there before and applies it in one
//! transaction. Rows of other sources, and hand-made (`admin`) rows, are never touched, so two
//! systems and the admins can share one door without fighting.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::grants::{check_grant_parties, grant_from_row, insert_grant, GRANT_COLS};
use super::subjects::{insert_subject, subject_from_row, SUBJECT_COLS};
use super::{col, ChangeKind, Store, StoreError, StoreResult};
use crate::model::{GrantTarget, Millis, Role, SubjectStatus};

/// One grant of a snapshot, named by the hospital's identifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantSnapshotEntry {
    /// Staff external id.
    pub staff: String,
    /// `Door(door id)` or `Patient(patient external id)`.
    pub target: GrantTarget,
    pub valid_from: Option<Millis>,
    pub valid_until: Option<Millis>,
}

/// One person of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectSnapshotEntry {
    pub external_id: String,
    pub name: String,
    pub role: Role,
    pub status: SubjectStatus,
}

/// What a reconciliation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SyncOutcome {
    pub source: String,
    pub added: u64,
    pub updated: u64,
    /// Grants revoked, or subjects deactivated, because the snapshot no longer has them.
    pub removed: u64,
    pub unchanged: u64,
    /// Increases by one whenever a snapshot changes something; equal snapshots keep it.
    pub version: i64,
    /// SHA-256 of the canonical snapshot.
    pub digest: String,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Ends a reconciliation: records the snapshot's digest, bumps the version when anything
/// changed, commits, and reports `[added, updated, removed, unchanged]`.
async fn finish(
    mut tx: Tx<'_>,
    source: &str,
    kind: &str,
    hasher: Sha256,
    [added, updated, removed, unchanged]: [u64; 4],
    now: Millis,
) -> StoreResult<SyncOutcome> {
    let digest = hex::encode(hasher.finalize());
    let changed = added + updated + removed > 0;
    let row = sqlx::query("SELECT version FROM sync_state WHERE source = ? AND kind = ?")
        .bind(source)
        .bind(kind)
        .fetch_optional(&mut *tx)
        .await?;
    let version = match row {
        None => {
            sqlx::query(
                "INSERT INTO sync_state (source, kind, version, digest, updated_ms) VALUES (?, ?, 1, ?, ?)",
            )
            .bind(source)
            .bind(kind)
            .bind(digest.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            1
        }
        Some(r) => {
            let v: i64 = col(&r, "version")?;
            let v = if changed { v + 1 } else { v };
            sqlx::query(
                "UPDATE sync_state SET version = ?, digest = ?, updated_ms = ? WHERE source = ? AND kind = ?",
            )
            .bind(v)
            .bind(digest.as_str())
            .bind(now)
            .bind(source)
            .bind(kind)
            .execute(&mut *tx)
            .await?;
            v
        }
    };
    tx.commit().await?;
    Ok(SyncOutcome {
        source: source.to_owned(),
        added,
        updated,
        removed,
        unchanged,
        version,
        digest,
    })
}

fn check_source(source: &str) -> StoreResult<()> {
    if source == crate::model::ADMIN_SOURCE {
        return Err(StoreError::invalid(
            "source",
            "`admin` is reserved for hand-made records",
        ));
    }
    Ok(())
}

impl Store {
    /// Reconciles the complete grant set of `source`.
    pub async fn sync_grants(
        &self,
        source: &str,
        entries: &[GrantSnapshotEntry],
    ) -> StoreResult<SyncOutcome> {
        check_source(source)?;
        let mut tx = self.begin_write().await?;
        // external id -> subject id, for resolving the snapshot's names.
        let mut ids: HashMap<String, String> = HashMap::new();
        for row in sqlx::query("SELECT id, external_id FROM subjects")
            .fetch_all(&mut *tx)
            .await?
        {
            ids.insert(col(&row, "external_id")?, col(&row, "id")?);
        }
        let mut desired: BTreeMap<(String, GrantTarget), (Option<Millis>, Option<Millis>)> =
            BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            let staff_field = format!("grants[{i}].staff");
            let staff_id = ids
                .get(&e.staff)
                .ok_or_else(|| {
                    StoreError::invalid(&staff_field, "no subject with this external id")
                })?
                .clone();
            let (target, target_field) = match &e.target {
                GrantTarget::Door(d) => (GrantTarget::Door(d.clone()), format!("grants[{i}].door")),
                GrantTarget::Patient(p) => {
                    let field = format!("grants[{i}].patient");
                    let pid = ids.get(p).ok_or_else(|| {
                        StoreError::invalid(&field, "no subject with this external id")
                    })?;
                    (GrantTarget::Patient(pid.clone()), field)
                }
            };
            check_grant_parties(&mut tx, &staff_id, &target, &staff_field, &target_field).await?;
            if desired
                .insert((staff_id, target), (e.valid_from, e.valid_until))
                .is_some()
            {
                return Err(StoreError::invalid(
                    format!("grants[{i}]"),
                    "the same staff and target appear twice",
                ));
            }
        }
        let sql =
            format!("SELECT {GRANT_COLS} FROM grants WHERE source = ? AND revoked_ms IS NULL");
        let existing_rows = sqlx::query(&sql).bind(source).fetch_all(&mut *tx).await?;
        let mut existing = BTreeMap::new();
        for row in &existing_rows {
            let g = grant_from_row(row)?;
            existing.insert((g.staff_id.clone(), g.target.clone()), g);
        }
        let (mut added, mut updated, mut removed, mut unchanged) = (0, 0, 0, 0);
        let now = self.now();
        for (key, g) in &existing {
            if !desired.contains_key(key) {
                sqlx::query("UPDATE grants SET revoked_ms = ? WHERE id = ?")
                    .bind(now)
                    .bind(g.id.clone())
                    .execute(&mut *tx)
                    .await?;
                removed += 1;
            }
        }
        let mut hasher = Sha256::new();
        for ((staff_id, target), (from, until)) in &desired {
            hasher.update(format!(
                "{staff_id}|{}|{}|{from:?}|{until:?}\n",
                target.kind_str(),
                target.id()
            ));
            match existing.get(&(staff_id.clone(), target.clone())) {
                Some(g) if g.valid_from == *from && g.valid_until == *until => unchanged += 1,
                Some(g) => {
                    sqlx::query("UPDATE grants SET valid_from = ?, valid_until = ? WHERE id = ?")
                        .bind(*from)
                        .bind(*until)
                        .bind(g.id.clone())
                        .execute(&mut *tx)
                        .await?;
                    updated += 1;
                }
                None => {
                    insert_grant(&mut tx, staff_id, target, *from, *until, source, now).await?;
                    added += 1;
                }
            }
        }
        if added + updated + removed > 0 {
            self.bump(&mut tx, &[ChangeKind::Grants]).await?;
        }
        finish(
            tx,
            source,
            "grants",
            hasher,
            [added, updated, removed, unchanged],
            now,
        )
        .await
    }

    /// Reconciles the complete set of people of `source`: creates and updates by external id,
    /// deactivates (staff: suspended, patients: discharged) those no longer listed. Face
    /// templates are never touched.
    pub async fn sync_subjects(
        &self,
        source: &str,
        entries: &[SubjectSnapshotEntry],
    ) -> StoreResult<SyncOutcome> {
        check_source(source)?;
        let mut seen = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            if seen.insert(e.external_id.clone(), i).is_some() {
                return Err(StoreError::invalid(
                    format!("subjects[{i}].external_id"),
                    "appears twice in the snapshot",
                ));
            }
        }
        let mut tx = self.begin_write().await?;
        let (mut added, mut updated, mut removed, mut unchanged) = (0, 0, 0, 0);
        let mut hasher = Sha256::new();
        let now = self.now();
        for (ext, i) in &seen {
            let e = &entries[*i];
            hasher.update(format!(
                "{}|{}|{}|{}\n",
                e.external_id,
                e.name,
                e.role.as_str(),
                e.status.as_str()
            ));
            let sql = format!("SELECT {SUBJECT_COLS} FROM subjects WHERE external_id = ?");
            let row = sqlx::query(&sql)
                .bind(ext.clone())
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                None => {
                    insert_subject(
                        &mut tx,
                        &e.external_id,
                        &e.name,
                        e.role,
                        e.status,
                        source,
                        now,
                    )
                    .await?;
                    added += 1;
                }
                Some(row) => {
                    let s = subject_from_row(&row)?;
                    if s.role.kind() != e.role.kind() {
                        return Err(StoreError::invalid(
                            format!("subjects[{i}].role"),
                            "cannot switch an existing subject between staff and patient",
                        ));
                    }
                    if s.name == e.name
                        && s.role == e.role
                        && s.status == e.status
                        && s.source == source
                    {
                        unchanged += 1;
                    } else {
                        sqlx::query(
                            "UPDATE subjects SET name = ?, role = ?, \
                             status_ms = CASE WHEN status = ? THEN status_ms ELSE ? END, \
                             status = ?, source = ?, updated_ms = ? WHERE id = ?",
                        )
                        .bind(e.name.clone())
                        .bind(e.role.as_str())
                        .bind(e.status.as_str())
                        .bind(now)
                        .bind(e.status.as_str())
                        .bind(source)
                        .bind(now)
                        .bind(s.id.clone())
                        .execute(&mut *tx)
                        .await?;
                        updated += 1;
                    }
                }
            }
        }
        let sql =
            format!("SELECT {SUBJECT_COLS} FROM subjects WHERE source = ? AND status = 'active'");
        for row in sqlx::query(&sql).bind(source).fetch_all(&mut *tx).await? {
            let s = subject_from_row(&row)?;
            if !seen.contains_key(&s.external_id) {
                let status = if s.role == Role::Patient {
                    SubjectStatus::Discharged
                } else {
                    SubjectStatus::Suspended
                };
                sqlx::query(
                    "UPDATE subjects SET status = ?, status_ms = ?, updated_ms = ? WHERE id = ?",
                )
                .bind(status.as_str())
                .bind(now)
                .bind(now)
                .bind(s.id.clone())
                .execute(&mut *tx)
                .await?;
                removed += 1;
            }
        }
        if added + updated + removed > 0 {
            self.bump(&mut tx, &[ChangeKind::Subjects]).await?;
        }
        finish(
            tx,
            source,
            "subjects",
            hasher,
            [added, updated, removed, unchanged],
            now,
        )
        .await
    }
}

//! Grants staff→door and staff→patient.

use sqlx::any::AnyRow;

use super::{col, Bind, ChangeKind, Filter, Store, StoreError, StoreResult};
use crate::model::{new_id, Grant, GrantTarget, Millis, Role};

pub(crate) const GRANT_COLS: &str =
    "id, staff_id, target_kind, target_id, valid_from, valid_until, source, created_ms, revoked_ms";

pub(crate) fn grant_from_row(row: &AnyRow) -> StoreResult<Grant> {
    let kind: String = col(row, "target_kind")?;
    let target_id: String = col(row, "target_id")?;
    Ok(Grant {
        id: col(row, "id")?,
        staff_id: col(row, "staff_id")?,
        target: GrantTarget::from_parts(&kind, target_id)
            .ok_or_else(|| StoreError::Corrupt(format!("target_kind {kind}")))?,
        valid_from: col(row, "valid_from")?,
        valid_until: col(row, "valid_until")?,
        source: col(row, "source")?,
        created_ms: col(row, "created_ms")?,
        revoked_ms: col(row, "revoked_ms")?,
    })
}

/// Filters of `list_grants`.
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    pub staff_id: Option<String>,
    pub target: Option<GrantTarget>,
    pub source: Option<String>,
    pub include_revoked: bool,
    pub limit: u32,
    pub offset: u64,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Checks that `staff_id` is staff and that the target exists with the right kind; errors name
/// the field so the API can answer 422.
pub(crate) async fn check_grant_parties(
    tx: &mut Tx<'_>,
    staff_id: &str,
    target: &GrantTarget,
    staff_field: &str,
    target_field: &str,
) -> StoreResult<()> {
    let role_of = |role: Option<AnyRow>| -> StoreResult<Option<Role>> {
        match role {
            None => Ok(None),
            Some(r) => {
                let s: String = col(&r, "role")?;
                Ok(Some(
                    Role::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("role {s}")))?,
                ))
            }
        }
    };
    let staff = sqlx::query("SELECT role FROM subjects WHERE id = ?")
        .bind(staff_id)
        .fetch_optional(&mut **tx)
        .await?;
    match role_of(staff)? {
        None => return Err(StoreError::invalid(staff_field, "no such subject")),
        Some(Role::Patient) => {
            return Err(StoreError::invalid(
                staff_field,
                "subject is a patient, not staff",
            ))
        }
        Some(_) => {}
    }
    match target {
        GrantTarget::Door(id) => {
            let door = sqlx::query("SELECT id FROM doors WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
            if door.is_none() {
                return Err(StoreError::invalid(target_field, "no such door"));
            }
        }
        GrantTarget::Patient(id) => {
            let p = sqlx::query("SELECT role FROM subjects WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
            match role_of(p)? {
                None => return Err(StoreError::invalid(target_field, "no such subject")),
                Some(Role::Patient) => {}
                Some(_) => {
                    return Err(StoreError::invalid(
                        target_field,
                        "subject is staff, not a patient",
                    ))
                }
            }
        }
    }
    Ok(())
}

pub(crate) async fn insert_grant(
    tx: &mut Tx<'_>,
    staff_id: &str,
    target: &GrantTarget,
    valid_from: Option<Millis>,
    valid_until: Option<Millis>,
    source: &str,
    now: Millis,
) -> StoreResult<Grant> {
    let g = Grant {
        id: new_id(),
        staff_id: staff_id.to_owned(),
        target: target.clone(),
        valid_from,
        valid_until,
        source: source.to_owned(),
        created_ms: now,
        revoked_ms: None,
    };
    sqlx::query(
        "INSERT INTO grants (id, staff_id, target_kind, target_id, valid_from, valid_until, source, created_ms, revoked_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
    )
    .bind(g.id.clone())
    .bind(g.staff_id.clone())
    .bind(g.target.kind_str())
    .bind(g.target.id().to_owned())
    .bind(g.valid_from)
    .bind(g.valid_until)
    .bind(g.source.clone())
    .bind(g.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(g)
}

impl Store {
    /// Grants access. An active grant of the same source for the same staff and target is
    /// updated in place (new validity) rather than duplicated, so re-granting is idempotent.
    pub async fn grant(
        &self,
        staff_id: &str,
        target: &GrantTarget,
        valid_from: Option<Millis>,
        valid_until: Option<Millis>,
        source: &str,
    ) -> StoreResult<Grant> {
        let target_field = match target {
            GrantTarget::Door(_) => "door_id",
            GrantTarget::Patient(_) => "patient_id",
        };
        let mut tx = self.begin_write().await?;
        check_grant_parties(&mut tx, staff_id, target, "staff_id", target_field).await?;
        let sql = format!(
            "SELECT {GRANT_COLS} FROM grants WHERE staff_id = ? AND target_kind = ? AND target_id = ? \
             AND source = ? AND revoked_ms IS NULL"
        );
        let existing = sqlx::query(&sql)
            .bind(staff_id)
            .bind(target.kind_str())
            .bind(target.id().to_owned())
            .bind(source)
            .fetch_optional(&mut *tx)
            .await?;
        let grant = if let Some(row) = existing {
            let mut g = grant_from_row(&row)?;
            g.valid_from = valid_from;
            g.valid_until = valid_until;
            sqlx::query("UPDATE grants SET valid_from = ?, valid_until = ? WHERE id = ?")
                .bind(valid_from)
                .bind(valid_until)
                .bind(g.id.clone())
                .execute(&mut *tx)
                .await?;
            g
        } else {
            insert_grant(
                &mut tx,
                staff_id,
                target,
                valid_from,
                valid_until,
                source,
                self.now(),
            )
            .await?
        };
        self.bump(&mut tx, &[ChangeKind::Grants]).await?;
        tx.commit().await?;
        Ok(grant)
    }

    pub async fn get_grant(&self, id: &str) -> StoreResult<Grant> {
        let sql = format!("SELECT {GRANT_COLS} FROM grants WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool())
            .await?
            .ok_or(StoreError::NotFound { entity: "grant" })?;
        grant_from_row(&row)
    }

    /// Revokes one grant; revoking a revoked grant changes nothing.
    pub async fn revoke_grant(&self, id: &str) -> StoreResult<Grant> {
        let mut g = self.get_grant(id).await?;
        if g.revoked_ms.is_none() {
            let now = self.now();
            let mut tx = self.begin_write().await?;
            sqlx::query("UPDATE grants SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            self.bump(&mut tx, &[ChangeKind::Grants]).await?;
            tx.commit().await?;
            g.revoked_ms = Some(now);
        }
        Ok(g)
    }

    /// Revokes every active grant of `staff_id` for `target`, whatever its source. Returns how
    /// many were revoked (0 when there was none).
    pub async fn revoke_between(&self, staff_id: &str, target: &GrantTarget) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE grants SET revoked_ms = ? WHERE staff_id = ? AND target_kind = ? AND target_id = ? \
             AND revoked_ms IS NULL",
        )
        .bind(self.now())
        .bind(staff_id)
        .bind(target.kind_str())
        .bind(target.id().to_owned())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            self.bump(&mut tx, &[ChangeKind::Grants]).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    pub async fn list_grants(&self, f: &GrantFilter) -> StoreResult<(Vec<Grant>, i64)> {
        let mut filter = Filter::default();
        if let Some(s) = &f.staff_id {
            filter.and("staff_id = ?", [Bind::Text(s.clone())]);
        }
        if let Some(t) = &f.target {
            filter.and(
                "target_kind = ? AND target_id = ?",
                [Bind::Text(t.kind_str().into()), Bind::Text(t.id().into())],
            );
        }
        if let Some(s) = &f.source {
            filter.and("source = ?", [Bind::Text(s.clone())]);
        }
        if !f.include_revoked {
            filter.and("revoked_ms IS NULL", []);
        }
        self.page(
            "grants",
            GRANT_COLS,
            &filter,
            "created_ms, id",
            (f.limit, f.offset),
            grant_from_row,
        )
        .await
    }

    /// Every non-revoked grant (for the in-memory directory the door decides from).
    pub async fn active_grants(&self) -> StoreResult<Vec<Grant>> {
        let sql = format!("SELECT {GRANT_COLS} FROM grants WHERE revoked_ms IS NULL");
        let rows = sqlx::query(&sql).fetch_all(&self.pool()).await?;
        rows.iter().map(grant_from_row).collect()
    }
}

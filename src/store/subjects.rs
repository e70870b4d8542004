//! Subjects: staff and patients.

use sqlx::any::AnyRow;

use super::{col, Bind, ChangeKind, Filter, Store, StoreError, StoreResult};
use crate::model::{new_id, Millis, Role, Subject, SubjectKind, SubjectStatus};

/// Filters of `list_subjects`.
#[derive(Debug, Clone, Default)]
pub struct SubjectFilter {
    pub kind: Option<SubjectKind>,
    pub role: Option<Role>,
    pub status: Option<SubjectStatus>,
    pub limit: u32,
    pub offset: u64,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SubjectPatch {
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub status: Option<SubjectStatus>,
}

pub(crate) const SUBJECT_COLS: &str =
    "id, external_id, name, role, status, source, created_ms, updated_ms";

pub(crate) fn subject_from_row(row: &AnyRow) -> StoreResult<Subject> {
    let role: String = col(row, "role")?;
    let status: String = col(row, "status")?;
    Ok(Subject {
        id: col(row, "id")?,
        external_id: col(row, "external_id")?,
        name: col(row, "name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        status: SubjectStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
        source: col(row, "source")?,
        created_ms: col(row, "created_ms")?,
        updated_ms: col(row, "updated_ms")?,
    })
}

impl Store {
    /// Creates a subject; 409 when the external id is taken.
    pub async fn create_subject(
        &self,
        external_id: &str,
        name: &str,
        role: Role,
        status: SubjectStatus,
        source: &str,
    ) -> StoreResult<Subject> {
        let mut tx = self.begin_write().await?;
        let subject =
            insert_subject(&mut tx, external_id, name, role, status, source, self.now()).await?;
        self.bump(&mut tx, &[ChangeKind::Subjects]).await?;
        tx.commit().await?;
        Ok(subject)
    }

    pub async fn get_subject(&self, id: &str) -> StoreResult<Subject> {
        let sql = format!("SELECT {SUBJECT_COLS} FROM subjects WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool())
            .await?
            .ok_or(StoreError::NotFound { entity: "subject" })?;
        subject_from_row(&row)
    }

    pub async fn subject_by_external_id(&self, external_id: &str) -> StoreResult<Option<Subject>> {
        let sql = format!("SELECT {SUBJECT_COLS} FROM subjects WHERE external_id = ?");
        let row = sqlx::query(&sql)
            .bind(external_id)
            .fetch_optional(&self.pool())
            .await?;
        row.as_ref().map(subject_from_row).transpose()
    }

    /// A page of subjects in creation order, and the total matching the filter.
    pub async fn list_subjects(&self, f: &SubjectFilter) -> StoreResult<(Vec<Subject>, i64)> {
        let mut filter = Filter::default();
        match f.kind {
            Some(SubjectKind::Patient) => filter.and("role = 'patient'", []),
            Some(SubjectKind::Staff) => filter.and("role <> 'patient'", []),
            None => {}
        }
        if let Some(role) = f.role {
            filter.and("role = ?", [Bind::Text(role.as_str().into())]);
        }
        if let Some(status) = f.status {
            filter.and("status = ?", [Bind::Text(status.as_str().into())]);
        }
        self.page(
            "subjects",
            SUBJECT_COLS,
            &filter,
            "created_ms, id",
            (f.limit, f.offset),
            subject_from_row,
        )
        .await
    }

    /// Every subject (for the in-memory directory).
    pub async fn all_subjects(&self) -> StoreResult<Vec<Subject>> {
        let sql = format!("SELECT {SUBJECT_COLS} FROM subjects");
        let rows = sqlx::query(&sql).fetch_all(&self.pool()).await?;
        rows.iter().map(subject_from_row).collect()
    }

    /// Applies a patch. Changing a staff member into a patient (or back) is refused while grants
    /// reference the subject in the old role, because those grants would silently change meaning.
    pub async fn update_subject(&self, id: &str, patch: &SubjectPatch) -> StoreResult<Subject> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {SUBJECT_COLS} FROM subjects WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound { entity: "subject" })?;
        let mut s = subject_from_row(&row)?;
        if let Some(ext) = &patch.external_id {
            if *ext != s.external_id {
                let taken = sqlx::query("SELECT id FROM subjects WHERE external_id = ?")
                    .bind(ext.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::Conflict {
                        field: "external_id",
                        message: format!("a subject with external id {ext:?} exists"),
                    });
                }
                s.external_id = ext.clone();
            }
        }
        if let Some(role) = patch.role {
            if role.kind() != s.role.kind() {
                let n: i64 = col(
                    &sqlx::query(
                        "SELECT COUNT(*) AS n FROM grants WHERE revoked_ms IS NULL AND \
                         (staff_id = ? OR (target_kind = 'patient' AND target_id = ?))",
                    )
                    .bind(id)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?,
                    "n",
                )?;
                if n > 0 {
                    return Err(StoreError::invalid(
                        "role",
                        "cannot switch between staff and patient while grants reference the subject",
                    ));
                }
            }
            s.role = role;
        }
        if let Some(name) = &patch.name {
            s.name = name.clone();
        }
        if let Some(status) = patch.status {
            s.status = status;
        }
        s.updated_ms = self.now();
        sqlx::query(
            "UPDATE subjects SET external_id = ?, name = ?, role = ?, \
             status_ms = CASE WHEN status = ? THEN status_ms ELSE ? END, status = ?, \
             updated_ms = ? WHERE id = ?",
        )
        .bind(s.external_id.clone())
        .bind(s.name.clone())
        .bind(s.role.as_str())
        .bind(s.status.as_str())
        .bind(s.updated_ms)
        .bind(s.status.as_str())
        .bind(s.updated_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        self.bump(&mut tx, &[ChangeKind::Subjects]).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Deletes a subject with its face templates and every grant that names it (as staff or as
    /// patient). Returns how many templates were purged.
    pub async fn delete_subject(&self, id: &str) -> StoreResult<u64> {
        Ok(self.remove_subject(id).await?.templates)
    }

    /// Erases a person (GDPR Art. 17): their record, templates, grants and consent record go
    /// in one transaction, as with [`Store::delete_subject`], and then no copy of them is left
    /// in the database's own files — on SQLite the write-ahead log is folded into the file
    /// (whose freed pages `secure_delete` zeroed) and truncated; on MySQL the tables are
    /// rebuilt so InnoDB keeps no old row versions in its pages. The audit log keeps the
    /// person's subject id, a random pseudonym that nothing maps to a person any more.
    pub async fn erase_subject(&self, id: &str) -> StoreResult<Erasure> {
        let erased = self.remove_subject(id).await?;
        if let Err(e) = self.scrub_files("subjects, faces, grants, consents").await {
            // The rows are gone either way; what may be left is a copy in freed space.
            log::warn!("after erasing a subject, the database files were not scrubbed: {e}");
        }
        Ok(erased)
    }

    async fn remove_subject(&self, id: &str) -> StoreResult<Erasure> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM subjects WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { entity: "subject" });
        }
        let templates = sqlx::query("DELETE FROM faces WHERE subject_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let grants = sqlx::query(
            "DELETE FROM grants WHERE staff_id = ? OR (target_kind = 'patient' AND target_id = ?)",
        )
        .bind(id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let consent = sqlx::query("DELETE FROM consents WHERE subject_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query("DELETE FROM subjects WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.bump(
            &mut tx,
            &[ChangeKind::Subjects, ChangeKind::Faces, ChangeKind::Grants],
        )
        .await?;
        tx.commit().await?;
        Ok(Erasure {
            templates,
            grants,
            consent,
        })
    }
}

/// What removing a person took with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erasure {
    pub templates: u64,
    pub grants: u64,
    pub consent: bool,
}

/// Inserts a subject inside a caller's transaction (used by `register_face` and sync too).
pub(crate) async fn insert_subject(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    external_id: &str,
    name: &str,
    role: Role,
    status: SubjectStatus,
    source: &str,
    now: Millis,
) -> StoreResult<Subject> {
    let taken = sqlx::query("SELECT id FROM subjects WHERE external_id = ?")
        .bind(external_id)
        .fetch_optional(&mut **tx)
        .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict {
            field: "external_id",
            message: format!("a subject with external id {external_id:?} exists"),
        });
    }
    let s = Subject {
        id: new_id(),
        external_id: external_id.to_owned(),
        name: name.to_owned(),
        role,
        status,
        source: source.to_owned(),
        created_ms: now,
        updated_ms: now,
    };
    sqlx::query(
        "INSERT INTO subjects (id, external_id, name, role, status, source, created_ms, updated_ms, \
         status_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(s.id.clone())
    .bind(s.external_id.clone())
    .bind(s.name.clone())
    .bind(s.role.as_str())
    .bind(s.status.as_str())
    .bind(s.source.clone())
    .bind(s.created_ms)
    .bind(s.updated_ms)
    .bind(s.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(s)
}

//! Consent records, and the check every enrolment passes through (docs/privacy.md).

use sqlx::any::AnyRow;

use super::{col, ChangeKind, Store, StoreError, StoreResult};
use crate::privacy::consent::{Consent, ConsentInput, ConsentMethod, ConsentScope};

const COLS: &str =
    "subject_id, scope, method, document, recorded_by, recorded_ms, withdrawn_ms, withdrawn_by";

fn consent_from_row(row: &AnyRow) -> StoreResult<Consent> {
    let scope: String = col(row, "scope")?;
    let method: String = col(row, "method")?;
    Ok(Consent {
        subject_id: col(row, "subject_id")?,
        scope: ConsentScope::parse(&scope)
            .ok_or_else(|| StoreError::Corrupt(format!("consent scope {scope}")))?,
        method: ConsentMethod::parse(&method)
            .ok_or_else(|| StoreError::Corrupt(format!("consent method {method}")))?,
        document: col(row, "document")?,
        recorded_by: col(row, "recorded_by")?,
        recorded_ms: col(row, "recorded_ms")?,
        withdrawn_ms: col(row, "withdrawn_ms")?,
        withdrawn_by: col(row, "withdrawn_by")?,
    })
}

impl Store {
    /// Records (or records again, after a withdrawal) a person's consent.
    pub async fn record_consent(
        &self,
        subject_id: &str,
        input: &ConsentInput,
    ) -> StoreResult<Consent> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM subjects WHERE id = ?")
            .bind(subject_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { entity: "subject" });
        }
        let c = insert_consent(&mut tx, subject_id, input, self.now()).await?;
        self.bump(&mut tx, &[ChangeKind::Subjects]).await?;
        tx.commit().await?;
        Ok(c)
    }

    /// A person's consent record, standing or withdrawn; `None` when none was ever recorded.
    pub async fn consent(&self, subject_id: &str) -> StoreResult<Option<Consent>> {
        let sql = format!("SELECT {COLS} FROM consents WHERE subject_id = ?");
        let row = sqlx::query(&sql)
            .bind(subject_id)
            .fetch_optional(&self.pool())
            .await?;
        row.as_ref().map(consent_from_row).transpose()
    }

    /// Withdraws a person's consent and purges their templates in one transaction; every
    /// controller drops them from its gallery at its next read of the change feed. Returns the
    /// record and how many templates were purged.
    pub async fn withdraw_consent(
        &self,
        subject_id: &str,
        by: &str,
    ) -> StoreResult<(Consent, u64)> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {COLS} FROM consents WHERE subject_id = ?");
        let current = sqlx::query(&sql)
            .bind(subject_id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(consent_from_row)
            .transpose()?;
        let Some(mut c) = current.filter(Consent::stands) else {
            return Err(StoreError::NotFound { entity: "consent" });
        };
        let now = self.now();
        sqlx::query("UPDATE consents SET withdrawn_ms = ?, withdrawn_by = ? WHERE subject_id = ?")
            .bind(now)
            .bind(by)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?;
        let purged = sqlx::query("DELETE FROM faces WHERE subject_id = ?")
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.bump(&mut tx, &[ChangeKind::Subjects, ChangeKind::Faces])
            .await?;
        tx.commit().await?;
        c.withdrawn_ms = Some(now);
        c.withdrawn_by = Some(by.to_owned());
        Ok((c, purged))
    }
}

/// Inserts or replaces a consent record inside a caller's transaction.
pub(crate) async fn insert_consent(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    subject_id: &str,
    input: &ConsentInput,
    now: crate::model::Millis,
) -> StoreResult<Consent> {
    for (field, value, max) in [
        ("document", &input.document, 255),
        ("recorded_by", &input.recorded_by, 128),
    ] {
        if value.trim().is_empty() || value.chars().count() > max {
            return Err(StoreError::invalid(
                field,
                format!("must be 1 to {max} characters"),
            ));
        }
    }
    sqlx::query("DELETE FROM consents WHERE subject_id = ?")
        .bind(subject_id)
        .execute(&mut **tx)
        .await?;
    let sql = format!("INSERT INTO consents ({COLS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)");
    sqlx::query(&sql)
        .bind(subject_id)
        .bind(input.scope.as_str())
        .bind(input.method.as_str())
        .bind(input.document.clone())
        .bind(input.recorded_by.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(Consent {
        subject_id: subject_id.to_owned(),
        scope: input.scope,
        method: input.method,
        document: input.document.clone(),
        recorded_by: input.recorded_by.clone(),
        recorded_ms: now,
        withdrawn_ms: None,
        withdrawn_by: None,
    })
}

/// With consent required: refuses (`ConsentRequired`) unless `subject_id` has a standing
/// consent record. Inside the enrolment's own transaction, so a withdrawal cannot slip in
/// between the check and the write: SQLite's write transactions hold the database lock from
/// their start, and on MySQL the record is read `FOR UPDATE`, so a withdrawal waits for the
/// enrolment (and then purges its template) or the enrolment waits and is refused.
pub(crate) async fn ensure_consent(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: super::Backend,
    subject_id: &str,
) -> StoreResult<()> {
    let sql = match backend {
        super::Backend::Sqlite => "SELECT withdrawn_ms FROM consents WHERE subject_id = ?",
        super::Backend::MySql => {
            "SELECT withdrawn_ms FROM consents WHERE subject_id = ? FOR UPDATE"
        }
    };
    let row = sqlx::query(sql)
        .bind(subject_id)
        .fetch_optional(&mut **tx)
        .await?;
    let stands = match row {
        Some(r) => col::<Option<i64>>(&r, "withdrawn_ms")?.is_none(),
        None => false,
    };
    if stands {
        Ok(())
    } else {
        Err(StoreError::ConsentRequired {
            subject_id: subject_id.to_owned(),
        })
    }
}

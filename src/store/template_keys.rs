//! Which key sealed which template: the start-up check, sealing templates an older version
//! stored in the clear, and re-sealing under a new key (`wardgate keys rotate`).
//!
//! Re-sealing changes neither a template's id nor its vector, so it bumps no change feed: every
//! controller's gallery stays as it is, and the door goes on deciding while it runs. Each batch
//! is its own transaction and only touches rows still sealed under another key, so a rotation
//! killed half-way is resumed by running it again.

use std::ops::ControlFlow;

use serde::Serialize;

use super::{col, Store, StoreError, StoreResult};
use crate::privacy::{KeyError, TemplateRef};

/// Stored templates per key id (`None`: stored in the clear by a version before sealing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyCount {
    pub key_id: Option<String>,
    pub templates: i64,
    /// Whether the keys in use hold this id.
    pub held: bool,
}

/// What one `rotate_templates` run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RotateReport {
    /// Templates re-sealed under the primary key by this run.
    pub resealed: u64,
    /// Templates still under another key (0 when the run finished; more when it was stopped).
    pub remaining: u64,
}

impl Store {
    /// Stored templates per key id.
    pub async fn template_key_counts(&self) -> StoreResult<Vec<KeyCount>> {
        let keys = self.template_keys()?;
        let rows =
            sqlx::query("SELECT key_id, COUNT(*) AS n FROM faces GROUP BY key_id ORDER BY key_id")
                .fetch_all(&self.pool())
                .await?;
        rows.iter()
            .map(|r| {
                let key_id: Option<String> = col(r, "key_id")?;
                Ok(KeyCount {
                    held: key_id.as_deref().is_some_and(|k| keys.has(k)),
                    key_id,
                    templates: col(r, "n")?,
                })
            })
            .collect()
    }

    /// At start: refuses (changing nothing) when a template is sealed under a key this store
    /// does not hold, then seals the templates an older version stored in the clear. Returns how
    /// many it sealed.
    pub async fn prepare_templates(&self) -> StoreResult<u64> {
        let keys = self.template_keys()?;
        for c in self.template_key_counts().await? {
            if let (Some(id), false) = (&c.key_id, c.held) {
                return Err(KeyError::UnknownKey {
                    key_id: id.clone(),
                    rows: c.templates,
                    have: keys.ids().collect::<Vec<_>>().join(", "),
                    origin: keys.source().to_string(),
                }
                .into());
            }
        }
        let mut sealed = 0;
        loop {
            let n = self.reseal_batch(None, 500).await?;
            if n == 0 {
                break;
            }
            sealed += n;
        }
        if sealed > 0 {
            log::warn!(
                "sealed {sealed} face templates stored in the clear by an earlier version (key id {})",
                keys.primary_id()
            );
            self.compact_after_reseal().await;
        }
        Ok(sealed)
    }

    /// Re-seals, in batches of `batch`, every template not sealed under the primary key. After
    /// each batch `progress(resealed so far, remaining)` may stop the run
    /// (`ControlFlow::Break`); running it again resumes where it stopped.
    pub async fn rotate_templates(
        &self,
        batch: usize,
        mut progress: impl FnMut(u64, u64) -> ControlFlow<()>,
    ) -> StoreResult<RotateReport> {
        let primary = self.template_keys()?.primary_id().to_owned();
        let mut report = RotateReport {
            resealed: 0,
            remaining: self.templates_not_under(&primary).await?,
        };
        while report.remaining > 0 {
            let n = self.reseal_batch(Some(&primary), batch.max(1)).await?;
            if n == 0 {
                break;
            }
            report.resealed += n;
            report.remaining = self.templates_not_under(&primary).await?;
            if progress(report.resealed, report.remaining).is_break() {
                break;
            }
        }
        if report.resealed > 0 && report.remaining == 0 {
            self.compact_after_reseal().await;
        }
        Ok(report)
    }

    async fn templates_not_under(&self, primary: &str) -> StoreResult<u64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM faces WHERE key_id IS NULL OR key_id <> ?")
                .bind(primary)
                .fetch_one(&self.pool())
                .await?;
        let n: i64 = col(&row, "n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Re-seals up to `limit` templates under the primary key, in one transaction: those in
    /// the clear (`primary` = `None`), or those under any key but `primary`. Each row is
    /// updated only if it still holds what was read, so a concurrent writer is never undone.
    async fn reseal_batch(&self, primary: Option<&str>, limit: usize) -> StoreResult<u64> {
        let keys = self.template_keys()?;
        let mut tx = self.begin_write().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match primary {
            None => {
                sqlx::query(
                    "SELECT id, subject_id, model_id, dim, vector, key_id FROM faces \
                     WHERE key_id IS NULL ORDER BY id LIMIT ?",
                )
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?
            }
            Some(p) => {
                sqlx::query(
                    "SELECT id, subject_id, model_id, dim, vector, key_id FROM faces \
                     WHERE key_id IS NULL OR key_id <> ? ORDER BY id LIMIT ?",
                )
                .bind(p)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        let mut n = 0;
        for row in &rows {
            let face_id: String = col(row, "id")?;
            let subject_id: String = col(row, "subject_id")?;
            let model_id: String = col(row, "model_id")?;
            let dim: i64 = col(row, "dim")?;
            let stored: Vec<u8> = col(row, "vector")?;
            let old_key: Option<String> = col(row, "key_id")?;
            let t = TemplateRef {
                face_id: &face_id,
                subject_id: &subject_id,
                model_id: &model_id,
                dim: usize::try_from(dim).map_err(|_| StoreError::Corrupt(format!("dim {dim}")))?,
            };
            let plain = match &old_key {
                Some(k) => keys.open(k, t, &stored)?,
                None => stored.clone(),
            };
            let (key_id, sealed) = keys.seal(t, &plain);
            let q = match &old_key {
                Some(k) => sqlx::query(
                    "UPDATE faces SET vector = ?, key_id = ? WHERE id = ? AND key_id = ?",
                )
                .bind(sealed)
                .bind(key_id)
                .bind(face_id.clone())
                .bind(k.clone()),
                None => sqlx::query(
                    "UPDATE faces SET vector = ?, key_id = ? WHERE id = ? AND key_id IS NULL",
                )
                .bind(sealed)
                .bind(key_id)
                .bind(face_id.clone()),
            };
            n += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// After rows were re-sealed, no old row versions stay in the database files
    /// ([`Store::scrub_files`]). Best effort: a failure is logged, never fatal.
    async fn compact_after_reseal(&self) {
        if let Err(e) = self.scrub_files("faces").await {
            log::warn!("after re-sealing templates, the database files were not scrubbed: {e}");
        }
    }
}

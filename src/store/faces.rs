//! Face templates: embeddings tagged with the model that produced them.

use sqlx::any::AnyRow;

use super::subjects::insert_subject;
use super::{col, decode_vector, encode_vector, ChangeKind, Store, StoreError, StoreResult};
use crate::model::{new_id, FaceTemplate, Millis, Role, Subject, SubjectStatus};
use crate::privacy::{TemplateKeys, TemplateRef};

fn face_from_row(row: &AnyRow) -> StoreResult<FaceTemplate> {
    let dim: i64 = col(row, "dim")?;
    Ok(FaceTemplate {
        id: col(row, "id")?,
        subject_id: col(row, "subject_id")?,
        model_id: col(row, "model_id")?,
        dim: usize::try_from(dim).map_err(|_| StoreError::Corrupt(format!("dim {dim}")))?,
        created_ms: col(row, "created_ms")?,
    })
}

/// One template with its vector, as loaded into the gallery.
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    pub face_id: String,
    pub subject_id: String,
    pub vector: Vec<f32>,
}

impl Store {
    /// Adds a template to an existing subject.
    pub async fn add_face(
        &self,
        subject_id: &str,
        model_id: &str,
        vector: &[f32],
    ) -> StoreResult<FaceTemplate> {
        let mut faces = self
            .add_faces(subject_id, model_id, &[vector.to_vec()])
            .await?;
        faces
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no template was written".into()))
    }

    /// Creates a subject and its first template atomically (`POST /register_face`).
    pub async fn register_subject_with_face(
        &self,
        external_id: &str,
        name: &str,
        role: Role,
        model_id: &str,
        vector: &[f32],
    ) -> StoreResult<(Subject, FaceTemplate)> {
        let (subject, mut faces) = self
            .register_subject_with_faces(
                external_id,
                name,
                role,
                model_id,
                &[vector.to_vec()],
                None,
            )
            .await?;
        let face = faces
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no template was written".into()))?;
        Ok((subject, face))
    }

    /// Adds several templates to an existing subject in one transaction: all or none.
    pub async fn add_faces(
        &self,
        subject_id: &str,
        model_id: &str,
        vectors: &[Vec<f32>],
    ) -> StoreResult<Vec<FaceTemplate>> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM subjects WHERE id = ?")
            .bind(subject_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { entity: "subject" });
        }
        if self.consent_required {
            super::consents::ensure_consent(&mut tx, self.backend, subject_id).await?;
        }
        let keys = self.template_keys()?;
        let mut faces = Vec::with_capacity(vectors.len());
        for v in vectors {
            faces.push(insert_face(&mut tx, keys, subject_id, model_id, v, self.now()).await?);
        }
        self.bump(&mut tx, &[ChangeKind::Faces]).await?;
        tx.commit().await?;
        Ok(faces)
    }

    /// Creates a subject and all its templates atomically (`POST /register_face`), with the
    /// consent record given with them. With consent required and none given, nothing is
    /// written.
    pub async fn register_subject_with_faces(
        &self,
        external_id: &str,
        name: &str,
        role: Role,
        model_id: &str,
        vectors: &[Vec<f32>],
        consent: Option<&crate::privacy::consent::ConsentInput>,
    ) -> StoreResult<(Subject, Vec<FaceTemplate>)> {
        let keys = self.template_keys()?;
        let mut tx = self.begin_write().await?;
        let subject = insert_subject(
            &mut tx,
            external_id,
            name,
            role,
            SubjectStatus::Active,
            crate::model::ADMIN_SOURCE,
            self.now(),
        )
        .await?;
        match consent {
            Some(c) => {
                super::consents::insert_consent(&mut tx, &subject.id, c, self.now()).await?;
            }
            None if self.consent_required => {
                return Err(StoreError::ConsentRequired {
                    subject_id: subject.id,
                })
            }
            None => {}
        }
        let mut faces = Vec::with_capacity(vectors.len());
        for v in vectors {
            faces.push(insert_face(&mut tx, keys, &subject.id, model_id, v, self.now()).await?);
        }
        self.bump(&mut tx, &[ChangeKind::Subjects, ChangeKind::Faces])
            .await?;
        tx.commit().await?;
        Ok((subject, faces))
    }

    pub async fn list_faces(&self, subject_id: &str) -> StoreResult<Vec<FaceTemplate>> {
        self.get_subject(subject_id).await?;
        let rows = sqlx::query(
            "SELECT id, subject_id, model_id, dim, created_ms FROM faces WHERE subject_id = ? \
             ORDER BY created_ms, id",
        )
        .bind(subject_id)
        .fetch_all(&self.pool())
        .await?;
        rows.iter().map(face_from_row).collect()
    }

    pub async fn delete_face(&self, subject_id: &str, face_id: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM faces WHERE id = ? AND subject_id = ?")
            .bind(face_id)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound { entity: "face" });
        }
        self.bump(&mut tx, &[ChangeKind::Faces]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every template of `model_id` with dimension `dim`, whatever its subject's status (so a
    /// suspended person is recognised as such and denied as `subject_inactive`, never mistaken
    /// for someone else). Templates of other models are never loaded.
    pub async fn templates_for_model(
        &self,
        model_id: &str,
        dim: usize,
    ) -> StoreResult<Vec<StoredTemplate>> {
        let keys = self.template_keys()?;
        let rows = sqlx::query(
            "SELECT f.id, f.subject_id, f.vector, f.key_id FROM faces f \
             JOIN subjects s ON s.id = f.subject_id \
             WHERE f.model_id = ? AND f.dim = ? ORDER BY f.id",
        )
        .bind(model_id)
        .bind(i64::try_from(dim).unwrap_or(i64::MAX))
        .fetch_all(&self.pool())
        .await?;
        opened(keys, &rows, model_id, dim)
    }

    /// How many templates of `model_id` with dimension `dim` are stored (nothing is opened).
    pub async fn count_templates(&self, model_id: &str, dim: usize) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM faces f JOIN subjects s ON s.id = f.subject_id \
             WHERE f.model_id = ? AND f.dim = ?",
        )
        .bind(model_id)
        .bind(i64::try_from(dim).unwrap_or(i64::MAX))
        .fetch_one(&self.pool())
        .await?;
        col(&row, "n")
    }
}

impl Store {
    /// The ids of the templates [`Store::templates_for_model`] would load: what the change feed
    /// compares with the gallery to find added and removed templates without reading vectors.
    pub async fn face_ids_for_model(&self, model_id: &str, dim: usize) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT f.id FROM faces f JOIN subjects s ON s.id = f.subject_id \
             WHERE f.model_id = ? AND f.dim = ?",
        )
        .bind(model_id)
        .bind(i64::try_from(dim).unwrap_or(i64::MAX))
        .fetch_all(&self.pool())
        .await?;
        rows.iter().map(|r| col(r, "id")).collect()
    }

    /// The templates with these ids (of `model_id` and `dim`); ids that no longer exist are
    /// absent from the result.
    pub async fn templates_by_ids(
        &self,
        model_id: &str,
        dim: usize,
        ids: &[String],
    ) -> StoreResult<Vec<StoredTemplate>> {
        let keys = self.template_keys()?;
        let mut out = Vec::with_capacity(ids.len());
        // Bounded IN lists: far below every backend's parameter limit.
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT f.id, f.subject_id, f.vector, f.key_id FROM faces f \
                 JOIN subjects s ON s.id = f.subject_id \
                 WHERE f.model_id = ? AND f.dim = ? AND f.id IN ({marks})"
            );
            let mut q = sqlx::query(&sql)
                .bind(model_id)
                .bind(i64::try_from(dim).unwrap_or(i64::MAX));
            for id in chunk {
                q = q.bind(id.as_str());
            }
            out.extend(opened(
                keys,
                &q.fetch_all(&self.pool()).await?,
                model_id,
                dim,
            )?);
        }
        Ok(out)
    }
}

/// The templates of `rows`, opened. A row that does not open (altered, or copied from another
/// record) is left out and logged by id: one damaged row must not keep everyone else out.
fn opened(
    keys: &TemplateKeys,
    rows: &[AnyRow],
    model_id: &str,
    dim: usize,
) -> StoreResult<Vec<StoredTemplate>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        match template_from_row(keys, row, model_id, dim) {
            Ok(t) => out.push(t),
            Err(StoreError::Keys(e)) => log::error!("{e}; it is not searched"),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn template_from_row(
    keys: &TemplateKeys,
    row: &AnyRow,
    model_id: &str,
    dim: usize,
) -> StoreResult<StoredTemplate> {
    let face_id: String = col(row, "id")?;
    let subject_id: String = col(row, "subject_id")?;
    let stored: Vec<u8> = col(row, "vector")?;
    let key_id: Option<String> = col(row, "key_id")?;
    // NULL: stored before templates were sealed; `Store::prepare_templates` seals those at
    // start, so this is only ever met between the migration and that.
    let bytes = match key_id {
        Some(k) => keys.open(
            &k,
            TemplateRef {
                face_id: &face_id,
                subject_id: &subject_id,
                model_id,
                dim,
            },
            &stored,
        )?,
        None => stored,
    };
    let vector = decode_vector(&bytes, dim)
        .ok_or_else(|| StoreError::Corrupt(format!("face {face_id}: vector length")))?;
    Ok(StoredTemplate {
        face_id,
        subject_id,
        vector,
    })
}

async fn insert_face(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    keys: &TemplateKeys,
    subject_id: &str,
    model_id: &str,
    vector: &[f32],
    now: Millis,
) -> StoreResult<FaceTemplate> {
    let face = FaceTemplate {
        id: new_id(),
        subject_id: subject_id.to_owned(),
        model_id: model_id.to_owned(),
        dim: vector.len(),
        created_ms: now,
    };
    let (key_id, sealed) = keys.seal(
        TemplateRef {
            face_id: &face.id,
            subject_id: &face.subject_id,
            model_id: &face.model_id,
            dim: face.dim,
        },
        &encode_vector(vector),
    );
    sqlx::query(
        "INSERT INTO faces (id, subject_id, model_id, dim, vector, key_id, created_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(face.id.clone())
    .bind(face.subject_id.clone())
    .bind(face.model_id.clone())
    .bind(i64::try_from(face.dim).unwrap_or(i64::MAX))
    .bind(sealed)
    .bind(key_id)
    .bind(face.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(face)
}

impl Store {
    /// The in-memory gallery of one embedder (what `identify` and the door search).
    pub async fn load_gallery(
        &self,
        model_id: &str,
        dim: usize,
    ) -> StoreResult<crate::gallery::Gallery> {
        let templates = self.templates_for_model(model_id, dim).await?;
        Ok(crate::gallery::Gallery::build(model_id, dim, templates).0)
    }
}

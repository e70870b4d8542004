//! In-memory 1:N face search.
//!
//! All templates of the configured embedder live in one contiguous row-major matrix of
//! L2-normalised rows, so a search is one linear pass of dot products (cosine similarity of unit
//! vectors) that the compiler vectorises; the door decides from this copy even while the
//! database is down. Rows are rebuilt from the store when templates change.
//!
//! Why plain slices rather than `ndarray`'s `dot`: both are kept (see `search_ndarray`) and
//! benchmarked in `benches/gallery.rs`; the numbers are in BENCHMARKS.md.

use std::sync::Arc;

use ndarray::{ArrayView1, ArrayView2};

use crate::store::StoredTemplate;

/// Scores a probe against the gallery.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub subject_id: Arc<str>,
    pub face_id: Arc<str>,
    /// Cosine similarity in [-1, 1].
    pub similarity: f32,
}

/// Why a vector cannot be used as a probe or template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VectorError {
    #[error("has {got} values, expected {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("value {index} is not a finite number")]
    NotFinite { index: usize },
    #[error("is all zeros (has no direction)")]
    Zero,
}

/// Checks length and finiteness and returns the L2-normalised copy.
pub fn normalized(v: &[f32], dim: usize) -> Result<Vec<f32>, VectorError> {
    if v.len() != dim {
        return Err(VectorError::Dimension {
            expected: dim,
            got: v.len(),
        });
    }
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(VectorError::NotFinite { index });
    }
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm < 1e-12 || !norm.is_finite() {
        return Err(VectorError::Zero);
    }
    Ok(v.iter().map(|x| (f64::from(*x) / norm) as f32).collect())
}

/// The matrix of enrolled templates of one embedder.
#[derive(Debug, Clone)]
pub struct Gallery {
    model_id: String,
    dim: usize,
    /// `len × dim`, row-major, each row unit length.
    rows: Vec<f32>,
    subject_ids: Vec<Arc<str>>,
    face_ids: Vec<Arc<str>>,
}

impl Gallery {
    pub fn empty(model_id: &str, dim: usize) -> Self {
        Self {
            model_id: model_id.to_owned(),
            dim,
            rows: Vec::new(),
            subject_ids: Vec::new(),
            face_ids: Vec::new(),
        }
    }

    /// Builds the matrix; templates that are not valid vectors of `dim` are skipped (and
    /// counted in the return value) rather than poisoning every search.
    pub fn build(model_id: &str, dim: usize, templates: Vec<StoredTemplate>) -> (Self, usize) {
        let mut g = Self::empty(model_id, dim);
        g.rows.reserve(templates.len() * dim);
        let mut skipped = 0;
        let mut subjects: std::collections::HashMap<String, Arc<str>> =
            std::collections::HashMap::new();
        for t in templates {
            match normalized(&t.vector, dim) {
                Ok(v) => {
                    g.rows.extend_from_slice(&v);
                    let sid = subjects
                        .entry(t.subject_id)
                        .or_insert_with_key(|k| Arc::from(k.as_str()))
                        .clone();
                    g.subject_ids.push(sid);
                    g.face_ids.push(Arc::from(t.face_id.as_str()));
                }
                Err(_) => skipped += 1,
            }
        }
        (g, skipped)
    }

    /// A copy with the templates `removed` taken out and `added` appended: what the change
    /// feed applies when templates are enrolled or deleted, so only the changed templates are
    /// read from the store and normalised. Invalid added vectors are skipped and counted, as in
    /// [`Gallery::build`]; an added face id already present replaces the old row.
    #[must_use]
    pub fn apply(
        &self,
        removed: &std::collections::HashSet<String>,
        added: Vec<StoredTemplate>,
    ) -> (Self, usize) {
        let replaced: std::collections::HashSet<&str> =
            added.iter().map(|t| t.face_id.as_str()).collect();
        let mut g = Self::empty(&self.model_id, self.dim);
        g.rows.reserve(self.rows.len() + added.len() * self.dim);
        for (i, row) in self.rows.chunks_exact(self.dim).enumerate() {
            let face = &*self.face_ids[i];
            if removed.contains(face) || replaced.contains(face) {
                continue;
            }
            g.rows.extend_from_slice(row);
            g.subject_ids.push(self.subject_ids[i].clone());
            g.face_ids.push(self.face_ids[i].clone());
        }
        let mut skipped = 0;
        for t in added {
            match normalized(&t.vector, self.dim) {
                Ok(v) => {
                    g.rows.extend_from_slice(&v);
                    g.subject_ids.push(Arc::from(t.subject_id.as_str()));
                    g.face_ids.push(Arc::from(t.face_id.as_str()));
                }
                Err(_) => skipped += 1,
            }
        }
        (g, skipped)
    }

    /// The face ids of every row, in row order.
    pub fn face_ids(&self) -> impl Iterator<Item = &str> {
        self.face_ids.iter().map(|f| &**f)
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.subject_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subject_ids.is_empty()
    }

    /// Number of distinct subjects with at least one template.
    pub fn subject_count(&self) -> usize {
        let mut ids: Vec<&str> = self.subject_ids.iter().map(|s| &**s).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// The best-scoring template for a probe (any length-`dim` finite non-zero vector; it is
    /// normalised here). `None` for an empty gallery.
    pub fn search(&self, probe: &[f32]) -> Result<Option<Match>, VectorError> {
        let p = normalized(probe, self.dim)?;
        let mut best = (usize::MAX, f32::NEG_INFINITY);
        for (i, row) in self.rows.chunks_exact(self.dim).enumerate() {
            let s = dot(row, &p);
            if s > best.1 {
                best = (i, s);
            }
        }
        Ok((best.0 != usize::MAX).then(|| self.match_at(best.0, best.1)))
    }

    /// The best template of each of the `k` best subjects, best first.
    pub fn top_k(&self, probe: &[f32], k: usize) -> Result<Vec<Match>, VectorError> {
        let p = normalized(probe, self.dim)?;
        let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
        for (i, row) in self.rows.chunks_exact(self.dim).enumerate() {
            let s = dot(row, &p);
            if best.len() == k && best.last().is_some_and(|b| s <= b.1) {
                continue;
            }
            if let Some(pos) = best
                .iter()
                .position(|(j, _)| self.subject_ids[*j] == self.subject_ids[i])
            {
                if best[pos].1 >= s {
                    continue;
                }
                best.remove(pos);
            }
            let at = best.partition_point(|b| b.1 >= s);
            best.insert(at, (i, s));
            best.truncate(k);
        }
        Ok(best.into_iter().map(|(i, s)| self.match_at(i, s)).collect())
    }

    /// The same search through `ndarray`'s matrix-vector product; kept for the benchmark that
    /// decided between the two.
    pub fn search_ndarray(&self, probe: &[f32]) -> Result<Option<Match>, VectorError> {
        let p = normalized(probe, self.dim)?;
        if self.is_empty() {
            return Ok(None);
        }
        let m = ArrayView2::from_shape((self.len(), self.dim), &self.rows).map_err(|_| {
            VectorError::Dimension {
                expected: self.dim,
                got: self.rows.len() % self.dim,
            }
        })?;
        let scores = m.dot(&ArrayView1::from(&p[..]));
        let (i, s) =
            scores
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, s)| if s > b.1 { (i, s) } else { b },
                );
        Ok(Some(self.match_at(i, s)))
    }

    fn match_at(&self, i: usize, s: f32) -> Match {
        Match {
            subject_id: self.subject_ids[i].clone(),
            face_id: self.face_ids[i].clone(),
            similarity: s.clamp(-1.0, 1.0),
        }
    }
}

/// Dot product with eight independent accumulators, so the loop vectorises without
/// `-ffast-math`-style reassociation.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(face: &str, subject: &str, v: Vec<f32>) -> StoredTemplate {
        StoredTemplate {
            face_id: face.into(),
            subject_id: subject.into(),
            vector: v,
        }
    }

    fn unit(dim: usize, hot: usize) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[hot] = 1.0;
        v
    }

    #[test]
    fn normalisation_rejects_bad_vectors() {
        assert_eq!(
            normalized(&[1.0, 2.0], 3),
            Err(VectorError::Dimension {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            normalized(&[1.0, f32::NAN, 0.0], 3),
            Err(VectorError::NotFinite { index: 1 })
        );
        assert_eq!(normalized(&[0.0; 3], 3), Err(VectorError::Zero));
        let v = normalized(&[3.0, 4.0], 2).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn search_finds_the_nearest_subject_and_scores_cosine() {
        let dim = 16;
        let (g, skipped) = Gallery::build(
            "m",
            dim,
            vec![
                t("f1", "alice", unit(dim, 0)),
                t("f2", "bob", unit(dim, 1)),
                t("f3", "bob", unit(dim, 2)),
                t("bad", "eve", vec![f32::INFINITY; dim]),
            ],
        );
        assert_eq!(skipped, 1);
        assert_eq!(g.len(), 3);
        assert_eq!(g.subject_count(), 2);
        let mut probe = unit(dim, 2);
        probe[0] = 0.5; // cos = 1/sqrt(1.25) to f3, 0.5/sqrt(1.25) to f1
        let m = g.search(&probe).unwrap().unwrap();
        assert_eq!(&*m.subject_id, "bob");
        assert_eq!(&*m.face_id, "f3");
        assert!((m.similarity - 1.0 / 1.25f32.sqrt()).abs() < 1e-5);
        let n = g.search_ndarray(&probe).unwrap().unwrap();
        assert_eq!(n.face_id, m.face_id);
        assert!((n.similarity - m.similarity).abs() < 1e-6);
    }

    #[test]
    fn top_k_keeps_one_entry_per_subject() {
        let dim = 8;
        let mut a2 = unit(dim, 0);
        a2[1] = 0.1;
        let (g, _) = Gallery::build(
            "m",
            dim,
            vec![
                t("a1", "alice", unit(dim, 0)),
                t("a2", "alice", a2),
                t("b1", "bob", vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
                t("c1", "carol", unit(dim, 3)),
            ],
        );
        let top = g.top_k(&unit(dim, 0), 3).unwrap();
        let subjects: Vec<&str> = top.iter().map(|m| &*m.subject_id).collect();
        assert_eq!(subjects, vec!["alice", "bob", "carol"]);
        assert_eq!(&*top[0].face_id, "a1");
        assert!(top[0].similarity >= top[1].similarity && top[1].similarity >= top[2].similarity);
    }

    #[test]
    fn empty_gallery_matches_nothing_and_checks_probe() {
        let g = Gallery::empty("m", 4);
        assert_eq!(g.search(&[1.0, 0.0, 0.0, 0.0]).unwrap(), None);
        assert!(g.search(&[1.0]).is_err());
    }

    #[test]
    fn apply_removes_and_adds_rows_without_touching_the_rest() {
        let (g, _) = Gallery::build(
            "m",
            4,
            vec![
                t("f1", "a", unit(4, 0)),
                t("f2", "b", unit(4, 1)),
                t("f3", "c", unit(4, 2)),
            ],
        );
        let removed: std::collections::HashSet<String> = ["f2".to_owned()].into();
        let (h, skipped) = g.apply(
            &removed,
            vec![
                t("f4", "d", vec![0.0, 0.0, 0.0, 2.0]),
                t("f5", "e", vec![0.0; 4]),
                t("f1", "a", vec![1.0, 1.0, 0.0, 0.0]),
            ],
        );
        assert_eq!(skipped, 1, "the zero vector is skipped");
        let mut ids: Vec<&str> = h.face_ids().collect();
        ids.sort_unstable();
        assert_eq!(ids, ["f1", "f3", "f4"]);
        // f2 is gone: the nearest to its direction is now f1's new vector (cos 45° ≈ 0.707).
        let m = h.search(&unit(4, 1)).unwrap().unwrap();
        assert_eq!(&*m.face_id, "f1");
        assert!(
            (m.similarity - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5,
            "{m:?}"
        );
        // The added template is normalised.
        let m = h.search(&unit(4, 3)).unwrap().unwrap();
        assert_eq!(&*m.face_id, "f4");
        assert!((m.similarity - 1.0).abs() < 1e-6);
        assert_eq!(g.len(), 3, "the original is untouched");
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..19).map(|i| (i % 3) as f32).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), want);
    }
}

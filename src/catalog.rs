//! The snapshot the door decides from: the directory (subjects, doors, grants) and the gallery
//! of face templates, swapped as a whole after every change. What changed, and when, comes
//! from the change feed (`crate::change_feed`), not from the code that wrote it.
//!
//! Why a snapshot instead of querying the database per decision: a decision must not wait for
//! (or fail with) the database, and the gallery search needs the templates in one matrix anyway.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::access::directory::Directory;
use crate::gallery::{Gallery, Match, VectorError};
use crate::matching::MatchingConfig;
use crate::matching::OperatingPoint;
use crate::store::{Store, StoreResult};

/// One consistent view.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub directory: Arc<Directory>,
    pub gallery: Arc<Gallery>,
    /// The matching rule for this gallery (its threshold depends on the gallery's size).
    pub operating_point: Arc<OperatingPoint>,
}

/// A recognised face, above the threshold or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    pub best: Option<Match>,
    /// True when `best` passes the snapshot's [`OperatingPoint`] (threshold and margin).
    pub accepted: bool,
}

#[derive(Debug)]
pub struct Catalog {
    model_id: String,
    dim: usize,
    matching: MatchingConfig,
    current: RwLock<Arc<Snapshot>>,
    /// Serialises reloads so two writers cannot install an older snapshot over a newer one.
    reload_lock: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// A catalog matching at a fixed `threshold`, without margin.
    pub fn new(model_id: &str, dim: usize, threshold: f32) -> Self {
        let fixed = MatchingConfig {
            threshold,
            target_fpir: 0.0,
            margin: 0.0,
            ..MatchingConfig::default()
        };
        Self::with_policy(model_id, dim, &fixed)
    }

    /// A catalog matching by the `[matching]` policy: the threshold follows the gallery size.
    pub fn with_policy(model_id: &str, dim: usize, matching: &MatchingConfig) -> Self {
        Self {
            model_id: model_id.to_owned(),
            dim,
            matching: matching.clone(),
            current: RwLock::new(Arc::new(Snapshot {
                directory: Arc::new(Directory::default()),
                gallery: Arc::new(Gallery::empty(model_id, dim)),
                operating_point: Arc::new(OperatingPoint::for_gallery(matching, model_id, 0)),
            })),
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The similarity threshold in force for the current gallery.
    pub fn threshold(&self) -> f32 {
        self.snapshot().operating_point.threshold
    }

    /// The matching rule in force for the current gallery, with the reason for its threshold.
    pub fn operating_point(&self) -> Arc<OperatingPoint> {
        self.snapshot().operating_point.clone()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn install(&self, s: Snapshot) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(s);
    }

    /// Installs a hand-built snapshot: unit tests of the door loop decide without a store.
    #[cfg(test)]
    pub(crate) fn install_for_tests(&self, s: Snapshot) {
        self.install(s);
    }

    /// Reloads subjects, doors and grants (cheap), keeping the gallery.
    pub async fn reload_directory(&self, store: &Store) -> StoreResult<()> {
        let _g = self.reload_lock.lock().await;
        let dir = load_directory(store).await?;
        let snap = self.snapshot();
        self.install(Snapshot {
            directory: Arc::new(dir),
            gallery: snap.gallery.clone(),
            operating_point: snap.operating_point.clone(),
        });
        Ok(())
    }

    /// Reloads everything, templates included.
    pub async fn reload_all(&self, store: &Store) -> StoreResult<()> {
        let _g = self.reload_lock.lock().await;
        let started = Instant::now();
        let dir = load_directory(store).await?;
        let templates = store.templates_for_model(&self.model_id, self.dim).await?;
        let (gallery, skipped) = Gallery::build(&self.model_id, self.dim, templates);
        if skipped > 0 {
            log::warn!("{skipped} stored templates are not valid vectors and were skipped");
        }
        log::debug!(
            "catalog reloaded: {} subjects, {} doors, {} templates in {:?}",
            dir.subject_count(),
            dir.door_count(),
            gallery.len(),
            started.elapsed()
        );
        let op = OperatingPoint::for_gallery(&self.matching, &self.model_id, gallery.len());
        if op != *self.snapshot().operating_point {
            log::info!("matching: {}", op.explain());
        }
        self.install(Snapshot {
            directory: Arc::new(dir),
            gallery: Arc::new(gallery),
            operating_point: Arc::new(op),
        });
        Ok(())
    }

    /// Brings the gallery in step with the store by difference: the template ids in the store
    /// are compared with the gallery's, and only added templates are read (and normalised),
    /// removed ones dropped. Returns (added, removed).
    pub async fn refresh_gallery(&self, store: &Store) -> StoreResult<(usize, usize)> {
        let _g = self.reload_lock.lock().await;
        let ids = store.face_ids_for_model(&self.model_id, self.dim).await?;
        let snap = self.snapshot();
        let have: HashSet<&str> = snap.gallery.face_ids().collect();
        let want: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let added: Vec<String> = want.difference(&have).map(|s| (*s).to_owned()).collect();
        let removed: HashSet<String> = have.difference(&want).map(|s| (*s).to_owned()).collect();
        if added.is_empty() && removed.is_empty() {
            return Ok((0, 0));
        }
        let templates = store
            .templates_by_ids(&self.model_id, self.dim, &added)
            .await?;
        let (gallery, skipped) = snap.gallery.apply(&removed, templates);
        if skipped > 0 {
            log::warn!("{skipped} stored templates are not valid vectors and were skipped");
        }
        log::debug!(
            "gallery: {} templates added, {} removed, {} in all",
            added.len() - skipped,
            removed.len(),
            gallery.len()
        );
        let directory = self.snapshot().directory.clone();
        let op = OperatingPoint::for_gallery(&self.matching, &self.model_id, gallery.len());
        if op != *self.snapshot().operating_point {
            log::info!("matching: {}", op.explain());
        }
        self.install(Snapshot {
            directory,
            gallery: Arc::new(gallery),
            operating_point: Arc::new(op),
        });
        Ok((added.len() - skipped, removed.len()))
    }

    /// Searches the gallery for one probe.
    pub fn recognise(&self, snap: &Snapshot, probe: &[f32]) -> Result<Recognition, VectorError> {
        let mut top = snap.gallery.top_k(probe, 2)?.into_iter();
        let best = top.next();
        let second = top.next().map(|m| m.similarity);
        let accepted = best
            .as_ref()
            .is_some_and(|m| snap.operating_point.accepts(m.similarity, second));
        Ok(Recognition { best, accepted })
    }
}

async fn load_directory(store: &Store) -> StoreResult<Directory> {
    let subjects = store.all_subjects().await?;
    let doors = store.list_doors().await?;
    let grants = store.active_grants().await?;
    Ok(Directory::new(subjects, doors, grants))
}

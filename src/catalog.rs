//! The snapshot the door decides from: the directory (subjects, doors, grants) and the gallery
//! of face templates, swapped as a whole after every change.
//!
//! Why a snapshot instead of querying the database per decision: a decision must not wait for
//! (or fail with) the database, and the gallery search needs the templates in one matrix anyway.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::access::directory::Directory;
use crate::gallery::{Gallery, Match, VectorError};
use crate::store::{Store, StoreResult};

/// One consistent view.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub directory: Arc<Directory>,
    pub gallery: Arc<Gallery>,
}

/// A recognised face, above the threshold or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    pub best: Option<Match>,
    /// True when `best` is at or above `matching.threshold`.
    pub accepted: bool,
}

#[derive(Debug)]
pub struct Catalog {
    model_id: String,
    dim: usize,
    threshold: f32,
    current: RwLock<Arc<Snapshot>>,
    /// Serialises reloads so two writers cannot install an older snapshot over a newer one.
    reload_lock: tokio::sync::Mutex<()>,
}

impl Catalog {
    pub fn new(model_id: &str, dim: usize, threshold: f32) -> Self {
        Self {
            model_id: model_id.to_owned(),
            dim,
            threshold,
            current: RwLock::new(Arc::new(Snapshot {
                directory: Arc::new(Directory::default()),
                gallery: Arc::new(Gallery::empty(model_id, dim)),
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

    pub fn threshold(&self) -> f32 {
        self.threshold
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
        let gallery = self.snapshot().gallery.clone();
        self.install(Snapshot {
            directory: Arc::new(dir),
            gallery,
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
        self.install(Snapshot {
            directory: Arc::new(dir),
            gallery: Arc::new(gallery),
        });
        Ok(())
    }

    /// Searches the gallery for one probe.
    pub fn recognise(&self, snap: &Snapshot, probe: &[f32]) -> Result<Recognition, VectorError> {
        let best = snap.gallery.search(probe)?;
        let accepted = best
            .as_ref()
            .is_some_and(|m| m.similarity >= self.threshold);
        Ok(Recognition { best, accepted })
    }
}

async fn load_directory(store: &Store) -> StoreResult<Directory> {
    let subjects = store.all_subjects().await?;
    let doors = store.list_doors().await?;
    let grants = store.active_grants().await?;
    Ok(Directory::new(subjects, doors, grants))
}

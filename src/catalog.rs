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
use crate::access::policy::{decide, Decision, Identified};
use crate::gallery::{Gallery, Match, VectorError};
use crate::model::Millis;
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

/// The result of a full decision: the policy outcome plus who was recognised.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub decision: Decision,
    pub staff: Option<(crate::model::Subject, f32)>,
    pub patient: Option<(crate::model::Subject, f32)>,
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
        self.install(Snapshot {
            directory,
            gallery: Arc::new(gallery),
        });
        Ok((added.len() - skipped, removed.len()))
    }

    /// Searches the gallery for one probe.
    pub fn recognise(&self, snap: &Snapshot, probe: &[f32]) -> Result<Recognition, VectorError> {
        let best = snap.gallery.search(probe)?;
        let accepted = best
            .as_ref()
            .is_some_and(|m| m.similarity >= self.threshold);
        Ok(Recognition { best, accepted })
    }

    /// Recognises the staff face (and the patient face, when given) and applies the policy.
    pub fn decide(
        &self,
        door_id: &str,
        staff_probe: &[f32],
        patient_probe: Option<&[f32]>,
        now: Millis,
    ) -> Result<Outcome, (&'static str, VectorError)> {
        let snap = self.snapshot();
        let staff = self
            .recognise(&snap, staff_probe)
            .map_err(|e| ("staff.embedding", e))?;
        let patient = patient_probe
            .map(|p| self.recognise(&snap, p))
            .transpose()
            .map_err(|e| ("patient.embedding", e))?;
        let ident = |r: &Recognition| -> Option<Identified<'_>> {
            if !r.accepted {
                return None;
            }
            let m = r.best.as_ref()?;
            snap.directory
                .subject(&m.subject_id)
                .map(|subject| Identified {
                    subject,
                    similarity: m.similarity,
                })
        };
        let staff_id = ident(&staff);
        let patient_id = patient.as_ref().and_then(ident);
        let decision = decide(
            &snap.directory,
            door_id,
            staff_id,
            patient_id,
            patient_probe.is_some(),
            now,
        );
        Ok(Outcome {
            decision,
            staff: staff_id.map(|i| (i.subject.clone(), i.similarity)),
            patient: patient_id.map(|i| (i.subject.clone(), i.similarity)),
        })
    }
}

async fn load_directory(store: &Store) -> StoreResult<Directory> {
    let subjects = store.all_subjects().await?;
    let doors = store.list_doors().await?;
    let grants = store.active_grants().await?;
    Ok(Directory::new(subjects, doors, grants))
}

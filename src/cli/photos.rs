//! `wardgate enroll` and `wardgate identify`: photos in, templates or matches out.
//!
//! Both load the models once and run every photo through the same path the API uses
//! ([`Engine::analyze_photo`]); enroll also applies the quality gate, identify does not (a
//! probe of poor quality simply scores low). A photo that fails does not stop the others; the
//! command fails at the end if any did, so scripts notice.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::config::Config;
use crate::store::Store;
use crate::vision::{Engine, FaceEncoder as _, StageTimings};

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn timings_line(t: &StageTimings) -> String {
    format!(
        "decode {}, detect {}, landmarks {}, align {}, embed {}",
        ms(t.decode),
        ms(t.detect),
        ms(t.landmarks),
        ms(t.align),
        ms(t.embed)
    )
}

fn load_engine(cfg: &Config) -> anyhow::Result<Engine> {
    let start = Instant::now();
    let engine = Engine::load(&cfg.vision)?;
    log::info!("models loaded in {}", ms(start.elapsed()));
    Ok(engine)
}

/// Enrolls every photo as a template of the subject with `external_id`.
pub async fn enroll(cfg: Config, external_id: &str, photos: &[PathBuf]) -> anyhow::Result<()> {
    if photos.is_empty() {
        bail!("no photos given");
    }
    let store = Store::open(&cfg.database, &cfg.privacy)
        .await?
        .with_writer(&cfg.events.node);
    let subject = store
        .subject_by_external_id(external_id)
        .await?
        .with_context(|| format!("no subject with external id {external_id:?}; create it first"))?;
    // Before any photo is read: without consent nobody is enrolled.
    store
        .check_consent(&subject.id)
        .await
        .with_context(|| format!("`wardgate consent record --subject {external_id} …` first"))?;
    let engine = load_engine(&cfg)?;
    let mut failed = 0;
    for path in photos {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        match engine.enroll_sample(&bytes) {
            Ok(sample) => {
                let face = store
                    .add_face(&subject.id, engine.model_id(), &sample.embedding)
                    .await?;
                println!(
                    "{}: enrolled as face {} of {} ({}); {}",
                    path.display(),
                    face.id,
                    subject.name,
                    subject.external_id,
                    timings_line(&sample.timings)
                );
            }
            Err(e) => {
                failed += 1;
                println!("{}: refused: {e}", path.display());
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} photos were refused", photos.len());
    }
    Ok(())
}

/// Identifies the person in each photo against the enrolled gallery.
pub async fn identify(cfg: Config, photos: &[PathBuf]) -> anyhow::Result<()> {
    if photos.is_empty() {
        bail!("no photos given");
    }
    let store = Store::open(&cfg.database, &cfg.privacy).await?;
    let engine = load_engine(&cfg)?;
    let gallery = store
        .load_gallery(engine.model_id(), cfg.vision.embedding_dim)
        .await?;
    log::info!(
        "gallery: {} templates of {}",
        gallery.len(),
        engine.model_id()
    );
    let op = crate::matching::OperatingPoint::for_gallery(
        &cfg.matching,
        engine.model_id(),
        gallery.len(),
    );
    log::info!("matching: {}", op.explain());
    let mut failed = 0;
    for path in photos {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let sample = match engine.analyze_photo(&bytes) {
            Ok(s) => s,
            Err(e) => {
                failed += 1;
                println!("{}: refused: {e}", path.display());
                continue;
            }
        };
        let start = Instant::now();
        let top = gallery.top_k(&sample.embedding, 2)?;
        let search = start.elapsed();
        let second = top.get(1).map(|m| m.similarity);
        let best = top.into_iter().next();
        let timing = format!(
            "{}, search {}; total {}",
            timings_line(&sample.timings),
            ms(search),
            ms(sample.timings.total() + search)
        );
        match best {
            Some(m) if op.accepts(m.similarity, second) => {
                let subject = store.get_subject(&m.subject_id).await?;
                println!(
                    "{}: {} ({}) similarity {:.3}; {timing}",
                    path.display(),
                    subject.name,
                    subject.external_id,
                    m.similarity
                );
            }
            Some(m) if m.similarity >= op.threshold => println!(
                "{}: no match (best similarity {:.3} leads the next identity by less than the \
                 margin {:.3}); {timing}",
                path.display(),
                m.similarity,
                op.margin
            ),
            Some(m) => println!(
                "{}: no match (best similarity {:.3} < threshold {:.3}); {timing}",
                path.display(),
                m.similarity,
                op.threshold
            ),
            None => println!(
                "{}: no match (the gallery is empty); {timing}",
                path.display()
            ),
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} photos could not be read as a face",
            photos.len()
        );
    }
    Ok(())
}

//! `wardgate eval parity`: the same photos through two builds of the firmware (the x86-64
//! workstation build and the arm64 board build, say) must give the same embeddings.
//!
//! A wrong struct layout, a `c_char` sign, another LiteRT build or XNNPACK's NEON kernels would
//! all change the numbers without failing anything else; the cosine of the two embeddings of
//! one photo shows it. One build writes a reference file (`--write`), the other compares against
//! it (`--against`, failing below `--min-cosine`). Both print the time per stage, which is how
//! the arm64 guest's time per frame is measured.
//!
//! The reference file holds face templates (special-category data): it is written only where
//! the operator asks, for photos the operator gives, and never logged.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use crate::vision::{embed::cosine, Engine, FaceEncoder as _, StageTimings};

/// What `--write` stores: per photo (by file name) the embedding of one build.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Reference {
    /// The embedder that produced the vectors; comparing another model's is refused.
    pub model_id: String,
    /// `std::env::consts::ARCH` of the build that wrote the file (for the report).
    pub arch: String,
    pub photos: Vec<RefPhoto>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct RefPhoto {
    pub name: String,
    pub embedding: Vec<f32>,
}

/// What the command does with the embeddings.
pub enum Mode<'a> {
    Write(&'a Path),
    Against {
        reference: &'a Path,
        min_cosine: f32,
    },
}

fn name_of(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn timings(t: &StageTimings) -> String {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    format!(
        "detect {:.1} ms, landmarks {:.1} ms, embed {:.1} ms, total {:.1} ms",
        ms(t.detect),
        ms(t.landmarks),
        ms(t.embed),
        ms(t.total())
    )
}

/// Embeds every photo, then writes or compares; the report says per photo the cosine (when
/// comparing) and the stage times.
pub fn run(engine: &Engine, photos: &[PathBuf], mode: &Mode) -> anyhow::Result<String> {
    if photos.is_empty() {
        bail!("no photos given");
    }
    let reference = match mode {
        Mode::Against { reference, .. } => {
            let text = std::fs::read_to_string(reference)
                .with_context(|| format!("reading {}", reference.display()))?;
            let r: Reference = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a parity reference", reference.display()))?;
            if r.model_id != engine.model_id() {
                bail!(
                    "{} was written with {}, this build embeds with {}",
                    reference.display(),
                    r.model_id,
                    engine.model_id()
                );
            }
            Some(r)
        }
        Mode::Write(_) => None,
    };
    let mut out = String::new();
    let mut written = Vec::new();
    let mut worst = f32::INFINITY;
    let mut total_ms = 0.0;
    for path in photos {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let sample = engine
            .analyze_photo(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let name = name_of(path);
        total_ms += sample.timings.total().as_secs_f64() * 1000.0;
        match &reference {
            Some(r) => {
                let theirs = r
                    .photos
                    .iter()
                    .find(|p| p.name == name)
                    .with_context(|| format!("{name} is not in the reference"))?;
                if theirs.embedding.len() != sample.embedding.len() {
                    bail!(
                        "{name}: the reference has {} dimensions",
                        theirs.embedding.len()
                    );
                }
                let c = cosine(&theirs.embedding, &sample.embedding);
                worst = worst.min(c);
                writeln!(
                    out,
                    "{name}: cosine {c:.6} to {}; {}",
                    r.arch,
                    timings(&sample.timings)
                )?;
            }
            None => {
                writeln!(out, "{name}: embedded; {}", timings(&sample.timings))?;
                written.push(RefPhoto {
                    name,
                    embedding: sample.embedding,
                });
            }
        }
    }
    writeln!(
        out,
        "{} photos on {} ({}), mean {:.1} ms per photo",
        photos.len(),
        std::env::consts::ARCH,
        engine.model_id(),
        total_ms / photos.len() as f64
    )?;
    match mode {
        Mode::Write(file) => {
            let r = Reference {
                model_id: engine.model_id().to_owned(),
                arch: std::env::consts::ARCH.to_owned(),
                photos: written,
            };
            std::fs::write(file, serde_json::to_vec(&r)?)
                .with_context(|| format!("writing {}", file.display()))?;
            writeln!(out, "reference written to {}", file.display())?;
        }
        Mode::Against { min_cosine, .. } => {
            writeln!(
                out,
                "lowest cosine {worst:.6} (at least {min_cosine} required)"
            )?;
            if worst < *min_cosine {
                print!("{out}");
                bail!("embedding parity failed: lowest cosine {worst:.6} < {min_cosine}");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_survives_its_file_format() {
        let r = Reference {
            model_id: "m".into(),
            arch: "x86_64".into(),
            photos: vec![RefPhoto {
                name: "a.jpg".into(),
                embedding: vec![0.1, -0.25, 1.0 / 3.0],
            }],
        };
        let back: Reference = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r, "float_roundtrip keeps every bit of the vector");
    }

    #[test]
    fn the_name_is_the_file_name() {
        assert_eq!(name_of(Path::new("/x/people/S001/a.jpg")), "a.jpg");
    }
}

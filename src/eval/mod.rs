//! `wardgate eval`: accuracy of the door's own recognition on labelled photos.
//!
//! Developers use it to tune, sites to validate their cameras and enrolment photos. Every
//! photo goes through the code the door and the API run — the same [`Engine`] (decode →
//! dominant face → mesh → align → embed), the same [`Gallery`](crate::gallery::Gallery) search
//! and the same matching rule ([`crate::matching`]) — so the figures describe the firmware, not
//! a re-implementation. The metrics are explained in docs/metrics.md.
//!
//! | module | command |
//! |---|---|
//! | [`metrics`] | the pure metric functions (k-fold accuracy, TAR@FAR, FNIR@FPIR, …) |
//! | [`pairs`] | `eval pairs`: 1:1 verification over a pairs list |
//! | [`identify`] | `eval identify`: open-set 1:N search, NIST FRTE style |
//! | [`tail`] | the impostor tail of all cross-identity pairs (calibration) |
//! | [`lists`] | `eval lists`: gallery / probe / stranger lists from a `people/<id>/` tree |
//! | [`liveness`] | `eval liveness`: APCER / BPCER of the liveness check, passive and challenge |
//! | [`print_attack`] | synthetic prints tilted on cue, for `eval liveness --print-photo` |
//! | [`answer_clips`] | `eval answer-clips`: recordings of people cut into challenge answer clips |
//! | [`parity`] | `eval parity`: one photo's embedding from two builds (x86-64 and arm64) agrees |

pub mod answer_clips;
pub mod identify;
pub mod lists;
pub mod liveness;
pub mod metrics;
pub mod pairs;
pub mod parity;
pub mod print_attack;
pub mod tail;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Subcommand;

use crate::vision::{Engine, ImageRejection};

/// `wardgate eval …`
#[derive(Subcommand, Debug)]
pub enum EvalCmd {
    /// 1:1 verification over a pairs list: 10-fold accuracy, TAR at FAR 1e-3 and 1e-4, the
    /// genuine and impostor similarity distributions, and the impostor tail of all
    /// cross-identity pairs of the photos (the calibration of `matching.target_fpir`).
    Pairs {
        /// CSV with a header and columns `image_a,image_b,same_identity` (1 or 0), paths
        /// relative to --root; an optional fourth column `fold` fixes the folds.
        #[arg(long, value_name = "CSV")]
        pairs: PathBuf,
        /// Folder the paths in the CSV are relative to [default: the CSV's folder].
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Number of folds.
        #[arg(long, default_value_t = 10)]
        folds: usize,
        /// Two identity labels of the same person (a known label error), `A=B`; repeatable.
        #[arg(long = "same-person", value_name = "A=B")]
        same_person: Vec<String>,
    },
    /// Open-set 1:N identification: enrol the gallery list, search with the probes (people
    /// enrolled) and the strangers (people never enrolled); FNIR at FPIR 1 % and 0.1 %,
    /// rank-1, and the rates at the configured matching policy.
    Identify {
        /// CSV `path,identity` of the enrolment photos (several per identity: several
        /// templates).
        #[arg(long, value_name = "CSV")]
        gallery: PathBuf,
        /// CSV `path,identity` of mated probes (their identity is in the gallery).
        #[arg(long, value_name = "CSV")]
        probes: PathBuf,
        /// CSV `path,identity` of non-mated probes (identities not in the gallery).
        #[arg(long, value_name = "CSV")]
        strangers: PathBuf,
        /// Folder the paths are relative to [default: the gallery CSV's folder].
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Enrol gallery photos without the enrolment quality gate (the gate is what
        /// `POST /register_face` and `wardgate enroll` apply).
        #[arg(long)]
        no_quality_gate: bool,
        /// Two identity labels of the same person (a known label error), `A=B`; repeatable.
        #[arg(long = "same-person", value_name = "A=B")]
        same_person: Vec<String>,
    },
    /// Liveness error rates (APCER per attack type, BPCER) through the door's liveness check
    /// on the real models: labelled sequences watched passively, scripted clip sets answering
    /// random challenges (and replayed ignoring them), attack sequences and synthetic prints
    /// held up as the answer to a challenge. Uses the `[liveness]` settings of the config.
    Liveness {
        /// Sequence folders of frames, labelled by their parent folder's name (`bona_fide/`,
        /// `print/`, `replay/`, …); or a folder with a MANIFEST.csv (`set,sequence,label`).
        #[arg(value_name = "DIR")]
        sequences: Vec<PathBuf>,
        /// A scripted clip set of a live person (`neutral/`, `left/`, `right/`, …, as
        /// `camera.source = "scripted"` reads it), or a folder of them, one per person (what
        /// `eval answer-clips` writes: each is evaluated and reported on its own); repeatable.
        #[arg(long, value_name = "DIR")]
        scripted: Vec<PathBuf>,
        /// A face photo to print: tilted on cue in every direction; repeatable.
        #[arg(long = "print-photo", value_name = "FILE")]
        print_photo: Vec<PathBuf>,
        /// Challenge sessions per scripted set (bona fide, and as many replays).
        #[arg(long, default_value_t = 20)]
        sessions: usize,
        /// Seed of the evaluation's challenge draws (the door itself uses the OS CSPRNG).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Frame rate of the sequences (camera time between two frames).
        #[arg(long, default_value_t = 12)]
        fps: u32,
        /// Print every frame's head pose and identity similarity.
        #[arg(long)]
        trace: bool,
    },
    /// Cuts recordings of live people into challenge answer clips (`neutral/`, `left/`,
    /// `right/`, `up/`, `down/`) from the face mesh's own yaw and pitch, one clip set per
    /// person, for `eval liveness --scripted OUT`. Reads the bona fide sequences of a folder
    /// with a MANIFEST.csv (`set,sequence,label,…,fps`), as ../shared/pad-dev has.
    AnswerClips {
        /// Folder with MANIFEST.csv and `<set>/<sequence>/` frame folders.
        #[arg(value_name = "DIR")]
        recordings: PathBuf,
        /// CSV `set,sequence,person` (with a header) naming who is in each sequence, so that
        /// recordings of one person make one clip set [default: each sequence its own person].
        #[arg(long, value_name = "CSV")]
        people: Option<PathBuf>,
        /// Folder to write `<person>/<movement>/<clip>/` into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The smallest turn cut as an answer clip, degrees.
        #[arg(long, default_value_t = 8.0)]
        min_turn: f32,
    },
    /// Writes a print attack as a scripted clip set: the photo on a flat sheet, tilted left,
    /// right, up and down (up to 35°) as an attacker holding a print does to mimic the asked
    /// head turn. Play it with `camera.source = "scripted"` to see the door deny it, or give
    /// the photo to `eval liveness --print-photo`.
    PrintClips {
        /// The face photo to print.
        #[arg(value_name = "PHOTO")]
        photo: PathBuf,
        /// Folder to write `neutral/`, `left/`, `right/`, `up/`, `down/` into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Embedding parity across builds: embed photos and write the vectors to a reference file
    /// (`--write`, e.g. on the x86-64 build), or compare each photo's embedding with a
    /// reference written by another build (`--against`, e.g. on the arm64 board), failing
    /// below --min-cosine. Prints the time per stage of each photo. The reference file holds
    /// face templates: keep it with the photos it was made from.
    Parity {
        /// The face photos (matched to the reference by file name).
        #[arg(required = true, value_name = "PHOTO")]
        photos: Vec<PathBuf>,
        /// Write the reference file.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "against",
            required_unless_present = "against"
        )]
        write: Option<PathBuf>,
        /// Compare with this reference file.
        #[arg(long, value_name = "FILE")]
        against: Option<PathBuf>,
        /// The lowest cosine accepted when comparing.
        #[arg(long, default_value_t = 0.999)]
        min_cosine: f32,
    },
    /// Writes gallery.csv, probes.csv and strangers.csv for `eval identify` from a
    /// `people/<identity>/<photo>` tree: people with more than --enrol photos enrol their first
    /// --enrol (sorted by name) and probe with the rest; everybody else is a stranger.
    Lists {
        /// Folder holding `people/`.
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// Where to write the three CSV files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Enrolment photos per person.
        #[arg(long, default_value_t = 1)]
        enrol: usize,
        /// At most this many strangers (people), taken in name order [default: all].
        #[arg(long)]
        max_strangers: Option<usize>,
    },
}

/// Runs an `eval` subcommand with the models of `cfg`.
pub fn run(cfg: &crate::config::Config, cmd: EvalCmd) -> anyhow::Result<()> {
    match cmd {
        EvalCmd::PrintClips { photo, out } => {
            let img = crate::camera::load_photo_rgb(&photo)
                .with_context(|| format!("reading {}", photo.display()))?;
            let (w, h, data) = img;
            let img = image::RgbImage::from_raw(w, h, data)
                .with_context(|| format!("{} is not an RGB image", photo.display()))?;
            print_attack::write_tilt_clips(&img, &out)?;
            println!(
                "print attack clips of {} in {}",
                photo.display(),
                out.display()
            );
            Ok(())
        }
        EvalCmd::Parity {
            photos,
            write,
            against,
            min_cosine,
        } => {
            if !(-1.0..=1.0).contains(&min_cosine) {
                bail!("--min-cosine must lie in -1..=1");
            }
            let mode = match (&write, &against) {
                (Some(file), None) => parity::Mode::Write(file),
                (None, Some(reference)) => parity::Mode::Against {
                    reference,
                    min_cosine,
                },
                _ => bail!("give exactly one of --write FILE and --against FILE"),
            };
            let engine = Engine::load(&cfg.vision)?;
            print!("{}", parity::run(&engine, &photos, &mode)?);
            Ok(())
        }
        EvalCmd::Lists {
            root,
            out,
            enrol,
            max_strangers,
        } => lists::write(&root, &out, enrol, max_strangers),
        EvalCmd::AnswerClips {
            recordings,
            people,
            out,
            min_turn,
        } => {
            if !(min_turn.is_finite() && min_turn > 0.0) {
                bail!("--min-turn must be a positive number of degrees");
            }
            let recs = answer_clips::recordings(&recordings, people.as_deref())?;
            if recs.is_empty() {
                bail!(
                    "{}: no bona fide sequence in its MANIFEST.csv",
                    recordings.display()
                );
            }
            let engine = Engine::load(&cfg.vision)?;
            print!("{}", answer_clips::write(&engine, &recs, &out, min_turn)?);
            println!("answer clips in {}", out.display());
            Ok(())
        }
        EvalCmd::Liveness {
            sequences,
            scripted,
            print_photo,
            sessions,
            seed,
            fps,
            trace,
        } => {
            let mut labelled = Vec::new();
            for dir in &sequences {
                if dir.join("MANIFEST.csv").is_file() {
                    labelled.extend(liveness::manifest(dir)?);
                } else {
                    let label = dir
                        .parent()
                        .and_then(|p| p.file_name())
                        .map_or_else(|| "unlabelled".into(), |n| n.to_string_lossy().into_owned());
                    labelled.push((label, dir.clone()));
                }
            }
            let engine = Engine::load(&cfg.vision)?;
            let plan = liveness::Plan {
                sequences: labelled,
                scripted,
                print_photos: print_photo,
                sessions,
                seed,
                fps,
                trace,
            };
            print!("{}", liveness::run(&engine, &cfg.liveness, &plan)?);
            Ok(())
        }
        EvalCmd::Pairs {
            pairs,
            root,
            folds,
            same_person,
        } => {
            let root = root.unwrap_or_else(|| parent(&pairs));
            let engine = Engine::load(&cfg.vision)?;
            let aliases = Aliases::parse(&same_person)?;
            let report = pairs::run(&engine, &pairs, &root, folds, &aliases)?;
            print!("{report}");
            Ok(())
        }
        EvalCmd::Identify {
            gallery,
            probes,
            strangers,
            root,
            no_quality_gate,
            same_person,
        } => {
            let root = root.unwrap_or_else(|| parent(&gallery));
            let engine = Engine::load(&cfg.vision)?;
            let aliases = Aliases::parse(&same_person)?;
            let lists = identify::Lists {
                gallery: read_list(&gallery)?,
                probes: read_list(&probes)?,
                strangers: read_list(&strangers)?,
            };
            let opts = identify::Options {
                quality_gate: !no_quality_gate,
                matching: cfg.matching.clone(),
            };
            let report = identify::run(&engine, &root, &lists, &opts, &aliases)?;
            print!("{report}");
            Ok(())
        }
    }
}

fn parent(p: &Path) -> PathBuf {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Identity labels known to name the same person (label errors in public data sets).
#[derive(Debug, Clone, Default)]
pub struct Aliases(HashMap<String, String>);

impl Aliases {
    /// From `A=B` arguments: `B` is treated as `A`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut m = HashMap::new();
        for a in args {
            let Some((x, y)) = a.split_once('=') else {
                bail!("--same-person {a:?}: expected two identities as A=B");
            };
            m.insert(y.trim().to_owned(), x.trim().to_owned());
        }
        Ok(Self(m))
    }

    /// The canonical label of `id`.
    pub fn canonical<'a>(&'a self, id: &'a str) -> &'a str {
        self.0.get(id).map_or(id, String::as_str)
    }
}

/// One row of a photo list: a path (relative to the root) and the person's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub path: String,
    pub identity: String,
}

/// Reads a `path,identity` CSV (with a header line).
pub fn read_list(file: &Path) -> anyhow::Result<Vec<Labelled>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    parse_list(&text).with_context(|| format!("in {}", file.display()))
}

fn parse_list(text: &str) -> anyhow::Result<Vec<Labelled>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let Some((path, identity)) = line.split_once(',') else {
            bail!("line {}: expected `path,identity`", n + 1);
        };
        out.push(Labelled {
            path: path.trim().to_owned(),
            identity: identity.trim().to_owned(),
        });
    }
    Ok(out)
}

/// Prints progress of a long run to stderr, at most every few seconds.
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    pub fn new(label: &str, total: usize) -> Self {
        let now = Instant::now();
        eprintln!("{label}: {total} photos");
        Self {
            label: label.to_owned(),
            total,
            done: 0,
            started: now,
            last: now,
        }
    }

    pub fn tick(&mut self) {
        self.done += 1;
        let now = Instant::now();
        if now - self.last >= Duration::from_secs(5) || self.done == self.total {
            self.last = now;
            let secs = (now - self.started).as_secs_f64().max(1e-9);
            #[allow(clippy::cast_precision_loss)]
            let rate = self.done as f64 / secs;
            #[allow(clippy::cast_precision_loss)]
            let left = (self.total - self.done) as f64 / rate.max(1e-9);
            eprintln!(
                "{}: {}/{} photos, {rate:.1}/s, {left:.0} s left",
                self.label, self.done, self.total
            );
        }
    }
}

/// Embeds photos through the door's path; `None` (with the reason) when a photo gives no face.
pub fn embed_photo(
    engine: &Engine,
    path: &Path,
    quality_gate: bool,
) -> anyhow::Result<Result<Vec<f32>, ImageRejection>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let r = if quality_gate {
        engine.enroll_sample(&bytes)
    } else {
        engine.analyze_photo(&bytes)
    };
    Ok(r.map(|s| s.embedding))
}

/// Counts refusals by code, for the report.
#[derive(Debug, Default)]
pub struct Refusals(std::collections::BTreeMap<String, usize>);

impl Refusals {
    pub fn add(&mut self, r: &ImageRejection) {
        let code = if r.code == "quality" {
            // "quality" covers several checks; the detail starts with the check's name.
            format!("quality/{}", r.detail.split(':').next().unwrap_or(""))
        } else {
            r.code.to_owned()
        };
        *self.0.entry(code).or_default() += 1;
    }

    pub fn total(&self) -> usize {
        self.0.values().sum()
    }
}

impl std::fmt::Display for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return write!(f, "none");
        }
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
        write!(f, "{}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_aliases_parse() {
        let l = parse_list("path,identity\na/1.jpg,A\n\nb/1.jpg, B \n").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].identity, "B");
        assert!(parse_list("path,identity\nnocomma\n").is_err());
        let a = Aliases::parse(&["Bart=Ricky".into()]).unwrap();
        assert_eq!(a.canonical("Ricky"), "Bart");
        assert_eq!(a.canonical("Other"), "Other");
        assert!(Aliases::parse(&["x".into()]).is_err());
    }
}

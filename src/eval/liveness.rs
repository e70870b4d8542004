//! `wardgate eval liveness`: liveness error rates through the door's own liveness code.
//!
//! Two kinds of runs, both on the real models (detect → mesh → embed, as the door loop does)
//! and the same [`LivenessCheck`] the door loop runs:
//! * **passive** — each labelled sequence of frames is watched as the door would in
//!   `liveness.mode = "passive"`: does the face show 3-D motion by itself?
//! * **challenge sessions** — a scripted clip set (`neutral/`, `left/`, …, as the `scripted`
//!   camera source reads it) answers random challenges (bona fide), or plays its clips in a
//!   fixed order whatever is asked (a replay attack); every attack sequence is also played as
//!   the answer to each challenge (a print or screen held up on cue); and synthetic prints made
//!   from photos are tilted in the asked direction.
//!
//! Reported in ISO/IEC 30107-3 terms: APCER per attack type (share of attack presentations
//! accepted) and BPCER (share of bona fide presentations rejected).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use image::RgbImage;
use rand::SeedableRng;

use crate::camera::{FrameSource, Script, ScriptedSource};
use crate::liveness::{
    check::{draw_with, STARTED_SHARE},
    Direction, FacePoints, Failure, LivenessCheck, LivenessConfig, Mode, Observation, Prompt,
    Verdict,
};
use crate::pipeline::FaceAnalyser;
use crate::presentation::PromptBoard;
use crate::vision::fusion::primary_cosine;
use crate::vision::Engine;

/// What `eval liveness` is asked to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Labelled frame sequences for the passive run: (label, sequence dir).
    pub sequences: Vec<(String, PathBuf)>,
    /// Scripted clip sets of live people (answer challenges; also replayed as attacks).
    pub scripted: Vec<PathBuf>,
    /// Photos made into synthetic prints tilted on cue.
    pub print_photos: Vec<PathBuf>,
    /// Challenge sessions per bona fide set and per replay.
    pub sessions: usize,
    pub seed: u64,
    /// Frame rate the sequences were taken at (camera time between frames).
    pub fps: u32,
    /// Print every frame's pose and cues.
    pub trace: bool,
}

/// Reads `MANIFEST.csv` (`set,sequence,label,…` with a header) under `root`.
pub fn manifest(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let file = root.join("MANIFEST.csv");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut out = Vec::new();
    for row in super::answer_clips::csv_rows(&text).skip(1) {
        let [set, seq, label, ..] = row.as_slice() else {
            continue;
        };
        let dir = root.join(set).join(seq);
        if dir.is_dir() {
            out.push((label.to_owned(), dir));
        }
    }
    Ok(out)
}

fn frames(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(crate::camera::image_files(dir)?)
}

/// The door loop's view of one frame: the closest face's points and embedding.
pub(crate) fn analyse(
    engine: &Engine,
    img: &RgbImage,
) -> anyhow::Result<Option<(FacePoints, Vec<f32>)>> {
    let dets = FaceAnalyser::detect(engine, img)?;
    let Some(det) = dets.into_iter().max_by(|a, b| {
        crate::pipeline::tracks::closeness(a, img.width(), img.height()).total_cmp(
            &crate::pipeline::tracks::closeness(b, img.width(), img.height()),
        )
    }) else {
        return Ok(None);
    };
    let Some(face) = FaceAnalyser::analyse(engine, img, &det)? else {
        return Ok(None);
    };
    Ok(FacePoints::from_mesh(&face.mesh).map(|p| (p, face.embedding)))
}

/// One presentation's result.
#[derive(Debug, Clone)]
struct Outcome {
    kind: String,
    /// The person (bona fide sets) or the attack sequence.
    who: String,
    name: String,
    challenge: Vec<Direction>,
    verdict: Verdict,
    cues: String,
    took_ms: u64,
    /// What rejected it, for a rejected presentation (see [`Ended::cause`]).
    cause: Option<Cause>,
}

/// Which cue rejected a presentation: what a site (or the thresholds) would have to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    /// The head turned the other way (or on the other axis) first.
    WrongDirection,
    /// The step timed out with the head turned, but less than `min_turn_deg`.
    TurnAngle,
    /// Flat motion: the gain was below `min_gain`.
    Gain,
    /// Flat motion: the planar residual was below `min_planar_residual`.
    PlanarResidual,
    /// The turned face no longer matched the identified one.
    Identity,
    /// Most frames of the failing step were too small to judge.
    FaceSize,
    /// The head never came back to the camera to start the step, or never turned at all.
    Timing,
    /// No face was found to identify: the check never started.
    NoFace,
    /// Anything else (the infrared side).
    Other,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Cause::WrongDirection => "wrong direction",
            Cause::TurnAngle => "turn angle",
            Cause::Gain => "gain",
            Cause::PlanarResidual => "planar residual",
            Cause::Identity => "identity",
            Cause::FaceSize => "face size",
            Cause::Timing => "timing",
            Cause::NoFace => "no face",
            Cause::Other => "other",
        }
    }

    /// Why `check` ended with `verdict` (not passed), from its last step's evidence.
    fn of(check: &LivenessCheck, verdict: Verdict, cfg: &LivenessConfig, frames: u32) -> Self {
        let last = check.cues().last();
        match verdict {
            Verdict::Passed => Cause::Other,
            Verdict::Failed(Failure::WrongDirection) => Cause::WrongDirection,
            Verdict::Failed(Failure::IdentityChanged) => Cause::Identity,
            Verdict::Failed(Failure::FlatMotion) => match last {
                Some(c) if c.gain < cfg.min_gain => Cause::Gain,
                Some(_) => Cause::PlanarResidual,
                None => Cause::Gain,
            },
            Verdict::Failed(_) => Cause::Other,
            Verdict::TimedOut => {
                if check.small_frames() * 2 > frames {
                    Cause::FaceSize
                } else if check.centred()
                    && check.step_max_turn() >= STARTED_SHARE * cfg.min_turn_deg
                {
                    Cause::TurnAngle
                } else {
                    Cause::Timing
                }
            }
        }
    }
}

/// How one driven check ended.
struct Ended {
    verdict: Verdict,
    cues: String,
    took_ms: u64,
    challenge: Vec<Direction>,
    cause: Option<Cause>,
}

impl Outcome {
    fn accepted(&self) -> bool {
        self.verdict == Verdict::Passed
    }
}

/// One frame's closest face: its points and embedding.
type Analysed = (FacePoints, Vec<f32>);

/// What every session of a run shares.
struct Ctx<'a> {
    engine: &'a Engine,
    /// Camera time between two frames.
    period: Duration,
    trace: bool,
    /// Each distinct frame is analysed once: sessions replay the same clips many times, and
    /// the analysis is deterministic.
    seen: std::cell::RefCell<std::collections::HashMap<u64, Option<Analysed>>>,
}

impl Ctx<'_> {
    fn analyse(&self, img: &RgbImage) -> anyhow::Result<Option<Analysed>> {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (img.width(), img.height()).hash(&mut h);
        img.as_raw().hash(&mut h);
        let key = h.finish();
        if let Some(hit) = self.seen.borrow().get(&key) {
            return Ok(hit.clone());
        }
        let got = analyse(self.engine, img)?;
        self.seen.borrow_mut().insert(key, got.clone());
        Ok(got)
    }
}

/// Drives one check with frames from `next` until it has a verdict (or `max_frames`).
fn drive(
    ctx: &Ctx<'_>,
    cfg: &LivenessConfig,
    steps: Vec<Direction>,
    board: &PromptBoard,
    max_frames: usize,
    mut next: impl FnMut() -> anyhow::Result<Option<RgbImage>>,
) -> anyhow::Result<Ended> {
    let (period, trace) = (ctx.period, ctx.trace);
    let mut check: Option<LivenessCheck> = None;
    let mut reference: Option<Vec<f32>> = None;
    let mut t = Duration::ZERO;
    let mut step_frames = 0u32;
    for i in 0..max_frames {
        let Some(img) = next()? else { break };
        t += period;
        let seen = ctx.analyse(&img)?;
        if check.is_none() {
            if let Some((_, emb)) = &seen {
                // Identified: the door starts the check here.
                reference = Some(emb.clone());
                let c = LivenessCheck::start(cfg, steps.clone(), t);
                check = Some(c);
            }
        }
        let Some(c) = check.as_mut() else { continue };
        match &seen {
            Some((points, emb)) => {
                let sim = reference.as_deref().map_or(1.0, |r| primary_cosine(r, emb));
                if trace {
                    println!(
                        "    frame {i:3}  yaw {:6.1}  pitch {:6.1}  eyes {:5.1} px  identity {sim:.2}",
                        points.yaw_deg, points.pitch_deg, points.eye_distance
                    );
                }
                c.observe(Observation {
                    at: t,
                    points: points.clone(),
                    identity_similarity: sim,
                });
            }
            None => c.tick(t),
        }
        step_frames += 1;
        for p in c.take_prompts() {
            if matches!(p, Prompt::Challenge { .. }) {
                step_frames = 0;
            }
            if trace {
                println!("    prompt {p:?}");
            }
            board.announce(p.into());
        }
        if let Some(v) = c.verdict() {
            return Ok(Ended {
                verdict: v,
                cues: serde_json::to_string(c.cues()).unwrap_or_default(),
                took_ms: c.elapsed_ms(t),
                challenge: c.challenge().to_vec(),
                cause: (v != Verdict::Passed).then(|| Cause::of(c, v, cfg, step_frames)),
            });
        }
    }
    let challenge = check
        .as_ref()
        .map(|c| c.challenge().to_vec())
        .unwrap_or_default();
    Ok(Ended {
        verdict: Verdict::TimedOut,
        cues: "[]".into(),
        took_ms: 0,
        challenge,
        cause: Some(if check.is_none() {
            Cause::NoFace
        } else {
            Cause::Timing
        }),
    })
}

/// One challenge session with frames from the scripted clip set `dir`, played by `script`.
fn scripted_session(
    ctx: &Ctx<'_>,
    cfg: &LivenessConfig,
    steps: Vec<Direction>,
    board: &PromptBoard,
    dir: &Path,
    script: Script,
    max_frames: usize,
) -> anyhow::Result<Ended> {
    let mut src = ScriptedSource::open(dir, 1000, script)?.unpaced();
    drive(ctx, cfg, steps, board, max_frames, || {
        let f = src.next_frame()?;
        Ok(RgbImage::from_raw(f.width, f.height, f.data.to_vec()))
    })
}

/// A scratch folder for generated clips, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("wardgate-eval-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(path: &Path) -> anyhow::Result<RgbImage> {
    let (w, h, data) = crate::camera::load_photo_rgb(path)?;
    RgbImage::from_raw(w, h, data).context("bad frame")
}

/// A bona fide clip set to evaluate: whose it is, where, at what frame rate.
#[derive(Debug, Clone)]
struct Set {
    person: String,
    dir: PathBuf,
    fps: u32,
}

/// The clip sets of `--scripted` folders: a folder with `neutral/` is one set; a folder of
/// such folders (what `eval answer-clips` writes) is one set per person. A set's `fps` file
/// (written by `answer-clips`) overrides `--fps`.
fn sets(dirs: &[PathBuf], fps: u32) -> anyhow::Result<Vec<Set>> {
    let one = |dir: &Path| -> Set {
        let fps = std::fs::read_to_string(dir.join("fps"))
            .ok()
            .and_then(|t| t.trim().parse::<f32>().ok())
            .filter(|f| *f >= 1.0)
            .map_or(fps, |f| f.round() as u32);
        Set {
            person: dir
                .file_name()
                .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into()),
            dir: dir.to_owned(),
            fps,
        }
    };
    let mut out = Vec::new();
    for dir in dirs {
        if dir.join("neutral").is_dir() {
            out.push(one(dir));
            continue;
        }
        let mut people: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("neutral").is_dir())
            .collect();
        if people.is_empty() {
            bail!(
                "{}: neither a scripted clip set (no neutral/) nor a folder of them",
                dir.display()
            );
        }
        people.sort();
        out.extend(people.iter().map(|p| one(p)));
    }
    Ok(out)
}

/// Runs the plan; returns the printable report.
pub fn run(engine: &Engine, base: &LivenessConfig, plan: &Plan) -> anyhow::Result<String> {
    let mut ctx = Ctx {
        engine,
        period: Duration::from_secs(1) / plan.fps.max(1),
        trace: plan.trace,
        seen: Default::default(),
    };
    let mut results: Vec<Outcome> = Vec::new();
    let mut out = String::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(plan.seed);
    // Passive run.
    let passive = LivenessConfig {
        mode: Mode::Passive,
        ..base.clone()
    };
    for (k, (label, dir)) in plan.sequences.iter().enumerate() {
        let files = frames(dir)?;
        eprintln!(
            "eval liveness: passive {}/{} {}",
            k + 1,
            plan.sequences.len(),
            dir.display()
        );
        let mut it = files.iter();
        let board = PromptBoard::new();
        let e = drive(&ctx, &passive, Vec::new(), &board, files.len(), || {
            it.next().map(|f| load(f)).transpose()
        })?;
        results.push(Outcome {
            kind: format!("passive/{label}"),
            who: dir.display().to_string(),
            name: dir.display().to_string(),
            challenge: Vec::new(),
            verdict: e.verdict,
            cues: e.cues,
            took_ms: e.took_ms,
            cause: None,
        });
    }
    let challenge_cfg = LivenessConfig {
        mode: Mode::Challenge,
        ..base.clone()
    };
    let max_frames = |c: &LivenessConfig, fps: u32| {
        let secs = c.step_timeout_ms * u64::from(c.challenge_steps) / 1000 + 3;
        usize::try_from(secs * u64::from(fps)).unwrap_or(usize::MAX)
    };
    // Bona fide sets answering, and the same sets replayed ignoring the challenge, on the
    // directions each set has clips of.
    let mut scripted_odds = Vec::new();
    for set in sets(&plan.scripted, plan.fps)? {
        let available: Vec<Direction> = Direction::ALL
            .into_iter()
            .filter(|d| set.dir.join(d.as_str()).is_dir())
            .filter(|d| base.directions.contains(d))
            .collect();
        if available.is_empty() {
            scripted_odds.push(format!(
                "{}: no clip of a configured direction, not evaluated",
                set.dir.display()
            ));
            continue;
        }
        ctx.period = Duration::from_secs(1) / set.fps.max(1);
        let cfg = LivenessConfig {
            directions: available.clone(),
            ..challenge_cfg.clone()
        };
        let names: Vec<&str> = available.iter().map(|d| d.as_str()).collect();
        // With one direction every challenge is the same: a replay of it would pass, so the
        // set measures the bona fide side only.
        let replays = cfg.challenge_space() >= 2;
        scripted_odds.push(format!(
            "challenge on {} ({} fps): {} steps from {} = {} possible challenges{}",
            set.dir.display(),
            set.fps,
            cfg.challenge_steps,
            names.join("/"),
            cfg.challenge_space(),
            if replays {
                format!(" (a fixed replay: ≤ 1/{})", cfg.challenge_space())
            } else {
                " (bona fide only: one direction)".into()
            }
        ));
        let mut previous: Option<Vec<Direction>> = None;
        for (follow, kind) in [(true, "challenge/bona_fide"), (false, "challenge/replay")] {
            if !follow && !replays {
                continue;
            }
            for s in 0..plan.sessions {
                let steps = draw_with(&cfg, previous.as_deref(), &mut rng);
                previous = Some(steps.clone());
                let board = PromptBoard::new();
                let script = if follow {
                    Script::Follow(board.clone())
                } else {
                    // A recording of a person answering some challenge: its movements in a
                    // fixed order, one of the possible challenges.
                    let fixed = draw_with(&cfg, None, &mut rng);
                    let mut seq = vec!["neutral".to_owned()];
                    for d in fixed {
                        seq.push(d.as_str().to_owned());
                        seq.push("neutral".to_owned());
                    }
                    Script::Fixed(seq)
                };
                eprintln!(
                    "eval liveness: {kind} {} session {}/{}",
                    set.dir.display(),
                    s + 1,
                    plan.sessions
                );
                let e = scripted_session(
                    &ctx,
                    &cfg,
                    steps,
                    &board,
                    &set.dir,
                    script,
                    max_frames(&cfg, set.fps),
                )?;
                results.push(Outcome {
                    kind: kind.into(),
                    who: set.person.clone(),
                    name: format!("{} #{}", set.dir.display(), s + 1),
                    challenge: e.challenge,
                    verdict: e.verdict,
                    cues: e.cues,
                    took_ms: e.took_ms,
                    cause: e.cause,
                });
            }
        }
    }
    ctx.period = Duration::from_secs(1) / plan.fps.max(1);
    // Attack sequences held up as the answer to each challenge step.
    for (label, dir) in plan.sequences.iter().filter(|(l, _)| l != "bona_fide") {
        let files = frames(dir)?;
        if files.is_empty() {
            continue;
        }
        let steps = draw_with(&challenge_cfg, None, &mut rng);
        let board = PromptBoard::new();
        let mut i = 0usize;
        // Played forward and back, looping, whatever is asked.
        let n = files.len();
        let e = drive(
            &ctx,
            &challenge_cfg,
            steps,
            &board,
            max_frames(&challenge_cfg, plan.fps),
            || {
                let cycle = (2 * n).saturating_sub(2).max(1);
                let k = i % cycle;
                i += 1;
                let idx = if k < n { k } else { cycle - k };
                load(&files[idx]).map(Some)
            },
        )?;
        results.push(Outcome {
            kind: format!("challenge/{label}"),
            who: dir.display().to_string(),
            name: dir.display().to_string(),
            challenge: e.challenge,
            verdict: e.verdict,
            cues: e.cues,
            took_ms: e.took_ms,
            cause: e.cause,
        });
    }
    // Synthetic prints tilted in the asked direction.
    for photo in &plan.print_photos {
        let img = load(photo)?;
        let tmp = TempDir::new()?;
        super::print_attack::write_tilt_clips(&img, &tmp.0)?;
        for s in 0..plan.sessions.clamp(1, 8) {
            let steps = draw_with(&challenge_cfg, None, &mut rng);
            let board = PromptBoard::new();
            let e = scripted_session(
                &ctx,
                &challenge_cfg,
                steps,
                &board,
                &tmp.0,
                Script::Follow(board.clone()),
                max_frames(&challenge_cfg, plan.fps),
            )?;
            results.push(Outcome {
                kind: "challenge/synthetic_print".into(),
                who: photo.display().to_string(),
                name: format!("{} #{}", photo.display(), s + 1),
                challenge: e.challenge,
                verdict: e.verdict,
                cues: e.cues,
                took_ms: e.took_ms,
                cause: e.cause,
            });
        }
    }
    report(&mut out, &results, &challenge_cfg, &scripted_odds);
    Ok(out)
}

fn pct(k: usize, n: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let r = 100.0 * k as f64 / n.max(1) as f64;
    r
}

/// The report: every presentation, the ISO/IEC 30107-3 summary, then the bona fide side per
/// person and per rejecting cue.
fn report(out: &mut String, results: &[Outcome], cfg: &LivenessConfig, odds: &[String]) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# per presentation");
    for r in results {
        let ch: Vec<&str> = r.challenge.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(
            out,
            "{:<28} {:<9} [{}] {:?} {} ms {}  {}{}",
            r.kind,
            if r.accepted() { "accepted" } else { "rejected" },
            ch.join(","),
            r.verdict,
            r.took_ms,
            r.cues,
            r.name,
            r.cause
                .map_or(String::new(), |c| format!("  ({})", c.as_str()))
        );
    }
    let mut by_kind: BTreeMap<&str, (usize, usize, Vec<u64>)> = BTreeMap::new();
    for r in results {
        let e = by_kind.entry(&r.kind).or_default();
        e.0 += 1;
        if r.accepted() {
            e.1 += 1;
            e.2.push(r.took_ms);
        }
    }
    let _ = writeln!(out, "\n# summary (ISO/IEC 30107-3)");
    for (kind, (n, accepted, mut times)) in by_kind {
        times.sort_unstable();
        if kind.ends_with("bona_fide") {
            let median = times.get(times.len() / 2).copied();
            let _ = writeln!(
                out,
                "{kind:<28} BPCER {:5.1} % ({} of {n} rejected){}",
                pct(n - accepted, n),
                n - accepted,
                median.map_or(String::new(), |m| format!(", median time to pass {m} ms"))
            );
        } else {
            let _ = writeln!(
                out,
                "{kind:<28} APCER {:5.1} % ({accepted} of {n} accepted)",
                pct(accepted, n)
            );
        }
    }
    let _ = writeln!(
        out,
        "challenge: {} steps from {} directions = {} possible challenges (a fixed replay: ≤ 1/{})",
        cfg.challenge_steps,
        cfg.directions.len(),
        cfg.challenge_space(),
        cfg.challenge_space()
    );
    for line in odds {
        let _ = writeln!(out, "{line}");
    }
    // The bona fide challenge side, per person and per cue.
    let bona: Vec<&Outcome> = results
        .iter()
        .filter(|r| r.kind == "challenge/bona_fide")
        .collect();
    if bona.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n# bona fide challenge sessions per person");
    let mut people: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for r in &bona {
        people.entry(&r.who).or_default().push(r);
    }
    let mut worst = 100.0f64;
    for (who, rs) in &people {
        let passed = rs.iter().filter(|r| r.accepted()).count();
        let mut times: Vec<u64> = rs
            .iter()
            .filter(|r| r.accepted())
            .map(|r| r.took_ms)
            .collect();
        times.sort_unstable();
        let mut causes: BTreeMap<Cause, usize> = BTreeMap::new();
        for r in rs.iter().filter_map(|r| r.cause) {
            *causes.entry(r).or_default() += 1;
        }
        let causes: Vec<String> = causes
            .iter()
            .map(|(c, k)| format!("{} {k}", c.as_str()))
            .collect();
        worst = worst.min(pct(passed, rs.len()));
        let _ = writeln!(
            out,
            "{who:<40} passed {passed:>3} of {:>3} ({:5.1} %){}{}",
            rs.len(),
            pct(passed, rs.len()),
            times
                .get(times.len() / 2)
                .map_or(String::new(), |m| format!(", median {m} ms")),
            if causes.is_empty() {
                String::new()
            } else {
                format!("; rejected by: {}", causes.join(", "))
            }
        );
    }
    let passed = bona.iter().filter(|r| r.accepted()).count();
    let _ = writeln!(
        out,
        "all: {passed} of {} sessions passed ({:.1} %) over {} people; the lowest person {worst:.1} %",
        bona.len(),
        pct(passed, bona.len()),
        people.len()
    );
    let mut causes: BTreeMap<Cause, usize> = BTreeMap::new();
    for c in bona.iter().filter_map(|r| r.cause) {
        *causes.entry(c).or_default() += 1;
    }
    let _ = writeln!(out, "\n# bona fide rejections by cue");
    for (c, k) in causes {
        let _ = writeln!(out, "{:<16} {k}", c.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_of_people_is_one_set_per_person_on_its_own_frame_rate() {
        let root = tempfile::tempdir().unwrap();
        for p in ["ann/neutral", "ann/left", "bob/neutral", "notes"] {
            std::fs::create_dir_all(root.path().join(p)).unwrap();
        }
        std::fs::write(root.path().join("ann/fps"), "4.2\n").unwrap();
        let s = sets(&[root.path().to_owned()], 12).unwrap();
        let got: Vec<(&str, u32)> = s.iter().map(|s| (s.person.as_str(), s.fps)).collect();
        assert_eq!(got, vec![("ann", 4), ("bob", 12)], "notes/ is no clip set");
        // A clip set given itself is one set.
        let one = sets(&[root.path().join("bob")], 12).unwrap();
        assert_eq!(one.len(), 1);
        assert!(sets(&[root.path().join("notes")], 12).is_err());
    }

    #[test]
    fn rejections_are_put_down_to_the_cue_that_caused_them() {
        let cfg = LivenessConfig::default();
        let check = LivenessCheck::start(&cfg, vec![Direction::Left], Duration::ZERO);
        let of = |v| Cause::of(&check, v, &cfg, 10);
        assert_eq!(
            of(Verdict::Failed(Failure::WrongDirection)),
            Cause::WrongDirection
        );
        assert_eq!(
            of(Verdict::Failed(Failure::IdentityChanged)),
            Cause::Identity
        );
        // Never centred, never turned: the person did not get going in time.
        assert_eq!(of(Verdict::TimedOut), Cause::Timing);
    }
}

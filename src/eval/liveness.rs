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
    check::draw_with, Direction, FacePoints, LivenessCheck, LivenessConfig, Mode, Observation,
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
    for line in text.lines().skip(1) {
        let mut cols = line.split(',');
        let (Some(set), Some(seq), Some(label)) = (cols.next(), cols.next(), cols.next()) else {
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
fn analyse(engine: &Engine, img: &RgbImage) -> anyhow::Result<Option<(FacePoints, Vec<f32>)>> {
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
    name: String,
    challenge: Vec<Direction>,
    verdict: Verdict,
    cues: String,
    took_ms: u64,
}

impl Outcome {
    fn accepted(&self) -> bool {
        self.verdict == Verdict::Passed
    }
}

/// What every session of a run shares.
struct Ctx<'a> {
    engine: &'a Engine,
    /// Camera time between two frames.
    period: Duration,
    trace: bool,
}

/// Drives one check with frames from `next` until it has a verdict (or `max_frames`).
fn drive(
    ctx: &Ctx<'_>,
    cfg: &LivenessConfig,
    steps: Vec<Direction>,
    board: &PromptBoard,
    max_frames: usize,
    mut next: impl FnMut() -> anyhow::Result<Option<RgbImage>>,
) -> anyhow::Result<(Verdict, String, u64, Vec<Direction>)> {
    let (engine, period, trace) = (ctx.engine, ctx.period, ctx.trace);
    let mut check: Option<LivenessCheck> = None;
    let mut reference: Option<Vec<f32>> = None;
    let mut t = Duration::ZERO;
    for i in 0..max_frames {
        let Some(img) = next()? else { break };
        t += period;
        let seen = analyse(engine, &img)?;
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
        for p in c.take_prompts() {
            board.announce(p.into());
        }
        if let Some(v) = c.verdict() {
            let cues = serde_json::to_string(c.cues()).unwrap_or_default();
            return Ok((v, cues, c.elapsed_ms(t), c.challenge().to_vec()));
        }
    }
    let challenge = check
        .as_ref()
        .map(|c| c.challenge().to_vec())
        .unwrap_or_default();
    Ok((Verdict::TimedOut, "[]".into(), 0, challenge))
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
) -> anyhow::Result<(Verdict, String, u64, Vec<Direction>)> {
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

/// Runs the plan; returns the printable report.
pub fn run(engine: &Engine, base: &LivenessConfig, plan: &Plan) -> anyhow::Result<String> {
    let period = Duration::from_secs(1) / plan.fps.max(1);
    let ctx = Ctx {
        engine,
        period,
        trace: plan.trace,
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
        let (verdict, cues, took_ms, _) =
            drive(&ctx, &passive, Vec::new(), &board, files.len(), || {
                it.next().map(|f| load(f)).transpose()
            })?;
        results.push(Outcome {
            kind: format!("passive/{label}"),
            name: dir.display().to_string(),
            challenge: Vec::new(),
            verdict,
            cues,
            took_ms,
        });
    }
    let challenge_cfg = LivenessConfig {
        mode: Mode::Challenge,
        ..base.clone()
    };
    let max_frames = |c: &LivenessConfig| {
        let secs = c.step_timeout_ms * u64::from(c.challenge_steps) / 1000 + 3;
        usize::try_from(secs * u64::from(plan.fps)).unwrap_or(usize::MAX)
    };
    // Bona fide sets answering, and the same sets replayed ignoring the challenge, on the
    // directions each set has clips of.
    let mut scripted_odds = Vec::new();
    for set in &plan.scripted {
        let available: Vec<Direction> = Direction::ALL
            .into_iter()
            .filter(|d| set.join(d.as_str()).is_dir())
            .filter(|d| base.directions.contains(d))
            .collect();
        if available.len() < 2 {
            bail!(
                "{}: a scripted set needs clips of at least two of the configured directions",
                set.display()
            );
        }
        let cfg = LivenessConfig {
            directions: available.clone(),
            ..challenge_cfg.clone()
        };
        scripted_odds.push(format!(
            "challenge on {}: {} steps from {} = {} possible challenges (a fixed replay: ≤ 1/{})",
            set.display(),
            cfg.challenge_steps,
            available
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join("/"),
            cfg.challenge_space(),
            cfg.challenge_space()
        ));
        let mut previous: Option<Vec<Direction>> = None;
        for (follow, kind) in [(true, "challenge/bona_fide"), (false, "challenge/replay")] {
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
                    set.display(),
                    s + 1,
                    plan.sessions
                );
                let (verdict, cues, took_ms, challenge) =
                    scripted_session(&ctx, &cfg, steps, &board, set, script, max_frames(&cfg))?;
                results.push(Outcome {
                    kind: kind.into(),
                    name: format!("{} #{}", set.display(), s + 1),
                    challenge,
                    verdict,
                    cues,
                    took_ms,
                });
            }
        }
    }
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
        let (verdict, cues, took_ms, challenge) = drive(
            &ctx,
            &challenge_cfg,
            steps,
            &board,
            max_frames(&challenge_cfg),
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
            name: dir.display().to_string(),
            challenge,
            verdict,
            cues,
            took_ms,
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
            let (verdict, cues, took_ms, challenge) = scripted_session(
                &ctx,
                &challenge_cfg,
                steps,
                &board,
                &tmp.0,
                Script::Follow(board.clone()),
                max_frames(&challenge_cfg),
            )?;
            results.push(Outcome {
                kind: "challenge/synthetic_print".into(),
                name: format!("{} #{}", photo.display(), s + 1),
                challenge,
                verdict,
                cues,
                took_ms,
            });
        }
    }
    use std::fmt::Write as _;
    let _ = writeln!(out, "# per presentation");
    for r in &results {
        let ch: Vec<&str> = r.challenge.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(
            out,
            "{:<28} {:<9} [{}] {:?} {} ms {}  {}",
            r.kind,
            if r.accepted() { "accepted" } else { "rejected" },
            ch.join(","),
            r.verdict,
            r.took_ms,
            r.cues,
            r.name
        );
    }
    let mut by_kind: BTreeMap<&str, (usize, usize, Vec<u64>)> = BTreeMap::new();
    for r in &results {
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
        #[allow(clippy::cast_precision_loss)]
        let rate = |k: usize| 100.0 * k as f64 / n.max(1) as f64;
        if kind.ends_with("bona_fide") {
            let median = times.get(times.len() / 2).copied();
            let _ = writeln!(
                out,
                "{kind:<28} BPCER {:5.1} % ({} of {n} rejected){}",
                rate(n - accepted),
                n - accepted,
                median.map_or(String::new(), |m| format!(", median time to pass {m} ms"))
            );
        } else {
            let _ = writeln!(
                out,
                "{kind:<28} APCER {:5.1} % ({accepted} of {n} accepted)",
                rate(accepted)
            );
        }
    }
    let _ = writeln!(
        out,
        "challenge: {} steps from {} directions = {} possible challenges (a fixed replay: ≤ 1/{})",
        challenge_cfg.challenge_steps,
        challenge_cfg.directions.len(),
        challenge_cfg.challenge_space(),
        challenge_cfg.challenge_space()
    );
    for line in scripted_odds {
        let _ = writeln!(out, "{line}");
    }
    Ok(out)
}

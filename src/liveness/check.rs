//! One track's liveness check, frame by frame on camera time: the challenge (ask for a random
//! sequence of head movements, verify each) and the passive watch.
//!
//! A challenge step, from the door's side:
//! 1. the step is announced (the door display shows the arrow);
//! 2. the step's reference view is the first frame in which the head is back near the pose it
//!    had when it was identified (within `centre_tolerance_deg`): the person may first have to
//!    come back from the previous step's turn, and that return is not judged; while the head
//!    still moves the other way inside that zone the reference follows it, so the turn is
//!    measured from where it really starts;
//! 3. a head `min_turn_deg` away from the identified pose in any other direction fails the
//!    check at once (a replay following its own script moves the wrong way); a turn of
//!    `min_turn_deg` in the asked direction from the reference view passes the step when the
//!    motion is 3-D (gain and planar floor, [`super::geometry`]) and the turned face still
//!    matches the identified one; `flat_frames_to_fail` turned frames whose motion is flat fail
//!    the check (a print tilted on cue); while the step runs the person is guided
//!    ([`Prompt::Guide`]): the share of the turn made (quarters), "a little further" when a
//!    turn the right way stalls, "come closer" when the face is too small to judge, "look back
//!    at the camera" when the head does not come back;
//! 4. nothing within `step_timeout_ms`: `liveness_timeout`.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use super::config::{Direction, LivenessConfig, Mode};
use super::geometry::{fit, FacePoints};
use super::nir::{self, CrossCheck};

/// What one analysed frame of the track contributes.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Camera time of the frame.
    pub at: Duration,
    pub points: FacePoints,
    /// Cosine similarity of this frame's embedding with the embedding that identified the
    /// track (1 for the identifying frame itself).
    pub identity_similarity: f32,
}

/// Why a check did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The head turned the other way (or on the other axis) first.
    WrongDirection,
    /// The asked turn was seen, but as the motion of a flat picture.
    FlatMotion,
    /// The turned face is no longer the identified person.
    IdentityChanged,
    /// `strict`: the infrared camera saw no face where the colour camera saw one (a screen).
    /// The door records this as `spoof_suspected`.
    NoInfraredFace,
    /// `strict`: the challenge was met, but no infrared frame of the same moments showed the
    /// face before the step timeout (the infrared camera is lost, late or covered).
    InfraredUnavailable,
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "cause", rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed(Failure),
    TimedOut,
}

/// The cues measured for one step (or, in passive mode, for the best frame pair).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct StepCues {
    /// `null` in passive mode.
    pub direction: Option<Direction>,
    /// Head turn in the asked direction at the judged frame, degrees.
    pub turn_deg: f32,
    pub gain: f32,
    pub planar_residual: f32,
    pub identity_similarity: f32,
    /// Milliseconds from the step's announcement to its end.
    pub took_ms: u64,
    pub passed: bool,
}

/// What the door display (and the scripted camera) is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Step `step` (from 1) of `of`: turn the head in `direction`.
    Challenge {
        step: u32,
        of: u32,
        direction: Direction,
    },
    /// The step was verified.
    StepPassed { step: u32 },
    /// While step `step` runs: how far the head has turned towards what is needed, in
    /// quarters (`filled` 0–4, the arrow that fills), and what the person can do about it.
    /// Announced when either changes; carries no cue value an attacker could tune against.
    Guide {
        step: u32,
        of: u32,
        direction: Direction,
        filled: u8,
        hint: Option<Hint>,
    },
}

/// What the door tells a person whose step is not going anywhere (docs/decisions/0105).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// The head turned the asked way, then stopped short of enough: "a little further".
    Further,
    /// The face is too small to judge its motion: "come closer".
    Closer,
    /// The head has not come back to the camera to start the step: "look at the camera".
    FaceCamera,
}

/// How long a turn may stall before the person is told to go on, and how long the head may
/// stay away from the camera at a step's start before they are told to look back.
const STALL: Duration = Duration::from_millis(700);
const CENTRING_HINT_AFTER: Duration = Duration::from_millis(1000);
/// A turn below this share of `min_turn_deg` is jitter, not a start: no "further" for it
/// (and, in `eval liveness`, a timed-out step that never got going).
pub const STARTED_SHARE: f32 = 0.25;

#[derive(Debug, Clone)]
enum Phase {
    /// Waiting for the head to come back near the neutral pose.
    Centring,
    /// Reference view taken; judging the turn.
    Turning { reference: FacePoints },
}

/// The liveness state of one track.
#[derive(Debug, Clone)]
pub struct LivenessCheck {
    cfg: LivenessConfig,
    mode: Mode,
    steps: Vec<Direction>,
    step: usize,
    phase: Phase,
    /// The pose at identification: what "looking at the camera" means for this person here.
    neutral: Option<(f32, f32)>,
    started: Duration,
    step_started: Duration,
    flat_frames: u32,
    identity_misses: u32,
    /// Frames not judged because the face was too small (`liveness.min_eye_distance_px`).
    small_frames: u32,
    /// Consecutive frames too small to judge, now.
    small_run: u32,
    /// The furthest the head has turned the asked way in this step, and when it got there.
    step_max_turn: f32,
    step_max_at: Duration,
    /// The guidance last announced for this step (fill in quarters, hint).
    guide: (u8, Option<Hint>),
    cues: Vec<StepCues>,
    /// The best flat-or-not evidence of the current step, recorded when it fails or times out.
    best: Option<StepCues>,
    /// Passive mode: the analysed views seen so far (newest last, a few seconds' worth).
    seen: Vec<Observation>,
    verdict: Option<Verdict>,
    prompts: Vec<Prompt>,
    /// `strict`: the near-infrared cross-check, which must confirm before the check passes.
    infrared: Option<CrossCheck>,
}

impl LivenessCheck {
    /// A check started at `at`; in challenge mode `steps` is the challenge (see [`draw`]).
    pub fn start(cfg: &LivenessConfig, steps: Vec<Direction>, at: Duration) -> Self {
        let mode = cfg.mode;
        let mut check = Self {
            cfg: cfg.clone(),
            mode,
            steps,
            step: 0,
            phase: Phase::Centring,
            neutral: None,
            started: at,
            step_started: at,
            flat_frames: 0,
            identity_misses: 0,
            small_frames: 0,
            small_run: 0,
            step_max_turn: 0.0,
            step_max_at: at,
            guide: (0, None),
            cues: Vec::new(),
            best: None,
            seen: Vec::new(),
            verdict: None,
            prompts: Vec::new(),
            infrared: mode.needs_infrared().then(|| CrossCheck::new(cfg)),
        };
        if mode == Mode::Off {
            check.verdict = Some(Verdict::Passed);
        } else if mode.challenges() {
            check.announce();
        }
        check
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The challenge drawn (empty in passive mode).
    pub fn challenge(&self) -> &[Direction] {
        &self.steps
    }

    /// `None` while the check runs.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    pub fn cues(&self) -> &[StepCues] {
        &self.cues
    }

    /// Frames not judged because the face was too small for its motion to be measured.
    pub fn small_frames(&self) -> u32 {
        self.small_frames
    }

    /// Whether the current step's reference view was taken (the head came back to the camera).
    pub fn centred(&self) -> bool {
        matches!(self.phase, Phase::Turning { .. })
    }

    /// The furthest the head turned the asked way in the current (or failing) step, degrees.
    pub fn step_max_turn(&self) -> f32 {
        self.step_max_turn
    }

    /// `strict`: the infrared cross-check's counts.
    pub fn infrared_cues(&self) -> Option<nir::Cues> {
        self.infrared.as_ref().map(CrossCheck::cues)
    }

    /// Whether the check wants the infrared frame of its next observation (`strict`, running).
    pub fn wants_infrared(&self) -> bool {
        self.verdict.is_none() && self.infrared.is_some()
    }

    /// Milliseconds since the check started, at `now`.
    pub fn elapsed_ms(&self, now: Duration) -> u64 {
        u64::try_from(now.saturating_sub(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    /// A few words for the console's Live view: the step being asked, or the verdict.
    pub fn status(&self) -> String {
        match (self.verdict, self.current()) {
            (Some(Verdict::Passed), _) => "live".into(),
            (Some(Verdict::Failed(f)), _) => format!(
                "failed ({})",
                match f {
                    Failure::WrongDirection => "wrong direction",
                    Failure::FlatMotion => "flat motion",
                    Failure::IdentityChanged => "another face",
                    Failure::NoInfraredFace => "no face in infrared",
                    Failure::InfraredUnavailable => "no infrared frame",
                }
            ),
            (Some(Verdict::TimedOut), _) => "timed out".into(),
            (
                None,
                Some(Prompt::Challenge {
                    step,
                    of,
                    direction,
                }),
            ) => {
                format!("step {step}/{of}: {}", direction.as_str())
            }
            (None, _) if self.challenge_met() => "checking infrared".into(),
            (None, _) => "watching".into(),
        }
    }

    /// Prompts produced since the last call, oldest first.
    pub fn take_prompts(&mut self) -> Vec<Prompt> {
        std::mem::take(&mut self.prompts)
    }

    /// The step being asked for, if a challenge runs.
    pub fn current(&self) -> Option<Prompt> {
        let direction = *self.steps.get(self.step)?;
        (self.verdict.is_none() && self.mode.challenges()).then(|| Prompt::Challenge {
            step: self.step as u32 + 1,
            of: self.steps.len() as u32,
            direction,
        })
    }

    /// Every step answered (`strict` may still wait for the infrared camera).
    fn challenge_met(&self) -> bool {
        self.mode.challenges() && self.step >= self.steps.len()
    }

    /// The infrared frame of the moment of the last observation: its finding, or `None` when
    /// no infrared frame of that moment came. Ignored outside `strict`.
    pub fn observe_infrared(&mut self, at: Duration, finding: Option<nir::Finding>) {
        if self.verdict.is_some() {
            return;
        }
        let Some(x) = self.infrared.as_mut() else {
            return;
        };
        match finding {
            Some(f) => x.record(f),
            None => x.unmatched(),
        }
        match x.state() {
            nir::State::Vetoed => self.finish(Verdict::Failed(Failure::NoInfraredFace), at),
            nir::State::Confirmed if self.challenge_met() => self.finish(Verdict::Passed, at),
            _ => {}
        }
    }

    /// The challenge is met: passed, unless the infrared camera has yet to confirm.
    fn challenge_passed(&mut self, at: Duration) {
        match self.infrared.as_ref().map(CrossCheck::state) {
            None | Some(nir::State::Confirmed) => self.finish(Verdict::Passed, at),
            Some(_) => self.step_started = at,
        }
    }

    fn announce(&mut self) {
        self.guide = (0, None);
        self.step_max_turn = 0.0;
        self.step_max_at = self.step_started;
        if let Some(p) = self.current() {
            self.prompts.push(p);
        }
    }

    /// Announces the guidance for the running step when it changed: the share of the asked
    /// turn made so far, and a hint when the step is stuck on something the person can fix.
    fn guide(&mut self, at: Duration, turn: f32) {
        if self.verdict.is_some() || !self.mode.challenges() || self.challenge_met() {
            return;
        }
        let Some(Prompt::Challenge {
            step,
            of,
            direction,
        }) = self.current()
        else {
            return;
        };
        let centred = self.centred();
        let hint = if self.small_run >= 2 {
            Some(Hint::Closer)
        } else if !centred && at.saturating_sub(self.step_started) >= CENTRING_HINT_AFTER {
            Some(Hint::FaceCamera)
        } else if centred
            && self.step_max_turn >= STARTED_SHARE * self.cfg.min_turn_deg
            && at.saturating_sub(self.step_max_at) >= STALL
        {
            Some(Hint::Further)
        } else {
            None
        };
        let share = if centred {
            (turn / self.cfg.min_turn_deg).clamp(0.0, 1.0)
        } else {
            0.0
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let filled = (share * 4.0).floor() as u8;
        if (filled, hint) != self.guide {
            self.guide = (filled, hint);
            self.prompts.push(Prompt::Guide {
                step,
                of,
                direction,
                filled,
                hint,
            });
        }
    }

    fn finish(&mut self, verdict: Verdict, at: Duration) {
        if verdict != Verdict::Passed {
            let took_ms = ms(at.saturating_sub(self.step_started));
            if let Some(mut best) = self.best.take() {
                best.took_ms = took_ms;
                self.cues.push(best);
            } else if self.mode.challenges() && !self.challenge_met() {
                // A step that never reached a judged turn: how far the head did turn.
                self.cues.push(StepCues {
                    direction: self.steps.get(self.step).copied(),
                    turn_deg: self.step_max_turn,
                    took_ms,
                    ..StepCues::default()
                });
            }
        }
        self.verdict = Some(verdict);
    }

    /// Time passes without a usable frame (the face was not analysed, or is gone).
    pub fn tick(&mut self, now: Duration) {
        if self.verdict.is_some() {
            return;
        }
        let (limit, since) = match self.mode {
            Mode::Off => return,
            Mode::Passive => (self.cfg.passive_window_ms, self.started),
            Mode::Challenge | Mode::Strict => (self.cfg.step_timeout_ms, self.step_started),
        };
        if now.saturating_sub(since) >= Duration::from_millis(limit) {
            let verdict = if self.challenge_met() {
                Verdict::Failed(Failure::InfraredUnavailable)
            } else if self.flat_frames > 0 {
                Verdict::Failed(Failure::FlatMotion)
            } else {
                Verdict::TimedOut
            };
            self.finish(verdict, now);
        }
    }

    /// One analysed frame of the track.
    pub fn observe(&mut self, obs: Observation) {
        self.tick(obs.at);
        if self.verdict.is_some() {
            return;
        }
        if obs.points.eye_distance < f64::from(self.cfg.min_eye_distance_px) {
            self.small_frames += 1;
            self.small_run += 1;
            self.guide(obs.at, 0.0);
            return;
        }
        self.small_run = 0;
        let neutral = *self
            .neutral
            .get_or_insert((obs.points.yaw_deg, obs.points.pitch_deg));
        match self.mode {
            Mode::Off => {}
            Mode::Passive => self.observe_passive(obs),
            Mode::Challenge | Mode::Strict if !self.challenge_met() => {
                self.observe_challenge(obs, neutral);
            }
            Mode::Challenge | Mode::Strict => {}
        }
    }

    fn observe_challenge(&mut self, obs: Observation, neutral: (f32, f32)) {
        let at = obs.at;
        let direction = self.steps[self.step];
        let half = self.cfg.centre_tolerance_deg;
        let (n_yaw, n_pitch) = (
            obs.points.yaw_deg - neutral.0,
            obs.points.pitch_deg - neutral.1,
        );
        let centred_now = n_yaw.abs() <= half && n_pitch.abs() <= half;
        let reference = match &self.phase {
            Phase::Centring => {
                if centred_now {
                    self.phase = Phase::Turning {
                        reference: obs.points,
                    };
                }
                self.guide(at, 0.0);
                return;
            }
            Phase::Turning { reference } => reference.clone(),
        };
        // The wrong way is judged from where the person looks at the camera, not from the
        // reference view: a head still swinging back from the last step's turn, and passing
        // the camera a little, has not turned the wrong way (docs/decisions/0105).
        let wrong = Direction::ALL
            .iter()
            .filter(|&&d| d != direction)
            .map(|d| d.along(n_yaw, n_pitch))
            .fold(f32::MIN, f32::max);
        if wrong >= self.cfg.min_turn_deg && wrong > direction.along(n_yaw, n_pitch) {
            self.finish(Verdict::Failed(Failure::WrongDirection), at);
            return;
        }
        let d_yaw = obs.points.yaw_deg - reference.yaw_deg;
        let d_pitch = obs.points.pitch_deg - reference.pitch_deg;
        let along = direction.along(d_yaw, d_pitch);
        // The turn starts where the head was furthest the other way while still facing the
        // camera: the reference follows it there, so a turn is measured from its real start.
        if along < 0.0 && centred_now {
            self.phase = Phase::Turning {
                reference: obs.points,
            };
            self.guide(at, 0.0);
            return;
        }
        // Progress is a new furthest turn by more than the mesh's jitter.
        if along > self.step_max_turn + 0.5 {
            self.step_max_turn = along;
            self.step_max_at = at;
        }
        if along < self.cfg.min_turn_deg {
            self.guide(at, along);
            return;
        }
        let Some(m) = fit(&reference, &obs.points) else {
            return;
        };
        #[allow(clippy::cast_possible_truncation)]
        let cues = StepCues {
            direction: Some(direction),
            turn_deg: along,
            gain: m.gain as f32,
            planar_residual: m.planar_residual as f32,
            identity_similarity: obs.identity_similarity,
            took_ms: ms(at.saturating_sub(self.step_started)),
            passed: false,
        };
        let three_d =
            cues.planar_residual >= self.cfg.min_planar_residual && cues.gain >= self.cfg.min_gain;
        if !three_d {
            self.flat_frames += 1;
            self.best = Some(cues);
            if self.flat_frames >= self.cfg.flat_frames_to_fail {
                self.finish(Verdict::Failed(Failure::FlatMotion), at);
            }
            return;
        }
        if obs.identity_similarity < self.cfg.min_identity_similarity {
            self.identity_misses += 1;
            self.best = Some(cues);
            if self.identity_misses >= 2 {
                self.finish(Verdict::Failed(Failure::IdentityChanged), at);
            }
            return;
        }
        self.cues.push(StepCues {
            passed: true,
            ..cues
        });
        self.prompts.push(Prompt::StepPassed {
            step: self.step as u32 + 1,
        });
        self.step += 1;
        self.flat_frames = 0;
        self.identity_misses = 0;
        self.best = None;
        if self.step == self.steps.len() {
            self.challenge_passed(at);
            return;
        }
        self.phase = Phase::Centring;
        self.step_started = at;
        self.announce();
    }

    fn observe_passive(&mut self, obs: Observation) {
        let at = obs.at;
        let window = Duration::from_millis(self.cfg.passive_window_ms);
        self.seen.retain(|o| at.saturating_sub(o.at) <= window);
        // Pairs at least 0.2 s apart: closer frames hold too little motion to judge.
        let gap = Duration::from_millis(200);
        let mut judged: Option<StepCues> = None;
        for old in self.seen.iter().filter(|o| at.saturating_sub(o.at) >= gap) {
            let turn = (obs.points.yaw_deg - old.points.yaw_deg)
                .abs()
                .max((obs.points.pitch_deg - old.points.pitch_deg).abs());
            if turn < self.cfg.passive_min_turn_deg {
                continue;
            }
            let Some(m) = fit(&old.points, &obs.points) else {
                continue;
            };
            #[allow(clippy::cast_possible_truncation)]
            let cues = StepCues {
                direction: None,
                turn_deg: turn,
                gain: m.gain as f32,
                planar_residual: m.planar_residual as f32,
                identity_similarity: obs.identity_similarity.min(old.identity_similarity),
                took_ms: ms(at.saturating_sub(self.started)),
                passed: false,
            };
            if judged.is_none_or(|j| cues.gain > j.gain) {
                judged = Some(cues);
            }
        }
        self.seen.push(obs);
        let Some(cues) = judged else {
            return;
        };
        let live = cues.planar_residual >= self.cfg.min_planar_residual
            && cues.gain >= self.cfg.min_gain
            && cues.identity_similarity >= self.cfg.min_identity_similarity;
        if live {
            self.cues.push(StepCues {
                passed: true,
                ..cues
            });
            self.finish(Verdict::Passed, at);
        } else if self.best.is_none_or(|b| cues.gain > b.gain) {
            self.best = Some(cues);
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Draws a challenge of `cfg.challenge_steps` movements from `cfg.directions` with the OS's
/// CSPRNG, different from `previous` (the door's last challenge), so that a recording of the
/// last presentation does not answer the next one.
pub fn draw(cfg: &LivenessConfig, previous: Option<&[Direction]>) -> Vec<Direction> {
    draw_with(cfg, previous, &mut rand::rngs::OsRng)
}

/// [`draw`] with a given generator (tests and the scripted evaluation use a seeded one).
pub fn draw_with(
    cfg: &LivenessConfig,
    previous: Option<&[Direction]>,
    rng: &mut impl Rng,
) -> Vec<Direction> {
    loop {
        let steps: Vec<Direction> = (0..cfg.challenge_steps)
            .map(|_| cfg.directions[rng.gen_range(0..cfg.directions.len())])
            .collect();
        if previous != Some(steps.as_slice()) || cfg.challenge_space() < 2 {
            return steps;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::geometry::tests::{head, print_view, view};
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn cfg() -> LivenessConfig {
        LivenessConfig::default()
    }

    /// Yaw/pitch in degrees for a movement in `d` of `deg`.
    fn pose(d: Direction, deg: f64) -> (f64, f64) {
        let r = deg.to_radians();
        match d {
            Direction::Left => (r, 0.0),
            Direction::Right => (-r, 0.0),
            Direction::Up => (0.0, -r),
            Direction::Down => (0.0, r),
        }
    }

    /// Frames every 66 ms: each step turns to 25° and back, in `answers` order; `flat` prints.
    fn session(
        check: &mut LivenessCheck,
        answers: &[Direction],
        flat: bool,
        similarity: f32,
    ) -> Verdict {
        session_with(check, answers, flat, similarity, |_, _| {})
    }

    /// [`session`], calling `after` with the check and the frame's time after each frame
    /// (what the door loop does with the infrared frame of the same moment).
    fn session_with(
        check: &mut LivenessCheck,
        answers: &[Direction],
        flat: bool,
        similarity: f32,
        mut after: impl FnMut(&mut LivenessCheck, Duration),
    ) -> Verdict {
        let h = head(64);
        let mut t = Duration::ZERO;
        let mut frame = |check: &mut LivenessCheck, yaw: f64, pitch: f64| {
            t += 66 * MS;
            let mut points = if flat {
                print_view(&h, yaw, pitch, 600.0, 0.2)
            } else {
                view(&h, yaw, pitch, 600.0, 0.2)
            };
            // The mesh reports the pose it sees; a tilted print reports the tilt.
            points.yaw_deg = yaw.to_degrees() as f32;
            points.pitch_deg = pitch.to_degrees() as f32;
            check.observe(Observation {
                at: t,
                points,
                identity_similarity: similarity,
            });
            after(check, t);
        };
        frame(check, 0.0, 0.0);
        for &d in answers {
            for k in (0..=5).chain((0..5).rev()) {
                let (y, p) = pose(d, f64::from(k) * 5.0);
                frame(check, y, p);
                if check.verdict().is_some() {
                    return check.verdict().unwrap();
                }
            }
        }
        for _ in 0..200 {
            frame(check, 0.0, 0.0);
            if let Some(v) = check.verdict() {
                return v;
            }
        }
        panic!("no verdict");
    }

    #[test]
    fn a_head_answering_the_challenge_passes_with_its_cues() {
        let steps = vec![Direction::Left, Direction::Up];
        let mut c = LivenessCheck::start(&cfg(), steps.clone(), Duration::ZERO);
        assert_eq!(
            c.take_prompts(),
            vec![Prompt::Challenge {
                step: 1,
                of: 2,
                direction: Direction::Left
            }]
        );
        assert_eq!(session(&mut c, &steps, false, 0.8), Verdict::Passed);
        assert_eq!(c.cues().len(), 2);
        assert!(c.cues().iter().all(|s| s.passed && s.gain > 1.6));
        let prompts = c.take_prompts();
        assert!(prompts.contains(&Prompt::StepPassed { step: 2 }));
        assert!(prompts.contains(&Prompt::Challenge {
            step: 2,
            of: 2,
            direction: Direction::Up
        }));
    }

    #[test]
    fn a_print_tilted_on_cue_fails_as_flat() {
        let steps = vec![Direction::Right, Direction::Down];
        let mut c = LivenessCheck::start(&cfg(), steps.clone(), Duration::ZERO);
        assert_eq!(
            session(&mut c, &steps, true, 0.9),
            Verdict::Failed(Failure::FlatMotion)
        );
        assert!(!c.cues()[0].passed);
    }

    #[test]
    fn a_replay_moving_the_wrong_way_fails_and_a_still_face_times_out() {
        let mut c = LivenessCheck::start(
            &cfg(),
            vec![Direction::Left, Direction::Right],
            Duration::ZERO,
        );
        assert_eq!(
            session(&mut c, &[Direction::Right, Direction::Left], false, 0.9),
            Verdict::Failed(Failure::WrongDirection)
        );
        let mut c =
            LivenessCheck::start(&cfg(), vec![Direction::Up, Direction::Up], Duration::ZERO);
        assert_eq!(session(&mut c, &[], false, 0.9), Verdict::TimedOut);
    }

    #[test]
    fn another_face_answering_fails() {
        let steps = vec![Direction::Left, Direction::Right];
        let mut c = LivenessCheck::start(&cfg(), steps.clone(), Duration::ZERO);
        assert_eq!(
            session(&mut c, &steps, false, 0.1),
            Verdict::Failed(Failure::IdentityChanged)
        );
    }

    #[test]
    fn passive_mode_accepts_a_spontaneous_turn_and_denies_a_still_face() {
        let c = LivenessConfig {
            mode: Mode::Passive,
            ..cfg()
        };
        let mut check = LivenessCheck::start(&c, Vec::new(), Duration::ZERO);
        assert!(check.take_prompts().is_empty());
        assert_eq!(
            session(&mut check, &[Direction::Left], false, 0.9),
            Verdict::Passed
        );
        let mut check = LivenessCheck::start(&c, Vec::new(), Duration::ZERO);
        assert_eq!(
            session(&mut check, &[Direction::Left], true, 0.9),
            Verdict::TimedOut
        );
        let mut check = LivenessCheck::start(&c, Vec::new(), Duration::ZERO);
        assert_eq!(session(&mut check, &[], false, 0.9), Verdict::TimedOut);
    }

    #[test]
    fn a_face_too_small_to_measure_is_not_judged() {
        // The synthetic head's eyes are 60 px apart: below a floor of 80 px nothing is judged.
        let c = LivenessConfig {
            min_eye_distance_px: 80.0,
            ..cfg()
        };
        let steps = vec![Direction::Left, Direction::Right];
        let mut check = LivenessCheck::start(&c, steps.clone(), Duration::ZERO);
        assert_eq!(session(&mut check, &steps, false, 0.9), Verdict::TimedOut);
        assert_eq!(check.cues().len(), 1, "the timed-out step, never judged");
        assert!(!check.cues()[0].passed && check.cues()[0].turn_deg == 0.0);
        assert!(check.small_frames() > 20, "{}", check.small_frames());
        assert!(
            check.take_prompts().iter().any(|p| matches!(
                p,
                Prompt::Guide {
                    hint: Some(Hint::Closer),
                    ..
                }
            )),
            "a face too small to judge is asked to come closer"
        );
        let mut check = LivenessCheck::start(&cfg(), steps.clone(), Duration::ZERO);
        assert_eq!(session(&mut check, &steps, false, 0.9), Verdict::Passed);
        assert_eq!(check.small_frames(), 0);
    }

    /// Feeds `poses` (yaw, pitch in degrees) every 100 ms, the first at `(from + 1) × 100 ms`,
    /// and returns the guidance announced.
    fn guided(
        check: &mut LivenessCheck,
        poses: &[(f64, f64)],
        from: u32,
    ) -> Vec<(u8, Option<Hint>)> {
        let h = head(64);
        let mut out = Vec::new();
        for (k, &(y, p)) in poses.iter().enumerate() {
            let (y, p) = (y.to_radians(), p.to_radians());
            let mut points = view(&h, y, p, 600.0, 0.2);
            points.yaw_deg = y.to_degrees() as f32;
            points.pitch_deg = p.to_degrees() as f32;
            check.observe(Observation {
                at: (from + k as u32 + 1) * 100 * MS,
                points,
                identity_similarity: 0.9,
            });
            for pr in check.take_prompts() {
                if let Prompt::Guide { filled, hint, .. } = pr {
                    out.push((filled, hint));
                }
            }
        }
        out
    }

    #[test]
    fn the_arrow_fills_as_the_head_turns_and_a_stalled_turn_is_told_to_go_on() {
        let mut c = LivenessCheck::start(
            &cfg(),
            vec![Direction::Left, Direction::Right],
            Duration::ZERO,
        );
        // Centred, then a turn to the left that stops at 7° (of the 12 needed) and stays.
        let mut poses = vec![(0.0, 0.0), (0.0, 0.0), (3.0, 0.0), (5.0, 0.0), (7.0, 0.0)];
        poses.extend(std::iter::repeat_n((7.0, 0.0), 10));
        let g = guided(&mut c, &poses, 0);
        assert_eq!(
            g.first(),
            Some(&(1, None)),
            "3° of 12 fills a quarter: {g:?}"
        );
        assert!(g.contains(&(2, None)), "7° fills half: {g:?}");
        assert_eq!(g.last(), Some(&(2, Some(Hint::Further))), "{g:?}");
        assert_eq!(
            g.iter().filter(|x| x.1 == Some(Hint::Further)).count(),
            1,
            "announced once, not every frame: {g:?}"
        );
        // Going on: the hint clears as the turn grows again, and the step passes.
        let more = guided(&mut c, &[(10.0, 0.0)], poses.len() as u32);
        assert_eq!(more, vec![(3, None)]);
    }

    #[test]
    fn a_head_that_stays_turned_at_a_steps_start_is_asked_to_look_back() {
        // Step 1 answered by a turn to the left, and the head then kept there: step 2 never
        // starts from the camera.
        let mut c =
            LivenessCheck::start(&cfg(), vec![Direction::Left, Direction::Up], Duration::ZERO);
        let mut poses = vec![
            (0.0, 0.0),
            (5.0, 0.0),
            (10.0, 0.0),
            (15.0, 0.0),
            (20.0, 0.0),
        ];
        poses.extend(std::iter::repeat_n((20.0, 0.0), 14));
        let g = guided(&mut c, &poses, 0);
        assert!(
            c.verdict().is_none() && c.cues().len() == 1,
            "{:?}",
            c.cues()
        );
        assert!(g.contains(&(0, Some(Hint::FaceCamera))), "{g:?}");
        // A jitter-sized wobble after centring is no turn: no "further" for it.
        let mut c =
            LivenessCheck::start(&cfg(), vec![Direction::Up, Direction::Left], Duration::ZERO);
        let wobble = [(0.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 0.0), (1.0, 0.0)];
        let g = guided(&mut c, &[&wobble[..], &[(0.0, 0.0); 8]].concat(), 0);
        assert!(g.iter().all(|x| x.1.is_none()), "{g:?}");
    }

    fn strict() -> LivenessConfig {
        LivenessConfig {
            mode: Mode::Strict,
            ..cfg()
        }
    }

    #[test]
    fn strict_passes_when_the_infrared_camera_sees_the_face_too() {
        use super::nir::{Finding, State};
        let steps = vec![Direction::Left, Direction::Down];
        let mut c = LivenessCheck::start(&strict(), steps.clone(), Duration::ZERO);
        assert!(c.wants_infrared());
        let face =
            |c: &mut LivenessCheck, t| c.observe_infrared(t, Some(Finding::Face { iou: 0.8 }));
        assert_eq!(
            session_with(&mut c, &steps, false, 0.9, face),
            Verdict::Passed
        );
        let ir = c.infrared_cues().unwrap();
        assert_eq!(ir.state, State::Confirmed);
        assert!(ir.with_face >= 2 && ir.with_face == ir.frames, "{ir:?}");
        assert!(!c.wants_infrared());
    }

    #[test]
    fn strict_vetoes_a_face_the_infrared_camera_does_not_see() {
        let steps = vec![Direction::Left, Direction::Right];
        let mut c = LivenessCheck::start(&strict(), steps.clone(), Duration::ZERO);
        let screen = |c: &mut LivenessCheck, t| {
            c.observe_infrared(t, Some(super::nir::Finding::NoFace { best_iou: 0.0 }))
        };
        // A screen replaying the asked turns: the colour frames would pass, the infrared
        // frames show no face.
        assert_eq!(
            session_with(&mut c, &steps, false, 0.9, screen),
            Verdict::Failed(Failure::NoInfraredFace)
        );
        assert_eq!(c.infrared_cues().unwrap().frames, cfg().nir_veto_frames);
    }

    #[test]
    fn strict_waits_for_the_infrared_camera_and_fails_without_it() {
        let steps = vec![Direction::Up, Direction::Left];
        let mut c = LivenessCheck::start(&strict(), steps.clone(), Duration::ZERO);
        let lost = |c: &mut LivenessCheck, t| c.observe_infrared(t, None);
        assert_eq!(
            session_with(&mut c, &steps, false, 0.9, lost),
            Verdict::Failed(Failure::InfraredUnavailable)
        );
        // Both steps were answered; only the infrared confirmation was missing.
        assert_eq!(c.cues().iter().filter(|s| s.passed).count(), 2);
        assert!(c.infrared_cues().unwrap().unmatched > 0);
        // Challenge mode takes no infrared frames at all.
        let mut c = LivenessCheck::start(&cfg(), steps.clone(), Duration::ZERO);
        assert!(!c.wants_infrared());
        assert_eq!(
            session_with(&mut c, &steps, false, 0.9, lost),
            Verdict::Passed
        );
        assert!(c.infrared_cues().is_none());
    }

    #[test]
    fn off_passes_at_once() {
        let c = LivenessConfig {
            mode: Mode::Off,
            ..cfg()
        };
        assert_eq!(
            LivenessCheck::start(&c, Vec::new(), Duration::ZERO).verdict(),
            Some(Verdict::Passed)
        );
    }

    #[test]
    fn challenges_are_drawn_from_the_configured_directions_and_never_repeat() {
        use rand::SeedableRng;
        let c = LivenessConfig {
            directions: vec![Direction::Left, Direction::Right],
            ..cfg()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut previous = draw_with(&c, None, &mut rng);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let next = draw_with(&c, Some(&previous), &mut rng);
            assert_ne!(next, previous);
            assert_eq!(next.len(), 2);
            assert!(next.iter().all(|d| c.directions.contains(d)));
            seen.insert(next.clone());
            previous = next;
        }
        assert_eq!(seen.len(), 4, "all 2×2 challenges are drawn");
        assert_eq!(draw(&cfg(), None).len(), 2);
    }
}

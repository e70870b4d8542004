//! The door loop's rules, one frame at a time: detect → tracks → analyse the faces that can act
//! → decide on the closest person's track.
//!
//! Time is the camera's: every rule (track grace, confirmation, cooldown, the two-person
//! window) runs on frame timestamps (CLOCK_MONOTONIC), so a test drives the loop with scripted
//! frames on a paused clock and production is immune to wall-clock jumps. Wall-clock time is
//! used only for grant validity.
//!
//! Who acts: the track of the closest person ([`closeness`]: the largest face, discounted off
//! centre). Its identity must hold for `pipeline.min_consecutive` analysed frames (an
//! unrecognised face for `pipeline.unknown_after_frames`) before anything happens, and a second
//! face never counts for it: an enrolled doctor beside a larger stranger opens nothing. At a
//! `staff_with_patient` door the two closest faces are analysed, each on its own track: staff
//! and patient in view together decide at once; a staff member alone opens a window of
//! `access.two_person_timeout_secs` that the patient's track completes, and that ends as a
//! `patient_timeout` denial when nobody comes.
//!
//! What is searched: each analysed frame's embedding averaged, weighted by quality, with the
//! track's few previous frames of the same face (`pipeline.aggregate_frames`), so one blurred
//! or turned frame neither makes nor breaks an identity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::access::decider::FrameTimings;
use crate::camera::{Frame, FrameHistory};
use crate::catalog::{Catalog, Snapshot};
use crate::model::{DoorMode, Role};

use crate::access::decider::Liveness;
use crate::access::policy::Reason;
use crate::liveness::{
    nir, Direction, FacePoints, Failure, LivenessCheck, LivenessConfig, Mode, Verdict,
};
use crate::presentation::{DoorPrompt, PromptBoard};

use super::act::{Acted, Actor, DecisionInput, Presented};
use super::analyser::FaceAnalyser;
use super::stage_stats::{Stage, StageStats};
use super::tracks::{closeness, FaceAnalysis, Track, Tracker, TrackerConfig};
use super::PipelineConfig;

/// How often the stage percentiles are logged (at debug level), in camera time.
const STATS_LOG_EVERY: Duration = Duration::from_secs(60);

/// What one frame led to; for tests and the latency benchmark.
#[derive(Debug, Default)]
pub struct FrameReport {
    /// Faces detected.
    pub faces: usize,
    /// The closest person's track, if any face was seen.
    pub closest_track: Option<u64>,
    /// Decisions recorded while handling the frame (a timed-out session included).
    pub decisions: Vec<Acted>,
}

/// A staff member at a two-person door waiting for the patient.
#[derive(Debug, Clone)]
struct PendingStaff {
    presented: Presented,
    liveness: Option<Liveness>,
    since: Duration,
}

/// The door loop's state between frames.
pub struct LoopCore {
    cfg: PipelineConfig,
    analyser: Arc<dyn FaceAnalyser>,
    catalog: Arc<Catalog>,
    actor: Actor,
    door_id: String,
    tracker: Tracker,
    /// Who is not decided again before when: subject id, or `None` for unrecognised faces.
    cooldown: HashMap<Option<String>, Duration>,
    pending: Option<PendingStaff>,
    two_person_timeout: Duration,
    stats: Arc<StageStats>,
    stats_logged: Option<Duration>,
    liveness: LivenessConfig,
    /// Where the challenge is shown (door display, scripted camera).
    prompts: PromptBoard,
    /// The last challenge drawn: the next one differs, so a recording of one presentation
    /// does not answer the next.
    last_challenge: Option<Vec<Direction>>,
    /// Draws the challenges: the OS CSPRNG, or a seeded generator in tests.
    rng: Box<dyn rand::RngCore + Send>,
    /// `strict`: the near-infrared camera's last frames.
    infrared: Option<Arc<FrameHistory>>,
    /// Least cosine similarity of a frame's embedding with the track's earlier ones for them
    /// to be averaged together (`matching::calibration::same_face_threshold`), so a second
    /// person stepping into a track is not averaged with the first.
    same_face: f32,
    /// The analyser's quality limits, which weigh a track's frames in the average.
    quality_limits: crate::vision::quality::QualityLimits,
}

impl LoopCore {
    pub fn new(
        cfg: PipelineConfig,
        liveness: LivenessConfig,
        analyser: Arc<dyn FaceAnalyser>,
        actor: Actor,
        two_person_timeout: Duration,
    ) -> Self {
        let tracker = Tracker::new(TrackerConfig {
            min_iou: cfg.track_iou,
            grace: Duration::from_millis(cfg.track_grace_ms),
        });
        let same_face = crate::matching::calibration::same_face_threshold(actor.catalog.model_id());
        Self {
            same_face,
            quality_limits: analyser.quality_limits(),
            door_id: actor.door_id.clone(),
            catalog: Arc::clone(&actor.catalog),
            stats: Arc::clone(&actor.stats),
            cfg,
            analyser,
            actor,
            tracker,
            cooldown: HashMap::new(),
            pending: None,
            two_person_timeout,
            stats_logged: None,
            liveness,
            prompts: PromptBoard::new(),
            last_challenge: None,
            rng: Box::new(rand::rngs::OsRng),
            infrared: None,
        }
    }

    /// Cross-checks challenged faces against the near-infrared camera's frames (`strict`).
    #[must_use]
    pub fn with_infrared(mut self, frames: Arc<FrameHistory>) -> Self {
        self.infrared = Some(frames);
        self
    }

    /// Draws challenges from a generator seeded with `seed` instead of the OS CSPRNG, so a
    /// test knows which challenge comes (never for a door in service: a predictable challenge
    /// is one a prepared replay answers).
    #[must_use]
    pub fn with_challenge_seed(mut self, seed: u64) -> Self {
        use rand::SeedableRng;
        self.rng = Box::new(rand::rngs::StdRng::seed_from_u64(seed));
        self
    }

    /// Publishes the door's prompts on `board` instead of a private one.
    #[must_use]
    pub fn with_prompts(mut self, board: PromptBoard) -> Self {
        self.prompts = board;
        self
    }

    /// The board the loop publishes its prompts on.
    pub fn prompts(&self) -> &PromptBoard {
        &self.prompts
    }

    /// Least cosine similarity of two frames of one track for them to be the same face.
    pub fn same_face(&self) -> f32 {
        self.same_face
    }

    /// The live tracks (for diagnostics and the liveness challenge).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// A loop turn without a frame: tracks expire and a two-person window may time out.
    pub async fn on_idle(&mut self, now: Duration) -> FrameReport {
        self.tracker.expire(now);
        self.prompts.presence(!self.tracker.tracks().is_empty());
        for t in self.tracker.tracks_mut() {
            if let Some(c) = t.liveness.as_mut() {
                c.tick(now);
            }
        }
        let mut report = FrameReport::default();
        self.expire_pending(now, &mut report).await;
        report
    }

    /// Handles one camera frame.
    pub async fn on_frame(&mut self, frame: &Frame) -> FrameReport {
        let now = frame.timestamp;
        let mut report = FrameReport::default();
        let started = Instant::now();
        let Some(img) = RgbImage::from_raw(frame.width, frame.height, frame.data.to_vec()) else {
            return report;
        };
        self.stats.record(Stage::Decode, started.elapsed());
        let started = Instant::now();
        let detections = match self.analyser.detect(&img) {
            Ok(d) => d,
            Err(e) => {
                log::error!("face detection failed: {e:#}");
                return report;
            }
        };
        let detect_time = started.elapsed();
        self.stats.record(Stage::Detect, detect_time);
        let ids = self.tracker.update(now, frame.sequence, detections);
        report.faces = ids.len();
        // Tracks outlive a missed detection or two, so a blink of the detector does not
        // clear the display mid-challenge.
        self.prompts.presence(!self.tracker.tracks().is_empty());
        self.expire_pending(now, &mut report).await;
        self.cooldown.retain(|_, until| *until > now);
        let mut order: Vec<(f32, u64)> = ids
            .iter()
            .filter_map(|&id| self.tracker.get(id))
            .map(|t| {
                (
                    closeness(&t.latest().detection, img.width(), img.height()),
                    t.id,
                )
            })
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        let Some(&(_, closest)) = order.first() else {
            self.log_stats(now);
            return report;
        };
        report.closest_track = Some(closest);
        let snap = self.catalog.snapshot();
        let two_person =
            snap.directory.door(&self.door_id).map(|d| d.mode) == Some(DoorMode::StaffWithPatient);
        let acting: Vec<u64> = order
            .iter()
            .take(if two_person { 2 } else { 1 })
            .map(|&(_, id)| id)
            .collect();
        for &id in &acting {
            self.analyse_track(&img, &snap, id, frame.sequence, detect_time);
        }
        self.advance_liveness(now, (img.width(), img.height()), &acting);
        if two_person {
            self.two_person(now, &acting, &snap, &mut report).await;
        } else {
            self.one_person(now, closest, &mut report).await;
        }
        self.log_stats(now);
        report
    }

    /// Analyses the face of track `id` in this frame (`sequence`, detected in `detect_time`).
    fn analyse_track(
        &mut self,
        img: &RgbImage,
        snap: &Snapshot,
        id: u64,
        sequence: u64,
        detect_time: Duration,
    ) {
        let Some(track) = self.tracker.get_mut(id) else {
            return;
        };
        let det = track.latest().detection.clone();
        let face = match self.analyser.analyse(img, &det) {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                log::error!("face analysis failed: {e:#}");
                return;
            }
        };
        self.stats.record(Stage::Landmarks, face.landmarks_time);
        self.stats.record(Stage::Align, face.align_time);
        self.stats.record(Stage::Embed, face.embed_time);
        let started = Instant::now();
        let probe = track_probe(
            track,
            &face,
            self.cfg.aggregate_frames,
            self.same_face,
            &self.quality_limits,
        );
        let rec = match self.catalog.recognise(snap, &probe) {
            Ok(r) => r,
            Err(e) => {
                log::error!("gallery search refused the embedding: {e}");
                return;
            }
        };
        let match_time = started.elapsed();
        self.stats.record(Stage::Match, match_time);
        let before = track.streak.who.clone();
        track.analysed(FaceAnalysis {
            mesh: face.mesh,
            embedding: face.embedding,
            quality: face.quality,
            best: rec.best,
            accepted: rec.accepted,
            timings: FrameTimings {
                track: id,
                frame: sequence,
                detect_ms: FrameTimings::ms(detect_time),
                mesh_ms: FrameTimings::ms(face.landmarks_time),
                align_ms: FrameTimings::ms(face.align_time),
                embed_ms: FrameTimings::ms(face.embed_time),
                match_ms: FrameTimings::ms(match_time),
            },
        });
        if track.streak.who != before {
            // Another identity: whatever was checked belonged to the previous one.
            track.liveness = None;
            track.identity_embedding = None;
        }
    }

    /// Starts, feeds and times the liveness checks of the acting tracks; one challenge runs
    /// at a time (the display shows one prompt), the closest person's first.
    fn advance_liveness(&mut self, now: Duration, size: (u32, u32), acting: &[u64]) {
        if self.liveness.mode == Mode::Off {
            return;
        }
        let started = Instant::now();
        let mut running = self
            .tracker
            .tracks()
            .iter()
            .any(|t| t.liveness.as_ref().is_some_and(|c| c.verdict().is_none()));
        for &id in acting {
            let needed = self.cfg.min_consecutive;
            let cooling = |who: &Option<String>| self.cooldown.contains_key(who);
            let Some(track) = self.tracker.get(id) else {
                continue;
            };
            let identified = track
                .streak
                .who
                .as_ref()
                .is_some_and(|w| w.is_some() && !cooling(w));
            let start =
                identified && track.liveness.is_none() && track.streak.frames >= needed && !running;
            let Some(track) = self.tracker.get_mut(id) else {
                continue;
            };
            if start {
                let steps = if self.liveness.mode.challenges() {
                    crate::liveness::check::draw_with(
                        &self.liveness,
                        self.last_challenge.as_deref(),
                        &mut self.rng,
                    )
                } else {
                    Vec::new()
                };
                if !steps.is_empty() {
                    self.last_challenge = Some(steps.clone());
                }
                track.liveness = Some(LivenessCheck::start(&self.liveness, steps, now));
                track.identity_embedding = track.latest_analysis().map(|a| a.embedding.clone());
                running = true;
            }
            let fresh = track
                .latest()
                .analysis
                .as_ref()
                .filter(|_| track.latest().at == now);
            let obs = match (fresh, track.identity_embedding.as_deref()) {
                (Some(a), Some(reference)) => {
                    FacePoints::from_mesh(&a.mesh).map(|points| crate::liveness::Observation {
                        at: now,
                        points,
                        identity_similarity: crate::vision::fusion::primary_cosine(
                            reference,
                            &a.embedding,
                        ),
                    })
                }
                _ => None,
            };
            let presented = track.latest().detection.clone();
            let Some(check) = track.liveness.as_mut() else {
                continue;
            };
            let observed = obs.is_some();
            match obs {
                Some(o) => check.observe(o),
                None => check.tick(now),
            }
            if observed && check.wants_infrared() {
                let finding = infrared_finding(
                    self.infrared.as_ref(),
                    self.analyser.as_ref(),
                    &self.liveness,
                    now,
                    (&presented, size),
                );
                check.observe_infrared(now, finding);
            }
            for p in check.take_prompts() {
                self.prompts.announce(p.into());
            }
        }
        self.stats.record(Stage::Liveness, started.elapsed());
    }

    /// The identity a track has held long enough to act on, if it is not cooling down and
    /// its liveness check (for a recognised face) has come to a verdict.
    fn confirmed(&self, track: &Track) -> Option<Option<String>> {
        let who = track.streak.who.as_ref()?;
        let needed = if who.is_some() {
            self.cfg.min_consecutive
        } else {
            self.cfg.unknown_after_frames
        };
        let checked = who.is_none()
            || self.liveness.mode == Mode::Off
            || track
                .liveness
                .as_ref()
                .is_some_and(|c| c.verdict().is_some());
        (track.streak.frames >= needed && checked && !self.cooldown.contains_key(who))
            .then(|| who.clone())
    }

    fn presented(track: &Track) -> Presented {
        Presented {
            subject_id: track.streak.who.clone().flatten(),
            similarity: track.latest_analysis().and_then(FaceAnalysis::similarity),
            track_id: track.id,
            frames: track.presentation_timings(),
        }
    }

    /// The track's liveness verdict as the decision records it (`None`: not checked).
    fn liveness(&self, track: &Track, now: Duration) -> Option<Liveness> {
        let check = track.liveness.as_ref()?;
        let verdict = check.verdict()?;
        let (name, cause) = match verdict {
            Verdict::Passed => ("passed", None),
            Verdict::Failed(f) => ("failed", Some(f)),
            Verdict::TimedOut => ("timed_out", None),
        };
        let mut details = serde_json::json!({
            "method": check.mode().as_str(),
            "challenge": check.challenge(),
            "verdict": name,
            "cause": cause,
            "cues": check.cues(),
            "took_ms": check.elapsed_ms(now),
            "frames_too_small": check.small_frames(),
        });
        if let Some(ir) = check.infrared_cues() {
            details["infrared"] = serde_json::json!(ir);
        }
        Some(match verdict {
            Verdict::Passed => Liveness::passed(details),
            Verdict::Failed(Failure::NoInfraredFace) => {
                Liveness::failed(Reason::SpoofSuspected, details)
            }
            Verdict::Failed(_) => Liveness::failed(Reason::LivenessFailed, details),
            Verdict::TimedOut => Liveness::failed(Reason::LivenessTimeout, details),
        })
    }

    /// Starts `who`'s cooldown, and forgets the liveness result of every track that held
    /// that identity: after the cooldown a person still standing there is checked afresh.
    fn cool(&mut self, who: Option<String>, now: Duration) {
        for t in self.tracker.tracks_mut() {
            if t.streak.who.as_ref() == Some(&who) {
                t.liveness = None;
                t.identity_embedding = None;
            }
        }
        self.cooldown
            .insert(who, now + Duration::from_secs(self.cfg.cooldown_secs));
    }

    fn input(&self, frame_at: Duration) -> DecisionInput {
        DecisionInput {
            door_id: self.door_id.clone(),
            staff: None,
            patient: None,
            patient_timed_out: false,
            liveness: None,
            patient_liveness: None,
            frame_at,
            now_ms: self.actor.clock.now_ms(),
        }
    }

    async fn act(&mut self, input: DecisionInput, report: &mut FrameReport) {
        let acted = self.actor.decide_and_act(input).await;
        self.prompts.announce(DoorPrompt::Decided {
            granted: acted.decision.granted,
            reason: acted.decision.reason,
        });
        report.decisions.push(acted);
    }

    /// A `staff` door (or an unknown one): the closest person's track alone decides.
    async fn one_person(&mut self, now: Duration, closest: u64, report: &mut FrameReport) {
        let Some(track) = self.tracker.get(closest) else {
            return;
        };
        let Some(who) = self.confirmed(track) else {
            return;
        };
        let input = DecisionInput {
            staff: Some(Self::presented(track)),
            liveness: self.liveness(track, now),
            ..self.input(now)
        };
        self.cool(who, now);
        self.act(input, report).await;
    }

    /// A `staff_with_patient` door: the two closest tracks, each verified on its own.
    async fn two_person(
        &mut self,
        now: Duration,
        acting: &[u64],
        snap: &Snapshot,
        report: &mut FrameReport,
    ) {
        let role = |who: &Option<String>| {
            who.as_deref()
                .and_then(|id| snap.directory.subject(id))
                .map(|s| s.role)
        };
        let tracks: Vec<&Track> = acting
            .iter()
            .filter_map(|&id| self.tracker.get(id))
            .collect();
        let confirmed: Vec<(&Track, Option<String>)> = tracks
            .iter()
            .filter_map(|t| self.confirmed(t).map(|who| (*t, who)))
            .collect();
        let patient = confirmed
            .iter()
            .find(|(_, w)| role(w) == Some(Role::Patient));
        let staff = confirmed
            .iter()
            .find(|(_, w)| role(w).is_some_and(Role::is_clinical));
        let closest = tracks.first().map(|t| t.id);
        if let Some((p, pw)) = patient {
            let (p, pw) = (*p, pw.clone());
            if let Some((s, sw)) = staff {
                // Both in view, each confirmed on its own track.
                let input = DecisionInput {
                    staff: Some(Self::presented(s)),
                    liveness: self.liveness(s, now),
                    patient: Some(Self::presented(p)),
                    patient_liveness: self.liveness(p, now),
                    ..self.input(now)
                };
                let sw = sw.clone();
                self.pending = None;
                self.cool(sw, now);
                self.cool(pw, now);
                self.act(input, report).await;
                return;
            }
            if let Some(pending) = self.pending.take() {
                let input = DecisionInput {
                    staff: Some(pending.presented),
                    liveness: pending.liveness,
                    patient: Some(Self::presented(p)),
                    patient_liveness: self.liveness(p, now),
                    ..self.input(now)
                };
                self.cool(pw, now);
                self.act(input, report).await;
                return;
            }
            // A patient in front with nobody else in view: denied. With a second face still
            // being recognised, wait for it.
            if Some(p.id) == closest && tracks.len() == 1 {
                let input = DecisionInput {
                    patient: Some(Self::presented(p)),
                    patient_liveness: self.liveness(p, now),
                    ..self.input(now)
                };
                self.cool(pw, now);
                self.act(input, report).await;
                return;
            }
        }
        let Some(track) = tracks.first() else {
            return;
        };
        let Some(who) = self.confirmed(track) else {
            return;
        };
        if role(&who) == Some(Role::Patient) {
            return; // handled above; waiting for the second face
        }
        if role(&who).is_some_and(Role::is_clinical) {
            if self.pending.as_ref().map(|p| &p.presented.subject_id) == Some(&who) {
                return; // already waiting for this staff member's patient
            }
            let presented = Self::presented(track);
            let liveness = self.liveness(track, now);
            self.pending = Some(PendingStaff {
                presented: presented.clone(),
                liveness,
                since: now,
            });
            self.cool(who, now);
            self.actor.awaiting_patient(&self.door_id, &presented).await;
            return;
        }
        // Unrecognised, or staff who may not accompany a patient: the policy says why not.
        let input = DecisionInput {
            staff: Some(Self::presented(track)),
            liveness: self.liveness(track, now),
            ..self.input(now)
        };
        self.cool(who, now);
        self.act(input, report).await;
    }

    async fn expire_pending(&mut self, now: Duration, report: &mut FrameReport) {
        let expired = self
            .pending
            .as_ref()
            .is_some_and(|p| now.saturating_sub(p.since) >= self.two_person_timeout);
        if !expired {
            return;
        }
        let Some(p) = self.pending.take() else {
            return;
        };
        let input = DecisionInput {
            staff: Some(p.presented),
            liveness: p.liveness,
            patient_timed_out: true,
            ..self.input(now)
        };
        self.act(input, report).await;
    }

    fn log_stats(&mut self, now: Duration) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        if self
            .stats_logged
            .is_some_and(|at| now.saturating_sub(at) < STATS_LOG_EVERY)
        {
            return;
        }
        self.stats_logged = Some(now);
        log::debug!(
            "door loop stages (p50/p95/p99): {}",
            self.stats.snapshot().log_line()
        );
    }
}

/// What the infrared frame nearest to camera time `now` says about the face `presented` (in a
/// colour frame of `size`): `None` when there is no infrared frame of that moment.
fn infrared_finding(
    frames: Option<&Arc<FrameHistory>>,
    analyser: &dyn FaceAnalyser,
    cfg: &LivenessConfig,
    now: Duration,
    presented: (&crate::vision::detect::Detection, (u32, u32)),
) -> Option<nir::Finding> {
    let frame = frames?.nearest(now)?;
    nir::examine(&frame, now, presented, cfg, |img| analyser.detect(img)).unwrap_or_else(|e| {
        log::error!("face detection in the infrared frame failed: {e:#}");
        None
    })
}

/// What the gallery is searched with for `face`, the newest analysed frame of `track`: the
/// quality-weighted mean of its embedding and those of up to `frames - 1` earlier analysed
/// frames of the track, newest first, stopping at the first that is not the same face
/// (cosine below `same_face`). One frame is noisy (blur, a turned head, an expression); the
/// mean of a few is closer to the person's template, and a poor frame counts for less.
fn track_probe(
    track: &Track,
    face: &super::analyser::AnalysedFace,
    frames: usize,
    same_face: f32,
    limits: &crate::vision::quality::QualityLimits,
) -> Vec<f32> {
    use crate::matching::{aggregate, quality_weight};
    if frames <= 1 {
        return face.embedding.clone();
    }
    let mut samples: Vec<(&[f32], f32)> =
        vec![(&face.embedding, quality_weight(&face.quality, limits))];
    for earlier in track
        .history
        .iter()
        .rev()
        .filter_map(|o| o.analysis.as_ref())
    {
        if samples.len() >= frames {
            break;
        }
        if crate::vision::embed::cosine(&earlier.embedding, &face.embedding) < same_face {
            break;
        }
        samples.push((&earlier.embedding, quality_weight(&earlier.quality, limits)));
    }
    aggregate(&samples).unwrap_or_else(|| face.embedding.clone())
}

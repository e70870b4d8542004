//! The door loop: camera frames → faces → decisions → door + events.
//!
//! Runs on its own OS thread (inference is CPU-bound and must not stall the async API), always
//! on the newest frame (the capture hands over only the latest one). A face must be recognised
//! as the same subject in `min_consecutive` frames before anything happens — one lucky frame
//! opens nothing — then the liveness model checks it once per presentation (it is ~10× the cost
//! of an embedding). At `staff_with_patient` doors the staff member's presentation opens a
//! two-person session that the patient's face completes. After a decision the same person is
//! ignored for `cooldown_secs`, so someone standing at the door is not decided 15 times a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::access::decider::{Channel, Decider, Face, Liveness, Patient, Presentation, Request};
use crate::access::two_person::{Step, TwoPersonSession};
use crate::camera::{wait_for_frame, FrameWatch};
use crate::catalog::Catalog;
use crate::config::ConfigError;
use crate::door::DoorHandle;
use crate::events::EventSink;
use crate::model::{now_ms, DoorMode, Role};
use crate::vision::engine::{Engine, StageTimings};

/// `[pipeline]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Run the camera door loop in `wardgate run` (off: API, terminals and door inputs only).
    pub enabled: bool,
    /// Consecutive frames that must recognise the same subject before deciding.
    pub min_consecutive: u32,
    /// Consecutive frames with an unrecognised face before an `unknown_staff` denial is recorded.
    pub unknown_after_frames: u32,
    /// Seconds during which a decided person (or an unknown face) is not decided again.
    pub cooldown_secs: u64,
    /// Deny presentations the anti-spoofing model flags (the score is recorded either way).
    /// Off by default: the bundled model flags half the genuine fixture photos.
    pub require_liveness: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_consecutive: 2,
            unknown_after_frames: 5,
            cooldown_secs: 5,
            require_liveness: false,
        }
    }
}

impl PipelineConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.min_consecutive == 0 || self.min_consecutive > 100 {
            return bad("pipeline.min_consecutive", "must be between 1 and 100");
        }
        if self.unknown_after_frames == 0 || self.unknown_after_frames > 1000 {
            return bad(
                "pipeline.unknown_after_frames",
                "must be between 1 and 1000",
            );
        }
        if self.cooldown_secs > 3600 {
            return bad("pipeline.cooldown_secs", "must be at most 3600");
        }
        Ok(())
    }
}

/// What the loop needs from the rest of the firmware.
pub struct LoopParts {
    pub engine: Arc<Engine>,
    pub catalog: Arc<Catalog>,
    pub frames: FrameWatch,
    pub door: DoorHandle,
    pub events: EventSink,
    pub runtime: tokio::runtime::Handle,
    pub two_person_timeout: Duration,
    /// Called once per loop turn (per frame or per idle wait): the watchdog's heartbeat.
    pub heartbeat: Box<dyn Fn() + Send>,
}

/// A running door loop; dropping it does not stop it, [`DoorLoop::stop`] does.
pub struct DoorLoop {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DoorLoop {
    pub fn spawn(cfg: PipelineConfig, parts: LoopParts) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("wardgate-door-loop".into())
            .spawn(move || run(cfg, parts, &flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Who the loop has been seeing: `Some(subject)` or `None` for an unrecognised face.
#[derive(Debug, Default)]
struct Streak {
    who: Option<Option<String>>,
    frames: u32,
}

impl Streak {
    fn see(&mut self, who: Option<String>) -> u32 {
        if self.who.as_ref() == Some(&who) {
            self.frames += 1;
        } else {
            self.who = Some(who);
            self.frames = 1;
        }
        self.frames
    }

    fn reset(&mut self) {
        self.who = None;
        self.frames = 0;
    }
}

fn run(cfg: PipelineConfig, mut p: LoopParts, stop: &AtomicBool) {
    let door_id = p.door.id().to_owned();
    let decider = Decider::new(
        Arc::clone(&p.catalog),
        Some(p.door.clone()),
        p.events.clone(),
    );
    let mut streak = Streak::default();
    let mut cooldown: HashMap<Option<String>, Instant> = HashMap::new();
    let cooldown_for = Duration::from_secs(cfg.cooldown_secs);
    let mut session =
        TwoPersonSession::new(i64::try_from(p.two_person_timeout.as_millis()).unwrap_or(30_000));
    log::info!("door loop started for door {door_id}");
    while !stop.load(Ordering::SeqCst) {
        (p.heartbeat)();
        let Some(frame) = wait_for_frame(&mut p.frames, Duration::from_millis(150)) else {
            continue;
        };
        let Some(img) = RgbImage::from_raw(frame.width, frame.height, frame.data.to_vec()) else {
            continue;
        };
        let sample = match p.engine.analyze_frame(&img, StageTimings::default()) {
            Ok(s) => s,
            Err(r) => {
                // No face (or several): whoever was there has left.
                if r.code == "no_face" {
                    streak.reset();
                }
                continue;
            }
        };
        let snap = p.catalog.snapshot();
        let Ok(rec) = p.catalog.recognise(&snap, &sample.embedding) else {
            continue;
        };
        let who = rec
            .best
            .as_ref()
            .filter(|_| rec.accepted)
            .map(|m| m.subject_id.to_string());
        let frames = streak.see(who.clone());
        let needed = if who.is_some() {
            cfg.min_consecutive
        } else {
            cfg.unknown_after_frames
        };
        if frames != needed {
            continue;
        }
        cooldown.retain(|_, until| *until > Instant::now());
        if cooldown.contains_key(&who) {
            continue;
        }
        cooldown.insert(who.clone(), Instant::now() + cooldown_for);
        let similarity = rec.best.as_ref().map(|m| m.similarity);
        // Deciding, unlocking and recording: all through the decision service.
        let decide = |req: Request| p.runtime.block_on(decider.decide_in(&snap.directory, req));
        let Some(subject) = who.as_deref().and_then(|id| snap.directory.subject(id)) else {
            decide(Request::new(
                Channel::Camera,
                &door_id,
                Face::unknown(similarity),
                now_ms(),
            ));
            continue;
        };
        let score = match p.engine.liveness_score(&img, &sample.detection) {
            Ok(score) => Some(score),
            Err(e) => {
                log::error!("liveness check failed: {e}");
                None
            }
        };
        let liveness = Liveness {
            score,
            passed: !cfg.require_liveness || score.is_some_and(|s| !p.engine.is_attack(s)),
        };
        let sim = similarity.unwrap_or(0.0);
        let face = Face::identified(&subject.id, sim);
        let now = now_ms();
        let mut req = Request::new(Channel::Camera, &door_id, face.clone(), now);
        req.liveness = Some(liveness);
        if !liveness.passed {
            log::warn!("door {door_id}: presentation attack suspected (liveness {score:?})");
            decide(req);
            continue;
        }
        let mode = snap.directory.door(&door_id).map(|d| d.mode);
        match (mode, subject.role) {
            (Some(DoorMode::StaffWithPatient), Role::Patient) => {
                match session.patient_seen(&subject.id, now) {
                    Step::Decide {
                        staff_id,
                        staff_similarity,
                        ..
                    } => req.staff = Face::identified(&staff_id, staff_similarity),
                    Step::PatientWithoutStaff { .. } | Step::AwaitPatient => {
                        req.staff = Face::unknown(None);
                    }
                }
                req.patient = Patient::Presented(face);
                decide(req);
            }
            (Some(DoorMode::StaffWithPatient), role) if role.is_clinical() => {
                session.staff_seen(&subject.id, sim, now);
                log::info!(
                    "door {door_id}: staff {} recognised, waiting for the patient",
                    subject.id
                );
                p.runtime.block_on(decider.presentation(
                    Channel::Camera,
                    &door_id,
                    Presentation::AwaitingPatient,
                    &face,
                ));
            }
            _ => {
                decide(req);
            }
        }
    }
    log::info!("door loop stopped");
}

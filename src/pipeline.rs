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

use crate::access::policy::{decide, Decision, Identified, Reason};
use crate::access::two_person::{Step, TwoPersonSession};
use crate::audit::EventDraft;
use crate::camera::{wait_for_frame, FrameWatch};
use crate::catalog::Catalog;
use crate::config::ConfigError;
use crate::door::DoorHandle;
use crate::events::EventSink;
use crate::model::{now_ms, DoorMode, Role, Subject};
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
    /// The console's Live view, told what each analysed frame showed (face box, quality).
    pub live: Option<Arc<crate::console::live::LiveView>>,
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
        let analysed = p.engine.analyze_frame(&img, StageTimings::default());
        if let Some(live) = &p.live {
            crate::console::live::observe(live, &p.engine, &frame, analysed.as_ref());
        }
        let sample = match analysed {
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
        let Some(subject) = who.as_deref().and_then(|id| snap.directory.subject(id)) else {
            record(
                &p,
                &door_id,
                Decision {
                    granted: false,
                    reason: Reason::UnknownStaff,
                },
                None,
                None,
                similarity,
                None,
            );
            continue;
        };
        let liveness = match p.engine.liveness_score(&img, &sample.detection) {
            Ok(score) => Some(score),
            Err(e) => {
                log::error!("liveness check failed: {e}");
                None
            }
        };
        if cfg.require_liveness && liveness.is_none_or(|s| p.engine.is_attack(s)) {
            log::warn!("door {door_id}: presentation attack suspected (liveness {liveness:?})");
            let deny = Decision {
                granted: false,
                reason: Reason::SpoofSuspected,
            };
            record(
                &p,
                &door_id,
                deny,
                Some((subject, similarity)),
                None,
                similarity,
                liveness,
            );
            continue;
        }
        let sim = similarity.unwrap_or(0.0);
        let now = now_ms();
        let mode = snap.directory.door(&door_id).map(|d| d.mode);
        let (decision, staff, patient) = match (mode, subject.role) {
            (Some(DoorMode::StaffWithPatient), Role::Patient) => {
                match session.patient_seen(&subject.id, now) {
                    Step::Decide { staff_id, .. } => {
                        let staff = snap.directory.subject(&staff_id);
                        let d = decide(
                            &snap.directory,
                            &door_id,
                            staff.map(|s| Identified {
                                subject: s,
                                similarity: 1.0,
                            }),
                            Some(Identified {
                                subject,
                                similarity: sim,
                            }),
                            true,
                            now,
                        );
                        (d, staff, Some(subject))
                    }
                    _ => (
                        Decision {
                            granted: false,
                            reason: Reason::UnknownStaff,
                        },
                        None,
                        Some(subject),
                    ),
                }
            }
            (Some(DoorMode::StaffWithPatient), role) if role.is_clinical() => {
                session.staff_seen(&subject.id, now);
                log::info!(
                    "door {door_id}: staff {} recognised, waiting for the patient",
                    subject.id
                );
                p.runtime.block_on(p.events.emit(EventDraft {
                    kind: "presentation".into(),
                    door_id: Some(door_id.clone()),
                    subject_id: Some(subject.id.clone()),
                    reason: "awaiting_patient".into(),
                    details: serde_json::json!({"channel": "camera", "staff_similarity": sim}),
                    ..Default::default()
                }));
                continue;
            }
            _ => (
                decide(
                    &snap.directory,
                    &door_id,
                    Some(Identified {
                        subject,
                        similarity: sim,
                    }),
                    None,
                    false,
                    now,
                ),
                Some(subject),
                None,
            ),
        };
        let decision = if decision.granted {
            match p.runtime.block_on(p.door.unlock_for_access("face")) {
                Ok(_) => decision,
                Err(e) => {
                    log::warn!("door {door_id}: granted but not unlocked: {e}");
                    Decision {
                        granted: false,
                        reason: Reason::Lockdown,
                    }
                }
            }
        } else {
            decision
        };
        record(
            &p,
            &door_id,
            decision,
            staff.map(|s| (s, Some(sim))),
            patient,
            similarity,
            liveness,
        );
    }
    log::info!("door loop stopped");
}

fn record(
    p: &LoopParts,
    door_id: &str,
    d: Decision,
    staff: Option<(&Subject, Option<f32>)>,
    patient: Option<&Subject>,
    best_similarity: Option<f32>,
    liveness: Option<f32>,
) {
    log::info!(
        target: "wardgate::decision",
        door = door_id, decision = d.granted, reason = d.reason.as_str(),
        subject_id = staff.map_or("", |(s, _)| s.id.as_str());
        "camera decision at {door_id}: {}", d.reason.as_str()
    );
    p.runtime.block_on(p.events.emit(EventDraft {
        kind: "decision".into(),
        door_id: Some(door_id.to_owned()),
        subject_id: staff.map(|(s, _)| s.id.clone()),
        patient_id: patient.map(|s| s.id.clone()),
        granted: Some(d.granted),
        reason: d.reason.as_str().into(),
        details: serde_json::json!({"channel": "camera", "similarity": best_similarity, "liveness_score": liveness}),
    }));
}

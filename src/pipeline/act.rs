//! The one step where the door loop decides, unlocks and records: [`Actor::decide_and_act`].
//!
//! Everything the loop knows about a presentation is in its input ([`DecisionInput`]: who was
//! identified on which track with what similarity, the patient if any, the liveness result, the
//! door and the time), so this is the only place that has to change when decisions move to a
//! shared decision service.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::access::policy::{decide, Decision, Identified, Reason};
use crate::audit::EventDraft;
use crate::camera::monotonic_now;
use crate::catalog::Catalog;
use crate::door::DoorHandle;
use crate::events::EventSink;
use crate::model::Millis;

use super::stage_stats::{Stage, StageStats};

/// A face the loop presents to the decision: who it recognised (if anyone) on which track.
#[derive(Debug, Clone, PartialEq)]
pub struct Presented {
    /// `None`: the face was seen, but matched no enrolled subject.
    pub subject_id: Option<String>,
    /// Best gallery similarity of the track's newest analysed frame.
    pub similarity: Option<f32>,
    pub track_id: u64,
}

/// The anti-spoofing result of a track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Liveness {
    pub score: f32,
    /// At or above `vision.liveness_threshold`.
    pub attack: bool,
}

/// Everything a camera decision depends on.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub door_id: String,
    /// The acting face (staff at a two-person door); `None` when only a patient was seen.
    pub staff: Option<Presented>,
    /// The patient's face at a `staff_with_patient` door.
    pub patient: Option<Presented>,
    /// The staff member waited `access.two_person_timeout_secs` without a patient.
    pub patient_timed_out: bool,
    /// The staff track's liveness; `None` when it could not be computed.
    pub liveness: Option<Liveness>,
    /// Deny `spoof_suspected` on an attack or a missing score (`pipeline.require_liveness`).
    pub require_liveness: bool,
    /// Capture time (CLOCK_MONOTONIC) of the frame that completed the decision.
    pub frame_at: Duration,
    /// Wall-clock time for grant validity.
    pub now_ms: Millis,
}

/// What came of a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Acted {
    pub decision: Decision,
    pub staff: Option<Presented>,
    pub patient: Option<Presented>,
    /// CLOCK_MONOTONIC time at which the door controller acknowledged the unlock.
    pub relay_at: Option<Duration>,
    pub frame_at: Duration,
}

/// Decides with the policy, drives the door and records the event.
pub struct Actor {
    pub catalog: Arc<Catalog>,
    pub door: DoorHandle,
    pub events: EventSink,
    pub stats: Arc<StageStats>,
}

impl Actor {
    /// Decides one presentation, unlocks on a grant, and records one decision event.
    pub async fn decide_and_act(&self, input: DecisionInput) -> Acted {
        let snap = self.catalog.snapshot();
        let dir = &snap.directory;
        let subject = |p: &Option<Presented>| {
            p.as_ref()
                .and_then(|p| p.subject_id.as_deref())
                .and_then(|id| dir.subject(id))
        };
        let started = Instant::now();
        let staff = subject(&input.staff);
        let decision = match staff {
            None => deny(Reason::UnknownStaff),
            Some(_) if input.patient_timed_out => deny(Reason::PatientTimeout),
            Some(_) if input.require_liveness && input.liveness.is_none_or(|l| l.attack) => {
                log::warn!(
                    "door {}: presentation attack suspected (liveness {:?})",
                    input.door_id,
                    input.liveness.map(|l| l.score)
                );
                deny(Reason::SpoofSuspected)
            }
            Some(s) => {
                let sim =
                    |p: &Option<Presented>| p.as_ref().and_then(|p| p.similarity).unwrap_or(0.0);
                decide(
                    dir,
                    &input.door_id,
                    Some(Identified {
                        subject: s,
                        similarity: sim(&input.staff),
                    }),
                    subject(&input.patient).map(|p| Identified {
                        subject: p,
                        similarity: sim(&input.patient),
                    }),
                    input.patient.is_some(),
                    input.now_ms,
                )
            }
        };
        self.stats.record(Stage::Decide, started.elapsed());
        let mut relay_at = None;
        let decision = if decision.granted {
            let started = Instant::now();
            match self.door.unlock_for_access("face").await {
                Ok(_) => {
                    let at = monotonic_now();
                    self.stats.record(Stage::Unlock, started.elapsed());
                    self.stats
                        .record(Stage::FrameToRelay, at.saturating_sub(input.frame_at));
                    relay_at = Some(at);
                    decision
                }
                Err(e) => {
                    log::warn!("door {}: granted but not unlocked: {e}", input.door_id);
                    deny(Reason::Lockdown)
                }
            }
        } else {
            decision
        };
        let staff_id = staff.map(|s| s.id.clone());
        log::info!(
            target: "wardgate::decision",
            door = input.door_id.as_str(), decision = decision.granted,
            reason = decision.reason.as_str(),
            subject_id = staff_id.as_deref().unwrap_or("");
            "camera decision at {}: {}", input.door_id, decision.reason.as_str()
        );
        let track = |p: &Option<Presented>| p.as_ref().map(|p| p.track_id);
        let similarity = |p: &Option<Presented>| p.as_ref().and_then(|p| p.similarity);
        self.events
            .emit(EventDraft {
                kind: "decision".into(),
                door_id: Some(input.door_id.clone()),
                subject_id: staff_id,
                patient_id: subject(&input.patient).map(|p| p.id.clone()),
                granted: Some(decision.granted),
                reason: decision.reason.as_str().into(),
                details: serde_json::json!({
                    "channel": "camera",
                    "staff_similarity": similarity(&input.staff),
                    "patient_similarity": similarity(&input.patient),
                    "liveness_score": input.liveness.map(|l| l.score),
                    "staff_track": track(&input.staff),
                    "patient_track": track(&input.patient),
                }),
            })
            .await;
        Acted {
            decision,
            staff: input.staff,
            patient: input.patient,
            relay_at,
            frame_at: input.frame_at,
        }
    }

    /// Records that a staff member at a two-person door is waiting for the patient.
    pub async fn awaiting_patient(&self, door_id: &str, staff: &Presented) {
        log::info!(
            "door {door_id}: staff {} recognised, waiting for the patient",
            staff.subject_id.as_deref().unwrap_or("")
        );
        self.events
            .emit(EventDraft {
                kind: "presentation".into(),
                door_id: Some(door_id.to_owned()),
                subject_id: staff.subject_id.clone(),
                reason: "awaiting_patient".into(),
                details: serde_json::json!({
                    "channel": "camera",
                    "staff_similarity": staff.similarity,
                    "staff_track": staff.track_id,
                }),
                ..Default::default()
            })
            .await;
    }
}

fn deny(reason: Reason) -> Decision {
    Decision {
        granted: false,
        reason,
    }
}

//! The one step where the door loop decides, unlocks and records: [`Actor::decide_and_act`].
//!
//! Everything the loop knows about a presentation is in its input ([`DecisionInput`]: who was
//! identified on which track with what similarity, the patient if any, each face's liveness check, the
//! door and the time); it hands that to the one decision service shared with `/ws/auth`, the
//! decisions API and the door API, and records the loop's stage timings around it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::access::decider::{
    Channel, Decider, Face, FrameTimings, Liveness as DecidedLiveness, Patient, Person,
    Presentation, Step, Unlock,
};
use crate::access::policy::Decision;
use crate::camera::monotonic_now;
use crate::catalog::Catalog;
use crate::clock::SharedClock;
use crate::controller::Controller;
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
    /// Stage timings of the track's frames that led to this presentation (for the event).
    pub frames: Vec<FrameTimings>,
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
    /// The staff track's liveness check (`None`: `liveness.mode = "off"`, or an unknown face).
    pub liveness: Option<DecidedLiveness>,
    /// The patient track's liveness check.
    pub patient_liveness: Option<DecidedLiveness>,
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

/// Decides through the one decision service ([`crate::access::decider`]), which drives the
/// door and records the event; this adds the loop's stage timings.
pub struct Actor {
    /// The core's decision service (which drives the door and records the event).
    pub decider: Decider,
    pub catalog: Arc<Catalog>,
    /// The door this loop watches.
    pub door_id: String,
    /// Wall-clock time of each decision (grant validity).
    pub clock: SharedClock,
    pub stats: Arc<StageStats>,
}

fn face(p: &Option<Presented>) -> Face {
    match p {
        Some(p) => Face {
            subject_id: p.subject_id.clone(),
            similarity: p.similarity,
        },
        None => Face::unknown(None),
    }
}

impl Actor {
    /// The actor of `core`'s door; `None` when this controller drives no door.
    pub fn of(core: &Controller, stats: Arc<StageStats>) -> Option<Self> {
        Some(Self {
            decider: core.decider().clone(),
            catalog: Arc::clone(&core.catalog),
            door_id: core.door.as_ref()?.id().to_owned(),
            clock: Arc::clone(&core.clock),
            stats,
        })
    }

    /// Decides one presentation, unlocks on a grant, and records one decision event.
    pub async fn decide_and_act(&self, input: DecisionInput) -> Acted {
        let patient = if input.patient_timed_out {
            Patient::TimedOut
        } else if input.patient.is_some() {
            Patient::Presented(face(&input.patient).into())
        } else {
            Patient::Absent
        };
        for l in [&input.liveness, &input.patient_liveness]
            .into_iter()
            .flatten()
            .filter(|l| !l.passed)
        {
            log::warn!(
                "door {}: liveness check not passed ({})",
                input.door_id,
                l.reason.as_str()
            );
        }
        let patient = match patient {
            Patient::Presented(person) => Patient::Presented(
                person
                    .with_liveness(input.patient_liveness.clone())
                    .on_track(input.patient.as_ref().map(|p| p.track_id)),
            ),
            other => other,
        };
        let staff = Person::by_face(face(&input.staff))
            .with_liveness(input.liveness.clone())
            .on_track(input.staff.as_ref().map(|p| p.track_id));
        let mut req = Presentation::new(Channel::Camera, &input.door_id, staff, input.now_ms);
        req.patient = patient;
        req.frames = [&input.staff, &input.patient]
            .into_iter()
            .flatten()
            .flat_map(|p| p.frames.iter().copied())
            .collect();
        let started = Instant::now();
        let outcome = self.decider.decide(req).await;
        let mut relay_at = None;
        match (&outcome.unlock, outcome.unlock_took) {
            (Unlock::Done(_), Some(took)) => {
                let at = monotonic_now();
                self.stats.record(Stage::Unlock, took);
                self.stats
                    .record(Stage::Decide, started.elapsed().saturating_sub(took));
                self.stats
                    .record(Stage::FrameToRelay, at.saturating_sub(input.frame_at));
                relay_at = Some(at);
            }
            _ => self.stats.record(Stage::Decide, started.elapsed()),
        }
        Acted {
            decision: outcome.decision,
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
        self.decider
            .presentation(
                Channel::Camera,
                door_id,
                Step::AwaitingPatient,
                &face(&Some(staff.clone())),
            )
            .await;
    }
}

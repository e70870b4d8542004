//! What is presented at a door, channel-independent: who each person is by each factor they
//! presented, how sure the face match is, what the liveness check saw, and when.
//!
//! Every channel — the camera loop, a terminal over `/ws/auth` or `POST /api/v1/decisions`,
//! and the credential readers next — translates its own protocol into a [`Presentation`] and
//! hands it to the one decision service ([`super::decider::Decider::decide`]). A person
//! presents a list of [`Factor`]s: a face today; a PIN and a badge are the next kinds, which
//! the factor rules of a door will require beside the face.

use std::time::Duration;

use serde::Serialize;

use super::policy::Reason;
use crate::catalog::Recognition;
use crate::model::Millis;

/// Where a decision was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum Channel {
    /// The controller's own camera door loop.
    #[serde(rename = "camera")]
    Camera,
    /// A terminal over `/ws/auth`.
    #[serde(rename = "ws")]
    Terminal,
    /// A terminal over `POST /api/v1/decisions`.
    #[serde(rename = "http")]
    DecisionsApi,
    /// A technician or admin command through `POST /api/v1/doors/{id}/commands`.
    #[serde(rename = "door_api")]
    DoorApi,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Camera => "camera",
            Channel::Terminal => "ws",
            Channel::DecisionsApi => "http",
            Channel::DoorApi => "door_api",
        }
    }

    /// Whether the channel answers a client, so its event must be on disk before the answer.
    pub(crate) fn acknowledges(self) -> bool {
        !matches!(self, Channel::Camera)
    }
}

/// One face as the channel saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Face {
    /// The enrolled subject it matched at or above `matching.threshold`; `None`: nobody.
    pub subject_id: Option<String>,
    /// Similarity of the best gallery match, also when it is below the threshold (so an
    /// `unknown_staff` event says how close the nearest template was); `None`: empty gallery.
    pub similarity: Option<f32>,
}

impl Face {
    /// A face matched to `subject_id` with `similarity`.
    pub fn identified(subject_id: &str, similarity: f32) -> Self {
        Self {
            subject_id: Some(subject_id.to_owned()),
            similarity: Some(similarity),
        }
    }

    /// A face nobody enrolled matched (best similarity, if any template exists).
    pub fn unknown(best_similarity: Option<f32>) -> Self {
        Self {
            subject_id: None,
            similarity: best_similarity,
        }
    }
}

impl From<&Recognition> for Face {
    fn from(r: &Recognition) -> Self {
        Self {
            subject_id: r
                .best
                .as_ref()
                .filter(|_| r.accepted)
                .map(|m| m.subject_id.to_string()),
            similarity: r.best.as_ref().map(|m| m.similarity),
        }
    }
}

/// The liveness check of one face, when the channel ran one (the camera's challenge, or a
/// terminal's attestation).
#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    /// A score the check produced, if it has one (a terminal may report its own).
    pub score: Option<f32>,
    /// Whether the face counts as live.
    pub passed: bool,
    /// The denial when it does not: [`Reason::SpoofSuspected`], [`Reason::LivenessFailed`]
    /// or [`Reason::LivenessTimeout`].
    pub reason: Reason,
    /// What the check measured (method, challenge, each cue's value; never frames), recorded
    /// as the event's `liveness` / `patient_liveness` detail.
    pub details: serde_json::Value,
}

impl Liveness {
    /// A passed check described by `details`.
    pub fn passed(details: serde_json::Value) -> Self {
        Self {
            score: None,
            passed: true,
            reason: Reason::Granted,
            details,
        }
    }

    /// A failed check, denied with `reason`.
    pub fn failed(reason: Reason, details: serde_json::Value) -> Self {
        Self {
            score: None,
            passed: false,
            reason,
            details,
        }
    }
}

/// How long one camera frame of a presentation took to analyse, stage by stage, in
/// milliseconds: what a technician reads in the decision's details to see why a door was slow
/// (or which frames a decision rests on). Times only — never the picture or the embedding.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameTimings {
    /// The camera loop's track the face belongs to.
    pub track: u64,
    /// The frame's capture sequence number.
    pub frame: u64,
    /// Face detection over the whole frame.
    pub detect_ms: f64,
    /// The face mesh (landmarks) of this face.
    pub mesh_ms: f64,
    /// The aligned crop of this face.
    pub align_ms: f64,
    /// The embedding of this face.
    pub embed_ms: f64,
    /// The gallery search of that embedding.
    pub match_ms: f64,
}

impl FrameTimings {
    /// Milliseconds of `d`, to 0.01 ms.
    pub fn ms(d: Duration) -> f64 {
        (d.as_secs_f64() * 100_000.0).round() / 100.0
    }
}

/// One factor a person presented.
#[derive(Debug, Clone, PartialEq)]
pub enum Factor {
    /// A face, matched (or not) against the gallery.
    Face(FaceFactor),
}

/// A face as a factor: the match, the liveness check the channel ran on it, and (camera) the
/// loop's track it was seen on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaceFactor {
    pub face: Face,
    pub liveness: Option<Liveness>,
    pub track: Option<u64>,
}

/// One person at the door and what they presented.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    pub factors: Vec<Factor>,
}

impl Person {
    /// A person who presented only `face`.
    pub fn by_face(face: Face) -> Self {
        Self {
            factors: vec![Factor::Face(FaceFactor {
                face,
                ..Default::default()
            })],
        }
    }

    /// The face they presented, if any (the first).
    pub fn face(&self) -> Option<&FaceFactor> {
        self.factors
            .iter()
            .map(|f| match f {
                Factor::Face(face) => face,
            })
            .next()
    }

    /// The face factor to fill in, added if there is none yet.
    pub fn face_mut(&mut self) -> &mut FaceFactor {
        if self.face().is_none() {
            self.factors.push(Factor::Face(FaceFactor::default()));
        }
        self.factors
            .iter_mut()
            .map(|f| match f {
                Factor::Face(face) => face,
            })
            .next()
            .expect("a face factor was just ensured")
    }

    /// The face's match (`Face::unknown(None)` when no face was presented).
    pub fn matched(&self) -> Face {
        self.face().map(|f| f.face.clone()).unwrap_or_default()
    }

    /// The face's liveness check, if one ran.
    pub fn liveness(&self) -> Option<&Liveness> {
        self.face().and_then(|f| f.liveness.as_ref())
    }

    /// With the face's liveness check set to `liveness`.
    pub fn with_liveness(mut self, liveness: Option<Liveness>) -> Self {
        self.face_mut().liveness = liveness;
        self
    }

    /// With the face's camera track set to `track`.
    pub fn on_track(mut self, track: Option<u64>) -> Self {
        self.face_mut().track = track;
        self
    }
}

impl From<Face> for Person {
    fn from(face: Face) -> Self {
        Self::by_face(face)
    }
}

/// The second person at a `staff_with_patient` door.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patient {
    /// No second person was presented.
    #[default]
    Absent,
    /// A second person was presented (recognised or not).
    Presented(Person),
    /// The staff member waited `access.two_person_timeout_secs` and no patient came.
    TimedOut,
}

impl Patient {
    /// The patient who was presented, if one was.
    pub fn person(&self) -> Option<&Person> {
        match self {
            Patient::Presented(p) => Some(p),
            Patient::Absent | Patient::TimedOut => None,
        }
    }
}

/// What the service decides about: one presentation at one door.
#[derive(Debug, Clone, PartialEq)]
pub struct Presentation {
    pub channel: Channel,
    pub door_id: String,
    /// The first person — the staff member at a two-person door — and their factors.
    pub staff: Person,
    pub patient: Patient,
    /// The terminal's request id, echoed in the event.
    pub request_id: Option<String>,
    /// The API token that asked (never the token itself).
    pub token_id: Option<String>,
    /// The camera loop's analysed frames of this presentation (staff's, then the patient's),
    /// oldest first; empty elsewhere.
    pub frames: Vec<FrameTimings>,
    pub at: Millis,
}

impl Presentation {
    /// A presentation of `staff` alone, on `channel` at `door_id`, at `at`.
    pub fn new(channel: Channel, door_id: &str, staff: impl Into<Person>, at: Millis) -> Self {
        Self {
            channel,
            door_id: door_id.to_owned(),
            staff: staff.into(),
            patient: Patient::Absent,
            request_id: None,
            token_id: None,
            frames: Vec::new(),
            at,
        }
    }
}

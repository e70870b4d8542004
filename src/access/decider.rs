//! The one decision service: every channel that can open a door — the camera loop, `/ws/auth`,
//! `POST /api/v1/decisions` and the door command API — decides and records through it.
//!
//! Why one service: two code paths had drifted apart (different event detail keys, a staff
//! similarity recorded as a constant, every door error recorded as `lockdown`). Here the input
//! is who was identified (staff and optionally patient, each with subject and similarity; the
//! liveness result if any), the channel, the door and the time; the output is the decision, the
//! unlock (and what the door said), and exactly one typed audit event whose detail keys are the
//! same whatever the channel:
//!
//! `channel`, `request_id`, `token_id`, `door` (the requested id, only when it is unknown),
//! `staff_similarity`, `patient_similarity`, `liveness_score`, `liveness` and
//! `patient_liveness` (what each face's liveness check measured), `field` (for `bad_request`),
//! `staff_track`, `patient_track` (the camera loop's face tracks), `frames` (the camera loop's
//! per-frame stage timings of the presentation, [`FrameTimings`]; never images or embeddings).
//!
//! Events are recorded without waiting for the database (see [`crate::events`]). Channels that
//! acknowledge a decision to a client (terminals, the door API) also wait until the event is in
//! the local journal on disk, so an answered decision survives a power cut; the camera does not
//! wait, its event reaches the disk one journal commit (an `fdatasync`) after the unlock.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::directory::Directory;
use super::policy::{decide, Decision, Identified, Reason};
use crate::audit::{EventDraft, EventKind};
use crate::catalog::{Catalog, Recognition};
use crate::door::{apply_command, Command, CommandError, DoorHandle, DoorStatus};
use crate::events::EventSink;
use crate::model::{Event, Millis, Subject};

/// Longest a decision waits for the door controller to answer an unlock; past it the door is
/// recorded as `controller_unavailable` (a hung door actor must not hang the decision).
pub const DOOR_ANSWER: Duration = Duration::from_secs(2);

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
    fn acknowledges(self) -> bool {
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

/// The second person at a `staff_with_patient` door.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patient {
    /// No second face was presented.
    #[default]
    Absent,
    /// A second face was presented (recognised or not).
    Presented(Face),
    /// The staff member waited `access.two_person_timeout_secs` and no patient came.
    TimedOut,
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

/// What the service decides about.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub channel: Channel,
    pub door_id: String,
    pub staff: Face,
    pub patient: Patient,
    /// The staff face's liveness check.
    pub liveness: Option<Liveness>,
    /// The patient face's liveness check (the camera challenges each face on its own).
    pub patient_liveness: Option<Liveness>,
    /// The terminal's request id, echoed in the event.
    pub request_id: Option<String>,
    /// The API token that asked (never the token itself).
    pub token_id: Option<String>,
    /// The camera loop's track ids of the staff and the patient face (`None` elsewhere).
    pub tracks: (Option<u64>, Option<u64>),
    /// The camera loop's analysed frames of this presentation (staff's, then the patient's),
    /// oldest first; empty elsewhere.
    pub frames: Vec<FrameTimings>,
    pub at: Millis,
}

impl Request {
    /// A request with only the channel, the door, the staff face and the time set.
    pub fn new(channel: Channel, door_id: &str, staff: Face, at: Millis) -> Self {
        Self {
            channel,
            door_id: door_id.to_owned(),
            staff,
            patient: Patient::Absent,
            liveness: None,
            patient_liveness: None,
            request_id: None,
            token_id: None,
            tracks: (None, None),
            frames: Vec::new(),
            at,
        }
    }
}

impl Request {
    /// What the camera loop has per decision: the staff track's identity and similarity, the
    /// patient's (or that none came in time), and the liveness result.
    pub fn camera(
        door_id: &str,
        staff: Face,
        patient: Patient,
        liveness: Option<Liveness>,
        at: Millis,
    ) -> Self {
        Self {
            patient,
            liveness,
            ..Self::new(Channel::Camera, door_id, staff, at)
        }
    }
}

/// What happened at the door for a granted decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Unlock {
    /// Denied, or granted for a door this controller does not drive (the terminal's own relay
    /// acts on the reply).
    NotRequested,
    /// The door controller unlocked the door.
    Done(Box<DoorStatus>),
    /// The door refused or could not unlock; the decision is recorded as denied with this reason
    /// ([`Reason::Lockdown`], [`Reason::DoorFault`] or [`Reason::ControllerUnavailable`]).
    Refused(Reason),
}

/// The result of one decision.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub decision: Decision,
    /// The staff member and the patient recognised, with their similarities.
    pub staff: Option<(Subject, f32)>,
    pub patient: Option<(Subject, f32)>,
    pub unlock: Unlock,
    /// How long the door controller took to acknowledge the unlock (`None`: none was asked).
    pub unlock_took: Option<Duration>,
    /// The audit event recording the decision (`None` only when the event sink has stopped).
    pub event: Option<Event>,
}

/// A step towards a decision that is recorded as a `presentation` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// Clinical staff recognised at a `staff_with_patient` door; the patient is awaited.
    AwaitingPatient,
}

impl Presentation {
    pub fn as_str(self) -> &'static str {
        match self {
            Presentation::AwaitingPatient => "awaiting_patient",
        }
    }
}

/// Maps the door controller's answer to an unlock onto the decision's reason.
pub fn unlock_refusal(answer: &Result<DoorStatus, CommandError>) -> Option<Reason> {
    match answer {
        Ok(st) if st.fault.is_some() && st.locked => Some(Reason::DoorFault),
        Ok(_) => None,
        Err(CommandError::Lockdown { .. }) => Some(Reason::Lockdown),
        Err(CommandError::Stopped) => Some(Reason::ControllerUnavailable),
        // Not answers to an unlock; should one appear, the door did not open for a door reason.
        Err(CommandError::InvalidHold { .. } | CommandError::Forbidden { .. }) => {
            Some(Reason::DoorFault)
        }
    }
}

/// The decision service; clone freely.
#[derive(Clone, Debug)]
pub struct Decider {
    catalog: Arc<Catalog>,
    /// The door this controller drives; granted decisions for its id unlock it.
    door: Option<DoorHandle>,
    events: EventSink,
}

impl Decider {
    pub fn new(catalog: Arc<Catalog>, door: Option<DoorHandle>, events: EventSink) -> Self {
        Self {
            catalog,
            door,
            events,
        }
    }

    pub fn events(&self) -> &EventSink {
        &self.events
    }

    /// Decides from the current catalog snapshot.
    pub async fn decide(&self, req: Request) -> Outcome {
        let snap = self.catalog.snapshot();
        self.decide_in(&snap.directory, req).await
    }

    /// Decides from `dir`: policy, unlock, one event.
    pub async fn decide_in(&self, dir: &Directory, req: Request) -> Outcome {
        let (mut decision, staff, patient) = evaluate(dir, &req);
        let mut unlock = Unlock::NotRequested;
        let mut unlock_took = None;
        if decision.granted {
            if let Some(door) = self.door.as_ref().filter(|d| d.id() == req.door_id) {
                let note = match &req.request_id {
                    Some(r) => format!("{}:{r}", req.channel.as_str()),
                    None => req.channel.as_str().to_owned(),
                };
                let asked = std::time::Instant::now();
                let answer = tokio::time::timeout(DOOR_ANSWER, door.unlock_for_access(&note))
                    .await
                    .unwrap_or(Err(CommandError::Stopped));
                unlock_took = Some(asked.elapsed());
                match unlock_refusal(&answer) {
                    None => {
                        unlock = Unlock::Done(Box::new(answer.expect("no refusal: unlocked")));
                    }
                    Some(reason) => {
                        log::warn!(
                            "door {}: granted but not unlocked ({}): {}",
                            req.door_id,
                            reason.as_str(),
                            answer.err().map_or("door fault".into(), |e| e.to_string())
                        );
                        decision = Decision {
                            granted: false,
                            reason,
                        };
                        unlock = Unlock::Refused(reason);
                    }
                }
            }
        }
        let draft = decision_event(dir, &req, decision, &staff, &patient);
        let event = self.record(req.channel, draft).await;
        if let Some(e) = &event {
            log::info!(
                target: "wardgate::decision",
                door = req.door_id.as_str(), decision = decision.granted,
                reason = decision.reason.as_str(),
                subject_id = e.subject_id.as_deref().unwrap_or("");
                "{} decision {} at {}: {}", req.channel.as_str(), e.id, req.door_id, decision.reason.as_str()
            );
        }
        Outcome {
            decision,
            staff,
            patient,
            unlock,
            unlock_took,
            event,
        }
    }

    /// Records a request that could not be decided at all (malformed input): a denied
    /// `bad_request` decision naming the field.
    pub async fn bad_request(
        &self,
        channel: Channel,
        door_id: &str,
        request_id: Option<&str>,
        token_id: Option<&str>,
        field: Option<&str>,
    ) -> Option<Event> {
        let door = door_id.chars().take(64).collect::<String>();
        let mut details = details(channel, request_id, token_id);
        details["field"] = field.into();
        let draft = EventDraft {
            kind: EventKind::Decision,
            door_id: (!door.is_empty()).then_some(door),
            granted: Some(false),
            reason: Reason::BadRequest.as_str().into(),
            details,
            ..Default::default()
        };
        self.record(channel, draft).await
    }

    /// Records a presentation step (no decision yet), e.g. staff waiting for the patient.
    pub async fn presentation(
        &self,
        channel: Channel,
        door_id: &str,
        step: Presentation,
        staff: &Face,
    ) -> Option<Event> {
        let mut details = details(channel, None, None);
        details["staff_similarity"] = staff.similarity.into();
        self.record(
            channel,
            EventDraft {
                kind: EventKind::Presentation,
                door_id: Some(door_id.to_owned()),
                subject_id: staff.subject_id.clone(),
                reason: step.as_str().into(),
                details,
                ..Default::default()
            },
        )
        .await
    }

    /// A door command from the API (`pulse`, `hold`, `lockdown`, …) on the door this controller
    /// drives, recorded as one `door` event whether it succeeded or not: `granted` says whether
    /// it was carried out, `reason` is the command or, when refused, the door's reason.
    pub async fn door_command(
        &self,
        door: &DoorHandle,
        cmd: Command,
        token_id: &str,
        role: &str,
    ) -> Result<DoorStatus, CommandError> {
        let answer = tokio::time::timeout(DOOR_ANSWER, apply_command(door, cmd.clone()))
            .await
            .unwrap_or(Err(CommandError::Stopped));
        let unlocks = matches!(cmd, Command::Pulse)
            || matches!(cmd, Command::Hold { minutes } if minutes > 0);
        let refused = match &answer {
            Err(CommandError::InvalidHold { .. } | CommandError::Forbidden { .. }) => {
                Some(Reason::BadRequest)
            }
            Err(_) => unlock_refusal(&answer),
            Ok(_) if unlocks => unlock_refusal(&answer),
            Ok(_) => None,
        };
        let mut details = details(Channel::DoorApi, None, Some(token_id));
        details["command"] = cmd.name().into();
        details["role"] = role.into();
        self.record(
            Channel::DoorApi,
            EventDraft {
                kind: EventKind::Door,
                door_id: Some(door.id().to_owned()),
                granted: Some(refused.is_none()),
                reason: refused.map_or(cmd.name(), Reason::as_str).into(),
                details,
                ..Default::default()
            },
        )
        .await;
        answer
    }

    async fn record(&self, channel: Channel, draft: EventDraft) -> Option<Event> {
        if channel.acknowledges() {
            self.events.emit_durable(draft).await
        } else {
            self.events.record(draft)
        }
    }
}

/// The detail keys every decision event carries, `null` where they do not apply.
fn details(
    channel: Channel,
    request_id: Option<&str>,
    token_id: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "channel": channel.as_str(),
        "request_id": request_id,
        "token_id": token_id,
        "door": null,
        "staff_similarity": null,
        "patient_similarity": null,
        "liveness_score": null,
        "liveness": null,
        "patient_liveness": null,
        "field": null,
        "staff_track": null,
        "patient_track": null,
        "frames": null,
    })
}

type Person = Option<(Subject, f32)>;

/// The policy's answer for `req`, with the recognised people. Pure (no door, no events).
pub fn evaluate(dir: &Directory, req: &Request) -> (Decision, Person, Person) {
    let ident = |f: &Face| -> Option<Identified<'_>> {
        let subject = dir.subject(f.subject_id.as_deref()?)?;
        Some(Identified {
            subject,
            similarity: f.similarity.unwrap_or(0.0),
        })
    };
    let staff = ident(&req.staff);
    let (patient, presented) = match &req.patient {
        Patient::Presented(f) => (ident(f), true),
        Patient::Absent | Patient::TimedOut => (None, false),
    };
    let people = (
        staff.map(|i| (i.subject.clone(), i.similarity)),
        patient.map(|i| (i.subject.clone(), i.similarity)),
    );
    let failed = |l: &Option<Liveness>| l.as_ref().filter(|l| !l.passed).map(|l| l.reason);
    let door_known = dir.door(&req.door_id).is_some();
    // A face that failed its liveness check is denied for that, but only once it is known who
    // it claims to be at a known door: an unknown face is `unknown_staff` whatever it is.
    let not_live = match (failed(&req.liveness), failed(&req.patient_liveness)) {
        (Some(r), _) if staff.is_some() && door_known => Some(r),
        (_, Some(r)) if patient.is_some() && door_known => Some(r),
        _ => None,
    };
    let decision = if let Some(reason) = not_live {
        Decision {
            granted: false,
            reason,
        }
    } else {
        let d = decide(dir, &req.door_id, staff, patient, presented, req.at);
        if d.reason == Reason::PatientRequired && req.patient == Patient::TimedOut {
            Decision {
                granted: false,
                reason: Reason::PatientTimeout,
            }
        } else {
            d
        }
    };
    (decision, people.0, people.1)
}

/// The one event recording `decision`.
fn decision_event(
    dir: &Directory,
    req: &Request,
    decision: Decision,
    staff: &Person,
    patient: &Person,
) -> EventDraft {
    let door_known = dir.door(&req.door_id).is_some();
    let mut details = details(
        req.channel,
        req.request_id.as_deref(),
        req.token_id.as_deref(),
    );
    if !door_known {
        details["door"] = req.door_id.chars().take(64).collect::<String>().into();
    }
    details["staff_similarity"] = req.staff.similarity.into();
    if let Patient::Presented(f) = &req.patient {
        details["patient_similarity"] = f.similarity.into();
    }
    details["liveness_score"] = req.liveness.as_ref().and_then(|l| l.score).into();
    if let Some(l) = &req.liveness {
        details["liveness"] = l.details.clone();
    }
    if let Some(l) = &req.patient_liveness {
        details["patient_liveness"] = l.details.clone();
    }
    details["staff_track"] = req.tracks.0.into();
    details["patient_track"] = req.tracks.1.into();
    if !req.frames.is_empty() {
        details["frames"] = serde_json::to_value(&req.frames).unwrap_or_default();
    }
    EventDraft {
        kind: EventKind::Decision,
        door_id: door_known.then(|| req.door_id.clone()),
        subject_id: staff.as_ref().map(|(s, _)| s.id.clone()),
        patient_id: patient.as_ref().map(|(s, _)| s.id.clone()),
        granted: Some(decision.granted),
        reason: decision.reason.as_str().into(),
        details,
    }
}

#[cfg(test)]
#[path = "decider_tests.rs"]
mod tests;

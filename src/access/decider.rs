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
pub use super::presented::{
    Channel, Face, FaceFactor, Factor, FrameTimings, Liveness, Patient, Person, Presentation,
};
use crate::audit::{EventDraft, EventKind};
use crate::catalog::Catalog;
use crate::door::{apply_command, Command, CommandError, DoorHandle, DoorStatus};
use crate::events::EventSink;
use crate::model::{Event, Subject};

/// Longest a decision waits for the door controller to answer an unlock; past it the door is
/// recorded as `controller_unavailable` (a hung door actor must not hang the decision).
pub const DOOR_ANSWER: Duration = Duration::from_secs(2);

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
pub enum Step {
    /// Clinical staff recognised at a `staff_with_patient` door; the patient is awaited.
    AwaitingPatient,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::AwaitingPatient => "awaiting_patient",
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
        Err(
            CommandError::InvalidHold { .. }
            | CommandError::InvalidBreakGlass { .. }
            | CommandError::InvalidReason(_)
            | CommandError::Forbidden { .. },
        ) => Some(Reason::DoorFault),
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
    pub async fn decide(&self, req: Presentation) -> Outcome {
        let snap = self.catalog.snapshot();
        self.decide_in(&snap.directory, req).await
    }

    /// Decides from `dir`: policy, unlock, one event.
    pub async fn decide_in(&self, dir: &Directory, req: Presentation) -> Outcome {
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
        let details = Details {
            field,
            ..Details::new(channel, request_id, token_id)
        }
        .to_value();
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
        step: Step,
        staff: &Face,
    ) -> Option<Event> {
        let details = Details {
            staff_similarity: staff.similarity,
            ..Details::new(channel, None, None)
        }
        .to_value();
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
        let unlocks = matches!(cmd, Command::Pulse | Command::BreakGlass { .. })
            || matches!(cmd, Command::Hold { minutes } if minutes > 0);
        let refused = match &answer {
            Err(
                CommandError::InvalidHold { .. }
                | CommandError::InvalidBreakGlass { .. }
                | CommandError::InvalidReason(_)
                | CommandError::Forbidden { .. },
            ) => Some(Reason::BadRequest),
            Err(_) => unlock_refusal(&answer),
            Ok(_) if unlocks => unlock_refusal(&answer),
            Ok(_) => None,
        };
        let mut details = Details::new(Channel::DoorApi, None, Some(token_id)).to_value();
        details["command"] = cmd.name().into();
        details["role"] = role.into();
        if let Command::BreakGlass { minutes, reason } = &cmd {
            // Who is the token (and the console account behind it); why is the admin's word.
            details["break_glass"] = serde_json::json!({"reason": reason, "minutes": minutes});
        }
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
            self.events.record_durable(draft).await
        } else {
            self.events.record(draft)
        }
    }
}

/// The detail keys every decision event carries, `null` where they do not apply: one type,
/// so every channel's event has the same keys (docs/api.md lists them from here).
#[derive(Debug, Serialize)]
struct Details<'a> {
    channel: Channel,
    request_id: Option<&'a str>,
    token_id: Option<&'a str>,
    /// The requested door id, only when it is unknown (a known door is the event's `door_id`).
    door: Option<String>,
    staff_similarity: Option<f32>,
    patient_similarity: Option<f32>,
    liveness_score: Option<f32>,
    liveness: Option<&'a serde_json::Value>,
    patient_liveness: Option<&'a serde_json::Value>,
    /// The malformed field of a `bad_request`.
    field: Option<&'a str>,
    staff_track: Option<u64>,
    patient_track: Option<u64>,
    frames: Option<&'a [FrameTimings]>,
}

impl<'a> Details<'a> {
    fn new(channel: Channel, request_id: Option<&'a str>, token_id: Option<&'a str>) -> Self {
        Self {
            channel,
            request_id,
            token_id,
            door: None,
            staff_similarity: None,
            patient_similarity: None,
            liveness_score: None,
            liveness: None,
            patient_liveness: None,
            field: None,
            staff_track: None,
            patient_track: None,
            frames: None,
        }
    }

    fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A recognised person with the similarity of their match.
type Recognised = Option<(Subject, f32)>;

/// The policy's answer for `req`, with the recognised people. Pure (no door, no events).
pub fn evaluate(dir: &Directory, req: &Presentation) -> (Decision, Recognised, Recognised) {
    let ident = |f: &Face| -> Option<Identified<'_>> {
        let subject = dir.subject(f.subject_id.as_deref()?)?;
        Some(Identified {
            subject,
            similarity: f.similarity.unwrap_or(0.0),
        })
    };
    let staff_face = req.staff.matched();
    let staff = ident(&staff_face);
    let patient_face = req.patient.person().map(Person::matched);
    let presented = patient_face.is_some();
    let patient = patient_face.as_ref().and_then(ident);
    let people = (
        staff.map(|i| (i.subject.clone(), i.similarity)),
        patient.map(|i| (i.subject.clone(), i.similarity)),
    );
    let failed = |l: Option<&Liveness>| l.filter(|l| !l.passed).map(|l| l.reason);
    let door_known = dir.door(&req.door_id).is_some();
    // A face that failed its liveness check is denied for that, but only once it is known who
    // it claims to be at a known door: an unknown face is `unknown_staff` whatever it is.
    let patient_liveness = req.patient.person().and_then(Person::liveness);
    let not_live = match (failed(req.staff.liveness()), failed(patient_liveness)) {
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
    req: &Presentation,
    decision: Decision,
    staff: &Recognised,
    patient: &Recognised,
) -> EventDraft {
    let door_known = dir.door(&req.door_id).is_some();
    let patient_face = req.patient.person().and_then(Person::face);
    let staff_face = req.staff.face();
    let details = Details {
        door: (!door_known).then(|| req.door_id.chars().take(64).collect()),
        staff_similarity: staff_face.and_then(|f| f.face.similarity),
        patient_similarity: patient_face.and_then(|f| f.face.similarity),
        liveness_score: req.staff.liveness().and_then(|l| l.score),
        liveness: req.staff.liveness().map(|l| &l.details),
        patient_liveness: patient_face
            .and_then(|f| f.liveness.as_ref())
            .map(|l| &l.details),
        staff_track: staff_face.and_then(|f| f.track),
        patient_track: patient_face.and_then(|f| f.track),
        frames: (!req.frames.is_empty()).then_some(req.frames.as_slice()),
        ..Details::new(
            req.channel,
            req.request_id.as_deref(),
            req.token_id.as_deref(),
        )
    }
    .to_value();
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

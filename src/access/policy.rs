//! The access decision, as a pure function of the directory, the door, who was recognised and
//! the time. No I/O: every rule is unit-tested here and the same function serves `/ws/auth` and
//! the camera door loop.

use serde::{Deserialize, Serialize};

use super::directory::Directory;
use crate::model::{DoorMode, GrantTarget, GrantValidity, Millis, Role, Subject, SubjectStatus};

/// Machine-readable reason of a decision; stored with every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Granted,
    /// The door id is not configured.
    UnknownDoor,
    /// No enrolled staff member matched the first face.
    UnknownStaff,
    /// No enrolled patient matched the second face.
    UnknownPatient,
    /// A `staff_with_patient` door was presented only one face.
    PatientRequired,
    /// The first face is a patient's, not staff.
    NotStaff,
    /// The second face belongs to staff, not a patient.
    NotAPatient,
    /// Only doctors and nurses may accompany a patient.
    NotClinical,
    /// No grant covers this staff member and this door / patient.
    NotPermitted,
    /// The only covering grant has expired.
    GrantExpired,
    /// The covering grant starts in the future.
    GrantNotYetValid,
    /// A recognised subject is suspended or discharged.
    SubjectInactive,
    /// The request itself was malformed (bad embedding, missing field).
    BadRequest,
    /// The policy granted, but the door is in lockdown and refuses face unlocks.
    Lockdown,
    /// A liveness veto fired: the face is a photo or a screen.
    SpoofSuspected,
    /// The liveness challenge was not met: a movement in the wrong direction, a turn that
    /// moved like a flat picture, or another face answering.
    LivenessFailed,
    /// The liveness check saw no answer in time (nobody moved; `passive`: no 3-D motion).
    LivenessTimeout,
    /// A staff member waited alone at a `staff_with_patient` door for
    /// `access.two_person_timeout_secs` and no patient was presented.
    PatientTimeout,
    /// The policy granted, but the door hardware failed to unlock (relay write failed).
    DoorFault,
    /// The policy granted, but the door controller did not answer (stopped or hung).
    ControllerUnavailable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::UnknownDoor => "unknown_door",
            Reason::UnknownStaff => "unknown_staff",
            Reason::UnknownPatient => "unknown_patient",
            Reason::PatientRequired => "patient_required",
            Reason::NotStaff => "not_staff",
            Reason::NotAPatient => "not_a_patient",
            Reason::NotClinical => "not_clinical",
            Reason::NotPermitted => "not_permitted",
            Reason::GrantExpired => "grant_expired",
            Reason::GrantNotYetValid => "grant_not_yet_valid",
            Reason::SubjectInactive => "subject_inactive",
            Reason::BadRequest => "bad_request",
            Reason::Lockdown => "lockdown",
            Reason::SpoofSuspected => "spoof_suspected",
            Reason::LivenessFailed => "liveness_failed",
            Reason::LivenessTimeout => "liveness_timeout",
            Reason::PatientTimeout => "patient_timeout",
            Reason::DoorFault => "door_fault",
            Reason::ControllerUnavailable => "controller_unavailable",
        }
    }

    /// The reason in words for the person at the door (the door display). Plain and short,
    /// and no more than the person may know: never who was matched, nor how closely.
    pub fn to_person(self) -> &'static str {
        match self {
            Reason::Granted => "Door open. Please come in.",
            Reason::UnknownDoor => "This door is not set up. Please call the ward staff.",
            Reason::UnknownStaff | Reason::NotStaff | Reason::NotAPatient => {
                "Not recognised. Please look straight at the camera, or call the ward staff."
            }
            Reason::UnknownPatient => "The patient was not recognised.",
            Reason::PatientRequired | Reason::PatientTimeout => {
                "This room opens only together with the patient."
            }
            Reason::NotClinical => "Only doctors and nurses may accompany a patient here.",
            Reason::NotPermitted => "You have no access to this door.",
            Reason::GrantExpired => "Your access to this door has expired.",
            Reason::GrantNotYetValid => "Your access to this door has not started yet.",
            Reason::SubjectInactive => "Your access is suspended. Please call the ward staff.",
            Reason::BadRequest => "Something went wrong. Please try again.",
            Reason::Lockdown => "The door is locked down.",
            Reason::SpoofSuspected => "Photos and screens cannot open this door.",
            Reason::LivenessFailed => "The movement did not match. Please try again.",
            Reason::LivenessTimeout => "No movement seen in time. Please try again.",
            Reason::DoorFault | Reason::ControllerUnavailable => {
                "The door could not be opened. Please call the ward staff."
            }
        }
    }
}

/// A face that matched an enrolled subject at or above the threshold.
#[derive(Debug, Clone, Copy)]
pub struct Identified<'a> {
    pub subject: &'a Subject,
    pub similarity: f32,
}

/// The outcome; `granted` is true exactly when `reason` is [`Reason::Granted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub granted: bool,
    pub reason: Reason,
}

impl Decision {
    fn deny(reason: Reason) -> Self {
        Self {
            granted: false,
            reason,
        }
    }
}

/// Decides whether `staff` (and, at `staff_with_patient` doors, `patient`) may pass `door_id`.
///
/// Order of checks, so the reason names the first thing wrong: door → staff recognised → staff
/// is staff → staff active → (patient present → recognised → is a patient → active → staff is
/// clinical) → grant. Among several grants for the same target, any valid one wins; otherwise a
/// not-yet-valid one beats an expired one, which beats none.
pub fn decide(
    dir: &Directory,
    door_id: &str,
    staff: Option<Identified<'_>>,
    patient: Option<Identified<'_>>,
    patient_presented: bool,
    now: Millis,
) -> Decision {
    let Some(door) = dir.door(door_id) else {
        return Decision::deny(Reason::UnknownDoor);
    };
    let Some(staff) = staff else {
        return Decision::deny(Reason::UnknownStaff);
    };
    if staff.subject.role == Role::Patient {
        return Decision::deny(Reason::NotStaff);
    }
    if staff.subject.status != SubjectStatus::Active {
        return Decision::deny(Reason::SubjectInactive);
    }
    let target = match door.mode {
        DoorMode::Staff => GrantTarget::Door(door.id.clone()),
        DoorMode::StaffWithPatient => {
            if !patient_presented {
                return Decision::deny(Reason::PatientRequired);
            }
            let Some(patient) = patient else {
                return Decision::deny(Reason::UnknownPatient);
            };
            if patient.subject.role != Role::Patient {
                return Decision::deny(Reason::NotAPatient);
            }
            if patient.subject.status != SubjectStatus::Active {
                return Decision::deny(Reason::SubjectInactive);
            }
            if !staff.subject.role.is_clinical() {
                return Decision::deny(Reason::NotClinical);
            }
            GrantTarget::Patient(patient.subject.id.clone())
        }
    };
    let mut best = Reason::NotPermitted;
    for g in dir.grants_of(&staff.subject.id) {
        if g.target != target {
            continue;
        }
        match g.validity_at(now) {
            GrantValidity::Valid => {
                return Decision {
                    granted: true,
                    reason: Reason::Granted,
                }
            }
            GrantValidity::NotYetValid => best = Reason::GrantNotYetValid,
            GrantValidity::Expired if best == Reason::NotPermitted => best = Reason::GrantExpired,
            GrantValidity::Expired | GrantValidity::Revoked => {}
        }
    }
    Decision::deny(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Door, Grant};

    fn subject(id: &str, role: Role, status: SubjectStatus) -> Subject {
        Subject {
            id: id.into(),
            external_id: format!("ext-{id}"),
            name: id.into(),
            role,
            status,
            source: "admin".into(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn grant(staff: &str, target: GrantTarget, from: Option<i64>, until: Option<i64>) -> Grant {
        Grant {
            id: format!("g-{staff}-{}", target.id()),
            staff_id: staff.into(),
            target,
            valid_from: from,
            valid_until: until,
            source: "admin".into(),
            created_ms: 0,
            revoked_ms: None,
        }
    }

    fn dir(grants: Vec<Grant>) -> Directory {
        let subjects = vec![
            subject("doc", Role::Doctor, SubjectStatus::Active),
            subject("nurse", Role::Nurse, SubjectStatus::Active),
            subject("porter", Role::Other, SubjectStatus::Active),
            subject("gone", Role::Doctor, SubjectStatus::Suspended),
            subject("pat", Role::Patient, SubjectStatus::Active),
            subject("left", Role::Patient, SubjectStatus::Discharged),
        ];
        let doors = vec![
            Door {
                id: "ward".into(),
                name: "Ward".into(),
                mode: crate::model::DoorMode::Staff,
                created_ms: 0,
                updated_ms: 0,
            },
            Door {
                id: "room".into(),
                name: "Room 12".into(),
                mode: crate::model::DoorMode::StaffWithPatient,
                created_ms: 0,
                updated_ms: 0,
            },
        ];
        Directory::new(subjects, doors, grants)
    }

    fn id<'a>(d: &'a Directory, s: &str) -> Option<Identified<'a>> {
        d.subject(s).map(|subject| Identified {
            subject,
            similarity: 0.9,
        })
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn staff_door_needs_a_valid_door_grant() {
        let d = dir(vec![grant(
            "doc",
            GrantTarget::Door("ward".into()),
            None,
            None,
        )]);
        let r = |who: &str| decide(&d, "ward", id(&d, who), None, false, NOW);
        assert_eq!(
            r("doc"),
            Decision {
                granted: true,
                reason: Reason::Granted
            }
        );
        assert_eq!(r("nurse").reason, Reason::NotPermitted);
        assert_eq!(r("gone").reason, Reason::SubjectInactive);
        assert_eq!(r("pat").reason, Reason::NotStaff);
        assert_eq!(
            decide(&d, "ward", None, None, false, NOW).reason,
            Reason::UnknownStaff
        );
        assert_eq!(
            decide(&d, "nope", id(&d, "doc"), None, false, NOW).reason,
            Reason::UnknownDoor
        );
    }

    #[test]
    fn grant_windows_are_half_open() {
        let d = dir(vec![grant(
            "doc",
            GrantTarget::Door("ward".into()),
            Some(NOW),
            Some(NOW + 10),
        )]);
        let at = |t| decide(&d, "ward", id(&d, "doc"), None, false, t).reason;
        assert_eq!(at(NOW - 1), Reason::GrantNotYetValid);
        assert_eq!(at(NOW), Reason::Granted);
        assert_eq!(at(NOW + 9), Reason::Granted);
        assert_eq!(at(NOW + 10), Reason::GrantExpired);
    }

    #[test]
    fn any_valid_grant_wins_over_expired_ones() {
        let d = dir(vec![
            grant("doc", GrantTarget::Door("ward".into()), None, Some(NOW - 5)),
            grant("doc", GrantTarget::Door("ward".into()), None, None),
        ]);
        assert!(decide(&d, "ward", id(&d, "doc"), None, false, NOW).granted);
    }

    #[test]
    fn revoked_grants_do_not_count() {
        let mut g = grant("doc", GrantTarget::Door("ward".into()), None, None);
        g.revoked_ms = Some(NOW - 1);
        let d = dir(vec![g]);
        assert_eq!(
            decide(&d, "ward", id(&d, "doc"), None, false, NOW).reason,
            Reason::NotPermitted
        );
    }

    #[test]
    fn patient_room_needs_clinical_staff_with_their_patient() {
        let d = dir(vec![
            grant("doc", GrantTarget::Patient("pat".into()), None, None),
            grant("porter", GrantTarget::Patient("pat".into()), None, None),
            grant("doc", GrantTarget::Patient("left".into()), None, None),
            // A door grant does not open a patient room.
            grant("nurse", GrantTarget::Door("room".into()), None, None),
        ]);
        let r = |s: &str, p: Option<&str>, presented: bool| {
            decide(
                &d,
                "room",
                id(&d, s),
                p.and_then(|p| id(&d, p)),
                presented,
                NOW,
            )
            .reason
        };
        assert_eq!(r("doc", Some("pat"), true), Reason::Granted);
        assert_eq!(r("doc", None, false), Reason::PatientRequired);
        assert_eq!(r("doc", None, true), Reason::UnknownPatient);
        assert_eq!(r("doc", Some("nurse"), true), Reason::NotAPatient);
        assert_eq!(r("doc", Some("left"), true), Reason::SubjectInactive);
        assert_eq!(r("porter", Some("pat"), true), Reason::NotClinical);
        assert_eq!(r("nurse", Some("pat"), true), Reason::NotPermitted);
        assert_eq!(r("pat", Some("pat"), true), Reason::NotStaff);
    }

    #[test]
    fn reasons_serialise_as_their_codes() {
        for r in [
            Reason::Granted,
            Reason::GrantNotYetValid,
            Reason::UnknownDoor,
            Reason::PatientTimeout,
            Reason::DoorFault,
            Reason::ControllerUnavailable,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}

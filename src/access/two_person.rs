//! The two-person sequence at a camera door: the doctor's face first, then the patient's.
//!
//! `/ws/auth` receives both faces in one message; a camera sees them one after the other. This
//! state machine pairs them: a recognised clinical staff member opens a session that waits
//! `timeout` for a recognised patient; another staff face replaces the pending one (the newest
//! person in front of the door is the one who acts), and an expired session is forgotten.

use crate::model::Millis;

/// What the door loop should do with a recognised face.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Staff recognised: wait for the patient (no decision yet).
    AwaitPatient,
    /// A patient arrived in time: decide with this staff member (and the similarity their
    /// face was recognised with) and this patient.
    Decide {
        staff_id: String,
        staff_similarity: f32,
        patient_id: String,
    },
    /// A patient arrived with no staff session pending: deny as `unknown_staff`.
    PatientWithoutStaff { patient_id: String },
}

/// One door's pending session.
#[derive(Debug, Clone)]
pub struct TwoPersonSession {
    timeout_ms: Millis,
    /// Staff id, the similarity they were recognised with, when.
    pending: Option<(String, f32, Millis)>,
}

impl TwoPersonSession {
    pub fn new(timeout_ms: Millis) -> Self {
        Self {
            timeout_ms,
            pending: None,
        }
    }

    /// The staff member currently waiting for a patient, if the session has not expired.
    pub fn pending_staff(&self, now: Millis) -> Option<&str> {
        self.pending
            .as_ref()
            .filter(|(_, _, at)| now - at < self.timeout_ms)
            .map(|(id, _, _)| id.as_str())
    }

    pub fn staff_seen(&mut self, staff_id: &str, similarity: f32, now: Millis) -> Step {
        self.pending = Some((staff_id.to_owned(), similarity, now));
        Step::AwaitPatient
    }

    pub fn patient_seen(&mut self, patient_id: &str, now: Millis) -> Step {
        let live = self.pending_staff(now).is_some();
        let staff = self.pending.take().filter(|_| live);
        match staff {
            Some((staff_id, staff_similarity, _)) => Step::Decide {
                staff_id,
                staff_similarity,
                patient_id: patient_id.to_owned(),
            },
            None => Step::PatientWithoutStaff {
                patient_id: patient_id.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctor_then_patient_in_time_decides_once() {
        let mut s = TwoPersonSession::new(30_000);
        assert_eq!(s.staff_seen("doc", 0.82, 1_000), Step::AwaitPatient);
        assert_eq!(s.pending_staff(20_000), Some("doc"));
        assert_eq!(
            s.patient_seen("pat", 30_999),
            Step::Decide {
                staff_id: "doc".into(),
                staff_similarity: 0.82,
                patient_id: "pat".into()
            }
        );
        // The session is consumed: the same patient again has no staff.
        assert_eq!(
            s.patient_seen("pat", 31_000),
            Step::PatientWithoutStaff {
                patient_id: "pat".into()
            }
        );
    }

    #[test]
    fn session_expires_and_newest_staff_wins() {
        let mut s = TwoPersonSession::new(30_000);
        s.staff_seen("doc", 0.8, 0);
        assert_eq!(s.pending_staff(30_000), None);
        assert!(matches!(
            s.patient_seen("pat", 30_000),
            Step::PatientWithoutStaff { .. }
        ));
        s.staff_seen("doc", 0.8, 100);
        s.staff_seen("nurse", 0.7, 200);
        assert_eq!(
            s.patient_seen("pat", 300),
            Step::Decide {
                staff_id: "nurse".into(),
                staff_similarity: 0.7,
                patient_id: "pat".into()
            }
        );
    }
}

//! Consent to face recognition: the record a hospital keeps before a person's face is enrolled.
//!
//! One record per person (re-recording replaces it). Withdrawal keeps the record, marked
//! withdrawn, and purges the person's templates in the same transaction. With
//! `privacy.require_consent` (the default) the store refuses every enrolment of a person
//! without a standing record, so no path (API, `/register_face`, the CLI, the console, enrolment
//! at the door) can skip it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// What the person agreed to. One scope today; the type keeps the record honest when more
/// come (e.g. keeping an enrolment photo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Templates of their face kept and matched at the hospital's doors.
    #[default]
    FaceRecognition,
}

impl ConsentScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentScope::FaceRecognition => "face_recognition",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s == "face_recognition").then_some(ConsentScope::FaceRecognition)
    }
}

/// How the consent was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// A signed form; `document` names it and its version.
    Written,
    /// An electronic signature or a recorded click-through; `document` names the text shown.
    Electronic,
}

impl ConsentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::Written => "written",
            ConsentMethod::Electronic => "electronic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "written" => Some(ConsentMethod::Written),
            "electronic" => Some(ConsentMethod::Electronic),
            _ => None,
        }
    }
}

/// What is recorded when consent is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentInput {
    pub scope: ConsentScope,
    pub method: ConsentMethod,
    /// The form or text agreed to, with its version (e.g. `"FR-01 v3"`).
    pub document: String,
    /// Who recorded it (a person's name, a token, `cli:<user>`).
    pub recorded_by: String,
}

/// A person's consent record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Consent {
    pub subject_id: String,
    pub scope: ConsentScope,
    pub method: ConsentMethod,
    pub document: String,
    pub recorded_by: String,
    /// Unix milliseconds.
    pub recorded_ms: Millis,
    /// When it was withdrawn (then the person's templates were purged and enrolment is refused
    /// until consent is recorded again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_ms: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_by: Option<String>,
}

impl Consent {
    /// Whether enrolment may rely on it.
    pub fn stands(&self) -> bool {
        self.withdrawn_ms.is_none()
    }
}

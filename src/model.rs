//! Domain types shared by the store, the API and the access policy.
//!
//! Times are UTC milliseconds since the epoch (`i64`) everywhere below the API; the API speaks
//! RFC 3339. Ids are opaque strings (UUIDs, or admin-chosen slugs for doors) so that a hospital
//! system never has to learn our key scheme.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// New opaque id: UUID v7 (time-ordered, so indexes stay append-friendly).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A subject's role. Staff roles (doctor, nurse, other) open doors; patients are the second
/// person of the doctor→patient check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Doctor,
    Nurse,
    Other,
    Patient,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Doctor, Role::Nurse, Role::Other, Role::Patient];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Doctor => "doctor",
            Role::Nurse => "nurse",
            Role::Other => "other",
            Role::Patient => "patient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn kind(self) -> SubjectKind {
        if self == Role::Patient {
            SubjectKind::Patient
        } else {
            SubjectKind::Staff
        }
    }

    /// Clinical staff who may accompany a patient through a `staff_with_patient` door.
    pub fn is_clinical(self) -> bool {
        matches!(self, Role::Doctor | Role::Nurse)
    }
}

/// Staff or patient, derived from [`Role`]; used for filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Staff,
    Patient,
}

/// Whether a subject may currently be recognised for access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectStatus {
    Active,
    Suspended,
    Discharged,
}

impl SubjectStatus {
    pub const ALL: [SubjectStatus; 3] = [
        SubjectStatus::Active,
        SubjectStatus::Suspended,
        SubjectStatus::Discharged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectStatus::Active => "active",
            SubjectStatus::Suspended => "suspended",
            SubjectStatus::Discharged => "discharged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A person known to the door: a staff member or a patient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub id: String,
    /// Staff number or MRN; unique across subjects.
    pub external_id: String,
    pub name: String,
    pub role: Role,
    pub status: SubjectStatus,
    /// `admin` for subjects created by hand, otherwise the sync source that manages it.
    pub source: String,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// Metadata of one enrolled face template (the vector itself never leaves the store via the
/// API: it is biometric data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceTemplate {
    pub id: String,
    pub subject_id: String,
    pub model_id: String,
    pub dim: usize,
    pub created_ms: Millis,
}

/// How a door decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DoorMode {
    /// Any active staff member holding a grant for this door.
    Staff,
    /// A doctor or nurse together with a patient the staff member holds a grant for.
    StaffWithPatient,
}

impl DoorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DoorMode::Staff => "staff",
            DoorMode::StaffWithPatient => "staff_with_patient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "staff" => Some(DoorMode::Staff),
            "staff_with_patient" => Some(DoorMode::StaffWithPatient),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Door {
    pub id: String,
    pub name: String,
    pub mode: DoorMode,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// What a grant gives access to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum GrantTarget {
    Door(String),
    Patient(String),
}

impl GrantTarget {
    pub fn kind_str(&self) -> &'static str {
        match self {
            GrantTarget::Door(_) => "door",
            GrantTarget::Patient(_) => "patient",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            GrantTarget::Door(id) | GrantTarget::Patient(id) => id,
        }
    }

    pub fn from_parts(kind: &str, id: String) -> Option<Self> {
        match kind {
            "door" => Some(GrantTarget::Door(id)),
            "patient" => Some(GrantTarget::Patient(id)),
            _ => None,
        }
    }
}

/// The source of grants and subjects created by hand; a sync never revokes these.
pub const ADMIN_SOURCE: &str = "admin";

/// A permission staff→door or staff→patient, valid in `[valid_from, valid_until)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub staff_id: String,
    pub target: GrantTarget,
    pub valid_from: Option<Millis>,
    pub valid_until: Option<Millis>,
    pub source: String,
    pub created_ms: Millis,
    pub revoked_ms: Option<Millis>,
}

/// Where a grant stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantValidity {
    Valid,
    NotYetValid,
    Expired,
    Revoked,
}

impl Grant {
    pub fn validity_at(&self, now: Millis) -> GrantValidity {
        if self.revoked_ms.is_some_and(|r| r <= now) {
            GrantValidity::Revoked
        } else if self.valid_from.is_some_and(|f| now < f) {
            GrantValidity::NotYetValid
        } else if self.valid_until.is_some_and(|u| now >= u) {
            GrantValidity::Expired
        } else {
            GrantValidity::Valid
        }
    }
}

/// API token roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Everything.
    Admin,
    /// Hospital systems: subjects, faces, grants, sync.
    Sync,
    /// Remote terminals: `/ws/auth` only.
    Terminal,
    /// Maintenance technicians: read-only people, events, doors; door test commands.
    Technician,
    /// The screen beside the door (`/door-display`): the presentation stream only.
    Display,
}

impl TokenRole {
    pub const ALL: [TokenRole; 5] = [
        TokenRole::Admin,
        TokenRole::Sync,
        TokenRole::Terminal,
        TokenRole::Technician,
        TokenRole::Display,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Admin => "admin",
            TokenRole::Sync => "sync",
            TokenRole::Terminal => "terminal",
            TokenRole::Technician => "technician",
            TokenRole::Display => "display",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub label: String,
    pub role: TokenRole,
    /// Hex SHA-256 (or HMAC with the pepper) of the token; the token itself is never stored.
    pub hash: String,
    pub created_ms: Millis,
    pub last_used_ms: Option<Millis>,
    pub revoked_ms: Option<Millis>,
}

/// What an event records; stored as [`EventKind::as_str`] in the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An access decision (camera, terminal, decisions API): `granted` and a decision reason.
    #[default]
    Decision,
    /// A step towards a decision that is not one yet (staff waiting for the patient).
    Presentation,
    /// A door state change or command.
    Door,
    /// A door alarm (forced, held open, fire, hardware fault).
    Alarm,
    /// An administrative change through the API (who changed what).
    Admin,
    /// A console login, failed login, throttled login or logout.
    Login,
    /// A refused API credential (`auth_failed`) or a client held back for too many of them
    /// (`auth_throttled`); the client address, never the credential.
    Auth,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Decision => "decision",
            EventKind::Presentation => "presentation",
            EventKind::Door => "door",
            EventKind::Alarm => "alarm",
            EventKind::Admin => "admin",
            EventKind::Login => "login",
            EventKind::Auth => "auth",
        }
    }

    pub const ALL: [EventKind; 7] = [
        EventKind::Decision,
        EventKind::Presentation,
        EventKind::Door,
        EventKind::Alarm,
        EventKind::Admin,
        EventKind::Login,
        EventKind::Auth,
    ];

    /// The kind stored as `s` ([`EventKind::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of the append-only, hash-chained event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    /// Which controller wrote it; each node keeps its own chain.
    pub node: String,
    /// Position in the node's chain, from 1.
    pub seq: i64,
    pub ts_ms: Millis,
    pub kind: EventKind,
    pub door_id: Option<String>,
    pub subject_id: Option<String>,
    pub patient_id: Option<String>,
    pub granted: Option<bool>,
    /// Machine-readable reason (`granted`, `unknown_staff`, `door_forced_open`, …).
    pub reason: String,
    /// Free-form JSON details (never embeddings or images).
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

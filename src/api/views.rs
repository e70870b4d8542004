//! JSON shapes of the API: requests (strict: unknown fields are errors) and responses.
//! Their JSON schemas feed the OpenAPI document, so the document cannot drift from the types.

use crate::api::text::{Slug, Text};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::problem::{fmt_time, ApiError, ApiResult};
use crate::model::{
    ApiToken, DoorMode, Event, FaceTemplate, Grant, GrantTarget, GrantValidity, Role, Subject,
    SubjectKind, SubjectStatus, TokenRole,
};

#[derive(Debug, Serialize, JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// Page size (default 50, at most `api.max_page_size`).
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// The largest `offset` of a paged list: 2^53 - 1, within the databases' signed 64-bit
/// counts and exact as a JSON (double) number.
pub const MAX_OFFSET: u64 = (1 << 53) - 1;

impl Paging {
    pub fn resolve(&self, max: u32) -> ApiResult<(u32, u64)> {
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > max {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {max}"),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(ApiError::invalid(
                "offset",
                format!("must be at most {MAX_OFFSET}"),
            ));
        }
        Ok((limit, offset))
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SubjectView {
    pub id: String,
    pub external_id: String,
    pub name: String,
    pub role: Role,
    pub kind: SubjectKind,
    pub status: SubjectStatus,
    /// `admin` or the sync source that manages this subject.
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Subject> for SubjectView {
    fn from(s: Subject) -> Self {
        Self {
            kind: s.role.kind(),
            id: s.id,
            external_id: s.external_id,
            name: s.name,
            role: s.role,
            status: s.status,
            source: s.source,
            created_at: fmt_time(s.created_ms),
            updated_at: fmt_time(s.updated_ms),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubject {
    /// Staff number or MRN; unique. Trimmed; not blank, no control characters.
    pub external_id: Text<128>,
    /// Trimmed; not blank, no control characters.
    pub name: Text<255>,
    pub role: Role,
    /// Default `active`.
    pub status: Option<SubjectStatus>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubject {
    pub external_id: Option<Text<128>>,
    pub name: Option<Text<255>>,
    pub role: Option<Role>,
    pub status: Option<SubjectStatus>,
}

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SubjectQuery {
    pub kind: Option<SubjectKind>,
    pub role: Option<Role>,
    pub status: Option<SubjectStatus>,
    /// Page size (default 50, at most `api.max_page_size`).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    #[schemars(range(max = "crate::api::views::MAX_OFFSET"))]
    pub offset: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FaceView {
    pub id: String,
    pub subject_id: String,
    pub model_id: String,
    pub dim: usize,
    pub created_at: String,
}

impl From<FaceTemplate> for FaceView {
    fn from(f: FaceTemplate) -> Self {
        Self {
            id: f.id,
            subject_id: f.subject_id,
            model_id: f.model_id,
            dim: f.dim,
            created_at: fmt_time(f.created_ms),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFace {
    /// A face embedding of `vision.embedding_dim` finite numbers from `vision.embedder`.
    pub embedding: Vec<f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DoorView {
    pub id: String,
    pub name: String,
    pub mode: DoorMode,
    pub created_at: String,
    pub updated_at: String,
    /// Live state and alarms, for the door this controller drives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::door::DoorStatus>,
}

impl From<crate::model::Door> for DoorView {
    fn from(d: crate::model::Door) -> Self {
        Self {
            id: d.id,
            name: d.name,
            mode: d.mode,
            created_at: fmt_time(d.created_ms),
            updated_at: fmt_time(d.updated_ms),
            state: None,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDoor {
    /// Chosen id (1–64 of `A-Za-z0-9._:-`); generated when absent.
    pub id: Option<Slug>,
    pub name: Text<255>,
    pub mode: DoorMode,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDoor {
    pub name: Option<Text<255>>,
    pub mode: Option<DoorMode>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    NotYetValid,
    Expired,
    Revoked,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GrantView {
    pub id: String,
    pub staff_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub door_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub source: String,
    pub status: GrantStatus,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl GrantView {
    pub fn new(g: Grant, now: i64) -> Self {
        let status = match g.validity_at(now) {
            GrantValidity::Valid => GrantStatus::Active,
            GrantValidity::NotYetValid => GrantStatus::NotYetValid,
            GrantValidity::Expired => GrantStatus::Expired,
            GrantValidity::Revoked => GrantStatus::Revoked,
        };
        let (door_id, patient_id) = match g.target {
            GrantTarget::Door(d) => (Some(d), None),
            GrantTarget::Patient(p) => (None, Some(p)),
        };
        Self {
            id: g.id,
            staff_id: g.staff_id,
            door_id,
            patient_id,
            valid_from: g.valid_from.map(fmt_time),
            valid_until: g.valid_until.map(fmt_time),
            source: g.source,
            status,
            created_at: fmt_time(g.created_ms),
            revoked_at: g.revoked_ms.map(fmt_time),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    pub staff_id: String,
    /// Exactly one of `door_id` and `patient_id`.
    pub door_id: Option<String>,
    pub patient_id: Option<String>,
    /// RFC 3339; open when absent.
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub valid_from: Option<String>,
    /// RFC 3339, exclusive, after `valid_from`; open when absent.
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub valid_until: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GrantQuery {
    pub staff_id: Option<String>,
    pub door_id: Option<String>,
    pub patient_id: Option<String>,
    pub source: Option<String>,
    /// Include revoked grants (default false).
    pub include_revoked: Option<bool>,
    /// Page size (default 50, at most `api.max_page_size`).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    #[schemars(range(max = "crate::api::views::MAX_OFFSET"))]
    pub offset: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EventView {
    pub id: String,
    pub node: String,
    pub seq: i64,
    pub time: String,
    pub kind: crate::model::EventKind,
    pub door_id: Option<String>,
    pub subject_id: Option<String>,
    pub patient_id: Option<String>,
    pub granted: Option<bool>,
    pub reason: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            node: e.node,
            seq: e.seq,
            time: fmt_time(e.ts_ms),
            kind: e.kind,
            door_id: e.door_id,
            subject_id: e.subject_id,
            patient_id: e.patient_id,
            granted: e.granted,
            reason: e.reason,
            details: e.details,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    pub door_id: Option<String>,
    /// Matches the staff member or the patient of an event.
    pub subject_id: Option<String>,
    pub kind: Option<String>,
    /// RFC 3339, inclusive.
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub to: Option<String>,
    /// Page size (default 50, at most `api.max_page_size`).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    #[schemars(range(max = "crate::api::views::MAX_OFFSET"))]
    pub offset: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenView {
    pub id: String,
    pub label: String,
    pub role: TokenRole,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            label: t.label,
            role: t.role,
            created_at: fmt_time(t.created_ms),
            last_used_at: t.last_used_ms.map(fmt_time),
            revoked_at: t.revoked_ms.map(fmt_time),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub label: Text<128>,
    pub role: TokenRole,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedToken {
    /// Shown once; only its hash is stored.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncGrants {
    /// The source system (`his`, `roster`, …; 1–64 of `A-Za-z0-9._:-`); `admin` is reserved.
    #[schemars(schema_with = "crate::api::contract::source_schema")]
    pub source: String,
    /// The complete current set of this source's grants.
    pub grants: Vec<SyncGrant>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncGrant {
    /// Staff external id.
    pub staff: Text<128>,
    /// Patient external id (exactly one of `patient` and `door`).
    pub patient: Option<String>,
    /// Door id.
    pub door: Option<String>,
    /// RFC 3339; open when absent.
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub valid_from: Option<String>,
    /// RFC 3339, exclusive, after `valid_from`; open when absent.
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub valid_until: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSubjects {
    /// The source system (1–64 of `A-Za-z0-9._:-`); `admin` is reserved.
    #[schemars(schema_with = "crate::api::contract::source_schema")]
    pub source: String,
    /// The complete current set of this source's people.
    pub subjects: Vec<SyncSubject>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSubject {
    pub external_id: Text<128>,
    pub name: Text<255>,
    pub role: Role,
    /// Default `active`.
    pub status: Option<SubjectStatus>,
}

/// `POST /register_face` (original path).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFace {
    /// Add a template to this existing subject instead of creating one (then `name`, `role`
    /// and `external_id` are not allowed; without it all three are required).
    pub subject_id: Option<String>,
    pub name: Option<Text<255>>,
    pub role: Option<Role>,
    pub external_id: Option<Text<128>>,
    /// Exactly one of `embedding`, `image` and `images`.
    pub embedding: Option<Vec<f64>>,
    /// Base64 JPEG or PNG; its dominant face is enrolled (two equally prominent faces: 422).
    #[schemars(length(max = "crate::api::compat::MAX_IMAGE_BASE64"))]
    pub image: Option<String>,
    /// 1 to 10 base64 JPEG or PNG photos of the same person, each enrolled as a template of
    /// its own (the door matches the best one). All are checked before any is stored: one
    /// refused photo refuses the request, naming `images[i]`.
    #[schemars(
        length(min = 1, max = "crate::api::compat::MAX_PHOTOS_PER_REQUEST"),
        inner(length(max = "crate::api::compat::MAX_IMAGE_BASE64"))
    )]
    pub images: Option<Vec<String>>,
    /// The person's consent, recorded with them (only when creating one; for an existing
    /// person `PUT /api/v1/subjects/{id}/consent`). Required while `privacy.require_consent`.
    pub consent: Option<crate::api::consent::RecordConsent>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RegisteredFace {
    pub subject_id: String,
    /// The first (with `images`) or only template created.
    pub face_id: String,
    /// Every template created, in the order of the photos.
    pub face_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccessAction {
    Grant,
    Revoke,
}

/// `POST /create_access` (original path).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccess {
    pub staff_id: String,
    pub patient_id: String,
    pub action: AccessAction,
    /// RFC 3339, in the future; only with `grant`.
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub valid_until: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AccessResult {
    pub action: String,
    /// The grant (for `grant`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantView>,
    /// How many grants were revoked (for `revoke`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
}

/// `/healthz`: `up` or `degraded` for anyone; the details only with a credential.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// `up`, or `degraded` while the database does not answer (the door still decides).
    #[schemars(regex(pattern = "^(up|degraded)$"))]
    pub status: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<HealthDetails>,
}

/// What `/healthz` adds for a caller with a token, console session or client certificate.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HealthDetails {
    /// `ok` or `unreachable`.
    pub database: String,
    pub subjects: usize,
    pub templates: usize,
    pub version: String,
}

/// Turns a JSON embedding into a unit-length f32 vector. Numbers within the f32 range, not all
/// zero, are accepted: the vector is scaled in f64 first, so tiny magnitudes (which would round
/// to zero as f32) keep their direction.
pub fn embedding_f32(field: &str, v: &[f64], dim: usize) -> ApiResult<Vec<f32>> {
    if v.len() != dim {
        return Err(ApiError::invalid(
            field,
            format!("has {} values, expected {dim}", v.len()),
        ));
    }
    if let Some(i) = v
        .iter()
        .position(|x| !x.is_finite() || x.abs() > f64::from(f32::MAX))
    {
        return Err(ApiError::invalid(
            format!("{field}[{i}]"),
            "not a finite 32-bit number",
        ));
    }
    let peak = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if peak == 0.0 {
        return Err(ApiError::vector(field, &crate::gallery::VectorError::Zero));
    }
    let scaled: Vec<f64> = v.iter().map(|x| x / peak).collect();
    let norm = scaled.iter().map(|x| x * x).sum::<f64>().sqrt();
    let out: Vec<f32> = scaled.iter().map(|x| (x / norm) as f32).collect();
    crate::gallery::normalized(&out, dim).map_err(|e| ApiError::vector(field, &e))
}

//! `/api/v1/subjects` and their face templates.

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::{AdminOnly, Auth, SyncOrTechnician, SyncRole};
use super::problem::{body_rejection, media_type, parse_json, ApiJson, ApiQuery};
use super::problem::{fmt_time, parse_time};
use super::text::Text;
use super::views::{
    embedding_f32, AddFace, CreateSubject, EventView, FaceView, GrantView, Page, Paging,
    SubjectQuery, SubjectView, UpdateSubject,
};
use super::{admin_event, ApiError, ApiResult, AppState};
use crate::model::{EventKind, GrantTarget, SubjectStatus, ADMIN_SOURCE};
use crate::store::{EventFilter, GrantFilter, SubjectFilter, SubjectPatch};

pub async fn list(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncOrTechnician>,
    ApiQuery(q): ApiQuery<SubjectQuery>,
) -> ApiResult<Json<Page<SubjectView>>> {
    let (limit, offset) = Paging {
        limit: q.limit,
        offset: q.offset,
    }
    .resolve(st.cfg.api.max_page_size)?;
    let (items, total) = st
        .core
        .store
        .list_subjects(&SubjectFilter {
            kind: q.kind,
            role: q.role,
            status: q.status,
            limit,
            offset,
        })
        .await?;
    Ok(Json(Page {
        items: items.into_iter().map(Into::into).collect(),
        total,
        limit,
        offset,
    }))
}

pub async fn create(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    ApiJson(b): ApiJson<CreateSubject>,
) -> ApiResult<(StatusCode, Json<SubjectView>)> {
    let (ext, name) = (b.external_id.as_str(), b.name.as_str());
    let s = st
        .core
        .store
        .create_subject(
            ext,
            name,
            b.role,
            b.status.unwrap_or(SubjectStatus::Active),
            ADMIN_SOURCE,
        )
        .await?;
    admin_event(
        &st,
        &caller,
        "subject_created",
        serde_json::json!({"subject_id": s.id}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(s.into())))
}

pub async fn get_one(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncOrTechnician>,
    Path(id): Path<String>,
) -> ApiResult<Json<SubjectView>> {
    Ok(Json(st.core.store.get_subject(&id).await?.into()))
}

pub async fn update(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateSubject>,
) -> ApiResult<Json<SubjectView>> {
    let patch = SubjectPatch {
        external_id: b.external_id.map(Text::into_string),
        name: b.name.map(Text::into_string),
        role: b.role,
        status: b.status,
    };
    let s = st.core.store.update_subject(&id, &patch).await?;
    admin_event(
        &st,
        &caller,
        "subject_updated",
        serde_json::json!({"subject_id": s.id}),
    )
    .await;
    Ok(Json(s.into()))
}

/// `DELETE /api/v1/subjects/{id}`'s options.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Erase the person (GDPR Art. 17): as a delete, and then no copy of their record is left
    /// in the database's files (docs/privacy.md, "Answering a person's request"). The audit
    /// log keeps their subject id, a pseudonym nothing maps to them any more.
    #[serde(default)]
    pub erase: bool,
}

pub async fn delete(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> ApiResult<StatusCode> {
    if q.erase {
        let e = st.core.store.erase_subject(&id).await?;
        admin_event(
            &st,
            &caller,
            "subject_erased",
            serde_json::json!({
                "subject_id": id,
                "templates_purged": e.templates,
                "grants_removed": e.grants,
                "consent_removed": e.consent,
            }),
        )
        .await;
        return Ok(StatusCode::NO_CONTENT);
    }
    let purged = st.core.store.delete_subject(&id).await?;
    admin_event(
        &st,
        &caller,
        "subject_deleted",
        serde_json::json!({"subject_id": id, "templates_purged": purged}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_faces(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<FaceView>>> {
    let faces = st.core.store.list_faces(&id).await?;
    Ok(Json(faces.into_iter().map(Into::into).collect()))
}

/// Adds a template from `{"embedding": [...]}` (JSON) or from a photo (`image/jpeg`,
/// `image/png` body) through the face encoder.
pub async fn add_face(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<(StatusCode, Json<FaceView>)> {
    // Before the body is looked at: a person without consent is not enrolled from any photo.
    st.core.store.get_subject(&id).await?;
    st.core.store.check_consent(&id).await?;
    let ct = media_type(req.headers());
    let bytes = Bytes::from_request(req, &())
        .await
        .map_err(body_rejection)?;
    let (vector, model_id) = match ct.as_str() {
        "application/json" => {
            let value: serde_json::Value = parse_json(&bytes)?;
            super::contract::body_schema::<AddFace>().check(&value)?;
            let b: AddFace = super::problem::from_value(value)?;
            (
                embedding_f32("embedding", &b.embedding, st.core.catalog.dim())?,
                st.core.catalog.model_id().to_owned(),
            )
        }
        "image/jpeg" | "image/png" => encode_photo(&st, "body", &bytes).await?,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/json with an embedding, or an image/jpeg or image/png photo",
            ))
        }
    };
    let face = st.core.store.add_face(&id, &model_id, &vector).await?;
    admin_event(
        &st,
        &caller,
        "face_added",
        serde_json::json!({"subject_id": id, "face_id": face.id}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(face.into())))
}

pub async fn delete_face(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    Path((id, face_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    st.core.store.delete_face(&id, &face_id).await?;
    admin_event(
        &st,
        &caller,
        "face_deleted",
        serde_json::json!({"subject_id": id, "face_id": face_id}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs the face encoder on a photo off the async threads; 503 when no models are loaded,
/// 422 naming `field` when the photo is refused (no face, several faces, poor quality, …).
pub async fn encode_photo(
    st: &AppState,
    field: &str,
    image: &[u8],
) -> ApiResult<(Vec<f32>, String)> {
    let Some(enc) = st.core.encoder.clone() else {
        return Err(ApiError::unavailable(
            "face images need the vision models, which are not loaded on this controller",
        ));
    };
    let model_id = enc.model_id().to_owned();
    if model_id != st.core.catalog.model_id() {
        return Err(ApiError::internal(&format!(
            "encoder model {model_id} differs from vision.embedder {}",
            st.core.catalog.model_id()
        )));
    }
    let image = image.to_vec();
    let v = tokio::task::spawn_blocking(move || enc.encode_image(&image))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|r| match r.code {
            "internal" => ApiError::internal(&r),
            "too_large" => ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                r.to_string(),
            )
            .with_field(field),
            _ => ApiError::invalid(field, r.to_string()),
        })?;
    let v = crate::gallery::normalized(&v, st.core.catalog.dim())
        .map_err(|e| ApiError::vector(field, &e))?;
    Ok((v, model_id))
}

/// What the controller holds about one person (the subject access report of GDPR Art. 15):
/// the record, template metadata, grants held and granted onto them, and what the audit log
/// holds, counted. Never a template vector or a face image.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SubjectReport {
    pub subject: SubjectView,
    /// The consent record (standing or withdrawn); absent when none was ever recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<crate::privacy::consent::Consent>,
    /// Metadata of every stored template (no vectors).
    pub templates: Vec<FaceView>,
    /// Grants this person holds (staff), revoked and expired ones included.
    pub grants_held: Vec<GrantView>,
    /// Grants other people hold onto this person (patient), revoked and expired ones included.
    pub grants_onto: Vec<GrantView>,
    /// Audit events that name this person, by kind (all time).
    pub events: Vec<ReportEvents>,
    /// The access decisions that name this person (as the person or the patient) within
    /// `from`..`to`, newest first, at most 500; `decisions_total` counts them all.
    pub decisions: Vec<EventView>,
    pub decisions_total: i64,
    pub generated_at: String,
}

/// The period of the report's decision list.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// RFC 3339, inclusive (default: all time).
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub from: Option<String>,
    /// RFC 3339, exclusive (default: now).
    #[serde(default)]
    #[schemars(schema_with = "crate::api::contract::date_time_schema")]
    pub to: Option<String>,
}

/// Decisions listed in one report; more are counted in `decisions_total` and paged through
/// `GET /api/v1/events?subject_id=…&kind=decision`.
const REPORT_DECISIONS: u32 = 500;

/// The audit events of one kind that name the person.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReportEvents {
    pub kind: EventKind,
    pub count: i64,
    pub first_at: String,
    pub last_at: String,
}

/// Grants lists in the report are bounded: a person with more than this many is told so by
/// the list endpoints' paging instead.
const REPORT_GRANTS: u32 = 1000;

/// `GET /api/v1/subjects/{id}/report`: admin only, and audited (reading a person's data is
/// itself an access a compliance office asks about).
pub async fn report(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<SubjectReport>> {
    let from_ms = q
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to_ms = q.to.as_deref().map(|v| parse_time("to", v)).transpose()?;
    let store = &st.core.store;
    let subject = store.get_subject(&id).await?;
    let templates = store.list_faces(&id).await?;
    let grants = |staff_id: Option<String>, target: Option<GrantTarget>| GrantFilter {
        staff_id,
        target,
        source: None,
        include_revoked: true,
        limit: REPORT_GRANTS,
        offset: 0,
    };
    let (held, _) = store.list_grants(&grants(Some(id.clone()), None)).await?;
    let (onto, _) = store
        .list_grants(&grants(None, Some(GrantTarget::Patient(id.clone()))))
        .await?;
    let events = store.subject_event_counts(&id).await?;
    let (decisions, decisions_total) = store
        .list_events(&EventFilter {
            door_id: None,
            subject_id: Some(id.clone()),
            kind: Some(EventKind::Decision.as_str().to_owned()),
            from_ms,
            to_ms,
            limit: REPORT_DECISIONS,
            offset: 0,
        })
        .await?;
    let now = st.core.clock.now_ms();
    admin_event(
        &st,
        &caller,
        "subject_report",
        serde_json::json!({"subject_id": id}),
    )
    .await;
    let consent = st.core.store.consent(&subject.id).await?;
    Ok(Json(SubjectReport {
        subject: subject.into(),
        consent,
        templates: templates.into_iter().map(Into::into).collect(),
        grants_held: held.into_iter().map(|g| GrantView::new(g, now)).collect(),
        grants_onto: onto.into_iter().map(|g| GrantView::new(g, now)).collect(),
        events: events
            .into_iter()
            .map(|e| ReportEvents {
                kind: e.kind,
                count: e.count,
                first_at: fmt_time(e.first_ms),
                last_at: fmt_time(e.last_ms),
            })
            .collect(),
        decisions: decisions.into_iter().map(Into::into).collect(),
        decisions_total,
        generated_at: fmt_time(now),
    }))
}

//! The original endpoints, kept at their paths: `POST /register_face`, `POST /create_access`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;

use super::auth::{Auth, SyncRole};
use super::grants::window;
use super::problem::ApiJson;
use super::subjects::encode_photo;
use super::views::{
    embedding_f32, AccessAction, AccessResult, CreateAccess, GrantView, RegisterFace,
    RegisteredFace,
};
use super::{admin_event, ApiError, ApiResult, AppState};
use crate::model::{GrantTarget, Role, Subject, ADMIN_SOURCE};

/// Largest decoded photo accepted in JSON (the body limit applies to the base64 first).
pub const MAX_IMAGE_BYTES: usize = 6 * 1024 * 1024;
/// Longest base64 text of a photo (`MAX_IMAGE_BYTES` encoded, with a little slack).
pub const MAX_IMAGE_BASE64: usize = MAX_IMAGE_BYTES / 3 * 4 + 4;

/// Embedding from either `embedding` or base64 `image` (exactly one).
pub(crate) async fn probe_vector(
    st: &AppState,
    field: &str,
    embedding: Option<&[f64]>,
    image: Option<&str>,
) -> ApiResult<(Vec<f32>, String)> {
    match (embedding, image) {
        (Some(e), None) => Ok((
            embedding_f32(&format!("{field}embedding"), e, st.core.catalog.dim())?,
            st.core.catalog.model_id().to_owned(),
        )),
        (None, Some(b64)) => {
            let f = format!("{field}image");
            encode_photo(st, &f, &decode_base64(&f, b64)?).await
        }
        (Some(_), Some(_)) => Err(ApiError::invalid(
            format!("{field}image"),
            "give either `embedding` or `image`, not both",
        )),
        (None, None) => Err(ApiError::invalid(
            format!("{field}embedding"),
            "one of `embedding` and `image` is required",
        )),
    }
}

/// Most photos one `/register_face` request may enrol.
pub const MAX_PHOTOS_PER_REQUEST: usize = 10;

/// The templates a `/register_face` body asks for: one from `embedding` or `image`, or one per
/// photo of `images`. Every photo is encoded before anything is written.
async fn register_vectors(st: &AppState, b: &RegisterFace) -> ApiResult<(Vec<Vec<f32>>, String)> {
    let Some(images) = &b.images else {
        let (v, model) = probe_vector(st, "", b.embedding.as_deref(), b.image.as_deref()).await?;
        return Ok((vec![v], model));
    };
    if b.embedding.is_some() || b.image.is_some() {
        return Err(ApiError::invalid(
            "images",
            "give one of `embedding`, `image` and `images`, not several",
        ));
    }
    if images.is_empty() || images.len() > MAX_PHOTOS_PER_REQUEST {
        return Err(ApiError::invalid(
            "images",
            format!("must hold 1 to {MAX_PHOTOS_PER_REQUEST} photos"),
        ));
    }
    let mut vectors = Vec::with_capacity(images.len());
    let mut model_id = st.core.catalog.model_id().to_owned();
    for (i, b64) in images.iter().enumerate() {
        let f = format!("images[{i}]");
        let (v, m) = encode_photo(st, &f, &decode_base64(&f, b64)?).await?;
        vectors.push(v);
        model_id = m;
    }
    Ok((vectors, model_id))
}

/// The bytes of a base64 photo, refused naming `field` when too large or not base64.
fn decode_base64(field: &str, b64: &str) -> ApiResult<Vec<u8>> {
    if b64.len() > MAX_IMAGE_BASE64 {
        return Err(ApiError::invalid(
            field,
            format!("larger than {MAX_IMAGE_BYTES} bytes"),
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| ApiError::invalid(field, format!("not base64: {e}")))
}

/// Creates a subject with its first face(s), or (with `subject_id`) adds face(s).
pub async fn register_face(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    ApiJson(b): ApiJson<RegisterFace>,
) -> ApiResult<(StatusCode, Json<RegisteredFace>)> {
    let (subject_id, face_ids) = if let Some(sid) = &b.subject_id {
        for (present, f) in [
            (b.name.is_some(), "name"),
            (b.role.is_some(), "role"),
            (b.external_id.is_some(), "external_id"),
            (b.consent.is_some(), "consent"),
        ] {
            if present {
                return Err(ApiError::invalid(
                    f,
                    "not allowed together with `subject_id`",
                ));
            }
        }
        st.core.store.get_subject(sid).await?;
        st.core.store.check_consent(sid).await?;
        let (vectors, model) = register_vectors(&st, &b).await?;
        let faces = st.core.store.add_faces(sid, &model, &vectors).await?;
        (
            sid.clone(),
            faces.into_iter().map(|f| f.id).collect::<Vec<_>>(),
        )
    } else {
        let name = b
            .name
            .as_ref()
            .ok_or_else(|| ApiError::invalid("name", "required (or give `subject_id`)"))?
            .as_str();
        let role = b.role.ok_or_else(|| {
            ApiError::invalid("role", "required: doctor, nurse, other or patient")
        })?;
        let ext = b
            .external_id
            .as_ref()
            .ok_or_else(|| ApiError::invalid("external_id", "required (staff number or MRN)"))?
            .as_str();
        let consent = b.consent.as_ref().map(|c| c.input(&caller));
        if consent.is_none() && st.cfg.privacy.require_consent {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "consent_required",
                "a new person's face is enrolled only with their consent: give `consent` \
                 (method, document) in this request",
            )
            .with_field("consent"));
        }
        // Validate the whole body before writing anything.
        let (vectors, model) = register_vectors(&st, &b).await?;
        let (s, faces) = st
            .core
            .store
            .register_subject_with_faces(ext, name, role, &model, &vectors, consent.as_ref())
            .await?;
        (s.id, faces.into_iter().map(|f| f.id).collect::<Vec<_>>())
    };
    admin_event(
        &st,
        &caller,
        "face_registered",
        serde_json::json!({"subject_id": subject_id, "face_id": face_ids.first(), "face_ids": face_ids}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredFace {
            subject_id,
            face_id: face_ids.first().cloned().unwrap_or_default(),
            face_ids,
        }),
    ))
}

/// Finds a subject by id, or else by external id (hospital systems know the latter).
async fn subject_ref(st: &AppState, field: &str, value: &str) -> ApiResult<Subject> {
    match st.core.store.get_subject(value).await {
        Ok(s) => Ok(s),
        Err(crate::store::StoreError::NotFound { .. }) => st
            .core
            .store
            .subject_by_external_id(value)
            .await?
            .ok_or_else(|| ApiError::not_found("subject").with_field(field)),
        Err(e) => Err(e.into()),
    }
}

/// Grants or revokes a staff member's access to a patient.
pub async fn create_access(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    ApiJson(b): ApiJson<CreateAccess>,
) -> ApiResult<(StatusCode, Json<AccessResult>)> {
    let staff = subject_ref(&st, "staff_id", &b.staff_id).await?;
    let patient = subject_ref(&st, "patient_id", &b.patient_id).await?;
    if staff.role == Role::Patient {
        return Err(ApiError::invalid(
            "staff_id",
            "subject is a patient, not staff",
        ));
    }
    if patient.role != Role::Patient {
        return Err(ApiError::invalid(
            "patient_id",
            "subject is staff, not a patient",
        ));
    }
    let target = GrantTarget::Patient(patient.id.clone());
    match b.action {
        AccessAction::Grant => {
            let (_, until) = window(None, b.valid_until.as_deref(), "valid_from", "valid_until")?;
            if until.is_some_and(|u| u <= st.core.clock.now_ms()) {
                return Err(ApiError::invalid("valid_until", "is in the past"));
            }
            let g = st
                .core
                .store
                .grant(&staff.id, &target, None, until, ADMIN_SOURCE)
                .await?;
            admin_event(
                &st,
                &caller,
                "grant_created",
                serde_json::json!({"grant_id": g.id}),
            )
            .await;
            Ok((
                StatusCode::CREATED,
                Json(AccessResult {
                    action: "grant".into(),
                    grant: Some(GrantView::new(g, st.core.clock.now_ms())),
                    revoked: None,
                }),
            ))
        }
        AccessAction::Revoke => {
            if b.valid_until.is_some() {
                return Err(ApiError::invalid(
                    "valid_until",
                    "not allowed with action `revoke`",
                ));
            }
            let n = st.core.store.revoke_between(&staff.id, &target).await?;
            if n == 0 {
                return Err(ApiError::not_found(
                    "active grant between this staff member and patient",
                ));
            }
            admin_event(
                &st,
                &caller,
                "grant_revoked",
                serde_json::json!({"staff_id": staff.id, "patient_id": patient.id, "count": n}),
            )
            .await;
            Ok((
                StatusCode::OK,
                Json(AccessResult {
                    action: "revoke".into(),
                    grant: None,
                    revoked: Some(n),
                }),
            ))
        }
    }
}

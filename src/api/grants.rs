//! `/api/v1/grants`: staff→door and staff→patient permissions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::auth::{Auth, SyncRole};
use super::problem::{parse_time, ApiJson, ApiQuery};
use super::views::{CreateGrant, GrantQuery, GrantView, Page, Paging};
use super::{admin_event, ApiError, ApiResult, AppState};
use crate::model::{GrantTarget, ADMIN_SOURCE};
use crate::store::GrantFilter;

/// Exactly one of door and patient.
pub(crate) fn target_of(
    door: Option<&str>,
    patient: Option<&str>,
    door_field: &str,
    patient_field: &str,
) -> ApiResult<GrantTarget> {
    match (door, patient) {
        (Some(d), None) => Ok(GrantTarget::Door(d.to_owned())),
        (None, Some(p)) => Ok(GrantTarget::Patient(p.to_owned())),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            patient_field,
            format!("give either `{door_field}` or `{patient_field}`, not both"),
        )),
        (None, None) => Err(ApiError::invalid(
            door_field,
            format!("one of `{door_field}` and `{patient_field}` is required"),
        )),
    }
}

/// Parses an optional validity window and checks it is not empty.
pub(crate) fn window(
    from: Option<&str>,
    until: Option<&str>,
    from_field: &str,
    until_field: &str,
) -> ApiResult<(Option<i64>, Option<i64>)> {
    let f = from.map(|v| parse_time(from_field, v)).transpose()?;
    let u = until.map(|v| parse_time(until_field, v)).transpose()?;
    if let (Some(f), Some(u)) = (f, u) {
        if u <= f {
            return Err(ApiError::invalid(until_field, "must be after valid_from"));
        }
    }
    Ok((f, u))
}

pub async fn list(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncRole>,
    ApiQuery(q): ApiQuery<GrantQuery>,
) -> ApiResult<Json<Page<GrantView>>> {
    let (limit, offset) = Paging {
        limit: q.limit,
        offset: q.offset,
    }
    .resolve(st.cfg.api.max_page_size)?;
    let target = match (q.door_id.as_deref(), q.patient_id.as_deref()) {
        (None, None) => None,
        // Filters combine: a grant is for a door or for a patient, never both.
        (Some(_), Some(_)) => {
            return Ok(Json(Page {
                items: Vec::new(),
                total: 0,
                limit,
                offset,
            }))
        }
        (d, p) => Some(target_of(d, p, "door_id", "patient_id")?),
    };
    let (items, total) = st
        .core
        .store
        .list_grants(&GrantFilter {
            staff_id: q.staff_id,
            target,
            source: q.source,
            include_revoked: q.include_revoked.unwrap_or(false),
            limit,
            offset,
        })
        .await?;
    let now = st.core.clock.now_ms();
    Ok(Json(Page {
        items: items.into_iter().map(|g| GrantView::new(g, now)).collect(),
        total,
        limit,
        offset,
    }))
}

pub async fn create(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    ApiJson(b): ApiJson<CreateGrant>,
) -> ApiResult<(StatusCode, Json<GrantView>)> {
    let target = target_of(
        b.door_id.as_deref(),
        b.patient_id.as_deref(),
        "door_id",
        "patient_id",
    )?;
    let (from, until) = window(
        b.valid_from.as_deref(),
        b.valid_until.as_deref(),
        "valid_from",
        "valid_until",
    )?;
    let g = st
        .core
        .store
        .grant(&b.staff_id, &target, from, until, ADMIN_SOURCE)
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
        Json(GrantView::new(g, st.core.clock.now_ms())),
    ))
}

pub async fn get_one(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
) -> ApiResult<Json<GrantView>> {
    Ok(Json(GrantView::new(
        st.core.store.get_grant(&id).await?,
        st.core.clock.now_ms(),
    )))
}

/// Revokes (the row stays, for the record).
pub async fn revoke(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
) -> ApiResult<Json<GrantView>> {
    let g = st.core.store.revoke_grant(&id).await?;
    admin_event(
        &st,
        &caller,
        "grant_revoked",
        serde_json::json!({"grant_id": id}),
    )
    .await;
    Ok(Json(GrantView::new(g, st.core.clock.now_ms())))
}

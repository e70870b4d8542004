//! `/api/v1/doors`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::auth::{AdminOnly, Auth, SyncOrTechnician};
use super::problem::{check_slug, check_text, ApiJson};
use super::views::{CreateDoor, DoorView, UpdateDoor};
use super::{admin_event, ApiResult, AppState};

pub async fn list(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncOrTechnician>,
) -> ApiResult<Json<Vec<DoorView>>> {
    Ok(Json(
        st.store
            .list_doors()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

pub async fn create(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    ApiJson(b): ApiJson<CreateDoor>,
) -> ApiResult<(StatusCode, Json<DoorView>)> {
    let id = match &b.id {
        Some(id) => check_slug("id", id)?,
        None => crate::model::new_id(),
    };
    let name = check_text("name", &b.name, 255)?;
    let door = st.store.create_door(&id, &name, b.mode).await?;
    st.refresh_directory().await?;
    admin_event(
        &st,
        &caller,
        "door_created",
        serde_json::json!({"door_id": door.id}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(door.into())))
}

pub async fn get_one(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncOrTechnician>,
    Path(id): Path<String>,
) -> ApiResult<Json<DoorView>> {
    Ok(Json(st.store.get_door(&id).await?.into()))
}

pub async fn update(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateDoor>,
) -> ApiResult<Json<DoorView>> {
    let name = b
        .name
        .as_deref()
        .map(|n| check_text("name", n, 255))
        .transpose()?;
    let door = st.store.update_door(&id, name.as_deref(), b.mode).await?;
    st.refresh_directory().await?;
    admin_event(
        &st,
        &caller,
        "door_updated",
        serde_json::json!({"door_id": id}),
    )
    .await;
    Ok(Json(door.into()))
}

pub async fn delete(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.store.delete_door(&id).await?;
    st.refresh_directory().await?;
    admin_event(
        &st,
        &caller,
        "door_deleted",
        serde_json::json!({"door_id": id}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

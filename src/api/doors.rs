//! `/api/v1/doors`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::auth::{AdminOnly, Auth, SyncOrTechnician, TechnicianRole};
use super::problem::ApiJson;
use super::views::{CreateDoor, DoorView, UpdateDoor};
use super::{admin_event, ApiError, ApiResult, AppState};
use crate::door::command::authorize;
use crate::door::{Command, CommandError, DoorRole, DoorStatus};
use crate::model::TokenRole;

pub async fn list(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncOrTechnician>,
) -> ApiResult<Json<Vec<DoorView>>> {
    Ok(Json(
        st.core
            .store
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
    let id =
        b.id.map_or_else(crate::model::new_id, super::text::Slug::into_string);
    let door = st
        .core
        .store
        .create_door(&id, b.name.as_str(), b.mode)
        .await?;
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
    let mut view: DoorView = st.core.store.get_door(&id).await?.into();
    if let Some(door) = st.core.door.as_ref().filter(|d| d.id() == id) {
        view.state = door.state().await.ok();
    }
    Ok(Json(view))
}

/// `POST /api/v1/doors/{id}/commands`: technician and admin commands to the door this
/// controller drives (`pulse`, `hold`, `ack_alarm`; admin also `lockdown`, `release_lockdown`).
/// Answers the door's state after the command.
pub async fn command(
    State(st): State<AppState>,
    Auth(caller, _): Auth<TechnicianRole>,
    Path(id): Path<String>,
    ApiJson(cmd): ApiJson<Command>,
) -> ApiResult<Json<DoorStatus>> {
    let role = match caller.role {
        TokenRole::Admin => DoorRole::Admin,
        TokenRole::Technician => DoorRole::Technician,
        _ => DoorRole::Viewer,
    };
    let Some(door) = st.core.door.as_ref().filter(|d| d.id() == id) else {
        // A door of the site that another controller drives is in the way, not missing.
        st.core.store.get_door(&id).await?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_driven_here",
            format!("door {id} is not driven by this controller; send its commands to the controller that drives it"),
        ));
    };
    authorize(&cmd, role).map_err(door_error)?;
    // Through the decision service: one `door` event, carried out or refused.
    let after = st
        .core
        .decider()
        .door_command(door, cmd, &caller.token_id, caller.role.as_str())
        .await
        .map_err(door_error)?;
    Ok(Json(after))
}

fn door_error(e: CommandError) -> ApiError {
    ApiError::new(e.http_status(), e.code(), e.to_string())
}

pub async fn update(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateDoor>,
) -> ApiResult<Json<DoorView>> {
    let name = b.name.as_ref().map(super::text::Text::as_str);
    let door = st.core.store.update_door(&id, name, b.mode).await?;
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
    st.core.store.delete_door(&id).await?;
    admin_event(
        &st,
        &caller,
        "door_deleted",
        serde_json::json!({"door_id": id}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

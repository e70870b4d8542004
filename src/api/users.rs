//! `/api/v1/users`: console accounts (admin only). Passwords are write-only; hashes never
//! leave the store.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::{AdminOnly, Auth};
use super::problem::{fmt_time, ApiJson};
use super::{admin_event, ApiResult, AppState};
use crate::store::ConsoleUser;

#[derive(Debug, Serialize, JsonSchema)]
pub struct UserView {
    pub id: String,
    pub name: String,
    /// `technician` or `admin`.
    pub role: String,
    pub created_at: String,
    pub last_login_at: Option<String>,
}

impl From<ConsoleUser> for UserView {
    fn from(u: ConsoleUser) -> Self {
        Self {
            id: u.id,
            name: u.name,
            role: u.role.as_str().into(),
            created_at: fmt_time(u.created_ms),
            last_login_at: u.last_login_ms.map(fmt_time),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name: 1 to 64 of A-Z a-z 0-9 . _ @ -
    pub name: String,
    /// `technician` or `admin`.
    pub role: String,
    /// 10 to 256 characters; stored as an argon2id hash.
    pub password: String,
}

pub async fn list(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<AdminOnly>,
) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(
        st.store
            .list_users()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

pub async fn create(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    ApiJson(b): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let role = crate::console::users::parse_role(&b.role)?;
    let u = crate::console::users::create(&st.store, &b.name, role, b.password).await?;
    admin_event(
        &st,
        &caller,
        "user_created",
        serde_json::json!({"user": u.name, "user_role": u.role.as_str()}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(u.into())))
}

pub async fn delete(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let u = st.store.delete_user(&id).await?;
    st.console.sessions.end_user(&u.id);
    admin_event(
        &st,
        &caller,
        "user_deleted",
        serde_json::json!({"user": u.name}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

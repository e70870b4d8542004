//! `/api/v1/tokens` (admin only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::auth::{AdminOnly, Auth};
use super::problem::ApiJson;
use super::views::{CreateToken, CreatedToken, TokenView};
use super::{admin_event, ApiError, ApiResult, AppState};

pub async fn list(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<AdminOnly>,
) -> ApiResult<Json<Vec<TokenView>>> {
    Ok(Json(
        st.core
            .store
            .list_tokens()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

pub async fn create(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    ApiJson(b): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let label = b.label.as_str();
    let (token, rec) = st.core.tokens.create(&st.core.store, label, b.role).await?;
    admin_event(
        &st,
        &caller,
        "token_created",
        serde_json::json!({"new_token_id": rec.id, "new_role": rec.role.as_str()}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token,
            info: rec.into(),
        }),
    ))
}

pub async fn revoke(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    Path(id): Path<String>,
) -> ApiResult<Json<TokenView>> {
    if id == caller.token_id {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "conflict",
            "a token cannot revoke itself",
        )
        .with_field("id"));
    }
    let t = st.core.store.revoke_token(&id).await?;
    admin_event(
        &st,
        &caller,
        "token_revoked",
        serde_json::json!({"revoked_token_id": id}),
    )
    .await;
    Ok(Json(t.into()))
}

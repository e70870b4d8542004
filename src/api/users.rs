//! `/api/v1/users`: console accounts (admin only). Passwords are write-only; hashes never
//! leave the store.
//!
//! `/api/v1/users/me/totp`: the logged-in admin's own second factor (RFC 6238, see
//! [`crate::console::totp`]). `POST` makes a new secret and shows it once (it is kept in memory
//! for ten minutes); `PUT` with a code from the app confirms it, and only then is it stored and
//! asked for at login, so a mistyped import cannot lock anyone out; `DELETE` removes it. Only a
//! console session has an account to protect: a bearer token gets 409.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::time::Instant;

use super::auth::{AdminOnly, Auth};
use super::problem::{fmt_time, ApiJson};
use super::{admin_event, ApiError, ApiResult, AppState, Caller};
use crate::store::ConsoleUser;

#[derive(Debug, Serialize, JsonSchema)]
pub struct UserView {
    pub id: String,
    pub name: String,
    /// `technician` or `admin`.
    pub role: String,
    pub created_at: String,
    pub last_login_at: Option<String>,
    /// Whether the account has a second factor (TOTP code at login).
    pub totp: bool,
}

impl From<ConsoleUser> for UserView {
    fn from(u: ConsoleUser) -> Self {
        Self {
            id: u.id,
            name: u.name,
            role: u.role.as_str().into(),
            created_at: fmt_time(u.created_ms),
            last_login_at: u.last_login_ms.map(fmt_time),
            totp: u.totp_secret.is_some(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name: 1 to 64 of A-Z a-z 0-9 . _ @ -
    #[schemars(regex(pattern = r"^[A-Za-z0-9._@-]{1,64}$"))]
    pub name: String,
    /// `technician` or `admin`.
    #[schemars(schema_with = "console_role_schema")]
    pub role: String,
    /// 10 to 256 characters, no control characters; stored as an argon2id hash.
    #[schemars(
        length(min = 10, max = 256),
        regex = "crate::api::contract::NO_CONTROL_PATTERN"
    )]
    pub password: String,
}

fn console_role_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    serde_json::from_value(serde_json::json!({"type": "string", "enum": ["technician", "admin"]}))
        .unwrap_or(schemars::schema::Schema::Bool(true))
}

pub async fn list(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<AdminOnly>,
) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(
        st.core
            .store
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
    let u = crate::console::users::create(&st.core.store, &b.name, role, b.password).await?;
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
    let u = st.core.store.delete_user(&id).await?;
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

/// A second factor being set up: import `otpauth_uri` (or type `secret`) into an
/// authenticator app, then confirm with a code.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TotpEnrolment {
    /// The shared secret, base32 (shown once).
    pub secret: String,
    /// `otpauth://totp/…` with issuer, SHA1, 6 digits, 30 s period.
    pub otpauth_uri: String,
    /// Seconds left to confirm it with `PUT /api/v1/users/me/totp`.
    pub expires_in_secs: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// The 6-digit code the authenticator app shows now.
    #[schemars(regex(pattern = r"^\s*[0-9]{6}\s*$"))]
    pub code: String,
}

/// The console account behind the caller's session.
async fn own_account(st: &AppState, caller: &Caller) -> ApiResult<ConsoleUser> {
    let no_account = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_console_account",
            "only a console session has an account with a second factor; log in to the console",
        )
    };
    let name = caller
        .token_id
        .strip_prefix("user:")
        .ok_or_else(no_account)?;
    st.core
        .store
        .user_by_name(name)
        .await?
        .ok_or_else(no_account)
}

/// `POST /api/v1/users/me/totp`: a new secret for the caller's account, not yet in force.
pub async fn totp_begin(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
) -> ApiResult<Json<TotpEnrolment>> {
    let u = own_account(&st, &caller).await?;
    let secret = st.console.totp.start_enrolment(&u.id, Instant::now());
    Ok(Json(TotpEnrolment {
        otpauth_uri: crate::console::totp::otpauth_uri(&st.cfg.events.node, &u.name, &secret),
        secret,
        expires_in_secs: crate::console::totp::PENDING_ENROLMENT.as_secs(),
    }))
}

/// `PUT /api/v1/users/me/totp`: a code of the new secret puts it in force.
pub async fn totp_confirm(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
    ApiJson(b): ApiJson<TotpCode>,
) -> ApiResult<Json<UserView>> {
    let u = own_account(&st, &caller).await?;
    let secret = st
        .console
        .totp
        .enrolment(&u.id, Instant::now())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_enrolment",
                "no second factor is being set up (or it took over 10 minutes): POST /api/v1/users/me/totp first",
            )
        })?;
    if !st
        .console
        .totp
        .check(&u.id, &secret, &b.code, crate::console::totp::unix_now())
    {
        return Err(ApiError::invalid(
            "code",
            "is not the app's current 6-digit code for this secret (check the phone's clock)",
        ));
    }
    st.core.store.set_user_totp(&u.id, Some(&secret)).await?;
    st.console.totp.end_enrolment(&u.id);
    admin_event(
        &st,
        &caller,
        "totp_enabled",
        serde_json::json!({"user": u.name}),
    )
    .await;
    let u = st.core.store.user_by_id(&u.id).await?.unwrap_or(u);
    Ok(Json(u.into()))
}

/// `DELETE /api/v1/users/me/totp`: the caller's account logs in with its password alone.
pub async fn totp_disable(
    State(st): State<AppState>,
    Auth(caller, _): Auth<AdminOnly>,
) -> ApiResult<StatusCode> {
    let u = own_account(&st, &caller).await?;
    st.console.totp.end_enrolment(&u.id);
    if u.totp_secret.is_some() {
        st.core.store.set_user_totp(&u.id, None).await?;
        admin_event(
            &st,
            &caller,
            "totp_disabled",
            serde_json::json!({"user": u.name}),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/subjects/{id}/consent`: record, read and withdraw a person's consent to face
//! recognition (docs/privacy.md, "Consent").

use axum::extract::{Path, State};
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::{Auth, Caller, SyncOrTechnician, SyncRole};
use super::problem::ApiJson;
use super::text::Text;
use super::{admin_event, ApiResult, AppState};
use crate::privacy::consent::{Consent, ConsentInput, ConsentMethod, ConsentScope};

/// `PUT /api/v1/subjects/{id}/consent`, and `consent` in `POST /register_face`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordConsent {
    pub method: ConsentMethod,
    /// The form or text agreed to, with its version (e.g. `"FR-01 v3"`).
    pub document: Text<255>,
    /// Default `face_recognition`.
    pub scope: Option<ConsentScope>,
    /// Who took the consent (a person); default: the console account (`user:<name>`) or the
    /// calling token (`token:<id>`).
    pub recorded_by: Option<Text<128>>,
}

impl RecordConsent {
    pub(crate) fn input(&self, caller: &Caller) -> ConsentInput {
        ConsentInput {
            scope: self.scope.unwrap_or_default(),
            method: self.method,
            document: self.document.as_str().to_owned(),
            recorded_by: self.recorded_by.as_ref().map_or_else(
                // A console session's caller is already `user:<account>`.
                || {
                    if caller.token_id.starts_with("user:") {
                        caller.token_id.clone()
                    } else {
                        format!("token:{}", caller.token_id)
                    }
                },
                |b| b.as_str().to_owned(),
            ),
        }
    }
}

/// The answer to a withdrawal.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Withdrawn {
    pub consent: Consent,
    /// Templates purged with it.
    pub purged_templates: u64,
}

pub async fn record(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RecordConsent>,
) -> ApiResult<Json<Consent>> {
    let c = st.core.store.record_consent(&id, &b.input(&caller)).await?;
    admin_event(
        &st,
        &caller,
        "consent_recorded",
        serde_json::json!({"subject_id": id, "scope": c.scope, "method": c.method, "document": c.document}),
    )
    .await;
    Ok(Json(c))
}

pub async fn get(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<SyncOrTechnician>,
    Path(id): Path<String>,
) -> ApiResult<Json<Consent>> {
    st.core.store.get_subject(&id).await?;
    let c = st
        .core
        .store
        .consent(&id)
        .await?
        .ok_or_else(|| super::ApiError::not_found("consent"))?;
    Ok(Json(c))
}

/// Withdraws consent: the person's templates are purged at once, here and (through the change
/// feed) on every controller, and enrolment is refused until consent is recorded again.
pub async fn withdraw(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
) -> ApiResult<Json<Withdrawn>> {
    st.core.store.get_subject(&id).await?;
    let by = format!("token:{}", caller.token_id);
    let (consent, purged) = st.core.store.withdraw_consent(&id, &by).await?;
    admin_event(
        &st,
        &caller,
        "consent_withdrawn",
        serde_json::json!({"subject_id": id, "templates_purged": purged}),
    )
    .await;
    Ok(Json(Withdrawn {
        consent,
        purged_templates: purged,
    }))
}

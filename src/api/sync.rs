//! `PUT /api/v1/sync/*`: complete snapshots from hospital systems, reconciled in one
//! transaction (see `store::sync`).

use axum::extract::State;
use axum::Json;

use super::auth::{Auth, SyncRole};
use super::grants::{target_of, window};
use super::problem::{check_slug, ApiJson};
use super::views::{SyncGrants, SyncSubjects};
use super::{admin_event, ApiResult, AppState};
use crate::model::SubjectStatus;
use crate::store::{GrantSnapshotEntry, SubjectSnapshotEntry, SyncOutcome};

pub async fn grants(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    ApiJson(b): ApiJson<SyncGrants>,
) -> ApiResult<Json<SyncOutcome>> {
    let source = check_slug("source", &b.source)?;
    let mut entries = Vec::with_capacity(b.grants.len());
    for (i, g) in b.grants.iter().enumerate() {
        let staff = g.staff.as_str().to_owned();
        let target = target_of(
            g.door.as_deref(),
            g.patient.as_deref(),
            &format!("grants[{i}].door"),
            &format!("grants[{i}].patient"),
        )?;
        let (valid_from, valid_until) = window(
            g.valid_from.as_deref(),
            g.valid_until.as_deref(),
            &format!("grants[{i}].valid_from"),
            &format!("grants[{i}].valid_until"),
        )?;
        entries.push(GrantSnapshotEntry {
            staff,
            target,
            valid_from,
            valid_until,
        });
    }
    let out = st.core.store.sync_grants(&source, &entries).await?;
    admin_event(
        &st,
        &caller,
        "sync_grants",
        serde_json::to_value(&out).unwrap_or_default(),
    )
    .await;
    Ok(Json(out))
}

pub async fn subjects(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    ApiJson(b): ApiJson<SyncSubjects>,
) -> ApiResult<Json<SyncOutcome>> {
    let source = check_slug("source", &b.source)?;
    let mut entries = Vec::with_capacity(b.subjects.len());
    for s in &b.subjects {
        entries.push(SubjectSnapshotEntry {
            external_id: s.external_id.as_str().to_owned(),
            name: s.name.as_str().to_owned(),
            role: s.role,
            status: s.status.unwrap_or(SubjectStatus::Active),
        });
    }
    let out = st.core.store.sync_subjects(&source, &entries).await?;
    admin_event(
        &st,
        &caller,
        "sync_subjects",
        serde_json::to_value(&out).unwrap_or_default(),
    )
    .await;
    Ok(Json(out))
}

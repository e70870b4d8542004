//! `/healthz`: up or degraded for load balancers and monitors, without authentication; the
//! details (database, gallery size, version) only for a caller with a credential, so an
//! anonymous client on the network learns nothing about the installation.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;

use super::views::Health;
use super::{AppState, Caller};

/// 200 while the controller can decide (even with the database down: the door works from its
/// snapshot); `status` is `up`, or `degraded` while the database does not answer.
pub async fn healthz(State(st): State<AppState>, parts: Parts) -> (StatusCode, Json<Health>) {
    let db_ok = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), st.core.store.ping()).await,
        Ok(Ok(()))
    );
    let status = if db_ok { "up" } else { "degraded" }.to_owned();
    let mut parts = parts;
    let known = Caller::from_request_parts(&mut parts, &st).await.is_ok();
    if !known {
        return (
            StatusCode::OK,
            Json(Health {
                status,
                details: None,
            }),
        );
    }
    let snap = st.core.catalog.snapshot();
    (
        StatusCode::OK,
        Json(Health {
            status,
            details: Some(super::views::HealthDetails {
                database: if db_ok { "ok" } else { "unreachable" }.into(),
                subjects: snap.directory.subject_count(),
                templates: snap.gallery.len(),
                version: env!("CARGO_PKG_VERSION").into(),
            }),
        }),
    )
}

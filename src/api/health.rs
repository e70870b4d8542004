//! `/healthz`: liveness without authentication, for load balancers and the technician.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::views::Health;
use super::AppState;

/// 200 while the controller can decide (even with the database down: the door works from its
/// snapshot); the body says whether the database answers.
pub async fn healthz(State(st): State<AppState>) -> (StatusCode, Json<Health>) {
    let db = match tokio::time::timeout(std::time::Duration::from_secs(2), st.store.ping()).await {
        Ok(Ok(())) => "ok",
        _ => "unreachable",
    };
    let snap = st.catalog.snapshot();
    (
        StatusCode::OK,
        Json(Health {
            status: if db == "ok" { "ok" } else { "degraded" }.into(),
            database: db.into(),
            subjects: snap.directory.subject_count(),
            templates: snap.gallery.len(),
            version: env!("CARGO_PKG_VERSION").into(),
        }),
    )
}

//! `GET /api/v1/status`: what the controller is doing now, for technicians.
//!
//! For now it reports the camera door loop's rolling stage timings (`pipeline`); other
//! components add their own sections beside it.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::auth::{Auth, TechnicianRole};
use super::{ApiResult, AppState};
use crate::pipeline::PipelineStats;

/// The status document.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusView {
    /// p50/p95/p99 of each door-loop stage over its last samples.
    pub pipeline: PipelineStats,
}

pub async fn status(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
) -> ApiResult<Json<StatusView>> {
    Ok(Json(StatusView {
        pipeline: st.pipeline_stats.snapshot(),
    }))
}

//! The HTTP API: REST under `/api/v1`, the original `/register_face`, `/create_access` and
//! `/ws/auth`, the live `/ws/events` feed, `/healthz` and `/api/openapi.json`.
//!
//! One [`AppState`] carries everything a handler needs; each resource has its own file. Every
//! error leaves as problem+json (see [`problem`]), unknown paths and methods included.

pub mod auth;
mod break_glass;
mod compat;
pub mod consent;
pub mod contract;
mod doors;
mod events;
mod grants;
mod health;
pub mod limits;
mod live;
pub mod openapi;
pub mod problem;
mod routes;
mod status;
mod subjects;
mod sync;
pub mod text;
mod tokens;
mod users;
pub mod views;
pub mod ws_auth;
mod ws_events;
pub mod ws_presentation;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::Config;
use crate::controller::Controller;

pub use auth::Caller;
pub use problem::{ApiError, ApiResult};

/// Shared state of every handler: the core, and what only the HTTP edge needs.
#[derive(Clone)]
pub struct AppState {
    /// The door's state and its one decision service (catalog, events, door, tokens, …).
    pub core: Arc<Controller>,
    pub cfg: Arc<Config>,
    /// The camera door loop's rolling stage timings (empty while no loop runs).
    pub pipeline_stats: Arc<crate::pipeline::StageStats>,
    /// The web console: sessions, login throttle, the camera view.
    pub console: Arc<crate::console::Console>,
    /// Failed-authentication and decision-rate limits.
    pub limits: Arc<limits::Limits>,
    /// The HTTPS listener's certificate, when there is one (status, console Health).
    pub tls: Option<Arc<crate::tls::TlsInfo>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let limit = state.cfg.api.max_body_bytes;
    let mut api = Router::new();
    for e in routes::endpoints() {
        // Several methods on one path merge into one route.
        api = api.route(e.path, (e.handler)());
    }
    api.merge(crate::console::pages::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            sync_after_writes,
        ))
        .with_state(state)
}

/// Middleware: when a request wrote to the store through this process (the store counts its
/// change-feed bumps), the feed is read before the response leaves, so the caller's next
/// request — a decision right after a grant, a call with a token just created — sees it.
/// Requests that wrote nothing cost nothing extra.
pub async fn sync_after_writes(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let before = st.core.store.local_changes();
    let resp = next.run(req).await;
    if st.core.store.local_changes() != before {
        if let Err(e) = st.core.changes.sync().await {
            log::warn!("change feed not applied after a write: {e}");
        }
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such path")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this path",
    )
}

/// Records an administrative change in the audit log (who, what; never biometric data).
pub(crate) async fn admin_event(
    st: &AppState,
    caller: &Caller,
    action: &str,
    details: serde_json::Value,
) {
    let mut details = details;
    if let Some(obj) = details.as_object_mut() {
        obj.insert("token_id".into(), caller.token_id.clone().into());
        obj.insert("role".into(), caller.role.as_str().into());
    }
    st.core.events.record(crate::audit::EventDraft {
        kind: crate::audit::EventKind::Admin,
        reason: action.to_owned(),
        details,
        ..Default::default()
    });
}

/// Unwraps a WebSocket upgrade; a plain HTTP request gets [`UpgradeRequired`].
pub(crate) fn ws_upgrade(
    ws: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Result<axum::extract::ws::WebSocketUpgrade, UpgradeRequired> {
    ws.map_err(|e| UpgradeRequired(format!("this is a WebSocket endpoint: {e}")))
}

/// The answer to a request that is not a WebSocket upgrade: a problem (426) with
/// `Upgrade: websocket`, as RFC 9110 asks.
#[derive(Debug)]
pub(crate) struct UpgradeRequired(String);

impl axum::response::IntoResponse for UpgradeRequired {
    fn into_response(self) -> axum::response::Response {
        let mut r =
            ApiError::new(StatusCode::UPGRADE_REQUIRED, "upgrade_required", self.0).into_response();
        r.headers_mut().insert(
            axum::http::header::UPGRADE,
            axum::http::HeaderValue::from_static("websocket"),
        );
        r
    }
}

//! `GET /ws/events`: the live event feed (decisions, door states, alarms, admin changes) for
//! the technician UI and monitoring. A subscriber that falls behind gets a `lagged` notice and
//! continues with the newest events; the full record is always in `/api/v1/events`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::auth::{Auth, TechnicianRole};
use super::views::EventView;
use super::{ApiResult, AppState};

pub async fn upgrade(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws = match super::ws_upgrade(ws) {
        Ok(ws) => ws,
        Err(refused) => return Ok(axum::response::IntoResponse::into_response(refused)),
    };
    Ok(ws.max_message_size(4096).on_upgrade(move |s| feed(st, s)))
}

async fn feed(st: AppState, mut socket: WebSocket) {
    let mut rx = st.core.events.subscribe();
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let text = match ev {
                    Ok(e) => serde_json::to_string(&EventView::from(e)).unwrap_or_default(),
                    Err(RecvError::Lagged(n)) => serde_json::json!({"type": "lagged", "skipped": n}).to_string(),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    }
}

//! `GET /ws/presentation`: what the door shows the person in front of it, for the screen beside
//! the door (`/door-display`) and for technicians watching it. One JSON message on connect (the
//! current state) and one per change:
//!
//! `{"type":"prompt","seq":7,"door_id":"ward-3","state":"challenge","step":1,"of":2,"direction":"left"}`
//!
//! `state` is `idle`, `looking`, `challenge` (`step`, `of`, `direction`), `guide` (the same, with
//! `filled`: quarters of the asked turn made, 0–4, and `hint`: `further`, `closer`,
//! `face_camera` or null), `step_passed` (`step`) or `decided` (`granted`, `reason`, and `message`: the reason in words for the
//! person). It carries no identity, no score and no picture: the screen faces the corridor.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::auth::{Auth, DisplayOrTechnician};
use super::{ApiResult, AppState};
use crate::presentation::{Announcement, DoorPrompt};

pub async fn upgrade(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<DisplayOrTechnician>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws = match super::ws_upgrade(ws) {
        Ok(ws) => ws,
        Err(refused) => return Ok(axum::response::IntoResponse::into_response(refused)),
    };
    Ok(ws.max_message_size(1024).on_upgrade(move |s| feed(st, s)))
}

/// One message of the stream.
#[derive(Debug, Serialize)]
pub struct PromptView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    door_id: Option<&'a str>,
    #[serde(flatten)]
    announcement: Announcement,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
}

impl<'a> PromptView<'a> {
    pub fn new(door_id: Option<&'a str>, announcement: Announcement) -> Self {
        let message = match announcement.prompt {
            DoorPrompt::Decided { reason, .. } => Some(reason.to_person()),
            _ => None,
        };
        Self {
            kind: "prompt",
            door_id,
            announcement,
            message,
        }
    }
}

async fn feed(st: AppState, mut socket: WebSocket) {
    let door_id = st.core.door.as_ref().map(|d| d.id().to_owned());
    let mut rx = st.core.board.subscribe();
    // The current state first, so a display that (re)connects mid-challenge shows the arrow.
    rx.mark_changed();
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = *rx.borrow_and_update();
                let text = serde_json::to_string(&PromptView::new(door_id.as_deref(), now))
                    .unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::policy::Reason;
    use crate::liveness::Direction;

    #[test]
    fn messages_carry_the_state_and_words_but_no_identity() {
        let a = Announcement {
            seq: 3,
            prompt: DoorPrompt::Challenge {
                step: 1,
                of: 2,
                direction: Direction::Up,
            },
        };
        let v = serde_json::to_value(PromptView::new(Some("ward-3"), a)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "prompt", "door_id": "ward-3", "seq": 3,
                "state": "challenge", "step": 1, "of": 2, "direction": "up"})
        );
        let d = Announcement {
            seq: 4,
            prompt: DoorPrompt::Decided {
                granted: false,
                reason: Reason::LivenessTimeout,
            },
        };
        let v = serde_json::to_value(PromptView::new(None, d)).unwrap();
        assert_eq!(v["state"], "decided");
        assert_eq!(v["reason"], "liveness_timeout");
        assert_eq!(v["message"], Reason::LivenessTimeout.to_person());
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in ["subject_id", "similarity", "name"] {
            assert!(!keys.contains(&k), "{k} must not reach the corridor screen");
        }
    }
}

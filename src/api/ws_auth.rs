//! `GET /ws/auth`: remote terminals send faces, the controller answers decisions.
//!
//! Client → server (text frames, JSON):
//! `{"type":"authenticate","request_id":"…","door":"<door id>","staff":{"embedding":[…]},
//!   "patient":{"embedding":[…]}}` — `image` (base64) may replace `embedding`; `patient` only at
//! `staff_with_patient` doors. Server → client: `{"type":"decision",…}` (see [`DecisionReply`]) or
//! `{"type":"error",…}` for a message that is not a request at all; the connection stays open.
//! A message over `api.ws_max_message_bytes` closes the socket with 1008 (policy violation).
//! Every decision, including `bad_request`, is an audit event, recorded through the decision
//! service ([`crate::access::decider`]) and on disk before the reply is sent.

use crate::api::text::Text;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::{Auth, TerminalRole};
use super::compat::probe_vector;
use super::problem::{parse_json, ApiJson};
use super::{ApiError, ApiResult, AppState, Caller};
use crate::access::decider::{Channel, Face, Liveness, Patient, Person, Presentation};
use crate::access::policy::Reason;

/// WebSocket close code for a policy violation (RFC 6455 §7.4.1).
pub const CLOSE_POLICY: u16 = 1008;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceInput {
    pub embedding: Option<Vec<f64>>,
    /// Base64 JPEG/PNG with one face.
    #[schemars(length(max = "crate::api::compat::MAX_IMAGE_BASE64"))]
    pub image: Option<String>,
}

/// One authentication request (the WebSocket message, or the body of `POST /api/v1/decisions`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthRequest {
    /// Always `authenticate` (required on the WebSocket, optional over HTTP).
    #[serde(rename = "type")]
    #[serde(default)]
    #[schemars(schema_with = "authenticate_schema")]
    pub type_: Option<String>,
    /// Echoed in the reply, so a terminal can pipeline requests (1 to 128 characters).
    #[schemars(length(min = 1, max = 128))]
    pub request_id: String,
    pub door: String,
    pub staff: FaceInput,
    pub patient: Option<FaceInput>,
    /// The terminal's own liveness check of the staff face, recorded with the decision (the
    /// terminal owns its capture). Mandatory under `liveness.require_terminal_attestation`.
    pub liveness: Option<TerminalLiveness>,
}

fn authenticate_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    serde_json::from_value(serde_json::json!({"type": "string", "enum": ["authenticate"]}))
        .unwrap_or(schemars::schema::Schema::Bool(true))
}

/// What a terminal says of its own liveness check.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalLiveness {
    /// How the terminal checked (e.g. `nir`, `challenge`, `vendor-pad-2.1`), 1 to 64 characters.
    pub method: Text<64>,
    pub passed: bool,
    /// The check's own score, if it has one.
    #[schemars(range(
        min = "crate::api::contract::F32_MIN",
        max = "crate::api::contract::F32_MAX"
    ))]
    pub score: Option<f32>,
}

/// The decision's liveness input from a terminal request: its attestation, or — when
/// `liveness.require_terminal_attestation` is set — a failed check for a missing one.
fn terminal_liveness(
    st: &AppState,
    att: Option<&TerminalLiveness>,
) -> Result<Option<Liveness>, ApiError> {
    match att {
        Some(a) => {
            let method = a.method.as_str().to_owned();
            if a.score.is_some_and(|s| !s.is_finite()) {
                return Err(ApiError::invalid(
                    "liveness.score",
                    "must be a finite number",
                ));
            }
            let details = serde_json::json!({
                "method": "terminal",
                "terminal_method": method,
                "passed": a.passed,
            });
            let mut l = if a.passed {
                Liveness::passed(details)
            } else {
                Liveness::failed(Reason::LivenessFailed, details)
            };
            l.score = a.score;
            Ok(Some(l))
        }
        None if st.cfg.liveness.require_terminal_attestation => Ok(Some(Liveness::failed(
            Reason::LivenessFailed,
            serde_json::json!({"method": "terminal", "attested": false}),
        ))),
        None => Ok(None),
    }
}

#[derive(Debug, Serialize, JsonSchema, Clone)]
pub struct PersonReply {
    pub subject_id: String,
    pub name: String,
    pub similarity: f32,
}

#[derive(Debug, Serialize, JsonSchema, Clone)]
pub struct DecisionReply {
    /// `decision`
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub request_id: String,
    /// Id of the audit event recording this decision.
    pub decision_id: String,
    pub door: String,
    pub granted: bool,
    pub reason: Reason,
    /// For `bad_request`: what was wrong and in which field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub staff: Option<PersonReply>,
    pub patient: Option<PersonReply>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorReply {
    /// `error`
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub request_id: Option<String>,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
}

pub async fn upgrade(
    State(st): State<AppState>,
    Auth(caller, _): Auth<TerminalRole>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let limit = st.cfg.api.ws_max_message_bytes;
    // The transport allows a little more than the limit so an oversized message is seen and
    // answered with 1008, rather than dropped by the protocol layer without a close code.
    let transport = limit.saturating_mul(2).max(limit + 65536);
    let ws = match super::ws_upgrade(ws) {
        Ok(ws) => ws,
        Err(refused) => return Ok(axum::response::IntoResponse::into_response(refused)),
    };
    Ok(ws
        .max_message_size(transport)
        .max_frame_size(transport)
        .on_upgrade(move |socket| session(st, caller, socket, limit)))
}

async fn session(st: AppState, caller: Caller, mut socket: WebSocket, limit: usize) {
    while let Some(msg) = socket.recv().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Binary(b)) if b.len() <= limit => {
                let reply = error_reply(None, "bad_request", "send JSON text frames", None);
                if socket.send(Message::Text(reply.into())).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(Message::Close(_)) => return,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            // Not WebSocket frames at all (an HTTP client reusing the connection, say): end
            // the connection without a frame it could misread as a response.
            Err(e) if !is_oversized(&e) => return,
            Ok(Message::Binary(_)) | Err(_) => {
                // Oversized (or broken) input: close with policy violation.
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: CLOSE_POLICY,
                        reason: "message too large".into(),
                    })))
                    .await;
                return;
            }
        };
        if text.len() > limit {
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: CLOSE_POLICY,
                    reason: "message too large".into(),
                })))
                .await;
            return;
        }
        let reply = handle_text(&st, &caller, text.as_str()).await;
        if socket.send(Message::Text(reply.into())).await.is_err() {
            return;
        }
    }
}

/// Whether a receive error is a message or frame over the transport's size limit.
fn is_oversized(e: &axum::Error) -> bool {
    e.to_string().contains("Space limit exceeded")
}

fn error_reply(
    request_id: Option<String>,
    code: &'static str,
    detail: &str,
    field: Option<String>,
) -> String {
    serde_json::to_string(&ErrorReply {
        type_: "error",
        request_id,
        code,
        detail: detail.to_owned(),
        field,
    })
    .unwrap_or_default()
}

/// Answers one text message.
pub async fn handle_text(st: &AppState, caller: &Caller, text: &str) -> String {
    if let Err(wait) = st.limits.take_decision(&caller.token_id) {
        // Over the ceiling: an error reply, no decision, nothing recorded per message.
        let request_id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("request_id")?.as_str().map(str::to_owned));
        return error_reply(
            request_id,
            "rate_limited",
            &format!(
                "this credential's decision ceiling (api.ws_auth_max_decisions_per_minute) is spent; retry in {} ms",
                wait.as_millis().max(1)
            ),
            None,
        );
    }
    // The common case, a well-formed request, is parsed once; only a failure looks closer.
    if let Ok(req) = serde_json::from_str::<AuthRequest>(text) {
        if req.type_.as_deref() == Some("authenticate")
            && !req.request_id.is_empty()
            && req.request_id.chars().count() <= 128
        {
            return serde_json::to_string(&authenticate(st, caller, req, Channel::Terminal).await)
                .unwrap_or_default();
        }
    }
    // A message that is not even an object with a request id is not a request: error reply.
    let loose: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return error_reply(None, "malformed_json", &e.to_string(), None),
    };
    let request_id = loose
        .get("request_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    if loose.get("type").and_then(|v| v.as_str()) != Some("authenticate") {
        return error_reply(
            request_id,
            "unknown_type",
            "expected \"type\": \"authenticate\"",
            Some("type".into()),
        );
    }
    let Some(rid) = request_id.filter(|r| !r.is_empty() && r.chars().count() <= 128) else {
        return error_reply(
            None,
            "bad_request",
            "`request_id` (1 to 128 characters) is required",
            Some("request_id".into()),
        );
    };
    let reply = match parse_json::<AuthRequest>(text.as_bytes()) {
        Ok(req) => authenticate(st, caller, req, Channel::Terminal).await,
        Err(e) => {
            let door = loose
                .get("door")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned();
            bad_request(st, caller, rid, door, &e, Channel::Terminal).await
        }
    };
    serde_json::to_string(&reply).unwrap_or_default()
}

async fn bad_request(
    st: &AppState,
    caller: &Caller,
    request_id: String,
    door: String,
    e: &ApiError,
    channel: Channel,
) -> DecisionReply {
    let door = door.chars().take(64).collect::<String>();
    let event = st
        .core
        .decider()
        .bad_request(
            channel,
            &door,
            Some(&request_id),
            Some(&caller.token_id),
            e.field.as_deref(),
        )
        .await;
    DecisionReply {
        type_: "decision",
        request_id,
        decision_id: event.map(|e| e.id).unwrap_or_default(),
        door,
        granted: false,
        reason: Reason::BadRequest,
        detail: Some(e.detail.clone()),
        field: e.field.clone(),
        staff: None,
        patient: None,
    }
}

/// Recognises, decides, records. Never fails: every outcome is a decision. The reply leaves
/// only once its event is in the local journal on disk.
pub async fn authenticate(
    st: &AppState,
    caller: &Caller,
    req: AuthRequest,
    channel: Channel,
) -> DecisionReply {
    let staff = probe_vector(
        st,
        "staff.",
        req.staff.embedding.as_deref(),
        req.staff.image.as_deref(),
    )
    .await;
    let patient = match &req.patient {
        Some(p) => {
            Some(probe_vector(st, "patient.", p.embedding.as_deref(), p.image.as_deref()).await)
        }
        None => None,
    };
    let (staff, patient) = match (staff, patient.transpose()) {
        (Ok((s, _)), Ok(p)) => (s, p.map(|(v, _)| v)),
        (Err(e), _) | (_, Err(e)) => {
            return bad_request(st, caller, req.request_id, req.door, &e, channel).await
        }
    };
    let liveness = match terminal_liveness(st, req.liveness.as_ref()) {
        Ok(l) => l,
        Err(e) => return bad_request(st, caller, req.request_id, req.door, &e, channel).await,
    };
    let mut probes: Vec<&[f32]> = vec![&staff];
    probes.extend(patient.as_deref());
    let (snap, found) = match st.core.recognise_fresh(&probes).await {
        Ok(found) => found,
        Err((i, e)) => {
            let field = if i == 0 {
                "staff.embedding"
            } else {
                "patient.embedding"
            };
            let err = ApiError::vector(field, &e);
            return bad_request(st, caller, req.request_id, req.door, &err, channel).await;
        }
    };
    let mut presentation = Presentation::new(
        channel,
        &req.door,
        Person::by_face(Face::from(&found[0])).with_liveness(liveness),
        st.core.clock.now_ms(),
    );
    if let Some(p) = found.get(1) {
        presentation.patient = Patient::Presented(Person::by_face(Face::from(p)));
    }
    presentation.request_id = Some(req.request_id.clone());
    presentation.token_id = Some(caller.token_id.clone());
    let outcome = st
        .core
        .decider()
        .decide_in(&snap.directory, presentation)
        .await;
    let person = |p: &Option<(crate::model::Subject, f32)>| {
        p.as_ref().map(|(s, sim)| PersonReply {
            subject_id: s.id.clone(),
            name: s.name.clone(),
            similarity: *sim,
        })
    };
    DecisionReply {
        type_: "decision",
        request_id: req.request_id,
        decision_id: outcome.event.map(|e| e.id).unwrap_or_default(),
        door: req.door,
        granted: outcome.decision.granted,
        reason: outcome.decision.reason,
        detail: None,
        field: None,
        staff: person(&outcome.staff),
        patient: person(&outcome.patient),
    }
}

/// `POST /api/v1/decisions`: the same request over HTTP, for terminals without WebSocket.
pub async fn decide_http(
    State(st): State<AppState>,
    Auth(caller, _): Auth<TerminalRole>,
    ApiJson(req): ApiJson<AuthRequest>,
) -> ApiResult<Json<DecisionReply>> {
    st.limits.take_decision(&caller.token_id).map_err(|wait| {
        ApiError::too_many_requests(
            "this credential's decision ceiling (api.ws_auth_max_decisions_per_minute) is spent",
            wait,
        )
    })?;
    if req.type_.as_deref().is_some_and(|t| t != "authenticate") {
        return Err(ApiError::invalid(
            "type",
            "must be `authenticate` when given",
        ));
    }
    if req.request_id.is_empty() || req.request_id.chars().count() > 128 {
        return Err(ApiError::invalid(
            "request_id",
            "must be 1 to 128 characters",
        ));
    }
    // The body's shape is the document's (checked by the extractor); its embedding size is
    // this controller's, refused like any other malformed body rather than decided upon.
    let dim = st.core.catalog.dim();
    for (field, face) in [
        ("staff", Some(&req.staff)),
        ("patient", req.patient.as_ref()),
    ] {
        if let Some(e) = face.and_then(|f| f.embedding.as_ref()) {
            if e.len() != dim {
                return Err(ApiError::invalid(
                    format!("{field}.embedding"),
                    format!("has {} values, expected {dim}", e.len()),
                ));
            }
        }
    }
    Ok(Json(
        authenticate(&st, &caller, req, Channel::DecisionsApi).await,
    ))
}

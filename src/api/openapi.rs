//! The OpenAPI 3 document at `/api/openapi.json`.
//!
//! Schemas are generated from the very Rust types the handlers (de)serialise, and the table of
//! operations below is checked against the live router by a test (every documented operation
//! exists and enforces its documented roles), so the document cannot silently drift.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use schemars::gen::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Value};

use super::problem::ProblemBody;
use super::views::*;
use super::ws_auth::{AuthRequest, DecisionReply};
use crate::store::SyncOutcome;

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Roles besides admin that may call it; `None` = no authentication.
    pub roles: Option<&'static [&'static str]>,
    pub request: Option<Value>,
    pub success: u16,
    pub response: Option<Value>,
    pub query: Option<Value>,
}

fn ops(g: &mut SchemaGenerator) -> Vec<Operation> {
    macro_rules! sch {
        ($t:ty) => {
            serde_json::to_value(g.subschema_for::<$t>()).unwrap_or_default()
        };
    }
    const SYNC: &[&str] = &["sync"];
    const READ: &[&str] = &["sync", "technician"];
    const TECH: &[&str] = &["technician"];
    const ADMIN: &[&str] = &[];
    const TERM: &[&str] = &["terminal"];
    let op = |method, path, summary, roles, request, success, response, query| Operation {
        method,
        path,
        summary,
        roles,
        request,
        success,
        response,
        query,
    };
    vec![
        op(
            "get",
            "/healthz",
            "Liveness and database reachability",
            None,
            None,
            200,
            Some(sch!(Health)),
            None,
        ),
        op(
            "get",
            "/api/openapi.json",
            "This document",
            None,
            None,
            200,
            None,
            None,
        ),
        op(
            "post",
            "/register_face",
            "Register a face (original path): new subject, or add to `subject_id`",
            Some(SYNC),
            Some(sch!(RegisterFace)),
            201,
            Some(sch!(RegisteredFace)),
            None,
        ),
        op(
            "post",
            "/create_access",
            "Grant or revoke a staff member's access to a patient (original path)",
            Some(SYNC),
            Some(sch!(CreateAccess)),
            201,
            Some(sch!(AccessResult)),
            None,
        ),
        op(
            "get",
            "/ws/auth",
            "WebSocket: terminals send `authenticate` messages, receive `decision` replies",
            Some(TERM),
            None,
            101,
            None,
            None,
        ),
        op(
            "get",
            "/ws/events",
            "WebSocket: live feed of events",
            Some(TECH),
            None,
            101,
            None,
            None,
        ),
        op(
            "get",
            "/api/v1/subjects",
            "List subjects (paged; filter by kind, role, status)",
            Some(READ),
            None,
            200,
            Some(sch!(Page<SubjectView>)),
            Some(sch!(SubjectQuery)),
        ),
        op(
            "post",
            "/api/v1/subjects",
            "Create a subject",
            Some(SYNC),
            Some(sch!(CreateSubject)),
            201,
            Some(sch!(SubjectView)),
            None,
        ),
        op(
            "get",
            "/api/v1/subjects/{id}",
            "Get a subject",
            Some(READ),
            None,
            200,
            Some(sch!(SubjectView)),
            None,
        ),
        op(
            "patch",
            "/api/v1/subjects/{id}",
            "Update a subject",
            Some(SYNC),
            Some(sch!(UpdateSubject)),
            200,
            Some(sch!(SubjectView)),
            None,
        ),
        op(
            "delete",
            "/api/v1/subjects/{id}",
            "Delete a subject, purging its face templates and grants",
            Some(SYNC),
            None,
            204,
            None,
            None,
        ),
        op(
            "get",
            "/api/v1/subjects/{id}/faces",
            "List a subject's face templates (metadata only)",
            Some(SYNC),
            None,
            200,
            Some(sch!(Vec<FaceView>)),
            None,
        ),
        op(
            "post",
            "/api/v1/subjects/{id}/faces",
            "Add a face template from an embedding (JSON) or a photo (image/jpeg, image/png body)",
            Some(SYNC),
            Some(sch!(AddFace)),
            201,
            Some(sch!(FaceView)),
            None,
        ),
        op(
            "delete",
            "/api/v1/subjects/{id}/faces/{face_id}",
            "Delete a face template",
            Some(SYNC),
            None,
            204,
            None,
            None,
        ),
        op(
            "get",
            "/api/v1/doors",
            "List doors",
            Some(READ),
            None,
            200,
            Some(sch!(Vec<DoorView>)),
            None,
        ),
        op(
            "post",
            "/api/v1/doors",
            "Create a door",
            Some(ADMIN),
            Some(sch!(CreateDoor)),
            201,
            Some(sch!(DoorView)),
            None,
        ),
        op(
            "get",
            "/api/v1/doors/{id}",
            "Get a door",
            Some(READ),
            None,
            200,
            Some(sch!(DoorView)),
            None,
        ),
        op(
            "patch",
            "/api/v1/doors/{id}",
            "Update a door",
            Some(ADMIN),
            Some(sch!(UpdateDoor)),
            200,
            Some(sch!(DoorView)),
            None,
        ),
        op(
            "delete",
            "/api/v1/doors/{id}",
            "Delete a door and its grants",
            Some(ADMIN),
            None,
            204,
            None,
            None,
        ),
        op(
            "get",
            "/api/v1/grants",
            "List grants (paged)",
            Some(SYNC),
            None,
            200,
            Some(sch!(Page<GrantView>)),
            Some(sch!(GrantQuery)),
        ),
        op(
            "post",
            "/api/v1/grants",
            "Create a grant staff→door or staff→patient",
            Some(SYNC),
            Some(sch!(CreateGrant)),
            201,
            Some(sch!(GrantView)),
            None,
        ),
        op(
            "get",
            "/api/v1/grants/{id}",
            "Get a grant",
            Some(SYNC),
            None,
            200,
            Some(sch!(GrantView)),
            None,
        ),
        op(
            "delete",
            "/api/v1/grants/{id}",
            "Revoke a grant (kept for the record)",
            Some(SYNC),
            None,
            200,
            Some(sch!(GrantView)),
            None,
        ),
        op(
            "get",
            "/api/v1/events",
            "List audit events, newest first (filter by door, subject, kind, time)",
            Some(TECH),
            None,
            200,
            Some(sch!(Page<EventView>)),
            Some(sch!(EventQuery)),
        ),
        op(
            "get",
            "/api/v1/events/{id}",
            "Get an audit event",
            Some(TECH),
            None,
            200,
            Some(sch!(EventView)),
            None,
        ),
        op(
            "get",
            "/api/v1/tokens",
            "List API tokens (admin)",
            Some(ADMIN),
            None,
            200,
            Some(sch!(Vec<TokenView>)),
            None,
        ),
        op(
            "post",
            "/api/v1/tokens",
            "Create an API token (shown once; admin)",
            Some(ADMIN),
            Some(sch!(CreateToken)),
            201,
            Some(sch!(CreatedToken)),
            None,
        ),
        op(
            "delete",
            "/api/v1/tokens/{id}",
            "Revoke an API token (admin)",
            Some(ADMIN),
            None,
            200,
            Some(sch!(TokenView)),
            None,
        ),
        op(
            "put",
            "/api/v1/sync/grants",
            "Reconcile the complete grant set of one source system",
            Some(SYNC),
            Some(sch!(SyncGrants)),
            200,
            Some(sch!(SyncOutcome)),
            None,
        ),
        op(
            "put",
            "/api/v1/sync/subjects",
            "Reconcile the complete set of people of one source system",
            Some(SYNC),
            Some(sch!(SyncSubjects)),
            200,
            Some(sch!(SyncOutcome)),
            None,
        ),
        op(
            "post",
            "/api/v1/decisions",
            "Decide one authentication request over HTTP (same body as a /ws/auth message)",
            Some(TERM),
            Some(sch!(AuthRequest)),
            200,
            Some(sch!(DecisionReply)),
            None,
        ),
    ]
    .into_iter()
    .chain(console_ops(g))
    .collect()
}

/// The console's operations (status, accounts, live camera).
fn console_ops(g: &mut SchemaGenerator) -> Vec<Operation> {
    const TECH: &[&str] = &["technician"];
    const SYNC: &[&str] = &["sync"];
    const ADMIN: &[&str] = &[];
    let status =
        serde_json::to_value(g.subschema_for::<super::status::StatusReport>()).unwrap_or_default();
    let users =
        serde_json::to_value(g.subschema_for::<Vec<super::users::UserView>>()).unwrap_or_default();
    let user =
        serde_json::to_value(g.subschema_for::<super::users::UserView>()).unwrap_or_default();
    let create =
        serde_json::to_value(g.subschema_for::<super::users::CreateUser>()).unwrap_or_default();
    let totp_enrolment =
        serde_json::to_value(g.subschema_for::<super::users::TotpEnrolment>()).unwrap_or_default();
    let totp_code =
        serde_json::to_value(g.subschema_for::<super::users::TotpCode>()).unwrap_or_default();
    let overlay = serde_json::to_value(g.subschema_for::<crate::console::live::LiveOverlay>())
        .unwrap_or_default();
    let face = serde_json::to_value(g.subschema_for::<FaceView>()).unwrap_or_default();
    let op = |method, path, summary, roles, request, success, response| Operation {
        method,
        path,
        summary,
        roles: Some(roles),
        request,
        success,
        response,
        query: None,
    };
    vec![
        op("get", "/api/v1/status", "Controller health: camera, inference, database, disk, temperature, models, audit chain", TECH, None, 200, Some(status)),
        op("get", "/api/v1/users", "List console accounts", ADMIN, None, 200, Some(users)),
        op("post", "/api/v1/users", "Create a console account (password stored as argon2id)", ADMIN, Some(create), 201, Some(user.clone())),
        op("delete", "/api/v1/users/{id}", "Delete a console account and end its sessions", ADMIN, None, 204, None),
        op("post", "/api/v1/users/me/totp", "Start setting up the session's own TOTP second factor: a new secret and otpauth:// URI, not yet in force (console sessions only; 409 for a bearer token)", ADMIN, None, 200, Some(totp_enrolment)),
        op("put", "/api/v1/users/me/totp", "Confirm the new TOTP secret with a current code; from then on login asks for a code", ADMIN, Some(totp_code), 200, Some(user)),
        op("delete", "/api/v1/users/me/totp", "Remove the session's own TOTP second factor", ADMIN, None, 204, None),
        op("get", "/api/v1/live/stream", "Camera picture as MJPEG (multipart/x-mixed-replace) at console.live_fps; never recorded", TECH, None, 200, None),
        op("get", "/api/v1/live/frame.jpg", "The newest camera frame as one JPEG", TECH, None, 200, None),
        op("get", "/api/v1/live/overlay", "Face boxes, quality feedback, stage timings and fps of the door loop's newest analysed frame", TECH, None, 200, Some(overlay)),
        op("post", "/api/v1/subjects/{id}/faces/capture", "Enrol a template from the door camera's newest frame (same quality gate as photos)", SYNC, None, 201, Some(face)),
    ]
}

/// The documented operations (for tests and the CLI).
pub fn operations() -> Vec<Operation> {
    let mut g = SchemaSettings::openapi3().into_generator();
    ops(&mut g)
}

fn build() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let problem = serde_json::to_value(g.subschema_for::<ProblemBody>()).unwrap_or_default();
    let mut paths = serde_json::Map::new();
    for o in ops(&mut g) {
        let mut op =
            json!({ "summary": o.summary, "operationId": format!("{} {}", o.method, o.path) });
        match o.roles {
            None => op["security"] = json!([]),
            Some(r) => {
                let mut roles = vec!["admin"];
                roles.extend_from_slice(r);
                op["x-roles"] = json!(roles);
            }
        }
        let params: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut params = params;
        if let Some(q) = &o.query {
            params.push(json!({"name": "filter", "in": "query", "style": "form", "explode": true, "schema": q}));
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(req) = &o.request {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": req}}});
        }
        let mut responses = serde_json::Map::new();
        let ok = match &o.response {
            Some(schema) => {
                json!({"description": "success", "content": {"application/json": {"schema": schema}}})
            }
            None => json!({"description": "success"}),
        };
        responses.insert(o.success.to_string(), ok);
        responses.insert(
            "default".into(),
            json!({"description": "error (RFC 9457 problem details)", "content": {"application/problem+json": {"schema": problem}}}),
        );
        op["responses"] = Value::Object(responses);
        let entry = paths.entry(o.path.to_owned()).or_insert_with(|| json!({}));
        entry[o.method] = op;
    }
    let schemas: serde_json::Map<String, Value> = g
        .take_definitions()
        .into_iter()
        .map(|(k, v)| (k, serde_json::to_value(v).unwrap_or_default()))
        .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Wardgate door controller API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Bearer tokens (`Authorization: Bearer wg_…`) with roles admin, sync, terminal, technician. `x-roles` lists the roles allowed per operation. Errors are application/problem+json naming the offending `field`.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    })
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::Json(document().clone()),
    )
}

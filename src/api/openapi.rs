//! The OpenAPI 3 document at `/api/openapi.json`.
//!
//! Schemas are generated from the very Rust types the handlers (de)serialise, and the table of
//! operations below is checked against the live router by a test (every documented operation
//! exists and enforces its documented roles), so the document cannot silently drift.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use schemars::gen::SchemaGenerator;
use serde_json::{json, Value};

use super::problem::ProblemBody;

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

/// The documented operations, from the route table (the router is built from the same).
fn ops(g: &mut SchemaGenerator) -> Vec<Operation> {
    super::routes::endpoints()
        .into_iter()
        .map(|e| Operation {
            method: e.method,
            path: e.path,
            summary: e.summary,
            roles: e.roles,
            request: e.request.map(|f| f(g)),
            success: e.success,
            response: e.response.map(|f| f(g)),
            query: e.query.map(|f| f(g)),
        })
        .collect()
}

/// The documented operations (for tests and the CLI).
pub fn operations() -> Vec<Operation> {
    let mut g = super::contract::settings().into_generator();
    ops(&mut g)
}

/// The controller settings the document states as limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// `vision.embedding_dim`: the length of every embedding.
    pub dim: usize,
    /// `api.max_page_size`: the largest `limit`.
    pub max_page_size: u32,
    /// `door.max_hold_minutes`: the largest `hold`.
    pub max_hold_minutes: u32,
    /// `door.break_glass_minutes`: the longest `break_glass`.
    pub break_glass_minutes: u32,
}

impl Limits {
    pub fn of(cfg: &crate::config::Config) -> Self {
        Self {
            dim: cfg.vision.embedding_dim,
            max_page_size: cfg.api.max_page_size,
            max_hold_minutes: cfg.door.max_hold_minutes,
            break_glass_minutes: cfg.door.break_glass_minutes,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::of(&crate::config::Config::default())
    }
}

/// What one error status means (the problem's `detail` and `field` say more).
fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Malformed JSON, or a body that cannot be read",
        401 => "No valid bearer token (or console session)",
        403 => "The token's role may not call this operation",
        404 => "No such record; `field`, when present, names the reference that was not found",
        409 => "Conflicts with the stored state (a duplicate, or a record in the way)",
        413 => "The body is larger than `api.max_body_bytes` (or a photo than the image limit)",
        415 => "The body is not of a documented media type",
        422 => "A field breaks the rules of the request schema, or one of the rules listed in the operation's description; `field` names it",
        426 => "Not a WebSocket upgrade request",
        429 => "Too many refused credentials from this client address (`auth.max_failures`), or this credential's decision ceiling is spent (`api.ws_auth_max_decisions_per_minute`); retry after `Retry-After` seconds",
        503 => "The database is unreachable (or, where the operation says so, the camera loop or the vision models are not running)",
        _ => "Error",
    }
}

/// Statuses besides the ones every operation of its kind has, and rules the schemas cannot
/// state (they answer 422 for a request the schema alone allows).
fn specifics(method: &str, path: &str) -> (&'static [u16], &'static str) {
    match (method, path) {
        ("post", "/register_face") => (&[404, 409, 503], "With `subject_id`, `name`, `role`, `external_id` and `consent` are not allowed; without it the first three are required, and `consent` too while `privacy.require_consent` (409 `consent_required`). Photos must show one dominant face of sufficient quality (422 naming `image` or `images[i]`); photos need the vision models (503 without them)."),
        ("post", "/create_access") => (&[404, 409], "`staff_id` and `patient_id` are subject ids or external ids (404 when neither); `staff_id` must be staff and `patient_id` a patient (422); `valid_until` must be in the future and is only allowed with `grant`; revoking with no active grant is 404."),
        ("post", "/api/v1/subjects") => (&[409], ""),
        ("patch", "/api/v1/subjects/{id}") => (&[409], "A subject cannot switch between staff and patient while grants reference it (422 naming `role`)."),
        ("post", "/api/v1/subjects/{id}/faces") => (&[409, 503], "409 `consent_required` (field `consent`) while `privacy.require_consent` and no consent stands for the person, before the body is read. As JSON: an embedding. As `image/jpeg` or `image/png`: a photo with one dominant face of sufficient quality (422 naming `body`); photos need the vision models (503 without them)."),
        ("post", "/api/v1/doors") => (&[409], ""),
        ("post", "/api/v1/doors/{id}/commands") => (&[409], "404 for an unknown door, 409 for a door another controller drives or a command refused in lockdown; 403 for `lockdown` and `release_lockdown` without the admin role."),
        ("post", "/api/v1/grants") => (&[409], "`staff_id` must name a staff subject, `door_id` a door, `patient_id` a patient subject (422 naming the field); `valid_until` must be after `valid_from`."),
        ("put", "/api/v1/sync/grants") => (&[409], "Every `staff` and `patient` must be the external id of a subject and every `door` a door id (422 naming `grants[i].…`); a staff and target pair appears at most once; `valid_until` must be after `valid_from`."),
        ("put", "/api/v1/sync/subjects") => (&[409], "Each `external_id` appears at most once; an existing subject cannot switch between staff and patient (422 naming `subjects[i].…`)."),
        ("put", "/api/v1/subjects/{id}/consent") => (&[], "`document` 1 to 255 characters, `recorded_by` 1 to 128 (422 naming the field)."),
        ("delete", "/api/v1/subjects/{id}/consent") => (&[], "404 when the person has no standing consent to withdraw."),
        ("delete", "/api/v1/tokens/{id}") => (&[409], "A token cannot revoke itself (409)."),
        ("post", "/api/v1/users") => (&[409], ""),
        ("post", "/api/v1/users/me/totp") | ("delete", "/api/v1/users/me/totp") => (&[409], "Only a console session has an account: a bearer token gets 409."),
        ("put", "/api/v1/users/me/totp") => (&[409], "Only a console session has an account: a bearer token gets 409, as does a confirmation without a pending enrolment; a code that is not the app's current one is 422."),
        ("post", "/api/v1/decisions") => (&[], "Whatever the schema allows is decided: a face that cannot be used (no face in a photo, an unknown door, …) is a refusal with reason `bad_request`, recorded like every decision."),
        ("get", "/api/v1/live/stream") | ("get", "/api/v1/live/frame.jpg") | ("get", "/api/v1/live/overlay") => (&[503], "503 while this controller runs no camera loop or the camera has delivered no frame yet."),
        ("post", "/api/v1/subjects/{id}/faces/capture") => (&[409, 503], "409 `consent_required` (field `consent`) while `privacy.require_consent` and no consent stands for the person. 503 while this controller runs no camera loop, the camera has delivered no frame yet or the vision models are not loaded; 422 naming `camera` when fewer than 3 frames of the acting track pass the quality gate and the newest frame shows no usable face."),
        _ => (&[], ""),
    }
}

fn websocket_headers() -> Vec<Value> {
    [
        ("Upgrade", json!({"type": "string", "enum": ["websocket"]})),
        ("Connection", json!({"type": "string", "enum": ["Upgrade"]})),
        (
            "Sec-WebSocket-Version",
            json!({"type": "string", "enum": ["13"]}),
        ),
        (
            "Sec-WebSocket-Key",
            json!({"type": "string", "description": "16 random bytes, base64"}),
        ),
    ]
    .into_iter()
    .map(|(name, schema)| json!({"name": name, "in": "header", "required": true, "schema": schema}))
    .collect()
}

/// The query parameters of a filter type, one by one, with their constraints.
fn query_params(q: &Value, defs: &serde_json::Map<String, Value>, limits: Limits) -> Vec<Value> {
    let resolved = q
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|n| defs.get(n))
        .unwrap_or(q);
    let Some(props) = resolved.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, schema)| {
            let mut schema = schema.clone();
            super::contract::for_requests(&mut schema);
            let description = schema.as_object_mut().and_then(|o| o.remove("description"));
            if name == "limit" {
                schema["maximum"] = json!(limits.max_page_size);
            }
            let mut p = json!({"name": name, "in": "query", "required": false, "schema": schema});
            if let Some(d) = description {
                p["description"] = d;
            }
            p
        })
        .collect()
}

fn build(limits: Limits) -> Value {
    let mut g = super::contract::settings().into_generator();
    let problem = serde_json::to_value(g.subschema_for::<ProblemBody>()).unwrap_or_default();
    let ops = ops(&mut g);
    let mut defs: serde_json::Map<String, Value> = g
        .take_definitions()
        .into_iter()
        .map(|(k, v)| (k, serde_json::to_value(v).unwrap_or_default()))
        .collect();
    // Request schemas: the rules the types cannot carry, and no `null` for optional fields.
    let requests = super::contract::reachable(&defs, ops.iter().filter_map(|o| o.request.as_ref()));
    for (name, d) in defs.iter_mut() {
        super::contract::refine(name, d, Some(limits.dim));
        if requests.contains(name) {
            super::contract::for_requests(d);
        }
    }
    if let Some(variants) = defs
        .get_mut("Command")
        .and_then(|c| c.get_mut("oneOf"))
        .and_then(Value::as_array_mut)
    {
        for v in variants {
            let break_glass =
                v.pointer("/properties/command/enum/0") == Some(&json!("break_glass"));
            if let Some(m) = v.pointer_mut("/properties/minutes") {
                if break_glass {
                    m["minimum"] = json!(1);
                    m["maximum"] = json!(limits.break_glass_minutes);
                } else {
                    m["maximum"] = json!(limits.max_hold_minutes);
                }
            }
            if let Some(r) = v.pointer_mut("/properties/reason") {
                *r = json!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": crate::door::command::MAX_REASON,
                    "pattern": super::contract::TEXT_PATTERN,
                    "description": "Why emergency access is needed (recorded in the audit log).",
                });
            }
        }
    }
    let problem_response = |status: u16| json!({"description": status_text(status), "content": {"application/problem+json": {"schema": problem.clone()}}});
    let mut paths = serde_json::Map::new();
    for o in &ops {
        let (extra, rules) = specifics(o.method, o.path);
        let description = if rules.is_empty() {
            o.summary.to_owned()
        } else {
            format!("{}.\n\n{rules}", o.summary)
        };
        let mut op = json!({
            "summary": o.summary,
            "description": description,
            "operationId": format!("{} {}", o.method, o.path),
        });
        let mut errors: Vec<u16> = extra.to_vec();
        match o.roles {
            None => op["security"] = json!([]),
            Some(r) => {
                let mut roles = vec!["admin"];
                roles.extend_from_slice(r);
                op["x-roles"] = json!(roles);
                errors.extend([401, 403, 429, 503]);
            }
        }
        let websocket = o.success == 101;
        let mut params: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            errors.push(404);
        }
        if let Some(q) = &o.query {
            params.extend(query_params(q, &defs, limits));
            errors.push(422);
        }
        if websocket {
            params.extend(websocket_headers());
            errors.push(426);
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(req) = &o.request {
            let mut schema = req.clone();
            super::contract::for_requests(&mut schema);
            let mut content = json!({"application/json": {"schema": schema}});
            if o.path == "/api/v1/subjects/{id}/faces" {
                for media in ["image/jpeg", "image/png"] {
                    content[media] = json!({"schema": {"type": "string", "format": "binary"}});
                }
            }
            op["requestBody"] = json!({"required": true, "content": content});
            errors.extend([400, 413, 415, 422]);
        }
        let mut responses = serde_json::Map::new();
        let ok = match (&o.response, o.path) {
            (_, "/api/v1/live/frame.jpg") => {
                json!({"description": "success", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}})
            }
            (_, "/api/v1/live/stream") => {
                json!({"description": "success: JPEG parts until the client goes away", "content": {"multipart/x-mixed-replace": {"schema": {"type": "string", "format": "binary"}}}})
            }
            (_, "/api/openapi.json") => {
                json!({"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}})
            }
            (Some(schema), _) => {
                json!({"description": "success", "content": {"application/json": {"schema": schema}}})
            }
            (None, _) if websocket => json!({
                "description": "Switching to the WebSocket protocol",
                "headers": {
                    "Upgrade": {"required": true, "schema": {"type": "string"}},
                    "Connection": {"required": true, "schema": {"type": "string"}},
                    "Sec-WebSocket-Accept": {"required": true, "schema": {"type": "string"}},
                },
            }),
            (None, _) => json!({"description": "success"}),
        };
        responses.insert(o.success.to_string(), ok);
        errors.sort_unstable();
        errors.dedup();
        for status in errors {
            let mut r = problem_response(status);
            if status == 426 {
                r["headers"] = json!({"Upgrade": {"required": true, "schema": {"type": "string", "enum": ["websocket"]}}});
            }
            if status == 429 {
                r["headers"] = json!({"Retry-After": {"required": true, "description": "seconds", "schema": {"type": "integer", "minimum": 1}}});
            }
            responses.insert(status.to_string(), r);
        }
        op["responses"] = Value::Object(responses);
        let entry = paths.entry(o.path.to_owned()).or_insert_with(|| json!({}));
        entry[o.method] = op;
    }
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Wardgate door controller API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Bearer tokens (`Authorization: Bearer wg_…`) with roles admin, sync, terminal, technician. `x-roles` lists the roles allowed per operation. Errors are application/problem+json naming the offending `field`. Request bodies are checked against the schemas below before anything else: unknown fields are refused (`additionalProperties: false`), optional fields are omitted rather than `null`, and any body the schema rules out is a 422 naming the field (400 for malformed JSON). Limits stated here (embedding length, page size, hold minutes) are this controller's settings. Over HTTPS (`api.tls_listen`), a client certificate listed in `api.tls_client_roles` may stand in for a `sync` or `terminal` token.",
        },
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    });
    open_schemas(&mut doc);
    doc
}

/// OpenAPI 3.0 has no boolean schemas: `true` (any JSON, e.g. event details) becomes `{}`.
fn open_schemas(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "properties" {
                    if let Value::Object(props) = x {
                        for p in props.values_mut() {
                            if *p == Value::Bool(true) {
                                *p = json!({});
                            }
                        }
                    }
                } else if (k == "items" || k == "schema") && *x == Value::Bool(true) {
                    *x = json!({});
                }
                open_schemas(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(open_schemas),
        _ => {}
    }
}

/// The document for the default settings.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| build(Limits::default()))
}

/// The document for these settings (built once per distinct set).
pub fn document_for(limits: Limits) -> Arc<Value> {
    static DOCS: OnceLock<Mutex<HashMap<Limits, Arc<Value>>>> = OnceLock::new();
    let docs = DOCS.get_or_init(Default::default);
    let mut docs = docs.lock().unwrap_or_else(|e| e.into_inner());
    Arc::clone(
        docs.entry(limits)
            .or_insert_with(|| Arc::new(build(limits))),
    )
}

pub async fn serve(State(st): State<super::AppState>) -> impl IntoResponse {
    let limits = Limits {
        dim: st.core.catalog.dim(),
        ..Limits::of(&st.cfg)
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::Json(document_for(limits).as_ref().clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def<'a>(doc: &'a Value, name: &str) -> &'a Value {
        &doc["components"]["schemas"][name]
    }

    #[test]
    fn the_document_states_the_constraints_handlers_enforce() {
        let doc = build(Limits {
            dim: 7,
            max_page_size: 33,
            max_hold_minutes: 11,
            break_glass_minutes: 15,
        });
        let params = doc["paths"]["/api/v1/subjects"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
        assert_eq!(limit["in"], "query");
        assert_eq!(
            (
                limit["schema"]["minimum"].as_f64(),
                limit["schema"]["maximum"].as_f64()
            ),
            (Some(1.0), Some(33.0))
        );
        assert!(
            params.iter().all(|p| p["schema"].get("nullable").is_none()),
            "query values are never null"
        );
        assert!(
            params.iter().any(|p| p["name"] == "kind"),
            "each filter is a parameter of its own"
        );
        let door = def(&doc, "CreateDoor");
        assert_eq!(door["properties"]["name"]["minLength"], 1);
        assert_eq!(door["properties"]["name"]["maxLength"], 255);
        assert_eq!(
            door["properties"]["id"]["pattern"],
            super::super::contract::SLUG_PATTERN
        );
        assert_eq!(door["additionalProperties"], false);
        assert!(def(&doc, "UpdateDoor")["properties"]["name"]
            .get("nullable")
            .is_none());
        assert_eq!(def(&doc, "UpdateDoor")["type"], "object");
        let source = &def(&doc, "SyncGrants")["properties"]["source"];
        assert_eq!(source["not"]["enum"][0], "admin");
        let emb = &def(&doc, "AddFace")["properties"]["embedding"];
        assert_eq!(
            (emb["minItems"].as_u64(), emb["maxItems"].as_u64()),
            (Some(7), Some(7))
        );
        let command = serde_json::to_string(def(&doc, "Command")).unwrap();
        assert!(command.contains("\"maximum\":11"), "{command}");
        let ws = &doc["paths"]["/ws/auth"]["get"];
        assert!(ws["responses"]["101"].is_object() && ws["responses"]["426"].is_object());
        assert!(ws["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Upgrade" && p["required"] == true));
        let live = &doc["paths"]["/api/v1/live/overlay"]["get"]["responses"];
        assert!(live["503"].is_object(), "the camera may be missing");
        let access = &doc["paths"]["/create_access"]["post"]["responses"];
        assert!(access["404"].is_object() && access["422"].is_object());
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"].get("default").is_none(),
                    "every status is listed"
                );
            }
        }
    }

    #[test]
    fn request_and_response_schemas_share_no_nullable_definition() {
        let mut g = super::super::contract::settings().into_generator();
        let ops = ops(&mut g);
        let defs: serde_json::Map<String, Value> = g
            .take_definitions()
            .into_iter()
            .map(|(k, v)| (k, serde_json::to_value(v).unwrap()))
            .collect();
        let req =
            super::super::contract::reachable(&defs, ops.iter().filter_map(|o| o.request.as_ref()));
        let resp = super::super::contract::reachable(
            &defs,
            ops.iter().filter_map(|o| o.response.as_ref()),
        );
        for name in req.intersection(&resp) {
            let text = defs[name].to_string();
            assert!(
                !text.contains("nullable"),
                "{name} is both request and response and has nullable fields"
            );
        }
    }
}

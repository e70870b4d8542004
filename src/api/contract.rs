//! Request bodies are checked against the very JSON schema `/api/openapi.json` publishes for
//! them before a handler sees them, so "valid per the document" and "accepted by the server"
//! cannot drift apart: a body the document rules out gets a 422 naming the field, whatever
//! serde alone would have let through (an array where an object is expected, an explicit `null`
//! for an optional field, a name too long, an unknown field, …).
//!
//! The schemas come from the Rust request types (schemars, OpenAPI 3 flavour), then [`refine`]
//! adds the rules the type system cannot carry (exactly one of two fields, a non-zero
//! embedding) and [`for_requests`] makes optional fields non-nullable: an optional field is
//! omitted, never `null`. Only the subset of JSON Schema those documents use is implemented.

use std::any::TypeId;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use schemars::gen::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use super::problem::ApiError;

/// Printable text, not blank: what [`super::text::Text`] accepts (control characters are refused,
/// surrounding white space is trimmed, something must remain).
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";
/// No control characters (passwords).
pub const NO_CONTROL_PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";
/// What `check_slug` accepts: 1 to 64 of `A-Za-z0-9._:-`.
pub const SLUG_PATTERN: &str = r"^[A-Za-z0-9._:-]{1,64}$";
/// Largest magnitude of an `f32`, the bound of every float the API stores.
pub const F32_MAX: f64 = f32::MAX as f64;
/// The most negative `f32`.
pub const F32_MIN: f64 = f32::MIN as f64;

/// The generator settings of the document and of the body checks.
pub fn settings() -> SchemaSettings {
    SchemaSettings::openapi3()
}

/// The schema of an embedding: `dim` (when known) finite numbers, not all zero.
pub fn embedding_schema(dim: Option<usize>) -> Value {
    let mut s = json!({
        "type": "array",
        "description": "A face embedding of `vision.embedding_dim` numbers within the f32 range from `vision.embedder`, not all zero (it is normalised to unit length).",
        "items": {"type": "number", "format": "float", "minimum": F32_MIN, "maximum": F32_MAX},
        "not": {"items": {"type": "number", "enum": [0]}},
    });
    if let Some(d) = dim {
        s["minItems"] = json!(d);
        s["maxItems"] = json!(d);
    }
    s
}

/// An RFC 3339 time (`schema_with` for time fields carried as strings).
pub fn date_time_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    schema_from(json!({"type": "string", "format": "date-time"}))
}

/// A sync source: a slug, `admin` excluded (it marks hand-made records).
pub fn source_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    schema_from(json!({
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": SLUG_PATTERN,
        "not": {"type": "string", "enum": [crate::model::ADMIN_SOURCE]},
    }))
}

fn schema_from(v: Value) -> schemars::schema::Schema {
    serde_json::from_value(v).unwrap_or(schemars::schema::Schema::Bool(true))
}

/// "Exactly one of these fields": a `oneOf` of `required` lists.
pub fn exactly_one_of(fields: &[&str]) -> Value {
    Value::Array(fields.iter().map(|f| json!({"required": [f]})).collect())
}

/// Adds the rules of one named definition that its Rust type cannot state. `dim` is the
/// controller's embedding size when known (the document states it; handlers check it).
pub fn refine(name: &str, schema: &mut Value, dim: Option<usize>) {
    fn props(s: &mut Value, field: &str, v: Value) {
        if let Some(slot) = s
            .get_mut("properties")
            .and_then(Value::as_object_mut)
            .and_then(|p| p.get_mut(field))
        {
            *slot = v;
        }
    }
    match name {
        "AddFace" => props(schema, "embedding", embedding_schema(dim)),
        "RegisterFace" => {
            props(schema, "embedding", embedding_schema(dim));
            schema["oneOf"] = exactly_one_of(&["embedding", "image", "images"]);
        }
        "FaceInput" => {
            props(schema, "embedding", embedding_schema(dim));
            schema["oneOf"] = exactly_one_of(&["embedding", "image"]);
        }
        "CreateGrant" => schema["oneOf"] = exactly_one_of(&["door_id", "patient_id"]),
        "SyncGrant" => schema["oneOf"] = exactly_one_of(&["door", "patient"]),
        _ => {}
    }
}

/// Request schemas take no `null`: an optional field is left out.
pub fn for_requests(schema: &mut Value) {
    match schema {
        Value::Object(o) => {
            o.remove("nullable");
            for v in o.values_mut() {
                for_requests(v);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(for_requests),
        _ => {}
    }
}

/// The names of the definitions `roots` refer to, directly or not.
pub fn reachable<'a>(
    defs: &Map<String, Value>,
    roots: impl IntoIterator<Item = &'a Value>,
) -> BTreeSet<String> {
    fn walk(v: &Value, defs: &Map<String, Value>, seen: &mut BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                if let Some(name) = o.get("$ref").and_then(Value::as_str).and_then(ref_name) {
                    if seen.insert(name.to_owned()) {
                        if let Some(d) = defs.get(name) {
                            walk(d, defs, seen);
                        }
                    }
                }
                o.values().for_each(|x| walk(x, defs, seen));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, defs, seen)),
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    for r in roots {
        walk(r, defs, &mut seen);
    }
    seen
}

fn ref_name(r: &str) -> Option<&str> {
    r.rsplit('/').next()
}

/// The checked schema of one request type.
#[derive(Debug)]
pub struct BodySchema {
    root: Value,
    defs: Map<String, Value>,
}

impl BodySchema {
    fn of<T: JsonSchema>() -> Self {
        let mut g = settings().into_generator();
        let mut root = serde_json::to_value(g.subschema_for::<T>()).unwrap_or_default();
        let mut defs: Map<String, Value> = g
            .take_definitions()
            .into_iter()
            .map(|(k, v)| (k, serde_json::to_value(v).unwrap_or_default()))
            .collect();
        for (name, d) in defs.iter_mut() {
            refine(name, d, None);
            for_requests(d);
        }
        for_requests(&mut root);
        Self { root, defs }
    }

    /// The first way `v` breaks the schema, as a 422 naming the field.
    pub fn check(&self, v: &Value) -> Result<(), ApiError> {
        check(&self.defs, v, &self.root, "").map_err(|(field, detail)| {
            let field = if field.is_empty() {
                "body".into()
            } else {
                field
            };
            ApiError::invalid(field, detail)
        })
    }
}

/// The (cached) body schema of `T`.
pub fn body_schema<T: JsonSchema + 'static>() -> Arc<BodySchema> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<BodySchema>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&TypeId::of::<T>())
    {
        return Arc::clone(s);
    }
    let s = Arc::new(BodySchema::of::<T>());
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(TypeId::of::<T>(), Arc::clone(&s));
    s
}

fn regex_for(pattern: &str) -> Option<regex::Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    c.entry(pattern.to_owned())
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .clone()
}

type Bad = (String, String);

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn check(defs: &Map<String, Value>, v: &Value, s: &Value, path: &str) -> Result<(), Bad> {
    let Some(s) = s.as_object() else {
        return match s {
            Value::Bool(false) => Err((path.to_owned(), "is not allowed".into())),
            _ => Ok(()),
        };
    };
    let bad = |detail: String| Err((path.to_owned(), detail));
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        match ref_name(r).and_then(|n| defs.get(n)) {
            Some(d) => check(defs, v, d, path)?,
            None => return bad(format!("cannot be checked (unknown schema {r})")),
        }
    }
    if v.is_null() && s.get("nullable").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            _ => true,
        };
        if !ok {
            let article = if t.starts_with(['a', 'e', 'i', 'o']) {
                "an"
            } else {
                "a"
            };
            return bad(format!("must be {article} {t}, not {}", type_name(v)));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.iter().any(|x| same(x, v)) {
            let names: Vec<String> = e.iter().map(Value::to_string).collect();
            return bad(format!("must be one of {}", names.join(", ")));
        }
    }
    match v {
        Value::String(text) => {
            let n = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                if n < min {
                    return bad(format!("must be at least {min} characters"));
                }
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                if n > max {
                    return bad(format!("must be at most {max} characters"));
                }
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                if !regex_for(p).is_some_and(|re| re.is_match(text)) {
                    return bad(format!("must match the pattern {p}"));
                }
            }
        }
        Value::Number(num) => {
            let x = num.as_f64().unwrap_or(f64::NAN);
            let excl = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                if x < min || (excl("exclusiveMinimum") && x == min) {
                    return bad(format!("must be at least {min}"));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                if x > max || (excl("exclusiveMaximum") && x == max) {
                    return bad(format!("must be at most {max}"));
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if n < min {
                    return bad(format!("must hold at least {min} items, not {n}"));
                }
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                if n > max {
                    return bad(format!("must hold at most {max} items, not {n}"));
                }
            }
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    check(defs, x, item, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::Object(o) => {
            let props = s.get("properties").and_then(Value::as_object);
            for r in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !o.contains_key(r) {
                    return Err((join(path, r), "is required".into()));
                }
            }
            for (k, x) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => check(defs, x, sub, &join(path, k))?,
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            let known: Vec<&str> = props
                                .map(|p| p.keys().map(String::as_str).collect())
                                .unwrap_or_default();
                            return Err((
                                join(path, k),
                                format!("unknown field; expected one of: {}", known.join(", ")),
                            ));
                        }
                        Some(extra @ Value::Object(_)) => check(defs, x, extra, &join(path, k))?,
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
    for sub in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(defs, v, sub, path)?;
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let mut first = None;
        for sub in any {
            match check(defs, v, sub, path) {
                Ok(()) => {
                    first = None;
                    break;
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first {
            return Err(e);
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        one_of(defs, v, one, path)?;
    }
    if let Some(not) = s.get("not") {
        if check(defs, v, not, path).is_ok() {
            let detail = match not.get("items") {
                Some(_) => "must not be all zeros".to_owned(),
                None => format!("must not match {not}"),
            };
            return bad(detail);
        }
    }
    Ok(())
}

/// `oneOf`. A `oneOf` of bare `required` lists reads "exactly one of these fields", and the
/// problem names the field to add (none given) or the second one given (several).
fn one_of(defs: &Map<String, Value>, v: &Value, branches: &[Value], path: &str) -> Result<(), Bad> {
    let mut errors = Vec::new();
    let mut matched = 0;
    for b in branches {
        match check(defs, v, b, path) {
            Ok(()) => matched += 1,
            Err(e) => errors.push(e),
        }
    }
    if matched == 1 {
        return Ok(());
    }
    let fields: Option<Vec<&str>> = branches
        .iter()
        .map(|b| {
            let o = b.as_object()?;
            let r = o.get("required")?.as_array()?;
            (o.len() == 1 && r.len() == 1)
                .then(|| r[0].as_str())
                .flatten()
        })
        .collect();
    let Some(fields) = fields else {
        if matched > 1 {
            return Err((
                path.to_owned(),
                "matches more than one of the allowed forms".into(),
            ));
        }
        // A tagged union: the branch whose tag matched says what is wrong; when no tag
        // matched, the allowed tags are listed together.
        const ENUM: &str = "must be one of ";
        if let Some(e) = errors.iter().find(|e| !e.1.starts_with(ENUM)) {
            return Err(e.clone());
        }
        let Some(first) = errors.first().cloned() else {
            return Err((path.to_owned(), "matches none of the allowed forms".into()));
        };
        let all: Vec<&str> = errors
            .iter()
            .filter(|e| e.0 == first.0)
            .filter_map(|e| e.1.strip_prefix(ENUM))
            .collect();
        return Err((first.0, format!("{ENUM}{}", all.join(", "))));
    };
    let list = fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let present: Vec<&&str> = fields.iter().filter(|f| v.get(**f).is_some()).collect();
    let (field, detail) = match present.get(1) {
        None => (fields[0], format!("one of {list} is required")),
        Some(second) => (**second, format!("give only one of {list}")),
    };
    Err((join(path, field), detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::views::{CreateDoor, CreateGrant, UpdateDoor};

    fn field(e: ApiError) -> String {
        e.field.unwrap_or_default()
    }

    #[test]
    fn bodies_of_the_wrong_shape_are_refused() {
        let s = body_schema::<UpdateDoor>();
        for bad in [
            json!([null, null]),
            json!("door"),
            json!(5),
            json!(null),
            json!(true),
        ] {
            let e = s.check(&bad).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), field(e.clone())),
                (422, "body".into()),
                "{bad}"
            );
            assert!(e.detail.contains("must be an object"), "{}", e.detail);
        }
        assert!(s.check(&json!({})).is_ok());
        assert!(s.check(&json!({"name": "Ward", "mode": "staff"})).is_ok());
        assert_eq!(field(s.check(&json!({"name": null})).unwrap_err()), "name");
        assert_eq!(field(s.check(&json!({"name": " "})).unwrap_err()), "name");
        assert_eq!(
            field(s.check(&json!({"colour": "red"})).unwrap_err()),
            "colour"
        );
        assert_eq!(
            field(s.check(&json!({"mode": "lobby"})).unwrap_err()),
            "mode"
        );
    }

    #[test]
    fn schema_rules_match_the_handler_checks() {
        let s = body_schema::<CreateDoor>();
        assert!(s
            .check(&json!({"id": "ward-3.north", "name": "W", "mode": "staff"}))
            .is_ok());
        assert_eq!(
            field(
                s.check(&json!({"id": "ward 3", "name": "W", "mode": "staff"}))
                    .unwrap_err()
            ),
            "id"
        );
        assert_eq!(
            field(
                s.check(&json!({"id": "", "name": "W", "mode": "staff"}))
                    .unwrap_err()
            ),
            "id"
        );
        assert_eq!(
            field(
                s.check(&json!({"name": "a\u{7}b", "mode": "staff"}))
                    .unwrap_err()
            ),
            "name"
        );
        assert_eq!(
            field(
                s.check(&json!({"name": "x".repeat(256), "mode": "staff"}))
                    .unwrap_err()
            ),
            "name"
        );
        assert!(s
            .check(&json!({"name": "x".repeat(255), "mode": "staff"}))
            .is_ok());
        let g = body_schema::<CreateGrant>();
        assert_eq!(
            field(g.check(&json!({"staff_id": "s"})).unwrap_err()),
            "door_id"
        );
        assert_eq!(
            field(
                g.check(&json!({"staff_id": "s", "door_id": "d", "patient_id": "p"}))
                    .unwrap_err()
            ),
            "patient_id"
        );
        assert!(g
            .check(&json!({"staff_id": "s", "patient_id": "p"}))
            .is_ok());
    }
}

//! REST API against a real server on 127.0.0.1:0 (SQLite; the store suite covers MySQL).

mod common;

use common::{face, Db, TestApp, DIM};
use reqwest::Method;
use serde_json::{json, Value};

fn emb(seed: u64) -> Value {
    json!(face(seed))
}

async fn app() -> TestApp {
    TestApp::spawn(Db::Sqlite).await.unwrap()
}

#[tokio::test]
async fn public_endpoints_and_problem_json_for_unknown_paths() {
    let a = app().await;
    let (s, h) = a.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        h,
        serde_json::json!({"status": "up"}),
        "anonymous: up or degraded only"
    );
    assert_eq!(s, 200);
    let (s, h) = a
        .call(Method::GET, "/healthz", Some(&a.technician), None)
        .await;
    assert_eq!((s, h["status"].as_str()), (200, Some("up")));
    assert_eq!(h["database"], "ok", "{h}");
    assert!(h["version"].is_string() && h["templates"].is_u64(), "{h}");
    let (s, doc) = a.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["components"]["schemas"]["RegisterFace"].is_object());
    let (s, p) = a.call(Method::GET, "/nope", Some(&a.admin), None).await;
    assert_eq!((s, p["status"].as_u64()), (404, Some(404)));
    let (s, _) = a.call(Method::PUT, "/healthz", None, None).await;
    assert_eq!(s, 405);
    let (s, p) = a.call(Method::GET, "/api/v1/subjects", None, None).await;
    assert_eq!(s, 401);
    assert!(p["detail"].as_str().unwrap().contains("bearer"));
    let (s, _) = a
        .call(
            Method::GET,
            "/api/v1/subjects",
            Some("wg_not-a-token"),
            None,
        )
        .await;
    assert_eq!(s, 401);
    a.stop().await;
}

/// Every operation of the OpenAPI document exists on the router and enforces exactly the roles
/// the document lists: no token → 401, a role not listed → 403, a listed role → neither.
#[tokio::test]
async fn openapi_operations_exist_and_enforce_their_roles() {
    let a = app().await;
    let doc = wardgate::api::openapi::document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "x").replace("{face_id}", "y");
        for (method, op) in item.as_object().unwrap() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = op.get("requestBody").map(|_| json!({}));
            let Some(roles) = op.get("x-roles") else {
                let (s, _) = a.call(m.clone(), &concrete, None, None).await;
                assert!(s < 400, "{method} {path} is public but answered {s}");
                continue;
            };
            let (s, _) = a.call(m.clone(), &concrete, None, body.clone()).await;
            assert_eq!(s, 401, "{method} {path} without token");
            let roles: Vec<&str> = roles
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            for (role, token) in [
                ("admin", &a.admin),
                ("sync", &a.sync),
                ("terminal", &a.terminal),
                ("technician", &a.technician),
            ] {
                let (s, p) = a
                    .call(m.clone(), &concrete, Some(token), body.clone())
                    .await;
                if roles.contains(&role) {
                    assert!(
                        s != 401 && s != 403 && s != 405,
                        "{method} {path} as {role}: {s} {p}"
                    );
                } else {
                    assert_eq!(s, 403, "{method} {path} as {role} must be forbidden: {p}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 28, "only {checked} operations documented");
    a.stop().await;
}

#[tokio::test]
async fn subjects_crud_validation_and_paging() {
    let a = app().await;
    let (s, doc) = a
        .post(
            "/api/v1/subjects",
            &a.sync,
            json!({"external_id": "E1", "name": " Dr Ann ", "role": "doctor"}),
        )
        .await;
    assert_eq!(s, 201, "{doc}");
    assert_eq!(
        (
            doc["name"].as_str(),
            doc["kind"].as_str(),
            doc["status"].as_str()
        ),
        (Some("Dr Ann"), Some("staff"), Some("active"))
    );
    let id = doc["id"].as_str().unwrap().to_owned();
    for (body, status, field) in [
        (
            json!({"external_id": "E1", "name": "X", "role": "nurse"}),
            409,
            "external_id",
        ),
        (
            json!({"external_id": "E2", "name": "X", "role": "surgeon"}),
            422,
            "role",
        ),
        (
            json!({"external_id": "E2", "name": "  ", "role": "nurse"}),
            422,
            "name",
        ),
        (
            json!({"external_id": "E2", "name": "X", "role": "nurse", "colour": "red"}),
            422,
            "colour",
        ),
        (
            json!({"external_id": "E2", "name": "X", "role": "nurse", "status": "asleep"}),
            422,
            "status",
        ),
        (
            json!({"external_id": "E2", "name": "X".repeat(300), "role": "nurse"}),
            422,
            "name",
        ),
    ] {
        let (s, p) = a.post("/api/v1/subjects", &a.sync, body.clone()).await;
        assert_eq!(s, status, "{body} -> {p}");
        assert_eq!(p["field"].as_str(), Some(field), "{body} -> {p}");
    }
    let raw = a
        .http
        .post(a.url("/api/v1/subjects"))
        .bearer_auth(&a.sync)
        .header("content-type", "application/json")
        .body("{\"external_id\":")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let raw = a
        .http
        .post(a.url("/api/v1/subjects"))
        .bearer_auth(&a.sync)
        .body("external_id=E2")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 415);
    for i in 0..4 {
        a.post(
            "/api/v1/subjects",
            &a.sync,
            json!({"external_id": format!("P{i}"), "name": "P", "role": "patient"}),
        )
        .await;
    }
    let (_, page) = a
        .get(
            "/api/v1/subjects?kind=patient&limit=3&offset=1",
            &a.technician,
        )
        .await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["items"].as_array().unwrap().len()
        ),
        (Some(4), 3)
    );
    for q in [
        "limit=0",
        "limit=100000",
        "limit=abc",
        "kind=robot",
        "bogus=1",
    ] {
        let (s, p) = a.get(&format!("/api/v1/subjects?{q}"), &a.admin).await;
        assert_eq!(s, 422, "{q}: {p}");
    }
    let (s, p) = a
        .call(
            Method::PATCH,
            &format!("/api/v1/subjects/{id}"),
            Some(&a.sync),
            Some(json!({"status": "suspended", "name": "Dr Ann Lee"})),
        )
        .await;
    assert_eq!(
        (s, p["status"].as_str(), p["name"].as_str()),
        (200, Some("suspended"), Some("Dr Ann Lee"))
    );
    let (s, _) = a.get("/api/v1/subjects/does-not-exist", &a.admin).await;
    assert_eq!(s, 404);
    let (s, _) = a
        .call(
            Method::PATCH,
            &format!("/api/v1/subjects/{id}"),
            Some(&a.technician),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, 403, "technicians read only");
    let (s, _) = a
        .call(
            Method::DELETE,
            &format!("/api/v1/subjects/{id}"),
            Some(&a.sync),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = a.get(&format!("/api/v1/subjects/{id}"), &a.admin).await;
    assert_eq!(s, 404);
    a.stop().await;
}

#[tokio::test]
async fn faces_accept_only_valid_embeddings() {
    let a = app().await;
    let (_, subj) = a
        .post(
            "/api/v1/subjects",
            &a.sync,
            json!({"external_id": "E1", "name": "A", "role": "nurse"}),
        )
        .await;
    let id = subj["id"].as_str().unwrap();
    let path = format!("/api/v1/subjects/{id}/faces");
    let (s, f) = a.post(&path, &a.sync, json!({"embedding": emb(1)})).await;
    assert_eq!(
        (s, f["dim"].as_u64(), f["model_id"].as_str()),
        (
            201,
            Some(DIM as u64),
            Some(wardgate::vision::DEFAULT_EMBEDDER)
        )
    );
    assert!(
        f.get("embedding").is_none() && f.get("vector").is_none(),
        "biometric vectors never leave"
    );
    let mut huge = face(2);
    huge[3] = 0.0;
    let mut huge: Vec<Value> = huge.into_iter().map(|x| json!(x)).collect();
    huge[3] = json!(1e39);
    for (body, field) in [
        (json!({"embedding": [0.1, 0.2]}), "embedding"),
        (json!({"embedding": huge}), "embedding[3]"),
        (json!({"embedding": vec![0.0; DIM]}), "embedding"),
        (json!({"embedding": "abc"}), "embedding"),
        (json!({}), "embedding"),
    ] {
        let (s, p) = a.post(&path, &a.sync, body).await;
        assert_eq!((s, p["field"].as_str()), (422, Some(field)), "{p}");
    }
    let img = a
        .http
        .post(a.url(&path))
        .bearer_auth(&a.sync)
        .header("content-type", "image/jpeg")
        .body(vec![0xff, 0xd8, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(img.status(), 503, "no vision models in this test server");
    let txt = a
        .http
        .post(a.url(&path))
        .bearer_auth(&a.sync)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(txt.status(), 415);
    let (s, _) = a
        .post(
            "/api/v1/subjects/nobody/faces",
            &a.sync,
            json!({"embedding": emb(1)}),
        )
        .await;
    assert_eq!(s, 404);
    let (_, list) = a.get(&path, &a.sync).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let fid = list[0]["id"].as_str().unwrap();
    let (s, _) = a
        .call(
            Method::DELETE,
            &format!("{path}/{fid}"),
            Some(&a.sync),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = a
        .call(
            Method::DELETE,
            &format!("{path}/{fid}"),
            Some(&a.sync),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        a.state.core.catalog.snapshot().gallery.len(),
        0,
        "gallery follows deletions"
    );
    a.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let a = TestApp::spawn_with(Db::Sqlite, |c| c.api.max_body_bytes = 4096)
        .await
        .unwrap();
    let (s, p) = a.post("/register_face", &a.sync, json!({"name": "x".repeat(5000), "role": "doctor", "external_id": "E", "embedding": emb(1)})).await;
    assert_eq!((s, p["status"].as_u64()), (413, Some(413)));
    a.stop().await;
}

#[tokio::test]
async fn doors_and_grants() {
    let a = app().await;
    let (s, d) = a
        .post(
            "/api/v1/doors",
            &a.admin,
            json!({"id": "ward-1", "name": "Ward 1", "mode": "staff"}),
        )
        .await;
    assert_eq!((s, d["id"].as_str()), (201, Some("ward-1")));
    let (s, _) = a
        .post(
            "/api/v1/doors",
            &a.admin,
            json!({"id": "ward-1", "name": "again", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, p) = a
        .post(
            "/api/v1/doors",
            &a.admin,
            json!({"id": "ward 2", "name": "W", "mode": "staff"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("id")));
    let (s, p) = a
        .post(
            "/api/v1/doors",
            &a.admin,
            json!({"name": "W", "mode": "lobby"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("mode")));
    let (s, gen) = a
        .post(
            "/api/v1/doors",
            &a.admin,
            json!({"name": "Room 12", "mode": "staff_with_patient"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        gen["id"].as_str().unwrap().len(),
        36,
        "generated ids are UUIDs"
    );
    let (s, _) = a
        .post(
            "/api/v1/doors",
            &a.technician,
            json!({"name": "W", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 403);
    let (_, list) = a.get("/api/v1/doors", &a.technician).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (s, upd) = a
        .call(
            Method::PATCH,
            "/api/v1/doors/ward-1",
            Some(&a.admin),
            Some(json!({"name": "Ward One"})),
        )
        .await;
    assert_eq!((s, upd["name"].as_str()), (200, Some("Ward One")));

    let (_, doc) = a
        .post(
            "/api/v1/subjects",
            &a.sync,
            json!({"external_id": "E1", "name": "D", "role": "doctor"}),
        )
        .await;
    let (_, pat) = a
        .post(
            "/api/v1/subjects",
            &a.sync,
            json!({"external_id": "P1", "name": "P", "role": "patient"}),
        )
        .await;
    let (doc, pat) = (doc["id"].as_str().unwrap(), pat["id"].as_str().unwrap());
    let (s, g) = a
        .post(
            "/api/v1/grants",
            &a.sync,
            json!({"staff_id": doc, "door_id": "ward-1", "valid_until": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (s, g["status"].as_str(), g["source"].as_str()),
        (201, Some("active"), Some("admin"))
    );
    for (body, field) in [
        (
            json!({"staff_id": doc, "door_id": "ward-1", "patient_id": pat}),
            "patient_id",
        ),
        (json!({"staff_id": doc}), "door_id"),
        (
            json!({"staff_id": doc, "door_id": "ward-1", "valid_from": "2030-01-01T00:00:00Z", "valid_until": "2029-01-01T00:00:00Z"}),
            "valid_until",
        ),
        (
            json!({"staff_id": doc, "door_id": "ward-1", "valid_until": "next week"}),
            "valid_until",
        ),
        (json!({"staff_id": pat, "door_id": "ward-1"}), "staff_id"),
        (json!({"staff_id": doc, "patient_id": doc}), "patient_id"),
        (json!({"staff_id": doc, "door_id": "nope"}), "door_id"),
    ] {
        let (s, p) = a.post("/api/v1/grants", &a.sync, body.clone()).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (422, Some(field)),
            "{body} -> {p}"
        );
    }
    let gid = g["id"].as_str().unwrap();
    let (_, list) = a
        .get(&format!("/api/v1/grants?staff_id={doc}"), &a.sync)
        .await;
    assert_eq!(list["total"], 1);
    let (s, r) = a
        .call(
            Method::DELETE,
            &format!("/api/v1/grants/{gid}"),
            Some(&a.sync),
            None,
        )
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("revoked")));
    let (_, list) = a
        .get(&format!("/api/v1/grants?staff_id={doc}"), &a.sync)
        .await;
    assert_eq!(list["total"], 0);
    let (_, list) = a
        .get(
            &format!("/api/v1/grants?staff_id={doc}&include_revoked=true"),
            &a.sync,
        )
        .await;
    assert_eq!(list["total"], 1);
    let (s, _) = a.get("/api/v1/grants", &a.technician).await;
    assert_eq!(s, 403);
    let (s, _) = a
        .call(Method::DELETE, "/api/v1/doors/ward-1", Some(&a.admin), None)
        .await;
    assert_eq!(s, 204);
    a.stop().await;
}

#[tokio::test]
async fn tokens_are_admin_only_and_revocable() {
    let a = app().await;
    let (s, t) = a
        .post(
            "/api/v1/tokens",
            &a.admin,
            json!({"label": "door 7 terminal", "role": "terminal"}),
        )
        .await;
    assert_eq!((s, t["role"].as_str()), (201, Some("terminal")));
    let token = t["token"].as_str().unwrap().to_owned();
    let (s, _) = a
        .post(
            "/api/v1/tokens",
            &a.sync,
            json!({"label": "x", "role": "admin"}),
        )
        .await;
    assert_eq!(s, 403, "only admins mint tokens");
    let (s, p) = a
        .post(
            "/api/v1/tokens",
            &a.admin,
            json!({"label": "x", "role": "root"}),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("role")));
    let (_, list) = a.get("/api/v1/tokens", &a.admin).await;
    assert_eq!(list.as_array().unwrap().len(), 5);
    assert!(
        !list.to_string().contains(&token[3..]),
        "tokens are never listed"
    );
    let (s, _) = a.get("/api/v1/events", &token).await;
    assert_eq!(s, 403, "terminal tokens only authenticate faces");
    let (s, _) = a
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", t["id"].as_str().unwrap()),
            Some(&a.admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = a.get("/api/v1/events", &token).await;
    assert_eq!(s, 401, "revoked at once");
    a.stop().await;
}

#[tokio::test]
async fn events_filters_and_audit_of_admin_changes() {
    let a = app().await;
    a.post(
        "/api/v1/doors",
        &a.admin,
        json!({"id": "d1", "name": "D", "mode": "staff"}),
    )
    .await;
    a.post(
        "/api/v1/subjects",
        &a.sync,
        json!({"external_id": "E1", "name": "A", "role": "doctor"}),
    )
    .await;
    a.state.core.events.flush().await.unwrap();
    let (s, ev) = a.get("/api/v1/events?kind=admin", &a.technician).await;
    assert_eq!((s, ev["total"].as_i64()), (200, Some(2)));
    let reasons: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["subject_created", "door_created"]);
    let (_, none) = a
        .get("/api/v1/events?from=2999-01-01T00:00:00Z", &a.technician)
        .await;
    assert_eq!(none["total"], 0);
    let (s, p) = a.get("/api/v1/events?from=yesterday", &a.technician).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("from")));
    let id = ev["items"][0]["id"].as_str().unwrap();
    let (s, one) = a.get(&format!("/api/v1/events/{id}"), &a.technician).await;
    assert_eq!((s, one["seq"].as_i64()), (200, Some(2)));
    a.stop().await;
}

#[tokio::test]
async fn register_face_original_path() {
    let a = app().await;
    let (s, r) = a
        .post(
            "/register_face",
            &a.sync,
            json!({"name": "Dr Who", "role": "doctor", "external_id": "E9", "embedding": emb(9)}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let sid = r["subject_id"].as_str().unwrap().to_owned();
    assert!(r["face_id"].is_string());
    let (s, r2) = a
        .post(
            "/register_face",
            &a.sync,
            json!({"subject_id": sid, "embedding": emb(10)}),
        )
        .await;
    assert_eq!((s, r2["subject_id"].as_str()), (201, Some(sid.as_str())));
    assert_eq!(a.state.core.catalog.snapshot().gallery.len(), 2);
    for (body, status, field) in [
        (
            json!({"subject_id": sid, "name": "x", "embedding": emb(1)}),
            422,
            Some("name"),
        ),
        (
            json!({"name": "A", "external_id": "E1", "embedding": emb(1)}),
            422,
            Some("role"),
        ),
        (
            json!({"name": "A", "role": "doctor", "embedding": emb(1)}),
            422,
            Some("external_id"),
        ),
        (
            json!({"name": "A", "role": "doctor", "external_id": "E1"}),
            422,
            Some("embedding"),
        ),
        (
            json!({"name": "A", "role": "doctor", "external_id": "E1", "embedding": emb(1), "image": "AAAA"}),
            422,
            Some("image"),
        ),
        (
            json!({"name": "A", "role": "doctor", "external_id": "E9", "embedding": emb(1)}),
            409,
            Some("external_id"),
        ),
        (
            json!({"subject_id": "nobody", "embedding": emb(1)}),
            404,
            None,
        ),
        (
            json!({"name": "A", "role": "doctor", "external_id": "E1", "image": "!!notbase64"}),
            422,
            Some("image"),
        ),
    ] {
        let (s, p) = a.post("/register_face", &a.sync, body.clone()).await;
        assert_eq!((s, p["field"].as_str()), (status, field), "{body} -> {p}");
    }
    let (s, _) = a
        .post(
            "/register_face",
            &a.sync,
            json!({"name": "A", "role": "doctor", "external_id": "E1", "image": "AAAA"}),
        )
        .await;
    assert_eq!(s, 503, "valid base64 but no models loaded");
    let (_, all) = a.get("/api/v1/subjects", &a.admin).await;
    assert_eq!(all["total"], 1, "failed registrations wrote nothing");
    a.stop().await;
}

#[tokio::test]
async fn create_access_original_path() {
    let a = app().await;
    let (_, d) = a
        .post(
            "/register_face",
            &a.sync,
            json!({"name": "D", "role": "doctor", "external_id": "E1", "embedding": emb(1)}),
        )
        .await;
    let (_, p) = a
        .post(
            "/register_face",
            &a.sync,
            json!({"name": "P", "role": "patient", "external_id": "MRN1", "embedding": emb(2)}),
        )
        .await;
    let (d, p) = (
        d["subject_id"].as_str().unwrap(),
        p["subject_id"].as_str().unwrap(),
    );
    let (s, g) = a.post("/create_access", &a.sync, json!({"staff_id": d, "patient_id": p, "action": "grant", "valid_until": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(
        (s, g["grant"]["status"].as_str()),
        (201, Some("active")),
        "{g}"
    );
    assert_eq!(g["grant"]["valid_until"], "2999-01-01T00:00:00.000Z");
    for (body, status, field) in [
        (
            json!({"staff_id": p, "patient_id": p, "action": "grant"}),
            422,
            Some("staff_id"),
        ),
        (
            json!({"staff_id": d, "patient_id": d, "action": "grant"}),
            422,
            Some("patient_id"),
        ),
        (
            json!({"staff_id": d, "patient_id": p, "action": "allow"}),
            422,
            Some("action"),
        ),
        (
            json!({"staff_id": d, "patient_id": p, "action": "grant", "valid_until": "2001-01-01T00:00:00Z"}),
            422,
            Some("valid_until"),
        ),
        (
            json!({"staff_id": "ghost", "patient_id": p, "action": "grant"}),
            404,
            Some("staff_id"),
        ),
    ] {
        let (s, r) = a.post("/create_access", &a.sync, body.clone()).await;
        assert_eq!((s, r["field"].as_str()), (status, field), "{body} -> {r}");
    }
    // External ids work as well as subject ids.
    let (s, r) = a
        .post(
            "/create_access",
            &a.sync,
            json!({"staff_id": "E1", "patient_id": "MRN1", "action": "revoke"}),
        )
        .await;
    assert_eq!((s, r["revoked"].as_u64()), (200, Some(1)));
    let (s, _) = a
        .post(
            "/create_access",
            &a.sync,
            json!({"staff_id": d, "patient_id": p, "action": "revoke"}),
        )
        .await;
    assert_eq!(s, 404, "nothing left to revoke");
    let (s, _) = a
        .post(
            "/create_access",
            &a.technician,
            json!({"staff_id": d, "patient_id": p, "action": "grant"}),
        )
        .await;
    assert_eq!(s, 403);
    a.stop().await;
}

/// A body of the wrong JSON type — at the top or deeper down — is refused with a problem
/// naming where, before anything is written; so is `null` for an optional field.
#[tokio::test]
async fn bodies_of_the_wrong_json_type_are_refused() {
    let a = app().await;
    let (s, _) = a
        .post(
            "/api/v1/doors",
            &a.admin,
            json!({"id": "door-1", "name": "Door 1", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 201);
    for body in [
        json!([null, null]),
        json!("door"),
        json!(5),
        json!(null),
        json!([]),
    ] {
        let (s, p) = a
            .call(
                Method::PATCH,
                "/api/v1/doors/door-1",
                Some(&a.admin),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (422, Some("body")),
            "{body} -> {p}"
        );
        assert!(
            p["detail"].as_str().unwrap().contains("must be an object"),
            "{p}"
        );
    }
    for (body, field) in [
        (json!({"name": null}), "name"),
        (json!({"name": ["Door"]}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"mode": 3}), "mode"),
        (json!({"name": "D", "colour": "red"}), "colour"),
    ] {
        let (s, p) = a
            .call(
                Method::PATCH,
                "/api/v1/doors/door-1",
                Some(&a.admin),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (422, Some(field)),
            "{body} -> {p}"
        );
    }
    let (_, d) = a.get("/api/v1/doors/door-1", &a.admin).await;
    assert_eq!(d["name"], "Door 1", "refused updates changed nothing");
    // Deeper down: an array where a snapshot entry (an object) is expected.
    let (s, p) = a
        .call(
            Method::PUT,
            "/api/v1/sync/subjects",
            Some(&a.sync),
            Some(json!({"source": "his", "subjects": [["E1", "Dr One", "doctor", null]]})),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("subjects[0]")), "{p}");
    let (s, p) = a
        .post(
            "/api/v1/decisions",
            &a.terminal,
            json!([null, "door-1", {"embedding": emb(1)}]),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (422, Some("body")), "{p}");
    let (_, subjects) = a.get("/api/v1/subjects", &a.admin).await;
    assert_eq!(subjects["total"], 0, "nothing was written");
    a.stop().await;
}

/// The served document states the limits the handlers enforce, with this controller's
/// settings.
#[tokio::test]
async fn the_served_document_carries_the_constraints() {
    let a = TestApp::spawn_with(Db::Sqlite, |c| c.api.max_page_size = 40)
        .await
        .unwrap();
    let (_, doc) = a.call(Method::GET, "/api/openapi.json", None, None).await;
    let params = doc["paths"]["/api/v1/events"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(
        (
            limit["schema"]["minimum"].as_f64(),
            limit["schema"]["maximum"].as_f64()
        ),
        (Some(1.0), Some(40.0))
    );
    let (s, p) = a.get("/api/v1/events?limit=41", &a.admin).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("limit")));
    let (s, _) = a.get("/api/v1/events?limit=40", &a.admin).await;
    assert_eq!(s, 200);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["CreateDoor"]["properties"]["name"]["minLength"], 1);
    assert_eq!(schemas["UpdateDoor"]["properties"]["name"]["minLength"], 1);
    assert_eq!(
        schemas["AddFace"]["properties"]["embedding"]["maxItems"].as_u64(),
        Some(DIM as u64)
    );
    let ws = &doc["paths"]["/ws/events"]["get"]["responses"];
    assert!(ws["101"].is_object() && ws["426"]["headers"]["Upgrade"].is_object());
    a.stop().await;
}

/// The subject access report: everything held about one person — the record, template
/// metadata, grants both ways, audit events counted — and never a vector; reading it is itself
/// audited, and only an admin may.
#[tokio::test]
async fn subject_access_report_holds_what_is_stored_and_no_vector() {
    let a = app().await;
    let (_, doc) = a
        .post(
            "/register_face",
            &a.sync,
            json!({"name": "Dr R", "role": "doctor", "external_id": "R1", "embedding": emb(21)}),
        )
        .await;
    let doc_id = doc["subject_id"].as_str().unwrap().to_owned();
    let (_, pat) = a
        .post(
            "/api/v1/subjects",
            &a.sync,
            json!({"external_id": "P1", "name": "Pat", "role": "patient"}),
        )
        .await;
    let pat_id = pat["id"].as_str().unwrap().to_owned();
    a.post(
        "/api/v1/doors",
        &a.admin,
        json!({"id": "ward-r", "name": "Ward R", "mode": "staff"}),
    )
    .await;
    for body in [
        json!({"staff_id": doc_id, "door_id": "ward-r"}),
        json!({"staff_id": doc_id, "patient_id": pat_id}),
    ] {
        let (s, g) = a.post("/api/v1/grants", &a.admin, body).await;
        assert_eq!(s, 201, "{g}");
    }
    let (s, d) = a
        .post(
            "/api/v1/decisions",
            &a.terminal,
            json!({"request_id": "r", "door": "ward-r", "staff": {"embedding": emb(21)}}),
        )
        .await;
    assert_eq!((s, d["reason"].as_str()), (200, Some("granted")), "{d}");
    a.state.core.events.flush().await.unwrap();

    let path = format!("/api/v1/subjects/{doc_id}/report");
    let (s, r) = a.get(&path, &a.admin).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["subject"]["id"], doc_id.as_str());
    let templates = r["templates"].as_array().unwrap();
    assert_eq!(templates.len(), 1, "{r}");
    assert_eq!(templates[0]["dim"], DIM);
    assert_eq!(r["grants_held"].as_array().unwrap().len(), 2, "{r}");
    assert!(r["grants_onto"].as_array().unwrap().is_empty(), "{r}");
    let decisions = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "decision")
        .unwrap_or_else(|| panic!("no decision counted: {r}"));
    assert_eq!(decisions["count"], 1, "{r}");
    assert_eq!(r["decisions_total"], 1, "{r}");
    assert_eq!(r["decisions"][0]["reason"], "granted", "{r}");
    let (s, later) = a
        .get(&format!("{path}?from=2999-01-01T00:00:00Z"), &a.admin)
        .await;
    assert_eq!(s, 200, "{later}");
    assert_eq!(
        later["decisions_total"], 0,
        "the period bounds the list: {later}"
    );
    assert_eq!(
        later["events"], r["events"],
        "counts stay all-time: {later}"
    );
    let (s, bad) = a.get(&format!("{path}?from=yesterday"), &a.admin).await;
    assert_eq!((s, bad["field"].as_str()), (422, Some("from")), "{bad}");
    let text = r.to_string();
    assert!(
        !text.contains("embedding") && !text.contains("vector"),
        "the report carries no biometric data: {text}"
    );

    let (_, p) = a
        .get(&format!("/api/v1/subjects/{pat_id}/report"), &a.admin)
        .await;
    assert_eq!(p["grants_onto"].as_array().unwrap().len(), 1, "{p}");
    assert!(p["templates"].as_array().unwrap().is_empty());
    let (s, _) = a.get(&path, &a.sync).await;
    assert_eq!(s, 403, "admin only");
    let (s, nf) = a.get("/api/v1/subjects/nobody/report", &a.admin).await;
    assert_eq!((s, nf["status"].as_u64()), (404, Some(404)), "{nf}");

    a.state.core.events.flush().await.unwrap();
    let (_, ev) = a.get("/api/v1/events?kind=admin", &a.admin).await;
    let audited = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "subject_report")
        .count();
    assert_eq!(audited, 3, "each report read is audited: {ev}");
    a.stop().await;
}

//! `/ws/auth` end to end: real server, real WebSocket client, on SQLite and on MariaDB.

mod common;

use common::{cosine, face, perturbed, Db, TestApp};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(a: &TestApp, token: &str) -> Result<Ws, u16> {
    let mut req = format!("ws://{}/ws/auth", a.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn ask(ws: &mut Ws, msg: Value) -> Value {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
    next(ws).await
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn auth(id: &str, door: &str, staff: &[f32], patient: Option<&[f32]>) -> Value {
    let mut m = json!({"type": "authenticate", "request_id": id, "door": door, "staff": {"embedding": staff}});
    if let Some(p) = patient {
        m["patient"] = json!({"embedding": p});
    }
    m
}

async fn doctor_patient_scenario(db: Db) {
    let Some(a) = TestApp::spawn(db).await else {
        return;
    };
    let (s, d) = a.post("/register_face", &a.sync, json!({"name": "Dr Grey", "role": "doctor", "external_id": "E100", "embedding": face(1)})).await;
    assert_eq!(s, 201);
    let (_, p) = a.post("/register_face", &a.sync, json!({"name": "Pat Lee", "role": "patient", "external_id": "MRN7", "embedding": face(2)})).await;
    let (doc, pat) = (
        d["subject_id"].as_str().unwrap().to_owned(),
        p["subject_id"].as_str().unwrap().to_owned(),
    );
    a.post(
        "/api/v1/doors",
        &a.admin,
        json!({"id": "room-12", "name": "Room 12", "mode": "staff_with_patient"}),
    )
    .await;
    a.post(
        "/api/v1/doors",
        &a.admin,
        json!({"id": "ward-3", "name": "Ward 3", "mode": "staff"}),
    )
    .await;
    let (s, _) = a
        .post(
            "/create_access",
            &a.sync,
            json!({"staff_id": doc, "patient_id": pat, "action": "grant"}),
        )
        .await;
    assert_eq!(s, 201);

    let staff_probe = perturbed(1, 0.3, 11);
    let patient_probe = perturbed(2, 0.3, 12);
    assert!(
        cosine(&staff_probe, &face(1)) < 0.99,
        "the probe really is perturbed"
    );
    let mut ws = connect(&a, &a.terminal).await.unwrap();
    let r = ask(
        &mut ws,
        auth("r1", "room-12", &staff_probe, Some(&patient_probe)),
    )
    .await;
    assert_eq!(
        (
            r["type"].as_str(),
            r["granted"].as_bool(),
            r["reason"].as_str()
        ),
        (Some("decision"), Some(true), Some("granted")),
        "{r}"
    );
    assert_eq!(r["request_id"], "r1");
    assert_eq!(r["staff"]["name"], "Dr Grey");
    assert_eq!(r["patient"]["subject_id"].as_str(), Some(pat.as_str()));
    assert!(r["staff"]["similarity"].as_f64().unwrap() > 0.9);
    let granted_id = r["decision_id"].as_str().unwrap().to_owned();

    // Only one face at a patient room.
    let r = ask(&mut ws, auth("r2", "room-12", &staff_probe, None)).await;
    assert_eq!(r["reason"], "patient_required");
    // A stranger.
    let r = ask(
        &mut ws,
        auth("r3", "room-12", &face(999), Some(&patient_probe)),
    )
    .await;
    assert_eq!(
        (r["granted"].as_bool(), r["reason"].as_str(), &r["staff"]),
        (Some(false), Some("unknown_staff"), &Value::Null)
    );
    // The doctor with a stranger instead of the patient.
    let r = ask(
        &mut ws,
        auth("r4", "room-12", &staff_probe, Some(&face(998))),
    )
    .await;
    assert_eq!(r["reason"], "unknown_patient");
    // The doctor has no grant for the ward door.
    let r = ask(&mut ws, auth("r5", "ward-3", &staff_probe, None)).await;
    assert_eq!(r["reason"], "not_permitted");
    let r = ask(&mut ws, auth("r6", "nowhere", &staff_probe, None)).await;
    assert_eq!(r["reason"], "unknown_door");

    // Malformed messages get an error reply and the connection stays usable.
    ws.send(Message::Text("{not json".into())).await.unwrap();
    let e = next(&mut ws).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("malformed_json"))
    );
    let e = ask(&mut ws, json!({"type": "hello", "request_id": "x"})).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("unknown_type"))
    );
    let r = ask(&mut ws, json!({"type": "authenticate", "request_id": "r7", "door": "room-12", "staff": {"embedding": [1.0, 2.0]}})).await;
    assert_eq!(
        (
            r["type"].as_str(),
            r["reason"].as_str(),
            r["field"].as_str()
        ),
        (
            Some("decision"),
            Some("bad_request"),
            Some("staff.embedding")
        )
    );

    // Revoke → not_permitted right away.
    let (s, _) = a
        .post(
            "/create_access",
            &a.sync,
            json!({"staff_id": doc, "patient_id": pat, "action": "revoke"}),
        )
        .await;
    assert_eq!(s, 200);
    let r = ask(
        &mut ws,
        auth("r8", "room-12", &staff_probe, Some(&patient_probe)),
    )
    .await;
    assert_eq!(
        (r["granted"].as_bool(), r["reason"].as_str()),
        (Some(false), Some("not_permitted"))
    );

    // An expired grant → grant_expired (a grant that ended a second ago).
    let past_from = chrono::Utc::now() - chrono::Duration::hours(2);
    let past_until = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (s, g) = a.post("/api/v1/grants", &a.sync, json!({"staff_id": doc, "patient_id": pat, "valid_from": past_from.to_rfc3339(), "valid_until": past_until.to_rfc3339()})).await;
    assert_eq!(s, 201, "{g}");
    let r = ask(
        &mut ws,
        auth("r9", "room-12", &staff_probe, Some(&patient_probe)),
    )
    .await;
    assert_eq!(r["reason"], "grant_expired");

    // Suspended staff → subject_inactive.
    a.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/subjects/{doc}"),
        Some(&a.sync),
        Some(json!({"status": "suspended"})),
    )
    .await;
    let r = ask(
        &mut ws,
        auth("r10", "room-12", &staff_probe, Some(&patient_probe)),
    )
    .await;
    assert_eq!(r["reason"], "subject_inactive");

    // Every decision is in the audit log, and the chain verifies.
    a.state.core.events.flush().await.unwrap();
    let (_, ev) = a
        .get("/api/v1/events?kind=decision&limit=100", &a.technician)
        .await;
    let reasons: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "granted",
            "patient_required",
            "unknown_staff",
            "unknown_patient",
            "not_permitted",
            "unknown_door",
            "bad_request",
            "not_permitted",
            "grant_expired",
            "subject_inactive"
        ]
    );
    let (_, granted) = a
        .get(&format!("/api/v1/events/{granted_id}"), &a.technician)
        .await;
    assert_eq!(
        (
            granted["subject_id"].as_str(),
            granted["patient_id"].as_str()
        ),
        (Some(doc.as_str()), Some(pat.as_str()))
    );
    assert!(
        !granted.to_string().contains("embedding"),
        "no biometric data in the log"
    );
    let chain = a
        .state
        .core
        .store
        .chain_page("door-controller", 0, 1000)
        .await
        .unwrap();
    assert!(wardgate::audit::verify(&chain).unwrap() >= 10);
    ws.close(None).await.unwrap();
    a.stop().await;
}

#[tokio::test]
async fn doctor_patient_scenario_sqlite() {
    doctor_patient_scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn doctor_patient_scenario_mysql() {
    doctor_patient_scenario(Db::MySql).await;
}

#[tokio::test]
async fn upgrade_needs_a_terminal_token() {
    let a = TestApp::spawn(Db::Sqlite).await.unwrap();
    assert_eq!(connect(&a, "wg_bogus").await.err(), Some(401));
    assert_eq!(connect(&a, &a.technician).await.err(), Some(403));
    assert_eq!(connect(&a, &a.sync).await.err(), Some(403));
    assert!(connect(&a, &a.admin).await.is_ok());
    // Browsers cannot set headers on a WebSocket: the token may come as a query parameter.
    let url = format!("ws://{}/ws/auth?access_token={}", a.addr, a.terminal);
    assert!(tokio_tungstenite::connect_async(url).await.is_ok());
    a.stop().await;
}

#[tokio::test]
async fn oversized_message_closes_with_policy_violation() {
    let a = TestApp::spawn_with(Db::Sqlite, |c| c.api.ws_max_message_bytes = 8 * 1024)
        .await
        .unwrap();
    let mut ws = connect(&a, &a.terminal).await.unwrap();
    let big = json!({"type": "authenticate", "request_id": "big", "door": "x", "staff": {"embedding": vec![0.5f32; 3000]}});
    assert!(big.to_string().len() > 8 * 1024);
    ws.send(Message::Text(big.to_string().into()))
        .await
        .unwrap();
    match ws.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a 1008 close, got {other:?}"),
    }
    a.stop().await;
}

/// The database goes away: the door keeps deciding from memory, decisions are spooled, and the
/// next start flushes them into the database with the chain intact.
#[tokio::test]
async fn decisions_continue_and_are_kept_while_the_database_is_down() {
    let a = TestApp::spawn(Db::Sqlite).await.unwrap();
    a.post(
        "/register_face",
        &a.sync,
        json!({"name": "N", "role": "nurse", "external_id": "E1", "embedding": face(5)}),
    )
    .await;
    a.post(
        "/api/v1/doors",
        &a.admin,
        json!({"id": "ward", "name": "W", "mode": "staff"}),
    )
    .await;
    let (_, sub) = a.get("/api/v1/subjects", &a.admin).await;
    let nurse = sub["items"][0]["id"].as_str().unwrap().to_owned();
    a.post(
        "/api/v1/grants",
        &a.sync,
        json!({"staff_id": nurse, "door_id": "ward"}),
    )
    .await;
    a.state.core.events.flush().await.unwrap();
    let stored_before = a
        .state
        .core
        .store
        .list_events(&wardgate::store::EventFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .1;

    a.state.core.store.close().await; // the database is gone
    let mut ws = connect(&a, &a.terminal).await.unwrap();
    for i in 0..3 {
        let r = ask(
            &mut ws,
            auth(&format!("o{i}"), "ward", &perturbed(5, 0.3, i), None),
        )
        .await;
        assert_eq!(r["reason"], "granted", "{r}");
    }
    let (_, health) = a
        .call(reqwest::Method::GET, "/healthz", Some(&a.admin), None)
        .await;
    assert_eq!(health["database"], "unreachable");
    assert_eq!(health["status"], "degraded");
    let report = a.state.core.events.flush().await.unwrap();
    assert_eq!(report.spooled, 3, "the three decisions wait in the spool");
    let cfg = a.db.config();
    ws.close(None).await.ok();
    // Restart on the same database and spool: the spool drains into the store.
    let url = a.db.url.clone();
    let spool = cfg.events.spool_dir.clone();
    let TestApp { db, .. } = a;
    let mut cfg2 = db.config();
    cfg2.database.url = url;
    cfg2.events.spool_dir = spool;
    let state = wardgate::app::build_state(cfg2, None).await.unwrap();
    assert_eq!(state.core.events.flush().await.unwrap().spooled, 0);
    let (events, total) = state
        .core
        .store
        .list_events(&wardgate::store::EventFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, stored_before + 3);
    assert_eq!(events.iter().filter(|e| e.reason == "granted").count(), 3);
    let chain = state
        .core
        .store
        .chain_page("door-controller", 0, 1000)
        .await
        .unwrap();
    assert_eq!(wardgate::audit::verify(&chain), Ok(total as u64));
}

//! Consent to face recognition (docs/privacy.md, "Consent"), with `privacy.require_consent`:
//!
//! - enrolment of a person without a standing consent record is refused with 409
//!   `consent_required` on every path — the API's faces endpoint (embedding and photo),
//!   `/register_face` (new person and existing one, with nothing written), enrolment from the
//!   door camera, and the CLI's `wardgate enroll`;
//! - consent recorded through the API, inline in `/register_face` or with `wardgate consent`
//!   lets enrolment through;
//! - withdrawal purges the templates, and a second controller on the same MariaDB no longer
//!   recognises the person within 1 s (`unknown_staff`); the audit events carry no biometric
//!   data.

mod common;
mod fleet;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{face, perturbed, Db, TestApp, TestDb};
use fleet::{Controller, Tokens};
use reqwest::Method;
use serde_json::json;

const CONSENT: &str = r#"{"method": "written", "document": "FR-01 v3"}"#;

fn consent() -> serde_json::Value {
    serde_json::from_str(CONSENT).unwrap()
}

fn refused(status: u16, body: &serde_json::Value, what: &str) {
    assert_eq!(status, 409, "{what}: {body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/consent_required")),
        "{what}: {body}"
    );
}

async fn person(app: &TestApp, ext: &str) -> String {
    let (s, b) = app
        .post(
            "/api/v1/subjects",
            &app.admin,
            json!({"external_id": ext, "name": "Nurse Consent", "role": "nurse"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_without_consent_is_refused_on_every_path() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.privacy.require_consent = true)
        .await
        .unwrap();
    let id = person(&app, "N-1").await;

    // 1. POST /api/v1/subjects/{id}/faces, JSON embedding.
    let (s, b) = app
        .post(
            &format!("/api/v1/subjects/{id}/faces"),
            &app.admin,
            json!({"embedding": face(1)}),
        )
        .await;
    refused(s, &b, "faces endpoint");
    // 2. The same endpoint with a photo: refused before the photo is looked at.
    let resp = app
        .http
        .post(app.url(&format!("/api/v1/subjects/{id}/faces")))
        .bearer_auth(&app.admin)
        .header("content-type", "image/jpeg")
        .body(vec![0xff, 0xd8, 0xff])
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    refused(s, &resp.json().await.unwrap(), "faces endpoint, photo");
    // 3. /register_face for the existing person.
    let (s, b) = app
        .post(
            "/register_face",
            &app.sync,
            json!({"subject_id": id, "embedding": face(1)}),
        )
        .await;
    refused(s, &b, "/register_face, existing person");
    // 4. /register_face creating a person: refused, and nobody is created.
    let (s, b) = app
        .post(
            "/register_face",
            &app.sync,
            json!({"external_id": "N-2", "name": "New Nurse", "role": "nurse", "embedding": face(2)}),
        )
        .await;
    refused(s, &b, "/register_face, new person");
    let (s, list) = app.get("/api/v1/subjects?limit=100", &app.admin).await;
    assert_eq!(s, 200);
    assert!(
        !list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["external_id"] == "N-2"),
        "a refused /register_face created the person: {list}"
    );
    // 5. Enrolment from the door camera (this controller runs no camera: still 409 first).
    let (s, b) = app
        .post(
            &format!("/api/v1/subjects/{id}/faces/capture"),
            &app.admin,
            json!({}),
        )
        .await;
    refused(s, &b, "capture at the door");
    // 6. The CLI.
    let dir = app.db.dir.path();
    let cfg = dir.join("cli.toml");
    std::fs::write(&cfg, "").unwrap();
    let photo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/faces/people/Barack_Obama/obama2.jpg");
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wardgate"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("WARDGATE_DATABASE__URL", &app.db.url)
            .env(
                "WARDGATE_PRIVACY__KEY_FILE",
                common::key_file(app.db.dir.path()),
            )
            .env("WARDGATE_PRIVACY__REQUIRE_CONSENT", "true")
            .env(
                "WARDGATE_VISION__MODEL_DIR",
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
            )
            .output()
            .unwrap()
    };
    let out = cli(&["enroll", "--subject", "N-1", photo.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("consent"),
        "wardgate enroll without consent: {err}"
    );
    let (s, faces) = app
        .get(&format!("/api/v1/subjects/{id}/faces"), &app.admin)
        .await;
    assert_eq!((s, faces.as_array().unwrap().len()), (200, 0), "{faces}");

    // Consent through the CLI: enrolment goes through (the API's embedding path).
    let out = cli(&[
        "consent",
        "record",
        "--subject",
        "N-1",
        "--method",
        "written",
        "--document",
        "FR-01 v3",
        "--by",
        "Ward clerk",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, c) = app
        .get(&format!("/api/v1/subjects/{id}/consent"), &app.admin)
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["recorded_by"], "Ward clerk");
    assert_eq!(c["method"], "written");
    let (s, b) = app
        .post(
            &format!("/api/v1/subjects/{id}/faces"),
            &app.admin,
            json!({"embedding": face(1)}),
        )
        .await;
    assert_eq!(s, 201, "{b}");

    // Inline consent in /register_face creates the person, the record and the template.
    let mut body =
        json!({"external_id": "N-3", "name": "Third Nurse", "role": "nurse", "embedding": face(3)});
    body["consent"] = consent();
    let (s, b) = app.post("/register_face", &app.sync, body).await;
    assert_eq!(s, 201, "{b}");
    let n3 = b["subject_id"].as_str().unwrap();
    let (s, c) = app
        .get(&format!("/api/v1/subjects/{n3}/consent"), &app.sync)
        .await;
    assert_eq!(s, 200, "{c}");
    assert!(
        c["recorded_by"].as_str().unwrap().starts_with("token:"),
        "{c}"
    );

    // Bad consent bodies: 422 naming the field.
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/subjects/{id}/consent"),
            Some(&app.admin),
            Some(json!({"method": "verbal", "document": "x"})),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("method")), "{b}");
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/subjects/{id}/consent"),
            Some(&app.admin),
            Some(json!({"method": "written", "document": ""})),
        )
        .await;
    assert_eq!((s, b["field"].as_str()), (422, Some("document")), "{b}");
    // The subject access report shows the consent.
    let (s, r) = app
        .get(&format!("/api/v1/subjects/{id}/report"), &app.admin)
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["consent"]["document"], "FR-01 v3", "{r}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawal_reaches_a_second_controller_within_a_second() {
    let Some(tdb) = TestDb::new(Db::MySql).await else {
        return;
    };
    let store = tdb.store().await;
    let tokens = Tokens::install(&store).await;
    let on = [("WARDGATE_PRIVACY__REQUIRE_CONSENT", "true")];
    let mut a = Controller::start("ctl-a", &tdb.url, tdb.dir.path(), &on);
    let mut b = Controller::start("ctl-b", &tdb.url, tdb.dir.path(), &on);
    a.wait_ready().await;
    b.wait_ready().await;
    let (s, _) = a
        .post(
            "/api/v1/doors",
            &tokens.admin,
            json!({"id": "icu", "name": "ICU", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, n) = a
        .post(
            "/api/v1/subjects",
            &tokens.admin,
            json!({"external_id": "N7", "name": "Nurse Seven", "role": "nurse"}),
        )
        .await;
    assert_eq!(s, 201, "{n}");
    let id = n["id"].as_str().unwrap().to_owned();
    let (s, c) = a
        .call(
            Method::PUT,
            &format!("/api/v1/subjects/{id}/consent"),
            &tokens.sync,
            Some(consent()),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    for v in [face(7), perturbed(7, 0.2, 5)] {
        let (s, f) = a
            .post(
                &format!("/api/v1/subjects/{id}/faces"),
                &tokens.sync,
                json!({"embedding": v}),
            )
            .await;
        assert_eq!(s, 201, "{f}");
    }
    let (s, g) = a
        .post(
            "/api/v1/grants",
            &tokens.admin,
            json!({"staff_id": id, "door_id": "icu"}),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let probe = perturbed(7, 0.25, 9);
    b.until_reason(
        &tokens,
        "icu",
        &probe,
        "granted",
        Instant::now(),
        Duration::from_secs(5),
    )
    .await;

    let t = Instant::now();
    let (s, w) = a
        .call(
            Method::DELETE,
            &format!("/api/v1/subjects/{id}/consent"),
            &tokens.sync,
            None,
        )
        .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["purged_templates"], 2, "{w}");
    assert!(w["consent"]["withdrawn_ms"].is_i64(), "{w}");
    let took = b
        .until_reason(
            &tokens,
            "icu",
            &probe,
            "unknown_staff",
            t,
            Duration::from_secs(1),
        )
        .await;
    eprintln!("withdrawal reached the second controller after {took:?}");
    // Enrolment is refused again until consent is recorded again.
    let (s, f) = b
        .post(
            &format!("/api/v1/subjects/{id}/faces"),
            &tokens.sync,
            json!({"embedding": face(7)}),
        )
        .await;
    assert_eq!(s, 409, "{f}");
    // Withdrawing twice: 404, nothing to withdraw.
    let (s, _) = a
        .call(
            Method::DELETE,
            &format!("/api/v1/subjects/{id}/consent"),
            &tokens.sync,
            None,
        )
        .await;
    assert_eq!(s, 404);

    a.wait_drained(&tokens, Duration::from_secs(20)).await;
    let (events, _) = store
        .list_events(&wardgate::store::EventFilter {
            kind: Some("admin".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let w: Vec<_> = events
        .iter()
        .filter(|e| e.reason == "consent_withdrawn")
        .collect();
    assert_eq!(w.len(), 1, "{events:?}");
    let details = w[0].details.to_string();
    assert!(details.contains("\"templates_purged\":2"), "{details}");
    assert!(
        details.len() < 400,
        "biometric data in the event? {details}"
    );
    a.stop();
    b.stop();
    tdb.cleanup().await;
}

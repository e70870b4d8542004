//! Face templates are sealed at rest (docs/privacy.md), on SQLite and on MariaDB, through real
//! `wardgate run` controllers and the real CLI:
//!
//! - the raw SQLite files (database and write-ahead log) and a `mysqldump --hex-blob` of the
//!   database hold no enrolled embedding, whole or any 8 consecutive components of it — while
//!   the same search does find a template an older version stored in the clear, until the
//!   controller's start seals it;
//! - after a restart the templates open and identify again; with another key the service
//!   refuses to start, names the key id, and leaves every row as it was;
//! - `wardgate keys rotate` while decisions run, killed (SIGKILL) half-way and run again:
//!   every template ends under the new key, identification unchanged, no decision lost.

mod common;
mod fleet;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{face, perturbed, Db, TestDb, DIM};
use fleet::{Controller, Tokens};
use serde_json::json;
use sqlx::Connection;
use wardgate::store::Store;

const MODEL: &str = "edgeface_xs";
const PEOPLE: u64 = 5;

/// Every byte string the search looks for in a vector: the whole vector and each run of 8
/// consecutive components, as little-endian f32 (how the store encodes a template).
fn needles(v: &[f32]) -> Vec<Vec<u8>> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = vec![bytes.clone()];
    out.extend(
        bytes
            .chunks(4)
            .collect::<Vec<_>>()
            .windows(8)
            .map(<[&[u8]]>::concat),
    );
    out
}

/// Where in `hay` any 8-component needle occurs (whole vectors contain their windows).
fn find_raw(hay: &[u8], vectors: &[Vec<f32>]) -> Option<usize> {
    let set: HashSet<Vec<u8>> = vectors
        .iter()
        .flat_map(|v| needles(v).into_iter().skip(1))
        .collect();
    hay.windows(32).position(|w| set.contains(w))
}

/// The same search in a hex dump (`mysqldump --hex-blob` writes blobs as upper-case hex).
fn find_hex(dump: &str, vectors: &[Vec<f32>]) -> Option<usize> {
    let set: HashSet<String> = vectors
        .iter()
        .flat_map(|v| needles(v).into_iter().skip(1))
        .map(hex::encode_upper)
        .collect();
    let b = dump.as_bytes();
    b.windows(64)
        .position(|w| std::str::from_utf8(w).is_ok_and(|s| set.contains(s)))
}

/// What the database holds, as raw bytes (SQLite: the file and its WAL) or a hex dump (MySQL).
fn database_bytes(db: Db, tdb: &TestDb) -> Vec<u8> {
    match db {
        Db::Sqlite => {
            let mut out = Vec::new();
            for name in ["t.db", "t.db-wal"] {
                if let Ok(b) = std::fs::read(tdb.dir.path().join(name)) {
                    out.extend(b);
                }
            }
            out
        }
        Db::MySql => {
            let name = tdb.url.rsplit('/').next().unwrap();
            let out = Command::new("mysqldump")
                .args([
                    "--hex-blob",
                    "-h",
                    "127.0.0.1",
                    "-P",
                    "3306",
                    "-u",
                    "root",
                    name,
                ])
                .output()
                .expect("mysqldump");
            assert!(
                out.status.success(),
                "mysqldump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    }
}

fn find(db: Db, bytes: &[u8], vectors: &[Vec<f32>]) -> Option<usize> {
    match db {
        Db::Sqlite => find_raw(bytes, vectors),
        Db::MySql => find_hex(&String::from_utf8_lossy(bytes), vectors),
    }
}

/// Stores a template the way a version before sealing did: in the clear, no key id.
async fn store_in_the_clear(store: &Store, url: &str, v: &[f32]) -> String {
    let s = store
        .create_subject(
            "LEGACY-1",
            "Legacy Nurse",
            wardgate::model::Role::Nurse,
            wardgate::model::SubjectStatus::Active,
            "admin",
        )
        .await
        .unwrap();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(
        "INSERT INTO faces (id, subject_id, model_id, dim, vector, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind("legacy-face")
    .bind(s.id.clone())
    .bind(MODEL)
    .bind(DIM as i64)
    .bind(wardgate::store::encode_vector(v))
    // Enrolled today: an old date would make the retention job purge it as idle at start.
    .bind(chrono::Utc::now().timestamp_millis())
    .execute(&mut conn)
    .await
    .unwrap();
    s.id
}

/// Every face row as stored: (id, key id, blob).
async fn rows(url: &str) -> Vec<(String, Option<String>, Vec<u8>)> {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let rows = sqlx::query("SELECT id, key_id, vector FROM faces ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    use sqlx::Row;
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// A door, `PEOPLE` nurses with two templates each and a grant for each; returns their ids.
async fn enrol(c: &Controller, tokens: &Tokens, legacy: &str) -> Vec<String> {
    let (s, _) = c
        .post(
            "/api/v1/doors",
            &tokens.admin,
            json!({"id": "icu", "name": "ICU", "mode": "staff"}),
        )
        .await;
    assert_eq!(s, 201);
    let mut ids = vec![legacy.to_owned()];
    for p in 0..PEOPLE {
        let (s, n) = c
            .post(
                "/api/v1/subjects",
                &tokens.admin,
                json!({"external_id": format!("N{p}"), "name": format!("Nurse {p}"), "role": "nurse"}),
            )
            .await;
        assert_eq!(s, 201, "{n}");
        ids.push(n["id"].as_str().unwrap().to_owned());
        for v in [face(p), perturbed(p, 0.2, 99)] {
            let (s, f) = c
                .post(
                    &format!("/api/v1/subjects/{}/faces", ids.last().unwrap()),
                    &tokens.admin,
                    json!({"embedding": v}),
                )
                .await;
            assert_eq!(s, 201, "{f}");
        }
    }
    for id in &ids {
        let (s, g) = c
            .post(
                "/api/v1/grants",
                &tokens.admin,
                json!({"staff_id": id, "door_id": "icu"}),
            )
            .await;
        assert_eq!(s, 201, "{g}");
    }
    ids
}

/// Each enrolled person, seen again, is granted (the legacy nurse is person 1000).
async fn all_identified(c: &Controller, tokens: &Tokens) {
    for p in (0..PEOPLE).chain([1000]) {
        let reason = c.decide(tokens, "icu", &perturbed(p, 0.25, 7)).await;
        assert_eq!(reason, "granted", "person {p}");
    }
    assert_eq!(
        c.decide(tokens, "icu", &face(4242)).await,
        "unknown_staff",
        "a stranger"
    );
}

async fn sealed_at_rest(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let store = tdb.store().await;
    let tokens = Tokens::install(&store).await;
    let legacy_vector = face(1000);
    let legacy = store_in_the_clear(&store, &tdb.url, &legacy_vector).await;
    // The search works: the template in the clear is found.
    let before = database_bytes(db, &tdb);
    assert!(
        find(db, &before, std::slice::from_ref(&legacy_vector)).is_some(),
        "{db:?}: the search does not find a template stored in the clear"
    );

    let mut c = Controller::start("ctl", &tdb.url, tdb.dir.path(), &[]);
    c.wait_ready().await;
    enrol(&c, &tokens, &legacy).await;
    all_identified(&c, &tokens).await;
    c.stop();

    // What the store opens is exactly what was enrolled; none of it is in the database.
    let opened: Vec<Vec<f32>> = store
        .templates_for_model(MODEL, DIM)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.vector)
        .collect();
    assert_eq!(opened.len() as u64, 2 * PEOPLE + 1);
    let mut searched = opened.clone();
    searched.extend((0..PEOPLE).flat_map(|p| [face(p), perturbed(p, 0.2, 99)]));
    searched.push(legacy_vector);
    let after = database_bytes(db, &tdb);
    assert!(
        String::from_utf8_lossy(&after).contains("Nurse 3"),
        "{db:?}: the searched bytes do not hold the database"
    );
    assert_eq!(
        find(db, &after, &searched),
        None,
        "{db:?}: an embedding (or 8 consecutive components of one) is in the database in the clear"
    );
    let stored = rows(&tdb.url).await;
    let keys = store.template_key_counts().await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].key_id.is_some() && keys[0].held, "{keys:?}");

    // Another key: the service refuses to start, names the stored key id, changes nothing.
    let wrong = tdb.dir.path().join("wrong.keys");
    wardgate::privacy::keys::create_key_file(&wrong).unwrap();
    let wrong_s = wrong.display().to_string();
    let mut w = Controller::start(
        "ctl-wrong",
        &tdb.url,
        tdb.dir.path(),
        &[("WARDGATE_PRIVACY__KEY_FILE", &wrong_s)],
    );
    let exited = w.wait_exit(Duration::from_secs(30));
    assert!(exited.is_some_and(|s| !s.success()), "{}", w.log());
    let id = keys[0].key_id.clone().unwrap();
    let log = w.log();
    assert!(
        log.contains(&id) && log.contains("nothing was changed"),
        "the refusal does not name key id {id}: {log}"
    );
    assert_eq!(rows(&tdb.url).await, stored, "{db:?}: rows changed");

    // The right key again: everyone is recognised.
    let mut c = Controller::start("ctl", &tdb.url, tdb.dir.path(), &[]);
    c.wait_ready().await;
    all_identified(&c, &tokens).await;
    c.stop();
    tdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_at_rest_on_sqlite() {
    sealed_at_rest(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_at_rest_on_mysql() {
    sealed_at_rest(Db::MySql).await;
}

/// `wardgate keys …` with the test database's configuration.
fn keys_cli(tdb: &TestDb, key_file: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardgate"));
    let config = tdb.dir.path().join("cli.toml");
    std::fs::write(&config, "").unwrap();
    cmd.arg("--config")
        .arg(&config)
        .arg("keys")
        .args(args)
        .env("WARDGATE_DATABASE__URL", &tdb.url)
        .env("WARDGATE_PRIVACY__KEY_FILE", key_file)
        .env("WARDGATE_EVENTS__NODE", "ctl");
    cmd
}

async fn rotation(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let store = tdb.store().await;
    let tokens = Tokens::install(&store).await;
    let legacy = store_in_the_clear(&store, &tdb.url, &face(1000)).await;
    let mut c = Controller::start("ctl", &tdb.url, tdb.dir.path(), &[]);
    c.wait_ready().await;
    enrol(&c, &tokens, &legacy).await;
    c.stop();
    let old_id = store.template_key_counts().await.unwrap()[0]
        .key_id
        .clone()
        .unwrap();

    // A new key first, the old one after it; the controller restarts holding both.
    let file = common::key_file(tdb.dir.path());
    let old = std::fs::read_to_string(&file).unwrap();
    let new = wardgate::privacy::keys::generate_line();
    std::fs::write(&file, format!("{new}\n{old}")).unwrap();
    let new_id = wardgate::privacy::TemplateKeys::read_file(
        &file,
        wardgate::privacy::KeySource::File(file.clone()),
    )
    .unwrap()
    .primary_id()
    .to_owned();
    let c = Arc::new({
        let mut c = Controller::start("ctl", &tdb.url, tdb.dir.path(), &[]);
        c.wait_ready().await;
        c
    });

    // Decisions all through the rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let load = {
        let (c, tokens, stop, answered) = (
            Arc::clone(&c),
            tokens.clone(),
            Arc::clone(&stop),
            Arc::clone(&answered),
        );
        tokio::spawn(async move {
            let mut p = 0;
            while !stop.load(Ordering::SeqCst) {
                let reason = c
                    .decide(&tokens, "icu", &perturbed(p % PEOPLE, 0.25, 7))
                    .await;
                assert_eq!(reason, "granted", "during the rotation");
                answered.fetch_add(1, Ordering::SeqCst);
                p += 1;
            }
        })
    };

    // First run: one template per batch, slowly; killed after its second batch.
    let mut first = keys_cli(
        &tdb,
        &file,
        &["rotate", "--batch", "1", "--pause-ms", "300"],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(first.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        seen.push(line.clone());
        if line.starts_with("re-sealed 2,") {
            break;
        }
    }
    first.kill().unwrap();
    let _ = first.wait();
    let counts = store.template_key_counts().await.unwrap();
    let under = |id: &str| {
        counts
            .iter()
            .find(|k| k.key_id.as_deref() == Some(id))
            .map_or(0, |k| k.templates)
    };
    assert!(
        under(&new_id) >= 2 && under(&old_id) > 0,
        "not half-way after the kill: {counts:?} ({seen:?})"
    );

    // Second run: finishes.
    let out = keys_cli(&tdb, &file, &["rotate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("0 remain"), "{said}");
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    assert!(answered.load(Ordering::SeqCst) > 0);
    let counts = store.template_key_counts().await.unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(counts[0].key_id.as_deref(), Some(new_id.as_str()));
    assert_eq!(counts[0].templates as u64, 2 * PEOPLE + 1);

    // Only the new key now: every template opens and identifies.
    let c = Arc::into_inner(c).unwrap();
    c.wait_drained(&tokens, Duration::from_secs(20)).await;
    let decided = c.decided();
    c.stop();
    std::fs::write(&file, &new).unwrap();
    let mut c = Controller::start("ctl", &tdb.url, tdb.dir.path(), &[]);
    c.wait_ready().await;
    all_identified(&c, &tokens).await;
    let status = keys_cli(&tdb, &file, &["status"]).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains(&format!("{new_id}: {}", 2 * PEOPLE + 1)),
        "{status}"
    );

    // No decision lost: every answered decision is an audit event; the rotation is audited.
    let (events, _) = store
        .list_events(&wardgate::store::EventFilter {
            kind: Some("decision".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        events.len() as u64 >= decided,
        "{} decision events for {decided} answered",
        events.len()
    );
    let (rotated, _) = store
        .list_events(&wardgate::store::EventFilter {
            kind: Some("admin".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let rotated: Vec<_> = rotated
        .iter()
        .filter(|e| e.reason == "keys_rotated")
        .collect();
    assert_eq!(rotated.len(), 1, "the finished run is audited once");
    assert_eq!(rotated[0].details["remaining"], 0);
    c.stop();
    tdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_resumes_after_a_kill_on_sqlite() {
    rotation(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_resumes_after_a_kill_on_mysql() {
    rotation(Db::MySql).await;
}

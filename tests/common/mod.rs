//! Test harness: a fresh database per test (a SQLite file, or a new database on the real
//! MariaDB/MySQL server), and the whole API served on 127.0.0.1:0 with one token per role.
//!
//! MySQL tests use `WARDGATE_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`). They fail,
//! not skip, when the server is unreachable: CI must exercise the real server. Set
//! `WARDGATE_TEST_MYSQL=skip` to skip them on a machine without one.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use wardgate::api::AppState;
use wardgate::config::Config;
use wardgate::model::TokenRole;
use wardgate::store::Store;

pub const DIM: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    MySql,
}

/// A throwaway database; MySQL ones are dropped by [`TestDb::cleanup`].
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    mysql_admin: Option<(String, String)>,
}

/// The template key file of the test database in `dir` (what [`TestDb::config`] names and
/// `fleet::Controller::start` hands to each controller it starts there).
pub fn key_file(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("template.keys")
}

pub fn mysql_skipped() -> bool {
    std::env::var("WARDGATE_TEST_MYSQL").is_ok_and(|v| v == "skip")
}

impl TestDb {
    pub async fn new(db: Db) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        // One template key per test database, shared by every controller and tool on it.
        wardgate::privacy::keys::create_key_file(&key_file(dir.path())).unwrap();
        match db {
            Db::Sqlite => Some(Self {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
                dir,
                mysql_admin: None,
            }),
            Db::MySql => {
                if mysql_skipped() {
                    eprintln!("WARDGATE_TEST_MYSQL=skip: not testing MySQL");
                    return None;
                }
                let base = std::env::var("WARDGATE_TEST_MYSQL_URL")
                    .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
                let name = format!("wardgate_t_{}", uuid::Uuid::new_v4().simple());
                sqlx::any::install_default_drivers();
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("MySQL test server {base} unreachable: {e} (set WARDGATE_TEST_MYSQL=skip to skip)"));
                sqlx::query(&format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                Some(Self {
                    url: format!("{base}/{name}"),
                    dir,
                    mysql_admin: Some((base, name)),
                })
            }
        }
    }

    pub fn config(&self) -> Config {
        let mut cfg = Config::default();
        cfg.database.url = self.url.clone();
        cfg.api.listen = "127.0.0.1:0".parse().unwrap();
        cfg.events.spool_dir = self.dir.path().join("spool");
        cfg.events.flush_interval_secs = 1;
        // Load and outage tests stream decisions from one terminal token; the ceiling has its
        // own test (tests/abuse.rs).
        cfg.api.ws_auth_max_decisions_per_minute = 0;
        cfg.privacy.key_file = Some(key_file(self.dir.path()));
        // Consent has its own tests (tests/consent.rs); the other suites enrol without it.
        cfg.privacy.require_consent = false;
        cfg
    }

    /// The test database's store, migrated, with its template keys.
    pub async fn store(&self) -> Store {
        let cfg = self.config();
        Store::open(&cfg.database, &cfg.privacy).await.unwrap()
    }

    pub async fn cleanup(self) {
        if let Some((base, name)) = &self.mysql_admin {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(base)
                .await
                .unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A running API server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub admin: String,
    pub sync: String,
    pub terminal: String,
    pub technician: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(db: Db) -> Option<Self> {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: Db, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        Self::spawn_full(db, tweak, false).await
    }

    /// With the door controller running on the simulated backend (door id `door-1`).
    pub async fn spawn_with_door(db: Db) -> Option<Self> {
        Self::spawn_full(db, |_| {}, true).await
    }

    async fn spawn_full(db: Db, tweak: impl FnOnce(&mut Config), door: bool) -> Option<Self> {
        Self::spawn_at(db, tweak, door, wardgate::clock::system()).await
    }

    /// On `clock`: every row, event and decision of the controller reads it (a test moves a
    /// `TestClock` instead of sleeping).
    pub async fn spawn_at(
        db: Db,
        tweak: impl FnOnce(&mut Config),
        door: bool,
        clock: wardgate::clock::SharedClock,
    ) -> Option<Self> {
        let tdb = TestDb::new(db).await?;
        let mut cfg = tdb.config();
        tweak(&mut cfg);
        let mut wiring = wardgate::app::prepare_at(cfg, None, clock).await.unwrap();
        if door {
            wiring.start_door().await.unwrap();
        }
        let state = wiring.into_state();
        let mut tokens = Vec::new();
        for role in [
            TokenRole::Admin,
            TokenRole::Sync,
            TokenRole::Terminal,
            TokenRole::Technician,
        ] {
            let (t, _) = state
                .core
                .tokens
                .create(&state.core.store, role.as_str(), role)
                .await
                .unwrap();
            tokens.push(t);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let task = tokio::spawn(async move {
            wardgate::app::serve(st, listener, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Some(Self {
            addr,
            base: format!("http://{addr}"),
            state,
            admin: tokens[0].clone(),
            sync: tokens[1].clone(),
            terminal: tokens[2].clone(),
            technician: tokens[3].clone(),
            http: reqwest::Client::new(),
            db: tdb,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a JSON request with a token; returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        if status >= 400 {
            assert_eq!(
                ct, "application/problem+json",
                "error without problem+json: {status} {text}"
            );
        }
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.db.cleanup().await;
    }
}

/// A deterministic unit "face" embedding for person `seed`.
pub fn face(seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let v: Vec<f32> = (0..DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// The same face seen again: `face(seed)` plus noise of relative size `amount`
/// (0.3 keeps cosine similarity around 0.95).
pub fn perturbed(seed: u64, amount: f32, noise_seed: u64) -> Vec<f32> {
    let base = face(seed);
    let noise = face(noise_seed ^ 0x5eed_0000);
    base.iter()
        .zip(noise)
        .map(|(b, n)| b + amount * n)
        .collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

pub type Shared<T> = Arc<T>;

//! Real `wardgate run` controllers for the multi-controller tests: each its own process, API
//! port, audit node, door and spool, all on the database the test names. Tokens are put into
//! the store before the controllers start (as `wardgate token create` would).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wardgate::model::TokenRole;
use wardgate::store::Store;
use wardgate::tokens::TokenAuth;

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tokens every controller accepts.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub admin: String,
    pub sync: String,
    pub terminal: String,
}

impl Tokens {
    /// Creates one token per role directly in the store.
    pub async fn install(store: &Store) -> Self {
        let auth = TokenAuth::new(None);
        let make = |role: TokenRole| {
            let t = TokenAuth::generate();
            (t.clone(), auth.hash(&t), role)
        };
        let list = [
            make(TokenRole::Admin),
            make(TokenRole::Sync),
            make(TokenRole::Terminal),
        ];
        for (_, hash, role) in &list {
            store
                .create_token(role.as_str(), *role, hash)
                .await
                .unwrap();
        }
        Self {
            admin: list[0].0.clone(),
            sync: list[1].0.clone(),
            terminal: list[2].0.clone(),
        }
    }
}

/// One running controller.
pub struct Controller {
    pub name: String,
    pub base: String,
    pub dir: PathBuf,
    child: Child,
    http: reqwest::Client,
    /// Decisions this controller answered (each one audit event of kind `decision`).
    pub decisions: std::sync::atomic::AtomicU64,
}

impl Controller {
    /// Starts `wardgate run` as `name` (audit node and door `door-<name>`) on `db_url`, with
    /// the camera loop off and no models (decisions come from embeddings over the API).
    pub fn start(name: &str, db_url: &str, dir: &Path, extra: &[(&str, &str)]) -> Self {
        // Every controller on one database holds the same template key.
        let keys = dir.join("template.keys");
        if !keys.exists() {
            wardgate::privacy::keys::create_key_file(&keys).unwrap();
        }
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("wardgate.toml");
        std::fs::write(
            &config,
            "# test controller: the environment sets everything\n",
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("wardgate.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardgate"));
        cmd.arg("--config")
            .arg(&config)
            .arg("run")
            .env("WARDGATE_API__LISTEN", format!("127.0.0.1:{port}"))
            .env("WARDGATE_DATABASE__URL", db_url)
            .env("WARDGATE_PRIVACY__KEY_FILE", &keys)
            // Consent has its own tests (tests/consent.rs, which turns it on in `extra`).
            .env("WARDGATE_PRIVACY__REQUIRE_CONSENT", "false")
            .env("WARDGATE_DATABASE__CONNECT_TIMEOUT_SECS", "2")
            .env("WARDGATE_EVENTS__NODE", name)
            .env("WARDGATE_EVENTS__SPOOL_DIR", dir.join("spool"))
            .env("WARDGATE_EVENTS__FLUSH_INTERVAL_SECS", "1")
            .env("WARDGATE_DOOR__ID", format!("door-{name}"))
            .env("WARDGATE_PIPELINE__ENABLED", "false")
            .env("WARDGATE_VISION__MODEL_DIR", dir.join("no-models"))
            // The fleet tests stream decisions as fast as the controllers answer, and poll with
            // tokens not yet (or no longer) known every few milliseconds to time propagation;
            // the abuse limits have their own test (tests/abuse.rs).
            .env("WARDGATE_API__WS_AUTH_MAX_DECISIONS_PER_MINUTE", "0")
            .env("WARDGATE_AUTH__MAX_FAILURES", "1000000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("starting wardgate run");
        Self {
            name: name.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            dir,
            child,
            http: reqwest::Client::new(),
            decisions: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Waits until `/healthz` answers (start-up includes migrating and loading the catalog).
    pub async fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited during start-up ({status}): {}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                Instant::now() < until,
                "{} not ready: {}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn decided(&self) -> u64 {
        self.decisions.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("wardgate.log")).unwrap_or_default()
    }

    /// A JSON request; returns status and body (Null when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .timeout(Duration::from_secs(10));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// The reason of a decision for `embedding` at `door` (a terminal's request).
    pub async fn decide(&self, tokens: &Tokens, door: &str, embedding: &[f32]) -> String {
        let (s, r) = self
            .post(
                "/api/v1/decisions",
                &tokens.terminal,
                json!({"request_id": "t", "door": door, "staff": {"embedding": embedding}}),
            )
            .await;
        assert_eq!(s, 200, "{}: {r}", self.name);
        self.decisions
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        r["reason"].as_str().unwrap().to_owned()
    }

    /// Polls a decision until its reason is `want`; returns how long that took. Panics after
    /// `within`.
    pub async fn until_reason(
        &self,
        tokens: &Tokens,
        door: &str,
        embedding: &[f32],
        want: &str,
        since: Instant,
        within: Duration,
    ) -> Duration {
        loop {
            let got = self.decide(tokens, door, embedding).await;
            if got == want {
                return since.elapsed();
            }
            assert!(
                since.elapsed() < within,
                "{}: still {got:?}, not {want:?}, after {:?}",
                self.name,
                since.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the controller's event spool is empty: everything it recorded is in the
    /// database. Panics with its log after `within`. (Stopping flushes too, but only for a few
    /// seconds; on a loaded machine a controller may still hold events then, which is not a
    /// loss — they stay in its spool — but would make a count in the database fall short.)
    pub async fn wait_drained(&self, tokens: &Tokens, within: Duration) {
        let until = Instant::now() + within;
        let mut last = Value::Null;
        while Instant::now() < until {
            let (s, st) = self
                .call(reqwest::Method::GET, "/api/v1/status", &tokens.admin, None)
                .await;
            if s == 200 && st["database"]["spool_backlog"] == 0 {
                return;
            }
            last = st;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = self.log();
        let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
        panic!(
            "{}: spool not drained within {within:?}; status {last}; log (newest first):\n{tail}",
            self.name
        );
    }

    /// Waits up to `within` for the process to exit by itself (a start-up that must fail).
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM, then waits for the exit (the events are flushed on the way out).
    pub fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// p50 and p95 (nearest rank) of a sample.
pub fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.50), at(0.95))
}

/// Verifies `node`'s chain in the store page by page; returns how many events it holds and
/// how many of them are decisions. Panics on a break (a missing, altered or repeated event).
pub async fn verify_chain(store: &Store, node: &str) -> (u64, u64) {
    let mut v = wardgate::audit::Verifier::default();
    let mut after = 0;
    let mut decisions = 0;
    loop {
        let page = store.chain_page(node, after, 1000).await.unwrap();
        if page.is_empty() {
            return (v.checked, decisions);
        }
        decisions += page
            .iter()
            .filter(|e| e.kind == wardgate::model::EventKind::Decision)
            .count() as u64;
        after = page.last().map_or(after, |e| e.seq);
        for e in &page {
            if let Err(err) = v.push(e) {
                panic!("{node}: chain broken after {} events: {err}", v.checked);
            }
        }
    }
}

//! The systemd contract of the firmware, spoken over the real `sd_notify` protocol.
//!
//! Each test plays the service manager: it owns a Unix datagram socket, starts a real process
//! with `NOTIFY_SOCKET` and `WATCHDOG_USEC` pointing at it (as systemd does for `Type=notify`
//! with `WatchdogSec=`), and checks what arrives and when:
//! - `READY=1` comes only once the API answers;
//! - `WATCHDOG=1` pings flow while every component beats, and stop within `WatchdogSec` once the
//!   inference thread hangs (injected with `WARDGATE_TEST_HANG_INFERENCE_AFTER_MS`);
//! - SIGTERM brings `STOPPING=1`, leaves the (simulated) door locked and exits 0 within 5 s.
//!
//! systemd itself is not PID 1 on the build machines (no `systemd-run --user`), so the socket is
//! the service manager here; packaging/check.sh also boots a Debian root with systemd-nspawn
//! and runs the installed unit under a real systemd.
//!
//! Two processes are tested the same way:
//! - `wiring_process`: this test binary re-executed as a child that wires `wardgate::service`
//!   exactly as `app::run` does (an axum API, an inference thread, a door actor) — the reference
//!   wiring, runnable before the whole firmware is;
//! - `release_binary`: `wardgate run` itself (`CARGO_BIN_EXE_wardgate`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// systemd's `WatchdogSec=` in these tests.
const WATCHDOG: Duration = Duration::from_secs(1);
/// The inference thread stops counting this long after it registered.
const HANG_AFTER_MS: u64 = 2500;
/// The grace the unit gives a stop (`TimeoutStopSec=` is longer; the firmware promises 5 s).
const STOP_WITHIN: Duration = Duration::from_secs(5);
/// Environment switch that turns this test binary into the wiring child.
const CHILD_ENV: &str = "WARDGATE_SERVICE_NOTIFY_CHILD";

/// One datagram as received, stamped on arrival.
#[derive(Debug, Clone)]
struct Message {
    at: Instant,
    text: String,
}

impl Message {
    fn has(&self, line: &str) -> bool {
        self.text.lines().any(|l| l == line)
    }
    fn status(&self) -> Option<&str> {
        self.text.lines().find_map(|l| l.strip_prefix("STATUS="))
    }
}

/// The service manager's end: a datagram socket and a thread that stamps what arrives.
struct Manager {
    _dir: tempfile::TempDir,
    socket_path: PathBuf,
    rx: mpsc::Receiver<Message>,
    seen: Vec<Message>,
}

impl Manager {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket_path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&socket_path).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx
                    .send(Message {
                        at: Instant::now(),
                        text,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        Self {
            _dir: dir,
            socket_path,
            rx,
            seen: Vec::new(),
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Waits for a message satisfying `pred`, keeping everything received on the way.
    fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&Message) -> bool) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok(m) => {
                    self.seen.push(m.clone());
                    if pred(&m) {
                        return Some(m);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Collects everything that arrives within `d`.
    fn drain_for(&mut self, d: Duration) {
        let _ = self.wait_for(d, |_| false);
    }

    fn pings(&self) -> Vec<Instant> {
        self.seen
            .iter()
            .filter(|m| m.has("WATCHDOG=1"))
            .map(|m| m.at)
            .collect()
    }
}

/// Kills the child if a test fails half-way, so no stray process outlives the test.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn sigterm(child: &Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
}

/// Waits for the exit; `None` if the child is still running after `within`.
fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET path` over plain HTTP/1.1; returns the status line.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// The API address announced in the READY status: `... listening on 127.0.0.1:PORT ...`.
fn announced_addr(status: &str) -> SocketAddr {
    let tail = status
        .split("listening on ")
        .nth(1)
        .unwrap_or_else(|| panic!("READY status does not name the API address: {status:?}"));
    let addr = tail
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .next()
        .unwrap();
    addr.parse()
        .unwrap_or_else(|e| panic!("bad address {addr:?} in {status:?}: {e}"))
}

/// What a process under test is expected to have wired.
struct Expect<'a> {
    /// An `inference` component is registered, so the injected hang must stop the pings.
    inference_hang: bool,
    /// Reads the simulated door's state after exit; `None` when no door is wired.
    door_state: Option<&'a dyn Fn() -> String>,
}

/// The contract, against any process started with `cmd`.
fn check_service_contract(mut cmd: Command, expect: &Expect<'_>, mgr: &mut Manager) {
    cmd.env("NOTIFY_SOCKET", &mgr.socket_path)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
        .env(
            "WARDGATE_TEST_HANG_INFERENCE_AFTER_MS",
            HANG_AFTER_MS.to_string(),
        )
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null());
    let started = Instant::now();
    let mut child = Reaped(cmd.spawn().expect("start the service process"));

    // READY, and the API answers at that moment.
    let ready = mgr
        .wait_for(Duration::from_secs(30), |m| m.has("READY=1"))
        .unwrap_or_else(|| panic!("no READY=1 within 30 s; received: {:?}", mgr.seen));
    let addr = announced_addr(ready.status().unwrap_or_default());
    let status_line = http_get(addr, "/healthz")
        .unwrap_or_else(|e| panic!("API at {addr} does not answer right after READY: {e}"));
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "not an HTTP answer: {status_line:?}"
    );
    assert!(
        mgr.seen.iter().filter(|m| m.has("READY=1")).count() == 1,
        "{:?}",
        mgr.seen
    );

    // The inference heartbeat registered before READY, so it hangs at the latest here:
    let hang_at = ready.at + Duration::from_millis(HANG_AFTER_MS);
    mgr.drain_for(hang_at.saturating_duration_since(Instant::now()));
    let healthy_pings = mgr.pings().iter().filter(|t| **t <= hang_at).count();
    assert!(
        healthy_pings >= 2,
        "expected WATCHDOG=1 every WatchdogSec/2 while healthy, got {healthy_pings}: {:?}",
        mgr.seen
    );

    if expect.inference_hang {
        // After the hang: pings stop within WatchdogSec, and stay stopped.
        mgr.drain_for(WATCHDOG * 3);
        let last_ping = *mgr.pings().iter().max().unwrap();
        assert!(
            last_ping <= hang_at + WATCHDOG,
            "WATCHDOG=1 still sent {:?} after the inference thread hung (limit {WATCHDOG:?}); \
             systemd would never restart the service",
            last_ping.saturating_duration_since(hang_at)
        );
        let unhealthy = mgr
            .seen
            .iter()
            .filter_map(Message::status)
            .find(|s| s.starts_with("unhealthy: inference"));
        assert!(
            unhealthy.is_some(),
            "no STATUS= naming the hung component: {:?}",
            mgr.seen
        );
    }

    // SIGTERM: STOPPING, door locked, exit 0 within 5 s.
    sigterm(&child.0);
    let term_at = Instant::now();
    let status = wait_exit(&mut child.0, STOP_WITHIN)
        .unwrap_or_else(|| panic!("still running {STOP_WITHIN:?} after SIGTERM"));
    let stop_took = term_at.elapsed();
    mgr.drain_for(Duration::from_millis(100));
    assert!(status.success(), "exit status {status} after SIGTERM");
    assert!(
        mgr.seen.iter().any(|m| m.has("STOPPING=1")),
        "no STOPPING=1: {:?}",
        mgr.seen
    );
    if let Some(door_state) = expect.door_state {
        assert_eq!(door_state().trim(), "locked", "door not in its safe state");
    }
    eprintln!(
        "service contract: READY after {:?}, {healthy_pings} pings while healthy, stop took {stop_took:?}",
        ready.at - started
    );
}

#[test]
fn wiring_process_speaks_the_systemd_contract() {
    let mut mgr = Manager::new();
    let door_file = mgr.dir().join("door-state");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_process_main", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &door_file)
        .stdout(Stdio::null());
    let door_state = || std::fs::read_to_string(&door_file).unwrap_or_default();
    let expect = Expect {
        inference_hang: true,
        door_state: Some(&door_state),
    };
    check_service_contract(cmd, &expect, &mut mgr);
}

/// `wardgate run` as systemd starts it: READY once the API answers, pings while healthy,
/// STOPPING and exit 0 within 5 s of SIGTERM.
#[test]
fn release_binary_ready_watchdog_and_sigterm() {
    let mut mgr = Manager::new();
    let cmd = wardgate_run(mgr.dir());
    let expect = Expect {
        inference_hang: false,
        door_state: None,
    };
    check_service_contract(cmd, &expect, &mut mgr);
}

/// `wardgate run` with an empty config file, the API on a free port and state in `dir`.
fn wardgate_run(dir: &Path) -> Command {
    let config = dir.join("wardgate.toml");
    std::fs::write(&config, "# defaults, overridden by the environment below\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardgate"));
    cmd.arg("--config")
        .arg(&config)
        .arg("run")
        .env("WARDGATE_API__LISTEN", "127.0.0.1:0")
        .env(
            "WARDGATE_DATABASE__URL",
            format!("sqlite://{}?mode=rwc", dir.join("w.db").display()),
        )
        .env("WARDGATE_EVENTS__SPOOL_DIR", dir.join("spool"))
        .stdout(Stdio::null());
    cmd
}

/// The whole contract against `wardgate run` with the door loop wired: the camera door loop
/// (replaying photos) registers the `inference` heartbeat, whose injected hang must stop the
/// pings; after SIGTERM the audit log's last door event is the shutdown safe state of a
/// fail-secure lock, i.e. locked; the log shows the ordered stop and no use of a closed
/// store.
#[test]
fn release_binary_speaks_the_systemd_contract() {
    let mut mgr = Manager::new();
    let dir = mgr.dir().to_owned();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let faces = std::env::var_os("WARDGATE_FACES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("tests/fixtures/faces"));
    let mut cmd = wardgate_run(&dir);
    cmd.env("WARDGATE_DOOR__LOCK_TYPE", "fail_secure")
        .env("WARDGATE_VISION__MODEL_DIR", root.join("models"))
        .env("WARDGATE_CAMERA__SOURCE", "image_dir")
        .env(
            "WARDGATE_CAMERA__REPLAY_PATH",
            faces.join("people/Barack_Obama"),
        )
        .env("WARDGATE_CAMERA__FPS", "5");
    let log = dir.join("stderr.log");
    cmd.stderr(std::fs::File::create(&log).unwrap());
    let db = dir.join("w.db");
    let door_state = move || last_door_event(&db);
    let expect = Expect {
        inference_hang: true,
        door_state: Some(&door_state),
    };
    check_service_contract(cmd, &expect, &mut mgr);
    // The stop ran in order: the camera loop first, the store closed last, nothing still
    // reading it then.
    let log = std::fs::read_to_string(&log).unwrap();
    let lower = log.to_lowercase();
    assert!(
        !lower.contains("pool closed") && !lower.contains("closed pool"),
        "a task used the store after it was closed:\n{log}"
    );
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"))
    };
    assert!(at("SIGTERM: shutting down") < at("camera door loop stopped"));
    assert!(at("camera door loop stopped") < at("wardgate stopped"));
}

/// "locked" when the newest door event in the audit log is the shutdown safe state.
fn last_door_event(db: &Path) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg("SELECT reason || ' ' || details FROM events WHERE kind = 'door' ORDER BY seq DESC LIMIT 1")
        .output()
        .expect("sqlite3 (Debian package sqlite3) reads the audit log");
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    if line.starts_with("safe_state ") && line.contains("\"shutdown\"") {
        "locked".into()
    } else {
        format!("not the shutdown safe state: {line}")
    }
}

/// Not a test: the body of the child process of `wiring_process_speaks_the_systemd_contract`
/// (does nothing unless that test started it). It wires `wardgate::service` the way `app::run`
/// does, with an axum API, an inference thread and a simulated door.
#[test]
#[ignore = "child process entry point, started by wiring_process_speaks_the_systemd_contract"]
fn child_process_main() {
    let Some(door_file) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let door_file = PathBuf::from(door_file);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(child_service(door_file));
    std::process::exit(0);
}

async fn child_service(door_file: PathBuf) {
    use wardgate::service::{self, Health, Watchdog};

    let health = Health::new();

    // The door actor: owns the (simulated) relay, locked until told otherwise, and locks it
    // before it returns — the safe state a SIGTERM must leave behind.
    std::fs::write(&door_file, "locked\n").unwrap();
    let (door_tx, mut door_rx) = tokio::sync::mpsc::channel::<&'static str>(4);
    let door_beat = health.register("door", Duration::from_millis(400));
    let door_path = door_file.clone();
    let door = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                cmd = door_rx.recv() => match cmd {
                    Some(state) => std::fs::write(&door_path, format!("{state}\n")).unwrap(),
                    None => break,
                },
                _ = tick.tick() => door_beat.beat(),
            }
        }
        std::fs::write(&door_path, "locked\n").unwrap();
    });

    // The inference thread: beats once per processed frame.
    let inference_beat = health.register("inference", Duration::from_millis(400));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_inference = std::sync::Arc::clone(&stop);
    let inference = std::thread::spawn(move || {
        while !stop_inference.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            inference_beat.beat();
        }
    });

    // The API: bound before READY, so READY means "answers".
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let (api_stop_tx, api_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = api_stop_rx.await;
            })
            .await
            .unwrap();
    });

    let watchdog = Watchdog::spawn(health.clone());
    service::notify_ready(&format!("ready: api listening on {addr}"));
    door_tx.send("unlocked").await.unwrap();

    wardgate::app::shutdown_signal().await;
    service::notify_stopping("stopping: locking the door");
    service::exit_after(Duration::from_secs(4));
    watchdog.stop().await;
    drop(door_tx);
    door.await.unwrap();
    let _ = api_stop_tx.send(());
    api.await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    inference.join().unwrap();
    service::notify_status("stopped: door locked");
}

//! Service-manager integration: `sd_notify` messages and the watchdog supervisor.
//!
//! A door controller runs unattended for years, so systemd must know three things about it:
//! when it is ready (`READY=1`, sent once the store is migrated and the API listens), that it is
//! still alive (`WATCHDOG=1`, repeated), and when it is going away (`STOPPING=1`). A one-line
//! health summary rides along as `STATUS=` so `systemctl status wardgate` tells a technician
//! what is wrong without reading the journal.
//!
//! # Why a health registry and not a timer
//! A timer that pings the watchdog from its own task proves only that the timer runs. The
//! threads that matter (camera capture, inference, the door actor) can hang on a driver or a
//! model while the rest of the process looks fine. So each of them registers with [`Health`]
//! and calls [`Heartbeat::beat`] from its loop; the [`Watchdog`] task pings systemd only while
//! every registered heartbeat is fresh. When one goes silent the pings stop, systemd's
//! `WatchdogSec=` expires, and the service is killed and restarted (`Restart=always`).
//!
//! # Wiring (in `app::run`)
//! ```no_run
//! # async fn run() {
//! use std::time::Duration;
//! use wardgate::service::{self, Health, Watchdog};
//! let health = Health::new();
//! let inference = health.register("inference", Duration::from_secs(5));
//! std::thread::spawn(move || loop {
//!     // … run one frame through the models …
//!     inference.beat();
//! #   break;
//! });
//! // … migrate the store, bind the API …
//! let watchdog = Watchdog::spawn(health.clone());
//! service::notify_ready("ready: api listening on 127.0.0.1:8080");
//! wardgate::app::shutdown_signal().await;
//! service::notify_stopping("SIGTERM: locking the door");
//! watchdog.stop().await;
//! // … put the door into its safe state, drain the API …
//! # }
//! ```
//!
//! # Fault injection (tests only)
//! `WARDGATE_TEST_HANG_<COMPONENT>_AFTER_MS=N` (component name upper-cased, e.g.
//! `WARDGATE_TEST_HANG_INFERENCE_AFTER_MS=1500`) makes the registry ignore that component's
//! heartbeats from N ms after it was registered, exactly as if its thread had hung. It is the
//! only way to prove end to end, against the real binary, that a stuck thread stops the
//! watchdog pings. It touches nothing but the heartbeat bookkeeping and logs a warning when
//! armed, so it cannot go unnoticed on a board.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Prefix of the fault-injection variables; see the module docs.
pub const HANG_ENV_PREFIX: &str = "WARDGATE_TEST_HANG_";

/// How often the watchdog task re-checks health when systemd has no watchdog configured; it
/// still publishes `STATUS=` changes so `systemctl status` stays truthful.
const STATUS_ONLY_PERIOD: Duration = Duration::from_secs(2);

/// Sends `READY=1` with a status line. Call it once: after the store is migrated and the API
/// socket is bound, because systemd starts dependent units (and `systemctl start` returns) on it.
pub fn notify_ready(status: &str) {
    EnvNotifier.send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Replaces the status line shown by `systemctl status`.
pub fn notify_status(status: &str) {
    EnvNotifier.send(&[NotifyState::Status(status)]);
}

/// Sends `STOPPING=1`: systemd then expects the exit and stops watching the watchdog.
pub fn notify_stopping(status: &str) {
    EnvNotifier.send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// Arms a last-resort exit: if the process is still alive `grace` from now, it exits with
/// status 1. Call it right after [`notify_stopping`]: a shutdown that hangs (a blocked
/// database call, a stuck thread) must not hold the door controller down until systemd's
/// `TimeoutStopSec=` SIGKILLs it. Whoever calls this must already have put the door into its
/// safe state or must not depend on running code to reach it (a de-energised relay is locked).
pub fn exit_after(grace: Duration) {
    let spawned = std::thread::Builder::new()
        .name("exit-deadline".into())
        .spawn(move || {
            std::thread::sleep(grace);
            log::error!("shutdown did not finish within {grace:?}; exiting");
            std::process::exit(1);
        });
    if let Err(e) = spawned {
        log::error!("cannot arm the shutdown deadline: {e}");
    }
}

/// The watchdog interval systemd expects pings within, from `WATCHDOG_USEC`/`WATCHDOG_PID`.
///
/// Follows `sd_watchdog_enabled(3)`: the watchdog is for this process when `WATCHDOG_PID` is
/// unset or equals our pid (a child started by us must not ping for us).
pub fn watchdog_interval() -> Option<Duration> {
    parse_watchdog(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    match pid {
        Some(p) if p.trim().parse::<u32>().ok() != Some(me) => None,
        _ => Some(Duration::from_micros(usec)),
    }
}

/// Where notifications go. The production sink is the `NOTIFY_SOCKET` of the environment;
/// tests record what would have been sent.
pub trait Notifier: Send + Sync + 'static {
    /// Sends one datagram with these states. Failures are logged, never fatal: a firmware that
    /// cannot reach systemd must still open the door for staff.
    fn send(&self, states: &[NotifyState<'_>]);
}

/// Sends to `$NOTIFY_SOCKET`; does nothing when the variable is unset (run by hand, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvNotifier;

impl Notifier for EnvNotifier {
    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(false, states) {
            log::warn!("sd_notify failed: {e}");
        }
    }
}

/// The set of components whose liveness the watchdog vouches for. Cheap to clone (an `Arc`).
#[derive(Clone, Debug)]
pub struct Health {
    inner: Arc<Registry>,
}

#[derive(Debug)]
struct Registry {
    epoch: Instant,
    slots: Mutex<Vec<Arc<Slot>>>,
}

#[derive(Debug)]
struct Slot {
    name: String,
    max_silence: Duration,
    /// Milliseconds since the registry's epoch of the last accepted beat.
    last_beat_ms: AtomicU64,
    /// Fault injection: beats at or after this many ms since the epoch are ignored.
    hang_after_ms: Option<u64>,
}

/// Handed to a component at registration; its loop calls [`Heartbeat::beat`]. Dropping it does
/// not unregister the component: a thread that died is as unhealthy as one that hangs.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    slot: Arc<Slot>,
    epoch: Instant,
}

impl Heartbeat {
    /// Records that the component made progress just now. Lock-free; cheap enough per frame.
    pub fn beat(&self) {
        let now = elapsed_ms(self.epoch);
        if self.slot.hang_after_ms.is_some_and(|h| now >= h) {
            return;
        }
        self.slot.last_beat_ms.store(now, Ordering::Relaxed);
    }

    /// The component's name as registered.
    pub fn name(&self) -> &str {
        &self.slot.name
    }
}

fn elapsed_ms(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One component's state at the time of a [`Health::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentHealth {
    pub name: String,
    /// Time since its last heartbeat (or since registration, if it never beat).
    pub silent_for: Duration,
    pub max_silence: Duration,
}

impl ComponentHealth {
    /// Whether the component beat within its allowed silence.
    pub fn is_fresh(&self) -> bool {
        self.silent_for <= self.max_silence
    }
}

/// The result of one health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub components: Vec<ComponentHealth>,
}

impl HealthReport {
    /// True when every registered component is fresh (vacuously true with none registered).
    pub fn all_fresh(&self) -> bool {
        self.components.iter().all(ComponentHealth::is_fresh)
    }

    /// Names of the components that are silent for too long.
    pub fn stale(&self) -> Vec<&str> {
        self.components
            .iter()
            .filter(|c| !c.is_fresh())
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The one-line `STATUS=` text: `healthy: api, door, inference` or
    /// `unhealthy: inference silent 7.0s (limit 5.0s); watchdog held`.
    pub fn summary(&self) -> String {
        if self.all_fresh() {
            let names: Vec<&str> = self.components.iter().map(|c| c.name.as_str()).collect();
            return if names.is_empty() {
                "healthy".to_owned()
            } else {
                format!("healthy: {}", names.join(", "))
            };
        }
        let mut line = String::from("unhealthy:");
        let mut first = true;
        for c in self.components.iter().filter(|c| !c.is_fresh()) {
            let sep = if first { " " } else { ", " };
            first = false;
            let _ = write!(
                line,
                "{sep}{} silent {:.1}s (limit {:.1}s)",
                c.name,
                c.silent_for.as_secs_f64(),
                c.max_silence.as_secs_f64()
            );
        }
        line.push_str("; watchdog held");
        line
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Registry {
                epoch: Instant::now(),
                slots: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Registers a component that promises to beat at least every `max_silence`. The clock
    /// starts now, so a component that never beats turns stale after `max_silence`.
    ///
    /// Honours `WARDGATE_TEST_HANG_<NAME>_AFTER_MS` (see the module docs).
    pub fn register(&self, name: &str, max_silence: Duration) -> Heartbeat {
        self.register_with_env(name, max_silence, |var| std::env::var(var).ok())
    }

    fn register_with_env(
        &self,
        name: &str,
        max_silence: Duration,
        env: impl Fn(&str) -> Option<String>,
    ) -> Heartbeat {
        let now = elapsed_ms(self.inner.epoch);
        let var = hang_env_var(name);
        let hang_after_ms = env(&var).and_then(|v| match v.trim().parse::<u64>() {
            Ok(ms) => {
                log::warn!("fault injection armed: {var}={ms}; `{name}` heartbeats stop counting after {ms} ms");
                Some(now.saturating_add(ms))
            }
            Err(_) => {
                log::warn!("ignoring {var}={v:?}: not a whole number of milliseconds");
                None
            }
        });
        let slot = Arc::new(Slot {
            name: name.to_owned(),
            max_silence,
            last_beat_ms: AtomicU64::new(now),
            hang_after_ms,
        });
        let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.push(Arc::clone(&slot));
        Heartbeat {
            slot,
            epoch: self.inner.epoch,
        }
    }

    /// Reads every component's last heartbeat.
    pub fn check(&self) -> HealthReport {
        let now = elapsed_ms(self.inner.epoch);
        let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        let components = slots
            .iter()
            .map(|s| ComponentHealth {
                name: s.name.clone(),
                silent_for: Duration::from_millis(
                    now.saturating_sub(s.last_beat_ms.load(Ordering::Relaxed)),
                ),
                max_silence: s.max_silence,
            })
            .collect();
        HealthReport { components }
    }

    /// The longest allowed silence of any component (zero with none registered).
    fn longest_max_silence(&self) -> Duration {
        let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .map(|s| s.max_silence)
            .max()
            .unwrap_or_default()
    }
}

/// `inference` → `WARDGATE_TEST_HANG_INFERENCE_AFTER_MS`.
pub fn hang_env_var(component: &str) -> String {
    let upper: String = component
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{HANG_ENV_PREFIX}{upper}_AFTER_MS")
}

/// The task that turns health into `WATCHDOG=1` pings and `STATUS=` lines.
///
/// It runs on the async runtime on purpose: when the runtime itself wedges (the API cannot
/// answer), the pings stop too.
#[derive(Debug)]
pub struct Watchdog {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watchdog {
    /// Starts supervising `health` with systemd's interval from the environment, sending to
    /// `$NOTIFY_SOCKET`. Without `WATCHDOG_USEC` it still keeps `STATUS=` current.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn spawn(health: Health) -> Self {
        Self::spawn_with(health, watchdog_interval(), EnvNotifier)
    }

    /// Like [`Watchdog::spawn`] with an explicit interval and sink (tests, other managers).
    ///
    /// Pings go out every half interval, as `sd_watchdog_enabled(3)` recommends, so one late
    /// tick does not cost a restart.
    pub fn spawn_with(health: Health, watchdog: Option<Duration>, notifier: impl Notifier) -> Self {
        if let Some(wd) = watchdog {
            let longest = health.longest_max_silence();
            if longest >= wd {
                log::warn!(
                    "a component may stay silent for {longest:?}, longer than WatchdogSec ({wd:?}): \
                     a hang would be noticed only after systemd gave up"
                );
            }
        }
        let period = watchdog.map_or(STATUS_ONLY_PERIOD, |wd| {
            (wd / 2).max(Duration::from_millis(10))
        });
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_summary = String::new();
            let mut last_stale: Vec<String> = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    _ = ticker.tick() => {}
                }
                let report = health.check();
                let stale: Vec<String> = report.stale().into_iter().map(str::to_owned).collect();
                let fresh = stale.is_empty();
                // STATUS= only when the set of stale components changes: the silence figures
                // change every tick and would flood the journal.
                let status = if stale == last_stale && !last_summary.is_empty() {
                    None
                } else {
                    last_summary = report.summary();
                    if fresh {
                        log::info!("health: {last_summary}");
                    } else {
                        log::error!("health: {last_summary}");
                    }
                    Some(last_summary.as_str())
                };
                last_stale = stale;
                match (fresh && watchdog.is_some(), status) {
                    (true, Some(s)) => {
                        notifier.send(&[NotifyState::Watchdog, NotifyState::Status(s)])
                    }
                    (true, None) => notifier.send(&[NotifyState::Watchdog]),
                    (false, Some(s)) => notifier.send(&[NotifyState::Status(s)]),
                    (false, None) => {}
                }
            }
        });
        Self {
            stop: Some(stop_tx),
            task,
        }
    }

    /// Stops pinging (after `STOPPING=1`, systemd no longer expects pings) and waits for the
    /// task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every datagram as the text systemd would receive.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(Instant, String)>>>);

    impl Notifier for Recorder {
        fn send(&self, states: &[NotifyState<'_>]) {
            let text: String = states.iter().map(|s| format!("{s}\n")).collect();
            self.0.lock().unwrap().push((Instant::now(), text));
        }
    }

    impl Recorder {
        fn messages(&self) -> Vec<(Instant, String)> {
            self.0.lock().unwrap().clone()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn watchdog_env_follows_sd_watchdog_enabled() {
        assert_eq!(
            parse_watchdog(Some("2000000"), None, 7),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_watchdog(Some("500000"), Some("7"), 7),
            Some(Duration::from_millis(500))
        );
        // Meant for another process, absent, zero or garbage: no watchdog.
        assert_eq!(parse_watchdog(Some("500000"), Some("8"), 7), None);
        assert_eq!(parse_watchdog(None, None, 7), None);
        assert_eq!(parse_watchdog(Some("0"), None, 7), None);
        assert_eq!(parse_watchdog(Some("soon"), None, 7), None);
    }

    #[test]
    fn hang_variable_is_named_after_the_component() {
        assert_eq!(
            hang_env_var("inference"),
            "WARDGATE_TEST_HANG_INFERENCE_AFTER_MS"
        );
        assert_eq!(hang_env_var("door-1"), "WARDGATE_TEST_HANG_DOOR_1_AFTER_MS");
    }

    #[test]
    fn a_component_that_stops_beating_turns_stale() {
        let health = Health::new();
        let door = health.register_with_env("door", Duration::from_millis(80), no_env);
        let inference = health.register_with_env("inference", Duration::from_millis(80), no_env);
        door.beat();
        inference.beat();
        let report = health.check();
        assert!(report.all_fresh(), "{report:?}");
        assert_eq!(report.summary(), "healthy: door, inference");

        std::thread::sleep(Duration::from_millis(150));
        door.beat();
        let report = health.check();
        assert!(!report.all_fresh());
        assert_eq!(report.stale(), vec!["inference"]);
        let summary = report.summary();
        assert!(
            summary.starts_with("unhealthy: inference silent ")
                && summary.ends_with("watchdog held"),
            "{summary}"
        );
        assert!(!summary.contains("door"), "{summary}");
    }

    #[test]
    fn a_component_that_never_beats_is_stale_after_its_limit() {
        let health = Health::new();
        let _camera = health.register_with_env("camera", Duration::from_millis(50), no_env);
        assert!(health.check().all_fresh());
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(health.check().stale(), vec!["camera"]);
    }

    #[test]
    fn injected_hang_ignores_beats_after_the_deadline() {
        let health = Health::new();
        let hb = health.register_with_env("inference", Duration::from_millis(60), |var| {
            (var == "WARDGATE_TEST_HANG_INFERENCE_AFTER_MS").then(|| "40".to_owned())
        });
        hb.beat();
        assert!(health.check().all_fresh());
        // Keep beating well past the deadline: the registry must treat the thread as hung.
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            hb.beat();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(health.check().stale(), vec!["inference"]);
    }

    #[test]
    fn malformed_hang_value_is_ignored() {
        let health = Health::new();
        let hb = health.register_with_env("inference", Duration::from_millis(60), |_| {
            Some("later".to_owned())
        });
        let until = Instant::now() + Duration::from_millis(120);
        while Instant::now() < until {
            hb.beat();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(health.check().all_fresh());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watchdog_pings_only_while_healthy_and_reports_status_changes() {
        let health = Health::new();
        let hb = health.register_with_env("inference", Duration::from_millis(150), no_env);
        let beating = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = Arc::clone(&beating);
        let beater = std::thread::spawn(move || {
            while flag.load(Ordering::Relaxed) {
                hb.beat();
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let rec = Recorder::default();
        let wd = Watchdog::spawn_with(health, Some(Duration::from_millis(100)), rec.clone());

        tokio::time::sleep(Duration::from_millis(400)).await;
        let hung_at = Instant::now();
        beating.store(false, Ordering::Relaxed);
        beater.join().unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        wd.stop().await;

        let msgs = rec.messages();
        let pings_before = msgs
            .iter()
            .filter(|(t, m)| *t < hung_at && m.contains("WATCHDOG=1"))
            .count();
        assert!(
            pings_before >= 3,
            "expected regular pings while healthy: {msgs:?}"
        );
        assert!(msgs[0].1.contains("STATUS=healthy: inference"), "{msgs:?}");

        let last_ping = msgs
            .iter()
            .filter(|(_, m)| m.contains("WATCHDOG=1"))
            .map(|(t, _)| *t)
            .max()
            .unwrap();
        // Stale after 150 ms of silence, noticed within one 50 ms tick (plus scheduling slack).
        assert!(
            last_ping.saturating_duration_since(hung_at) < Duration::from_millis(350),
            "pings went on {:?} after the hang: {msgs:?}",
            last_ping.saturating_duration_since(hung_at)
        );
        let unhealthy: Vec<_> = msgs
            .iter()
            .filter(|(_, m)| m.contains("STATUS=unhealthy: inference silent"))
            .collect();
        assert_eq!(unhealthy.len(), 1, "status once per change: {msgs:?}");
        assert!(!unhealthy[0].1.contains("WATCHDOG=1"));
    }

    #[tokio::test]
    async fn without_watchdog_only_status_is_sent() {
        let health = Health::new();
        let hb = health.register_with_env("door", Duration::from_secs(60), no_env);
        hb.beat();
        let rec = Recorder::default();
        let wd = Watchdog::spawn_with(health, None, rec.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        wd.stop().await;
        let msgs = rec.messages();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert_eq!(msgs[0].1, "STATUS=healthy: door\n");
    }
}

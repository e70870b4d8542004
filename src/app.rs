//! Wiring: start-up (connect, migrate, bootstrap), the API server, and graceful shutdown.
//!
//! Start-up order matters: the store is migrated and the catalog loaded before the API listens,
//! so the first request already sees every subject and grant.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::catalog::Catalog;
use crate::change_feed::ChangeFeed;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::controller::Parts;
use crate::events::EventSink;
use crate::model::TokenRole;
use crate::presentation::PromptBoard;
use crate::store::Store;
use crate::tasks::Tasks;
use crate::tokens::TokenAuth;
use crate::vision::FaceEncoder;

/// The core's parts before the core is built: the door may still be started
/// ([`Wiring::start_door`]) and a test may swap a part (an event sink over a failing store).
#[derive(Debug)]
pub struct Wiring {
    pub cfg: Config,
    pub parts: Parts,
}

/// Connects, migrates, loads tokens and the catalog, starts the event sink and the change
/// feed, on the system clock.
pub async fn prepare(cfg: Config, encoder: Option<Arc<dyn FaceEncoder>>) -> anyhow::Result<Wiring> {
    prepare_at(cfg, encoder, crate::clock::system()).await
}

/// [`prepare`] on `clock`: every row, event and grant check of this controller reads it.
pub async fn prepare_at(
    cfg: Config,
    encoder: Option<Arc<dyn FaceEncoder>>,
    clock: SharedClock,
) -> anyhow::Result<Wiring> {
    // The template keys first: a missing or unreadable key stops the start before anything
    // is connected, let alone written.
    let keys = Store::resolve_template_keys(&cfg.database, &cfg.privacy)
        .context("template keys ([privacy])")?;
    let store = Store::connect(&cfg.database).await.with_context(|| {
        format!(
            "connecting to {}",
            crate::store::redact_url(&cfg.database.url)
        )
    })?;
    // This controller's writes are announced in the change feed under its audit node name.
    let store = store
        .with_writer(&cfg.events.node)
        .with_clock(Arc::clone(&clock))
        .with_template_keys(Arc::new(keys))
        .with_consent_required(cfg.privacy.require_consent);
    store.migrate().await.context("applying migrations")?;
    store
        .prepare_templates()
        .await
        .context("checking the stored face templates against the template keys")?;
    let tokens = Arc::new(
        TokenAuth::with_pepper_file(cfg.auth.token_pepper_file.as_deref())
            .context("reading auth.token_pepper_file")?,
    );
    bootstrap_admin(&cfg, &store, &tokens).await?;
    let catalog = Arc::new(Catalog::with_policy(
        &cfg.vision.embedder,
        cfg.vision.embedding_dim,
        &cfg.matching,
    ));
    // The first read of the change feed loads everything (tokens, subjects, grants,
    // templates); the poller then applies only what changes.
    let changes = ChangeFeed::new(store.clone(), Arc::clone(&catalog), Arc::clone(&tokens));
    changes
        .sync()
        .await
        .context("loading tokens, subjects, grants and templates")?;
    let tasks = Tasks::default();
    // Started first, so it stops last: the caches stay fresh while the rest winds down.
    let feed = Arc::clone(&changes);
    let poll = Duration::from_millis(cfg.database.change_poll_ms);
    tasks.spawn("change feed", move |stop| feed.run(poll, stop));
    let policy = crate::privacy::retention::RetentionPolicy {
        privacy: cfg.privacy.clone(),
        event_days: cfg.events.retention_days,
        record_node: format!("{}-retention", cfg.events.node),
    };
    let (job_store, holder) = (store.clone(), cfg.events.node.clone());
    tasks.spawn("retention", move |stop| {
        crate::privacy::retention::run(job_store, policy, holder, stop)
    });
    let events = EventSink::start(
        store.clone(),
        &cfg.events.node,
        &cfg.events.spool_dir,
        Duration::from_secs(cfg.events.flush_interval_secs.max(1)),
        cfg.events.broadcast_capacity,
    )
    .await
    .with_context(|| format!("opening event spool {}", cfg.events.spool_dir.display()))?
    .with_clock(Arc::clone(&clock));
    Ok(Wiring {
        parts: Parts {
            store,
            catalog,
            events,
            tokens,
            changes,
            door: None,
            board: PromptBoard::new(),
            clock,
            encoder,
            tasks,
        },
        cfg,
    })
}

/// [`prepare`], and the state of an API-only controller (no door).
pub async fn build_state(
    cfg: Config,
    encoder: Option<Arc<dyn FaceEncoder>>,
) -> anyhow::Result<AppState> {
    Ok(prepare(cfg, encoder).await?.into_state())
}

impl Wiring {
    /// Starts the door controller on its configured hardware, records its events in the audit
    /// log (an owned task), and registers the door in the store when it is not there yet (mode
    /// `staff`; an admin can change it).
    pub async fn start_door(&mut self) -> anyhow::Result<()> {
        let cfg = self.cfg.door.clone();
        let hw = crate::door::open_hardware(&cfg)
            .with_context(|| format!("opening door hardware ({:?})", cfg.backend))?;
        let (handle, mut door_events) = crate::door::spawn(cfg.clone(), hw);
        let sink = self.parts.events.clone();
        // Until the door actor stops, or the core does: then what the door said last (its safe
        // state, at shutdown) is still recorded before the task ends.
        self.parts
            .tasks
            .spawn("door events", move |mut stop| async move {
                let record = |ev: crate::door::DoorEvent| {
                    let kind = if ev.is_alarm() {
                        crate::audit::EventKind::Alarm
                    } else {
                        crate::audit::EventKind::Door
                    };
                    sink.record(crate::audit::EventDraft {
                        kind,
                        door_id: Some(ev.door.clone()),
                        reason: ev.kind().into(),
                        details: serde_json::to_value(&ev).unwrap_or_default(),
                        ..Default::default()
                    });
                };
                loop {
                    tokio::select! {
                        ev = door_events.recv() => match ev {
                            Some(ev) => record(ev),
                            None => return,
                        },
                        () = stop.stopped() => break,
                    }
                }
                while let Ok(ev) = door_events.try_recv() {
                    record(ev);
                }
            });
        let store = &self.parts.store;
        if let Err(crate::store::StoreError::NotFound { .. }) = store.get_door(&cfg.id).await {
            match store
                .create_door(&cfg.id, &cfg.id, crate::model::DoorMode::Staff)
                .await
            {
                Ok(_) => log::info!("registered door {} (mode staff) in the store", cfg.id),
                // Registered meanwhile by a controller starting beside this one.
                Err(crate::store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            self.parts.changes.sync().await?;
        }
        self.parts.door = Some(handle);
        Ok(())
    }

    /// Builds the core and the HTTP edge's state around it.
    pub fn into_state(self) -> AppState {
        let console = Arc::new(crate::console::Console::new(&self.cfg.console));
        let limits = Arc::new(crate::api::limits::Limits::from_config(&self.cfg));
        AppState {
            core: self.parts.build(),
            console,
            limits,
            tls: None,
            cfg: Arc::new(self.cfg),
            pipeline_stats: Arc::new(crate::pipeline::StageStats::new()),
        }
    }
}

/// Installs the admin token from `auth.bootstrap_admin_token_file` when no admin token exists.
async fn bootstrap_admin(cfg: &Config, store: &Store, auth: &TokenAuth) -> anyhow::Result<()> {
    let Some(path) = &cfg.auth.bootstrap_admin_token_file else {
        return Ok(());
    };
    let tokens = store.list_tokens().await?;
    if tokens
        .iter()
        .any(|t| t.role == TokenRole::Admin && t.revoked_ms.is_none())
    {
        return Ok(());
    }
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("reading auth.bootstrap_admin_token_file {}", path.display()))?;
    let token = token.trim();
    if token.len() < 32 {
        anyhow::bail!("auth.bootstrap_admin_token_file: token shorter than 32 characters");
    }
    store
        .create_token("bootstrap", TokenRole::Admin, &auth.hash(token))
        .await?;
    log::info!(
        "installed the bootstrap admin token from {}",
        path.display()
    );
    Ok(())
}

/// Serves the API on `listener` until `shutdown` resolves, then flushes events.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_tls(state, listener, None, shutdown).await
}

/// Serves the API on plain `listener` and, when given, over HTTPS too, until `shutdown`
/// resolves; then flushes events. Both listeners serve the same router and state.
pub async fn serve_with_tls(
    state: AppState,
    listener: TcpListener,
    tls: Option<(TcpListener, crate::tls::TlsServer)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let core = Arc::clone(&state.core);
    let app = api::router(state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let https = tls
        .map(|(l, t)| tokio::spawn(crate::tls::serve::serve(l, t, app.clone(), stop_rx.clone())));
    let mut plain_stop = stop_rx.clone();
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = plain_stop.wait_for(|s| *s).await;
    })
    .await
    .context("serving the API");
    if let Some(h) = https {
        h.await.ok();
    }
    // No request decides any more: the core stops its tasks, flushes the journal, closes the
    // store.
    core.shutdown().await;
    served
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot listen for SIGTERM: {e}");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => log::info!("SIGINT: shutting down"),
    }
}

/// `wardgate run`: the whole controller — API, door, and (when `pipeline.enabled`) the camera
/// door loop. A controller whose models or camera fail still serves the API, terminals and
/// the door's own inputs (REX, fire), and says so loudly.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let listen = cfg.api.listen;
    // The certificate first: a controller that was asked for HTTPS and cannot serve it must not
    // start on plain HTTP alone.
    let tls = crate::tls::prepare(&cfg.api).context("api.tls_listen")?;
    let engine = match crate::vision::Engine::load(&cfg.vision) {
        Ok(e) => Some(Arc::new(e)),
        Err(e) => {
            log::error!(
                "vision models not loaded ({e:#}); photos and the camera door loop are unavailable"
            );
            None
        }
    };
    let encoder = engine.clone().map(|e| e as Arc<dyn FaceEncoder>);
    let pipeline_cfg = cfg.pipeline.clone();
    let camera_cfg = cfg.camera.clone();
    let liveness_cfg = cfg.liveness.clone();
    let audio_cfg = cfg.audio.clone();
    let two_person = Duration::from_secs(cfg.access.two_person_timeout_secs);
    let mut wiring = prepare(cfg, encoder).await?;
    wiring.start_door().await?;
    let mut state = wiring.into_state();
    state.tls = tls.as_ref().map(|t| Arc::new(t.info.clone()));
    let core = Arc::clone(&state.core);
    let door = core.door.clone();
    let health = crate::service::Health::new();
    // A component may stay silent for half the watchdog period: a hang is then noticed, and the
    // pings stop, well within `WatchdogSec`.
    let silence = crate::service::watchdog_interval().map_or(Duration::from_secs(6), |w| {
        (w / 2).clamp(Duration::from_millis(300), Duration::from_secs(6))
    });
    if let Some(d) = door.clone() {
        // The door actor counts as alive while it answers a state query.
        let beat = health.register("door", silence);
        core.tasks()
            .spawn("door heartbeat", move |mut stop| async move {
                loop {
                    if tokio::time::timeout(silence / 2, d.state())
                        .await
                        .is_ok_and(|r| r.is_ok())
                    {
                        beat.beat();
                    }
                    tokio::select! {
                        () = tokio::time::sleep(silence / 4) => {}
                        () = stop.stopped() => return,
                    }
                }
            });
    }
    let mut camera = None;
    if let (true, Some(engine), Some(door)) = (pipeline_cfg.enabled, engine, door.clone()) {
        let (rx, d) = (core.board.subscribe(), door.clone());
        core.tasks()
            .spawn("door indicators", move |stop| signal_prompts(rx, d, stop));
        if audio_cfg.enabled {
            let (audio, rx) = (audio_cfg.clone(), core.board.subscribe());
            std::thread::Builder::new()
                .name("wardgate-audio".into())
                .spawn(move || crate::audio::speak_prompts(audio, rx))
                .context("starting the audio prompts")?;
        }
        let reconnect = (
            Duration::from_millis(camera_cfg.reconnect_initial_ms),
            Duration::from_millis(camera_cfg.reconnect_max_ms),
        );
        let cam_cfg = camera_cfg.clone();
        let board = core.board.clone();
        let capture = crate::camera::spawn_capture(
            Box::new(move || crate::camera::open_source_with(&cam_cfg, &board)),
            reconnect,
        );
        // `strict`: the infrared half of the module, captured on its own thread with the same
        // reconnect rules; the door loop compares each challenged face with the infrared frame
        // taken nearest to it (`camera::FrameHistory`).
        let infrared = match camera_cfg.infrared() {
            Some(ir_cfg) if liveness_cfg.mode.needs_infrared() => {
                log::info!("near-infrared camera {} for strict liveness", ir_cfg.device);
                Some(crate::camera::spawn_capture(
                    Box::new(move || crate::camera::open_source(&ir_cfg)),
                    reconnect,
                ))
            }
            Some(_) => {
                log::warn!(
                    "camera.ir_device is set but not used: only liveness.mode = \"strict\" reads it"
                );
                None
            }
            None => None,
        };
        let live = Arc::new(
            crate::console::live::LiveView::new(&capture, &camera_cfg)
                .with_quality_limits(engine.quality_limits()),
        );
        state.console.set_live(Arc::clone(&live));
        let parts = crate::pipeline::LoopParts {
            analyser: engine,
            core: Arc::clone(&core),
            frames: capture.frames(),
            runtime: tokio::runtime::Handle::current(),
            two_person_timeout: two_person,
            stats: Arc::clone(&state.pipeline_stats),
            live: Some(live),
            heartbeat: {
                // A stuck inference call stops these beats, and with them the watchdog pings.
                let beat = health.register("inference", silence);
                Box::new(move || beat.beat())
            },
            liveness: liveness_cfg,
            challenge_seed: None,
            infrared: match &infrared {
                Some(ir) => Some(
                    crate::camera::FrameHistory::follow(ir.frames())
                        .context("starting the infrared frame history")?,
                ),
                None => None,
            },
        };
        let door_loop = crate::pipeline::DoorLoop::spawn(pipeline_cfg, parts)
            .context("starting the door loop")?;
        log::info!("camera door loop running on {:?} source", camera_cfg.source);
        camera = Some((capture, door_loop, infrared));
    } else if pipeline_cfg.enabled {
        log::warn!("camera door loop not started: it needs the vision models");
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding api.listen {listen}"))?;
    let https = match tls {
        Some(t) => {
            let l = TcpListener::bind(t.listen)
                .await
                .with_context(|| format!("binding api.tls_listen {}", t.listen))?;
            log::info!(
                "https on {} (certificate sha256 {})",
                l.local_addr()?,
                t.info.fingerprint_sha256
            );
            Some((l, t))
        }
        None => None,
    };
    let snap = core.catalog.snapshot();
    log::info!(
        "wardgate {} listening on http://{} ({} subjects, {} templates, database {:?})",
        env!("CARGO_PKG_VERSION"),
        listener.local_addr()?,
        snap.directory.subject_count(),
        snap.gallery.len(),
        core.store.backend(),
    );
    // systemd: READY once migrated and listening; the watchdog pings only while every
    // registered component (door loop, door actor) beats; STOPPING on SIGTERM (src/service.rs).
    let watchdog = crate::service::Watchdog::spawn(health);
    crate::service::notify_ready(&format!(
        "ready: api listening on {}",
        listener.local_addr()?
    ));
    let door_for_shutdown = door.clone();
    // SIGTERM stops the edges first, in order: the camera loop (no new decision; the one in
    // flight completes), the lock's safe state, the watchdog; then the API drains its requests
    // and the core stops its tasks, flushes the journal and closes the store (`serve_with_tls`).
    let shutdown = async move {
        shutdown_signal().await;
        crate::service::notify_stopping("stopping: door to safe state, draining the API");
        // The unit promises an exit within 5 s of SIGTERM, whatever hangs.
        crate::service::exit_after(Duration::from_secs(5));
        if let Some((capture, door_loop, infrared)) = camera {
            tokio::task::spawn_blocking(move || {
                door_loop.stop();
                capture.stop();
                if let Some(ir) = infrared {
                    ir.stop();
                }
            })
            .await
            .ok();
            log::info!("camera door loop stopped");
        }
        if let Some(d) = door_for_shutdown {
            // The lock's safe state; its event is recorded before the journal is flushed.
            d.shutdown().await;
        }
        watchdog.stop().await;
    };
    let result = serve_with_tls(state, listener, https, shutdown).await;
    drop(door);
    log::info!("wardgate stopped");
    result
}

/// The door's indicators follow what the door loop shows the person: a beep when it asks for a
/// head movement, red and two beeps when it refuses. (Green follows the unlock itself.)
async fn signal_prompts(
    mut prompts: tokio::sync::watch::Receiver<crate::presentation::Announcement>,
    door: crate::door::DoorHandle,
    mut stop: crate::tasks::StopSignal,
) {
    use crate::door::Signal;
    use crate::presentation::DoorPrompt;
    loop {
        tokio::select! {
            changed = prompts.changed() => if changed.is_err() { return },
            () = stop.stopped() => return,
        }
        let now = prompts.borrow_and_update().prompt;
        match now {
            DoorPrompt::Challenge { .. } => door.signal(Signal::Prompt),
            DoorPrompt::Decided { granted: false, .. } => door.signal(Signal::Denied),
            _ => {}
        }
    }
}

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

use crate::api::{self, AppState, TokenAuth};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::events::EventSink;
use crate::model::TokenRole;
use crate::store::Store;
use crate::vision::FaceEncoder;

/// Connects, migrates, loads tokens and the catalog, starts the event sink.
pub async fn build_state(
    cfg: Config,
    encoder: Option<Arc<dyn FaceEncoder>>,
) -> anyhow::Result<AppState> {
    let store = Store::connect(&cfg.database).await.with_context(|| {
        format!(
            "connecting to {}",
            crate::config::redact_url(&cfg.database.url)
        )
    })?;
    store.migrate().await.context("applying migrations")?;
    let auth =
        Arc::new(TokenAuth::from_config(&cfg.auth).context("reading auth.token_pepper_file")?);
    bootstrap_admin(&cfg, &store, &auth).await?;
    auth.reload(&store).await?;
    let catalog = Arc::new(Catalog::new(
        &cfg.vision.embedder,
        cfg.vision.embedding_dim,
        cfg.matching.threshold,
    ));
    catalog
        .reload_all(&store)
        .await
        .context("loading subjects, grants and templates")?;
    let events = EventSink::start(
        store.clone(),
        &cfg.events.node,
        &cfg.events.spool_dir,
        Duration::from_secs(cfg.events.flush_interval_secs.max(1)),
        cfg.events.broadcast_capacity,
    )
    .await
    .with_context(|| format!("opening event spool {}", cfg.events.spool_dir.display()))?;
    Ok(AppState {
        cfg: Arc::new(cfg),
        store,
        catalog,
        events,
        auth,
        encoder,
    })
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
    let events = state.events.clone();
    let store = state.store.clone();
    let app = api::router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving the API")?;
    match tokio::time::timeout(Duration::from_secs(3), events.flush()).await {
        Ok(Some(r)) if r.spooled > 0 => {
            log::warn!("{} events remain spooled for the next start", r.spooled)
        }
        Ok(_) => {}
        Err(_) => log::warn!("event flush timed out at shutdown; unsent events are in the spool"),
    }
    store.close().await;
    Ok(())
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

/// `wardgate run`.
pub async fn run(cfg: Config, encoder: Option<Arc<dyn FaceEncoder>>) -> anyhow::Result<()> {
    let listen = cfg.api.listen;
    let state = build_state(cfg, encoder).await?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding api.listen {listen}"))?;
    let snap = state.catalog.snapshot();
    log::info!(
        "wardgate {} listening on http://{} ({} subjects, {} templates, database {:?})",
        env!("CARGO_PKG_VERSION"),
        listener.local_addr()?,
        snap.directory.subject_count(),
        snap.gallery.len(),
        state.store.backend(),
    );
    // --- systemd: READY once migrated and listening, watchdog, STOPPING (src/service.rs) ---
    // Components (camera, inference, door actor) register with `health` as they are wired;
    // the watchdog pings only while every registered one beats.
    let health = crate::service::Health::new();
    let watchdog = crate::service::Watchdog::spawn(health);
    crate::service::notify_ready(&format!(
        "ready: api listening on {}",
        listener.local_addr()?
    ));
    let shutdown = async move {
        shutdown_signal().await;
        crate::service::notify_stopping("stopping: draining the API");
        // The unit promises an exit within 5 s of SIGTERM, whatever hangs.
        crate::service::exit_after(Duration::from_secs(5));
        watchdog.stop().await;
    };
    serve(state, listener, shutdown).await
}

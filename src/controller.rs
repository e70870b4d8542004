//! The core: one [`Controller`] per process owns the door's state — the catalog (directory and
//! gallery), the one decision service, the event sink, the door, the presentation board, the
//! token cache, the change feed that keeps both caches fresh, and the clock — and the
//! long-lived tasks that serve them.
//!
//! Why one owner: the HTTP state used to double as the service registry, so every edge reached
//! into every other (the change feed imported the API's state; each API call built its own
//! decision service). Now edges — the API, the console, the camera loop, later the credential
//! readers and the hospital feeds — hold an `Arc<Controller>` and translate their protocol into
//! the core's types; the core never imports an edge (`tests/layers.rs` keeps it so).
//!
//! Shutdown is the core's too ([`Controller::shutdown`]): the owned tasks stop in order, the
//! journal is flushed into the store, and only then is the store closed, so no task is left
//! holding a closed pool.

use std::sync::Arc;
use std::time::Duration;

use crate::access::decider::Decider;
use crate::catalog::{Catalog, Recognition, Snapshot};
use crate::change_feed::ChangeFeed;
use crate::clock::SharedClock;
use crate::door::DoorHandle;
use crate::events::EventSink;
use crate::gallery::VectorError;
use crate::presentation::PromptBoard;
use crate::store::Store;
use crate::tasks::Tasks;
use crate::tokens::TokenAuth;
use crate::vision::FaceEncoder;

/// Longest a recognition waits for the change feed when a face matched nobody and the caches
/// may be behind the store (a person enrolled a moment ago on another controller).
const FRESH_READ: Duration = Duration::from_millis(300);

/// Everything the core is built from (see `app::prepare`).
pub struct Parts {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub events: EventSink,
    pub tokens: Arc<TokenAuth>,
    pub changes: Arc<ChangeFeed>,
    /// The door this controller drives; `None` for an API-only controller.
    pub door: Option<DoorHandle>,
    pub board: PromptBoard,
    pub clock: SharedClock,
    /// The photo → embedding path; `None` when the models are not loaded.
    pub encoder: Option<Arc<dyn FaceEncoder>>,
    pub tasks: Tasks,
}

/// The door's state and its one decision service; edges hold an `Arc` of it.
pub struct Controller {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub events: EventSink,
    pub tokens: Arc<TokenAuth>,
    pub changes: Arc<ChangeFeed>,
    pub door: Option<DoorHandle>,
    /// What the person at the door is told (the door display, spoken prompts, indicators).
    pub board: PromptBoard,
    pub clock: SharedClock,
    pub encoder: Option<Arc<dyn FaceEncoder>>,
    decider: Decider,
    tasks: Tasks,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("store", &self.store)
            .field("door", &self.door)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("store", &self.store)
            .field("door", &self.door)
            .field(
                "encoder",
                &self.encoder.as_ref().map(|e| e.model_id().to_owned()),
            )
            .field("tasks", &self.tasks.names())
            .finish_non_exhaustive()
    }
}

impl Parts {
    /// The controller, with its one decision service built over the catalog, door and events.
    pub fn build(self) -> Arc<Controller> {
        let decider = Decider::new(
            Arc::clone(&self.catalog),
            self.door.clone(),
            self.events.clone(),
        );
        Arc::new(Controller {
            store: self.store,
            catalog: self.catalog,
            events: self.events,
            tokens: self.tokens,
            changes: self.changes,
            door: self.door,
            board: self.board,
            clock: self.clock,
            encoder: self.encoder,
            decider,
            tasks: self.tasks,
        })
    }
}

impl Controller {
    /// The one decision service (every channel decides through it).
    pub fn decider(&self) -> &Decider {
        &self.decider
    }

    /// Each probe searched in the current snapshot's gallery (the one place a face vector is
    /// matched, whatever the channel: [`Catalog::recognise`]); when one matched
    /// nobody, the change feed is read once (within [`FRESH_READ`]) and, if it brought
    /// changes, every probe is searched again — so a person enrolled through another
    /// controller or the CLI a moment ago is not refused for the feed's poll interval. Returns
    /// the snapshot the answers came from (decide from its directory). The error names the
    /// index of the probe the gallery refused.
    pub async fn recognise_fresh(
        &self,
        probes: &[&[f32]],
    ) -> Result<(Arc<Snapshot>, Vec<Recognition>), (usize, VectorError)> {
        let search = |snap: &Snapshot| {
            probes
                .iter()
                .enumerate()
                .map(|(i, p)| self.catalog.recognise(snap, p).map_err(|e| (i, e)))
                .collect::<Result<Vec<_>, _>>()
        };
        let snap = self.catalog.snapshot();
        let found = search(&snap)?;
        if found.iter().all(|r| r.accepted) {
            return Ok((snap, found));
        }
        match tokio::time::timeout(FRESH_READ, self.changes.sync()).await {
            Ok(Ok(changed)) if !changed.is_empty() => {
                let snap = self.catalog.snapshot();
                let found = search(&snap)?;
                Ok((snap, found))
            }
            _ => Ok((snap, found)),
        }
    }

    /// The owned long-lived tasks (change feed, door events, heartbeats).
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Stops the core in order: the door to its safe state, the owned tasks (the change feed
    /// last, so the caches stay fresh while the others finish), then the journal is flushed into the store, then the
    /// store is closed. Call once the edges that decide (camera loop, API) have stopped.
    pub async fn shutdown(&self) {
        if let Some(door) = &self.door {
            // The lock's safe state first (a no-op when an edge already asked for it); its
            // event is recorded by the door-events task, which drains before it stops.
            door.shutdown().await;
        }
        self.tasks.stop().await;
        match tokio::time::timeout(Duration::from_secs(3), self.events.flush()).await {
            Ok(Some(r)) if r.spooled > 0 => {
                log::warn!("{} events remain spooled for the next start", r.spooled);
            }
            Ok(_) => {}
            Err(_) => {
                log::warn!("event flush timed out at shutdown; unsent events are in the spool");
            }
        }
        self.store.close().await;
    }
}

//! The caches own their freshness: every write to subjects, faces, doors, grants and tokens
//! bumps a version row in the same transaction (`store::changes`), and each controller reads
//! that small table every `database.change_poll_ms` and applies only the kinds that moved —
//! the directory reloaded, the gallery updated by difference, the token set reloaded.
//!
//! Why polling rather than notifications: neither MariaDB nor SQLite pushes row changes to a
//! client, and one indexed read of a few rows per quarter second costs the server nothing.
//! The same path carries a write made through this controller's API, through another
//! controller on the same database, or by the CLI (`wardgate token revoke`, `enroll`, …).
//! Requests that wrote through this process also read the feed before their response leaves
//! (the API's `sync_after_writes`), so a caller always reads its own writes.
//!
//! While the database is unreachable the caches keep their last state (the door keeps
//! deciding); with several configured hosts the poller moves the store to the next one.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::catalog::Catalog;
use crate::store::{changed_kinds, ChangeKind, ChangeVersions, Store, StoreResult};
use crate::tasks::StopSignal;
use crate::tokens::TokenAuth;

/// Reads the feed and applies it to the catalog and the token cache.
#[derive(Debug)]
pub struct ChangeFeed {
    store: Store,
    catalog: Arc<Catalog>,
    auth: Arc<TokenAuth>,
    /// The feed as last applied; `None` until the first full load. The lock also serialises
    /// applications, so an older read is never applied over a newer one.
    seen: tokio::sync::Mutex<Option<ChangeVersions>>,
    /// When the feed was last read and applied without error. Everything committed before
    /// then is in the caches, so the time since is how far this controller may lag behind the
    /// database (`database.change_lag_ms` in `GET /api/v1/status`).
    last_applied: Mutex<Option<Instant>>,
}

impl ChangeFeed {
    pub fn new(store: Store, catalog: Arc<Catalog>, auth: Arc<TokenAuth>) -> Arc<Self> {
        Arc::new(Self {
            store,
            catalog,
            auth,
            seen: tokio::sync::Mutex::new(None),
            last_applied: Mutex::new(None),
        })
    }

    /// Time since the feed was last read and applied without error; `None` before the first
    /// successful read. Healthy, it stays below `database.change_poll_ms` (plus one read);
    /// while the database is unreachable it grows, and so does the staleness of the caches.
    pub fn lag(&self) -> Option<Duration> {
        self.last_applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map(|t| t.elapsed())
    }

    fn applied(&self, read_at: Instant) {
        *self
            .last_applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(read_at);
    }

    /// Reads the feed once and applies what changed since the last read (everything, the
    /// first time). Returns the kinds applied. The versions are read *before* the data, so a
    /// write that commits in between is applied now or at the next read, never lost; on error
    /// nothing is marked as seen and the next read tries again.
    pub async fn sync(&self) -> StoreResult<BTreeSet<ChangeKind>> {
        let mut seen = self.seen.lock().await;
        // Taken before the read: a write committed after this instant may not be applied yet.
        let read_at = Instant::now();
        let now = self.store.change_versions().await?;
        let changed = match seen.as_ref() {
            None => ChangeKind::ALL.into_iter().collect(),
            Some(before) => changed_kinds(before, &now),
        };
        if changed.is_empty() {
            self.applied(read_at);
            return Ok(changed);
        }
        if seen.is_none() {
            self.catalog.reload_all(&self.store).await?;
        } else {
            let directory = changed.iter().any(|k| {
                matches!(
                    k,
                    ChangeKind::Subjects | ChangeKind::Doors | ChangeKind::Grants
                )
            });
            if directory {
                self.catalog.reload_directory(&self.store).await?;
            }
            if changed.contains(&ChangeKind::Faces) {
                self.catalog.refresh_gallery(&self.store).await?;
            }
        }
        if changed.contains(&ChangeKind::Tokens) {
            self.auth.reload(&self.store).await?;
        }
        log::debug!(
            "change feed applied: {}",
            changed
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        *seen = Some(now);
        self.applied(read_at);
        Ok(changed)
    }

    /// Reads the feed every `interval` until `stop` (an owned task of the core, see
    /// [`crate::tasks`]). A read that fails because the database is unreachable triggers a
    /// failover when several hosts are configured; the failure is logged once, and its end
    /// again.
    pub async fn run(self: Arc<Self>, interval: Duration, mut stop: StopSignal) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.stopped() => return,
            }
            match self.sync().await {
                Ok(_) => {
                    if failing {
                        log::info!("change feed readable again");
                        failing = false;
                    }
                }
                Err(e) => {
                    if !failing {
                        log::warn!("change feed unreadable ({e}); deciding from the last state");
                        failing = true;
                    }
                    if e.is_unavailable() {
                        self.store.failover().await;
                    }
                }
            }
        }
    }
}

//! The event sink: seals events into the audit chain, journals them locally, broadcasts them
//! live, and stores them — catching up from the journal while the database is slow or down.
//!
//! Why this shape: the chain needs one writer in a fixed order, a decision must never wait for
//! the database, and an answered decision must survive a power cut.
//!
//! - **Seal** ([`EventSink::record`]): under a std mutex held for microseconds, the event gets
//!   its seq and hash and is handed to the journal thread's unbounded queue (a send that never
//!   waits), so the queue is in chain order. Nothing is awaited while the lock is held.
//! - **Journal** (its own OS thread, see `journal.rs`): appends everything queued since the last
//!   commit to `events.spool_dir/events.jsonl` with one `fdatasync` (group commit), then
//!   publishes the newest durable seq ([`EventSink::durable`] waits for it) and offers the batch
//!   to the store actor without waiting: when the actor's queue is full the batch is simply left
//!   in the journal, which is already on disk, and the actor is told to catch up from there.
//! - **Store actor** (a tokio task): inserts batches (one transaction each). After a failed
//!   write, or a batch that was left in the journal, it re-reads the journal and inserts every
//!   event the store does not have yet, in order, every `events.flush_interval_secs` until that
//!   succeeds. Inserting is idempotent (the store skips ids it already has), so a crash anywhere
//!   loses and duplicates nothing. Once the store has everything, the journal is emptied when it
//!   grows past [`COMPACT_BYTES`] (or on [`EventSink::flush`]).

mod journal;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};

use self::journal::Journal;
use crate::audit::{Chain, EventDraft};
use crate::clock::SharedClock;
use crate::model::Event;
use crate::store::{Store, StoreError};

/// Where sealed events go. The store implements it; tests may inject failures and stalls.
pub trait EventBackend: Send + Sync + 'static {
    fn append(&self, events: &[Event]) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn last(&self, node: &str) -> impl Future<Output = Result<Option<Event>, StoreError>> + Send;
}

impl EventBackend for Store {
    async fn append(&self, events: &[Event]) -> Result<(), StoreError> {
        self.append_events(events).await
    }
    async fn last(&self, node: &str) -> Result<Option<Event>, StoreError> {
        self.last_event(node).await
    }
}

enum Cmd {
    Store(Vec<Event>),
    Flush(oneshot::Sender<FlushReport>),
}

/// State of the sink after a flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Events the store does not have yet; they wait in the local journal (0 when the
    /// database has everything).
    pub spooled: usize,
}

/// Events per store transaction.
const BATCH: usize = 256;
/// Batches the store actor may have queued before the journal thread stops offering them (they
/// are then read back from the journal).
const STORE_QUEUE: usize = 64;
/// Once the store has every journaled event, the journal is emptied when it is larger than this.
/// After a crash the journal's events are re-inserted (and skipped as duplicates), so this
/// bounds the work at start-up.
pub const COMPACT_BYTES: u64 = 256 * 1024;
/// Longest [`EventSink::durable`] waits for the journal before giving up (a failing disk).
const DURABLE_WAIT: Duration = Duration::from_secs(2);

/// What the journal thread, the store actor and the handles share.
#[derive(Debug)]
struct Shared {
    node: String,
    journal: Mutex<Journal>,
    /// The journal thread left a batch in the journal instead of queueing it for the store.
    overflow: Notify,
    /// The last journal commit failed (disk full, I/O error): `durable` answers false.
    journal_failed: AtomicBool,
    /// Newest seq appended to the journal and the journal's size, readable without the lock
    /// (the journal thread holds it across an fsync; the store actor must not wait for that).
    journal_seq: AtomicI64,
    journal_bytes: AtomicU64,
}

/// Cheap handle to the sink; clone freely.
#[derive(Clone, Debug)]
pub struct EventSink {
    /// Sealing happens here, in the caller's thread, so the caller gets its event (id, seq)
    /// without a round trip; the lock covers only sealing and a non-blocking send.
    chain: Arc<Mutex<Chain>>,
    journal: std::sync::mpsc::Sender<Event>,
    /// Newest seq committed to the journal (or given up on, see `Shared::journal_failed`).
    durable: watch::Receiver<i64>,
    store: mpsc::Sender<Cmd>,
    live: broadcast::Sender<Event>,
    shared: Arc<Shared>,
    /// What stamps each sealed event ([`EventSink::with_clock`]).
    clock: SharedClock,
}

impl EventSink {
    /// Starts the journal thread and the store actor. The chain continues from the journal's
    /// newest event, else the database's, else the head file (the database may be down at
    /// start-up).
    pub async fn start<B: EventBackend>(
        backend: B,
        node: &str,
        spool_dir: &Path,
        flush_interval: Duration,
        capacity: usize,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(spool_dir)?;
        let journal_path = spool_dir.join("events.jsonl");
        let journal = Journal::open(journal_path.clone())?;
        let head_file = spool_dir.join(format!("chain-head-{node}.json"));
        let journaled = journal.read_all()?;
        let from_journal = journaled.iter().rev().find(|e| e.node == node);
        let chain = if let Some(e) = from_journal {
            Chain::after(e)
        } else {
            match backend.last(node).await {
                Ok(Some(e)) => Chain::after(&e),
                Ok(None) => Chain::new(node),
                Err(err) => {
                    log::warn!(
                        "event store unreachable at start ({err}); continuing chain from {}",
                        head_file.display()
                    );
                    read_head(&head_file).unwrap_or_else(|| Chain::new(node))
                }
            }
        };
        // Whatever the journal holds may be missing from the store: the actor starts by
        // catching up from it (re-inserting what the store has is harmless).
        let stored_seq = journaled
            .iter()
            .find(|e| e.node == node)
            .map_or(chain.seq, |e| e.seq - 1);
        let behind = !journaled.is_empty();
        let mut journal = journal;
        journal.last_seq = chain.seq;
        let bytes = journal.bytes();
        let shared = Arc::new(Shared {
            node: node.to_owned(),
            journal: Mutex::new(journal),
            overflow: Notify::new(),
            journal_failed: AtomicBool::new(false),
            journal_seq: AtomicI64::new(chain.seq),
            journal_bytes: AtomicU64::new(bytes),
        });
        let (store_tx, store_rx) = mpsc::channel(STORE_QUEUE);
        let (journal_tx, journal_rx) = std::sync::mpsc::channel();
        let (durable_tx, durable_rx) = watch::channel(chain.seq);
        let (live, _) = broadcast::channel(capacity);
        {
            let shared = Arc::clone(&shared);
            let store_tx = store_tx.clone();
            std::thread::Builder::new()
                .name("wardgate-journal".into())
                .spawn(move || journal_thread(&journal_rx, &shared, &durable_tx, &store_tx))?;
        }
        let actor = Actor {
            backend,
            stored_seq,
            behind,
            journal_path,
            shared: Arc::clone(&shared),
            head_file,
        };
        tokio::spawn(actor.run(store_rx, flush_interval));
        Ok(Self {
            chain: Arc::new(Mutex::new(chain)),
            journal: journal_tx,
            durable: durable_rx,
            store: store_tx,
            live,
            shared,
            clock: crate::clock::system(),
        })
    }

    /// Stamps events with `clock` (the controller's) instead of the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Seals an event into the chain, queues it for the journal and the store, broadcasts it,
    /// and returns it. Never waits: callable from the door loop's thread and from async code.
    /// `None` only when the sink has stopped.
    pub fn record(&self, draft: EventDraft) -> Option<Event> {
        let e = {
            let mut chain = self
                .chain
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let e = chain.seal(draft, self.clock.now_ms());
            // An unbounded channel: this send cannot wait. Sent under the lock so the journal
            // receives events in chain order.
            if self.journal.send(e.clone()).is_err() {
                log::error!("event journal stopped; event {} not recorded", e.id);
                return None;
            }
            e
        };
        let _ = self.live.send(e.clone());
        Some(e)
    }

    /// Records an event and returns once it is in the local journal on disk (fsynced), so it
    /// survives a power cut: for decisions that are acknowledged to a terminal.
    pub async fn record_durable(&self, draft: EventDraft) -> Option<Event> {
        let e = self.record(draft)?;
        if !self.durable(e.seq).await {
            log::error!(
                "event {} is not confirmed on disk; it stays queued for the store",
                e.id
            );
        }
        Some(e)
    }

    /// Waits until the event with `seq` is committed to the local journal. False when the
    /// journal could not write it (or did not within a few seconds).
    pub async fn durable(&self, seq: i64) -> bool {
        let mut rx = self.durable.clone();
        let settled = tokio::time::timeout(DURABLE_WAIT, rx.wait_for(|s| *s >= seq)).await;
        matches!(settled, Ok(Ok(_))) && !self.shared.journal_failed.load(Ordering::SeqCst)
    }

    /// Newest seq committed to the local journal.
    pub fn durable_seq(&self) -> i64 {
        *self.durable.borrow()
    }

    /// Writes everything recorded so far to the store, if it can, and empties the journal.
    pub async fn flush(&self) -> Option<FlushReport> {
        let seq = self
            .chain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .seq;
        self.durable(seq).await;
        let (tx, rx) = oneshot::channel();
        self.store.send(Cmd::Flush(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Live feed of sealed events (for `/ws/events` and the UI).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }
}

/// Commits queued events to the journal in groups, then offers each group to the store actor.
fn journal_thread(
    rx: &std::sync::mpsc::Receiver<Event>,
    shared: &Shared,
    durable: &watch::Sender<i64>,
    store: &mpsc::Sender<Cmd>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH * 4 {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let newest = batch.last().map_or(0, |e| e.seq);
        let written = {
            let mut j = shared
                .journal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let written = j.append(&batch);
            shared.journal_seq.store(j.last_seq, Ordering::SeqCst);
            shared.journal_bytes.store(j.bytes(), Ordering::SeqCst);
            written
        };
        match written {
            Ok(()) => shared.journal_failed.store(false, Ordering::SeqCst),
            Err(e) => {
                // The store is now the only copy: keep offering the batch to it.
                log::error!("cannot write {} events to the journal: {e}", batch.len());
                shared.journal_failed.store(true, Ordering::SeqCst);
            }
        }
        durable.send_replace(newest);
        match store.try_send(Cmd::Store(batch)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => shared.overflow.notify_one(),
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

struct Actor<B> {
    backend: B,
    /// Every journaled event of this node up to this seq is in the store.
    stored_seq: i64,
    /// The store may lack journaled events after `stored_seq`: read them back from the journal.
    behind: bool,
    shared: Arc<Shared>,
    journal_path: PathBuf,
    head_file: PathBuf,
}

impl<B: EventBackend> Actor<B> {
    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>, flush_interval: Duration) {
        let mut tick = tokio::time::interval(flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shared = Arc::clone(&self.shared);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(Cmd::Store(batch)) => self.store(batch).await,
                    Some(Cmd::Flush(reply)) => {
                        self.catch_up().await;
                        if self.pending() == 0 {
                            self.compact(true).await;
                        }
                        let _ = reply.send(FlushReport { spooled: self.pending() });
                    }
                },
                () = shared.overflow.notified() => {
                    self.behind = true;
                    self.catch_up().await;
                }
                _ = tick.tick() => {
                    if self.behind {
                        self.catch_up().await;
                    }
                }
            }
        }
        // Every handle is gone: last attempt, so the store is as complete as it can be.
        self.catch_up().await;
    }

    /// Journaled events the store does not have yet.
    fn pending(&self) -> usize {
        let journaled = self.shared.journal_seq.load(Ordering::SeqCst);
        usize::try_from(journaled - self.stored_seq).unwrap_or(0)
    }

    async fn store(&mut self, batch: Vec<Event>) {
        let fresh: Vec<Event> = batch
            .into_iter()
            .filter(|e| e.seq > self.stored_seq)
            .collect();
        let (Some(first), Some(newest)) = (fresh.first(), fresh.last()) else {
            return;
        };
        if self.behind || first.seq != self.stored_seq + 1 {
            // Earlier events were left in the journal: take everything from there, in order.
            self.behind = true;
            self.catch_up().await;
            return;
        }
        let newest = newest.seq;
        match self.backend.append(&fresh).await {
            Ok(()) => {
                self.stored_seq = newest;
                self.compact(false).await;
            }
            Err(e) => {
                log::warn!(
                    "event store write failed ({e}); {} events wait in the journal",
                    fresh.len()
                );
                self.behind = true;
            }
        }
    }

    /// Inserts every journaled event after `stored_seq`, in order.
    async fn catch_up(&mut self) {
        let shared = Arc::clone(&self.shared);
        let stored = self.stored_seq;
        let path = self.journal_path.clone();
        // Without the journal's lock: appending goes on meanwhile (see `read_events`).
        let read = tokio::task::spawn_blocking(move || {
            journal::read_events(&path).map(|all| {
                all.into_iter()
                    .filter(|e| e.node != shared.node || e.seq > stored)
                    .collect::<Vec<_>>()
            })
        })
        .await;
        let events = match read {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                log::error!("cannot read the event journal: {e}");
                return;
            }
            Err(e) => {
                log::error!("event journal reader failed: {e}");
                return;
            }
        };
        for chunk in events.chunks(BATCH * 2) {
            if let Err(e) = self.backend.append(chunk).await {
                log::warn!(
                    "event store still unavailable ({e}); {} events wait in the journal",
                    self.pending()
                );
                return;
            }
            if let Some(last) = chunk.iter().rev().find(|e| e.node == self.shared.node) {
                self.stored_seq = self.stored_seq.max(last.seq);
            }
        }
        if !events.is_empty() {
            log::info!("wrote {} journaled events to the store", events.len());
        }
        self.behind = false;
    }

    /// Empties the journal when the store has all of it (always when `force`, else only once
    /// it is larger than [`COMPACT_BYTES`]). The chain head is saved first, for a start-up
    /// with the database down and an empty journal.
    async fn compact(&mut self, force: bool) {
        let size = self.shared.journal_bytes.load(Ordering::SeqCst);
        if size == 0 || (!force && size < COMPACT_BYTES) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let stored = self.stored_seq;
        let head_file = self.head_file.clone();
        let done = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            // Held across the check and the truncation, so no event is appended in between.
            let mut j = shared
                .journal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if j.last_seq != stored || j.len() == 0 || (!force && j.bytes() < COMPACT_BYTES) {
                return Ok(());
            }
            let newest = match j.newest.clone() {
                Some(e) => Some(e),
                None => j
                    .read_all()?
                    .into_iter()
                    .rev()
                    .find(|e| e.node == shared.node),
            };
            let Some(newest) = newest else {
                j.clear()?;
                shared.journal_bytes.store(0, Ordering::SeqCst);
                return Ok(());
            };
            save_head(&head_file, &newest)?;
            j.clear()?;
            shared.journal_bytes.store(0, Ordering::SeqCst);
            Ok(())
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("cannot compact the event journal: {e}"),
            Err(e) => log::warn!("event journal compaction failed: {e}"),
        }
    }
}

/// Writes the chain head durably (temporary file, fsync, rename).
fn save_head(path: &Path, newest: &Event) -> std::io::Result<()> {
    let body = serde_json::json!({"node": newest.node, "seq": newest.seq, "head": newest.hash});
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, body.to_string().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn read_head(path: &Path) -> Option<Chain> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some(Chain {
        node: v["node"].as_str()?.to_owned(),
        seq: v["seq"].as_i64()?,
        head: v["head"].as_str()?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A backend that can be switched off, standing in for a database outage.
    #[derive(Clone, Default)]
    struct Flaky {
        down: Arc<AtomicBool>,
        rows: Arc<Mutex<Vec<Event>>>,
    }

    impl EventBackend for Flaky {
        async fn append(&self, events: &[Event]) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Db(sqlx::Error::PoolTimedOut));
            }
            let mut rows = self.rows.lock().unwrap();
            for e in events {
                if !rows.iter().any(|r| r.id == e.id) {
                    rows.push(e.clone());
                }
            }
            Ok(())
        }
        async fn last(&self, node: &str) -> Result<Option<Event>, StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Db(sqlx::Error::PoolTimedOut));
            }
            Ok(self
                .rows
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|e| e.node == node)
                .cloned())
        }
    }

    fn draft(i: usize) -> EventDraft {
        EventDraft {
            kind: crate::audit::EventKind::Decision,
            reason: format!("r{i}"),
            details: serde_json::json!({ "i": i }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn outage_spools_in_order_and_flushes_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Flaky::default();
        let sink = EventSink::start(
            backend.clone(),
            "n1",
            dir.path(),
            Duration::from_secs(3600),
            16,
        )
        .await
        .unwrap();
        let mut live = sink.subscribe();
        sink.record(draft(0));
        assert_eq!(sink.flush().await, Some(FlushReport { spooled: 0 }));
        backend.down.store(true, Ordering::SeqCst);
        for i in 1..=5 {
            sink.record(draft(i));
        }
        assert_eq!(sink.flush().await, Some(FlushReport { spooled: 5 }));
        assert_eq!(backend.rows.lock().unwrap().len(), 1);
        // Decisions keep flowing live while the store is down.
        for i in 0..=5 {
            assert_eq!(live.recv().await.unwrap().reason, format!("r{i}"));
        }
        backend.down.store(false, Ordering::SeqCst);
        sink.record(draft(6));
        assert_eq!(sink.flush().await, Some(FlushReport { spooled: 0 }));
        let rows = backend.rows.lock().unwrap().clone();
        let reasons: Vec<_> = rows.iter().map(|e| e.reason.clone()).collect();
        assert_eq!(
            reasons,
            (0..=6).map(|i| format!("r{i}")).collect::<Vec<_>>()
        );
        assert_eq!(crate::audit::verify(&rows), Ok(7));
    }

    #[tokio::test]
    async fn restart_with_store_down_continues_the_chain_from_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Flaky::default();
        backend.down.store(true, Ordering::SeqCst);
        {
            let sink = EventSink::start(
                backend.clone(),
                "n1",
                dir.path(),
                Duration::from_secs(3600),
                16,
            )
            .await
            .unwrap();
            sink.record(draft(0));
            sink.record(draft(1));
            assert_eq!(sink.flush().await.unwrap().spooled, 2);
        }
        let sink = EventSink::start(
            backend.clone(),
            "n1",
            dir.path(),
            Duration::from_secs(3600),
            16,
        )
        .await
        .unwrap();
        let e = sink.record(draft(2)).unwrap();
        assert_eq!(e.seq, 3);
        backend.down.store(false, Ordering::SeqCst);
        assert_eq!(sink.flush().await.unwrap().spooled, 0);
        assert_eq!(crate::audit::verify(&*backend.rows.lock().unwrap()), Ok(3));
    }
}

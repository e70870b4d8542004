//! The event sink: seals events into the audit chain, broadcasts them live, and stores them —
//! or spools them to disk while the database is unreachable.
//!
//! Why an actor: the chain needs one writer in a fixed order, and the door must never wait for
//! the database. Emitting only queues; the actor batches inserts (one transaction per batch),
//! and on a database failure appends the batch to `events.spool_dir/events.jsonl` (fsynced).
//! While the spool holds anything, new events go behind it, so order is kept; every
//! `events.flush_interval_secs` the spool is replayed into the store and truncated. Replaying is
//! idempotent (the store skips ids it already has), so a crash mid-flush loses and duplicates
//! nothing.

use std::future::Future;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::audit::{Chain, EventDraft};
use crate::model::{now_ms, Event};
use crate::store::{Store, StoreError};

/// Where sealed events go. The store implements it; tests may inject failures.
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
    Store(Box<Event>),
    Flush(oneshot::Sender<FlushReport>),
}

/// State of the sink after a flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Events still waiting in the spool (0 when the database has everything).
    pub spooled: usize,
}

/// Cheap handle to the sink; clone freely.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: mpsc::Sender<Cmd>,
    live: broadcast::Sender<Event>,
    /// Sealing happens at emit, under this lock, so the caller gets its event id without a
    /// round trip to the actor; the lock is held while queueing, so the queue is in chain order.
    chain: Arc<tokio::sync::Mutex<Chain>>,
}

const BATCH: usize = 256;

impl EventSink {
    /// Starts the sink actor. The chain continues from the spool's newest event, else the
    /// database's, else the head file (the database may be down at start-up).
    pub async fn start<B: EventBackend>(
        backend: B,
        node: &str,
        spool_dir: &Path,
        flush_interval: Duration,
        capacity: usize,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(spool_dir)?;
        let spool = Spool::new(spool_dir.join("events.jsonl"));
        let head_file = spool_dir.join(format!("chain-head-{node}.json"));
        let from_spool = spool.read_all()?.into_iter().rev().find(|e| e.node == node);
        let chain = if let Some(e) = from_spool {
            Chain::after(&e)
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
        let (tx, rx) = mpsc::channel(4096);
        let (live, _) = broadcast::channel(capacity);
        let actor = Actor {
            backend,
            last: (chain.node.clone(), chain.seq, chain.head.clone()),
            spool,
            head_file,
        };
        tokio::spawn(actor.run(rx, flush_interval));
        Ok(Self {
            tx,
            live,
            chain: Arc::new(tokio::sync::Mutex::new(chain)),
        })
    }

    /// Seals and queues an event; returns without waiting for the store.
    pub async fn emit(&self, draft: EventDraft) {
        self.emit_sealed(draft).await;
    }

    /// Seals an event into the chain, broadcasts it, queues it for the store, and returns it.
    pub async fn emit_sealed(&self, draft: EventDraft) -> Option<Event> {
        let mut chain = self.chain.lock().await;
        let e = chain.seal(draft, now_ms());
        if self.tx.send(Cmd::Store(Box::new(e.clone()))).await.is_err() {
            log::error!("event sink stopped; event {} not stored", e.id);
            return None;
        }
        drop(chain);
        let _ = self.live.send(e.clone());
        Some(e)
    }

    /// Writes everything queued so far and tries to empty the spool.
    pub async fn flush(&self) -> Option<FlushReport> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Flush(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Live feed of sealed events (for `/ws/events` and the UI).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }
}

struct Actor<B> {
    backend: B,
    /// (node, seq, hash) of the newest event written to the store or the spool.
    last: (String, i64, String),
    spool: Spool,
    head_file: PathBuf,
}

impl<B: EventBackend> Actor<B> {
    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>, flush_interval: Duration) {
        let mut tick = tokio::time::interval(flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    let mut batch = Vec::new();
                    let mut flushes = Vec::new();
                    self.take(cmd, &mut batch, &mut flushes);
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(c) => self.take(c, &mut batch, &mut flushes),
                            Err(_) => break,
                        }
                    }
                    self.write(batch).await;
                    if !flushes.is_empty() {
                        self.drain_spool().await;
                        let report = FlushReport { spooled: self.spool.len() };
                        for f in flushes {
                            let _ = f.send(report);
                        }
                    }
                }
                _ = tick.tick() => {
                    if self.spool.len() > 0 {
                        self.drain_spool().await;
                    }
                }
            }
        }
        // Channel closed: last attempt so nothing stays only in memory.
        self.drain_spool().await;
    }

    fn take(
        &mut self,
        cmd: Cmd,
        batch: &mut Vec<Event>,
        flushes: &mut Vec<oneshot::Sender<FlushReport>>,
    ) {
        match cmd {
            Cmd::Store(e) => batch.push(*e),
            Cmd::Flush(reply) => flushes.push(reply),
        }
    }

    async fn write(&mut self, batch: Vec<Event>) {
        let Some(newest) = batch.last() else {
            return;
        };
        self.last = (newest.node.clone(), newest.seq, newest.hash.clone());
        if self.spool.len() == 0 {
            match self.backend.append(&batch).await {
                Ok(()) => {
                    self.save_head();
                    return;
                }
                Err(e) => log::warn!(
                    "event store write failed ({e}); spooling {} events",
                    batch.len()
                ),
            }
        }
        if let Err(e) = self.spool.append(&batch) {
            // Both the database and the disk failed: nothing more can be done but say so loudly.
            log::error!("cannot spool {} events: {e}", batch.len());
        }
        self.save_head();
    }

    async fn drain_spool(&mut self) {
        let events = match self.spool.read_all() {
            Ok(e) => e,
            Err(e) => {
                log::error!("cannot read event spool: {e}");
                return;
            }
        };
        if events.is_empty() {
            return;
        }
        for chunk in events.chunks(BATCH * 2) {
            if let Err(e) = self.backend.append(chunk).await {
                log::warn!(
                    "event store still unavailable ({e}); {} events stay spooled",
                    events.len()
                );
                return;
            }
        }
        if let Err(e) = self.spool.clear() {
            log::error!("cannot truncate event spool: {e}");
        } else {
            log::info!("flushed {} spooled events to the store", events.len());
        }
    }

    fn save_head(&self) {
        let (node, seq, head) = &self.last;
        let body = serde_json::json!({"node": node, "seq": seq, "head": head});
        let tmp = self.head_file.with_extension("tmp");
        let ok = std::fs::write(&tmp, body.to_string())
            .and_then(|()| std::fs::rename(&tmp, &self.head_file));
        if let Err(e) = ok {
            log::warn!("cannot save chain head: {e}");
        }
    }
}

fn read_head(path: &Path) -> Option<Chain> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some(Chain {
        node: v["node"].as_str()?.to_owned(),
        seq: v["seq"].as_i64()?,
        head: v["head"].as_str()?.to_owned(),
    })
}

/// Append-only JSON-lines file of events not yet in the store.
struct Spool {
    path: PathBuf,
    count: usize,
}

impl Spool {
    fn new(path: PathBuf) -> Self {
        let count = std::fs::File::open(&path)
            .map(|f| std::io::BufReader::new(f).lines().count())
            .unwrap_or(0);
        Self { path, count }
    }

    fn len(&self) -> usize {
        self.count
    }

    fn append(&mut self, events: &[Event]) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut buf = Vec::new();
        for e in events {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        f.write_all(&buf)?;
        f.sync_data()?;
        self.count += events.len();
        Ok(())
    }

    /// Every spooled event in order. A torn last line (power cut mid-write) is skipped.
    fn read_all(&self) -> std::io::Result<Vec<Event>> {
        let f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in std::io::BufReader::new(f).lines() {
            let line = line?;
            match serde_json::from_str(&line) {
                Ok(e) => out.push(e),
                Err(e) => log::warn!("skipping unreadable spool line: {e}"),
            }
        }
        Ok(out)
    }

    fn clear(&mut self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.count = 0;
        Ok(())
    }
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
            kind: "decision".into(),
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
        sink.emit(draft(0)).await;
        assert_eq!(sink.flush().await, Some(FlushReport { spooled: 0 }));
        backend.down.store(true, Ordering::SeqCst);
        for i in 1..=5 {
            sink.emit(draft(i)).await;
        }
        assert_eq!(sink.flush().await, Some(FlushReport { spooled: 5 }));
        assert_eq!(backend.rows.lock().unwrap().len(), 1);
        // Decisions keep flowing live while the store is down.
        for i in 0..=5 {
            assert_eq!(live.recv().await.unwrap().reason, format!("r{i}"));
        }
        backend.down.store(false, Ordering::SeqCst);
        sink.emit(draft(6)).await;
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
            sink.emit(draft(0)).await;
            sink.emit(draft(1)).await;
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
        let e = sink.emit_sealed(draft(2)).await.unwrap();
        assert_eq!(e.seq, 3);
        backend.down.store(false, Ordering::SeqCst);
        assert_eq!(sink.flush().await.unwrap().spooled, 0);
        assert_eq!(crate::audit::verify(&*backend.rows.lock().unwrap()), Ok(3));
    }
}

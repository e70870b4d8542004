//! The append-only event log.

use sqlx::any::AnyRow;

use super::{col, Bind, Filter, Store, StoreError, StoreResult};
use crate::model::{Event, EventKind, Millis};

const EVENT_COLS: &str = "id, node, seq, ts_ms, kind, door_id, subject_id, patient_id, granted, \
                          reason, details, prev_hash, hash";

fn event_from_row(row: &AnyRow) -> StoreResult<Event> {
    let granted: Option<i64> = col(row, "granted")?;
    let details: String = col(row, "details")?;
    let kind: String = col(row, "kind")?;
    Ok(Event {
        id: col(row, "id")?,
        node: col(row, "node")?,
        seq: col(row, "seq")?,
        ts_ms: col(row, "ts_ms")?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind}")))?,
        door_id: col(row, "door_id")?,
        subject_id: col(row, "subject_id")?,
        patient_id: col(row, "patient_id")?,
        granted: granted.map(|g| g != 0),
        reason: col(row, "reason")?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::Corrupt(format!("event details: {e}")))?,
        prev_hash: col(row, "prev_hash")?,
        hash: col(row, "hash")?,
    })
}

/// Filters of `list_events`; times are inclusive-exclusive `[from, to)`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub door_id: Option<String>,
    pub subject_id: Option<String>,
    pub kind: Option<String>,
    pub from_ms: Option<Millis>,
    pub to_ms: Option<Millis>,
    pub limit: u32,
    pub offset: u64,
}

/// How many events of one kind name a subject (as the person or the patient), and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCount {
    pub kind: EventKind,
    pub count: i64,
    pub first_ms: Millis,
    pub last_ms: Millis,
}

impl Store {
    /// The events that name `subject_id`, counted by kind (for the subject access report:
    /// what the audit log holds about a person, without reading it all out).
    pub async fn subject_event_counts(&self, subject_id: &str) -> StoreResult<Vec<EventCount>> {
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) AS n, MIN(ts_ms) AS first_ms, MAX(ts_ms) AS last_ms \
             FROM events WHERE subject_id = ? OR patient_id = ? GROUP BY kind ORDER BY kind",
        )
        .bind(subject_id)
        .bind(subject_id)
        .fetch_all(&self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = col(r, "kind")?;
                Ok(EventCount {
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind}")))?,
                    count: col(r, "n")?,
                    first_ms: col(r, "first_ms")?,
                    last_ms: col(r, "last_ms")?,
                })
            })
            .collect()
    }

    /// Appends a batch in one transaction. An event already stored (same id) is skipped, so a
    /// spool replayed after a crash between insert and spool truncation does not duplicate.
    pub async fn append_events(&self, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for e in events {
            let dup = sqlx::query("SELECT id FROM events WHERE id = ?")
                .bind(e.id.clone())
                .fetch_optional(&mut *tx)
                .await?;
            if dup.is_none() {
                insert_event(&mut tx, e).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Newest first, with the total matching the filter.
    pub async fn list_events(&self, f: &EventFilter) -> StoreResult<(Vec<Event>, i64)> {
        let mut filter = Filter::default();
        if let Some(d) = &f.door_id {
            filter.and("door_id = ?", [Bind::Text(d.clone())]);
        }
        if let Some(s) = &f.subject_id {
            filter.and(
                "(subject_id = ? OR patient_id = ?)",
                [Bind::Text(s.clone()), Bind::Text(s.clone())],
            );
        }
        if let Some(k) = &f.kind {
            filter.and("kind = ?", [Bind::Text(k.clone())]);
        }
        if let Some(from) = f.from_ms {
            filter.and("ts_ms >= ?", [Bind::Int(from)]);
        }
        if let Some(to) = f.to_ms {
            filter.and("ts_ms < ?", [Bind::Int(to)]);
        }
        self.page(
            "events",
            EVENT_COLS,
            &filter,
            "ts_ms DESC, node, seq DESC",
            (f.limit, f.offset),
            event_from_row,
        )
        .await
    }

    pub async fn get_event(&self, id: &str) -> StoreResult<Event> {
        let sql = format!("SELECT {EVENT_COLS} FROM events WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool())
            .await?
            .ok_or(StoreError::NotFound { entity: "event" })?;
        event_from_row(&row)
    }

    /// The newest event of a node's chain.
    pub async fn last_event(&self, node: &str) -> StoreResult<Option<Event>> {
        let sql =
            format!("SELECT {EVENT_COLS} FROM events WHERE node = ? ORDER BY seq DESC LIMIT 1");
        let row = sqlx::query(&sql)
            .bind(node)
            .fetch_optional(&self.pool())
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// A node's chain in order, `limit` events after `after_seq` (for verification).
    pub async fn chain_page(
        &self,
        node: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events WHERE node = ? AND seq > ? ORDER BY seq LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(node)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool())
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Seals `draft` as the next event of `node`'s chain and stores it at once: for a tool run
    /// from the command line (`wardgate keys rotate`), which has no journal of its own. Such a
    /// tool writes under its own node name, so the service's chain is never written by two
    /// processes; two runs at the same moment collide on the chain's unique (node, seq) and
    /// the second is refused rather than forking the chain.
    pub async fn record_direct(
        &self,
        node: &str,
        draft: crate::audit::EventDraft,
    ) -> StoreResult<Event> {
        let mut tx = self.begin_write().await?;
        let e = record_in(&mut tx, node, draft, self.now()).await?;
        tx.commit().await?;
        Ok(e)
    }

    /// Events whose reason is one of `reasons` within `[from, to)`, oldest first, at most
    /// `limit` (for reports that follow one kind of episode, e.g. break-glass).
    pub async fn events_with_reasons(
        &self,
        reasons: &[&str],
        from_ms: Millis,
        to_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let marks = vec!["?"; reasons.len()].join(", ");
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events WHERE reason IN ({marks}) AND ts_ms >= ? AND ts_ms < ? \
             ORDER BY ts_ms, node, seq LIMIT ?"
        );
        let mut q = sqlx::query(&sql);
        for r in reasons {
            q = q.bind(*r);
        }
        let rows = q
            .bind(from_ms)
            .bind(to_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool())
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The nodes that have events.
    pub async fn event_nodes(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT node FROM events ORDER BY node")
            .fetch_all(&self.pool())
            .await?;
        rows.iter().map(|r| col(r, "node")).collect()
    }
}

/// Inserts one sealed event inside a caller's transaction.
async fn insert_event(tx: &mut sqlx::Transaction<'_, sqlx::Any>, e: &Event) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO events (id, node, seq, ts_ms, kind, door_id, subject_id, patient_id, \
         granted, reason, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id.clone())
    .bind(e.node.clone())
    .bind(e.seq)
    .bind(e.ts_ms)
    .bind(e.kind.as_str())
    .bind(e.door_id.clone())
    .bind(e.subject_id.clone())
    .bind(e.patient_id.clone())
    .bind(e.granted.map(i64::from))
    .bind(e.reason.clone())
    .bind(e.details.to_string())
    .bind(e.prev_hash.clone())
    .bind(e.hash.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Seals `draft` as the next event of `node`'s chain inside a caller's transaction, so the
/// event is stored if and only if the change it records is ([`Store::record_direct`]).
pub(crate) async fn record_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    node: &str,
    draft: crate::audit::EventDraft,
    now: Millis,
) -> StoreResult<Event> {
    let sql = format!("SELECT {EVENT_COLS} FROM events WHERE node = ? ORDER BY seq DESC LIMIT 1");
    let last = sqlx::query(&sql)
        .bind(node)
        .fetch_optional(&mut **tx)
        .await?;
    let mut chain = match last.as_ref().map(event_from_row).transpose()? {
        Some(last) => crate::audit::Chain::after(&last),
        None => crate::audit::Chain::new(node),
    };
    let e = chain.seal(draft, now);
    insert_event(tx, &e).await?;
    Ok(e)
}

//! The change feed's store side: every write to subjects, faces, doors, grants and tokens bumps
//! a version row in the same transaction, so the change and its announcement commit together
//! (or not at all). Controllers compare the rows with what they last applied
//! (`crate::change_feed`); the design and its Galera reasoning are in
//! `docs/decisions/0004-change-feed.md`.

use std::collections::BTreeMap;

use super::{col, Backend, Store, StoreResult};
use crate::model::Millis;

/// What a write changed, as far as the in-memory caches are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    Subjects,
    Faces,
    Doors,
    Grants,
    Tokens,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 5] = [
        ChangeKind::Subjects,
        ChangeKind::Faces,
        ChangeKind::Doors,
        ChangeKind::Grants,
        ChangeKind::Tokens,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Subjects => "subjects",
            ChangeKind::Faces => "faces",
            ChangeKind::Doors => "doors",
            ChangeKind::Grants => "grants",
            ChangeKind::Tokens => "tokens",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Every (writer, kind) row and its version: the whole state of the feed. Rows of kinds this
/// build does not know are ignored.
pub type ChangeVersions = BTreeMap<(String, ChangeKind), i64>;

/// Bumps this writer's rows for `kinds` inside `tx`.
pub(crate) async fn bump(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    writer: &str,
    kinds: &[ChangeKind],
    now: Millis,
) -> StoreResult<()> {
    // An upsert: the first write of a writer creates its row. The two backends spell it
    // differently; everything else in the store is one query set.
    let sql = match backend {
        Backend::MySql => {
            "INSERT INTO change_versions (writer, kind, version, updated_ms) VALUES (?, ?, 1, ?) \
             ON DUPLICATE KEY UPDATE version = version + 1, updated_ms = VALUES(updated_ms)"
        }
        Backend::Sqlite => {
            "INSERT INTO change_versions (writer, kind, version, updated_ms) VALUES (?, ?, 1, ?) \
             ON CONFLICT (writer, kind) DO UPDATE SET version = version + 1, \
             updated_ms = excluded.updated_ms"
        }
    };
    for kind in kinds {
        sqlx::query(sql)
            .bind(writer)
            .bind(kind.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Bumps `kinds` in the open transaction `tx` (this store's writer).
    pub(crate) async fn bump(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        kinds: &[ChangeKind],
    ) -> StoreResult<()> {
        bump(tx, self.backend, &self.writer, kinds, self.now()).await?;
        self.local_changes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }

    /// The whole feed: one small table (writers × 5 rows), read in one round trip.
    pub async fn change_versions(&self) -> StoreResult<ChangeVersions> {
        let rows = sqlx::query("SELECT writer, kind, version FROM change_versions")
            .fetch_all(&self.pool())
            .await?;
        let mut out = ChangeVersions::new();
        for row in &rows {
            let kind: String = col(row, "kind")?;
            if let Some(kind) = ChangeKind::parse(&kind) {
                out.insert((col(row, "writer")?, kind), col(row, "version")?);
            }
        }
        Ok(out)
    }
}

/// The kinds whose rows differ between two reads of the feed (a row that appeared counts).
pub fn changed_kinds(
    before: &ChangeVersions,
    after: &ChangeVersions,
) -> std::collections::BTreeSet<ChangeKind> {
    let mut out = std::collections::BTreeSet::new();
    for (key, v) in after {
        if before.get(key) != Some(v) {
            out.insert(key.1);
        }
    }
    for key in before.keys() {
        if !after.contains_key(key) {
            out.insert(key.1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("events"), None);
    }

    #[test]
    fn changed_kinds_compares_every_row() {
        let mut a = ChangeVersions::new();
        a.insert(("n1".into(), ChangeKind::Grants), 3);
        a.insert(("n2".into(), ChangeKind::Grants), 7);
        a.insert(("n2".into(), ChangeKind::Tokens), 1);
        let mut b = a.clone();
        assert!(changed_kinds(&a, &b).is_empty());
        // Another writer's row moves while ours stands still: still a change.
        b.insert(("n2".into(), ChangeKind::Grants), 8);
        b.insert(("n3".into(), ChangeKind::Faces), 1);
        let got: Vec<_> = changed_kinds(&a, &b).into_iter().collect();
        assert_eq!(got, vec![ChangeKind::Faces, ChangeKind::Grants]);
        b.remove(&("n2".into(), ChangeKind::Tokens));
        assert!(changed_kinds(&a, &b).contains(&ChangeKind::Tokens));
    }
}

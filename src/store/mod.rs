//! Repository over sqlx: one query set for MySQL/MariaDB and SQLite.
//!
//! Why the `Any` driver: both backends accept `?` placeholders and the schema sticks to types
//! the `Any` driver maps on both (i64, text, blob), so every query is written once and the
//! same test suite runs against both. Migrations differ only in DDL and live in
//! `migrations/<backend>/`, embedded into the binary.
//!
//! Every multi-row write runs in one transaction: no partial writes.

mod doors;
mod events;
mod faces;
mod grants;
mod sqlite_path;
mod subjects;
mod sync;
mod tokens;
mod users;

use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;

pub use events::EventFilter;
pub use faces::StoredTemplate;
pub use grants::GrantFilter;
pub use subjects::{SubjectFilter, SubjectPatch};
pub use sync::{GrantSnapshotEntry, SubjectSnapshotEntry, SyncOutcome};
pub use users::ConsoleUser;

use crate::config::DatabaseConfig;

/// Which SQL server is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

/// What went wrong in the store, in terms the API can map to status codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("`{field}` already exists: {message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error("invalid `{field}`: {message}")]
    Invalid { field: String, message: String },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// True when the database could not be reached (as opposed to a refused statement).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
            )
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database behind Wardgate.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static DRIVERS: Once = Once::new();

impl Store {
    /// Connects, creating a missing SQLite file (see [`sqlite_path`]).
    pub async fn connect(cfg: &DatabaseConfig) -> StoreResult<Self> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if cfg.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::MySql
        };
        let url = match backend {
            Backend::Sqlite => sqlite_path::prepare(&cfg.url)?,
            Backend::MySql => cfg.url.replacen("mariadb:", "mysql:", 1),
        };
        let mut opts = AnyPoolOptions::new()
            .max_connections(cfg.max_connections)
            .acquire_timeout(Duration::from_secs(cfg.connect_timeout_secs));
        if backend == Backend::MySql {
            // Sessions in UTC and strict mode: no silent truncation of oversize values.
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            });
        } else {
            // One writer at a time is SQLite's nature; a busy wait beats "database is locked".
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = opts.connect(&url).await?;
        if backend == Backend::Sqlite {
            // WAL lets the API read while the event writer appends.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self { pool, backend })
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::MySql => sqlx::migrate!("migrations/mysql").run(&self.pool).await?,
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first and writes later fails with
    /// "database is locked" when another writer committed in between, and no busy timeout helps.
    pub(crate) async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::MySql => self.pool.begin().await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A bind value of a dynamically built filter.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// A `WHERE` clause under construction: each condition with its binds, in order.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    /// Adds a condition; its `?` placeholders take `binds` in order.
    pub(crate) fn and(&mut self, clause: &str, binds: impl IntoIterator<Item = Bind>) {
        self.clauses.push(clause.to_owned());
        self.binds.extend(binds);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn bind_to<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for b in &self.binds {
            q = match b {
                Bind::Text(t) => q.bind(t.as_str()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

impl Store {
    /// One page of `SELECT cols FROM table [WHERE …] ORDER BY order LIMIT … OFFSET …` and the
    /// total number of rows matching the filter (for list endpoints).
    pub(crate) async fn page<T>(
        &self,
        table: &str,
        cols: &str,
        filter: &Filter,
        order: &str,
        (limit, offset): (u32, u64),
        map: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<(Vec<T>, i64)> {
        let wh = filter.sql();
        let count_sql = format!("SELECT COUNT(*) AS n FROM {table}{wh}");
        let total: i64 = col(
            &filter
                .bind_to(sqlx::query(&count_sql))
                .fetch_one(&self.pool)
                .await?,
            "n",
        )?;
        let sql = format!("SELECT {cols} FROM {table}{wh} ORDER BY {order} LIMIT ? OFFSET ?");
        let rows = filter
            .bind_to(sqlx::query(&sql))
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(map).collect::<StoreResult<_>>()?;
        Ok((items, total))
    }
}

/// Reads a column, turning a decode failure into [`StoreError::Corrupt`] naming it.
pub(crate) fn col<T>(row: &AnyRow, name: &str) -> StoreResult<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get::<T, _>(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// Encodes an embedding as little-endian f32 bytes.
pub fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes little-endian f32 bytes; `None` if the length does not match `dim`.
pub fn decode_vector(bytes: &[u8], dim: usize) -> Option<Vec<f32>> {
    if bytes.len() != dim * 4 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_round_trip() {
        let v = vec![0.5f32, -1.25, 3.0e-7, f32::MIN_POSITIVE];
        let b = encode_vector(&v);
        assert_eq!(b.len(), 16);
        assert_eq!(decode_vector(&b, 4).unwrap(), v);
        assert!(decode_vector(&b, 3).is_none());
    }
}

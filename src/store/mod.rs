//! Repository over sqlx: one query set for MySQL/MariaDB and SQLite.
//!
//! Why the `Any` driver: both backends accept `?` placeholders and the schema sticks to types
//! the `Any` driver maps on both (i64, text, blob), so every query is written once and the
//! same test suite runs against both. Migrations differ only in DDL and live in
//! `migrations/<backend>/`, embedded into the binary.
//!
//! Every multi-row write runs in one transaction: no partial writes.

mod changes;
mod config;
mod consents;
mod doors;
mod events;
mod faces;
mod grants;
mod hosts;
mod retention;
mod sqlite_path;
mod subjects;
mod sync;
mod template_keys;
mod tokens;
mod users;

use std::sync::{Arc, Once, RwLock};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;

pub use changes::{changed_kinds, ChangeKind, ChangeVersions};
pub use config::{redact_url, DatabaseConfig};
pub use events::EventFilter;
pub use faces::StoredTemplate;
pub use grants::GrantFilter;
pub use hosts::split_hosts;
pub use retention::{
    purge_rule, ChainCheck, Checkpoint, DueTemplates, PrunePlan, PurgeRule, RetentionFacts,
};
pub use subjects::{Erasure, SubjectFilter, SubjectPatch};
pub use sync::{GrantSnapshotEntry, SubjectSnapshotEntry, SyncOutcome};
pub use template_keys::{KeyCount, RotateReport};
pub use users::ConsoleUser;

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
    #[error(transparent)]
    Keys(#[from] crate::privacy::KeyError),
    #[error(
        "no consent to face recognition stands for subject {subject_id}: record it first \
         (PUT /api/v1/subjects/{subject_id}/consent, `wardgate consent record`)"
    )]
    ConsentRequired { subject_id: String },
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
    pools: Arc<Pools>,
    backend: Backend,
    /// Whose rows of the change feed this store's writes bump (`events.node`; see
    /// [`Store::with_writer`]).
    writer: Arc<str>,
    /// Change-feed bumps made through this process (see `crate::change_feed`).
    local_changes: Arc<std::sync::atomic::AtomicU64>,
    /// Where the timestamps of the rows it writes come from ([`Store::with_clock`]).
    clock: crate::clock::SharedClock,
    /// What seals and opens face templates ([`Store::with_template_keys`]); a store without
    /// keys (the token and audit tools) refuses to read or write one.
    keys: Option<Arc<crate::privacy::TemplateKeys>>,
    /// Whether enrolment needs a standing consent record ([`Store::with_consent_required`]).
    consent_required: bool,
}

/// The pool in use and the hosts it may move to.
#[derive(Debug)]
struct Pools {
    /// One URL per configured host, in the configured order.
    urls: Vec<String>,
    max_connections: u32,
    connect_timeout: Duration,
    /// (index into `urls`, its pool).
    current: RwLock<(usize, AnyPool)>,
    /// Serialises failovers: one caller switches, the others see the result.
    switching: tokio::sync::Mutex<()>,
}

static DRIVERS: Once = Once::new();

/// The change-feed writer of a store nobody named (tools, tests).
pub const DEFAULT_WRITER: &str = "local";

impl Store {
    /// Connects, creating a missing SQLite file (see [`sqlite_path`]). A MySQL URL may name
    /// several hosts (`mysql://u:p@db1,db2:3307,db3/wardgate`): the first that answers is
    /// used.
    pub async fn connect(cfg: &DatabaseConfig) -> StoreResult<Self> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if cfg.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::MySql
        };
        let urls: Vec<String> = match backend {
            Backend::Sqlite => vec![sqlite_path::prepare(&cfg.url)?],
            Backend::MySql => split_hosts(&cfg.url)
                .into_iter()
                .map(|u| u.replacen("mariadb:", "mysql:", 1))
                .collect(),
        };
        let timeout = Duration::from_secs(cfg.connect_timeout_secs);
        let mut last_err = None;
        for (i, url) in urls.iter().enumerate() {
            match open_pool(url, backend, cfg.max_connections, timeout).await {
                Ok(pool) => {
                    if i > 0 {
                        log::warn!(
                            "database host {} unreachable; using host {} of {}",
                            crate::store::redact_url(&urls[0]),
                            i + 1,
                            urls.len()
                        );
                    }
                    return Ok(Self {
                        pools: Arc::new(Pools {
                            max_connections: cfg.max_connections,
                            connect_timeout: timeout,
                            current: RwLock::new((i, pool)),
                            switching: tokio::sync::Mutex::new(()),
                            urls,
                        }),
                        backend,
                        writer: Arc::from(DEFAULT_WRITER),
                        local_changes: Arc::default(),
                        clock: crate::clock::system(),
                        keys: None,
                        consent_required: false,
                    });
                }
                Err(e) => {
                    if urls.len() > 1 {
                        log::warn!("database host {}: {e}", crate::store::redact_url(url));
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or(StoreError::Corrupt("database.url names no host".into())))
    }

    /// The same store, announcing its writes in the change feed as `writer` (the controller's
    /// `events.node`). Each writer bumps only its own rows, so controllers on different Galera
    /// nodes never write the same row.
    #[must_use]
    pub fn with_writer(mut self, writer: &str) -> Self {
        self.writer = Arc::from(writer);
        self
    }

    /// Stamps the rows this store writes (created, updated, revoked, the change feed) with
    /// `clock` instead of the system clock: the controller's one clock, a test's hand-moved one.
    pub fn with_clock(mut self, clock: crate::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The same store, sealing the face templates it writes and opening those it reads with
    /// `keys` (docs/privacy.md).
    #[must_use]
    pub fn with_template_keys(mut self, keys: Arc<crate::privacy::TemplateKeys>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The same store, refusing to enrol a person without a standing consent record
    /// (`privacy.require_consent`).
    #[must_use]
    pub fn with_consent_required(mut self, required: bool) -> Self {
        self.consent_required = required;
        self
    }

    /// Fails fast with [`StoreError::ConsentRequired`] when enrolment of `subject_id` would be
    /// refused (before a photo is decoded or a camera frame taken); the enrolment's own
    /// transaction checks again.
    pub async fn check_consent(&self, subject_id: &str) -> StoreResult<()> {
        if !self.consent_required {
            return Ok(());
        }
        match self.consent(subject_id).await? {
            Some(c) if c.stands() => Ok(()),
            _ => Err(StoreError::ConsentRequired {
                subject_id: subject_id.to_owned(),
            }),
        }
    }

    /// The template keys, or the error saying where they come from.
    pub(crate) fn template_keys(&self) -> StoreResult<&crate::privacy::TemplateKeys> {
        self.keys
            .as_deref()
            .ok_or(StoreError::Keys(crate::privacy::KeyError::Missing))
    }

    /// The template keys for the database `db`, from the first source that has them:
    /// the systemd credential, `privacy.key_file`, or (SQLite) the file beside the database,
    /// created at first start.
    pub fn resolve_template_keys(
        db: &DatabaseConfig,
        privacy: &crate::privacy::PrivacyConfig,
    ) -> Result<crate::privacy::TemplateKeys, crate::privacy::KeyError> {
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
        let sqlite = db.url.starts_with("sqlite:");
        let file = if sqlite {
            sqlite_path::file_of(&db.url)
        } else {
            None
        };
        crate::privacy::TemplateKeys::resolve(
            privacy.key_file.as_deref(),
            credentials.as_deref(),
            file.as_deref(),
            sqlite && file.is_none(),
        )
    }

    /// Connects, migrates and takes the template keys: the store every tool that reads or
    /// writes faces uses. Stored templates under a key it lacks stop it here, with nothing
    /// changed; templates left in the clear by an older version are sealed now.
    pub async fn open(
        db: &DatabaseConfig,
        privacy: &crate::privacy::PrivacyConfig,
    ) -> StoreResult<Self> {
        let keys = Self::resolve_template_keys(db, privacy)?;
        let store = Self::connect(db).await?;
        store.migrate().await?;
        let store = store
            .with_template_keys(Arc::new(keys))
            .with_consent_required(privacy.require_consent);
        store.prepare_templates().await?;
        Ok(store)
    }

    /// Now, by this store's clock.
    pub(crate) fn now(&self) -> crate::model::Millis {
        self.clock.now_ms()
    }

    /// How many change-feed bumps writes through this process have made (committed or not):
    /// a request whose count moved has written.
    pub fn local_changes(&self) -> u64 {
        self.local_changes
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The pool in use (cheap: a pool is a handle).
    fn pool(&self) -> AnyPool {
        self.pools
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone()
    }

    /// Which configured host is in use (0-based) and how many there are.
    pub fn host_in_use(&self) -> (usize, usize) {
        let i = self
            .pools
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
        (i, self.pools.urls.len())
    }

    /// After the host in use stopped answering: moves to the first other configured host that
    /// answers, in the configured order. Returns whether it switched. With one host it does
    /// nothing (the pool reconnects by itself when the server returns).
    pub async fn failover(&self) -> bool {
        let p = &self.pools;
        if p.urls.len() < 2 {
            return false;
        }
        let _g = p.switching.lock().await;
        let (cur, pool) = {
            let c = p
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (c.0, c.1.clone())
        };
        // Another caller may have switched already, or the host may be back.
        if tokio::time::timeout(p.connect_timeout, sqlx::query("SELECT 1").execute(&pool))
            .await
            .is_ok_and(|r| r.is_ok())
        {
            return false;
        }
        for (i, url) in p.urls.iter().enumerate() {
            if i == cur {
                continue;
            }
            match open_pool(url, self.backend, p.max_connections, p.connect_timeout).await {
                Ok(new) => {
                    *p.current
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = (i, new);
                    log::warn!(
                        "database host {} stopped answering; failed over to {}",
                        crate::store::redact_url(&p.urls[cur]),
                        crate::store::redact_url(url)
                    );
                    tokio::spawn(async move { pool.close().await });
                    return true;
                }
                Err(e) => log::debug!("failover candidate {}: {e}", crate::store::redact_url(url)),
            }
        }
        false
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("migrations/sqlite")
                    .run(&self.pool())
                    .await?
            }
            Backend::MySql => sqlx::migrate!("migrations/mysql").run(&self.pool()).await?,
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first and writes later fails with
    /// "database is locked" when another writer committed in between, and no busy timeout helps.
    pub(crate) async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool().begin_with("BEGIN IMMEDIATE").await?,
            Backend::MySql => self.pool().begin().await?,
        })
    }

    /// Leaves no copy of deleted or rewritten rows in the database's own files: on SQLite the
    /// write-ahead log is folded into the file (whose freed pages `secure_delete` zeroed) and
    /// truncated; on MySQL `tables` (a comma-separated list) are rebuilt, so InnoDB keeps no
    /// old row versions in its pages.
    pub(crate) async fn scrub_files(&self, tables: &str) -> Result<(), String> {
        use sqlx::Row;
        match self.backend {
            Backend::MySql => {
                sqlx::query(&format!("OPTIMIZE TABLE {tables}"))
                    .execute(&self.pool())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
            Backend::Sqlite => {
                // A checkpoint that a reader holds back answers busy = 1 rather than failing:
                // the change feed reads every second, so a few tries find a gap.
                for _ in 0..40 {
                    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&self.pool())
                        .await
                        .map_err(|e| e.to_string())?;
                    let busy: i64 = row.try_get(0).map_err(|e| e.to_string())?;
                    if busy == 0 {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(
                    "the write-ahead log stayed busy; it is folded in at the next checkpoint"
                        .into(),
                )
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool()).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool().close().await;
    }
}

/// One pool on one host, with the session settings every connection needs.
async fn open_pool(
    url: &str,
    backend: Backend,
    max_connections: u32,
    timeout: Duration,
) -> StoreResult<AnyPool> {
    let mut opts = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout);
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
                // A deleted or re-sealed row is overwritten, not left in a free page of the
                // file: an erased person's template must not linger on the SD card.
                sqlx::query("PRAGMA secure_delete = ON")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        });
    }
    let pool = opts.connect(url).await?;
    if backend == Backend::Sqlite {
        // WAL lets the API read while the event writer appends.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
    }
    Ok(pool)
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
                .fetch_one(&self.pool())
                .await?,
            "n",
        )?;
        let sql = format!("SELECT {cols} FROM {table}{wh} ORDER BY {order} LIMIT ? OFFSET ?");
        let rows = filter
            .bind_to(sqlx::query(&sql))
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool())
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

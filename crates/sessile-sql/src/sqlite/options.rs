//! The options of a [`SqliteStore`], and the connection setup every SQLite layout uses
//! (sessile's table and the Sequelize tables): [`connect_pool`].

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::error::is_locked;
use super::{migrate, SqliteStore};
use crate::error::Error;
use crate::names::TableNames;
use crate::options::{shared_options, SharedOptions};

/// The sessions table unless [`SqliteStoreOptions::table`] says otherwise.
pub(super) const DEFAULT_TABLE: &str = "sessile_sessions";

/// How a [`SqliteStore`] opens its database: pool size, the timeouts that bound how long an
/// operation waits before it fails with [`StoreError::Unavailable`](sessile::StoreError::Unavailable), the table and whether to
/// migrate at startup. The same names as every sessile store's options.
///
/// - `max_connections` (default 8): SQLite has one writer at a time, which gets a connection
///   of its own besides (taken out of the pool when first needed and no longer counted), so
///   more connections only help concurrent readers;
/// - `acquire_timeout` (default 5 s): the wait for a free connection, and for a write also
///   its turn behind the store's other writes;
/// - `busy_timeout` (default 5 s): SQLite's own wait for another connection's write lock (other
///   processes, the application's own writes). SQLite has no statement timeout, so there is no
///   `statement_timeout` option;
/// - `table` (default `sessile_sessions`, at most 47 bytes); its versions go to
///   `<table>_schema_versions`;
/// - `migrate_on_connect` (default on); [`SqliteStoreOptions::migration_sql`] gives the SQL to
///   teams that run migrations with their own tool.
///
/// ```
/// use std::time::Duration;
/// use sessile_sql::SqliteStoreOptions;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("sessile-options-{}.db", std::process::id()));
/// let store = SqliteStoreOptions::new()
///     .max_connections(4)
///     .acquire_timeout(Duration::from_secs(2))
///     .table("web_sessions")
///     .open(&path)
///     .await?;
/// assert_eq!(store.pool().options().get_max_connections(), 4);
/// # store.pool().close().await;
/// # for suffix in ["", "-wal", "-shm"] {
/// #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
/// # }
/// # Ok::<(), sessile_sql::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct SqliteStoreOptions {
    shared: SharedOptions,
    busy_timeout: Duration,
}

impl Default for SqliteStoreOptions {
    /// See the list above: five seconds both to get a connection and to wait for the write
    /// lock is long enough to ride out a burst of writes, short enough that a wedged database
    /// turns into 503s rather than hung requests.
    fn default() -> Self {
        let mut shared = SharedOptions::new(DEFAULT_TABLE, true);
        shared.max_connections = 8;
        shared.statement_timeout = None;
        Self {
            shared,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteStoreOptions {
    /// The defaults (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    shared_options!();

    /// How long a statement waits for another connection's write lock (SQLite's busy timeout)
    /// before failing as unavailable.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The SQL that creates or upgrades the sessions table, for teams that run migrations with
    /// their own tool (then turn [`migrate_on_connect`](Self::migrate_on_connect) off). It is
    /// what [`SqliteStore::migrate`] runs, without its bookkeeping; every statement is
    /// idempotent (`IF NOT EXISTS`), so a later `migrate` finds the table in place and only
    /// records the version. The unrendered files are under `migrations/sqlite/` in the crate's
    /// source.
    ///
    /// ```
    /// use sessile_sql::SqliteStoreOptions;
    ///
    /// let sql = SqliteStoreOptions::new().table("web_sessions").migration_sql()?;
    /// assert!(sql.contains(r#"CREATE TABLE IF NOT EXISTS "web_sessions""#));
    /// # Ok::<(), sessile_sql::Error>(())
    /// ```
    pub fn migration_sql(&self) -> Result<String, Error> {
        Ok(migrate::migration_sql(&TableNames::new(
            None,
            &self.shared.table,
        )?))
    }

    /// Opens (creating it if missing) the database file at `path` and brings its schema up to
    /// date.
    ///
    /// Every connection uses WAL (readers never wait for the writer), `synchronous=NORMAL`
    /// (durable across application crashes; a power loss can lose the last commits but never
    /// corrupts the file), foreign keys and the busy timeout.
    pub async fn open(self, path: impl AsRef<Path>) -> Result<SqliteStore, Error> {
        let names = TableNames::new(None, &self.shared.table)?;
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(self.busy_timeout);
        let pool = connect_pool(connect, &self.shared, self.busy_timeout).await?;
        self.finish(pool, names).await
    }

    /// A store on a pool the application configured itself (see [`SqliteStore::from_pool`]),
    /// with these options' table and migration setting (the pool settings here are ignored).
    pub async fn from_pool(self, pool: SqlitePool) -> Result<SqliteStore, Error> {
        let names = TableNames::new(None, &self.shared.table)?;
        self.finish(pool, names).await
    }

    async fn finish(self, pool: SqlitePool, names: TableNames) -> Result<SqliteStore, Error> {
        let store = SqliteStore::new(pool, names);
        if self.shared.migrate_on_connect {
            store.migrate().await?;
        }
        Ok(store)
    }
}

/// The pool of every SQLite layout (sessile's table and the Sequelize tables) on the file
/// `connect` names: the pool size and acquire timeout, no test on checkout (for a local file it
/// finds nothing), retrying for up to the busy timeout while the file is locked.
///
/// Switching a new file to WAL takes an exclusive lock, and there SQLite reports a conflict
/// at once instead of waiting out the busy timeout (two connections that both hold a shared
/// lock would otherwise wait for each other forever). Processes that open the same new file
/// together hit it; once the file is in WAL mode, later connections never need that lock.
pub(crate) async fn connect_pool(
    connect: SqliteConnectOptions,
    shared: &SharedOptions,
    busy_timeout: Duration,
) -> Result<SqlitePool, Error> {
    let give_up = Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        let connected = SqlitePoolOptions::new()
            .max_connections(shared.max_connections)
            .acquire_timeout(shared.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await;
        match connected {
            Ok(pool) => return Ok(pool),
            Err(sqlx::Error::Database(error))
                if is_locked(error.as_ref()) && Instant::now() < give_up =>
            {
                tracing::debug!(%error, "session database locked while opening; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(error) => return Err(Error::Connect(error)),
        }
    }
}

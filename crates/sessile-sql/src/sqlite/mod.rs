//! The SQLite store: one file, WAL, every operation one statement or one `BEGIN IMMEDIATE`
//! transaction.

mod delta;
mod migrate;

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, SessionSummary, Store,
    StoreError, StoreKey, Timestamp, Touch, UpdateOutcome,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{SqlitePool, Transaction};

use self::delta::SQLITE_JSON;
use crate::codec::{
    bind_new_record, decode_data, decode_summaries, encode_data, update_outcome, upsert_outcome,
    SessionRow,
};
use crate::delta::{apply_data_changes, bind_all, increment_field, touch_only, DataSource};
use crate::error::{store_error, Error};

/// The sessions table.
const TABLE: &str = "sessile_sessions";

/// Writers start with this so they hold the write lock from their first read. A deferred
/// `BEGIN` that reads and then writes fails with `SQLITE_BUSY` when another writer committed in
/// between, and the busy timeout does not retry that case.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// How a [`SqliteStore`] opens its database: pool size and the timeouts that bound how long an
/// operation waits before it fails with [`StoreError::Unavailable`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use sessile_sql::SqliteStoreOptions;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("sessile-options-{}.db", std::process::id()));
/// let store = SqliteStoreOptions::new()
///     .max_connections(4)
///     .acquire_timeout(Duration::from_secs(2))
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
    max_connections: u32,
    acquire_timeout: Duration,
    busy_timeout: Duration,
}

impl Default for SqliteStoreOptions {
    /// Eight connections (SQLite has one writer at a time; more connections only help
    /// concurrent readers), and five seconds both to get a connection and to wait for the write
    /// lock: long enough to ride out a burst of writes, short enough that a wedged database
    /// turns into 503s rather than hung requests.
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteStoreOptions {
    /// The defaults (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The most connections the pool opens (at least 1).
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections.max(1);
        self
    }

    /// How long an operation waits for a free connection before failing as unavailable.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long a statement waits for another connection's write lock (SQLite's busy timeout)
    /// before failing as unavailable.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Opens (creating it if missing) the database file at `path` and brings its schema up to
    /// date.
    ///
    /// Every connection uses WAL (readers never wait for the writer), `synchronous=NORMAL`
    /// (durable across application crashes; a power loss can lose the last commits but never
    /// corrupts the file), foreign keys and the busy timeout.
    pub async fn open(self, path: impl AsRef<Path>) -> Result<SqliteStore, Error> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(self.busy_timeout);
        let pool = self.connect_pool(connect).await?;
        let store = SqliteStore::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// Connects the pool, retrying for up to the busy timeout while the file is locked.
    ///
    /// Switching a new file to WAL takes an exclusive lock, and there SQLite reports a conflict
    /// at once instead of waiting out the busy timeout (two connections that both hold a shared
    /// lock would otherwise wait for each other forever). Processes that open the same new file
    /// together hit it; once the file is in WAL mode, later connections never need that lock.
    async fn connect_pool(&self, connect: SqliteConnectOptions) -> Result<SqlitePool, Error> {
        let give_up = Instant::now() + self.busy_timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let connected = SqlitePoolOptions::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.acquire_timeout)
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
}

/// Sessions in a SQLite database file.
///
/// The table `sessile_sessions` holds one row per session under its 32-byte store key, the data
/// as a JSON object, the user for the per-user index, the times as Unix milliseconds and
/// `expires_at`, the earlier of the two deadlines, which every write keeps and every query
/// filters on (indexed, as is `user_id`). Schema versions are recorded in
/// `sessile_schema_versions`.
///
/// Each [`Store`] method is one statement, or one transaction begun with `BEGIN IMMEDIATE` so
/// that concurrent writers queue on SQLite's write lock (within the busy timeout) instead of
/// failing with "database is locked". A transaction that fails or is cancelled is rolled back
/// before its connection is reused.
///
/// ```
/// use sessile_sql::SqliteStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("sessile-store-{}.db", std::process::id()));
/// let store = SqliteStore::open(&path).await?;
/// // Opening again (another process, a restart) finds the schema in place.
/// let again = SqliteStore::open(&path).await?;
/// # store.pool().close().await;
/// # again.pool().close().await;
/// # for suffix in ["", "-wal", "-shm"] {
/// #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
/// # }
/// # Ok::<(), sessile_sql::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database file at `path` with the default
    /// [`SqliteStoreOptions`], and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        SqliteStoreOptions::default().open(path).await
    }

    /// Options for [`SqliteStoreOptions::open`]: pool size and timeouts.
    pub fn options() -> SqliteStoreOptions {
        SqliteStoreOptions::default()
    }

    /// A store on a pool the application configured itself. Call [`SqliteStore::migrate`]
    /// before use.
    ///
    /// Configure the pool's connections as [`SqliteStoreOptions::open`] does: WAL journal mode
    /// and a busy timeout at least (sqlx's default is five seconds), or concurrent writers may
    /// fail with "database is locked". An in-memory database needs a pool of one connection
    /// (or a shared cache), since each connection to `:memory:` is a database of its own.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Creates or upgrades the tables. Safe to run on every start, from several processes at
    /// once.
    pub async fn migrate(&self) -> Result<(), Error> {
        migrate::run(&self.pool).await
    }

    /// The connection pool, for the application's own queries or to close it on shutdown.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(to_store_error)
    }
}

/// SQLite errors that mean the database cannot serve requests right now, rather than that it
/// rejected this one: still locked after the busy timeout, I/O failure, file not openable,
/// disk full.
fn sqlite_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        primary_code(error),
        Some(SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN)
    )
}

/// Whether another connection holds a lock this one needs.
fn is_locked(error: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(primary_code(error), Some(SQLITE_BUSY | SQLITE_LOCKED))
}

const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

/// The primary result code: sqlx reports SQLite's extended code, whose low byte it is.
fn primary_code(error: &dyn sqlx::error::DatabaseError) -> Option<i32> {
    let code: i32 = error.code()?.parse().ok()?;
    Some(code & 0xff)
}

fn to_store_error(error: sqlx::Error) -> StoreError {
    store_error(error, sqlite_unavailable)
}

/// The live row's data under `key`, decoded; `None` if there is no live row.
async fn live_data(
    connection: &mut SqliteConnection,
    key: &StoreKey,
    now: Timestamp,
) -> Result<Option<sessile::SessionData>, StoreError> {
    let text: Option<String> = sqlx::query_scalar(
        "SELECT data FROM sessile_sessions WHERE \"key\" = ? AND expires_at > ?",
    )
    .bind(key.as_bytes().as_slice())
    .bind(now.as_millis())
    .fetch_optional(&mut *connection)
    .await
    .map_err(to_store_error)?;
    text.as_deref().map(decode_data).transpose()
}

/// Applies `changes` to the live row under `from`, moving it to `to` (the same key for an
/// update); whether there was a live row. Runs inside the caller's write transaction when the
/// data has to be rewritten from Rust (see [`delta`]).
async fn apply_changes(
    connection: &mut SqliteConnection,
    from: &StoreKey,
    to: &StoreKey,
    changes: &ChangeSet,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let data = if SQLITE_JSON.in_place_possible(changes) {
        DataSource::InPlace
    } else {
        let Some(mut data) = live_data(connection, from, now).await? else {
            return Ok(false);
        };
        apply_data_changes(changes, &mut data);
        DataSource::Replace(encode_data(&data)?)
    };
    let assignments = SQLITE_JSON.assignments(changes, data)?;
    let update = SQLITE_JSON.update_live_row(TABLE, from, to, assignments, now);
    let result = bind_all(sqlx::query(&update.sql), update.binds)
        .execute(&mut *connection)
        .await
        .map_err(to_store_error)?;
    Ok(result.rows_affected() > 0)
}

#[async_trait]
impl Store for SqliteStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT data, user_id, created_at, last_seen, idle_deadline, absolute_deadline, \
                 persistent, device \
             FROM sessile_sessions WHERE \"key\" = ? AND expires_at > ?",
        )
        .bind(key.as_bytes().as_slice())
        .bind(now.as_millis())
        .fetch_optional(&self.pool)
        .await
        .map_err(to_store_error)?;
        row.map(SessionRow::into_record).transpose()
    }

    /// One upsert: a conflicting row is replaced only if it has expired by the record's
    /// `last_seen` (its creation time), so a live session is never overwritten.
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        let insert = sqlx::query(
            "INSERT INTO sessile_sessions (\"key\", data, user_id, created_at, last_seen, \
                 idle_deadline, absolute_deadline, expires_at, persistent, device) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (\"key\") DO UPDATE SET data = excluded.data, \
                 user_id = excluded.user_id, created_at = excluded.created_at, \
                 last_seen = excluded.last_seen, idle_deadline = excluded.idle_deadline, \
                 absolute_deadline = excluded.absolute_deadline, \
                 expires_at = excluded.expires_at, persistent = excluded.persistent, \
                 device = excluded.device \
             WHERE sessile_sessions.expires_at <= excluded.last_seen",
        );
        let result = bind_new_record(insert, key, record)?
            .execute(&self.pool)
            .await
            .map_err(to_store_error)?;
        Ok(upsert_outcome(result.rows_affected()))
    }

    /// One `UPDATE` when the changed keys can be addressed by JSON paths; otherwise a
    /// read-apply-write in one `BEGIN IMMEDIATE` transaction (see the module docs of `delta`).
    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let applied = if SQLITE_JSON.in_place_possible(changes) {
            let mut connection = self.pool.acquire().await.map_err(to_store_error)?;
            apply_changes(&mut connection, key, key, changes, now).await?
        } else {
            let mut transaction = self.begin_write().await?;
            let applied = apply_changes(&mut transaction, key, key, changes, now).await?;
            transaction.commit().await.map_err(to_store_error)?;
            applied
        };
        Ok(update_outcome(applied))
    }

    /// One `BEGIN IMMEDIATE` transaction: refuse a live `to`, drop an expired one, then one
    /// `UPDATE` that moves the row to `to` with the changes applied.
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        let mut transaction = self.begin_write().await?;
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sessile_sessions WHERE \"key\" = ? AND expires_at > ?)",
        )
        .bind(to.as_bytes().as_slice())
        .bind(now.as_millis())
        .fetch_one(&mut *transaction)
        .await
        .map_err(to_store_error)?;
        if taken {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(RotateOutcome::Collision);
        }
        sqlx::query("DELETE FROM sessile_sessions WHERE \"key\" = ?")
            .bind(to.as_bytes().as_slice())
            .execute(&mut *transaction)
            .await
            .map_err(to_store_error)?;
        if !apply_changes(&mut transaction, from, to, changes, now).await? {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(RotateOutcome::Gone);
        }
        transaction.commit().await.map_err(to_store_error)?;
        Ok(RotateOutcome::Rotated)
    }

    /// One `BEGIN IMMEDIATE` transaction: read the data, add in Rust with the reference
    /// overflow and type rules ([`sessile::change::incremented`]), write it back with the touch.
    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let mut transaction = self.begin_write().await?;
        let Some(mut data) = live_data(&mut transaction, key, now).await? else {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(IncrementOutcome::Gone);
        };
        let Some(value) = increment_field(&mut data, field, by) else {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(IncrementOutcome::NotAnInteger);
        };
        let data = DataSource::Replace(encode_data(&data)?);
        let assignments = SQLITE_JSON.assignments(&touch_only(touch), data)?;
        let update = SQLITE_JSON.update_live_row(TABLE, key, key, assignments, now);
        bind_all(sqlx::query(&update.sql), update.binds)
            .execute(&mut *transaction)
            .await
            .map_err(to_store_error)?;
        transaction.commit().await.map_err(to_store_error)?;
        Ok(IncrementOutcome::Value(value))
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM sessile_sessions WHERE \"key\" = ?")
            .bind(key.as_bytes().as_slice())
            .execute(&self.pool)
            .await
            .map_err(to_store_error)?;
        Ok(result.rows_affected() > 0)
    }

    /// Rows that cannot be decoded are left out (with a warning);
    /// [`Store::delete_user_sessions`] still removes them.
    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let rows: Vec<(Vec<u8>, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT \"key\", created_at, last_seen, expires_at, device FROM sessile_sessions \
             WHERE user_id = ? AND expires_at > ? ORDER BY created_at, \"key\"",
        )
        .bind(user)
        .bind(now.as_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(to_store_error)?;
        Ok(decode_summaries(rows, Ok))
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM sessile_sessions WHERE user_id = ? AND (? IS NULL OR \"key\" <> ?)",
        )
        .bind(user)
        .bind(keep.map(|key| key.as_bytes().as_slice()))
        .bind(keep.map(|key| key.as_bytes().as_slice()))
        .execute(&self.pool)
        .await
        .map_err(to_store_error)?;
        Ok(result.rows_affected())
    }

    /// One bounded `DELETE`, oldest first, through the `expires_at` index.
    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM sessile_sessions WHERE \"key\" IN (SELECT \"key\" FROM sessile_sessions \
             WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
        )
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(to_store_error)?;
        Ok(result.rows_affected())
    }
}

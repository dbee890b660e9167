//! The SQLite store: one file, WAL, every operation one statement or one `BEGIN IMMEDIATE`
//! transaction, one writer at a time per store, and concurrent increments committed together.
//!
//! # Why writes queue in-process, on a connection of their own
//!
//! SQLite has a single write lock per file. When a pool's connections race for it, the losers
//! wait in SQLite's busy handler, which sleeps in growing steps (up to 100 ms) instead of being
//! woken when the lock frees: under 50 concurrent `/count` requests that showed up as context
//! switches, futex waits and a p99 of a third of a second. So every write first takes the
//! store's write turn, a fair (FIFO) async mutex shared by the store's clones that guards one
//! write connection: writers of one store queue in arrival order inside the application and
//! find the lock free. Reads (`load`, the per-user listing) never take the turn; in WAL mode
//! they run beside the writer on the pool's connections. The busy timeout still covers writers
//! the turn does not know about: other processes, other stores on the same file, the
//! application's own queries.
//!
//! The write connection is taken out of the pool (`detach`) on first use and kept, because the
//! pool pings every connection it gets back, in a task of its own: one more hand-off to the
//! connection's worker thread per write. For the same reason the pool does not test
//! connections before handing them out (`test_before_acquire(false)`): for a local file the
//! test finds nothing. Closing the pool also ends the write connection: the next write finds
//! the pool closed and drops it.
//!
//! # Why increments are committed together
//!
//! With one writer, throughput is one write per round trip to the write connection's worker
//! thread, and each round trip is a few thread wake-ups. An increment of a field a JSON path
//! can address (see [`delta`]) therefore joins a queue, and whoever gets the write turn applies
//! every queued increment of the same field on distinct sessions in one `UPDATE ... FROM`
//! statement and one commit (see [`batch`]). The statement adds in SQL and only updates a row
//! whose field is absent, `null` or an integer the sum cannot overflow; SQLite turns an
//! overflowing integer `+` into a float, so the range is checked before adding, never after.
//! Increments it does not apply (gone, not an integer, data that is not an object; rare) are
//! decided by the read-add-write transaction, which applies the reference rule in Rust; that
//! transaction is also the whole path for fields a JSON path cannot address. An update whose
//! keys a JSON path can address is one `UPDATE`; the others are the same kind of transaction.
//!
//! Statements that write are stepped to their end (`execute`, `fetch_all`), never left after
//! their first row (`fetch_optional`): SQLite runs the WAL hook that triggers the automatic
//! checkpoint only when a statement finishes, so a write reset early commits but never
//! checkpoints, and the WAL grows without bound.
//!
//! Like every dialect folder: `options.rs` (the options type and the connection setup),
//! `sql.rs` (the statements), `error.rs` (error classification), `delta.rs` (how a change set
//! is written), `migrate.rs` (the schema), `batch.rs` (group-committed increments), and the
//! store here.

mod batch;
mod delta;
mod error;
mod migrate;
mod options;
mod sql;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sessile::limit::UserLimit;
use sessile::store::{Lookup, ScanPage, UserSessionsPage};
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, Store, StoreError, StoreKey,
    Timestamp, Touch, UpdateOutcome,
};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, SqlitePool};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

pub(crate) use self::delta::SQLITE_JSON;
pub(crate) use self::error::to_store_error;
pub use self::options::SqliteStoreOptions;
use self::options::DEFAULT_TABLE;
use self::sql::Statements;
#[cfg(feature = "sequelize")]
pub(crate) use self::{error::is_deadlock, options::connect_pool};
use crate::codec::{
    bind_new_record, decode_data, decode_scan, decode_user_page, encode_data, scan_bounds,
    update_outcome, upsert_outcome, user_page_bounds, LookupRow, ScanRow, SessionRow,
};
use crate::delta::{apply_data_changes, bind_all, increment_field, touch_only, DataSource};
use crate::error::Error;
use crate::increment_batch::{answer, IncrementQueue, Ticket};
use crate::limit::{self, UserRow};
use crate::names::TableNames;

/// Writers start with this so they hold the write lock from their first read. A deferred
/// `BEGIN` that reads and then writes fails with `SQLITE_BUSY` when another writer committed in
/// between, and the busy timeout does not retry that case.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Sessions in a SQLite database file.
///
/// The table (`sessile_sessions` unless [`SqliteStoreOptions::table`] says otherwise) holds one row per session under its 32-byte store key, the data
/// as a JSON object, the user for the per-user index, the times as Unix milliseconds and
/// `expires_at`, the earlier of the two deadlines, which every write keeps and every query
/// filters on (indexed, as is `user_id`). Schema versions are recorded in
/// `<table>_schema_versions`.
///
/// Each [`Store`] method is one statement, or one transaction begun with `BEGIN IMMEDIATE` so
/// that it holds SQLite's write lock from its first read. Writes of one store (and its clones)
/// take turns in arrival order inside the process, so they never wait in SQLite's sleeping busy
/// handler for each other; writers outside the store (other processes, the application's own
/// queries) still queue on the write lock within the busy timeout instead of failing with
/// "database is locked". A transaction that fails or is cancelled is rolled back before its
/// connection is reused.
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
    names: Arc<TableNames>,
    sql: Arc<Statements>,
    /// The write connection, taken out of the pool when first needed; locking it is taking
    /// the write turn. Tokio's mutex is fair, so writers proceed in arrival order.
    write_connection: Arc<Mutex<Option<SqliteConnection>>>,
    /// Set when the write connection's worker thread died: the next writer opens a new one.
    write_connection_broken: Arc<AtomicBool>,
    /// How long a write waits for its turn: the pool's acquire timeout.
    turn_timeout: Duration,
    /// Increments waiting to be applied together (see [`batch`]).
    increments: Arc<IncrementQueue>,
}

/// The write connection, held for one write (the write turn).
type Writer = OwnedMappedMutexGuard<Option<SqliteConnection>, SqliteConnection>;

impl SqliteStore {
    /// Opens (creating it if missing) the database file at `path` with the default
    /// [`SqliteStoreOptions`], and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        SqliteStoreOptions::default().open(path).await
    }

    /// Options for [`SqliteStoreOptions::open`]: pool size, timeouts, table, migrations.
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
    ///
    /// Writes through this store (and its clones) take turns; a second store made from the
    /// same pool takes turns of its own and meets the first one's writes on SQLite's lock, as
    /// another process would. The pool's acquire timeout also bounds the wait for a turn.
    pub fn from_pool(pool: SqlitePool) -> Self {
        let names = TableNames::new(None, DEFAULT_TABLE).expect("the default table name is valid");
        Self::new(pool, names)
    }

    fn new(pool: SqlitePool, names: TableNames) -> Self {
        let turn_timeout = pool.options().get_acquire_timeout();
        Self {
            sql: Arc::new(Statements::new(&names)),
            names: Arc::new(names),
            pool,
            write_connection: Arc::new(Mutex::new(None)),
            write_connection_broken: Arc::new(AtomicBool::new(false)),
            turn_timeout,
            increments: Arc::new(IncrementQueue::new(batch::MAX_BATCH)),
        }
    }

    /// Creates or upgrades the tables. Safe to run on every start, from several processes at
    /// once.
    pub async fn migrate(&self) -> Result<(), Error> {
        migrate::run(&self.pool, &self.names).await
    }

    /// The connection pool, for the application's own queries or to close it on shutdown.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for the write turn and returns the write connection, taking it out of the pool
    /// the first time.
    ///
    /// The write connection stays out of the pool so that it never goes through the pool's
    /// release, which pings every returned connection on its worker thread in a task of its
    /// own: one more thread hand-off per write for a local file that cannot have gone away.
    /// sqlx runs a connection's commands in order, so a transaction abandoned by a cancelled
    /// write is rolled back before the next writer's first statement.
    async fn writer(&self) -> Result<Writer, StoreError> {
        let turn = self.write_connection.clone().lock_owned();
        let mut slot = tokio::time::timeout(self.turn_timeout, turn)
            .await
            .map_err(|_| to_store_error(sqlx::Error::PoolTimedOut))?;
        if self.pool.is_closed() {
            // Closing the pool closes the store: drop the write connection with it.
            *slot = None;
            return Err(to_store_error(sqlx::Error::PoolClosed));
        }
        if self.write_connection_broken.swap(false, Ordering::AcqRel) {
            *slot = None;
        }
        let connection = match slot.take() {
            Some(connection) => connection,
            None => self.pool.acquire().await.map_err(to_store_error)?.detach(),
        };
        Ok(OwnedMutexGuard::map(slot, |slot| slot.insert(connection)))
    }

    /// Passes `result` on, noting when it says the write connection's worker thread died.
    fn after_write<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result {
            note_crash(&self.write_connection_broken, error);
        }
        result
    }

    /// A queued increment's answer, taking the write turn (and running a batch) when it comes
    /// first; `None` when the increment was not applied and has been taken out of the queue.
    async fn queued_increment(&self, ticket: Ticket) -> Result<Option<i64>, StoreError> {
        let broken = &self.write_connection_broken;
        let sql = &self.sql;
        self.increments
            .answer_of(
                ticket,
                || self.writer(),
                |mut writer, queued| {
                    let broken = broken.clone();
                    let sql = sql.clone();
                    async move {
                        let result = batch::run(&mut writer, &sql.increment_batch, &queued)
                            .await
                            .map_err(to_store_error);
                        if let Err(error) = &result {
                            note_crash(&broken, error);
                        }
                        // Answered before the turn passes on: a caller that gets the turn after its
                        // increment was taken into a batch finds the answer waiting.
                        answer(queued, result);
                        drop(writer);
                    }
                },
            )
            .await
    }

    /// [`Store::update`] of a sign-in under a per-user limit: one `BEGIN IMMEDIATE`
    /// transaction that counts the user's other live sessions, refuses or applies the changes,
    /// then deletes the sessions the limit evicts.
    async fn update_within_limit(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
        (user, limit): (&str, &UserLimit),
    ) -> Result<UpdateOutcome, StoreError> {
        let mut writer = self.writer().await?;
        let mut transaction = writer
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(to_store_error)?;
        if !live_key(&mut transaction, &self.sql, key, now).await? {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(UpdateOutcome::Gone);
        }
        let Some(evicted) = admit(&mut transaction, &self.sql, user, limit, &[key], now).await?
        else {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(UpdateOutcome::Refused);
        };
        // A refused document operation returns here: the dropped transaction rolls back, and
        // nobody is evicted.
        let applied = apply_changes(&mut transaction, &self.sql, key, key, changes, now).await?;
        evict(&mut transaction, &self.sql, &evicted).await?;
        transaction.commit().await.map_err(to_store_error)?;
        Ok(update_outcome(applied))
    }

    /// The increment as a read-add-write in one `BEGIN IMMEDIATE` transaction on `connection`,
    /// with the reference rule applied in Rust ([`sessile::change::incremented`]).
    async fn increment_in_transaction(
        connection: &mut SqliteConnection,
        sql: &Statements,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let mut transaction = connection
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(to_store_error)?;
        let Some(mut data) = live_data(&mut transaction, sql, key, now).await? else {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(IncrementOutcome::Gone);
        };
        let Some(value) = increment_field(&mut data, field, by) else {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(IncrementOutcome::NotAnInteger);
        };
        let data = DataSource::Replace(encode_data(&data)?);
        let assignments = SQLITE_JSON.assignments(&touch_only(touch), data)?;
        let update = SQLITE_JSON.update_live_row(&sql.table, key, key, assignments, now);
        bind_all(sqlx::query(&update.sql), update.binds)
            .execute(&mut *transaction)
            .await
            .map_err(to_store_error)?;
        transaction.commit().await.map_err(to_store_error)?;
        Ok(IncrementOutcome::Value(value))
    }
}

/// Sets `broken` when `error` says the write connection's worker thread died.
fn note_crash(broken: &AtomicBool, error: &StoreError) {
    if let StoreError::Unavailable(source) = error {
        if matches!(
            source.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::WorkerCrashed)
        ) {
            broken.store(true, Ordering::Release);
        }
    }
}

/// The live row's data under `key`, decoded; `None` if there is no live row.
async fn live_data(
    connection: &mut SqliteConnection,
    sql: &Statements,
    key: &StoreKey,
    now: Timestamp,
) -> Result<Option<sessile::SessionData>, StoreError> {
    let text: Option<String> = sqlx::query_scalar(&sql.live_data)
        .bind(key.as_bytes().as_slice())
        .bind(now.as_millis())
        .fetch_optional(&mut *connection)
        .await
        .map_err(to_store_error)?;
    text.as_deref().map(decode_data).transpose()
}

/// Whether a live row is under `key` at `now`.
async fn live_key(
    connection: &mut SqliteConnection,
    sql: &Statements,
    key: &StoreKey,
    now: Timestamp,
) -> Result<bool, StoreError> {
    sqlx::query_scalar(&sql.live_key_exists)
        .bind(key.as_bytes().as_slice())
        .bind(now.as_millis())
        .fetch_one(&mut *connection)
        .await
        .map_err(to_store_error)
}

/// The per-user limit on a sign-in of `user` at `now`, inside the caller's write transaction
/// (which holds SQLite's write lock, so no other sign-in can change the user's sessions until
/// it ends): the sessions to evict once the write succeeded, or `None` to refuse.
async fn admit(
    connection: &mut SqliteConnection,
    sql: &Statements,
    user: &str,
    limit: &UserLimit,
    signing_in: &[&StoreKey],
    now: Timestamp,
) -> Result<Option<Vec<StoreKey>>, StoreError> {
    let rows: Vec<UserRow> = sqlx::query_as(&sql.user_sessions)
        .bind(user)
        .bind(now.as_millis())
        .fetch_all(&mut *connection)
        .await
        .map_err(to_store_error)?;
    limit::decide(limit, rows, signing_in, now)
}

/// Deletes the sessions a sign-in under the limit evicts, inside its transaction.
async fn evict(
    connection: &mut SqliteConnection,
    sql: &Statements,
    keys: &[StoreKey],
) -> Result<(), StoreError> {
    for key in keys {
        sqlx::query(&sql.delete)
            .bind(key.as_bytes().as_slice())
            .execute(&mut *connection)
            .await
            .map_err(to_store_error)?;
    }
    Ok(())
}

/// Applies `changes` to the live row under `from`, moving it to `to` (the same key for an
/// update); whether there was a live row. Runs inside the caller's write transaction when the
/// data has to be rewritten from Rust (see [`delta`]).
async fn apply_changes(
    connection: &mut SqliteConnection,
    sql: &Statements,
    from: &StoreKey,
    to: &StoreKey,
    changes: &ChangeSet,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let data = if SQLITE_JSON.in_place_possible(changes) {
        DataSource::InPlace
    } else {
        let Some(mut data) = live_data(connection, sql, from, now).await? else {
            return Ok(false);
        };
        // A refusal returns before any write; the caller's transaction then rolls back.
        apply_data_changes(changes, &mut data)?;
        DataSource::Replace(encode_data(&data)?)
    };
    let assignments = SQLITE_JSON.assignments(changes, data)?;
    let update = SQLITE_JSON.update_live_row(&sql.table, from, to, assignments, now);
    let result = bind_all(sqlx::query(&update.sql), update.binds)
        .execute(&mut *connection)
        .await
        .map_err(to_store_error)?;
    Ok(result.rows_affected() > 0)
}

#[async_trait]
impl Store for SqliteStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(self.lookup(key, now).await?.into_live())
    }

    /// One `SELECT` of the row, expired or not; Rust decides which. Only when there is no row,
    /// a second one of the forward pointer a rotation may have left (rotation grace).
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        let found: LookupRow<SessionRow> = sqlx::query_as(&self.sql.load)
            .bind(key.as_bytes().as_slice())
            .fetch_one(&self.pool)
            .await
            .map_err(to_store_error)?;
        SessionRow::answer(found, now)
    }

    /// One upsert: a conflicting row is replaced only if it has expired by the record's
    /// `last_seen` (its creation time), so a live session is never overwritten.
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.after_write(
            async {
                let insert = sqlx::query(&self.sql.create);
                let mut writer = self.writer().await?;
                let result = bind_new_record(insert, key, record)?
                    .execute(&mut *writer)
                    .await
                    .map_err(to_store_error)?;
                Ok(upsert_outcome(result.rows_affected()))
            }
            .await,
        )
    }

    /// One `BEGIN IMMEDIATE` transaction: the collision check, the user's live sessions
    /// counted, the evictions and the insert, or a rollback. The write lock from its first read
    /// makes concurrent sign-ins of the user take turns.
    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        let Some(user) = record.user.as_deref() else {
            return self.create(key, record).await;
        };
        self.after_write(
            async {
                let now = record.last_seen;
                let insert = bind_new_record(sqlx::query(&self.sql.create), key, record)?;
                let mut writer = self.writer().await?;
                let mut transaction = writer
                    .begin_with(BEGIN_WRITE)
                    .await
                    .map_err(to_store_error)?;
                if live_key(&mut transaction, &self.sql, key, now).await? {
                    transaction.rollback().await.map_err(to_store_error)?;
                    return Ok(CreateOutcome::Collision);
                }
                let Some(evicted) =
                    admit(&mut transaction, &self.sql, user, limit, &[key], now).await?
                else {
                    transaction.rollback().await.map_err(to_store_error)?;
                    return Ok(CreateOutcome::Refused);
                };
                evict(&mut transaction, &self.sql, &evicted).await?;
                let result = insert
                    .execute(&mut *transaction)
                    .await
                    .map_err(to_store_error)?;
                transaction.commit().await.map_err(to_store_error)?;
                Ok(upsert_outcome(result.rows_affected()))
            }
            .await,
        )
    }

    /// One `UPDATE` when the changed keys can be addressed by JSON paths; otherwise a
    /// read-apply-write in one `BEGIN IMMEDIATE` transaction (see the module docs of `delta`).
    /// A sign-in under a per-user limit is always the transaction, which counts the user's
    /// sessions too.
    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        if let Some(sign_in) = limit::sign_in(changes) {
            return self.after_write(self.update_within_limit(key, changes, now, sign_in).await);
        }
        self.after_write(
            async {
                let mut writer = self.writer().await?;
                let applied = if SQLITE_JSON.in_place_possible(changes) {
                    apply_changes(&mut writer, &self.sql, key, key, changes, now).await?
                } else {
                    let mut transaction = writer
                        .begin_with(BEGIN_WRITE)
                        .await
                        .map_err(to_store_error)?;
                    let applied =
                        apply_changes(&mut transaction, &self.sql, key, key, changes, now).await?;
                    transaction.commit().await.map_err(to_store_error)?;
                    applied
                };
                Ok(update_outcome(applied))
            }
            .await,
        )
    }

    /// One `BEGIN IMMEDIATE` transaction: refuse a live `to`, drop an expired one, then one
    /// `UPDATE` that moves the row to `to` with the changes applied, and the forward pointer
    /// under `from` when the changes ask for one. A sign-in under a per-user limit counts the
    /// user's other sessions first, and deletes those it evicts after the move.
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        self.after_write(
            async {
                let mut writer = self.writer().await?;
                let mut transaction = writer
                    .begin_with(BEGIN_WRITE)
                    .await
                    .map_err(to_store_error)?;
                let taken: bool = sqlx::query_scalar(&self.sql.live_key_exists)
                    .bind(to.as_bytes().as_slice())
                    .bind(now.as_millis())
                    .fetch_one(&mut *transaction)
                    .await
                    .map_err(to_store_error)?;
                if taken {
                    transaction.rollback().await.map_err(to_store_error)?;
                    return Ok(RotateOutcome::Collision);
                }
                let evicted = match limit::sign_in(changes) {
                    Some((user, limit))
                        if live_key(&mut transaction, &self.sql, from, now).await? =>
                    {
                        let signing_in = [from, to];
                        let admitted =
                            admit(&mut transaction, &self.sql, user, limit, &signing_in, now)
                                .await?;
                        let Some(evicted) = admitted else {
                            transaction.rollback().await.map_err(to_store_error)?;
                            return Ok(RotateOutcome::Refused);
                        };
                        evicted
                    }
                    _ => Vec::new(),
                };
                sqlx::query(&self.sql.delete)
                    .bind(to.as_bytes().as_slice())
                    .execute(&mut *transaction)
                    .await
                    .map_err(to_store_error)?;
                if !apply_changes(&mut transaction, &self.sql, from, to, changes, now).await? {
                    transaction.rollback().await.map_err(to_store_error)?;
                    return Ok(RotateOutcome::Gone);
                }
                if let Some(forward) = &changes.forward {
                    sqlx::query(&self.sql.forward_insert)
                        .bind(from.as_bytes().as_slice())
                        .bind(to.as_bytes().as_slice())
                        .bind(forward.sealed_id.as_slice())
                        .bind(forward.until.as_millis())
                        .execute(&mut *transaction)
                        .await
                        .map_err(to_store_error)?;
                }
                evict(&mut transaction, &self.sql, &evicted).await?;
                transaction.commit().await.map_err(to_store_error)?;
                Ok(RotateOutcome::Rotated)
            }
            .await,
        )
    }

    /// Queued and applied with other increments of the same field in one `UPDATE ... FROM`
    /// when the field is addressable by a JSON path (see the `batch` module); the read-add-write
    /// transaction otherwise, and for the rare increments the statement does not apply.
    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        if (SQLITE_JSON.key_in_place_possible)(field) {
            let path = (SQLITE_JSON.json_path)(field);
            let ticket = self.increments.push(key, path, by, touch, now);
            if let Some(value) = self.queued_increment(ticket).await? {
                return Ok(IncrementOutcome::Value(value));
            }
        }
        self.after_write(
            async {
                let mut writer = self.writer().await?;
                Self::increment_in_transaction(&mut writer, &self.sql, key, field, by, touch, now)
                    .await
            }
            .await,
        )
    }

    /// The row and any forward pointer under `key`, one statement each on the write turn.
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.after_write(
            async {
                let mut writer = self.writer().await?;
                let mut deleted = 0;
                for sql in [&self.sql.delete, &self.sql.forward_delete] {
                    deleted += sqlx::query(sql)
                        .bind(key.as_bytes().as_slice())
                        .execute(&mut *writer)
                        .await
                        .map_err(to_store_error)?
                        .rows_affected();
                }
                Ok(deleted > 0)
            }
            .await,
        )
    }

    /// Through the `user_id` index, one page per statement. Rows that cannot be decoded are
    /// left out (with a warning); [`Store::delete_user_sessions`] still removes them.
    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<UserSessionsPage, StoreError> {
        let (created_at, key, read) = user_page_bounds(cursor, limit)?;
        let rows: Vec<(Vec<u8>, i64, i64, i64, String)> =
            sqlx::query_as(&self.sql.list_user_sessions)
                .bind(user)
                .bind(now.as_millis())
                .bind(created_at)
                .bind(created_at)
                .bind(key)
                .bind(i64::from(read))
                .fetch_all(&self.pool)
                .await
                .map_err(to_store_error)?;
        Ok(decode_user_page(rows, read, Ok))
    }

    /// In key order; the cursor is the last key's hex. Reads go through the pool, never the
    /// write turn, so a scan beside a running app holds up none of its writes.
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        let (after, limit) = scan_bounds(cursor, limit)?;
        let rows: Vec<ScanRow<String, String>> = sqlx::query_as(&self.sql.scan)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(to_store_error)?;
        Ok(decode_scan(rows, limit, Ok, Ok))
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        self.after_write(
            async {
                let mut writer = self.writer().await?;
                let result = sqlx::query(&self.sql.delete_user_sessions)
                    .bind(user)
                    .bind(keep.map(|key| key.as_bytes().as_slice()))
                    .bind(keep.map(|key| key.as_bytes().as_slice()))
                    .execute(&mut *writer)
                    .await
                    .map_err(to_store_error)?;
                Ok(result.rows_affected())
            }
            .await,
        )
    }

    /// One `COUNT(*)` through the `expires_at` index (see ARCHITECTURE.md, "Live sessions").
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let live: i64 = sqlx::query_scalar(&self.sql.count_live)
            .bind(now.as_millis())
            .fetch_one(&self.pool)
            .await
            .map_err(to_store_error)?;
        Ok(live.max(0) as u64)
    }

    /// One bounded `DELETE`, oldest first, through the `expires_at` index; then as many lapsed
    /// forward pointers, through theirs, uncounted (they were never sessions).
    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.after_write(
            async {
                let mut writer = self.writer().await?;
                sqlx::query(&self.sql.forwards_delete_lapsed)
                    .bind(now.as_millis())
                    .bind(i64::from(limit))
                    .execute(&mut *writer)
                    .await
                    .map_err(to_store_error)?;
                let result = sqlx::query(&self.sql.delete_expired)
                    .bind(now.as_millis())
                    .bind(i64::from(limit))
                    .execute(&mut *writer)
                    .await
                    .map_err(to_store_error)?;
                Ok(result.rows_affected())
            }
            .await,
        )
    }
}

//! The PostgreSQL store: `jsonb` data, `timestamptz` deadlines, every commit one statement.
//! See [`PostgresStore`] for the setup, the schema and the guarantees.

mod migrate;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use sessile::store::Lookup;
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, KeyChange, Record, RotateOutcome, SessionData,
    SessionSummary, Store, StoreError, StoreKey, Timestamp, Touch, UpdateOutcome,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::sql::Statements;
use crate::codec::{bind_new_record, decode_summaries, update_outcome, upsert_outcome, SessionRow};
use crate::error::{store_error, Error};
use crate::held::{on_held, HeldConnections};
use crate::increment_batch::{answer, Applied, IncrementQueue, QueuedIncrement, Ticket};
use crate::names::TableNames;
use crate::options::{shared_options, SharedOptions};
use crate::tls;

/// Most increments in one batch. The statement binds arrays, so the size does not change its
/// text; the bound keeps one statement's row locks, and the wait of the increments queued
/// behind it, short.
const MAX_BATCH: usize = 128;

/// How many increment batches (or single increments) run at once; while one runs, further
/// increments queue and go out together in the next batch. One: measured as fast as two and
/// faster than four (more, smaller batches: more commits), and with one batch at a time the
/// batch statement needs no lock ordering to be deadlock-free (the other increments lock one
/// row each). The price: an increment stalled on a row lock (an application transaction holding
/// a session's row) holds up the store's other increments, at most for the statement timeout.
/// See `ARCHITECTURE.md`.
const BATCH_TURNS: usize = 1;

/// The table [`PostgresStore`] uses unless told otherwise.
const DEFAULT_TABLE: &str = "sessile_sessions";

/// How a [`PostgresStore`] connects: pool size, the timeouts that bound how long an operation
/// may take before it fails with [`StoreError::Unavailable`], where the table lives and whether
/// to migrate at startup. The same names as every sessile store's options.
///
/// - `max_connections` (default 10), `acquire_timeout` (default 5 s);
/// - `statement_timeout` (default 5 s): PostgreSQL's `statement_timeout`, set on every
///   connection with `SET` (which works through PgBouncer); `no_statement_timeout` keeps the
///   server's;
/// - `schema` (default: the first schema of the connection's `search_path`, normally `public`)
///   and `table` (default `sessile_sessions`, at most 47 bytes so that
///   `<table>_schema_versions` fits PostgreSQL's 63-byte identifiers);
/// - `migrate_on_connect` (default on); [`PostgresStoreOptions::migration_sql`] gives the SQL to
///   teams that run migrations with their own tool.
///
/// ```no_run
/// use std::time::Duration;
/// use sessile_sql::PostgresStoreOptions;
///
/// # async fn run() -> Result<(), sessile_sql::Error> {
/// let store = PostgresStoreOptions::new()
///     .max_connections(4)
///     .acquire_timeout(Duration::from_secs(1))
///     .statement_timeout(Duration::from_secs(1))
///     .table("sessions")
///     .migrate_on_connect(false) // the deploy pipeline runs migrations
///     .connect("postgres://app@127.0.0.1/app")
///     .await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresStoreOptions {
    shared: SharedOptions,
    schema: Option<String>,
}

impl Default for PostgresStoreOptions {
    /// See the list above.
    fn default() -> Self {
        Self {
            shared: SharedOptions::new(DEFAULT_TABLE, true),
            schema: None,
        }
    }
}

impl PostgresStoreOptions {
    /// The defaults (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    shared_options!(statement_timeout);

    /// The schema of the sessions table; created by the migration if missing. Without one,
    /// the first schema of the connection's `search_path` (normally `public`).
    ///
    /// A plain identifier: ASCII letters, digits and underscores, not starting with `pg_`.
    /// [`Error::InvalidName`] at connect otherwise.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The SQL that creates or upgrades the sessions table with these names, for teams that run
    /// migrations with their own tool (then turn [`migrate_on_connect`](Self::migrate_on_connect)
    /// off). It is what [`PostgresStore::migrate`] runs, without its bookkeeping; every
    /// statement is idempotent (`IF NOT EXISTS`), so a later `migrate` finds the table in place
    /// and only records the version. The unrendered files are under `migrations/postgres/` in
    /// the crate's source.
    ///
    /// ```
    /// use sessile_sql::PostgresStoreOptions;
    ///
    /// let sql = PostgresStoreOptions::new().schema("auth").table("web_sessions").migration_sql()?;
    /// assert!(sql.contains(r#"CREATE TABLE IF NOT EXISTS "auth"."web_sessions""#));
    /// # Ok::<(), sessile_sql::Error>(())
    /// ```
    pub fn migration_sql(&self) -> Result<String, Error> {
        Ok(migrate::migration_sql(&self.names()?))
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// with any of sqlx's URL parameters such as `sslmode`).
    pub async fn connect(self, url: &str) -> Result<PostgresStore, Error> {
        let connect: PgConnectOptions = url.parse().map_err(Error::Connect)?;
        self.connect_with(connect).await
    }

    /// Connects with connection options built in code.
    pub async fn connect_with(self, connect: PgConnectOptions) -> Result<PostgresStore, Error> {
        let names = self.names()?;
        let connect = match &self.shared.tls_ca_certificates {
            Some(pem) => tls::postgres(connect, pem)?,
            None => connect,
        };
        let statement_timeout = self.shared.statement_timeout;
        let pool = PgPoolOptions::new()
            .max_connections(self.shared.max_connections)
            .acquire_timeout(self.shared.acquire_timeout)
            // The store's operations run on connections it holds outside the pool (see
            // `held.rs`), which pings those idle for a second or more itself; the pool only
            // opens them, and serves migrations and the application's own queries, for which a
            // ping on checkout still replaces a connection a server restart killed.
            .test_before_acquire(true)
            .after_connect(move |connection, _meta| {
                Box::pin(async move {
                    if let Some(timeout) = statement_timeout {
                        let set = format!("SET statement_timeout = {}", timeout.as_millis());
                        connection.execute(set.as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .map_err(Error::Connect)?;
        self.finish(pool, names).await
    }

    /// A store on a pool the application configured itself, with these options' table, schema
    /// and migration setting (the pool settings here are ignored).
    pub async fn from_pool(self, pool: PgPool) -> Result<PostgresStore, Error> {
        let names = self.names()?;
        self.finish(pool, names).await
    }

    fn names(&self) -> Result<TableNames, Error> {
        TableNames::new(self.schema.as_deref(), &self.shared.table)
    }

    async fn finish(self, pool: PgPool, names: TableNames) -> Result<PostgresStore, Error> {
        let store = PostgresStore::new(pool, names);
        if self.shared.migrate_on_connect {
            store.migrate().await?;
        }
        Ok(store)
    }
}

/// Sessions in a PostgreSQL table (feature `postgres`). [`PostgresStoreOptions`] lists the
/// settings. Cheap to clone: clones share the pool.
///
/// # Connecting
///
/// ```no_run
/// use std::time::Duration;
/// use sessile::{Config, Keys, SessionManager};
/// use sessile_sql::PostgresStore;
///
/// # async fn run() -> Result<(), sessile_sql::Error> {
/// // Defaults: 10 connections, 5 s to get one, 5 s statement timeout, table
/// // "sessile_sessions" in the search path's schema, migrations run now.
/// let store = PostgresStore::connect("postgres://app@db.internal/app").await?;
///
/// // Or tuned:
/// let store = PostgresStore::options()
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(2))
///     .statement_timeout(Duration::from_secs(2))
///     .schema("auth")
///     .table("web_sessions")
///     .connect("postgres://app@db.internal/app")
///     .await?;
///
/// let manager = SessionManager::new(store, Config::new(Keys::generate()));
/// # let _ = manager;
/// # Ok(())
/// # }
/// ```
///
/// # What it guarantees
///
/// - **One statement per operation.** `create` is an `INSERT ... ON CONFLICT DO UPDATE ... WHERE`
///   the existing row has expired, so a live session is never overwritten (`Collision`).
///   `update` is one `UPDATE` that applies the delta in the database,
///   `(data - removed_keys) || set_keys`, guarded by `WHERE key = $1 AND expires_at > now`:
///   concurrent requests that change different keys all persist, and a deleted or expired
///   session is never written, let alone recreated. `increment` is one `UPDATE ... RETURNING`
///   with `jsonb_set`; the row lock makes N concurrent increments add N, and a value that is not
///   an integer (or would overflow `i64`) is refused inside the statement, writing nothing.
///   Under concurrency, increments of the same field on different sessions are committed
///   together: one `UPDATE` over arrays and one WAL flush for a whole batch.
///   `rotate` is one `UPDATE` of the key column with the delta; the primary key detects a taken
///   new key (`Collision`).
/// - **Typed errors.** Refused or lost connections, pool exhaustion (the acquire timeout),
///   statement timeouts (SQLSTATE `57014`), server shutdown (`57P01`-`57P03`), too many
///   connections (class `53`) and the like are [`StoreError::Unavailable`]: the request fails
///   with 503 within the configured timeouts. A row whose JSON does not decode is
///   [`StoreError::Corrupt`]. A connection that failed that way is dropped and replaced, and
///   one idle for a second or more is pinged before use, so after a server restart requests
///   reconnect instead of failing on dead connections.
/// - **One round trip per operation.** The store runs its statements on up to
///   `max_connections` connections it opens through the pool and then holds itself, since
///   sqlx's pool pings every connection it takes back (and, with `test_before_acquire`, every
///   connection it hands out): through the pool an operation would cost three round trips.
///   The pool's acquire timeout, `max_lifetime` and `idle_timeout` apply to the held
///   connections too; closing the pool ([`PostgresStore::pool`]) makes the store's operations
///   fail and drops its connections.
/// - **Cleanup that shares.** [`Store::delete_expired`] deletes a bounded batch, oldest first,
///   through the `expires_at` index, picking rows with `FOR UPDATE SKIP LOCKED`: several
///   instances can clean at once, beside live traffic, without waiting on each other or
///   deadlocking. Run it with [`sessile::cleanup::Cleanup`] (a background task) or
///   [`sessile::cleanup::CleanupEvery`] (every N writes).
/// - **Schema.** `key bytea PRIMARY KEY` (the 32-byte SHA-256 store key), `data jsonb`
///   (always an object), `user_id text` (indexed, for the per-user listing),
///   `created_at`/`last_seen`/`idle_deadline`/`absolute_deadline`/`expires_at timestamptz`
///   (`expires_at` indexed), `persistent boolean`, `device jsonb`. Versions are recorded in
///   `<table>_schema_versions`; migrations run under an advisory lock, so instances may start
///   together.
///
/// `jsonb` cannot hold the character U+0000: a value containing it is refused with
/// [`StoreError::Backend`]. Object keys come back in `jsonb`'s order (shortest first), which
/// [`sessile::SessionData`] does not depend on.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    held: Arc<HeldConnections<sqlx::Postgres>>,
    names: Arc<TableNames>,
    sql: Arc<Statements>,
    /// Increments waiting to be committed together (see `crate::increment_batch`).
    increments: Arc<IncrementQueue>,
    /// The turns to run an increment batch: [`BATCH_TURNS`] permits.
    batch_turns: Arc<Semaphore>,
}

impl PostgresStore {
    /// Connects to `url` with the default [`PostgresStoreOptions`] and brings the schema up to
    /// date.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        PostgresStoreOptions::default().connect(url).await
    }

    /// Options for [`PostgresStoreOptions::connect`]: pool size, timeouts, table and schema,
    /// migrations.
    pub fn options() -> PostgresStoreOptions {
        PostgresStoreOptions::default()
    }

    /// A store on the table `sessile_sessions` through a pool the application configured
    /// itself. Call [`PostgresStore::migrate`] before use. For another table, use
    /// [`PostgresStoreOptions::from_pool`].
    ///
    /// Give the pool an acquire timeout and the connections a `statement_timeout`, as
    /// [`PostgresStoreOptions::connect`] does, or an unreachable server can hold requests for
    /// as long as the engine's store timeout allows.
    pub fn from_pool(pool: PgPool) -> Self {
        let names = TableNames::new(None, DEFAULT_TABLE).expect("the default table name is valid");
        Self::new(pool, names)
    }

    fn new(pool: PgPool, names: TableNames) -> Self {
        let sql = Statements::new(&names);
        Self {
            held: Arc::new(HeldConnections::new(pool.clone())),
            pool,
            names: Arc::new(names),
            sql: Arc::new(sql),
            increments: Arc::new(IncrementQueue::new(MAX_BATCH)),
            batch_turns: Arc::new(Semaphore::new(BATCH_TURNS)),
        }
    }

    /// Creates or upgrades the tables. Safe to run on every start, from several processes at
    /// once.
    pub async fn migrate(&self) -> Result<(), Error> {
        migrate::run(&self.pool, &self.names).await
    }

    /// The connection pool, for the application's own queries or to close it on shutdown.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The sessions table as it appears in SQL: quoted, and qualified when a schema was set
    /// (`"auth"."web_sessions"`).
    pub fn table(&self) -> String {
        self.names.sessions()
    }

    /// Runs the update (`moved_to: None`) or rotation statement; the number of rows changed.
    async fn apply(
        &self,
        key: &StoreKey,
        moved_to: Option<&StoreKey>,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<u64, sqlx::Error> {
        let delta = Delta::of(changes).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        let sql = match moved_to {
            None => &self.sql.update,
            Some(_) => &self.sql.rotate,
        };
        let mut query = sqlx::query(sql)
            .bind(key.as_bytes().as_slice())
            .bind(changes.cleared)
            .bind(delta.removed)
            .bind(delta.set)
            .bind(changes.user.is_some())
            .bind(changes.user.clone().flatten())
            .bind(changes.persistent)
            .bind(delta.device)
            .bind(changes.touch.map(|touch| touch.last_seen.as_millis()))
            .bind(changes.touch.map(|touch| touch.idle_deadline.as_millis()))
            .bind(now.as_millis());
        if let Some(to) = moved_to {
            query = query.bind(to.as_bytes().as_slice());
        }
        on_held!(self.held, postgres_unavailable, |connection| query
            .execute(connection))
        .map(|done| done.rows_affected())
    }

    /// One increment as one statement: the new value, or why there is none.
    async fn increment_one(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let query = sqlx::query_as(&self.sql.increment)
            .bind(key.as_bytes().as_slice())
            .bind(field)
            .bind(by)
            .bind(touch.last_seen.as_millis())
            .bind(touch.idle_deadline.as_millis())
            .bind(now.as_millis());
        let (value, live): (Option<i64>, bool) =
            on_held!(self.held, postgres_unavailable, |connection| {
                query.fetch_one(connection)
            })
            .map_err(to_store_error)?;
        Ok(match (value, live) {
            (Some(value), _) => IncrementOutcome::Value(value),
            (None, true) => IncrementOutcome::NotAnInteger,
            (None, false) => IncrementOutcome::Gone,
        })
    }

    /// A queued increment's answer, taking a batch turn (and running a batch) when it comes
    /// first; `None` when the increment was not applied and has been taken out of the queue.
    async fn queued_increment(&self, ticket: Ticket) -> Result<Option<i64>, StoreError> {
        let take_turn = || {
            let turns = self.batch_turns.clone();
            async move {
                turns
                    .acquire_owned()
                    .await
                    .map_err(|_| to_store_error(sqlx::Error::PoolClosed))
            }
        };
        let run = |turn: OwnedSemaphorePermit, queued: Vec<QueuedIncrement>| {
            let held = self.held.clone();
            let sql = self.sql.clone();
            async move {
                let result = run_batch(&held, &sql.increment_batch, &queued).await;
                answer(queued, result);
                drop(turn);
            }
        };
        self.increments.answer_of(ticket, take_turn, run).await
    }
}

/// Runs `batch` (one field, distinct sessions) as one statement on a held connection; the
/// applied increments' new values, by session. A deadlock with another statement that locks
/// several sessions (`delete_user_sessions`) applies nothing and leaves every increment to the
/// single statement, which locks one row and cannot deadlock.
async fn run_batch(
    held: &HeldConnections<Postgres>,
    sql: &str,
    batch: &[QueuedIncrement],
) -> Result<Applied, StoreError> {
    let Some(first) = batch.first() else {
        return Ok(Vec::new());
    };
    let keys: Vec<&[u8]> = batch
        .iter()
        .map(|queued| queued.key.as_bytes().as_slice())
        .collect();
    let amounts: Vec<i64> = batch.iter().map(|queued| queued.by).collect();
    let seen: Vec<i64> = batch
        .iter()
        .map(|queued| queued.touch.last_seen.as_millis())
        .collect();
    let idle: Vec<i64> = batch
        .iter()
        .map(|queued| queued.touch.idle_deadline.as_millis())
        .collect();
    let now: Vec<i64> = batch.iter().map(|queued| queued.now.as_millis()).collect();
    let query = sqlx::query_as(sql)
        .bind(first.field.as_str())
        .bind(keys)
        .bind(amounts)
        .bind(seen)
        .bind(idle)
        .bind(now);
    match on_held!(held, postgres_unavailable, |connection| query
        .fetch_all(connection))
    {
        Ok(applied) => Ok(applied),
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(DEADLOCK_DETECTED) => {
            Ok(Vec::new())
        }
        Err(error) => Err(to_store_error(error)),
    }
}

/// SQLSTATE `deadlock_detected`.
const DEADLOCK_DETECTED: &str = "40P01";

/// A change set's data part in the shape the update statement binds.
pub(crate) struct Delta {
    pub(crate) removed: Vec<String>,
    /// A JSON object of the keys set.
    pub(crate) set: String,
    /// The new device metadata as JSON, if it changed.
    pub(crate) device: Option<String>,
}

impl Delta {
    pub(crate) fn of(changes: &ChangeSet) -> Result<Self, serde_json::Error> {
        let mut removed = Vec::new();
        let mut set = SessionData::new();
        for (key, change) in &changes.keys {
            match change {
                KeyChange::Remove => removed.push(key.clone()),
                KeyChange::Set(value) => {
                    set.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(Self {
            removed,
            set: serde_json::to_string(&set)?,
            device: changes
                .device
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        })
    }
}

/// PostgreSQL errors that mean the database cannot serve requests right now, rather than that
/// it rejected this one: connection exceptions (class `08`), insufficient resources (class
/// `53`: too many connections, out of memory or disk), statement timeout or cancellation
/// (`57014`), shutdown and startup (`57P01`-`57P03`), lock timeout (`55P03`) and a read-only
/// server (`25006`: a standby during failover).
fn postgres_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    error.code().is_some_and(|code| {
        code.starts_with("08")
            || code.starts_with("53")
            || matches!(
                &*code,
                "57014" | "57P01" | "57P02" | "57P03" | "55P03" | "25006"
            )
    })
}

/// A driver error as the contract's error, on this dialect: also what the Sequelize tables on it
/// use (`crate::sequelize`), so both layouts classify alike.
pub(crate) fn to_store_error(error: sqlx::Error) -> StoreError {
    store_error(error, postgres_unavailable)
}

/// SQLSTATE `unique_violation`.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.code().as_deref() == Some("23505"))
}

#[async_trait]
impl Store for PostgresStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(self.lookup(key, now).await?.into_live())
    }

    /// One `SELECT` of the row, expired or not; Rust decides which.
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        let query = sqlx::query_as(&self.sql.load).bind(key.as_bytes().as_slice());
        let row: Option<SessionRow> = on_held!(self.held, postgres_unavailable, |connection| {
            query.fetch_optional(connection)
        })
        .map_err(to_store_error)?;
        SessionRow::lookup(row, now)
    }

    /// One `INSERT ... ON CONFLICT DO UPDATE ... WHERE` the existing row has expired.
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        let query = bind_new_record(sqlx::query(&self.sql.create), key, record)?;
        let result = on_held!(self.held, postgres_unavailable, |connection| {
            query.execute(connection)
        })
        .map_err(to_store_error)?;
        Ok(upsert_outcome(result.rows_affected()))
    }

    /// One `UPDATE`: `(data - removed) || set`, metadata and touch, on the live row only.
    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let changed = self
            .apply(key, None, changes, now)
            .await
            .map_err(to_store_error)?;
        Ok(update_outcome(changed > 0))
    }

    /// One `UPDATE` that sets the key column and applies the delta. When the new key is taken
    /// (unique violation) by an expired row, that row is deleted and the move tried once more;
    /// by a live row, it is a `Collision`. With 256-bit random ids, that path is for tests.
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        let outcome = |changed: u64| {
            if changed > 0 {
                RotateOutcome::Rotated
            } else {
                RotateOutcome::Gone
            }
        };
        match self.apply(from, Some(to), changes, now).await {
            Ok(changed) => return Ok(outcome(changed)),
            Err(error) if is_unique_violation(&error) => {}
            Err(error) => return Err(to_store_error(error)),
        }
        let query = sqlx::query(&self.sql.drop_expired_key)
            .bind(to.as_bytes().as_slice())
            .bind(now.as_millis());
        let dropped = on_held!(self.held, postgres_unavailable, |connection| {
            query.execute(connection)
        })
        .map_err(to_store_error)?
        .rows_affected();
        if dropped == 0 {
            return Ok(RotateOutcome::Collision);
        }
        match self.apply(from, Some(to), changes, now).await {
            Ok(changed) => Ok(outcome(changed)),
            Err(error) if is_unique_violation(&error) => Ok(RotateOutcome::Collision),
            Err(error) => Err(to_store_error(error)),
        }
    }

    /// One `UPDATE ... RETURNING` with `jsonb_set`; the integer check runs inside the statement.
    /// While other increments run, increments queue and are committed together, one statement
    /// over arrays per batch (see `crate::increment_batch`); the few a batch does not apply are
    /// decided by the single statement.
    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        if self.increments.is_empty() {
            if let Ok(turn) = self.batch_turns.clone().try_acquire_owned() {
                // Nothing to commit with: the single statement, at once.
                let outcome = self.increment_one(key, field, by, touch, now).await;
                drop(turn);
                return outcome;
            }
        }
        let ticket = self.increments.push(key, field.to_owned(), by, touch, now);
        if let Some(value) = self.queued_increment(ticket).await? {
            return Ok(IncrementOutcome::Value(value));
        }
        self.increment_one(key, field, by, touch, now).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let query = sqlx::query(&self.sql.delete).bind(key.as_bytes().as_slice());
        let result = on_held!(self.held, postgres_unavailable, |connection| {
            query.execute(connection)
        })
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
        let query = sqlx::query_as(&self.sql.list_user_sessions)
            .bind(user)
            .bind(now.as_millis());
        let rows: Vec<(Vec<u8>, i64, i64, i64, String)> =
            on_held!(self.held, postgres_unavailable, |connection| {
                query.fetch_all(connection)
            })
            .map_err(to_store_error)?;
        Ok(decode_summaries(rows, Ok))
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let query = sqlx::query(&self.sql.delete_user_sessions)
            .bind(user)
            .bind(keep.map(|key| key.as_bytes().as_slice()));
        let result = on_held!(self.held, postgres_unavailable, |connection| {
            query.execute(connection)
        })
        .map_err(to_store_error)?;
        Ok(result.rows_affected())
    }

    /// One bounded `DELETE` of a batch picked oldest first with `FOR UPDATE SKIP LOCKED`.
    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let query = sqlx::query(&self.sql.delete_expired)
            .bind(now.as_millis())
            .bind(i64::from(limit));
        let result = on_held!(self.held, postgres_unavailable, |connection| {
            query.execute(connection)
        })
        .map_err(to_store_error)?;
        Ok(result.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_delta_splits_sets_from_removals() {
        let mut changes = ChangeSet::default();
        changes.set("a\"b", json!({"nested": null}));
        changes.remove("gone");
        let delta = Delta::of(&changes).unwrap();
        assert_eq!(delta.removed, vec!["gone".to_owned()]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&delta.set).unwrap(),
            json!({"a\"b": {"nested": null}})
        );
        assert_eq!(delta.device, None);
    }
}

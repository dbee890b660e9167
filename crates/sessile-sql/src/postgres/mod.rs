//! The PostgreSQL store: `jsonb` data, `timestamptz` deadlines, every commit one statement.
//! See [`PostgresStore`] for the setup, the schema and the guarantees.
//!
//! Like every dialect folder: `options.rs` (the options type and the connection setup),
//! `sql.rs` (the statements), `error.rs` (error classification and deadlock retry), `delta.rs`
//! (how a change set is written), `migrate.rs` (the schema), `batch.rs` (group-committed
//! increments), and the store here.

mod batch;
mod delta;
mod error;
mod migrate;
mod options;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use sessile::limit::UserLimit;
use sessile::store::{Lookup, ScanPage, UserSessionsPage};
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, Store, StoreError, StoreKey,
    Timestamp, Touch, UpdateOutcome,
};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::batch::{run_batch, BATCH_TURNS, MAX_BATCH};
pub(crate) use self::delta::Delta;
use self::error::postgres_unavailable;
pub(crate) use self::error::{is_deadlock, is_unique_violation, to_store_error};
#[cfg(feature = "sequelize")]
pub(crate) use self::options::connect_pool;
pub use self::options::PostgresStoreOptions;
use self::options::DEFAULT_TABLE;
use self::sql::Statements;
use crate::codec::{
    bind_new_record, decode_data, decode_scan, decode_user_page, scan_bounds, update_outcome,
    upsert_outcome, user_page_bounds, LookupRow, ScanRow, SessionRow,
};
use crate::error::{retry_on_deadlock, Error};
use crate::held::{on_held, HeldConnections};
use crate::increment_batch::{
    answer, grouped_increment, turn_of, IncrementQueue, QueuedIncrement, Ticket,
};
use crate::limit::{self, Limited, SignIn, UserRow};
use crate::names::TableNames;

/// Sessions in a PostgreSQL table (feature `postgres`). [`PostgresStoreOptions`] lists the
/// settings. Cheap to clone: clones share the pool.
///
/// # Connecting
///
/// ```no_run
/// use std::time::Duration;
/// use sessile::{Config, Keys, SessionManager, SignedIds};
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
/// let manager = SessionManager::new(store, SignedIds::new(Keys::generate()), Config::default());
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
/// - **A sign-in under a per-user limit** ([`Store::create_within_limit`], or changes carrying
///   [`ChangeSet::user_limit`]) is one transaction instead: a transaction-scoped advisory lock
///   on the table and user, so concurrent sign-ins of one user take turns, then the count, the
///   evictions and the write. Writes without a limit are not slowed by it.
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
        let query = self.update_query(key, moved_to, changes, now)?;
        on_held!(self.held, postgres_unavailable, |connection| query
            .execute(connection))
        .map(|done| done.rows_affected())
    }

    /// The one fixed `UPDATE` that applies the plain part of `changes` (keys, metadata, touch).
    fn update_query<'q>(
        &'q self,
        key: &'q StoreKey,
        moved_to: Option<&'q StoreKey>,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>, sqlx::Error>
    {
        let delta = Delta::of(changes).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        let sql = match (moved_to, &changes.forward) {
            (None, _) => &self.sql.update,
            (Some(_), None) => &self.sql.rotate,
            (Some(_), Some(_)) => &self.sql.rotate_forwarding,
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
            .bind(now.as_millis())
            .bind(changes.idle_timeout.is_some())
            .bind(crate::codec::timeout_millis(changes.idle_timeout.flatten()))
            .bind(changes.absolute_deadline.map(Timestamp::as_millis));
        if let Some(to) = moved_to {
            query = query.bind(to.as_bytes().as_slice());
            if let Some(forward) = &changes.forward {
                query = query
                    .bind(forward.sealed_id.clone())
                    .bind(forward.until.as_millis());
            }
        }
        Ok(query)
    }

    /// A change set with document operations: one transaction that locks the live row
    /// (`SELECT ... FOR UPDATE`), applies the operations to its data with the reference
    /// semantics, and writes the resulting keys with the ordinary update statement. Concurrent
    /// commits to the session wait for the lock, so none is lost.
    async fn update_with_operations(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        use sqlx::Connection;
        let mut lease = self.held.acquire().await.map_err(to_store_error)?;
        let result: Result<Result<UpdateOutcome, StoreError>, sqlx::Error> = async {
            let mut transaction = lease.connection().begin().await?;
            let data: Option<String> = sqlx::query_scalar(&self.sql.lock_live_data)
                .bind(key.as_bytes().as_slice())
                .bind(now.as_millis())
                .fetch_optional(&mut *transaction)
                .await?;
            let Some(data) = data else {
                transaction.rollback().await?;
                return Ok(Ok(UpdateOutcome::Gone));
            };
            let mut resolved = changes.clone();
            let refused = match decode_data(&data) {
                Ok(data) => resolved
                    .resolve_operations(&data)
                    .err()
                    .map(StoreError::from),
                Err(corrupt) => Some(corrupt),
            };
            if let Some(refused) = refused {
                transaction.rollback().await?;
                return Ok(Err(refused));
            }
            let done = self
                .update_query(key, None, &resolved, now)?
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok(Ok(update_outcome(done.rows_affected() > 0)))
        }
        .await;
        lease
            .finish(result, postgres_unavailable)
            .map_err(to_store_error)?
    }

    /// A sign-in under a per-user limit ([`Store::create_within_limit`], or an `update` or
    /// `rotate` whose changes carry [`ChangeSet::user_limit`]) in one transaction that first
    /// takes the user's advisory lock (see `sql.rs`), so concurrent sign-ins of the user take
    /// turns, each counting what the one before it committed. Committed only when written; run
    /// again when PostgreSQL picks it as a deadlock victim (it also locks the rows it moves and
    /// evicts, and those may be another user's).
    async fn within_limit(
        &self,
        sign_in: SignIn<'_>,
        (user, limit): (&str, &UserLimit),
        now: Timestamp,
    ) -> Result<Limited, StoreError> {
        use sqlx::Connection;
        retry_on_deadlock(is_deadlock, || async {
            let mut lease = self.held.acquire().await.map_err(to_store_error)?;
            let result: Result<Result<Limited, StoreError>, sqlx::Error> = async {
                let mut transaction = lease.connection().begin().await?;
                sqlx::query(&self.sql.lock_user)
                    .bind(user)
                    .execute(&mut *transaction)
                    .await?;
                let outcome = self
                    .sign_in_on(&mut transaction, &sign_in, (user, limit), now)
                    .await?;
                if let Ok(Limited::Written) = outcome {
                    transaction.commit().await?;
                } else {
                    transaction.rollback().await?;
                }
                Ok(outcome)
            }
            .await;
            lease
                .finish(result, postgres_unavailable)
                .map_err(to_store_error)?
        })
        .await
    }

    /// The sign-in on the transaction [`PostgresStore::within_limit`] opened, under the
    /// user's lock. A new session: refuse a taken key, count, decide, evict, insert. An update
    /// or rotation: lock the session's row, refuse a taken new key, count and decide, apply
    /// the changes (resolving document operations against the locked data), evict.
    async fn sign_in_on(
        &self,
        connection: &mut PgConnection,
        sign_in: &SignIn<'_>,
        (user, limit): (&str, &UserLimit),
        now: Timestamp,
    ) -> Result<Result<Limited, StoreError>, sqlx::Error> {
        let data = match *sign_in {
            SignIn::Create { .. } => None,
            SignIn::Change { from, .. } => {
                let data: Option<String> = sqlx::query_scalar(&self.sql.lock_live_data)
                    .bind(from.as_bytes().as_slice())
                    .bind(now.as_millis())
                    .fetch_optional(&mut *connection)
                    .await?;
                if data.is_none() {
                    return Ok(Ok(Limited::Gone));
                }
                data
            }
        };
        if let Some(key) = sign_in.new_key() {
            let taken: bool = sqlx::query_scalar(&self.sql.take_key)
                .bind(key.as_bytes().as_slice())
                .bind(now.as_millis())
                .fetch_one(&mut *connection)
                .await?;
            if taken {
                return Ok(Ok(Limited::Collision));
            }
        }
        let rows: Vec<UserRow> = sqlx::query_as(&self.sql.user_sessions)
            .bind(user)
            .bind(now.as_millis())
            .fetch_all(&mut *connection)
            .await?;
        let evicted = match limit::decide(limit, rows, &sign_in.keys(), now) {
            Ok(Some(evicted)) => evicted,
            Ok(None) => return Ok(Ok(Limited::Refused)),
            Err(corrupt) => return Ok(Err(corrupt)),
        };
        let written = match *sign_in {
            SignIn::Create { key, record } => {
                let insert = match bind_new_record(sqlx::query(&self.sql.create), key, record) {
                    Ok(insert) => insert,
                    Err(unencodable) => return Ok(Err(unencodable)),
                };
                insert.execute(&mut *connection).await?.rows_affected()
            }
            SignIn::Change { from, to, changes } => {
                let resolved;
                let changes = match &data {
                    Some(data) if !changes.operations.is_empty() => {
                        let mut with_values = changes.clone();
                        let refused = match decode_data(data) {
                            Ok(data) => with_values
                                .resolve_operations(&data)
                                .err()
                                .map(StoreError::from),
                            Err(corrupt) => Some(corrupt),
                        };
                        if let Some(refused) = refused {
                            return Ok(Err(refused));
                        }
                        resolved = with_values;
                        &resolved
                    }
                    _ => changes,
                };
                self.update_query(from, to, changes, now)?
                    .execute(&mut *connection)
                    .await?
                    .rows_affected()
            }
        };
        if written == 0 {
            // The key was free and the row locked and live: only a write of the new key in
            // the instant since `take_key` gets here.
            return Ok(Ok(Limited::Collision));
        }
        if !evicted.is_empty() {
            let keys: Vec<Vec<u8>> = evicted.iter().map(|key| key.as_bytes().to_vec()).collect();
            sqlx::query(&self.sql.evict)
                .bind(keys)
                .bind(user)
                .execute(&mut *connection)
                .await?;
        }
        Ok(Ok(Limited::Written))
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
        let take_turn = || turn_of(self.batch_turns.clone(), to_store_error);
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

#[async_trait]
impl Store for PostgresStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(self.lookup(key, now).await?.into_live())
    }

    /// One `SELECT` of the row, expired or not; Rust decides which. Only when there is no row,
    /// a second one of the forward pointer a rotation may have left (rotation grace).
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        let query = sqlx::query_as(&self.sql.load).bind(key.as_bytes().as_slice());
        let found: LookupRow<SessionRow> =
            on_held!(self.held, postgres_unavailable, |connection| {
                query.fetch_one(connection)
            })
            .map_err(to_store_error)?;
        SessionRow::answer(found, now)
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

    /// A transaction under the user's advisory lock: the collision check, the user's live
    /// sessions counted, the evictions and the insert (see `PostgresStore::within_limit`).
    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        let Some(user) = record.user.as_deref() else {
            return self.create(key, record).await;
        };
        let sign_in = SignIn::Create { key, record };
        Ok(self
            .within_limit(sign_in, (user, limit), record.last_seen)
            .await?
            .created())
    }

    /// One `UPDATE`: `(data - removed) || set`, metadata and touch, on the live row only. A
    /// sign-in under a per-user limit is a transaction under the user's advisory lock instead.
    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        if let Some(sign_in) = limit::sign_in(changes) {
            let change = SignIn::Change {
                from: key,
                to: None,
                changes,
            };
            return Ok(self.within_limit(change, sign_in, now).await?.updated());
        }
        if !changes.operations.is_empty() {
            return self.update_with_operations(key, changes, now).await;
        }
        let changed = self
            .apply(key, None, changes, now)
            .await
            .map_err(to_store_error)?;
        Ok(update_outcome(changed > 0))
    }

    /// One `UPDATE` that sets the key column and applies the delta. When the new key is taken
    /// (unique violation) by an expired row, that row is deleted and the move tried once more;
    /// by a live row, it is a `Collision`. With 256-bit random ids, that path is for tests. A
    /// sign-in under a per-user limit is a transaction under the user's advisory lock instead.
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        if !changes.operations.is_empty() {
            // The engine resolves them against the record a rotation loads first.
            return Err(StoreError::Unsupported(
                "a rotation's change set carries no document operations: resolve them first \
                 (ChangeSet::resolve_operations)",
            ));
        }
        if let Some(sign_in) = limit::sign_in(changes) {
            let change = SignIn::Change {
                from,
                to: Some(to),
                changes,
            };
            return Ok(self.within_limit(change, sign_in, now).await?.rotated());
        }
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
        grouped_increment(
            &self.increments,
            &self.batch_turns,
            (key, field, by, touch, now),
            || self.increment_one(key, field, by, touch, now),
            |ticket| self.queued_increment(ticket),
        )
        .await
    }

    /// One statement: the row and any forward pointer under `key`.
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let query = sqlx::query_scalar(&self.sql.delete).bind(key.as_bytes().as_slice());
        let deleted: i64 = on_held!(self.held, postgres_unavailable, |connection| {
            query.fetch_one(connection)
        })
        .map_err(to_store_error)?;
        Ok(deleted > 0)
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
        let query = sqlx::query_as(&self.sql.list_user_sessions)
            .bind(user)
            .bind(now.as_millis())
            .bind(created_at)
            .bind(key)
            .bind(i64::from(read));
        let rows: Vec<(Vec<u8>, i64, i64, i64, String)> =
            on_held!(self.held, postgres_unavailable, |connection| {
                query.fetch_all(connection)
            })
            .map_err(to_store_error)?;
        Ok(decode_user_page(rows, read, Ok))
    }

    /// In key order (the primary key's index); the cursor is the last key's hex.
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        let (after, limit) = scan_bounds(cursor, limit)?;
        let query = sqlx::query_as(&self.sql.scan)
            .bind(after)
            .bind(i64::from(limit));
        let rows: Vec<ScanRow<String, String>> =
            on_held!(self.held, postgres_unavailable, |connection| {
                query.fetch_all(connection)
            })
            .map_err(to_store_error)?;
        Ok(decode_scan(rows, limit, Ok, Ok))
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        // The one statement here that locks several sessions' rows, so the one that can lose
        // a deadlock (to another user-wide delete, or to an application's own transaction).
        retry_on_deadlock(is_deadlock, || async {
            let query = sqlx::query(&self.sql.delete_user_sessions)
                .bind(user)
                .bind(keep.map(|key| key.as_bytes().as_slice()));
            let result = on_held!(self.held, postgres_unavailable, |connection| {
                query.execute(connection)
            })
            .map_err(to_store_error)?;
            Ok(result.rows_affected())
        })
        .await
    }

    /// One `COUNT(*)` through the `expires_at` index (see ARCHITECTURE.md, "Live sessions").
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let query = sqlx::query_scalar(&self.sql.count_live).bind(now.as_millis());
        let live: i64 = on_held!(self.held, postgres_unavailable, |connection| {
            query.fetch_one(connection)
        })
        .map_err(to_store_error)?;
        Ok(live.max(0) as u64)
    }

    /// One bounded `DELETE` of a batch picked oldest first with `FOR UPDATE SKIP LOCKED`.
    /// Lapsed forward pointers first (as many, uncounted: they were never sessions), then
    /// one bounded batch of expired sessions.
    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let query = sqlx::query(&self.sql.forwards_delete_lapsed)
            .bind(now.as_millis())
            .bind(i64::from(limit));
        on_held!(self.held, postgres_unavailable, |connection| {
            query.execute(connection)
        })
        .map_err(to_store_error)?;
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

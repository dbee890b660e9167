//! The MySQL / MariaDB store: InnoDB, utf8mb4, every commit one statement or one short
//! transaction. [`MySqlStore`] documents what it guarantees and how.

mod delta;
mod migrate;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sessile::store::Lookup;
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, SessionData, SessionSummary,
    Store, StoreError, StoreKey, Timestamp, Touch, UpdateOutcome,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions};
use sqlx::{Connection, MySqlConnection, MySqlPool};

pub(crate) use self::delta::MYSQL_JSON;
use self::delta::{json_path, key_in_place_possible};
use crate::codec::{
    bind_new_record, decode_data, decode_summaries, encode_data, lookup_row, update_outcome,
    SessionRow,
};
use crate::delta::{apply_data_changes, bind_all, increment_field, touch_only, DataSource};
use crate::error::{store_error, Error};
use crate::held::{on_held, HeldConnections};
use crate::names::validate_identifier;
use crate::options::{shared_options, SharedOptions};
use crate::tls;

/// The table sessions live in unless configured otherwise.
const DEFAULT_TABLE: &str = "sessile_sessions";

/// How a [`MySqlStore`] connects: pool size, the timeouts that bound how long an operation may
/// take before it fails with [`StoreError::Unavailable`], the table and whether to migrate at
/// startup. The same names as every sessile store's options.
///
/// - `max_connections` (default 10), `acquire_timeout` (default 5 s);
/// - `statement_timeout` (default 5 s), set on every connection: MariaDB's
///   `max_statement_time`, MySQL's `max_execution_time`, and `innodb_lock_wait_timeout` (whole
///   seconds, at least one) on both; `no_statement_timeout` keeps the server's settings;
/// - `table` (default `sessile_sessions`, at most 64 characters); MySQL has no schemas inside a
///   database, so there is no `schema` option (the database is the URL's);
/// - `migrate_on_connect` (default on); [`MySqlStoreOptions::migration_sql`] gives the SQL to
///   teams that run migrations with their own tool.
///
/// ```no_run
/// use std::time::Duration;
/// use sessile_sql::MySqlStoreOptions;
///
/// # async fn connect() -> Result<(), sessile_sql::Error> {
/// let store = MySqlStoreOptions::new()
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(2))
///     .statement_timeout(Duration::from_secs(2))
///     .table("app_sessions")
///     .connect("mysql://app:secret@db.internal:3306/app")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MySqlStoreOptions {
    shared: SharedOptions,
}

impl Default for MySqlStoreOptions {
    /// See the list above.
    fn default() -> Self {
        Self {
            shared: SharedOptions::new(DEFAULT_TABLE, true),
        }
    }
}

impl MySqlStoreOptions {
    /// The defaults (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    shared_options!(statement_timeout);

    /// The SQL that creates or upgrades the sessions table, for teams that run migrations with
    /// their own tool (then turn [`migrate_on_connect`](Self::migrate_on_connect) off). It is
    /// what [`MySqlStore::migrate`] runs, without its bookkeeping; every statement is idempotent
    /// (`IF NOT EXISTS`), so a later `migrate` finds the table in place and only records the
    /// version. The unrendered files are under `migrations/mysql/` in the crate's source.
    ///
    /// ```
    /// use sessile_sql::MySqlStoreOptions;
    ///
    /// let sql = MySqlStoreOptions::new().table("app_sessions").migration_sql()?;
    /// assert!(sql.contains("CREATE TABLE IF NOT EXISTS `app_sessions`"));
    /// # Ok::<(), sessile_sql::Error>(())
    /// ```
    pub fn migration_sql(&self) -> Result<String, Error> {
        validate_table_name(&self.shared.table)?;
        Ok(migrate::migration_sql(&self.shared.table))
    }

    /// Connects to the database at `url` (`mysql://user:password@host:port/database`).
    pub async fn connect(self, url: &str) -> Result<MySqlStore, Error> {
        let options: MySqlConnectOptions = url.parse().map_err(Error::Connect)?;
        self.connect_with(options).await
    }

    /// Connects with connection options built in code. The character set is forced to
    /// `utf8mb4` (keys and values may hold any Unicode, emoji included).
    pub async fn connect_with(self, options: MySqlConnectOptions) -> Result<MySqlStore, Error> {
        validate_table_name(&self.shared.table)?;
        let options = match &self.shared.tls_ca_certificates {
            Some(pem) => tls::mysql(options, pem)?,
            None => options,
        };
        let options = options.charset("utf8mb4");
        let statement_timeout = self.shared.statement_timeout;
        let pool = MySqlPoolOptions::new()
            .max_connections(self.shared.max_connections)
            .acquire_timeout(self.shared.acquire_timeout)
            // The store's operations run on connections it holds outside the pool (see
            // `held.rs`), which pings those idle for a second or more itself; the pool only
            // opens them, and serves migrations and the application's own queries, for which a
            // ping on checkout still drops a connection a server restart killed.
            .test_before_acquire(true)
            .after_connect(move |connection, _| {
                Box::pin(async move { set_session_timeouts(connection, statement_timeout).await })
            })
            .connect_with(options)
            .await
            .map_err(Error::Connect)?;
        self.from_pool(pool).await
    }

    /// A store on a pool the application configured itself, with this table, migrated unless
    /// [`MySqlStoreOptions::migrate_on_connect`] turned that off.
    ///
    /// The pool's connections should use `utf8mb4` (sqlx's default) and may set their own
    /// timeouts; [`MySqlStoreOptions::statement_timeout`] applies only to pools this type opens.
    pub async fn from_pool(self, pool: MySqlPool) -> Result<MySqlStore, Error> {
        validate_table_name(&self.shared.table)?;
        let store = MySqlStore {
            held: Arc::new(HeldConnections::new(pool.clone())),
            pool,
            sql: Arc::new(Statements::for_table(&self.shared.table)),
        };
        if self.shared.migrate_on_connect {
            store.migrate().await?;
        }
        Ok(store)
    }
}

/// Sessions in a MySQL 8 or MariaDB 10.5+ database.
///
/// The table (`sessile_sessions` by default) holds one row per session under its 32-byte store
/// key (`BINARY(32)`), the data as a JSON object, the user for the per-user index
/// (`VARCHAR(255)`, compared exactly), the times as Unix milliseconds in `BIGINT` and
/// `expires_at`, the earlier of the two deadlines, which every write keeps and every query
/// filters on (indexed, as is `user_id`). Schema versions are recorded in
/// `sessile_schema_versions`.
///
/// ```no_run
/// use sessile::{Config, Keys, SessionManager};
/// use sessile_sql::MySqlStore;
///
/// # async fn app() -> Result<(), sessile_sql::Error> {
/// let url = std::env::var("MYSQL_URL")
///     .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
/// // Connects a pool, creates or upgrades the table, ready to serve.
/// let store = MySqlStore::connect(&url).await?;
/// let manager = SessionManager::new(store, Config::new(Keys::generate()));
/// # Ok(()) }
/// ```
///
/// # What the store guarantees
///
/// - **Atomic commits.** `update` is one `UPDATE ... WHERE key = ? AND expires_at > ?` that
///   applies the delta with `JSON_REMOVE`/`JSON_SET`, each key addressed by the quoted path
///   `$."key"` (`"` and `\` escaped as in JSON, which both servers accept): concurrent
///   requests that change different keys of one session both persist, and a deleted or expired
///   session is never recreated (the guard matches no row, the outcome is `Gone`). Keys a JSON
///   path cannot address reliably (control characters) take one short transaction instead
///   (`SELECT ... FOR UPDATE`, then `UPDATE`).
/// - **Matched, not changed, rows.** sqlx connects with `CLIENT_FOUND_ROWS`, so an `UPDATE` that
///   writes the values a row already has still counts the row: it is `Applied`, never `Gone`.
/// - **`increment` in one round trip.** Neither MySQL nor MariaDB has `UPDATE ... RETURNING`.
///   The store runs one `UPDATE` that stores `CAST(LAST_INSERT_ID(<old> + by) AS SIGNED)` with
///   `JSON_SET` and reads the sum back from the statement's OK packet (`last_insert_id`).
///   `LAST_INSERT_ID` is unsigned, so a negative sum arrives as its two's complement and is read
///   back as the same `i64` bits. Values that are not integers within `i64` are refused inside
///   the same statement: MySQL cannot raise an error from an expression, but a `BIGINT` overflow
///   is an error in every `sql_mode` (ER_DATA_OUT_OF_RANGE, 1690), and a real overflow of the sum
///   raises the same one, so the non-integer branch overflows on purpose and 1690 means
///   `NotAnInteger`; nothing is written in either case.
/// - **`create`** is one `INSERT ... ON DUPLICATE KEY UPDATE` whose update branch replaces the
///   existing row only when it has expired by the new record's creation time. The row count
///   (1 inserted, 2 replaced, 1 with `CLIENT_FOUND_ROWS` for "left as it was") together with a
///   `LAST_INSERT_ID` marker set only in the update branch tells a `Collision` from a creation.
/// - **`rotate`** is one `UPDATE` of the key column with the delta applied; a duplicate key
///   (1062) is a `Collision`, unless the row under the new key has expired, which is then deleted
///   and the move tried once more.
/// - **Cleanup** reads a batch of expired keys through the `expires_at` index without locking
///   anything (`ORDER BY expires_at LIMIT ?`), then deletes exactly those by primary key,
///   re-checking `expires_at <= ?`. It locks only expired rows, in key order, so cleaners on
///   several nodes queue rather than deadlock, and live traffic never waits on them (a plain
///   `DELETE ... ORDER BY expires_at LIMIT ?` also locks the first live index entry and
///   deadlocks with updates of that session). A deadlock (1213) in any operation is retried
///   once (InnoDB rolled the statement back); a second one is a backend error.
/// - **Errors.** Connection refused, reset or lost, pool timeout, statement timeout (MariaDB
///   1969, MySQL 3024), lock wait timeout (1205), server shutdown (1053), killed connections and
///   lost connections (2013) are [`StoreError::Unavailable`]: the request fails with 503. Rows that
///   do not decode are [`StoreError::Corrupt`]. A connection that failed that way is dropped and
///   replaced, and one idle for a second or more is pinged before use, so the store recovers by
///   itself after a server restart.
/// - **One round trip per operation.** The store runs its statements on up to
///   `max_connections` connections it opens through the pool and then holds itself, since
///   sqlx's pool pings every connection it takes back (and, with `test_before_acquire`, every
///   connection it hands out): through the pool an operation would cost three round trips.
///   The pool's acquire timeout, `max_lifetime` and `idle_timeout` apply to the held
///   connections too; closing the pool ([`MySqlStore::pool`]) makes the store's operations
///   fail and drops its connections.
///
/// # MySQL 8 and MariaDB
///
/// The SQL is written for both. Where they differ: `JSON` is a binary type on MySQL and a checked
/// `LONGTEXT` on MariaDB (reads use `CAST(data AS CHAR)`, which yields the same text on both);
/// the statement timeout is MariaDB's `max_statement_time` (every statement) or MySQL's
/// `max_execution_time` (read-only `SELECT`s only; writes are bounded there by
/// `innodb_lock_wait_timeout`, which the store sets on both); the dialect is detected per
/// connection from `VERSION()`. `VALUES(col)` in `ON DUPLICATE KEY UPDATE` is deprecated (but
/// supported) on MySQL 8.0.20+ and the only form MariaDB accepts. The test machine runs MariaDB
/// 10.11; MySQL 8 is supported by design but not covered by this crate's tests.
#[derive(Clone, Debug)]
pub struct MySqlStore {
    pool: MySqlPool,
    held: Arc<HeldConnections<sqlx::MySql>>,
    sql: Arc<Statements>,
}

impl MySqlStore {
    /// Connects to `url` with the default [`MySqlStoreOptions`] and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        MySqlStoreOptions::default().connect(url).await
    }

    /// Options for connecting: pool size, timeouts, table, migrations.
    pub fn options() -> MySqlStoreOptions {
        MySqlStoreOptions::default()
    }

    /// A store on a pool the application configured itself, using `sessile_sessions`. Call
    /// [`MySqlStore::migrate`] before use. For another table, use
    /// [`MySqlStoreOptions::from_pool`].
    pub fn from_pool(pool: MySqlPool) -> Self {
        Self {
            held: Arc::new(HeldConnections::new(pool.clone())),
            pool,
            sql: Arc::new(Statements::for_table(DEFAULT_TABLE)),
        }
    }

    /// Creates or upgrades the tables. Safe to run on every start, from several processes at
    /// once (they take turns on a named lock).
    pub async fn migrate(&self) -> Result<(), Error> {
        migrate::run(&self.pool, &self.sql.table).await
    }

    /// The connection pool, for the application's own queries or to close it on shutdown.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The session table's name.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    async fn try_create(
        &self,
        key: &StoreKey,
        record: &Record,
    ) -> Result<CreateOutcome, StoreError> {
        let query = bind_new_record(sqlx::query(&self.sql.create), key, record)?;
        let result = on_held!(self.held, mysql_unavailable, |connection| {
            query.execute(connection)
        })
        .map_err(to_store_error)?;
        Ok(create_outcome(
            result.rows_affected(),
            result.last_insert_id(),
        ))
    }

    /// Applies `changes` to the live row under `from`, moving it to `to` (the same key for an
    /// update); whether there was a live row. A duplicate `to` comes back as the driver error.
    async fn apply_changes(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut lease = self.held.acquire().await.map_err(to_store_error)?;
        let result = self
            .apply_changes_on(lease.connection(), from, to, changes, now)
            .await;
        lease.finish_store(result, mysql_unavailable)
    }

    async fn apply_changes_on(
        &self,
        connection: &mut MySqlConnection,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if MYSQL_JSON.in_place_possible(changes) {
            return self
                .write_changes(connection, from, to, changes, DataSource::InPlace, now)
                .await;
        }
        let mut transaction = connection.begin().await.map_err(to_store_error)?;
        let Some(mut data) = self.locked_data(&mut transaction, from, now).await? else {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(false);
        };
        apply_data_changes(changes, &mut data);
        let source = DataSource::Replace(encode_data(&data)?);
        let applied = self
            .write_changes(&mut transaction, from, to, changes, source, now)
            .await?;
        transaction.commit().await.map_err(to_store_error)?;
        Ok(applied)
    }

    async fn write_changes(
        &self,
        connection: &mut MySqlConnection,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        data: DataSource,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let assignments = MYSQL_JSON.assignments(changes, data)?;
        let update = MYSQL_JSON.update_live_row(&self.sql.quoted_table, from, to, assignments, now);
        let result = bind_all(sqlx::query(&update.sql), update.binds)
            .execute(&mut *connection)
            .await
            .map_err(to_store_error)?;
        Ok(result.rows_affected() > 0)
    }

    /// The live row's data under `key`, locked until the transaction ends; `None` if there is no
    /// live row.
    async fn locked_data(
        &self,
        connection: &mut MySqlConnection,
        key: &StoreKey,
        now: Timestamp,
    ) -> Result<Option<SessionData>, StoreError> {
        let text: Option<Vec<u8>> = sqlx::query_scalar(&self.sql.select_data_for_update)
            .bind(key.as_bytes().as_slice())
            .bind(now.as_millis())
            .fetch_optional(&mut *connection)
            .await
            .map_err(to_store_error)?;
        text.map(|bytes| decode_data(&utf8(bytes, "data")?))
            .transpose()
    }

    async fn try_rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        for attempt in 0..2 {
            match self.apply_changes(from, to, changes, now).await {
                Ok(true) => return Ok(RotateOutcome::Rotated),
                Ok(false) => return Ok(RotateOutcome::Gone),
                Err(error) if is_duplicate_key(&error) && attempt == 0 => {
                    // The new key is taken. An expired row there is garbage cleanup has not
                    // reached yet: drop it and move once more; a live one is a collision.
                    let query = sqlx::query(&self.sql.delete_expired_key)
                        .bind(to.as_bytes().as_slice())
                        .bind(now.as_millis());
                    let dropped = on_held!(self.held, mysql_unavailable, |connection| {
                        query.execute(connection)
                    })
                    .map_err(to_store_error)?;
                    if dropped.rows_affected() == 0 {
                        return Ok(RotateOutcome::Collision);
                    }
                }
                Err(error) if is_duplicate_key(&error) => return Ok(RotateOutcome::Collision),
                Err(error) => return Err(error),
            }
        }
        Ok(RotateOutcome::Collision)
    }

    async fn try_increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        if !key_in_place_possible(field) {
            return self
                .increment_in_transaction(key, field, by, touch, now)
                .await;
        }
        let path = json_path(field);
        let mut query = sqlx::query(&self.sql.increment);
        for _ in 0..INCREMENT_PATH_BINDS {
            query = query.bind(path.as_str());
        }
        let query = query
            .bind(by)
            .bind(touch.last_seen.as_millis())
            .bind(touch.idle_deadline.as_millis())
            .bind(touch.idle_deadline.as_millis())
            .bind(key.as_bytes().as_slice())
            .bind(now.as_millis());
        let result = on_held!(self.held, mysql_unavailable, |connection| {
            query.execute(connection)
        });
        match result {
            // The OK packet carries LAST_INSERT_ID as unsigned 64 bits; the sum is their i64
            // reading (two's complement), negative sums included.
            Ok(result) if result.rows_affected() > 0 => {
                Ok(IncrementOutcome::Value(result.last_insert_id() as i64))
            }
            Ok(_) => Ok(IncrementOutcome::Gone),
            Err(error) if mysql_error_number(&error) == Some(ER_DATA_OUT_OF_RANGE) => {
                Ok(IncrementOutcome::NotAnInteger)
            }
            Err(error) => Err(to_store_error(error)),
        }
    }

    /// Increments a field whose path cannot be written in place: read under a row lock, add in
    /// Rust with the reference rule ([`sessile::change::incremented`]), write back, in one
    /// transaction.
    async fn increment_in_transaction(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let mut lease = self.held.acquire().await.map_err(to_store_error)?;
        let result = self
            .increment_on(lease.connection(), key, field, by, touch, now)
            .await;
        lease.finish_store(result, mysql_unavailable)
    }

    async fn increment_on(
        &self,
        connection: &mut MySqlConnection,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let mut transaction = connection.begin().await.map_err(to_store_error)?;
        let Some(mut data) = self.locked_data(&mut transaction, key, now).await? else {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(IncrementOutcome::Gone);
        };
        let Some(value) = increment_field(&mut data, field, by) else {
            transaction.rollback().await.map_err(to_store_error)?;
            return Ok(IncrementOutcome::NotAnInteger);
        };
        self.write_changes(
            &mut transaction,
            key,
            key,
            &touch_only(touch),
            DataSource::Replace(encode_data(&data)?),
            now,
        )
        .await?;
        transaction.commit().await.map_err(to_store_error)?;
        Ok(IncrementOutcome::Value(value))
    }
}

/// How often the increment statement binds the field's path.
const INCREMENT_PATH_BINDS: usize = 6;

/// The statements of one table, formatted once.
#[derive(Debug)]
struct Statements {
    table: String,
    quoted_table: String,
    load: String,
    create: String,
    select_data_for_update: String,
    delete_expired_key: String,
    increment: String,
    delete: String,
    list_user_sessions: String,
    delete_user_sessions: String,
    expired_keys: String,
}

impl Statements {
    fn for_table(table: &str) -> Self {
        let t = quote_identifier(table);
        // Each column of the update branch keeps its value unless the row has expired by the
        // new record's creation (`VALUES(last_seen)`). `expires_at` is assigned last because
        // later assignments see earlier ones, and every condition reads the old `expires_at`.
        // The first assignment also sets LAST_INSERT_ID to 1 (kept) or 2 (replaced): an
        // insert never evaluates it and reports 0, so "1 row, id 1" can only be a collision.
        let replace_if_expired = |column: &str| {
            format!("{column} = IF(expires_at <= VALUES(last_seen), VALUES({column}), {column})")
        };
        let create = format!(
            "INSERT INTO {t} (`key`, data, user_id, created_at, last_seen, idle_deadline, \
                 absolute_deadline, expires_at, persistent, device) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE \
                 data = IF(LAST_INSERT_ID(IF(expires_at <= VALUES(last_seen), 2, 1)) = 2, \
                     VALUES(data), data), \
                 {}, {}, {}, {}, {}, {}, {}, {}",
            replace_if_expired("user_id"),
            replace_if_expired("created_at"),
            replace_if_expired("last_seen"),
            replace_if_expired("idle_deadline"),
            replace_if_expired("absolute_deadline"),
            replace_if_expired("persistent"),
            replace_if_expired("device"),
            replace_if_expired("expires_at"),
        );
        // The current value as a BIGINT: absent or JSON null count as 0, integers within i64
        // as themselves (checked in DECIMAL, since MariaDB calls any integer literal INTEGER),
        // anything else overflows on purpose (see [`MySqlStore`]). `(last_seen = last_seen)`
        // is 1 but depends on the row, so the server cannot fold the overflow into an error at
        // prepare time.
        let current = "CASE \
                 WHEN JSON_EXTRACT(data, ?) IS NULL OR JSON_TYPE(JSON_EXTRACT(data, ?)) = 'NULL' \
                     THEN 0 \
                 WHEN JSON_TYPE(JSON_EXTRACT(data, ?)) = 'INTEGER' \
                     AND CAST(JSON_EXTRACT(data, ?) AS DECIMAL(65, 0)) \
                         BETWEEN -9223372036854775808 AND 9223372036854775807 \
                     THEN CAST(JSON_EXTRACT(data, ?) AS SIGNED) \
                 ELSE 9223372036854775807 + (last_seen = last_seen) \
             END";
        // Data that is not an object (a corrupt row) matches no row, so the increment answers
        // `Gone` (the engine's "no session") instead of a value `JSON_SET` never wrote.
        let increment = format!(
            "UPDATE {t} SET \
                 data = JSON_SET(data, ?, CAST(LAST_INSERT_ID({current} + ?) AS SIGNED)), \
                 last_seen = ?, idle_deadline = LEAST(?, absolute_deadline), \
                 expires_at = LEAST(?, absolute_deadline) \
             WHERE `key` = ? AND expires_at > ? AND JSON_TYPE(data) = 'OBJECT'"
        );
        debug_assert_eq!(increment.matches("data, ?").count(), INCREMENT_PATH_BINDS);
        Self {
            table: table.to_owned(),
            // Expired rows too: `lookup` tells expired from missing in Rust, from this one read.
            load: format!(
                "SELECT CAST(data AS CHAR) AS data, user_id, created_at, last_seen, \
                     idle_deadline, absolute_deadline, persistent, \
                     CAST(device AS CHAR) AS device \
                 FROM {t} WHERE `key` = ?"
            ),
            create,
            select_data_for_update: format!(
                "SELECT CAST(data AS CHAR) FROM {t} WHERE `key` = ? AND expires_at > ? FOR UPDATE"
            ),
            delete_expired_key: format!("DELETE FROM {t} WHERE `key` = ? AND expires_at <= ?"),
            increment,
            delete: format!("DELETE FROM {t} WHERE `key` = ?"),
            list_user_sessions: format!(
                "SELECT `key`, created_at, last_seen, expires_at, CAST(device AS CHAR) \
                 FROM {t} WHERE user_id = ? AND expires_at > ? ORDER BY created_at, `key`"
            ),
            delete_user_sessions: format!(
                "DELETE FROM {t} WHERE user_id = ? AND (? IS NULL OR `key` <> ?)"
            ),
            expired_keys: format!(
                "SELECT `key` FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"
            ),
            quoted_table: t,
        }
    }
}

/// What an `INSERT ... ON DUPLICATE KEY UPDATE` did, from its row count and id marker (see
/// [`Statements::for_table`]).
fn create_outcome(rows_affected: u64, last_insert_id: u64) -> CreateOutcome {
    match (rows_affected, last_insert_id) {
        (1, 0) | (2, _) => CreateOutcome::Created,
        _ => CreateOutcome::Collision,
    }
}

/// Checks a table name: a plain identifier, so it can be quoted without escaping; MySQL's
/// identifiers hold at most 64 characters.
fn validate_table_name(table: &str) -> Result<(), Error> {
    validate_identifier("table", table, 64)
}

/// A validated identifier in backquotes.
fn quote_identifier(identifier: &str) -> String {
    format!("`{identifier}`")
}

/// Sets the statement and lock-wait timeouts on a new connection, in the dialect it speaks.
async fn set_session_timeouts(
    connection: &mut MySqlConnection,
    timeout: Option<Duration>,
) -> Result<(), sqlx::Error> {
    let Some(timeout) = timeout else {
        return Ok(());
    };
    let lock_wait_seconds = timeout.as_secs_f64().ceil().max(1.0) as u64;
    // Numbers we format ourselves: not every server version takes placeholders in `SET`.
    let statement_limit = if is_mariadb(connection).await? {
        format!("max_statement_time = {:.3}", timeout.as_secs_f64())
    } else {
        format!("max_execution_time = {}", timeout.as_millis().max(1))
    };
    let set =
        format!("SET SESSION {statement_limit}, innodb_lock_wait_timeout = {lock_wait_seconds}");
    sqlx::query(&set).execute(&mut *connection).await?;
    Ok(())
}

/// Switches the statement timeout off on `connection` (for migrations, which may wait for
/// another process's lock).
async fn lift_statement_timeout(connection: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    let setting = if is_mariadb(connection).await? {
        "SET SESSION max_statement_time = 0"
    } else {
        "SET SESSION max_execution_time = 0"
    };
    sqlx::query(setting).execute(&mut *connection).await?;
    Ok(())
}

async fn is_mariadb(connection: &mut MySqlConnection) -> Result<bool, sqlx::Error> {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut *connection)
        .await?;
    Ok(version.contains("MariaDB"))
}

const ER_DUP_ENTRY: u16 = 1062;
const ER_DATA_OUT_OF_RANGE: u16 = 1690;
const ER_LOCK_DEADLOCK: u16 = 1213;

/// Server errors that mean the database cannot serve requests right now, rather than that it
/// rejected this one.
const UNAVAILABLE: &[u16] = &[
    1040, // too many connections
    1053, // server shutdown in progress
    1205, // lock wait timeout exceeded
    1290, // running with --read-only / super_read_only (failover in progress)
    1317, // query execution was interrupted
    1836, // MariaDB: running in read-only mode
    1927, // MariaDB: connection was killed
    1969, // MariaDB: max_statement_time exceeded
    2006, // server has gone away
    2013, // lost connection to server during query
    3024, // MySQL: max_execution_time exceeded
    4031, // MySQL: disconnected by the server
];

fn mysql_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<MySqlDatabaseError>()
        .is_some_and(|error| UNAVAILABLE.contains(&error.number()))
}

fn mysql_error_number(error: &sqlx::Error) -> Option<u16> {
    match error {
        sqlx::Error::Database(database) => database
            .try_downcast_ref::<MySqlDatabaseError>()
            .map(MySqlDatabaseError::number),
        _ => None,
    }
}

/// A driver error as the contract's error, on this dialect: also what the Sequelize tables on it
/// use (`crate::sequelize`), so both layouts classify alike.
pub(crate) fn to_store_error(error: sqlx::Error) -> StoreError {
    store_error(error, mysql_unavailable)
}

/// The server error number behind a [`StoreError::Backend`], if any.
fn store_error_number(error: &StoreError) -> Option<u16> {
    match error {
        StoreError::Backend(source) => source
            .downcast_ref::<sqlx::Error>()
            .and_then(mysql_error_number),
        _ => None,
    }
}

fn is_duplicate_key(error: &StoreError) -> bool {
    store_error_number(error) == Some(ER_DUP_ENTRY)
}

/// Runs `operation`, and once more if InnoDB chose it as a deadlock victim (which rolled it
/// back, so running it again is safe).
async fn retry_on_deadlock<T, F, Fut>(mut operation: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    match operation().await {
        Err(error) if store_error_number(&error) == Some(ER_LOCK_DEADLOCK) => {
            tracing::debug!(%error, "session store operation hit a deadlock; retrying once");
            operation().await
        }
        outcome => outcome,
    }
}

/// Text read back as bytes (text columns with a binary collation are flagged binary, which
/// sqlx's `String` refuses); anything but UTF-8 is corrupt.
fn utf8(bytes: Vec<u8>, column: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes)
        .map_err(|_| StoreError::Corrupt(format!("session {column} is not valid UTF-8")))
}

/// A session row as MySQL returns it; text as bytes (see [`utf8`]).
#[derive(sqlx::FromRow)]
struct MySqlSessionRow {
    data: Vec<u8>,
    user_id: Option<Vec<u8>>,
    created_at: i64,
    last_seen: i64,
    idle_deadline: i64,
    absolute_deadline: i64,
    persistent: bool,
    device: Vec<u8>,
}

impl MySqlSessionRow {
    fn into_record(self) -> Result<Record, StoreError> {
        SessionRow {
            data: utf8(self.data, "data")?,
            user_id: self.user_id.map(|user| utf8(user, "user")).transpose()?,
            created_at: self.created_at,
            last_seen: self.last_seen,
            idle_deadline: self.idle_deadline,
            absolute_deadline: self.absolute_deadline,
            persistent: self.persistent,
            device: utf8(self.device, "device")?,
        }
        .into_record()
    }
}

#[async_trait]
impl Store for MySqlStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(self.lookup(key, now).await?.into_live())
    }

    /// One `SELECT` of the row, expired or not; Rust decides which.
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        let query = sqlx::query_as(&self.sql.load).bind(key.as_bytes().as_slice());
        let row: Option<MySqlSessionRow> = on_held!(self.held, mysql_unavailable, |connection| {
            query.fetch_optional(connection)
        })
        .map_err(to_store_error)?;
        lookup_row(
            row,
            now,
            |row| (row.idle_deadline, row.absolute_deadline),
            MySqlSessionRow::into_record,
        )
    }

    /// One `INSERT ... ON DUPLICATE KEY UPDATE` that replaces only a row expired by the
    /// record's `last_seen` (its creation time), so a live session is never overwritten.
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        retry_on_deadlock(|| self.try_create(key, record)).await
    }

    /// One `UPDATE` when the changed keys can be addressed by JSON paths; otherwise a
    /// `SELECT ... FOR UPDATE` and write-back in one transaction (see `delta`).
    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let applied = retry_on_deadlock(|| self.apply_changes(key, key, changes, now)).await?;
        Ok(update_outcome(applied))
    }

    /// One `UPDATE` of the key column with the changes applied (a transaction for keys that
    /// need a rewrite); a duplicate new key is a collision unless its row has expired.
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        retry_on_deadlock(|| self.try_rotate(from, to, changes, now)).await
    }

    /// One `UPDATE` that reads the sum back through `LAST_INSERT_ID` (see [`MySqlStore`]); a
    /// transaction for field names with control characters.
    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        retry_on_deadlock(|| self.try_increment(key, field, by, touch, now)).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        retry_on_deadlock(|| async {
            let query = sqlx::query(&self.sql.delete).bind(key.as_bytes().as_slice());
            let result = on_held!(self.held, mysql_unavailable, |connection| {
                query.execute(connection)
            })
            .map_err(to_store_error)?;
            Ok(result.rows_affected() > 0)
        })
        .await
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
        let rows: Vec<(Vec<u8>, i64, i64, i64, Vec<u8>)> =
            on_held!(self.held, mysql_unavailable, |connection| {
                query.fetch_all(connection)
            })
            .map_err(to_store_error)?;
        Ok(decode_summaries(rows, |device| utf8(device, "device")))
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        retry_on_deadlock(|| async {
            let keep = keep.map(|key| key.as_bytes().as_slice());
            let query = sqlx::query(&self.sql.delete_user_sessions)
                .bind(user)
                .bind(keep)
                .bind(keep);
            let result = on_held!(self.held, mysql_unavailable, |connection| {
                query.execute(connection)
            })
            .map_err(to_store_error)?;
            Ok(result.rows_affected())
        })
        .await
    }

    /// Finds up to `limit` expired keys with a plain, non-locking read through the `expires_at`
    /// index (oldest first), then deletes them by primary key, checking expiry again, in chunks
    /// of at most `DELETE_CHUNK` (1,000) keys.
    ///
    /// A single `DELETE ... ORDER BY expires_at LIMIT ?` locks its way along the index and, under
    /// REPEATABLE READ, also locks the first live entry past the range. An `UPDATE` of that live
    /// session holds its primary-key lock and needs to move its index entry, so the two deadlock
    /// (the cleanup test saw it happen). Deleting by primary key locks only expired rows, which
    /// live traffic never changes, in key order, so concurrent cleaners queue instead.
    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let query = sqlx::query_scalar(&self.sql.expired_keys)
            .bind(now.as_millis())
            .bind(limit);
        let keys: Vec<Vec<u8>> = on_held!(self.held, mysql_unavailable, |connection| {
            query.fetch_all(connection)
        })
        .map_err(to_store_error)?;
        let mut deleted = 0;
        for chunk in keys.chunks(DELETE_CHUNK) {
            let sql = format!(
                "DELETE FROM {} WHERE `key` IN ({}) AND expires_at <= ?",
                self.sql.quoted_table,
                vec!["?"; chunk.len()].join(", ")
            );
            deleted += retry_on_deadlock(|| async {
                let mut query = sqlx::query(&sql);
                for key in chunk {
                    query = query.bind(key.as_slice());
                }
                let query = query.bind(now.as_millis());
                let result = on_held!(self.held, mysql_unavailable, |connection| {
                    query.execute(connection)
                })
                .map_err(to_store_error)?;
                Ok(result.rows_affected())
            })
            .await?;
        }
        Ok(deleted)
    }
}

/// Keys per cleanup `DELETE`, well below the 65,535 placeholders of a prepared statement.
const DELETE_CHUNK: usize = 1_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_outcomes_follow_rows_and_marker() {
        assert_eq!(create_outcome(1, 0), CreateOutcome::Created);
        assert_eq!(create_outcome(2, 2), CreateOutcome::Created);
        assert_eq!(create_outcome(1, 1), CreateOutcome::Collision);
        assert_eq!(create_outcome(0, 0), CreateOutcome::Collision);
    }

    #[test]
    fn statements_use_the_quoted_table() {
        let statements = Statements::for_table("my_sessions");
        for sql in [
            &statements.load,
            &statements.create,
            &statements.increment,
            &statements.expired_keys,
        ] {
            assert!(sql.contains("`my_sessions`"), "{sql}");
            assert!(!sql.contains("sessile_sessions"), "{sql}");
        }
    }
}

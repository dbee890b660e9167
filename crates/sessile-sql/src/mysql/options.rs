//! The options of a [`MySqlStore`], and the connection setup every MySQL/MariaDB layout uses
//! (sessile's table and the Sequelize tables): [`connect_pool`].

use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{MySqlConnection, MySqlPool};

use super::{migrate, MySqlStore};
use crate::error::Error;
use crate::names::validate_identifier;
use crate::options::{shared_options, SharedOptions};
use crate::tls;

/// The table sessions live in unless configured otherwise.
pub(super) const DEFAULT_TABLE: &str = "sessile_sessions";

/// How a [`MySqlStore`] connects: pool size, the timeouts that bound how long an operation may
/// take before it fails with [`StoreError::Unavailable`](sessile::StoreError::Unavailable), the table and whether to migrate at
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

    /// Connects with connection options built in code: TLS with the CA of
    /// `tls_ca_certificates`, the pool size and timeouts of these options. The character set is
    /// forced to `utf8mb4` (keys and values may hold any Unicode, emoji included).
    pub async fn connect_with(self, options: MySqlConnectOptions) -> Result<MySqlStore, Error> {
        validate_table_name(&self.shared.table)?;
        let pool = connect_pool(options, &self.shared).await?;
        self.from_pool(pool).await
    }

    /// A store on a pool the application configured itself, with this table, migrated unless
    /// [`MySqlStoreOptions::migrate_on_connect`] turned that off.
    ///
    /// The pool's connections should use `utf8mb4` (sqlx's default) and may set their own
    /// timeouts; [`MySqlStoreOptions::statement_timeout`] applies only to pools this type opens.
    pub async fn from_pool(self, pool: MySqlPool) -> Result<MySqlStore, Error> {
        validate_table_name(&self.shared.table)?;
        let store = MySqlStore::new(pool, &self.shared.table);
        if self.shared.migrate_on_connect {
            store.migrate().await?;
        }
        Ok(store)
    }
}

/// The pool of every MySQL/MariaDB layout, from the shared options: the CA of
/// `tls_ca_certificates` (see [`tls::mysql`]), the `utf8mb4` character set (keys and values may
/// hold any Unicode, emoji included), the pool size and acquire timeout, a ping on checkout, and
/// the statement and lock-wait timeouts set on every new connection.
pub(crate) async fn connect_pool(
    options: MySqlConnectOptions,
    shared: &SharedOptions,
) -> Result<MySqlPool, Error> {
    let options = match &shared.tls_ca_certificates {
        Some(pem) => tls::mysql(options, pem)?,
        None => options,
    };
    let options = options.charset("utf8mb4");
    crate::options::try_one_connection(&options, shared.acquire_timeout).await?;
    let statement_timeout = shared.statement_timeout;
    MySqlPoolOptions::new()
        .max_connections(shared.max_connections)
        .acquire_timeout(shared.acquire_timeout)
        // sessile's own store runs its operations on connections it holds outside the pool
        // (see `held.rs`), which pings those idle for a second or more itself; for the pool's
        // other users (migrations, the Sequelize tables, the application's own queries) a ping
        // on checkout drops a connection a server restart killed.
        .test_before_acquire(true)
        .after_connect(move |connection, _| {
            Box::pin(async move { set_session_timeouts(connection, statement_timeout).await })
        })
        .connect_with(options)
        .await
        .map_err(Error::Connect)
}

/// Checks a table name: a plain identifier, so it can be quoted without escaping; MySQL's
/// identifiers hold at most 64 characters, and the forward pointers' table beside it
/// (`<table>_forwards`) needs 9 of them.
pub(super) fn validate_table_name(table: &str) -> Result<(), Error> {
    validate_identifier("table", table, 64 - "_forwards".len())
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
pub(super) async fn lift_statement_timeout(
    connection: &mut MySqlConnection,
) -> Result<(), sqlx::Error> {
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

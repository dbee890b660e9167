//! The options of a [`PostgresStore`], and the connection setup every PostgreSQL layout uses
//! (sessile's table and the Sequelize tables): [`connect_pool`].

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};

use super::{migrate, PostgresStore};
use crate::error::Error;
use crate::names::TableNames;
use crate::options::{shared_options, SharedOptions};
use crate::tls;

/// The table [`PostgresStore`] uses unless told otherwise.
pub(super) const DEFAULT_TABLE: &str = "sessile_sessions";

/// How a [`PostgresStore`] connects: pool size, the timeouts that bound how long an operation
/// may take before it fails with [`StoreError::Unavailable`](sessile::StoreError::Unavailable), where the table lives and whether
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

    /// Connects with connection options built in code: TLS with the CA of
    /// `tls_ca_certificates`, the pool size and timeouts of these options.
    pub async fn connect_with(self, connect: PgConnectOptions) -> Result<PostgresStore, Error> {
        let names = self.names()?;
        let pool = connect_pool(connect, &self.shared).await?;
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

/// The pool of every PostgreSQL layout, from the shared options: the CA of
/// `tls_ca_certificates` (see [`tls::postgres`]), the pool size and acquire timeout, a ping on
/// checkout, and `SET statement_timeout` on every new connection (which works through
/// PgBouncer).
pub(crate) async fn connect_pool(
    connect: PgConnectOptions,
    shared: &SharedOptions,
) -> Result<PgPool, Error> {
    let connect = match &shared.tls_ca_certificates {
        Some(pem) => tls::postgres(connect, pem)?,
        None => connect,
    };
    crate::options::try_one_connection(&connect, shared.acquire_timeout).await?;
    let statement_timeout = shared.statement_timeout;
    PgPoolOptions::new()
        .max_connections(shared.max_connections)
        .acquire_timeout(shared.acquire_timeout)
        // sessile's own store runs its operations on connections it holds outside the pool
        // (see `held.rs`), which pings those idle for a second or more itself; for the pool's
        // other users (migrations, the Sequelize tables, the application's own queries) a ping
        // on checkout replaces a connection a server restart killed.
        .test_before_acquire(true)
        .after_connect(move |connection, _meta| {
            Box::pin(async move {
                if let Some(timeout) = statement_timeout {
                    // At least 1 ms: PostgreSQL reads 0 as "no timeout".
                    let set = format!("SET statement_timeout = {}", timeout.as_millis().max(1));
                    connection.execute(set.as_str()).await?;
                }
                Ok(())
            })
        })
        .connect_with(connect)
        .await
        .map_err(Error::Connect)
}

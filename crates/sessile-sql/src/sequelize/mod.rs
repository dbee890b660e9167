//! The session tables of the two Sequelize stores, as sessile stores: a Rust app reads and writes
//! the very rows a Koa or Express app keeps, on SQLite, PostgreSQL and MySQL/MariaDB (feature
//! `sequelize` with `sqlite`, `postgres`, `mysql`).
//!
//! | package | table (default `Sessions`) | row id | `data` | `expires` |
//! |---|---|---|---|---|
//! | koa-generic-session-sequelize 2.x (koa-generic-session, koa-session-minimal) | `id VARCHAR(100)` PK, `data TEXT`, `expires BIGINT`, index `sessions_expires` | `koa:sess:<sid>` (prefix configurable) | [`NodeShape::GenericSession`] (or [`NodeShape::SessionMinimal`]) | Unix **seconds**; live while `expires > floor(now / 1000)` |
//! | connect-session-sequelize 7.x (express-session) | `sid VARCHAR(36)` PK, `expires DATE`, `data TEXT`, `createdAt`, `updatedAt` `DATE NOT NULL` | the sid | [`NodeShape::Express`] | SQLite: text `YYYY-MM-DD HH:MM:SS.mmm +00:00`; PostgreSQL: `timestamptz`; MySQL/MariaDB: `DATETIME` in UTC (Sequelize's default `timezone: '+00:00'`) |
//!
//! Use one with a Node id codec ([`sessile_node::ids::KoaIds::generic_session`],
//! [`sessile_node::ids::ExpressIds`]) through [`sessile::SessionManager::with_id_codec`], and give
//! sessile the Node app's `maxAge` as its idle timeout:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use sessile::{Config, Keys, SessionManager};
//! use sessile_node::ids::KoaIds;
//! use sessile_node::keygrip::Keygrip;
//! use sessile_sql::sequelize::SequelizeStoreOptions;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let max_age = Duration::from_secs(86_400); // koa-generic-session's cookie.maxAge
//! let store = SequelizeStoreOptions::koa_generic_session(max_age)
//!     .connect("postgres://app@db.internal/app")
//!     .await?;
//! let ids = KoaIds::generic_session(Keygrip::new(["the Koa app's key"])?);
//! let config = Config::builder(Keys::generate()).idle_timeout(max_age).build()?;
//! let manager = SessionManager::with_id_codec(Arc::new(store), Arc::new(ids), config);
//! # let _ = manager;
//! # Ok(()) }
//! ```
//!
//! # What holds on these tables
//!
//! - **No lost updates between Rust writers.** `update`, `increment` and `rotate` read the row,
//!   apply the change in Rust ([`sessile::ChangeSet::apply_to`], [`sessile::change::incremented`])
//!   and write it back inside one transaction that holds the row: `SELECT ... FOR UPDATE` on
//!   PostgreSQL and MySQL/MariaDB, `BEGIN IMMEDIATE` (the file's write lock) on SQLite. Two Rust
//!   requests changing different keys of one session both persist; `n` concurrent increments add
//!   `n`. (A compare-and-set `UPDATE ... WHERE data = <old>` with retries was the alternative; the
//!   lock is simpler, never retries under contention, and a session row is held for one short
//!   transaction.) Deadlocks and serialization failures are retried up to three times.
//! - **Update-only from the Rust side.** `update`, `increment` and `rotate` never create a row:
//!   a missing or expired row is [`UpdateOutcome::Gone`] (and friends), so a slow Rust request
//!   does not bring back a session the Node app (or Rust) signed out.
//! - **Expiry on read**, by the `expires` column: an expired row is never returned or changed,
//!   whether or not a cleanup removed it yet. koa-generic-session-sequelize checks the same way
//!   (`expires > floor(now / 1000)`). **express-session and connect-session-sequelize do not**:
//!   the Node app serves an expired row until its cleanup (`checkExpirationInterval`, 15 minutes
//!   by default) deletes it, while sessile refuses it at once. Run [`sessile::cleanup::Cleanup`]
//!   (or keep the Node cleanup) so both sides agree soon after a deadline.
//! - **Cleanup:** [`Store::delete_expired`] deletes bounded batches by the package's own rule
//!   (`expires <= floor(now / 1000)` for Koa, `expires <= now` for Express, on SQLite compared as
//!   text exactly as Sequelize does), so [`sessile::cleanup::Cleanup`] works on these tables.
//! - **Corrupt rows** (not JSON, no `cookie` object where the package needs one) are
//!   [`StoreError::Corrupt`]: the engine treats them as no session.
//! - **Reserved keys:** `increment` answers [`IncrementOutcome::NotAnInteger`] for the
//!   package's `cookie` key and for the user field while a user is signed in (the document keeps
//!   those for the package and for [`sessile::Record::user`]), as the Redis layouts do.
//!
//! `tests/sequelize_conformance.rs` runs `sessile::node_layout_conformance!` against both tables on
//! all three databases; `tests/sequelize_interop.rs` runs the real Koa and Express apps against the
//! same tables as a Rust app, and `tests/sequelize_ddl.rs` compares the created tables with the ones
//! the packages' own `sync()` creates.
//!
//! # What cannot hold
//!
//! - **Node's writes are whole documents.** koa-generic-session and express-session rewrite the
//!   whole `data` column (last writer wins), so a Node request that overlaps a Rust request on
//!   the same session can overwrite the Rust change, and a Node request that finishes after a
//!   Rust sign-out recreates the row (both packages' `set` is an upsert). Only the Rust side
//!   keeps sessile's guarantees.
//! - **express-session can revive an expired row.** It never checks expiry, and on a request
//!   that leaves the session unchanged it calls the store's `touch`, which moves `expires`
//!   forward: a browser that comes back to the Node app after the deadline but before a cleanup
//!   deleted the row gets its session back, and sessile then sees it live again. Keep a cleanup
//!   running (sessile's or the package's) and give the Express cookie the same `maxAge`, so
//!   browsers drop the cookie at the deadline.
//! - **No per-user index:** [`Store::list_user_sessions`] and [`Store::delete_user_sessions`]
//!   answer [`StoreError::Unsupported`].
//! - **No absolute lifetime, no device, no creation time:** the tables keep one deadline, the
//!   document the data and the user (under `user`, see [`NodeJson`]). A record read back has
//!   no absolute deadline; its creation and last-seen times are estimated as `expires - maxAge`.
//! - **Seconds and sessile's own ids:** the Koa table keeps whole seconds, so a deadline is
//!   rounded down to the second (MySQL's `DATETIME` too). Rows are addressed by the Node id in
//!   clear, so only foreign ids ([`sessile::SessionId::foreign`], from the Node id codecs) can be
//!   stored; sessile's own ids are a [`StoreError::Backend`] error. Ids longer than the column
//!   (36 characters for Express, 100 with the prefix for Koa) are refused by PostgreSQL and MySQL
//!   (a `Backend` error) and stored by SQLite, exactly as for the Node app; the Node packages'
//!   own ids (32 characters) fit. On MySQL/MariaDB, Sequelize's `TEXT` holds at most 65,535
//!   bytes of document, for both sides.
//!
//! # The table
//!
//! The table belongs to the Node app, so by default the store does not create it: building the
//! store checks that it exists with the package's columns ([`Error::Table`] otherwise), which
//! turns a misspelt table name into an error at startup instead of an empty table that signs
//! everybody out. [`SequelizeStoreOptions::migrate_on_connect`] runs the exact DDL Sequelize 6's
//! `sync()` emits for the package's model instead (`CREATE TABLE IF NOT EXISTS`, and for Koa the
//! `expires` index when none of its name exists), for a Rust app that starts first.
//!
//! Note that both packages default to the table name `Sessions` with different columns: two
//! such apps cannot share one database without setting a table name on one side.
//!
//! On SQLite the store leaves the file's journal mode alone (Sequelize does not switch it to
//! WAL; the mode is a property of the file the Node app uses too) and serializes its own writes
//! in-process; other processes are waited for by the busy timeout.

mod statement;
mod table;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, SessionSummary, Store,
    StoreError, StoreKey, Timestamp, Touch, UpdateOutcome,
};

use crate::options::{shared_options, SharedOptions};
use sessile_node::layout;
use sessile_node::record_json::{NodeJson, NodeShape};
use table::{Layout, Table};

/// Runs `$body` with `$db` bound to the dialect's connection state and `$d` naming the dialect's
/// module.
macro_rules! on_db {
    ($target:expr, $db:ident, $d:ident => $body:expr) => {
        match $target {
            #[cfg(feature = "sqlite")]
            Db::Sqlite($db) => {
                use self::sqlite as $d;
                $body
            }
            #[cfg(feature = "postgres")]
            Db::Postgres($db) => {
                use self::postgres as $d;
                $body
            }
            #[cfg(feature = "mysql")]
            Db::MySql($db) => {
                use self::mysql as $d;
                $body
            }
        }
    };
}

/// What can go wrong building a [`SequelizeStore`]: the crate's setup error, shared with
/// sessile's own tables.
pub use crate::Error;

/// How to build a [`SequelizeStore`]: which package's table, its name, the document shape and
/// the connection limits, with the option names of every sessile store:
///
/// - `table` (default `Sessions`, the packages' `tableName`), checked when the store is built;
/// - `key_prefix`: koa-generic-session's `prefix` (default `koa:sess:`), Koa table only;
/// - `max_connections` (default 10), `acquire_timeout` (default 5 s);
/// - `statement_timeout` (default 5 s): PostgreSQL's `statement_timeout`, MariaDB's
///   `max_statement_time` / MySQL's `max_execution_time` plus `innodb_lock_wait_timeout`,
///   SQLite's busy timeout; `no_statement_timeout` keeps the server's (SQLite: no waiting);
/// - `migrate_on_connect` (default **off**, the table is the Node app's): create the table with
///   the exact DDL Sequelize's `sync()` emits.
///
/// ```no_run
/// use std::time::Duration;
/// use sessile_sql::sequelize::SequelizeStoreOptions;
///
/// # async fn run() -> Result<(), sessile_sql::sequelize::Error> {
/// // express-session + connect-session-sequelize, cookie.maxAge one hour, table "web_sessions".
/// let store = SequelizeStoreOptions::express_session(Duration::from_secs(3600))
///     .table("web_sessions")
///     .statement_timeout(Duration::from_secs(2))
///     .connect("mysql://app:secret@db.internal:3306/app")
///     .await?;
/// # let _ = store;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SequelizeStoreOptions {
    layout: Layout,
    shared: SharedOptions,
    prefix: Option<String>,
    json: NodeJson,
}

impl SequelizeStoreOptions {
    fn new(layout: Layout, json: NodeJson) -> Self {
        Self {
            layout,
            // The table is the Node app's: not created unless asked for.
            shared: SharedOptions::new("Sessions", false),
            prefix: None,
            json,
        }
    }

    /// koa-generic-session-sequelize's table under koa-generic-session: table `Sessions`, row ids
    /// `koa:sess:<sid>`, documents with koa-generic-session's `cookie` object; `max_age` is the
    /// app's `cookie.maxAge`.
    pub fn koa_generic_session(max_age: Duration) -> Self {
        Self::new(
            Layout::Koa,
            NodeJson::new(NodeShape::GenericSession, max_age),
        )
    }

    /// koa-generic-session-sequelize's table under koa-session-minimal: as
    /// [`koa_generic_session`](Self::koa_generic_session), with the bare data as the document.
    pub fn koa_session_minimal(max_age: Duration) -> Self {
        Self::new(
            Layout::Koa,
            NodeJson::new(NodeShape::SessionMinimal, max_age),
        )
    }

    /// connect-session-sequelize's table under express-session: table `Sessions`, `sid` the
    /// express-session id, documents with express-session's `cookie` object; `max_age` is the
    /// app's `cookie.maxAge`.
    pub fn express_session(max_age: Duration) -> Self {
        Self::new(Layout::Express, NodeJson::new(NodeShape::Express, max_age))
    }

    shared_options!(statement_timeout);

    /// koa-generic-session's `prefix` (default `koa:sess:`). Koa table only.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The document mapping, for cookie attributes or a user field other than the defaults.
    /// Its shape must be one the table's package writes ([`NodeShape::GenericSession`] or
    /// [`NodeShape::SessionMinimal`] for Koa, [`NodeShape::Express`] for Express).
    pub fn node_json(mut self, json: NodeJson) -> Self {
        self.json = json;
        self
    }

    fn checked_table(&self) -> Result<Table, Error> {
        table::validate_table_name(&self.shared.table)?;
        let shape_fits = match self.layout {
            Layout::Koa => matches!(
                self.json.shape(),
                NodeShape::GenericSession | NodeShape::SessionMinimal
            ),
            Layout::Express => self.json.shape() == NodeShape::Express,
        };
        if !shape_fits {
            return Err(Error::Config(format!(
                "the {:?} document shape does not belong in this package's table",
                self.json.shape()
            )));
        }
        let prefix = match (self.layout, &self.prefix) {
            (Layout::Koa, prefix) => prefix.clone().unwrap_or_else(|| "koa:sess:".to_owned()),
            (Layout::Express, None) => String::new(),
            (Layout::Express, Some(_)) => {
                return Err(Error::Config(
                    "connect-session-sequelize keeps the plain sid: no prefix".to_owned(),
                ))
            }
        };
        Ok(Table {
            layout: self.layout,
            name: self.shared.table.clone(),
            prefix,
            json: self.json.clone(),
        })
    }

    /// Connects to `url` (`sqlite:path` / `sqlite://path`, `postgres://...`, `mysql://...` or
    /// `mariadb://...`), then creates or checks the table.
    pub async fn connect(self, url: &str) -> Result<SequelizeStore, Error> {
        let table = self.checked_table()?;
        let scheme = url.split(':').next().unwrap_or_default();
        let db = match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" if self.shared.tls_ca_certificates.is_some() => {
                return Err(Error::TlsCa {
                    reason: "a SQLite file has no TLS connection to verify".to_owned(),
                });
            }
            #[cfg(feature = "sqlite")]
            "sqlite" => Db::Sqlite(
                sqlite::connect(
                    url,
                    self.shared.migrate_on_connect,
                    self.shared.max_connections,
                    self.shared.acquire_timeout,
                    self.shared.statement_timeout.unwrap_or(Duration::ZERO),
                )
                .await?,
            ),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Db::Postgres(
                postgres::connect(
                    url,
                    self.shared.max_connections,
                    self.shared.acquire_timeout,
                    self.shared.statement_timeout.unwrap_or(Duration::ZERO),
                    self.shared.tls_ca_certificates.as_deref(),
                )
                .await?,
            ),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                Db::MySql(
                    mysql::connect(
                        &url,
                        self.shared.max_connections,
                        self.shared.acquire_timeout,
                        self.shared.statement_timeout.unwrap_or(Duration::ZERO),
                        self.shared.tls_ca_certificates.as_deref(),
                    )
                    .await?,
                )
            }
            _ => return Err(Error::UnsupportedUrl(url.to_owned())),
        };
        let store = SequelizeStore {
            inner: Arc::new(Inner { db, table }),
        };
        let prepared = if self.shared.migrate_on_connect {
            on_db!(&store.inner.db, db, d => d::create_table(db, &store.inner.table).await)
        } else {
            on_db!(&store.inner.db, db, d => d::check_table(db, &store.inner.table).await)
        };
        prepared.map_err(|source| Error::Table {
            table: store.inner.table.name.clone(),
            source,
        })?;
        Ok(store)
    }
}

/// A session store on a Sequelize session table (see the [module docs](self) for what holds).
/// Cheap to clone: clones share the pool.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use sessile::{SessionId, Store, Timestamp};
/// use sessile_sql::sequelize::SequelizeStoreOptions;
///
/// let path = std::env::temp_dir().join(format!("sessile-node-doc-{}.db", std::process::id()));
/// let store = SequelizeStoreOptions::koa_generic_session(Duration::from_secs(3600))
///     .migrate_on_connect(true) // a fresh file: create `Sessions` as Sequelize's sync() would
///     .connect(&format!("sqlite://{}", path.display()))
///     .await?;
/// // A koa-generic-session id, as `KoaIds` reads it from the `koa.sid` cookie.
/// let key = SessionId::foreign("4y2QEMrYOGxBvBG2yGm-SJ1sBH5lBgwv").unwrap().store_key();
/// assert_eq!(store.row_id(&key)?, "koa:sess:4y2QEMrYOGxBvBG2yGm-SJ1sBH5lBgwv");
/// assert!(store.load(&key, Timestamp::from_millis(0)).await?.is_none());
/// store.close().await;
/// # let _ = std::fs::remove_file(&path);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SequelizeStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    table: Table,
}

#[derive(Debug)]
enum Db {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::Db),
    #[cfg(feature = "postgres")]
    Postgres(postgres::Db),
    #[cfg(feature = "mysql")]
    MySql(mysql::Db),
}

/// A failure inside a transaction: a driver error (which the dialect classifies and may
/// retry) or an already-typed store error.
#[derive(Debug)]
pub(crate) enum Failure {
    Sql(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Failure::Sql(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

impl Failure {
    fn into_store(self, map: fn(sqlx::Error) -> StoreError) -> StoreError {
        match self {
            Failure::Sql(error) => map(error),
            Failure::Store(error) => error,
        }
    }

    fn retryable(&self, test: fn(&sqlx::Error) -> bool) -> bool {
        matches!(self, Failure::Sql(error) if test(error))
    }
}

/// What a read-modify-write decided.
enum Modified<T> {
    /// No live row under the old id.
    Gone,
    /// The new id holds a live row.
    Collision,
    /// Done; the edit's answer.
    Done(T),
}

/// What an edit of the live record does: write `write` (if any) and answer `answer`.
struct Edit<T> {
    write: Option<Record>,
    answer: T,
}

/// How many times a transaction that deadlocked runs in all.
const ATTEMPTS: usize = 3;

/// Runs `transaction` until it succeeds, fails for good or has deadlocked [`ATTEMPTS`] times
/// (`retryable`: the dialect's deadlock and serialization failures); `to_store_error` maps the
/// dialect's errors.
async fn retried<T, Fut>(
    retryable: fn(&sqlx::Error) -> bool,
    to_store_error: fn(sqlx::Error) -> StoreError,
    mut transaction: impl FnMut() -> Fut,
) -> Result<T, StoreError>
where
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut attempt = 1;
    loop {
        match transaction().await {
            Ok(done) => return Ok(done),
            Err(failure) if failure.retryable(retryable) && attempt < ATTEMPTS => attempt += 1,
            Err(failure) => return Err(failure.into_store(to_store_error)),
        }
    }
}

/// The row operations (the read-modify-write and create transactions, statement execution, the
/// table check, the plain read), written once and expanded in each dialect module
/// (`super::row_operations!();`), against that module's `Db` (with a `pool`), its `Connection`,
/// its statement [`Dialect`](statement::Dialect) `Sql`, and its `begin` (the dialect's locking
/// transaction), `fetch`, `is_duplicate`, `retryable` and `to_store_error` (its error mapping).
macro_rules! row_operations {
    () => {
        /// Read-modify-write of the live row `from`, written back under `to`, in one
        /// transaction holding the row (and `to`'s, when it differs); retried on deadlock.
        pub(super) async fn modify<T, F>(
            db: &Db,
            table: &Table,
            from: &str,
            to: &str,
            now: Timestamp,
            edit: &F,
        ) -> Result<super::Modified<T>, StoreError>
        where
            F: Fn(sessile::Record) -> super::Edit<T> + Sync,
        {
            super::retried(retryable, to_store_error, || {
                modify_once(db, table, from, to, now, edit)
            })
            .await
        }

        async fn modify_once<T, F>(
            db: &Db,
            table: &Table,
            from: &str,
            to: &str,
            now: Timestamp,
            edit: &F,
        ) -> Result<super::Modified<T>, Failure>
        where
            F: Fn(sessile::Record) -> super::Edit<T> + Sync,
        {
            use super::Modified;
            let (_turn, mut tx) = begin(db).await?;
            let row = fetch(&mut tx, table, from, true).await?;
            let record = match row.as_ref().map(|row| table.live(row, now)).transpose()? {
                Some(Some(record)) => record,
                _ => {
                    tx.rollback().await?;
                    return Ok(Modified::Gone);
                }
            };
            if to != from {
                if let Some(other) = fetch(&mut tx, table, to, true).await? {
                    if table.occupied(&other, now) {
                        tx.rollback().await?;
                        return Ok(Modified::Collision);
                    }
                    execute(&mut tx, statement::delete::<Sql>(table, to)).await?;
                }
            }
            let super::Edit { write, answer } = edit(record);
            match write {
                Some(record) => {
                    let data = table.json.encode(&record);
                    let expires = table.expires_ms(&record);
                    let rewrite = statement::rewrite::<Sql>(
                        table,
                        from,
                        to,
                        &data,
                        expires,
                        now.as_millis(),
                    )?;
                    execute(&mut tx, rewrite).await?;
                    tx.commit().await?;
                }
                None => tx.rollback().await?,
            }
            Ok(Modified::Done(answer))
        }

        /// Inserts `record` under `id` unless a live row holds it; an expired one is replaced.
        /// Retried on deadlock.
        pub(super) async fn create(
            db: &Db,
            table: &Table,
            id: &str,
            record: &sessile::Record,
        ) -> Result<sessile::CreateOutcome, StoreError> {
            super::retried(retryable, to_store_error, || {
                create_once(db, table, id, record)
            })
            .await
        }

        async fn create_once(
            db: &Db,
            table: &Table,
            id: &str,
            record: &sessile::Record,
        ) -> Result<sessile::CreateOutcome, Failure> {
            use sessile::CreateOutcome;
            let now = record.last_seen;
            let (_turn, mut tx) = begin(db).await?;
            if let Some(row) = fetch(&mut tx, table, id, true).await? {
                if table.occupied(&row, now) {
                    tx.rollback().await?;
                    return Ok(CreateOutcome::Collision);
                }
                execute(&mut tx, statement::delete::<Sql>(table, id)).await?;
            }
            let data = table.json.encode(record);
            let expires = table.expires_ms(record);
            let insert = statement::insert::<Sql>(table, id, &data, expires, now.as_millis())?;
            match execute(&mut tx, insert).await {
                Err(Failure::Sql(error)) if is_duplicate(&error) => {
                    tx.rollback().await?;
                    return Ok(CreateOutcome::Collision);
                }
                other => other?,
            };
            tx.commit().await?;
            Ok(CreateOutcome::Created)
        }

        /// Runs `statement`; the rows it changed.
        pub(super) async fn execute(
            connection: &mut Connection,
            statement: statement::Statement,
        ) -> Result<u64, Failure> {
            Ok(statement.query().execute(connection).await?.rows_affected())
        }

        /// Fails unless the table exists with the layout's columns.
        pub(super) async fn check_table(db: &Db, table: &Table) -> Result<(), sqlx::Error> {
            let check = statement::check::<Sql>(table);
            check.query().execute(&db.pool).await.map(drop)
        }

        /// The row under `id`, read outside any transaction.
        pub(super) async fn load(
            db: &Db,
            table: &Table,
            id: &str,
        ) -> Result<Option<Row>, StoreError> {
            let read = async {
                let mut connection = db.pool.acquire().await?;
                fetch(&mut connection, table, id, false).await
            };
            read.await
                .map_err(|failure| failure.into_store(to_store_error))
        }
    };
}

pub(crate) use row_operations;

impl SequelizeStore {
    /// Closes the pool; later operations fail as unavailable.
    pub async fn close(&self) {
        on_db!(&self.inner.db, db, d => d::close(db).await)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.inner.table.name
    }

    /// The primary key of `key`'s row: `koa:sess:<sid>` (with the configured prefix) in the Koa
    /// table, the sid in the Express table. A [`StoreError::Backend`] error for sessile's own ids,
    /// which have no plain form.
    pub fn row_id(&self, key: &StoreKey) -> Result<String, StoreError> {
        self.inner.table.row_id(key)
    }

    async fn modify<T, F>(
        &self,
        from: &str,
        to: &str,
        now: Timestamp,
        edit: F,
    ) -> Result<Modified<T>, StoreError>
    where
        T: Send,
        F: Fn(Record) -> Edit<T> + Send + Sync,
    {
        let table = &self.inner.table;
        on_db!(&self.inner.db, db, d => d::modify(db, table, from, to, now, &edit).await)
    }
}

#[async_trait]
impl Store for SequelizeStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        let table = &self.inner.table;
        let id = table.row_id(key)?;
        let row = on_db!(&self.inner.db, db, d => d::load(db, table, &id).await)?;
        match row {
            Some(row) => table.live(&row, now),
            None => Ok(None),
        }
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        let table = &self.inner.table;
        let id = table.row_id(key)?;
        on_db!(&self.inner.db, db, d => d::create(db, table, &id, record).await)
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let id = self.inner.table.row_id(key)?;
        let modified = self
            .modify(&id, &id, now, |mut record| {
                changes.apply_to(&mut record);
                Edit {
                    write: Some(record),
                    answer: (),
                }
            })
            .await?;
        Ok(match modified {
            Modified::Done(()) => UpdateOutcome::Applied,
            Modified::Gone | Modified::Collision => UpdateOutcome::Gone,
        })
    }

    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        let table = &self.inner.table;
        let (from, to) = (table.row_id(from)?, table.row_id(to)?);
        let modified = self
            .modify(&from, &to, now, |mut record| {
                changes.apply_to(&mut record);
                Edit {
                    write: Some(record),
                    answer: (),
                }
            })
            .await?;
        Ok(match modified {
            Modified::Done(()) => RotateOutcome::Rotated,
            Modified::Gone => RotateOutcome::Gone,
            Modified::Collision => RotateOutcome::Collision,
        })
    }

    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let json = &self.inner.table.json;
        let id = self.inner.table.row_id(key)?;
        let modified = self
            .modify(&id, &id, now, |mut record| {
                match layout::increment(json, &mut record, field, by, touch) {
                    answer @ IncrementOutcome::Value(_) => Edit {
                        write: Some(record),
                        answer,
                    },
                    answer => Edit {
                        write: None,
                        answer,
                    },
                }
            })
            .await?;
        Ok(match modified {
            Modified::Done(outcome) => outcome,
            Modified::Gone | Modified::Collision => IncrementOutcome::Gone,
        })
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let table = &self.inner.table;
        let id = table.row_id(key)?;
        let deleted = on_db!(&self.inner.db, db, d => d::delete(db, table, &id)
            .await
            .map_err(|f| f.into_store(d::to_store_error)))?;
        Ok(deleted > 0)
    }

    async fn list_user_sessions(
        &self,
        _user: &str,
        _now: Timestamp,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        Err(StoreError::Unsupported(
            "the Sequelize session tables keep no per-user index",
        ))
    }

    async fn delete_user_sessions(
        &self,
        _user: &str,
        _keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        Err(StoreError::Unsupported(
            "the Sequelize session tables keep no per-user index",
        ))
    }

    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let table = &self.inner.table;
        on_db!(&self.inner.db, db, d => d::delete_expired(db, table, now, limit)
            .await
            .map_err(|f| f.into_store(d::to_store_error)))
    }
}

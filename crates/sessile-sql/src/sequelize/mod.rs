//! The session tables of the two Sequelize stores, as sessile stores: a Rust app reads and writes
//! the very rows a Koa or Express app keeps, on SQLite, PostgreSQL and MySQL/MariaDB (feature
//! `sequelize` with `sqlite`, `postgres`, `mysql`).
//!
//! | package | table (default `Sessions`) | row id | `data` | `expires` |
//! |---|---|---|---|---|
//! | koa-generic-session-sequelize 2.x (koa-generic-session, koa-session-minimal) | `id VARCHAR(100)` PK, `data TEXT`, `expires BIGINT`, index `sessions_expires` | `koa:sess:<sid>` (prefix configurable) | [`NodeShape::GenericSession`](sessile_node::record_json::NodeShape::GenericSession) (or [`NodeShape::SessionMinimal`](sessile_node::record_json::NodeShape::SessionMinimal)) | Unix **seconds**; live while `expires > floor(now / 1000)` |
//! | connect-session-sequelize 7.x (express-session) | `sid VARCHAR(36)` PK, `expires DATE`, `data TEXT`, `createdAt`, `updatedAt` `DATE NOT NULL` | the sid | [`NodeShape::Express`](sessile_node::record_json::NodeShape::Express) | SQLite: text `YYYY-MM-DD HH:MM:SS.mmm +00:00`; PostgreSQL: `timestamptz`; MySQL/MariaDB: `DATETIME` in UTC (Sequelize's default `timezone: '+00:00'`) |
//!
//! Use one with a Node id codec ([`sessile_node::ids::KoaIds::generic_session`],
//! [`sessile_node::ids::ExpressIds`]) through [`sessile::SessionManager::new`], and give
//! sessile the Node app's `maxAge` as its idle timeout:
//!
//! ```no_run
//! use std::time::Duration;
//! use sessile::SessionManager;
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
//! let config = sessile_node::config(max_age).build()?;
//! let manager = SessionManager::new(store, ids, config);
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
//!   transaction.) Deadlocks and serialization failures are retried as on sessile's own tables (up to three
//!   attempts in all).
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
//! - **Scans** ([`Store::scan`], for operators' tools such as the CLI's `import-node`) page
//!   through the rows in id order (the primary key), each read as a load reads it, expired
//!   ones included; corrupt rows are left out.
//! - **Corrupt rows** (not JSON, no `cookie` object where the package needs one) are
//!   [`StoreError::Corrupt`]: the engine treats them as no session.
//! - **Reserved keys:** `increment` answers [`IncrementOutcome::NotAnInteger`] for the
//!   package's `cookie` key and for the user field while a user is signed in (the document keeps
//!   those for the package and for [`sessile::Record::user`]), as the Redis layouts do.
//!
//! `tests/it/sequelize_conformance.rs` runs `sessile::node_layout_conformance!` against both tables on
//! all three databases; `tests/it/sequelize_interop.rs` runs the real Koa and Express apps against the
//! same tables as a Rust app, and `tests/it/sequelize_ddl.rs` compares the created tables with the ones
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
//! - **No per-user index, unless the table has a user column:** the package tables keep none,
//!   so [`Store::list_user_sessions`] and [`Store::delete_user_sessions`] answer
//!   [`StoreError::Unsupported`]. An app whose connect-session-sequelize model has a column
//!   `extendDefaultFields` fills with the user declares it with
//!   [`SequelizeStoreOptions::user_column`]: the store writes it in the same statement as the
//!   row, and listing and revoking a user's sessions (all, or all but one) work on it.
//!
//! # Tables of the app's own
//!
//! connect-session-sequelize's `extendDefaultFields` adds columns filled from the session on
//! every `set` (its README says "read-only afterwards", but the package's `set` compares and
//! rewrites them): [`SequelizeStoreOptions::user_column`] and
//! [`SequelizeStoreOptions::data_column`] declare them, and the store fills them on every
//! create, update and rotation, so a `NOT NULL userId` column refuses a session without a user
//! on both sides. koa-generic-session-sequelize's `timestamps: true` adds Sequelize's
//! `createdAt` and `updatedAt`: [`SequelizeStoreOptions::timestamps`]. Such tables are the
//! app's (its model), so the store does not create them (`migrate_on_connect` is refused); it
//! checks at connect that the declared columns exist.
//! - **No absolute lifetime, no device, no creation time:** the tables keep one deadline, the
//!   document the data and the user (under `user`, see [`NodeJson`](sessile_node::record_json::NodeJson)). A record read back has
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

mod sql;
mod table;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use sessile::store::UserSessionsPage;
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, ScanPage, ScannedSession,
    SessionSummary, Store, StoreError, StoreKey, Timestamp, Touch, UpdateOutcome,
};

use sessile_node::layout::{self, Modified};
use table::Table;

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

mod options;

pub use self::options::SequelizeStoreOptions;
pub use self::table::ColumnKind;

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
}

impl crate::error::DriverError for Failure {
    fn driver_error(&self) -> Option<&sqlx::Error> {
        match self {
            Failure::Sql(error) => Some(error),
            Failure::Store(error) => error.driver_error(),
        }
    }
}

/// Runs `transaction` under the driver's one deadlock policy
/// ([`crate::error::retry_on_deadlock`], `is_deadlock` the driver's test, the same as sessile's
/// own tables use), then maps a failure with the driver's `to_store_error`.
async fn retried<T, Fut>(
    is_deadlock: fn(&sqlx::Error) -> bool,
    to_store_error: fn(sqlx::Error) -> StoreError,
    transaction: impl FnMut() -> Fut,
) -> Result<T, StoreError>
where
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    crate::error::retry_on_deadlock(is_deadlock, transaction)
        .await
        .map_err(|failure| failure.into_store(to_store_error))
}

/// The row operations (the read-modify-write and create transactions, statement execution, the
/// table check, the plain read), written once and expanded in each dialect module
/// (`super::row_operations!();`), against that module's `Db` (with a `pool`), its `Connection`,
/// its statement [`Dialect`](sql::Dialect) `Sql`, and its `begin` (the dialect's locking
/// transaction), `fetch`, `is_duplicate`, `is_deadlock` and `to_store_error` (the driver's error
/// classification, shared with sessile's own tables).
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
            change: &F,
        ) -> Result<sessile_node::layout::Modified<T>, StoreError>
        where
            F: Fn(&mut sessile::Record) -> Result<T, T> + Sync,
        {
            super::retried(is_deadlock, to_store_error, || {
                modify_once(db, table, from, to, now, change)
            })
            .await
        }

        async fn modify_once<T, F>(
            db: &Db,
            table: &Table,
            from: &str,
            to: &str,
            now: Timestamp,
            change: &F,
        ) -> Result<sessile_node::layout::Modified<T>, Failure>
        where
            F: Fn(&mut sessile::Record) -> Result<T, T> + Sync,
        {
            use sessile_node::layout::Modified;
            let (_turn, mut tx) = begin(db).await?;
            let row = fetch(&mut tx, table, from, true).await?;
            let mut record = match row.as_ref().map(|row| table.live(row, now)).transpose()? {
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
                    execute(&mut tx, sql::delete::<Sql>(table, to)).await?;
                }
            }
            let answer = match change(&mut record) {
                Ok(answer) => {
                    let expires = table.expires_ms(&record);
                    // Over the row's document, so its keys keep their order.
                    let previous = row.as_ref().and_then(|row| row.data.as_deref());
                    let rewrite = sql::rewrite::<Sql>(
                        table,
                        (from, to),
                        previous,
                        &record,
                        expires,
                        now.as_millis(),
                    )?;
                    execute(&mut tx, rewrite).await?;
                    tx.commit().await?;
                    answer
                }
                Err(answer) => {
                    tx.rollback().await?;
                    answer
                }
            };
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
            super::retried(is_deadlock, to_store_error, || {
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
                execute(&mut tx, sql::delete::<Sql>(table, id)).await?;
            }
            let expires = table.expires_ms(record);
            let insert = sql::insert::<Sql>(table, id, record, expires, now.as_millis())?;
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
            mut statement: sql::Statement<<Sql as sql::Dialect>::Db>,
        ) -> Result<u64, Failure> {
            Ok(statement.query().execute(connection).await?.rows_affected())
        }

        /// Fails unless the table exists with the layout's columns.
        pub(super) async fn check_table(db: &Db, table: &Table) -> Result<(), sqlx::Error> {
            let mut check = sql::check::<Sql>(table);
            check.query().execute(&db.pool).await.map(drop)
        }

        /// The row under `id`, read outside any transaction.
        /// The ids of `user`'s rows, or `None` when the table keeps no user column.
        pub(super) async fn user_rows(
            db: &Db,
            table: &Table,
            user: &str,
        ) -> Result<Option<Vec<String>>, StoreError> {
            let Some(mut select) = sql::user_rows::<Sql>(table, user) else {
                return Ok(None);
            };
            let ids: Vec<(String,)> = select
                .query_as()
                .fetch_all(&db.pool)
                .await
                .map_err(to_store_error)?;
            Ok(Some(ids.into_iter().map(|(id,)| id).collect()))
        }

        /// One page of row ids after `after`, in id order.
        pub(super) async fn page_ids(
            db: &Db,
            table: &Table,
            after: Option<&str>,
            limit: u32,
        ) -> Result<Vec<String>, StoreError> {
            let mut select = sql::page_ids::<Sql>(table, after, limit);
            let ids: Vec<(String,)> = select
                .query_as()
                .fetch_all(&db.pool)
                .await
                .map_err(to_store_error)?;
            Ok(ids.into_iter().map(|(id,)| id).collect())
        }

        /// Deletes `user`'s rows but `keep`; `None` when the table keeps no user column.
        pub(super) async fn delete_user_rows(
            db: &Db,
            table: &Table,
            user: &str,
            keep: Option<&str>,
        ) -> Result<Option<u64>, StoreError> {
            if table.user_column().is_none() {
                return Ok(None);
            }
            let delete_once = || async {
                let (_turn, mut tx) = begin(db).await?;
                let deleted = execute(
                    &mut tx,
                    sql::delete_user_rows::<Sql>(table, user, keep)
                        .expect("the table has a user column"),
                )
                .await?;
                tx.commit().await?;
                Ok::<_, Failure>(deleted)
            };
            super::retried(is_deadlock, to_store_error, delete_once)
                .await
                .map(Some)
        }

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

/// What the server databases (PostgreSQL, MySQL/MariaDB) do alike, expanded in their dialect
/// modules (`super::server_operations!(Database, Pool);`): the pool, a plain transaction (the
/// `SELECT ... FOR UPDATE` of `fetch` holds the row), the row read with a numeric `expires`
/// (the Express dates come back as milliseconds from the dialect's `EXPRESS_EXPIRES`), a
/// delete on the pool, and closing it.
#[cfg(any(feature = "postgres", feature = "mysql"))]
macro_rules! server_operations {
    ($database:ty, $pool:ty) => {
        #[derive(Debug)]
        pub(super) struct Db {
            pub pool: $pool,
        }

        pub(super) async fn begin(
            db: &Db,
        ) -> Result<((), sqlx::Transaction<'static, $database>), Failure> {
            Ok(((), db.pool.begin().await?))
        }

        /// The row under `id`, locked until the transaction ends when `lock`.
        pub(super) async fn fetch(
            connection: &mut Connection,
            table: &Table,
            id: &str,
            lock: bool,
        ) -> Result<Option<Row>, Failure> {
            let mut select = sql::select::<Sql>(table, id, lock);
            let row: Option<(Option<String>, Option<i64>)> =
                select.query_as().fetch_optional(connection).await?;
            Ok(row.map(|(data, expires)| Row::new(table.layout, data, expires)))
        }

        pub(super) async fn delete(db: &Db, table: &Table, id: &str) -> Result<u64, Failure> {
            let mut delete = sql::delete::<Sql>(table, id);
            Ok(delete.query().execute(&db.pool).await?.rows_affected())
        }

        pub(super) async fn close(db: &Db) {
            db.pool.close().await;
        }
    };
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) use server_operations;

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

    /// The read-modify-write of every change (see `row_operations!`): `change` edits the live
    /// record of `from`, which is written back under `to` when it answers `Ok`.
    async fn modify<T, F>(
        &self,
        from: &str,
        to: &str,
        now: Timestamp,
        change: F,
    ) -> Result<Modified<T>, StoreError>
    where
        T: Send,
        F: Fn(&mut Record) -> Result<T, T> + Send + Sync,
    {
        let table = &self.inner.table;
        on_db!(&self.inner.db, db, d => d::modify(db, table, from, to, now, &change).await)
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
        layout::refuse_what_node_documents_lack(changes)?;
        let id = self.inner.table.row_id(key)?;
        let modified = self.modify(&id, &id, now, layout::apply(changes)).await?;
        modified.update_outcome()
    }

    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        layout::refuse_what_node_documents_lack(changes)?;
        let table = &self.inner.table;
        let (from, to) = (table.row_id(from)?, table.row_id(to)?);
        let modified = self.modify(&from, &to, now, layout::apply(changes)).await?;
        modified.rotate_outcome()
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
        let change = layout::increment_change(json, field, by, touch);
        Ok(self
            .modify(&id, &id, now, change)
            .await?
            .increment_outcome())
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let table = &self.inner.table;
        let id = table.row_id(key)?;
        let deleted = on_db!(&self.inner.db, db, d => d::delete(db, table, &id)
            .await
            .map_err(|f| f.into_store(d::to_store_error)))?;
        Ok(deleted > 0)
    }

    /// With a user column (see [`SequelizeStoreOptions::user_column`]): the live rows it
    /// names `user` in, in row id order (the package's table keeps no creation time to sort
    /// by), the cursor being the last row id; only a page's rows are read as a load reads
    /// them. Without one, [`StoreError::Unsupported`].
    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<UserSessionsPage, StoreError> {
        let table = &self.inner.table;
        let mut ids = on_db!(&self.inner.db, db, d => d::user_rows(db, table, user).await)?
            .ok_or_else(layout::no_user_index)?;
        ids.retain(|id| cursor.is_none_or(|after| id.as_str() > after));
        ids.sort_unstable();
        let limit = limit.max(1) as usize;
        let next = (ids.len() > limit).then(|| ids[limit - 1].clone());
        ids.truncate(limit);
        let mut sessions = Vec::new();
        for id in ids {
            let Some(key) = table.key_of_row(&id) else {
                continue;
            };
            let row = on_db!(&self.inner.db, db, d => d::load(db, table, &id).await)?;
            // A row the user no longer owns (signed out meanwhile) or that expired is not theirs.
            let record = match row.map(|row| table.live(&row, now)).transpose() {
                Ok(record) => record.flatten(),
                Err(StoreError::Corrupt(_)) => continue,
                Err(error) => return Err(error),
            };
            if let Some(record) = record.filter(|record| record.user.as_deref() == Some(user)) {
                sessions.push(SessionSummary::new(
                    key,
                    record.created_at,
                    record.last_seen,
                    record.expires_at(),
                    record.device,
                ));
            }
        }
        Ok(UserSessionsPage::new(sessions, next))
    }

    /// With a user column: deletes every row it names `user` in but `keep`, in one statement;
    /// without one, [`StoreError::Unsupported`].
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let table = &self.inner.table;
        let keep = keep.map(|key| table.row_id(key)).transpose()?;
        on_db!(&self.inner.db, db, d => d::delete_user_rows(db, table, user, keep.as_deref()).await)?
            .ok_or_else(layout::no_user_index)
    }

    /// Pages through the rows in id order (the cursor is the page's last row id), each read
    /// as a load reads it, expired ones too; rows that are no session (no data, not the Koa
    /// prefix) or that cannot be read are left out. A Node document keeps no creation time or
    /// device: the summary's times are estimated as a load's are.
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        let table = &self.inner.table;
        let ids = on_db!(&self.inner.db, db, d => d::page_ids(db, table, cursor, limit).await)?;
        let next = ids.last().filter(|_| ids.len() == limit as usize).cloned();
        let mut sessions = Vec::new();
        for id in ids {
            let Some(key) = table.key_of_row(&id) else {
                continue;
            };
            let row = on_db!(&self.inner.db, db, d => d::load(db, table, &id).await)?;
            let record = match row.map(|row| table.record(&row)).transpose() {
                Ok(record) => record.flatten(),
                Err(StoreError::Corrupt(_)) => continue,
                Err(error) => return Err(error),
            };
            if let Some(record) = record {
                let user = record.user.clone();
                sessions.push(ScannedSession::new(SessionSummary::of(key, &record), user));
            }
        }
        Ok(ScanPage::new(sessions, next))
    }

    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let table = &self.inner.table;
        on_db!(&self.inner.db, db, d => d::delete_expired(db, table, now, limit)
            .await
            .map_err(|f| f.into_store(d::to_store_error)))
    }
}

//! The Sequelize tables on SQLite: the file the Node app opened, `BEGIN IMMEDIATE` around every
//! read-modify-write, one writer per store at a time.

use std::time::Duration;

use sessile::{StoreError, Timestamp};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool};
use sqlx::{Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::sql::{self, Builder, Dialect};
use super::table::{Layout, Row, Table};
use super::{Error, Failure};
use crate::options::SharedOptions;
use sessile_node::{parse_date, to_sequelize_sqlite_date};

/// The pool, and the write turn: writers of one store queue here instead of in SQLite's busy
/// handler (which sleeps in steps rather than waking when the lock frees).
#[derive(Debug)]
pub(super) struct Db {
    pub pool: SqlitePool,
    turn: Mutex<()>,
}

/// Opens the file, on the connection setup of sessile's own SQLite store. The journal mode is
/// left as the Node app set it (Sequelize does not switch to WAL; changing it would change the
/// file for the Node app too); the statement timeout is SQLite's busy timeout.
pub(super) async fn connect(url: &str, shared: &SharedOptions) -> Result<Db, Error> {
    let busy_timeout = shared.statement_timeout.unwrap_or(Duration::ZERO);
    let options: SqliteConnectOptions = url.parse().map_err(Error::Connect)?;
    let options = options
        .create_if_missing(shared.migrate_on_connect)
        .busy_timeout(busy_timeout)
        .foreign_keys(false);
    let pool = crate::sqlite::connect_pool(options, shared, busy_timeout).await?;
    Ok(Db {
        pool,
        turn: Mutex::new(()),
    })
}

fn quoted(table: &Table) -> String {
    format!("`{}`", table.name)
}

/// Sequelize 6's `sync()` for the model, statement for statement.
pub(super) async fn create_table(db: &Db, table: &Table) -> Result<(), sqlx::Error> {
    let name = quoted(table);
    let create = match table.layout {
        Layout::Koa => format!(
            "CREATE TABLE IF NOT EXISTS {name} (`id` VARCHAR(100) PRIMARY KEY, `data` TEXT, `expires` BIGINT);"
        ),
        Layout::Express => format!(
            "CREATE TABLE IF NOT EXISTS {name} (`sid` VARCHAR(36) PRIMARY KEY, `expires` DATETIME, \
             `data` TEXT, `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL);"
        ),
    };
    let _turn = db.turn.lock().await;
    sqlx::query(&create).execute(&db.pool).await?;
    if table.layout == Layout::Koa {
        let index = table.index_name();
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ? AND tbl_name = ?",
        )
        .bind(&index)
        .bind(&table.name)
        .fetch_optional(&db.pool)
        .await?;
        if exists.is_none() {
            let create = format!("CREATE INDEX `{index}` ON {name} (`expires`)");
            sqlx::query(&create).execute(&db.pool).await?;
        }
    }
    Ok(())
}

/// A write transaction with the store's write turn held.
pub(super) async fn begin(
    db: &Db,
) -> Result<(MutexGuard<'_, ()>, Transaction<'static, Sqlite>), Failure> {
    let turn = db.turn.lock().await;
    let tx = db.pool.begin_with("BEGIN IMMEDIATE").await?;
    Ok((turn, tx))
}

/// The SQLite spelling of the row statements: `` `name` ``, `?`, dates as Sequelize's text.
/// Inside `BEGIN IMMEDIATE` the whole file is locked for writing, so a `SELECT` needs no lock
/// of its own.
pub(super) struct Sql;

/// The connection a transaction runs on.
pub(super) type Connection = SqliteConnection;

impl Dialect for Sql {
    type Db = Sqlite;
    const QUOTE: char = '`';
    const LOCK: &'static str = "";
    const EXPRESS_EXPIRES: &'static str = "CAST(`expires` AS TEXT)";

    fn push_text(sql: &mut Builder<Self::Db>, text: &str) {
        sql.push_bind(text.to_owned());
    }

    fn push_int(sql: &mut Builder<Self::Db>, int: i64) {
        sql.push_bind(int);
    }

    fn push_date(sql: &mut Builder<Self::Db>, ms: i64) -> Result<(), Failure> {
        sql.push_bind(date(ms)?);
        Ok(())
    }
}

/// The row under `id`.
pub(super) async fn fetch(
    connection: &mut Connection,
    table: &Table,
    id: &str,
    lock: bool,
) -> Result<Option<Row>, Failure> {
    let mut select = sql::select::<Sql>(table, id, lock);
    Ok(match table.layout {
        Layout::Koa => {
            let row: Option<(Option<String>, Option<i64>)> =
                select.query_as().fetch_optional(connection).await?;
            row.map(|(data, expires)| Row::new(table.layout, data, expires))
        }
        Layout::Express => {
            let row: Option<(Option<String>, Option<String>)> =
                select.query_as().fetch_optional(connection).await?;
            row.map(|(data, expires)| Row {
                data,
                expires_ms: expires.as_deref().and_then(parse_date),
            })
        }
    })
}

fn date(ms: i64) -> Result<String, Failure> {
    to_sequelize_sqlite_date(ms).ok_or_else(|| {
        Failure::Store(StoreError::Backend(
            format!("{ms} ms is outside the years 0 to 9999 Sequelize's dates cover").into(),
        ))
    })
}

/// `delete` outside a transaction, in the write turn.
pub(super) async fn delete(db: &Db, table: &Table, id: &str) -> Result<u64, Failure> {
    let _turn = db.turn.lock().await;
    let mut connection = db.pool.acquire().await?;
    execute(&mut connection, sql::delete::<Sql>(table, id)).await
}

super::row_operations!();

/// One batch of expired rows, by the package's own rule (Koa: `expires <= floor(now / 1000)`;
/// Express: `expires <= now`, compared as text exactly as Sequelize's cleanup compares).
pub(super) async fn delete_expired(
    db: &Db,
    table: &Table,
    now: Timestamp,
    limit: u32,
) -> Result<u64, Failure> {
    let sql = format!(
        "DELETE FROM {name} WHERE rowid IN \
         (SELECT rowid FROM {name} WHERE `expires` <= ? LIMIT ?)",
        name = quoted(table)
    );
    let query = sqlx::query(&sql);
    let query = match table.layout {
        Layout::Koa => query.bind(now.as_millis().div_euclid(1000)),
        Layout::Express => query.bind(date(now.as_millis())?),
    };
    let _turn = db.turn.lock().await;
    Ok(query
        .bind(i64::from(limit))
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Unique-key violations (`SQLITE_CONSTRAINT_PRIMARYKEY`, `SQLITE_CONSTRAINT_UNIQUE`).
pub(super) fn is_duplicate(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("1555" | "2067")))
}

pub(super) use crate::sqlite::{is_deadlock, to_store_error};

pub(super) async fn close(db: &Db) {
    db.pool.close().await;
}

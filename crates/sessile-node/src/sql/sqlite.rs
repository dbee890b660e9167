//! The Sequelize tables on SQLite: the file the Node app opened, `BEGIN IMMEDIATE` around every
//! read-modify-write, one writer per store at a time.

use std::time::Duration;

use sessile::{StoreError, Timestamp};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions};
use sqlx::{Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::table::{Layout, Row, Table};
use super::{Error, Failure};
use crate::{parse_date, to_sequelize_sqlite_date};

/// The pool, and the write turn: writers of one store queue here instead of in SQLite's busy
/// handler (which sleeps in steps rather than waking when the lock frees).
#[derive(Debug)]
pub(super) struct Db {
    pub pool: SqlitePool,
    turn: Mutex<()>,
}

/// Opens the file. The journal mode is left as the Node app set it (Sequelize does not switch
/// to WAL; changing it would change the file for the Node app too).
pub(super) async fn connect(
    url: &str,
    create: bool,
    max_connections: u32,
    acquire_timeout: Duration,
    busy_timeout: Duration,
) -> Result<Db, Error> {
    let options: SqliteConnectOptions = url.parse().map_err(Error::Connect)?;
    let options = options
        .create_if_missing(create)
        .busy_timeout(busy_timeout)
        .foreign_keys(false);
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(Error::Connect)?;
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

/// Fails unless the table has the layout's columns.
pub(super) async fn check_table(db: &Db, table: &Table) -> Result<(), sqlx::Error> {
    let check = format!(
        "SELECT `{}`, `data`, `expires` FROM {} WHERE 1 = 0",
        table.id_column(),
        quoted(table)
    );
    sqlx::query(&check).execute(&db.pool).await.map(drop)
}

/// A write transaction with the store's write turn held.
pub(super) async fn begin(
    db: &Db,
) -> Result<(MutexGuard<'_, ()>, Transaction<'static, Sqlite>), Failure> {
    let turn = db.turn.lock().await;
    let tx = db.pool.begin_with("BEGIN IMMEDIATE").await?;
    Ok((turn, tx))
}

fn select(table: &Table) -> String {
    match table.layout {
        Layout::Koa => format!(
            "SELECT `data`, `expires` FROM {} WHERE `id` = ?",
            quoted(table)
        ),
        Layout::Express => format!(
            "SELECT `data`, CAST(`expires` AS TEXT) FROM {} WHERE `sid` = ?",
            quoted(table)
        ),
    }
}

/// The row under `id`. Inside `BEGIN IMMEDIATE` the whole file is locked for writing, so
/// `_lock` changes nothing here.
pub(super) async fn fetch(
    connection: &mut SqliteConnection,
    table: &Table,
    id: &str,
    _lock: bool,
) -> Result<Option<Row>, Failure> {
    fetch_with(&mut *connection, table, id).await
}

async fn fetch_with<'c, E>(executor: E, table: &Table, id: &str) -> Result<Option<Row>, Failure>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    let sql = select(table);
    Ok(match table.layout {
        Layout::Koa => {
            let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(&sql)
                .bind(id)
                .fetch_optional(executor)
                .await?;
            row.map(|(data, expires)| Row {
                data,
                expires_ms: expires.and_then(|seconds| seconds.checked_mul(1000)),
            })
        }
        Layout::Express => {
            let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(&sql)
                .bind(id)
                .fetch_optional(executor)
                .await?;
            row.map(|(data, expires)| Row {
                data,
                expires_ms: expires.as_deref().and_then(parse_date),
            })
        }
    })
}

/// A read outside any transaction (`load`).
pub(super) async fn load(db: &Db, table: &Table, id: &str) -> Result<Option<Row>, Failure> {
    fetch_with(&db.pool, table, id).await
}

fn date(ms: i64) -> Result<String, Failure> {
    to_sequelize_sqlite_date(ms).ok_or_else(|| {
        Failure::Store(StoreError::Backend(
            format!("{ms} ms is outside the years 0 to 9999 Sequelize's dates cover").into(),
        ))
    })
}

pub(super) async fn insert(
    connection: &mut SqliteConnection,
    table: &Table,
    id: &str,
    data: &str,
    expires_ms: i64,
    now_ms: i64,
) -> Result<(), Failure> {
    match table.layout {
        Layout::Koa => {
            let sql = format!(
                "INSERT INTO {} (`id`, `data`, `expires`) VALUES (?, ?, ?)",
                quoted(table)
            );
            sqlx::query(&sql)
                .bind(id)
                .bind(data)
                .bind(expires_ms.div_euclid(1000))
                .execute(&mut *connection)
                .await?;
        }
        Layout::Express => {
            let sql = format!(
                "INSERT INTO {} (`sid`, `expires`, `data`, `createdAt`, `updatedAt`) \
                 VALUES (?, ?, ?, ?, ?)",
                quoted(table)
            );
            let now = date(now_ms)?;
            sqlx::query(&sql)
                .bind(id)
                .bind(date(expires_ms)?)
                .bind(data)
                .bind(&now)
                .bind(&now)
                .execute(&mut *connection)
                .await?;
        }
    }
    Ok(())
}

/// Rewrites the row `from` as `to` with `data` and `expires`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn rewrite(
    connection: &mut SqliteConnection,
    table: &Table,
    from: &str,
    to: &str,
    data: &str,
    expires_ms: i64,
    now_ms: i64,
) -> Result<u64, Failure> {
    let result = match table.layout {
        Layout::Koa => {
            let sql = format!(
                "UPDATE {} SET `id` = ?, `data` = ?, `expires` = ? WHERE `id` = ?",
                quoted(table)
            );
            sqlx::query(&sql)
                .bind(to)
                .bind(data)
                .bind(expires_ms.div_euclid(1000))
                .bind(from)
                .execute(&mut *connection)
                .await?
        }
        Layout::Express => {
            let sql = format!(
                "UPDATE {} SET `sid` = ?, `expires` = ?, `data` = ?, `updatedAt` = ? WHERE `sid` = ?",
                quoted(table)
            );
            sqlx::query(&sql)
                .bind(to)
                .bind(date(expires_ms)?)
                .bind(data)
                .bind(date(now_ms)?)
                .bind(from)
                .execute(&mut *connection)
                .await?
        }
    };
    Ok(result.rows_affected())
}

pub(super) async fn delete_row(
    connection: &mut SqliteConnection,
    table: &Table,
    id: &str,
) -> Result<u64, Failure> {
    let sql = format!(
        "DELETE FROM {} WHERE `{}` = ?",
        quoted(table),
        table.id_column()
    );
    Ok(sqlx::query(&sql)
        .bind(id)
        .execute(&mut *connection)
        .await?
        .rows_affected())
}

/// `delete` outside a transaction, in the write turn.
pub(super) async fn delete(db: &Db, table: &Table, id: &str) -> Result<u64, Failure> {
    let _turn = db.turn.lock().await;
    let mut connection = db.pool.acquire().await?;
    delete_row(&mut connection, table, id).await
}

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

/// Nothing to retry: `BEGIN IMMEDIATE` takes the write lock up front.
pub(super) fn retryable(_error: &sqlx::Error) -> bool {
    false
}

/// Busy after the busy timeout, locked, I/O error, full disk, file not openable: unavailable.
pub(super) fn to_store_error(error: sqlx::Error) -> StoreError {
    super::store_error(error, |e| {
        let code = e.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0) & 0xff;
        matches!(code, 5 | 6 | 10 | 13 | 14)
    })
}

pub(super) async fn close(db: &Db) {
    db.pool.close().await;
}

//! The Sequelize tables on PostgreSQL: `SELECT ... FOR UPDATE` inside a transaction for every
//! read-modify-write; `timestamptz` written and read as milliseconds.

use std::time::Duration;

use sessile::{StoreError, Timestamp};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Executor, Postgres, Transaction};

use super::table::{Layout, Row, Table};
use super::{Error, Failure};

#[derive(Debug)]
pub(super) struct Db {
    pub pool: PgPool,
}

pub(super) async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Duration,
) -> Result<Db, Error> {
    let options: PgConnectOptions = url.parse().map_err(Error::Connect)?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(true)
        .after_connect(move |connection, _meta| {
            Box::pin(async move {
                if !statement_timeout.is_zero() {
                    let set = format!(
                        "SET statement_timeout = {}",
                        statement_timeout.as_millis().max(1)
                    );
                    connection.execute(set.as_str()).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(Error::Connect)?;
    Ok(Db { pool })
}

fn quoted(table: &Table) -> String {
    format!("\"{}\"", table.name)
}

/// A `timestamptz` from the millisecond parameter `$n` (exact: the product stays below 2^53 µs).
fn time_param(n: u8) -> String {
    format!("(TIMESTAMPTZ 'epoch' + ${n}::float8 * INTERVAL '1 millisecond')")
}

/// Sequelize 6's `sync()` for the model: the same `CREATE TABLE IF NOT EXISTS`, then the index
/// when the table has none of that name.
pub(super) async fn create_table(db: &Db, table: &Table) -> Result<(), sqlx::Error> {
    let name = quoted(table);
    let create = match table.layout {
        Layout::Koa => format!(
            "CREATE TABLE IF NOT EXISTS {name} (\"id\" VARCHAR(100) , \"data\" TEXT, \"expires\" BIGINT, PRIMARY KEY (\"id\"));"
        ),
        Layout::Express => format!(
            "CREATE TABLE IF NOT EXISTS {name} (\"sid\" VARCHAR(36) , \"expires\" TIMESTAMP WITH TIME ZONE, \
             \"data\" TEXT, \"createdAt\" TIMESTAMP WITH TIME ZONE NOT NULL, \
             \"updatedAt\" TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (\"sid\"));"
        ),
    };
    sqlx::query(&create).execute(&db.pool).await.or_else(|e| {
        // Two creators at once: the loser's CREATE TABLE IF NOT EXISTS can still hit the
        // catalog's unique index.
        if code(&e) == Some("23505") || code(&e) == Some("42P07") {
            Ok(Default::default())
        } else {
            Err(e)
        }
    })?;
    if table.layout == Layout::Koa {
        let index = table.index_name();
        let exists: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename = $1 AND indexname = $2",
        )
        .bind(&table.name)
        .bind(&index)
        .fetch_optional(&db.pool)
        .await?;
        if exists.is_none() {
            let create = format!("CREATE INDEX \"{index}\" ON {name} (\"expires\")");
            match sqlx::query(&create).execute(&db.pool).await {
                Err(e) if code(&e) == Some("42P07") || code(&e) == Some("23505") => {}
                other => {
                    other?;
                }
            }
        }
    }
    Ok(())
}

pub(super) async fn check_table(db: &Db, table: &Table) -> Result<(), sqlx::Error> {
    let check = format!(
        "SELECT \"{}\", \"data\", \"expires\" FROM {} WHERE 1 = 0",
        table.id_column(),
        quoted(table)
    );
    sqlx::query(&check).execute(&db.pool).await.map(drop)
}

pub(super) async fn begin(db: &Db) -> Result<((), Transaction<'static, Postgres>), Failure> {
    Ok(((), db.pool.begin().await?))
}

fn select(table: &Table, lock: bool) -> String {
    let lock = if lock { " FOR UPDATE" } else { "" };
    match table.layout {
        Layout::Koa => format!(
            "SELECT \"data\", \"expires\" FROM {} WHERE \"id\" = $1{lock}",
            quoted(table)
        ),
        Layout::Express => format!(
            "SELECT \"data\", floor(EXTRACT(EPOCH FROM \"expires\") * 1000)::int8 FROM {} \
             WHERE \"sid\" = $1{lock}",
            quoted(table)
        ),
    }
}

async fn fetch_with<'c, E>(
    executor: E,
    table: &Table,
    id: &str,
    lock: bool,
) -> Result<Option<Row>, Failure>
where
    E: Executor<'c, Database = Postgres>,
{
    let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(&select(table, lock))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|(data, expires)| Row {
        data,
        expires_ms: match table.layout {
            // Whole seconds in the Koa table.
            Layout::Koa => expires.and_then(|seconds| seconds.checked_mul(1000)),
            Layout::Express => expires,
        },
    }))
}

/// The row under `id`, locked until the transaction ends when `lock`.
pub(super) async fn fetch(
    connection: &mut PgConnection,
    table: &Table,
    id: &str,
    lock: bool,
) -> Result<Option<Row>, Failure> {
    fetch_with(&mut *connection, table, id, lock).await
}

pub(super) async fn load(db: &Db, table: &Table, id: &str) -> Result<Option<Row>, Failure> {
    fetch_with(&db.pool, table, id, false).await
}

pub(super) async fn insert(
    connection: &mut PgConnection,
    table: &Table,
    id: &str,
    data: &str,
    expires_ms: i64,
    now_ms: i64,
) -> Result<(), Failure> {
    match table.layout {
        Layout::Koa => {
            let sql = format!(
                "INSERT INTO {} (\"id\", \"data\", \"expires\") VALUES ($1, $2, $3)",
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
                "INSERT INTO {} (\"sid\", \"expires\", \"data\", \"createdAt\", \"updatedAt\") \
                 VALUES ($1, {}, $3, {now}, {now})",
                quoted(table),
                time_param(2),
                now = time_param(4),
            );
            sqlx::query(&sql)
                .bind(id)
                .bind(expires_ms)
                .bind(data)
                .bind(now_ms)
                .execute(&mut *connection)
                .await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn rewrite(
    connection: &mut PgConnection,
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
                "UPDATE {} SET \"id\" = $1, \"data\" = $2, \"expires\" = $3 WHERE \"id\" = $4",
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
                "UPDATE {} SET \"sid\" = $1, \"expires\" = {}, \"data\" = $3, \"updatedAt\" = {} \
                 WHERE \"sid\" = $5",
                quoted(table),
                time_param(2),
                time_param(4),
            );
            sqlx::query(&sql)
                .bind(to)
                .bind(expires_ms)
                .bind(data)
                .bind(now_ms)
                .bind(from)
                .execute(&mut *connection)
                .await?
        }
    };
    Ok(result.rows_affected())
}

pub(super) async fn delete_row(
    connection: &mut PgConnection,
    table: &Table,
    id: &str,
) -> Result<u64, Failure> {
    delete_with(&mut *connection, table, id).await
}

async fn delete_with<'c, E>(executor: E, table: &Table, id: &str) -> Result<u64, Failure>
where
    E: Executor<'c, Database = Postgres>,
{
    let sql = format!(
        "DELETE FROM {} WHERE \"{}\" = $1",
        quoted(table),
        table.id_column()
    );
    Ok(sqlx::query(&sql)
        .bind(id)
        .execute(executor)
        .await?
        .rows_affected())
}

pub(super) async fn delete(db: &Db, table: &Table, id: &str) -> Result<u64, Failure> {
    delete_with(&db.pool, table, id).await
}

/// One batch of expired rows, picked with `FOR UPDATE SKIP LOCKED` so cleaners on several
/// instances (and the rows a request holds) never wait on each other.
pub(super) async fn delete_expired(
    db: &Db,
    table: &Table,
    now: Timestamp,
    limit: u32,
) -> Result<u64, Failure> {
    let name = quoted(table);
    let id = table.id_column();
    let query = match table.layout {
        Layout::Koa => {
            let sql = format!(
                "DELETE FROM {name} WHERE \"{id}\" IN (SELECT \"{id}\" FROM {name} \
                 WHERE \"expires\" <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
            );
            sqlx::query(&sql)
                .bind(now.as_millis().div_euclid(1000))
                .bind(i64::from(limit))
                .execute(&db.pool)
                .await?
        }
        Layout::Express => {
            let sql = format!(
                "DELETE FROM {name} WHERE \"{id}\" IN (SELECT \"{id}\" FROM {name} \
                 WHERE \"expires\" <= {} LIMIT $2 FOR UPDATE SKIP LOCKED)",
                time_param(1)
            );
            sqlx::query(&sql)
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .execute(&db.pool)
                .await?
        }
    };
    Ok(query.rows_affected())
}

fn code(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(e) => match e.code() {
            Some(std::borrow::Cow::Borrowed(code)) => Some(code),
            // sqlx's PostgreSQL errors always borrow their code; anything else is unknown.
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn is_duplicate(error: &sqlx::Error) -> bool {
    code(error) == Some("23505")
}

/// Deadlock and serialization failures: the transaction is retried.
pub(super) fn retryable(error: &sqlx::Error) -> bool {
    matches!(code(error), Some("40P01" | "40001"))
}

/// Connection exceptions (08), insufficient resources (53), statement timeout or cancel
/// (57014), shutdown (57P01-57P03), lock timeout (55P03), read-only standby (25006).
pub(super) fn to_store_error(error: sqlx::Error) -> StoreError {
    super::store_error(error, |e| {
        e.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    &*code,
                    "57014" | "57P01" | "57P02" | "57P03" | "55P03" | "25006"
                )
        })
    })
}

pub(super) async fn close(db: &Db) {
    db.pool.close().await;
}

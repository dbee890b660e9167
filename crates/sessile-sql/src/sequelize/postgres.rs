//! The Sequelize tables on PostgreSQL: `SELECT ... FOR UPDATE` inside a transaction for every
//! read-modify-write; `timestamptz` written and read as milliseconds.

use std::time::Duration;

use sessile::{StoreError, Timestamp};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Executor, Postgres, Transaction};

use super::statement::{self, Dialect, Param};
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
    tls_ca_certificates: Option<&[u8]>,
) -> Result<Db, Error> {
    let mut options: PgConnectOptions = url.parse().map_err(Error::Connect)?;
    if let Some(pem) = tls_ca_certificates {
        options = crate::tls::postgres(options, pem)?;
    }
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

/// A `timestamptz` from the millisecond parameter at `placeholder` (exact: the product stays
/// below 2^53 µs).
fn time_param(placeholder: &str) -> String {
    format!("(TIMESTAMPTZ 'epoch' + {placeholder}::float8 * INTERVAL '1 millisecond')")
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

pub(super) async fn begin(db: &Db) -> Result<((), Transaction<'static, Postgres>), Failure> {
    Ok(((), db.pool.begin().await?))
}

/// The PostgreSQL spelling of the row statements: `"name"`, `$n`, dates passed as milliseconds,
/// `FOR UPDATE`.
pub(super) struct Sql;

/// The connection a transaction runs on.
pub(super) type Connection = PgConnection;

impl Dialect for Sql {
    const QUOTE: char = '"';
    const NUMBERED: bool = true;
    const LOCK: &'static str = " FOR UPDATE";
    const EXPRESS_EXPIRES: &'static str = "floor(EXTRACT(EPOCH FROM \"expires\") * 1000)::int8";

    fn date(ms: i64) -> Result<Param, Failure> {
        Ok(Param::Int(ms))
    }

    fn date_sql(placeholder: String) -> String {
        time_param(&placeholder)
    }
}

/// The row under `id`, locked until the transaction ends when `lock`.
pub(super) async fn fetch(
    connection: &mut Connection,
    table: &Table,
    id: &str,
    lock: bool,
) -> Result<Option<Row>, Failure> {
    let select = statement::select::<Sql>(table, id, lock);
    let row: Option<(Option<String>, Option<i64>)> =
        select.query_as().fetch_optional(connection).await?;
    Ok(row.map(|(data, expires)| Row::new(table.layout, data, expires)))
}

pub(super) async fn delete(db: &Db, table: &Table, id: &str) -> Result<u64, Failure> {
    let delete = statement::delete::<Sql>(table, id);
    Ok(delete.query().execute(&db.pool).await?.rows_affected())
}

super::row_operations!();

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
                time_param("$1")
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

pub(super) use crate::postgres::to_store_error;

pub(super) async fn close(db: &Db) {
    db.pool.close().await;
}

//! The Sequelize tables on PostgreSQL: `SELECT ... FOR UPDATE` inside a transaction for every
//! read-modify-write; `timestamptz` written and read as milliseconds.

use sessile::{StoreError, Timestamp};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::Postgres;

use super::sql::{self, Builder, Dialect};
use super::table::{Layout, Row, Table};
use super::{Error, Failure};
use crate::options::SharedOptions;

/// The pool, on the connection setup of sessile's own PostgreSQL store.
pub(super) async fn connect(url: &str, shared: &SharedOptions) -> Result<Db, Error> {
    let options: PgConnectOptions = url.parse().map_err(Error::Connect)?;
    let pool = crate::postgres::connect_pool(options, shared).await?;
    Ok(Db { pool })
}

fn quoted(table: &Table) -> String {
    format!("\"{}\"", table.name)
}

/// A `timestamptz` from a millisecond parameter (exact: the product stays below 2^53 µs): the
/// SQL before and after the placeholder.
const TIME_PARAM: (&str, &str) = (
    "(TIMESTAMPTZ 'epoch' + ",
    "::float8 * INTERVAL '1 millisecond')",
);

/// [`TIME_PARAM`] around `placeholder`.
fn time_param(placeholder: &str) -> String {
    format!("{}{placeholder}{}", TIME_PARAM.0, TIME_PARAM.1)
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
        // catalog's unique index (23505), or find the table (42P07) or its row type (42710)
        // created meanwhile.
        if matches!(code(&e), Some("23505" | "42P07" | "42710")) {
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

/// The PostgreSQL spelling of the row statements: `"name"`, `$n`, dates passed as milliseconds,
/// `FOR UPDATE`.
pub(super) struct Sql;

/// The connection a transaction runs on.
pub(super) type Connection = PgConnection;

impl Dialect for Sql {
    type Db = Postgres;
    const QUOTE: char = '"';
    const LOCK: &'static str = " FOR UPDATE";
    const EXPRESS_EXPIRES: &'static str = "floor(EXTRACT(EPOCH FROM \"expires\") * 1000)::int8";

    fn push_text(sql: &mut Builder<Self::Db>, text: &str) {
        sql.push_bind(text.to_owned());
    }

    fn push_int(sql: &mut Builder<Self::Db>, int: i64) {
        sql.push_bind(int);
    }

    /// Milliseconds, made a `timestamptz` in SQL ([`TIME_PARAM`]).
    fn push_date(sql: &mut Builder<Self::Db>, ms: i64) -> Result<(), Failure> {
        sql.push(TIME_PARAM.0).push_bind(ms).push(TIME_PARAM.1);
        Ok(())
    }
}

super::server_operations!(Postgres, PgPool);
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

pub(super) use crate::postgres::{
    is_deadlock, is_unique_violation as is_duplicate, to_store_error,
};

//! The Sequelize tables on MySQL/MariaDB (InnoDB): `SELECT ... FOR UPDATE` inside a transaction
//! for every read-modify-write; `DATETIME` values in UTC, as Sequelize writes them with its
//! default `timezone: '+00:00'`.

use std::time::Duration;

use sessile::{StoreError, Timestamp};
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlPool, MySqlPoolOptions,
};
use sqlx::{Executor, MySql, Transaction};
use time::macros::format_description;
use time::OffsetDateTime;

use super::statement::{self, Dialect, Param};
use super::table::{Layout, Row, Table};
use super::{Error, Failure};

#[derive(Debug)]
pub(super) struct Db {
    pub pool: MySqlPool,
}

pub(super) async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Duration,
    tls_ca_certificates: Option<&[u8]>,
) -> Result<Db, Error> {
    let mut options: MySqlConnectOptions = url.parse().map_err(Error::Connect)?;
    if let Some(pem) = tls_ca_certificates {
        options = crate::tls::mysql(options, pem)?;
    }
    let pool = MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(true)
        .after_connect(move |connection, _meta| {
            Box::pin(async move { set_timeouts(connection, statement_timeout).await })
        })
        .connect_with(options)
        .await
        .map_err(Error::Connect)?;
    Ok(Db { pool })
}

/// MariaDB's `max_statement_time` or MySQL's `max_execution_time`, and the InnoDB lock wait
/// (whole seconds) on both.
async fn set_timeouts(
    connection: &mut MySqlConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    if timeout.is_zero() {
        return Ok(());
    }
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut *connection)
        .await?;
    let limit = if version.to_ascii_lowercase().contains("mariadb") {
        format!("max_statement_time = {:.3}", timeout.as_secs_f64())
    } else {
        format!("max_execution_time = {}", timeout.as_millis().max(1))
    };
    let lock_wait = timeout.as_secs_f64().ceil().max(1.0) as u64;
    let set = format!("SET SESSION {limit}, innodb_lock_wait_timeout = {lock_wait}");
    connection.execute(set.as_str()).await?;
    Ok(())
}

fn quoted(table: &Table) -> String {
    format!("`{}`", table.name)
}

/// Sequelize 6's `sync()` for the model: `CREATE TABLE IF NOT EXISTS`, then
/// `ALTER TABLE ... ADD INDEX` when the table has no index of that name.
pub(super) async fn create_table(db: &Db, table: &Table) -> Result<(), sqlx::Error> {
    let name = quoted(table);
    let create = match table.layout {
        Layout::Koa => format!(
            "CREATE TABLE IF NOT EXISTS {name} (`id` VARCHAR(100) , `data` TEXT, `expires` BIGINT, PRIMARY KEY (`id`)) ENGINE=InnoDB;"
        ),
        Layout::Express => format!(
            "CREATE TABLE IF NOT EXISTS {name} (`sid` VARCHAR(36) , `expires` DATETIME, `data` TEXT, \
             `createdAt` DATETIME NOT NULL, `updatedAt` DATETIME NOT NULL, PRIMARY KEY (`sid`)) ENGINE=InnoDB;"
        ),
    };
    sqlx::query(&create).execute(&db.pool).await?;
    if table.layout == Layout::Koa {
        let index = table.index_name();
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() \
             AND table_name = ? AND index_name = ? LIMIT 1",
        )
        .bind(&table.name)
        .bind(&index)
        .fetch_optional(&db.pool)
        .await?;
        if exists.is_none() {
            let add = format!("ALTER TABLE {name} ADD INDEX `{index}` (`expires`)");
            match sqlx::query(&add).execute(&db.pool).await {
                // ER_DUP_KEYNAME: another instance added it meanwhile.
                Err(e) if number(&e) == Some(1061) => {}
                other => {
                    other?;
                }
            }
        }
    }
    Ok(())
}

pub(super) async fn begin(db: &Db) -> Result<((), Transaction<'static, MySql>), Failure> {
    Ok(((), db.pool.begin().await?))
}

/// The MySQL/MariaDB spelling of the row statements: `` `name` ``, `?`, `DATETIME` literals in
/// UTC, `FOR UPDATE`.
pub(super) struct Sql;

/// The connection a transaction runs on.
pub(super) type Connection = MySqlConnection;

impl Dialect for Sql {
    const QUOTE: char = '`';
    const NUMBERED: bool = false;
    const LOCK: &'static str = " FOR UPDATE";
    /// `DATETIME` as milliseconds since the epoch, independent of the session time zone.
    const EXPRESS_EXPIRES: &'static str =
        "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', `expires`) DIV 1000 AS SIGNED)";

    fn date(ms: i64) -> Result<Param, Failure> {
        datetime(ms).map(Param::Text)
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

/// A `DATETIME` literal in UTC, rounded down to the second: the column keeps no fraction (MySQL
/// would round one, MariaDB truncate it; writing whole seconds gives the same value on both).
fn datetime(ms: i64) -> Result<String, Failure> {
    let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .filter(|at| (1000..=9999).contains(&at.year()));
    at.and_then(|at| {
        at.format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .ok()
    })
    .ok_or_else(|| {
        Failure::Store(StoreError::Backend(
            format!("{ms} ms is outside the range of a DATETIME").into(),
        ))
    })
}

pub(super) async fn delete(db: &Db, table: &Table, id: &str) -> Result<u64, Failure> {
    let delete = statement::delete::<Sql>(table, id);
    Ok(delete.query().execute(&db.pool).await?.rows_affected())
}

super::row_operations!();

/// One batch of expired rows: a non-locking `SELECT ... LIMIT` of ids, then a `DELETE` of those
/// still expired. (`DELETE ... ORDER BY ... LIMIT` gap-locks the first live index entry past
/// the range, which deadlocks with updates of that session; MariaDB has no `LIMIT` in `IN`
/// subqueries.)
pub(super) async fn delete_expired(
    db: &Db,
    table: &Table,
    now: Timestamp,
    limit: u32,
) -> Result<u64, Failure> {
    let name = quoted(table);
    let id = table.id_column();
    let bound: Bound = match table.layout {
        Layout::Koa => Bound::Seconds(now.as_millis().div_euclid(1000)),
        Layout::Express => Bound::Text(datetime(now.as_millis())?),
    };
    let pick = format!("SELECT `{id}` FROM {name} WHERE `expires` <= ? LIMIT ?");
    let ids: Vec<String> = bound
        .bind(sqlx::query_scalar(&pick))
        .bind(i64::from(limit))
        .fetch_all(&db.pool)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let delete = format!("DELETE FROM {name} WHERE `{id}` IN ({marks}) AND `expires` <= ?");
    let mut query = sqlx::query(&delete);
    for id in &ids {
        query = query.bind(id);
    }
    let query = match bound {
        Bound::Seconds(seconds) => query.bind(seconds),
        Bound::Text(text) => query.bind(text),
    };
    Ok(query.execute(&db.pool).await?.rows_affected())
}

enum Bound {
    Seconds(i64),
    Text(String),
}

impl Bound {
    fn bind<'q, O>(
        &self,
        query: sqlx::query::QueryScalar<'q, MySql, O, sqlx::mysql::MySqlArguments>,
    ) -> sqlx::query::QueryScalar<'q, MySql, O, sqlx::mysql::MySqlArguments> {
        match self {
            Bound::Seconds(seconds) => query.bind(*seconds),
            Bound::Text(text) => query.bind(text.clone()),
        }
    }
}

fn number(error: &sqlx::Error) -> Option<u16> {
    match error {
        sqlx::Error::Database(e) => e
            .try_downcast_ref::<MySqlDatabaseError>()
            .map(MySqlDatabaseError::number),
        _ => None,
    }
}

/// `ER_DUP_ENTRY`.
pub(super) fn is_duplicate(error: &sqlx::Error) -> bool {
    number(error) == Some(1062)
}

/// Deadlocks (1213): InnoDB rolled the transaction back; it is retried.
pub(super) fn retryable(error: &sqlx::Error) -> bool {
    number(error) == Some(1213)
}

pub(super) use crate::mysql::to_store_error;

pub(super) async fn close(db: &Db) {
    db.pool.close().await;
}

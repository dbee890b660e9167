//! The Sequelize tables on MySQL/MariaDB (InnoDB): `SELECT ... FOR UPDATE` inside a transaction
//! for every read-modify-write; `DATETIME` values in UTC, as Sequelize writes them with its
//! default `timezone: '+00:00'`.

use sessile::{StoreError, Timestamp};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool};
use sqlx::{MySql, QueryBuilder};
use time::macros::format_description;
use time::OffsetDateTime;

use super::sql::{self, Builder, Dialect};
use super::table::{Layout, Row, Table};
use super::{Error, Failure};
use crate::mysql::{error_number, ER_DUP_ENTRY};
use crate::options::SharedOptions;

/// The pool, on the connection setup of sessile's own MySQL store.
pub(super) async fn connect(url: &str, shared: &SharedOptions) -> Result<Db, Error> {
    let options: MySqlConnectOptions = url.parse().map_err(Error::Connect)?;
    let pool = crate::mysql::connect_pool(options, shared).await?;
    Ok(Db { pool })
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
                Err(e) if error_number(&e) == Some(1061) => {}
                other => {
                    other?;
                }
            }
        }
    }
    Ok(())
}

/// The MySQL/MariaDB spelling of the row statements: `` `name` ``, `?`, `DATETIME` literals in
/// UTC, `FOR UPDATE`.
pub(super) struct Sql;

/// The connection a transaction runs on.
pub(super) type Connection = MySqlConnection;

impl Dialect for Sql {
    type Db = MySql;
    const QUOTE: char = '`';
    const LOCK: &'static str = " FOR UPDATE";
    /// `DATETIME` as milliseconds since the epoch, independent of the session time zone.
    const EXPRESS_EXPIRES: &'static str =
        "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', `expires`) DIV 1000 AS SIGNED)";

    fn push_text(sql: &mut Builder<Self::Db>, text: &str) {
        sql.push_bind(text.to_owned());
    }

    fn push_int(sql: &mut Builder<Self::Db>, int: i64) {
        sql.push_bind(int);
    }

    fn push_date(sql: &mut Builder<Self::Db>, ms: i64) -> Result<(), Failure> {
        sql.push_bind(datetime(ms)?);
        Ok(())
    }
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

super::server_operations!(MySql, MySqlPool);
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
    let mut delete = QueryBuilder::<MySql>::new(format!("DELETE FROM {name} WHERE `{id}` IN ("));
    let mut listed = delete.separated(", ");
    for id in ids {
        listed.push_bind(id);
    }
    delete.push(") AND `expires` <= ");
    match bound {
        Bound::Seconds(seconds) => delete.push_bind(seconds),
        Bound::Text(text) => delete.push_bind(text),
    };
    Ok(delete.build().execute(&db.pool).await?.rows_affected())
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

/// `ER_DUP_ENTRY`.
pub(super) fn is_duplicate(error: &sqlx::Error) -> bool {
    error_number(error) == Some(ER_DUP_ENTRY)
}

pub(super) use crate::mysql::{is_deadlock, to_store_error};

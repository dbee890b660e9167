//! How MySQL and MariaDB errors map onto the store contract, and which are retried: one
//! classification for every MySQL layout (sessile's table and the Sequelize tables).

use std::future::Future;

use sessile::StoreError;
use sqlx::mysql::MySqlDatabaseError;

use crate::error::store_error;

pub(crate) const ER_DUP_ENTRY: u16 = 1062;
pub(super) const ER_DATA_OUT_OF_RANGE: u16 = 1690;
const ER_LOCK_DEADLOCK: u16 = 1213;

/// Server errors that mean the database cannot serve requests right now, rather than that it
/// rejected this one.
const UNAVAILABLE: &[u16] = &[
    1040, // too many connections
    1053, // server shutdown in progress
    1205, // lock wait timeout exceeded
    1290, // running with --read-only / super_read_only (failover in progress)
    1317, // query execution was interrupted
    1836, // MariaDB: running in read-only mode
    1927, // MariaDB: connection was killed
    1969, // MariaDB: max_statement_time exceeded
    2006, // server has gone away
    2013, // lost connection to server during query
    3024, // MySQL: max_execution_time exceeded
    4031, // MySQL: disconnected by the server
];

pub(super) fn mysql_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    error
        .try_downcast_ref::<MySqlDatabaseError>()
        .is_some_and(|error| UNAVAILABLE.contains(&error.number()))
}

pub(crate) fn error_number(error: &sqlx::Error) -> Option<u16> {
    match error {
        sqlx::Error::Database(database) => database
            .try_downcast_ref::<MySqlDatabaseError>()
            .map(MySqlDatabaseError::number),
        _ => None,
    }
}

/// A driver error as the contract's error, on this dialect: also what the Sequelize tables on it
/// use (`crate::sequelize`), so both layouts classify alike.
pub(crate) fn to_store_error(error: sqlx::Error) -> StoreError {
    store_error(error, mysql_unavailable)
}

/// The server error number behind a [`StoreError::Backend`], if any.
fn store_error_number(error: &StoreError) -> Option<u16> {
    match error {
        StoreError::Backend(source) => source.downcast_ref::<sqlx::Error>().and_then(error_number),
        _ => None,
    }
}

pub(super) fn is_duplicate_key(error: &StoreError) -> bool {
    store_error_number(error) == Some(ER_DUP_ENTRY)
}

/// InnoDB chose the statement or transaction as a deadlock victim (1213) and rolled it back:
/// every MySQL layout runs it again, up to [`DEADLOCK_ATTEMPTS`](crate::error::DEADLOCK_ATTEMPTS)
/// times in all.
pub(crate) fn is_deadlock(error: &sqlx::Error) -> bool {
    error_number(error) == Some(ER_LOCK_DEADLOCK)
}

/// `operation`, retried as [`crate::error::retry_on_deadlock`] says when it deadlocked.
pub(super) async fn retry_on_deadlock<T, Fut>(
    operation: impl FnMut() -> Fut,
) -> Result<T, StoreError>
where
    Fut: Future<Output = Result<T, StoreError>>,
{
    crate::error::retry_on_deadlock(is_deadlock, operation).await
}

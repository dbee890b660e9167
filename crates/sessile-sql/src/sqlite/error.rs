//! How SQLite errors map onto the store contract, and which are retried: one classification
//! for every SQLite layout (sessile's table and the Sequelize tables).

use sessile::StoreError;

use crate::error::store_error;

/// SQLite errors that mean the database cannot serve requests right now, rather than that it
/// rejected this one: still locked after the busy timeout, I/O failure, file not openable,
/// disk full.
pub(super) fn sqlite_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        primary_code(error),
        Some(SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN)
    )
}

/// Whether another connection holds a lock this one needs.
pub(super) fn is_locked(error: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(primary_code(error), Some(SQLITE_BUSY | SQLITE_LOCKED))
}

const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

/// The primary result code: sqlx reports SQLite's extended code, whose low byte it is.
fn primary_code(error: &dyn sqlx::error::DatabaseError) -> Option<i32> {
    let code: i32 = error.code()?.parse().ok()?;
    Some(code & 0xff)
}

/// A driver error as the contract's error, on this dialect: also what the Sequelize tables on it
/// use (`crate::sequelize`), so both layouts classify alike.
pub(crate) fn to_store_error(error: sqlx::Error) -> StoreError {
    store_error(error, sqlite_unavailable)
}

/// Never: every SQLite layout begins its write transactions with `BEGIN IMMEDIATE`, which takes
/// the file's write lock up front, so no two of them can wait for each other (a busy file is
/// the busy timeout's, then [`StoreError::Unavailable`]). The deadlock test of the one
/// retry policy (`crate::error::retry_on_deadlock`), for the layouts written once for every
/// driver.
#[cfg(feature = "sequelize")]
pub(crate) fn is_deadlock(_error: &sqlx::Error) -> bool {
    false
}

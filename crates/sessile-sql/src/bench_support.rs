//! Entry points for this crate's criterion benches (`benches/delta.rs`): the statement and
//! binds each store builds for a change set, without a database. Not part of the API: hidden
//! from the documentation and free to change in any release.

use sessile::ChangeSet;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use sessile::{StoreError, StoreKey, Timestamp};

/// The SQLite store's in-place `UPDATE` for `changes` on the row under `key`: the SQL and the
/// number of bound values. `None` when the change set needs a rewrite from Rust instead.
#[cfg(feature = "sqlite")]
pub fn sqlite_update(
    changes: &ChangeSet,
    key: &StoreKey,
    now: Timestamp,
) -> Result<Option<(String, usize)>, StoreError> {
    in_place_update(&crate::sqlite::SQLITE_JSON, changes, key, now)
}

/// The MySQL/MariaDB store's in-place `UPDATE` for `changes` (see [`sqlite_update`]).
#[cfg(feature = "mysql")]
pub fn mysql_update(
    changes: &ChangeSet,
    key: &StoreKey,
    now: Timestamp,
) -> Result<Option<(String, usize)>, StoreError> {
    in_place_update(&crate::mysql::MYSQL_JSON, changes, key, now)
}

#[cfg(any(feature = "sqlite", feature = "mysql"))]
fn in_place_update(
    dialect: &crate::delta::JsonDialect,
    changes: &ChangeSet,
    key: &StoreKey,
    now: Timestamp,
) -> Result<Option<(String, usize)>, StoreError> {
    if !dialect.in_place_possible(changes) {
        return Ok(None);
    }
    let assignments = dialect.assignments(changes, crate::delta::DataSource::InPlace)?;
    let update = dialect.update_live_row("\"sessions\"", key, key, assignments, now);
    Ok(Some((update.sql, update.binds.len())))
}

/// The PostgreSQL store's delta for `changes` (its `UPDATE` is one fixed statement): the
/// removed keys, the JSON object of the set keys and the device JSON if it changed.
#[cfg(feature = "postgres")]
pub fn postgres_delta(
    changes: &ChangeSet,
) -> Result<(Vec<String>, String, Option<String>), serde_json::Error> {
    crate::postgres::Delta::of(changes).map(|delta| (delta.removed, delta.set, delta.device))
}

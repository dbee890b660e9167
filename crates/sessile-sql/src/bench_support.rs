//! Entry points for this crate's criterion benches (`benches/delta.rs`): the statement and
//! binds each store builds for a change set, without a database; for a change set with
//! document operations, everything the store does in Rust between reading the locked row's
//! data and writing it back. Not part of the API: hidden
//! from the documentation and free to change in any release.

use sessile::ChangeSet;
#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
use sessile::StoreError;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
use sessile::{StoreKey, Timestamp};

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

/// The SQLite store's rewrite for a change set with document operations, given the data text
/// its `BEGIN IMMEDIATE` transaction read: decode it, apply the changes with the reference
/// semantics, encode the result and build the `UPDATE` that writes it back (see
/// `apply_changes` in the store). The SQL and the number of bound values.
#[cfg(feature = "sqlite")]
pub fn sqlite_rewrite(
    changes: &ChangeSet,
    stored: &str,
    key: &StoreKey,
    now: Timestamp,
) -> Result<(String, usize), StoreError> {
    rewrite(&crate::sqlite::SQLITE_JSON, changes, stored, key, now)
}

/// The MySQL/MariaDB store's rewrite for a change set with document operations, given the
/// data text its `SELECT ... FOR UPDATE` read (see [`sqlite_rewrite`]).
#[cfg(feature = "mysql")]
pub fn mysql_rewrite(
    changes: &ChangeSet,
    stored: &str,
    key: &StoreKey,
    now: Timestamp,
) -> Result<(String, usize), StoreError> {
    rewrite(&crate::mysql::MYSQL_JSON, changes, stored, key, now)
}

#[cfg(any(feature = "sqlite", feature = "mysql"))]
fn rewrite(
    dialect: &crate::delta::JsonDialect,
    changes: &ChangeSet,
    stored: &str,
    key: &StoreKey,
    now: Timestamp,
) -> Result<(String, usize), StoreError> {
    let mut data = crate::codec::decode_data(stored)?;
    crate::delta::apply_data_changes(changes, &mut data)?;
    let source = crate::delta::DataSource::Replace(crate::codec::encode_data(&data)?);
    let assignments = dialect.assignments(changes, source)?;
    let update = dialect.update_live_row("\"sessions\"", key, key, assignments, now);
    Ok((update.sql, update.binds.len()))
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

/// The PostgreSQL store's work in Rust for a change set with document operations, given the
/// data text its `SELECT ... FOR UPDATE` read: decode it, resolve the operations into plain
/// key changes, and the delta of the fixed `UPDATE` (see `update_with_operations`).
#[cfg(feature = "postgres")]
pub fn postgres_resolved_delta(
    changes: &ChangeSet,
    stored: &str,
) -> Result<(Vec<String>, String, Option<String>), StoreError> {
    let data = crate::codec::decode_data(stored)?;
    let mut resolved = changes.clone();
    resolved.resolve_operations(&data)?;
    let delta = crate::postgres::Delta::of(&resolved)
        .map_err(|error| StoreError::Corrupt(format!("session data: {error}")))?;
    Ok((delta.removed, delta.set, delta.device))
}

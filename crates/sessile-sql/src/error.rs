//! Setup errors, and the mapping of driver errors onto the store contract's [`StoreError`].

use sessile::StoreError;

/// What can go wrong opening a store or bringing its schema up to date.
///
/// Errors of the store operations themselves are [`StoreError`]s, as the [`sessile::Store`]
/// contract requires.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened or configured (path not writable, not a database...).
    #[error("cannot open the session database: {0}")]
    Connect(#[source] sqlx::Error),
    /// Reading or recording the schema version failed.
    #[error("cannot read or record the session schema version: {0}")]
    SchemaVersion(#[source] sqlx::Error),
    /// A schema migration failed; its transaction was rolled back, so the schema is unchanged.
    #[error("session schema migration {version} ({description}) failed: {source}")]
    Migrate {
        /// The version of the migration that failed.
        version: i64,
        /// What the migration does.
        description: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The CA certificates of `tls_ca_certificates` cannot be used: no certificate in the PEM
    /// text, or connection options that turn TLS off.
    #[error("cannot use the TLS CA certificates: {reason}")]
    TlsCa {
        /// Why they cannot be used.
        reason: String,
    },
    /// The URL's scheme names no database this build supports (features `sqlite`, `postgres`,
    /// `mysql`).
    #[cfg(feature = "sequelize")]
    #[error("unsupported session database URL {0:?}: expected sqlite:, postgres:// or mysql:// (with the matching cargo feature)")]
    UnsupportedUrl(String),
    /// A Sequelize table is missing or lacks the package's columns (and
    /// `migrate_on_connect` is off), or creating it failed.
    #[cfg(feature = "sequelize")]
    #[error("session table {table:?}: {source}")]
    Table {
        /// The table name.
        table: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The Sequelize options do not fit together: a document shape another package's table
    /// cannot hold, a prefix on the Express table.
    #[cfg(feature = "sequelize")]
    #[error("invalid Sequelize store options: {0}")]
    Config(String),
    /// A configured table or schema name is not a plain SQL identifier (letters, digits and
    /// underscores, not starting with a digit, short enough for the names derived from it).
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// Which name: "table" or "schema".
        what: &'static str,
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}

/// Maps a driver error onto the contract's typed errors. `database_unavailable` decides, per
/// dialect, which database-reported errors mean "cannot be reached or is overloaded" rather than
/// "rejected the request".
pub(crate) fn store_error(
    error: sqlx::Error,
    database_unavailable: fn(&dyn sqlx::error::DatabaseError) -> bool,
) -> StoreError {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(error)),
        sqlx::Error::Database(ref database) if database_unavailable(database.as_ref()) => {
            StoreError::Unavailable(Box::new(error))
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(error.to_string())
        }
        other => StoreError::Backend(Box::new(other)),
    }
}

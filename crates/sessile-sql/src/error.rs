//! Setup errors, and the mapping of driver errors onto the store contract's [`StoreError`].

#[cfg(any(feature = "postgres", feature = "mysql", feature = "sequelize"))]
use std::future::Future;

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

/// An error that may carry the driver's error: what [`retry_on_deadlock`] asks a driver's
/// deadlock test about.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sequelize"))]
pub(crate) trait DriverError: std::fmt::Debug {
    /// The driver's error, if this is one.
    fn driver_error(&self) -> Option<&sqlx::Error>;
}

#[cfg(any(feature = "postgres", feature = "mysql", feature = "sequelize"))]
impl DriverError for sqlx::Error {
    fn driver_error(&self) -> Option<&sqlx::Error> {
        Some(self)
    }
}

#[cfg(any(feature = "postgres", feature = "mysql", feature = "sequelize"))]
impl DriverError for StoreError {
    /// The driver error behind a [`StoreError::Backend`] (a deadlock is neither unavailable nor
    /// corrupt, so [`store_error`] makes it a backend error).
    fn driver_error(&self) -> Option<&sqlx::Error> {
        match self {
            StoreError::Backend(source) => source.downcast_ref::<sqlx::Error>(),
            _ => None,
        }
    }
}

/// How many times an operation the database chose as a deadlock victim runs in all: the same
/// on every driver and on every layout (sessile's own tables and the Sequelize ones). The
/// database rolled the victim back, so running it again is safe; a third failure in a row is a
/// lock cycle that keeps forming, reported rather than retried forever.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sequelize"))]
pub(crate) const DEADLOCK_ATTEMPTS: usize = 3;

/// Runs `operation` until it succeeds, fails for another reason, or has lost
/// [`DEADLOCK_ATTEMPTS`] deadlocks; `is_deadlock` is the driver's test (`is_deadlock` in
/// `mysql/error.rs`, `postgres/error.rs`, `sqlite/error.rs`).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sequelize"))]
pub(crate) async fn retry_on_deadlock<T, E, Fut>(
    is_deadlock: fn(&sqlx::Error) -> bool,
    operation: impl FnMut() -> Fut,
) -> Result<T, E>
where
    E: DriverError,
    Fut: Future<Output = Result<T, E>>,
{
    retry_on_deadlock_up_to(DEADLOCK_ATTEMPTS, is_deadlock, operation).await
}

/// [`retry_on_deadlock`] with another bound: for an operation whose deadlocks are expected
/// rather than a lock cycle that keeps forming (a MySQL sign-in under a per-user limit, whose
/// waiting gap lock another sign-in's insert runs into: see `MySqlStore::within_limit`).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sequelize"))]
pub(crate) async fn retry_on_deadlock_up_to<T, E, Fut>(
    attempts: usize,
    is_deadlock: fn(&sqlx::Error) -> bool,
    mut operation: impl FnMut() -> Fut,
) -> Result<T, E>
where
    E: DriverError,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match operation().await {
            Err(error) if attempt < attempts && error.driver_error().is_some_and(is_deadlock) => {
                tracing::debug!(
                    ?error,
                    attempt,
                    "session store operation lost a deadlock; retrying"
                );
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

#[cfg(all(
    test,
    any(feature = "postgres", feature = "mysql", feature = "sequelize")
))]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// The tests' stand-in for a driver's deadlock: a protocol error saying so.
    fn is_deadlock(error: &sqlx::Error) -> bool {
        matches!(error, sqlx::Error::Protocol(text) if text == "deadlock")
    }

    /// Runs `retry_on_deadlock` over an operation that fails with `failures` (in order), then
    /// succeeds; the result and how many times the operation ran.
    fn run(failures: Vec<sqlx::Error>) -> (Result<&'static str, StoreError>, usize) {
        let failures = std::cell::RefCell::new(failures.into_iter());
        let runs = Cell::new(0);
        let operation = || {
            runs.set(runs.get() + 1);
            let next = failures.borrow_mut().next();
            async move {
                match next {
                    Some(error) => Err(StoreError::Backend(Box::new(error))),
                    None => Ok("done"),
                }
            }
        };
        let result = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(retry_on_deadlock(is_deadlock, operation));
        (result, runs.get())
    }

    fn deadlock() -> sqlx::Error {
        sqlx::Error::Protocol("deadlock".to_owned())
    }

    #[test]
    fn a_deadlock_victim_runs_again_up_to_three_times_in_all() {
        let (result, runs) = run(vec![deadlock(), deadlock()]);
        assert_eq!(result.unwrap(), "done");
        assert_eq!(runs, 3);

        let (result, runs) = run(vec![deadlock(), deadlock(), deadlock()]);
        assert!(matches!(result, Err(StoreError::Backend(_))));
        assert_eq!(runs, DEADLOCK_ATTEMPTS);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let (result, runs) = run(vec![sqlx::Error::Protocol("refused".to_owned())]);
        assert!(matches!(result, Err(StoreError::Backend(_))));
        assert_eq!(runs, 1);
    }
}

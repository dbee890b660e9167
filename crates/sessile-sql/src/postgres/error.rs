//! How PostgreSQL errors map onto the store contract, and which are retried: one
//! classification for every PostgreSQL layout (sessile's table and the Sequelize tables).

use sessile::StoreError;

use crate::error::store_error;

/// PostgreSQL errors that mean the database cannot serve requests right now, rather than that
/// it rejected this one: connection exceptions (class `08`), insufficient resources (class
/// `53`: too many connections, out of memory or disk), statement timeout or cancellation
/// (`57014`), shutdown and startup (`57P01`-`57P03`), lock timeout (`55P03`) and a read-only
/// server (`25006`: a standby during failover).
pub(super) fn postgres_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    error.code().is_some_and(|code| {
        code.starts_with("08")
            || code.starts_with("53")
            || matches!(
                &*code,
                "57014" | "57P01" | "57P02" | "57P03" | "55P03" | "25006"
            )
    })
}

/// A driver error as the contract's error, on this dialect: also what the Sequelize tables on it
/// use (`crate::sequelize`), so both layouts classify alike.
pub(crate) fn to_store_error(error: sqlx::Error) -> StoreError {
    store_error(error, postgres_unavailable)
}

/// SQLSTATE `unique_violation`.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.code().as_deref() == Some("23505"))
}

/// A deadlock victim (`40P01`) or a serialization failure (`40001`): PostgreSQL rolled the
/// statement or transaction back, and every PostgreSQL layout runs it again, up to
/// [`DEADLOCK_ATTEMPTS`](crate::error::DEADLOCK_ATTEMPTS) times in all (the increment batch
/// leaves its increments to the single statement instead).
pub(crate) fn is_deadlock(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database)
        if matches!(database.code().as_deref(), Some("40P01" | "40001")))
}

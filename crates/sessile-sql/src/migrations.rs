//! The shape of a schema migration and the bookkeeping every dialect's runner shares: which
//! migrations are pending, what a failure reports, what is logged. Each dialect lists its own
//! migrations (embedded SQL files under `migrations/<dialect>/`) and runs them with its own
//! locking, because how DDL and locks combine differs between databases.

use crate::error::Error;

/// One step of a dialect's schema history.
pub(crate) struct Migration {
    /// Applied in increasing order; recorded once applied, never reused.
    pub(crate) version: i64,
    /// What the step does, recorded beside the version for operators.
    pub(crate) description: &'static str,
    /// The statements, run in one transaction where the dialect allows transactional DDL.
    pub(crate) sql: &'static str,
}

impl Migration {
    /// This step failing with the driver's `source`.
    pub(crate) fn failed(&self, source: sqlx::Error) -> Error {
        Error::Migrate {
            version: self.version,
            description: self.description,
            source,
        }
    }

    /// Logs that this step was applied to `table`.
    pub(crate) fn log_applied(&self, table: &str) {
        tracing::info!(
            table,
            version = self.version,
            description = self.description,
            "applied session schema migration"
        );
    }
}

/// A PostgreSQL or SQLite migration template (see `migrations/<dialect>/`) with the names
/// filled in: `{{table}}`, `{{expires_at_index}}`, `{{user_id_index}}`, `{{forwards}}`,
/// `{{forwards_until_index}}`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn render(template: &str, names: &crate::names::TableNames) -> String {
    template
        .replace("{{table}}", &names.sessions())
        .replace("{{expires_at_index}}", &names.index("expires_at"))
        .replace("{{user_id_index}}", &names.index("user_id"))
        .replace("{{forwards}}", &names.forwards())
        .replace("{{forwards_until_index}}", &names.index("forwards_until"))
}

/// Every migration of `history` rendered for `names`, in order: what the dialect's runner
/// applies, without its bookkeeping (the options' `migration_sql`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn migration_sql(history: &[Migration], names: &crate::names::TableNames) -> String {
    history
        .iter()
        .map(|migration| render(migration.sql, names))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `error` says an `ADD COLUMN` found the column there already (SQLite's "duplicate
/// column name", MySQL's and MariaDB's error 1060): the step that adds it has been applied.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) fn is_duplicate_column(error: &sqlx::Error) -> bool {
    let Some(database) = error.as_database_error() else {
        return false;
    };
    database.message().contains("duplicate column name")
        || database.code().as_deref() == Some("42S21")
}

/// The steps of `history` whose versions are not in `applied`, oldest first.
pub(crate) fn pending<'a>(
    history: &'a [Migration],
    applied: &'a [i64],
) -> impl Iterator<Item = &'a Migration> {
    history
        .iter()
        .filter(|migration| !applied.contains(&migration.version))
}

/// Warns when `applied` holds a version newer than any in `history`: a newer release migrated
/// `table`. Migrations only add, so this release keeps working (as during a rolling upgrade);
/// the warning is there in case it does not.
pub(crate) fn warn_if_newer(history: &[Migration], applied: &[i64], table: &str) {
    let newest_known = history.last().map_or(0, |migration| migration.version);
    if let Some(newest_applied) = applied.iter().copied().max() {
        if newest_applied > newest_known {
            tracing::warn!(
                table,
                newest_applied,
                newest_known,
                "session schema is newer than this version of sessile-sql"
            );
        }
    }
}

/// Asserts what every dialect's history must keep: positive versions, strictly increasing.
#[cfg(test)]
pub(crate) fn assert_versions_increase(history: &[Migration]) {
    assert!(history
        .windows(2)
        .all(|pair| pair[0].version < pair[1].version));
    assert!(history.iter().all(|migration| migration.version > 0));
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &[Migration] = &[
        Migration {
            version: 1,
            description: "one",
            sql: "",
        },
        Migration {
            version: 2,
            description: "two",
            sql: "",
        },
    ];

    #[test]
    fn pending_steps_are_the_unapplied_ones_in_order() {
        let versions = |applied: &[i64]| -> Vec<i64> {
            pending(HISTORY, applied)
                .map(|migration| migration.version)
                .collect()
        };
        assert_eq!(versions(&[]), vec![1, 2]);
        assert_eq!(versions(&[1]), vec![2]);
        assert_eq!(versions(&[1, 2, 3]), Vec::<i64>::new());
        assert_versions_increase(HISTORY);
    }
}

//! The SQLite schema history and its runner.
//!
//! Migrations are templates (see `migrations/sqlite/`), rendered with the configured table name,
//! so several session tables can live in one file. The applied versions are recorded in
//! `<table>_schema_versions` beside the sessions table, not in sqlx's `_sqlx_migrations`: an
//! application that keeps its own tables in the same file and migrates them with sqlx would
//! otherwise see sessile's versions as unknown migrations of its own.

use sessile::{Clock, SystemClock};
use sqlx::SqlitePool;

use crate::error::Error;
use crate::migrations::{pending, render, warn_if_newer, Migration};
use crate::names::TableNames;

/// Every migration, oldest first. Published versions are never edited, only appended to.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "create the sessions table",
        sql: include_str!("../../migrations/sqlite/0001_create_sessions.sql"),
    },
    Migration {
        version: 2,
        description: "create the forward pointers table (rotation grace)",
        sql: include_str!("../../migrations/sqlite/0002_create_forwards.sql"),
    },
    Migration {
        version: 3,
        description: "add a session's own idle timeout",
        sql: include_str!("../../migrations/sqlite/0003_own_idle_timeout.sql"),
    },
];

/// Every migration's SQL for `names`, in order: what [`run`] applies, without its bookkeeping.
pub(super) fn migration_sql(names: &TableNames) -> String {
    crate::migrations::migration_sql(MIGRATIONS, names)
}

/// Applies the migrations the database has not seen yet.
///
/// Runs in one `BEGIN IMMEDIATE` transaction (SQLite's DDL is transactional), so processes that
/// start together serialize on the write lock and the later ones find nothing left to do, and a
/// failing step leaves the schema as it was.
///
/// Statements go through `sqlx::query`, which runs every statement of a multi-statement string
/// on SQLite, rather than `sqlx::raw_sql`, whose future fails rustc's higher-ranked `Send` check
/// and would make `tokio::spawn(SqliteStore::open(path))` not compile.
pub(super) async fn run(pool: &SqlitePool, names: &TableNames) -> Result<(), Error> {
    let mut transaction = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Error::SchemaVersion)?;
    let versions = names.versions();
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {versions} (
             version     INTEGER NOT NULL PRIMARY KEY,
             description TEXT    NOT NULL,
             applied_at  INTEGER NOT NULL
         )"
    ))
    .execute(&mut *transaction)
    .await
    .map_err(Error::SchemaVersion)?;
    let applied: Vec<i64> = sqlx::query_scalar(&format!("SELECT version FROM {versions}"))
        .fetch_all(&mut *transaction)
        .await
        .map_err(Error::SchemaVersion)?;

    let record_version =
        format!("INSERT INTO {versions} (version, description, applied_at) VALUES (?, ?, ?)");
    for migration in pending(MIGRATIONS, &applied) {
        let sql = render(migration.sql, names);
        match sqlx::query(&sql).execute(&mut *transaction).await {
            Ok(_) => {}
            // SQLite has no `ADD COLUMN IF NOT EXISTS`: a column `migration_sql` added
            // elsewhere is in place, and the step only needs recording.
            Err(error) if crate::migrations::is_duplicate_column(&error) => {}
            Err(source) => return Err(migration.failed(source)),
        }
        sqlx::query(&record_version)
            .bind(migration.version)
            .bind(migration.description)
            .bind(SystemClock.now().as_millis())
            .execute(&mut *transaction)
            .await
            .map_err(|source| migration.failed(source))?;
        migration.log_applied(names.table());
    }
    warn_if_newer(MIGRATIONS, &applied, names.table());
    transaction.commit().await.map_err(Error::SchemaVersion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase() {
        crate::migrations::assert_versions_increase(MIGRATIONS);
    }

    #[test]
    fn rendering_leaves_no_placeholder() {
        let names = TableNames::new(None, "web_sessions").unwrap();
        let sql = migration_sql(&names);
        assert!(!sql.contains("{{"), "{sql}");
        assert!(sql.contains("\"web_sessions\""));
        assert!(!sql.contains("sessile_sessions"));
    }
}

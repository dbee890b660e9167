//! The SQLite schema history and its runner.
//!
//! The applied versions are recorded in `sessile_schema_versions`, not in sqlx's
//! `_sqlx_migrations`: an application that keeps its own tables in the same file and migrates
//! them with sqlx would otherwise see sessile's versions as unknown migrations of its own.

use sessile::{Clock, SystemClock};
use sqlx::SqlitePool;

use crate::error::Error;
use crate::migrations::{pending, warn_if_newer, Migration};

/// Every migration, oldest first. Published versions are never edited, only appended to.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "create sessile_sessions",
    sql: include_str!("../../migrations/sqlite/0001_create_sessions.sql"),
}];

/// The sessions table the migrations create.
const TABLE: &str = "sessile_sessions";

/// Applies the migrations the database has not seen yet.
///
/// Runs in one `BEGIN IMMEDIATE` transaction (SQLite's DDL is transactional), so processes that
/// start together serialize on the write lock and the later ones find nothing left to do, and a
/// failing step leaves the schema as it was.
///
/// Statements go through `sqlx::query`, which runs every statement of a multi-statement string
/// on SQLite, rather than `sqlx::raw_sql`, whose future fails rustc's higher-ranked `Send` check
/// and would make `tokio::spawn(SqliteStore::open(path))` not compile.
pub(super) async fn run(pool: &SqlitePool) -> Result<(), Error> {
    let mut transaction = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Error::SchemaVersion)?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sessile_schema_versions (
             version     INTEGER NOT NULL PRIMARY KEY,
             description TEXT    NOT NULL,
             applied_at  INTEGER NOT NULL
         )",
    )
    .execute(&mut *transaction)
    .await
    .map_err(Error::SchemaVersion)?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM sessile_schema_versions")
        .fetch_all(&mut *transaction)
        .await
        .map_err(Error::SchemaVersion)?;

    for migration in pending(MIGRATIONS, &applied) {
        sqlx::query(migration.sql)
            .execute(&mut *transaction)
            .await
            .map_err(|source| migration.failed(source))?;
        sqlx::query(
            "INSERT INTO sessile_schema_versions (version, description, applied_at)
             VALUES (?, ?, ?)",
        )
        .bind(migration.version)
        .bind(migration.description)
        .bind(SystemClock.now().as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(|source| migration.failed(source))?;
        migration.log_applied(TABLE);
    }
    warn_if_newer(MIGRATIONS, &applied, TABLE);
    transaction.commit().await.map_err(Error::SchemaVersion)
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_increase() {
        crate::migrations::assert_versions_increase(super::MIGRATIONS);
    }
}

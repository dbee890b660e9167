//! The SQLite schema history and its runner.
//!
//! The applied versions are recorded in `sessile_schema_versions`, not in sqlx's
//! `_sqlx_migrations`: an application that keeps its own tables in the same file and migrates
//! them with sqlx would otherwise see sessile's versions as unknown migrations of its own.

use sessile::{Clock, SystemClock};
use sqlx::SqlitePool;

use crate::error::Error;
use crate::migrations::Migration;

/// Every migration, oldest first. Published versions are never edited, only appended to.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "create sessile_sessions",
    sql: include_str!("../../migrations/sqlite/0001_create_sessions.sql"),
}];

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

    for migration in MIGRATIONS {
        if applied.contains(&migration.version) {
            continue;
        }
        let failed = |source| Error::Migrate {
            version: migration.version,
            description: migration.description,
            source,
        };
        sqlx::query(migration.sql)
            .execute(&mut *transaction)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO sessile_schema_versions (version, description, applied_at)
             VALUES (?, ?, ?)",
        )
        .bind(migration.version)
        .bind(migration.description)
        .bind(SystemClock.now().as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(failed)?;
        tracing::info!(
            version = migration.version,
            description = migration.description,
            "applied session schema migration"
        );
    }

    let newest_known = MIGRATIONS.last().map_or(0, |migration| migration.version);
    if let Some(newest_applied) = applied.iter().copied().max() {
        if newest_applied > newest_known {
            // A newer release migrated this file. Migrations only add, so this release keeps
            // working (as during a rolling upgrade); say so in case it does not.
            tracing::warn!(
                newest_applied,
                newest_known,
                "session schema is newer than this version of sessile-sql"
            );
        }
    }
    transaction.commit().await.map_err(Error::SchemaVersion)
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS
            .windows(2)
            .all(|pair| pair[0].version < pair[1].version));
        assert!(MIGRATIONS.iter().all(|migration| migration.version > 0));
    }
}

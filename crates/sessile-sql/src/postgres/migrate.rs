//! The PostgreSQL schema history and its runner.
//!
//! Migrations are templates (see `migrations/postgres/`), rendered with the configured table and
//! schema names, so several session tables can live in one database. The applied versions are
//! recorded in `<table>_schema_versions` beside the sessions table, not in sqlx's
//! `_sqlx_migrations`, which belongs to the application.

use sqlx::{Executor, PgConnection, PgPool};

use crate::error::Error;
use crate::migrations::{pending, render, warn_if_newer, Migration};
use crate::names::TableNames;

/// Every migration, oldest first. Published versions are never edited, only appended to.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "create the sessions table",
        sql: include_str!("../../migrations/postgres/0001_create_sessions.sql"),
    },
    Migration {
        version: 2,
        description: "create the forward pointers table (rotation grace)",
        sql: include_str!("../../migrations/postgres/0002_create_forwards.sql"),
    },
    Migration {
        version: 3,
        description: "add a session's own idle timeout",
        sql: include_str!("../../migrations/postgres/0003_own_idle_timeout.sql"),
    },
];

/// Every migration's SQL for `names`, in order: what [`run`] applies, without its bookkeeping.
pub(super) fn migration_sql(names: &TableNames) -> String {
    crate::migrations::migration_sql(MIGRATIONS, names)
}

/// Applies the migrations the database has not seen yet, in one transaction (PostgreSQL's DDL is
/// transactional: a failing step leaves the schema as it was).
///
/// A transaction-scoped advisory lock keyed on the schema-qualified table name serializes
/// processes that start together: the later ones wait, then find nothing left to do, instead
/// of racing on `CREATE TABLE IF NOT EXISTS` (which is not safe under concurrency).
pub(super) async fn run(pool: &PgPool, names: &TableNames) -> Result<(), Error> {
    // Every restart is the common case, with nothing to do: find that out by reading, without
    // DDL, whose `IF NOT EXISTS` makes PostgreSQL send a NOTICE ("already exists, skipping")
    // that sqlx logs on every start.
    {
        let mut connection = pool.acquire().await.map_err(Error::SchemaVersion)?;
        if let Some(applied) = applied_versions(&mut connection, names).await? {
            if pending(MIGRATIONS, &applied).next().is_none() {
                warn_if_newer(MIGRATIONS, &applied, &names.sessions());
                return Ok(());
            }
        }
    }

    let mut transaction = pool.begin().await.map_err(Error::SchemaVersion)?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(\
             'sessile migrate ' || COALESCE($1, current_schema()) || '.' || $2, 0))",
    )
    .bind(names.schema())
    .bind(names.table())
    .execute(&mut *transaction)
    .await
    .map_err(Error::SchemaVersion)?;
    // Under the lock, create only what is missing (`IF NOT EXISTS` still, for a schema another
    // tool creates meanwhile), so a start that finds work to do logs no NOTICE either.
    if let Some(schema) = names.schema() {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema)
                .fetch_one(&mut *transaction)
                .await
                .map_err(Error::SchemaVersion)?;
        if !exists {
            // Validated to a plain identifier, so quoting is all it needs.
            let create_schema = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            transaction
                .execute(create_schema.as_str())
                .await
                .map_err(Error::SchemaVersion)?;
        }
    }
    let applied = match applied_versions(&mut transaction, names).await? {
        Some(applied) => applied,
        None => {
            let create_versions = format!(
                "CREATE TABLE IF NOT EXISTS {} (
                     version     bigint      NOT NULL PRIMARY KEY,
                     description text        NOT NULL,
                     applied_at  timestamptz NOT NULL DEFAULT now()
                 )",
                names.versions()
            );
            transaction
                .execute(create_versions.as_str())
                .await
                .map_err(Error::SchemaVersion)?;
            Vec::new()
        }
    };

    let record_version = format!(
        "INSERT INTO {} (version, description) VALUES ($1, $2)",
        names.versions()
    );
    let table = names.sessions();
    for migration in pending(MIGRATIONS, &applied) {
        let failed = |source| migration.failed(source);
        // A `&str` without arguments goes over the simple query protocol, which runs every
        // statement of the migration in order.
        let sql = render(migration.sql, names);
        transaction.execute(sql.as_str()).await.map_err(failed)?;
        sqlx::query(&record_version)
            .bind(migration.version)
            .bind(migration.description)
            .execute(&mut *transaction)
            .await
            .map_err(failed)?;
        migration.log_applied(&table);
    }
    warn_if_newer(MIGRATIONS, &applied, &table);
    transaction.commit().await.map_err(Error::SchemaVersion)
}

/// The versions recorded for `names`, or `None` when its versions table does not exist yet.
async fn applied_versions(
    connection: &mut PgConnection,
    names: &TableNames,
) -> Result<Option<Vec<i64>>, Error> {
    // `to_regclass` resolves the name as `CREATE TABLE` would (the search path when it is
    // unqualified) and answers NULL, not an error, for a missing table or schema.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(names.versions())
        .fetch_one(&mut *connection)
        .await
        .map_err(Error::SchemaVersion)?;
    if !exists {
        return Ok(None);
    }
    sqlx::query_scalar(&format!("SELECT version FROM {}", names.versions()))
        .fetch_all(&mut *connection)
        .await
        .map(Some)
        .map_err(Error::SchemaVersion)
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
        let names = TableNames::new(Some("auth"), "web_sessions").unwrap();
        for migration in MIGRATIONS {
            let sql = render(migration.sql, &names);
            assert!(!sql.contains("{{"), "{sql}");
            // The sessions table, or the one beside it named after it (forward pointers).
            assert!(
                sql.contains("\"auth\".\"web_sessions\"")
                    || sql.contains("\"auth\".\"web_sessions_forwards\""),
                "{sql}"
            );
            assert!(!sql.contains("sessile_sessions"));
        }
    }
}

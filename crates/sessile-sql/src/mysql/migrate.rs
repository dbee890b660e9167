//! The MySQL/MariaDB schema history and its runner.
//!
//! Applied versions are recorded per session table in `sessile_schema_versions`
//! (`table_name`, `version`), so several session tables can share one database.
//!
//! MySQL and MariaDB commit DDL implicitly, so migrations cannot be rolled back as a whole.
//! Each migration is therefore written to be safe to run again (`CREATE TABLE IF NOT EXISTS`
//! with the indexes inline), and processes that start together serialize on a named lock
//! (`GET_LOCK`) instead of a transaction.

use sessile::{Clock, SystemClock};
use sqlx::pool::PoolConnection;
use sqlx::{MySql, MySqlConnection, MySqlPool};

use crate::error::Error;
use crate::migrations::{pending, warn_if_newer, Migration};

/// Every migration, oldest first. Published versions are never edited, only appended to.
/// `{{table}}` in the SQL stands for the backquoted session table name, `{{forwards}}` for
/// its forward pointers' table (`<table>_forwards`).
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "create the sessions table",
        sql: include_str!("../../migrations/mysql/0001_create_sessions.sql"),
    },
    Migration {
        version: 2,
        description: "create the forward pointers table (rotation grace)",
        sql: include_str!("../../migrations/mysql/0002_create_forwards.sql"),
    },
    Migration {
        version: 3,
        description: "add a session's own idle timeout",
        sql: include_str!("../../migrations/mysql/0003_own_idle_timeout.sql"),
    },
];

/// Every migration's SQL for `table` (bare, validated), in order: what [`run`] applies, without
/// its bookkeeping.
pub(super) fn migration_sql(table: &str) -> String {
    MIGRATIONS
        .iter()
        .flat_map(|migration| render(migration.sql, table))
        .map(|statement| format!("{statement};\n"))
        .collect()
}

/// The statements of one migration with the backquoted `table` in place of `{{table}}`.
fn render(sql: &str, table: &str) -> Vec<String> {
    let quoted = super::sql::quote_identifier(table);
    let forwards = super::sql::quote_identifier(&super::sql::forwards_table(table));
    statements(sql)
        .into_iter()
        .map(|statement| {
            statement
                .replace("{{table}}", &quoted)
                .replace("{{forwards}}", &forwards)
        })
        .collect()
}

/// How long a starting process waits for another one to finish migrating, in seconds.
const LOCK_WAIT_SECONDS: i64 = 60;

/// Applies the migrations `table` has not seen yet. `table` is the bare (validated) name.
///
/// Runs on one connection that holds the named lock `sessile_migrate:<table>` throughout. That
/// connection has its statement timeout lifted (waiting for the lock, or creating the table on a
/// busy server, may take longer than a request should) and is closed afterwards rather than
/// returned to the pool with the changed setting.
pub(super) async fn run(pool: &MySqlPool, table: &str) -> Result<(), Error> {
    let mut connection = pool.acquire().await.map_err(Error::Connect)?;
    let outcome = run_locked(&mut connection, table).await;
    let _ = sqlx::query("DO RELEASE_LOCK(?)")
        .bind(lock_name(table))
        .execute(&mut *connection)
        .await;
    close(connection).await;
    outcome
}

fn lock_name(table: &str) -> String {
    format!("sessile_migrate:{table}")
}

async fn close(connection: PoolConnection<MySql>) {
    if let Err(error) = connection.close().await {
        tracing::debug!(%error, "closing the migration connection failed");
    }
}

async fn run_locked(connection: &mut MySqlConnection, table: &str) -> Result<(), Error> {
    super::options::lift_statement_timeout(connection)
        .await
        .map_err(Error::SchemaVersion)?;
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(lock_name(table))
        .bind(LOCK_WAIT_SECONDS)
        .fetch_one(&mut *connection)
        .await
        .map_err(Error::SchemaVersion)?;
    if locked != Some(1) {
        return Err(Error::SchemaVersion(sqlx::Error::Protocol(format!(
            "another process held the migration lock for {table} for {LOCK_WAIT_SECONDS} s"
        ))));
    }

    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sessile_schema_versions (
             table_name  VARCHAR(64)  NOT NULL,
             version     BIGINT       NOT NULL,
             description VARCHAR(255) NOT NULL,
             applied_at  BIGINT       NOT NULL,
             PRIMARY KEY (table_name, version)
         ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin",
    )
    .execute(&mut *connection)
    .await
    .map_err(Error::SchemaVersion)?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM sessile_schema_versions WHERE table_name = ?")
            .bind(table)
            .fetch_all(&mut *connection)
            .await
            .map_err(Error::SchemaVersion)?;

    for migration in pending(MIGRATIONS, &applied) {
        let failed = |source| migration.failed(source);
        for statement in render(migration.sql, table) {
            match sqlx::query(&statement).execute(&mut *connection).await {
                Ok(_) => {}
                // MySQL DDL is not transactional: a column added by a run that stopped before
                // recording its version (or by `migration_sql` run elsewhere) is in place.
                Err(error) if crate::migrations::is_duplicate_column(&error) => {}
                Err(error) => return Err(failed(error)),
            }
        }
        sqlx::query(
            "INSERT INTO sessile_schema_versions (table_name, version, description, applied_at)
             VALUES (?, ?, ?, ?)",
        )
        .bind(table)
        .bind(migration.version)
        .bind(migration.description)
        .bind(SystemClock.now().as_millis())
        .execute(&mut *connection)
        .await
        .map_err(failed)?;
        migration.log_applied(table);
    }
    warn_if_newer(MIGRATIONS, &applied, table);
    Ok(())
}

/// The statements of a migration file: `--` comment lines dropped, split after each `;` that
/// ends a line. The files are ours, so this simple rule is enough; it keeps each statement a
/// separate round trip whose error names it.
fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let statement = current.trim().trim_end_matches(';').trim().to_owned();
            if !statement.is_empty() {
                statements.push(statement);
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        statements.push(rest.to_owned());
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::{statements, MIGRATIONS};

    #[test]
    fn versions_increase() {
        crate::migrations::assert_versions_increase(MIGRATIONS);
    }

    #[test]
    fn every_migration_names_the_table_through_the_placeholder() {
        for migration in MIGRATIONS {
            let statements = statements(migration.sql);
            assert!(!statements.is_empty());
            assert!(statements.iter().all(|s| !s.contains("--")));
            // The sessions table or the one beside it named after it (forward pointers).
            assert!(statements
                .iter()
                .any(|s| s.contains("{{table}}") || s.contains("{{forwards}}")));
            assert!(!migration.sql.contains("sessile_sessions"));
        }
    }

    #[test]
    fn statements_split_after_line_ending_semicolons() {
        let sql = "-- comment;\nCREATE TABLE a (x INT);\n\nCREATE INDEX i ON a (x)\n  ;\nDO 1";
        assert_eq!(
            statements(sql),
            vec!["CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)", "DO 1"]
        );
    }
}

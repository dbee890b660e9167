//! Connecting the PostgreSQL tests to the server.
//!
//! The server comes from `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`,
//! without TLS: the machine's server offers it, and `tests/it/tls.rs` covers TLS on its own server).
//! A test that cannot reach it fails, naming the command that starts it: nothing skips.

use sessile_sql::{PostgresStore, PostgresStoreOptions};
use sqlx::PgPool;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable";

/// Schema of every table the tests create, so they never touch an application's tables.
pub const TEST_SCHEMA: &str = "sessile_test";

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

fn unreachable(error: impl std::fmt::Display) -> ! {
    panic!(
        "cannot use PostgreSQL at {} ({error}); start it with `scripts/services` \
         or point DATABASE_URL at a server",
        database_url()
    )
}

/// A store on `table` in the test schema, migrated.
pub async fn connect(table: &str, options: PostgresStoreOptions) -> PostgresStore {
    options
        .schema(TEST_SCHEMA)
        .table(table)
        .connect(&database_url())
        .await
        .unwrap_or_else(|error| unreachable(error))
}

/// A plain pool for the tests' own SQL.
pub async fn admin_pool() -> PgPool {
    PgPool::connect(&database_url())
        .await
        .unwrap_or_else(|error| unreachable(error))
}

/// Drops `table` (and its versions and forward pointers tables) from the test schema, so a test
/// starts from nothing.
pub async fn drop_table(pool: &PgPool, table: &str) {
    for name in [
        table.to_owned(),
        format!("{table}_schema_versions"),
        format!("{table}_forwards"),
    ] {
        sqlx::query(&format!(
            "DROP TABLE IF EXISTS \"{TEST_SCHEMA}\".\"{name}\""
        ))
        .execute(pool)
        .await
        .expect("drop a test table");
    }
}

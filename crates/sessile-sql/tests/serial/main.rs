//! sessile-sql's integration tests that need a server or the process to themselves, one
//! binary, one test at a time: the fault tests stop and restart PostgreSQL and MariaDB, the
//! cleanup test reads InnoDB's server-wide deadlock counter, and the statement-count tests
//! install the process-wide tracing subscriber and count every statement the process sends.
//! `cargo test` runs test binaries one after the other, so nothing in the `it` binary runs
//! beside them; inside this binary each test holds [`exclusive`] for its whole run.

#[path = "../support/mod.rs"]
mod support;

mod mysql_cleanup;
mod mysql_fault;
mod mysql_statements;
mod postgres_fault;
mod postgres_statements;
mod sqlite_statements;

/// This binary's turn: held for a whole test, so its tests never overlap (the test harness
/// runs them on several threads, each on its own runtime; Tokio's mutex works across them).
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

//! sessile-redis's integration tests that stop, restart or kill a server, one binary, one test
//! at a time: the standalone Redis restart and the Cluster failover. `cargo test` runs test
//! binaries one after the other, so nothing in the `it` binary runs beside them; inside this
//! binary each test holds [`exclusive`] for its whole run.

#[path = "../common/mod.rs"]
mod common;

mod cluster_failover;
mod standalone_fault;

/// This binary's turn: held for a whole test, so its tests never overlap (the test harness
/// runs them on several threads, each on its own runtime; Tokio's mutex works across them).
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

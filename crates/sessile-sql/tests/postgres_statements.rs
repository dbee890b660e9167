//! What each store operation costs on PostgreSQL: the statements sqlx logs, and the round trips
//! on the wire, read by a proxy between the pool and the server.
//!
//! The statement log sees statements only, not the pool's pings. The pool tests each connection
//! before handing it out (`test_before_acquire`) and sqlx also pings every connection on its way
//! back to the pool; on PostgreSQL a ping is a lone `Sync`, one round trip. So a warm operation
//! is 1 statement but 3 round trips: ping, statement, ping, the last after the caller got its
//! answer. The first use of a statement on a connection prepares it first (`Parse`/`Describe`).
//! In a test binary of its own because it installs the process-wide tracing subscriber.

#![cfg(feature = "postgres")]

mod support;

use sessile_sql::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use support::postgres::{admin_pool, database_url, drop_table, TEST_SCHEMA};
use support::statements::measure::{measure_operations, Operation};
use support::statements::wire::{Protocol, WireTap};
use support::statements::StatementLog;

const TABLE: &str = "statement_counts";

#[tokio::test]
async fn every_operation_is_one_statement_between_two_pings() {
    let log = StatementLog::install();
    drop_table(&admin_pool().await, TABLE).await;
    let server: PgConnectOptions = database_url().parse().expect("DATABASE_URL parses");
    let tap = WireTap::start(Protocol::Postgres, server.get_host(), server.get_port()).await;
    // The tap reads the protocol, so no TLS between the pool and the server.
    let through_tap = server
        .host("127.0.0.1")
        .port(tap.port())
        .ssl_mode(PgSslMode::Disable);
    let store = PostgresStore::options()
        .max_connections(1)
        .schema(TEST_SCHEMA)
        .table(TABLE)
        .connect_with(through_tap)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot use PostgreSQL at {} ({error}); start it with `scripts/services` or \
                 point DATABASE_URL at a server",
                database_url()
            )
        });

    let [cold, warm] = measure_operations(&store, store.pool(), &log, &tap).await;
    for cost in cold.iter().chain(&warm) {
        eprintln!("{cost:?}");
    }
    for cost in cold.iter().chain(&warm) {
        let expected = match cost.operation {
            Operation::Load => "SELECT",
            Operation::Create => "INSERT",
            Operation::Update | Operation::Touch => "UPDATE",
            Operation::Increment => "WITH updated", // `UPDATE ... RETURNING` inside.
            Operation::Delete => "DELETE",
        };
        assert_eq!(cost.statements.len(), 1, "{cost:?}");
        assert!(cost.statements[0].starts_with(expected), "{cost:?}");
    }
    const EXECUTE: &str = "Bind Execute Close Sync";
    for cost in &cold {
        // A touch runs the update statement, prepared by the update before it.
        let expected: &[&str] = match cost.operation {
            Operation::Touch => &["Sync", EXECUTE, "Sync"],
            _ => &["Sync", "Parse Describe Sync", EXECUTE, "Sync"],
        };
        assert_eq!(cost.requests, expected, "{cost:?}");
    }
    for cost in &warm {
        assert_eq!(cost.requests, ["Sync", EXECUTE, "Sync"], "{cost:?}");
    }
    store.pool().close().await;
    drop_table(&admin_pool().await, TABLE).await;
}

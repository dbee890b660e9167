//! What each store operation costs on PostgreSQL: the statements sqlx logs, and the round trips
//! on the wire, read by a proxy between the pool and the server.
//!
//! The statement log sees statements only, not pings; the tap sees those too (on PostgreSQL a
//! ping is a lone `Sync`). sqlx's pool would ping a connection on its way back and on its way
//! out, three round trips per operation; the store holds its connections outside the pool, so a
//! warm operation is one statement in one round trip. The first use of a statement on a
//! connection prepares it first (`Parse`/`Describe`). The only pings: the pool's check of the
//! migration's idle connection when the store takes it over, and one before using a connection
//! that has been idle for a second or more.
//! In the `serial` binary, alone, because it counts every statement of the process.

#![cfg(feature = "postgres")]

use crate::support::postgres::{admin_pool, database_url, drop_table, TEST_SCHEMA};
use crate::support::statements::measure::{measure_operations, Operation};
use crate::support::statements::wire::{Protocol, WireTap};
use crate::support::statements::StatementLog;
use sessile::{SessionId, Store, Timestamp};
use sessile_sql::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

const TABLE: &str = "statement_counts";

#[tokio::test]
async fn every_operation_is_one_statement_in_one_round_trip() {
    let _turn = crate::exclusive().await;
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
            // The row and the forward pointer (rotation grace) in one statement.
            Operation::Delete => "WITH pointer AS (DELETE",
        };
        assert_eq!(cost.statements.len(), 1, "{cost:?}");
        assert!(cost.statements[0].starts_with(expected), "{cost:?}");
    }
    const EXECUTE: &str = "Bind Execute Close Sync";
    for cost in &cold {
        // The store takes over the connection the migration left in the pool, which the pool
        // pings on checkout; a touch runs the update statement, prepared by the update before.
        let expected: &[&str] = match cost.operation {
            Operation::Create => &["Sync", "Parse Describe Sync", EXECUTE],
            Operation::Touch => &[EXECUTE],
            _ => &["Parse Describe Sync", EXECUTE],
        };
        assert_eq!(cost.requests, expected, "{cost:?}");
    }
    for cost in &warm {
        assert_eq!(cost.requests, [EXECUTE], "{cost:?}");
    }

    // A connection idle for a second or more is pinged before use (a server restart may have
    // killed it), once.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let key = SessionId::generate().store_key();
    let now = Timestamp::from_millis(1_700_000_000_000);
    assert!(store.load(&key, now).await.unwrap().is_none());
    assert!(store.load(&key, now).await.unwrap().is_none());
    // A miss is one statement too (the forward pointers joined in): one round trip each.
    assert_eq!(tap.take(), ["Sync", EXECUTE, EXECUTE]);
    store.pool().close().await;
    drop_table(&admin_pool().await, TABLE).await;
}

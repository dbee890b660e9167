//! What each store operation costs on MySQL/MariaDB: the statements sqlx logs, and the round
//! trips on the wire, read by a proxy between the pool and the server.
//!
//! The statement log sees statements only, not pings; the tap sees those too (on MySQL a ping
//! is `COM_PING`). sqlx's pool would ping a connection on its way back and on its way out,
//! three round trips per operation; the store holds its connections outside the pool, so a warm
//! operation is one statement in one round trip. The first use of a statement on a connection
//! prepares it first (`COM_STMT_PREPARE`). The migration closes its connection, so the first
//! operation also opens the store's one connection (and runs its setup statements). The only
//! ping: before using a connection that has been idle for a second or more.
//! In the `serial` binary, alone, because it counts every statement of the process.

#![cfg(feature = "mysql")]

use crate::support::mysql::{connect, drop_table, mysql_url};
use crate::support::statements::measure::{measure_operations, Operation};
use crate::support::statements::wire::{Protocol, WireTap};
use crate::support::statements::StatementLog;
use sessile::{SessionId, Store, Timestamp};
use sessile_sql::MySqlStore;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

const TABLE: &str = "sessile_statement_counts";

#[tokio::test]
async fn every_operation_is_one_statement_in_one_round_trip() {
    let _turn = crate::exclusive().await;
    let log = StatementLog::install();
    let direct = connect(MySqlStore::options(), TABLE).await;
    drop_table(&direct, TABLE).await;
    direct.pool().close().await;
    let server: MySqlConnectOptions = mysql_url().parse().expect("MYSQL_URL parses");
    let tap = WireTap::start(Protocol::MySql, server.get_host(), server.get_port()).await;
    // The tap reads the protocol, so no TLS between the pool and the server.
    let through_tap = server
        .host("127.0.0.1")
        .port(tap.port())
        .ssl_mode(MySqlSslMode::Disabled);
    let store = MySqlStore::options()
        .max_connections(1)
        .table(TABLE)
        .connect_with(through_tap)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot connect to MySQL/MariaDB at {} ({error}); start it with \
                 `scripts/services` or point MYSQL_URL at a server",
                mysql_url()
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
            Operation::Update | Operation::Increment | Operation::Touch => "UPDATE",
            Operation::Delete => "DELETE",
        };
        let statement = cost.statements.last().expect("a statement");
        assert!(statement.starts_with(expected), "{cost:?}");
    }
    for cost in &cold {
        if cost.operation == Operation::Create {
            assert!(
                cost.requests
                    .ends_with(&["COM_STMT_PREPARE", "COM_STMT_EXECUTE"].map(String::from)),
                "{cost:?}"
            );
        } else {
            assert_eq!(cost.statements.len(), 1, "{cost:?}");
            assert_eq!(
                cost.requests,
                ["COM_STMT_PREPARE", "COM_STMT_EXECUTE"],
                "{cost:?}"
            );
        }
    }
    for cost in &warm {
        assert_eq!(cost.statements.len(), 1, "{cost:?}");
        assert_eq!(cost.requests, ["COM_STMT_EXECUTE"], "{cost:?}");
    }

    // A connection idle for a second or more is pinged before use (a server restart may have
    // killed it), once.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let key = SessionId::generate().store_key();
    let now = Timestamp::from_millis(1_700_000_000_000);
    assert!(store.load(&key, now).await.unwrap().is_none());
    assert!(store.load(&key, now).await.unwrap().is_none());
    // A miss is one statement too (the forward pointers joined in): one round trip each.
    assert_eq!(
        tap.take(),
        ["COM_PING", "COM_STMT_EXECUTE", "COM_STMT_EXECUTE"]
    );
    store.pool().close().await;
}

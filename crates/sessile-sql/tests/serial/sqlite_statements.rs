//! How many SQL statements each write costs on SQLite, read from sqlx's statement log (one
//! `sqlx::query` tracing event per statement). In the `serial` binary, alone, because it
//! counts every statement of the process: sqlx runs SQLite statements, and logs them, on each
//! connection's worker thread.

#![cfg(feature = "sqlite")]

use crate::support::sqlite::TempSqliteStore;
use crate::support::statements::StatementLog;
use crate::support::{record_at, touch_at};
use serde_json::json;
use sessile::{ChangeSet, IncrementOutcome, SessionId, Store, Timestamp, UpdateOutcome};
use sessile_sql::SqliteStore;

const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// The statements logged since the last call. A connection's worker thread runs its commands in
/// order and logs each statement when it is done with it, which can be just after the caller got
/// its result: so a marker write (a `DELETE` of a key that does not exist) follows, on the same
/// write connection, and once it is logged every earlier statement is.
async fn take(log: &StatementLog, store: &SqliteStore) -> Vec<String> {
    assert!(!store
        .delete(&SessionId::generate().store_key())
        .await
        .unwrap());
    let mut statements = log
        .take_through_marker(|statement| statement.starts_with("DELETE"))
        .await;
    // The marker's delete also clears the key's forward pointer (rotation grace): two
    // statements, the last of which the log took as the marker.
    if statements
        .last()
        .is_some_and(|statement| statement.starts_with("DELETE FROM \"sessile_sessions\""))
    {
        statements.pop();
    }
    statements
}

#[tokio::test]
async fn increments_and_updates_on_addressable_keys_are_one_statement() {
    let _turn = crate::exclusive().await;
    let log = StatementLog::install();
    let temp = TempSqliteStore::open().await;
    let store = &temp.store;
    let key = SessionId::generate().store_key();
    store
        .create(&key, &record_at(START, json!({"n": 1})))
        .await
        .unwrap();
    take(&log, store).await;

    assert_eq!(
        store
            .increment(&key, "n", 2, touch_at(START), START)
            .await
            .unwrap(),
        IncrementOutcome::Value(3)
    );
    // The batch statement (`WITH batch ... UPDATE`), here a batch of one.
    let statements = take(&log, store).await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert!(statements[0].starts_with("WITH batch"), "{statements:?}");

    let mut changes = ChangeSet::default();
    changes.set("cart", json!([1, 2]));
    changes.remove("n");
    changes.touch = Some(touch_at(START));
    assert_eq!(
        store.update(&key, &changes, START).await.unwrap(),
        UpdateOutcome::Applied
    );
    let statements = take(&log, store).await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert!(statements[0].starts_with("UPDATE"), "{statements:?}");

    // The log tells the paths apart: a key a JSON path cannot address, and a value that is not
    // an integer, both read the data before deciding.
    for field in ["quoted \"n\"", "cart"] {
        store
            .increment(&key, field, 1, touch_at(START), START)
            .await
            .unwrap();
        let statements = take(&log, store).await;
        assert!(
            statements
                .iter()
                .any(|statement| statement.starts_with("SELECT")),
            "{field:?}: {statements:?}"
        );
    }
}

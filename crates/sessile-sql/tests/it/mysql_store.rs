//! MySQL/MariaDB specifics the conformance suite does not pin down: matched-not-changed rows,
//! the rewrite path for keys a JSON path cannot address, increments at the edges of `i64`,
//! rotation onto an expired key, configuration errors and an unreachable server.

#![cfg(feature = "mysql")]

use std::time::Duration;

use crate::support::mysql::{connect, mysql_url};
use crate::support::{record_at, touch_at};
use serde_json::json;
use sessile::{
    ChangeSet, Clock, CreateOutcome, IncrementOutcome, RotateOutcome, SessionId, Store, StoreError,
    StoreKey, SystemClock, Timestamp, UpdateOutcome,
};
use sessile_sql::{Error, MySqlStore, MySqlStoreOptions};
use sqlx::mysql::MySqlPoolOptions;

const TABLE: &str = "sessile_store_specifics";
const HOUR: Duration = Duration::from_secs(3600);

async fn store() -> MySqlStore {
    connect(MySqlStoreOptions::new().max_connections(4), TABLE).await
}

async fn created(store: &MySqlStore, data: serde_json::Value) -> (StoreKey, Timestamp) {
    let key = SessionId::generate().store_key();
    let now = SystemClock.now();
    assert_eq!(
        store
            .create(&key, &record_at(now, data))
            .await
            .expect("create"),
        CreateOutcome::Created
    );
    (key, now)
}

#[tokio::test]
async fn an_update_that_changes_nothing_is_still_applied() {
    let store = store().await;
    let (key, now) = created(&store, json!({"same": 1})).await;
    let mut changes = ChangeSet::default();
    changes.set("same", json!(1));
    for _ in 0..2 {
        // No touch either: the row is written with exactly the values it has.
        assert_eq!(
            store.update(&key, &changes, now).await.expect("update"),
            UpdateOutcome::Applied
        );
    }
    assert_eq!(
        store
            .update(&key, &ChangeSet::default(), now)
            .await
            .expect("empty update"),
        UpdateOutcome::Applied
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_control_characters_are_rewritten_without_losing_concurrent_changes() {
    let store = store().await;
    let (key, now) = created(&store, json!({"tab\tkey": 0})).await;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..20 {
        let store = store.clone();
        let key = key.clone();
        tasks.spawn(async move {
            let mut changes = ChangeSet::default();
            // Half the writers take the transaction path, half the in-place one.
            let name = if index % 2 == 0 {
                format!("line\nbreak {index}")
            } else {
                format!("plain {index}")
            };
            changes.set(name, json!(index));
            store.update(&key, &changes, now).await.expect("update")
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.expect("task"), UpdateOutcome::Applied);
    }
    let touch = touch_at(now);
    for expected in 1..=3 {
        assert_eq!(
            store
                .increment(&key, "tab\tkey", 1, touch, now)
                .await
                .expect("increment"),
            IncrementOutcome::Value(expected)
        );
    }
    let data = store
        .load(&key, now)
        .await
        .expect("load")
        .expect("live")
        .data;
    assert_eq!(data.len(), 21);
    assert_eq!(data["tab\tkey"], json!(3));
    assert_eq!(data["line\nbreak 4"], json!(4));
    assert_eq!(data["plain 5"], json!(5));
}

#[tokio::test]
async fn increments_cover_the_whole_i64_range() {
    let store = store().await;
    let (key, now) = created(&store, json!({"low": i64::MIN + 1, "high": i64::MAX - 1})).await;
    let touch = touch_at(now);
    let increment = |field: &'static str, by: i64| {
        let store = store.clone();
        let key = key.clone();
        async move {
            store
                .increment(&key, field, by, touch, now)
                .await
                .expect("increment")
        }
    };
    assert_eq!(
        increment("low", -1).await,
        IncrementOutcome::Value(i64::MIN)
    );
    assert_eq!(increment("low", -1).await, IncrementOutcome::NotAnInteger);
    assert_eq!(
        increment("high", 1).await,
        IncrementOutcome::Value(i64::MAX)
    );
    assert_eq!(increment("high", 1).await, IncrementOutcome::NotAnInteger);
    assert_eq!(increment("fresh", -7).await, IncrementOutcome::Value(-7));
    assert_eq!(
        increment("fresh", i64::MIN + 7).await,
        IncrementOutcome::Value(i64::MIN)
    );
    let data = store
        .load(&key, now)
        .await
        .expect("load")
        .expect("live")
        .data;
    assert_eq!(data["low"], json!(i64::MIN));
    assert_eq!(data["high"], json!(i64::MAX));
    assert_eq!(data["fresh"], json!(i64::MIN));
    let gone = SessionId::generate().store_key();
    assert_eq!(
        store
            .increment(&gone, "x", 1, touch, now)
            .await
            .expect("increment"),
        IncrementOutcome::Gone
    );
}

#[tokio::test]
async fn rotating_onto_an_expired_key_replaces_it() {
    let store = store().await;
    let (from, now) = created(&store, json!({"mine": true})).await;
    let to = SessionId::generate().store_key();
    let old = Timestamp::from_millis(now.as_millis() - 3 * HOUR.as_millis() as i64);
    assert_eq!(
        store
            .create(&to, &record_at(old, json!({"stale": true})))
            .await
            .expect("create the stale row"),
        CreateOutcome::Created
    );
    assert_eq!(
        store
            .rotate(&from, &to, &ChangeSet::default(), now)
            .await
            .expect("rotate"),
        RotateOutcome::Rotated
    );
    let moved = store.load(&to, now).await.expect("load").expect("moved");
    assert_eq!(moved.data.get("mine"), Some(&json!(true)));
    assert!(moved.data.get("stale").is_none());
    assert!(store.load(&from, now).await.expect("load").is_none());
}

#[tokio::test]
async fn table_names_that_are_not_plain_identifiers_are_refused() {
    let result = MySqlStoreOptions::new()
        .table("sessions`; DROP TABLE users; --")
        .connect(&mysql_url())
        .await;
    assert!(matches!(result, Err(Error::InvalidName { .. })));
}

#[tokio::test]
async fn migrating_twice_and_from_a_configured_pool_is_harmless() {
    let store = store().await;
    store.migrate().await.expect("migrate again");
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&mysql_url())
        .await
        .expect("a pool");
    let again = MySqlStoreOptions::new()
        .table(TABLE)
        .from_pool(pool)
        .await
        .expect("a store on the pool");
    assert_eq!(again.table(), TABLE);
    let versions: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM sessile_schema_versions WHERE table_name = ? ORDER BY version",
    )
    .bind(TABLE)
    .fetch_all(again.pool())
    .await
    .expect("read the versions");
    // Each of this release's versions once (the table is shared with other test runs, which
    // may have recorded versions of their own).
    let ours: Vec<i64> = versions
        .into_iter()
        .filter(|v| [1, 2, 3].contains(v))
        .collect();
    assert_eq!(ours, vec![1, 2, 3]);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Nothing listens on port 9 of loopback: connecting is refused at once.
    let pool = MySqlPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("mysql://root@127.0.0.1:9/test")
        .expect("a lazy pool");
    let store = MySqlStore::from_pool(pool);
    let key = SessionId::generate().store_key();
    let error = store
        .load(&key, SystemClock.now())
        .await
        .expect_err("no server");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_closed_port_fails_to_connect_with_connection_refused() {
    // The default acquire timeout: the pool used to retry until it and report a bare
    // PoolTimedOut, losing the refusal.
    match MySqlStore::options()
        .connect("mysql://root@127.0.0.1:9/test")
        .await
    {
        Err(error @ Error::Connect(_)) => {
            let message = error.to_string();
            assert!(
                message.contains("Connection refused") && !message.contains("timed out"),
                "the cause must survive: {message}"
            );
        }
        other => panic!("connecting to a closed port must fail with Connect, got {other:?}"),
    }
}

#[tokio::test]
async fn a_statement_stuck_behind_a_lock_times_out_as_unavailable() {
    let store = connect(
        MySqlStoreOptions::new()
            .max_connections(2)
            .statement_timeout(Duration::from_secs(1)),
        TABLE,
    )
    .await;
    let (key, now) = created(&store, json!({"locked": true})).await;
    let mut holder = store.pool().begin().await.expect("a transaction");
    sqlx::query(&format!(
        "SELECT `key` FROM `{TABLE}` WHERE `key` = ? FOR UPDATE"
    ))
    .bind(key.as_bytes().as_slice())
    .fetch_one(&mut *holder)
    .await
    .expect("lock the row");
    let mut changes = ChangeSet::default();
    changes.set("waiting", json!(true));
    let error = store
        .update(&key, &changes, now)
        .await
        .expect_err("the row stays locked");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    holder.rollback().await.expect("release the lock");
    assert_eq!(
        store.update(&key, &changes, now).await.expect("update"),
        UpdateOutcome::Applied
    );
}

#[tokio::test]
async fn create_reads_its_own_outcome_after_an_increment_on_the_same_connection() {
    // One connection: the increment leaves LAST_INSERT_ID at 1 in the session, which must not
    // leak into the next statement's outcome.
    let store = connect(MySqlStoreOptions::new().max_connections(1), TABLE).await;
    let (key, now) = created(&store, json!({})).await;
    let touch = touch_at(now);
    for by in [1, 2] {
        assert!(matches!(
            store.increment(&key, "n", by, touch, now).await,
            Ok(IncrementOutcome::Value(_))
        ));
        let fresh = SessionId::generate().store_key();
        assert_eq!(
            store
                .create(&fresh, &record_at(now, json!({})))
                .await
                .expect("create"),
            CreateOutcome::Created
        );
        assert_eq!(
            store
                .create(&fresh, &record_at(now, json!({})))
                .await
                .expect("create"),
            CreateOutcome::Collision
        );
    }
}

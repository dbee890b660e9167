//! SQLite-specific behaviour the conformance suite cannot see: the schema and its migrations,
//! connection settings, the two ways deltas are applied, transaction hygiene and error mapping.

#![cfg(feature = "sqlite")]

use std::time::Duration;

use crate::support::sqlite::{TempDir, TempSqliteStore};
use crate::support::touch_at;
use proptest::prelude::*;
use serde_json::{json, Value};
use sessile::{
    ChangeSet, CreateOutcome, Device, IncrementOutcome, MemoryStore, Record, RotateOutcome,
    SessionId, Store, StoreError, StoreKey, Timestamp, UpdateOutcome,
};
use sessile_sql::{SqliteStore, SqliteStoreOptions};
use sqlx::Connection;

const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const HOUR: Duration = Duration::from_secs(3600);

fn new_key() -> StoreKey {
    SessionId::generate().store_key()
}

fn record(data: Value, user: Option<&str>) -> Record {
    let mut record = Record::new(START, START + HOUR, START + 24 * HOUR);
    record.data = serde_json::from_value(data).expect("test data is an object");
    record.user = user.map(str::to_owned);
    record.device = Device::new(Some("Firefox on Linux".into()), None);
    record
}

#[tokio::test]
async fn reopening_keeps_sessions_and_applies_each_migration_once() {
    let dir = TempDir::new();
    let key = new_key();
    let original = record(json!({"cart": [1, 2]}), Some("ada"));
    {
        let store = SqliteStore::open(dir.database()).await.unwrap();
        assert_eq!(
            store.create(&key, &original).await.unwrap(),
            CreateOutcome::Created
        );
        store.pool().close().await;
    }
    let store = SqliteStore::open(dir.database()).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.load(&key, START).await.unwrap(), Some(original));
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM sessile_sessions_schema_versions")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(versions, vec![1, 2, 3]);
    store.pool().close().await;
}

#[tokio::test]
async fn a_configured_table_is_created_by_migration_sql_when_migrations_run_elsewhere() {
    let dir = TempDir::new();
    let options = SqliteStore::options()
        .table("web_sessions")
        .migrate_on_connect(false);
    let store = options.clone().open(dir.database()).await.unwrap();
    assert!(
        store.load(&new_key(), START).await.is_err(),
        "migrate_on_connect(false) creates nothing"
    );
    // The team's own migration tool runs the SQL.
    sqlx::query(&options.migration_sql().unwrap())
        .execute(store.pool())
        .await
        .unwrap();
    let key = new_key();
    let original = record(json!({"n": 1}), Some("ada"));
    assert_eq!(
        store.create(&key, &original).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(store.load(&key, START).await.unwrap(), Some(original));
    // A later `migrate` finds the table in place and only records the version.
    store.migrate().await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%sessions%' ORDER BY name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "web_sessions",
            "web_sessions_forwards",
            "web_sessions_schema_versions"
        ]
    );
    store.pool().close().await;
}

#[tokio::test]
async fn a_table_name_that_is_not_a_plain_identifier_is_a_setup_error() {
    let dir = TempDir::new();
    for table in ["", "web-sessions", "x\"; DROP TABLE users; --", "1st"] {
        let error = SqliteStore::options()
            .table(table)
            .open(dir.database())
            .await
            .expect_err("refused before any statement runs");
        assert!(
            matches!(error, sessile_sql::Error::InvalidName { what: "table", .. }),
            "{table:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn stores_opened_concurrently_on_a_new_file_all_migrate() {
    let dir = TempDir::new();
    let opens = (0..8).map(|_| SqliteStore::open(dir.database()));
    let stores = futures_join_all(opens).await;
    for store in stores {
        let store = store.expect("every concurrent open succeeds");
        assert!(store
            .load(&new_key(), START)
            .await
            .expect("the schema exists")
            .is_none());
        store.pool().close().await;
    }
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("task did not panic"));
    }
    outputs
}

#[tokio::test]
async fn connections_use_wal_normal_sync_foreign_keys_and_a_busy_timeout() {
    let temp = TempSqliteStore::open().await;
    let mut connection = temp.store.pool().acquire().await.unwrap();
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    assert_eq!(journal_mode, "wal");
    assert_eq!(synchronous, 1, "NORMAL");
    assert_eq!(foreign_keys, 1);
    assert_eq!(busy_timeout, 5000);
}

#[tokio::test]
async fn cleanup_and_user_listing_use_their_indexes() {
    let temp = TempSqliteStore::open().await;
    let plan = |sql: &'static str| {
        let pool = temp.store.pool().clone();
        async move {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .bind(0_i64)
                    .bind(0_i64)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            rows.into_iter()
                .map(|(_, _, _, detail)| detail)
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    let cleanup = plan(
        "DELETE FROM sessile_sessions WHERE \"key\" IN (SELECT \"key\" FROM sessile_sessions \
         WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
    )
    .await;
    assert!(cleanup.contains("sessile_sessions_expires_at"), "{cleanup}");
    let listing = plan(
        "SELECT \"key\" FROM sessile_sessions WHERE user_id = ? AND expires_at > ? \
         ORDER BY created_at, \"key\"",
    )
    .await;
    assert!(listing.contains("sessile_sessions_user_id"), "{listing}");
}

/// Keys SQLite JSON paths cannot address, and keys they can, each through update and rotate:
/// the stored data must match what the in-memory reference store holds.
#[tokio::test]
async fn every_kind_of_key_is_applied_like_the_reference() {
    let temp = TempSqliteStore::open().await;
    let reference = MemoryStore::new();
    let keys = [
        "plain",
        "with.dot",
        "a[0]",
        "$",
        "",
        "é 🎉",
        "'single'",
        "a\"b",
        "back\\slash",
        "\\u0041",
        "tab\there",
        "line\nbreak",
        "nul\0byte",
        "\"",
        "$.\"x\"",
        "#-1",
    ];
    for name in keys {
        let key = new_key();
        let mut seed = json!({"other": {"nested": true}});
        seed[name] = json!("old");
        for store in [&temp as &dyn Store, &reference] {
            store
                .create(&key, &record(seed.clone(), None))
                .await
                .unwrap();
        }

        let mut changes = ChangeSet::default();
        changes.set(name, json!({"object": [1, null, "x"]}));
        changes.set(format!("{name}-new"), json!(null));
        changes.touch = Some(touch_at(START + HOUR / 2));
        let now = START + HOUR / 4;
        for store in [&temp as &dyn Store, &reference] {
            assert_eq!(
                store.update(&key, &changes, now).await.unwrap(),
                UpdateOutcome::Applied,
                "{name:?}"
            );
        }
        assert_eq!(
            temp.load(&key, now).await.unwrap(),
            reference.load(&key, now).await.unwrap(),
            "update with key {name:?}"
        );

        let rotated = new_key();
        let mut changes = ChangeSet::default();
        changes.remove(name);
        changes.set("after", json!(name));
        for store in [&temp as &dyn Store, &reference] {
            assert_eq!(
                store.rotate(&key, &rotated, &changes, now).await.unwrap(),
                RotateOutcome::Rotated,
                "{name:?}"
            );
        }
        assert_eq!(
            temp.load(&rotated, now).await.unwrap(),
            reference.load(&rotated, now).await.unwrap(),
            "rotate removing key {name:?}"
        );
        assert_eq!(temp.load(&key, now).await.unwrap(), None);

        let by = 3;
        for store in [&temp as &dyn Store, &reference] {
            assert_eq!(
                store
                    .increment(&rotated, name, by, touch_at(now), now)
                    .await
                    .unwrap(),
                IncrementOutcome::Value(3),
                "{name:?}"
            );
        }
        assert_eq!(
            temp.load(&rotated, now).await.unwrap(),
            reference.load(&rotated, now).await.unwrap(),
            "increment of key {name:?}"
        );
    }
}

fn arbitrary_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Binary fractions print and parse back exactly, so any difference is the store's.
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 8.0)),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn arbitrary_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,3}",
        any::<String>(),
        Just("a\"b".to_owned()),
        Just("a\\b".to_owned()),
    ]
}

fn arbitrary_changes() -> impl Strategy<Value = ChangeSet> {
    (
        any::<bool>(),
        prop::collection::vec((arbitrary_key(), prop::option::of(arbitrary_value())), 0..6),
    )
        .prop_map(|(cleared, keys)| {
            let mut changes = ChangeSet::default();
            if cleared {
                changes.clear();
            }
            for (key, value) in keys {
                match value {
                    Some(value) => changes.set(key, value),
                    None => changes.remove(key),
                }
            }
            changes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the keys and values, a sequence of updates leaves the same data as the reference.
    #[test]
    fn updates_match_the_reference(
        seed in prop::collection::btree_map(arbitrary_key(), arbitrary_value(), 0..6),
        updates in prop::collection::vec(arbitrary_changes(), 1..4),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let temp = TempSqliteStore::open().await;
            let reference = MemoryStore::new();
            let key = new_key();
            let seed = Value::Object(seed.into_iter().collect());
            for store in [&temp as &dyn Store, &reference] {
                store.create(&key, &record(seed.clone(), None)).await.unwrap();
            }
            for changes in &updates {
                for store in [&temp as &dyn Store, &reference] {
                    assert_eq!(
                        store.update(&key, changes, START).await.unwrap(),
                        UpdateOutcome::Applied
                    );
                }
            }
            assert_eq!(
                temp.load(&key, START).await.unwrap(),
                reference.load(&key, START).await.unwrap()
            );
        });
    }
}

/// Writes a row as an older or foreign writer might have: valid JSON data of the wrong shape
/// (the table's CHECK only asks for valid JSON) and device metadata that is not JSON at all.
async fn write_foreign_row(store: &SqliteStore, key: &StoreKey, data: &str, device: &str) {
    sqlx::query("UPDATE sessile_sessions SET data = ?, device = ? WHERE \"key\" = ?")
        .bind(data)
        .bind(device)
        .bind(key.as_bytes().as_slice())
        .execute(store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn undecodable_rows_are_corrupt_and_skipped_in_listings() {
    let temp = TempSqliteStore::open().await;
    let good = new_key();
    let bad_device = new_key();
    let bad_data = new_key();
    for key in [&good, &bad_device, &bad_data] {
        temp.create(key, &record(json!({}), Some("grace")))
            .await
            .unwrap();
    }
    write_foreign_row(&temp.store, &bad_device, "{}", "Mozilla/5.0").await;
    write_foreign_row(&temp.store, &bad_data, "[\"not\", \"an object\"]", "{}").await;

    assert!(matches!(
        temp.load(&bad_device, START).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        temp.load(&bad_data, START).await,
        Err(StoreError::Corrupt(_))
    ));
    let listed: Vec<StoreKey> = temp
        .list_user_sessions("grace", START, None, 10)
        .await
        .unwrap()
        .sessions
        .into_iter()
        .map(|summary| summary.key)
        .collect();
    assert!(listed.contains(&good));
    assert!(listed.contains(&bad_data), "its summary needs no data");
    assert!(!listed.contains(&bad_device));
    assert_eq!(temp.delete_user_sessions("grace", None).await.unwrap(), 3);
}

/// With one connection in the pool, any transaction left open by an error or an early return
/// would make the next `BEGIN IMMEDIATE` fail ("cannot start a transaction within a transaction").
#[tokio::test]
async fn failed_and_abandoned_transactions_leave_the_connection_clean() {
    let temp = TempSqliteStore::open_with(SqliteStore::options().max_connections(1)).await;
    let corrupt = new_key();
    let healthy = new_key();
    temp.create(&corrupt, &record(json!({}), None))
        .await
        .unwrap();
    temp.create(&healthy, &record(json!({"n": "text"}), None))
        .await
        .unwrap();
    write_foreign_row(&temp.store, &corrupt, "42", "{}").await;

    // Rewriting the data needs a key SQLite paths cannot address: the read inside the
    // transaction finds corrupt data and returns early with an error.
    let mut quote_key = ChangeSet::default();
    quote_key.set("a\"b", json!(1));
    assert!(matches!(
        temp.update(&corrupt, &quote_key, START).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        temp.increment(&corrupt, "n", 1, touch_at(START), START)
            .await,
        Err(StoreError::Corrupt(_))
    ));
    // Outcomes that roll back.
    assert_eq!(
        temp.increment(&healthy, "n", 1, touch_at(START), START)
            .await
            .unwrap(),
        IncrementOutcome::NotAnInteger
    );
    assert_eq!(
        temp.rotate(&new_key(), &new_key(), &quote_key, START)
            .await
            .unwrap(),
        RotateOutcome::Gone
    );
    assert_eq!(
        temp.rotate(&healthy, &healthy, &quote_key, START)
            .await
            .unwrap(),
        RotateOutcome::Collision
    );
    // A transaction dropped half-way, as when a request is cancelled.
    {
        let mut transaction = temp
            .store
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .unwrap();
        sqlx::query("DELETE FROM sessile_sessions")
            .execute(&mut *transaction)
            .await
            .unwrap();
    }

    assert_eq!(
        temp.update(&healthy, &quote_key, START).await.unwrap(),
        UpdateOutcome::Applied
    );
    assert_eq!(
        temp.increment(&healthy, "count", 2, touch_at(START), START)
            .await
            .unwrap(),
        IncrementOutcome::Value(2)
    );
    let data = temp.load(&healthy, START).await.unwrap().unwrap().data;
    assert_eq!(data["a\"b"], json!(1));
    assert_eq!(data["n"], json!("text"));
}

#[tokio::test]
async fn a_closed_pool_is_unavailable() {
    let temp = TempSqliteStore::open().await;
    temp.store.pool().close().await;
    assert!(matches!(
        temp.load(&new_key(), START).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        temp.create(&new_key(), &record(json!({}), None)).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        temp.increment(&new_key(), "n", 1, touch_at(START), START)
            .await,
        Err(StoreError::Unavailable(_))
    ));
}

/// Another process holds the write lock for longer than the busy timeout: writes fail as
/// unavailable (503), not as a backend error, and work again once the lock is released.
#[tokio::test]
async fn a_write_lock_held_past_the_busy_timeout_is_unavailable() {
    let temp = TempSqliteStore::open_with(
        SqliteStoreOptions::new().busy_timeout(Duration::from_millis(50)),
    )
    .await;
    let key = new_key();
    temp.create(&key, &record(json!({}), None)).await.unwrap();

    let mut other_process =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", temp.dir.database().display()))
            .await
            .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other_process)
        .await
        .unwrap();

    let mut changes = ChangeSet::default();
    changes.set("x", json!(1));
    assert!(matches!(
        temp.update(&key, &changes, START).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        temp.increment(&key, "n", 1, touch_at(START), START).await,
        Err(StoreError::Unavailable(_))
    ));
    // Readers are not blocked by a writer in WAL mode.
    assert!(temp.load(&key, START).await.unwrap().is_some());

    sqlx::query("ROLLBACK")
        .execute(&mut other_process)
        .await
        .unwrap();
    assert_eq!(
        temp.update(&key, &changes, START).await.unwrap(),
        UpdateOutcome::Applied
    );
}

#[tokio::test]
async fn a_path_that_cannot_be_created_fails_to_connect() {
    let dir = TempDir::new();
    let inside_a_file = dir.path().join("file");
    std::fs::write(&inside_a_file, b"not a directory").unwrap();
    let error = SqliteStore::open(inside_a_file.join("sessions.db"))
        .await
        .unwrap_err();
    assert!(matches!(error, sessile_sql::Error::Connect(_)), "{error}");
}

#[tokio::test]
async fn from_pool_then_migrate_makes_a_working_store() {
    let dir = TempDir::new();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.database())
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let store = SqliteStore::from_pool(pool);
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let key = new_key();
    assert_eq!(
        store
            .create(&key, &record(json!({"a": 1}), None))
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        store
            .create(&key, &record(json!({"a": 2}), None))
            .await
            .unwrap(),
        CreateOutcome::Collision
    );
    store.pool().close().await;
}

/// The suite's concurrency cases change keys SQLite paths can address, so each commit is one
/// `UPDATE`. Here every key needs the read-apply-write transaction, and the writers come
/// through two pools on one file, as two processes would: no write may be lost and none may
/// fail with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rewrites_from_two_pools_lose_nothing_and_never_report_locked() {
    const WRITERS: usize = 200;
    let first = TempSqliteStore::open().await;
    let second = SqliteStore::open(first.dir.database()).await.unwrap();
    let key = new_key();
    first.create(&key, &record(json!({}), None)).await.unwrap();

    let stores = [first.store.clone(), second.clone()];
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let store = stores[writer % 2].clone();
        let key = key.clone();
        writers.spawn(async move {
            let mut changes = ChangeSet::default();
            changes.set(format!("\"quoted\" {writer}"), json!(writer));
            changes.touch = Some(touch_at(START));
            if writer % 3 == 0 {
                store
                    .increment(&key, "a\\counter", 1, touch_at(START), START)
                    .await
                    .map(|outcome| assert!(matches!(outcome, IncrementOutcome::Value(_))))?;
            }
            store.update(&key, &changes, START).await
        });
    }
    while let Some(joined) = writers.join_next().await {
        match joined.expect("writer did not panic") {
            Ok(outcome) => assert_eq!(outcome, UpdateOutcome::Applied),
            Err(error) => panic!("a concurrent write failed: {error}"),
        }
    }

    let data = first.load(&key, START).await.unwrap().unwrap().data;
    for writer in 0..WRITERS {
        assert_eq!(data[&format!("\"quoted\" {writer}")], json!(writer));
    }
    assert_eq!(data["a\\counter"], json!(WRITERS.div_ceil(3)));
    second.pool().close().await;
}

/// The single-statement increment decides in SQL what the reference decides in Rust
/// ([`sessile::change::incremented`]). Stored values are written as raw JSON text, as a foreign
/// writer might, including spellings serde never produces (`-0`, `1E2`) and integers beyond
/// `i64`; amounts include the extremes, where SQLite's own `+` would silently become a float.
#[tokio::test]
async fn increments_decide_every_stored_value_like_the_reference() {
    let temp = TempSqliteStore::open().await;
    let stored = [
        None,
        Some("null"),
        Some("0"),
        Some("41"),
        Some("-7"),
        Some("-0"),
        Some("9223372036854775807"),
        Some("-9223372036854775808"),
        Some("9223372036854775808"),
        Some("18446744073709551615"),
        Some("1.0"),
        Some("1E2"),
        Some("1e2"),
        Some("2.5"),
        Some("true"),
        Some("false"),
        Some("\"1\""),
        Some("[1]"),
        Some("{\"n\": 1}"),
    ];
    let amounts = [1, -1, 0, 5, i64::MAX, i64::MIN];
    let later = START + HOUR / 2;
    for by in amounts {
        // Every stored value at once, so that they share batches and each must still get its
        // own answer.
        let mut increments = tokio::task::JoinSet::new();
        for token in stored {
            let store = temp.store.clone();
            let key = new_key();
            store.create(&key, &record(json!({}), None)).await.unwrap();
            let text = match token {
                Some(token) => format!("{{\"other\": 1, \"n\": {token}}}"),
                None => "{\"other\": 1}".to_owned(),
            };
            write_foreign_row(&store, &key, &text, "{}").await;
            let before = store.load(&key, START).await.unwrap().unwrap();
            increments.spawn(async move {
                let outcome = store
                    .increment(&key, "n", by, touch_at(later), later)
                    .await
                    .unwrap();
                let after = store.load(&key, later).await.unwrap().unwrap();
                (token, before, outcome, after)
            });
        }
        while let Some(joined) = increments.join_next().await {
            let (token, before, outcome, after) = joined.expect("increment did not panic");
            let case = format!("{token:?} + {by}");
            match sessile::change::incremented(before.data.get("n"), by) {
                Some(value) => {
                    assert_eq!(outcome, IncrementOutcome::Value(value), "{case}");
                    assert_eq!(after.data["n"], json!(value), "{case}");
                    assert_eq!(after.last_seen, later, "{case}: touched");
                }
                None => {
                    assert_eq!(outcome, IncrementOutcome::NotAnInteger, "{case}");
                    assert_eq!(after, before, "{case}: nothing written");
                }
            }
            assert_eq!(after.data["other"], json!(1), "{case}");
        }
    }
}

#[tokio::test]
async fn increments_of_missing_expired_and_non_object_rows_write_nothing() {
    let temp = TempSqliteStore::open().await;
    assert_eq!(
        temp.increment(&new_key(), "n", 1, touch_at(START), START)
            .await
            .unwrap(),
        IncrementOutcome::Gone
    );

    let expired = new_key();
    temp.create(&expired, &record(json!({"n": 1}), None))
        .await
        .unwrap();
    let after_expiry = START + 2 * HOUR;
    assert_eq!(
        temp.increment(&expired, "n", 1, touch_at(after_expiry), after_expiry)
            .await
            .unwrap(),
        IncrementOutcome::Gone
    );
    assert_eq!(
        temp.load(&expired, START).await.unwrap().unwrap().data["n"],
        json!(1),
        "an expired row is not revived"
    );

    let not_an_object = new_key();
    temp.create(&not_an_object, &record(json!({}), None))
        .await
        .unwrap();
    write_foreign_row(&temp.store, &not_an_object, "[1, 2]", "{}").await;
    assert!(matches!(
        temp.increment(&not_an_object, "n", 1, touch_at(START + HOUR / 2), START)
            .await,
        Err(StoreError::Corrupt(_))
    ));
    let (data, last_seen): (String, i64) =
        sqlx::query_as("SELECT data, last_seen FROM sessile_sessions WHERE \"key\" = ?")
            .bind(not_an_object.as_bytes().as_slice())
            .fetch_one(temp.store.pool())
            .await
            .unwrap();
    assert_eq!(data, "[1, 2]", "as written");
    assert_eq!(last_seen, START.as_millis(), "not touched");
}

/// Writes of one store take turns inside the process, so they never meet each other on
/// SQLite's write lock: even with no busy timeout at all, where any such meeting fails at once
/// with "database is locked", many concurrent writers of every kind all succeed and add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_one_store_take_turns_instead_of_meeting_on_the_lock() {
    const WRITERS: usize = 120;
    let temp = TempSqliteStore::open_with(
        SqliteStoreOptions::new()
            .max_connections(8)
            .busy_timeout(Duration::ZERO),
    )
    .await;
    let store = temp.store.clone();
    let shared = new_key();
    store
        .create(&shared, &record(json!({}), Some("ada")))
        .await
        .unwrap();

    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        let shared = shared.clone();
        writers.spawn(async move {
            match writer % 4 {
                0 => {
                    let outcome = store
                        .increment(&shared, "n", 1, touch_at(START), START)
                        .await?;
                    assert!(matches!(outcome, IncrementOutcome::Value(_)));
                }
                1 => {
                    let outcome = store
                        .increment(&shared, "quoted \"n\"", 1, touch_at(START), START)
                        .await?;
                    assert!(matches!(outcome, IncrementOutcome::Value(_)));
                }
                2 => {
                    let mut changes = ChangeSet::default();
                    changes.set(format!("key {writer}"), json!(writer));
                    assert_eq!(
                        store.update(&shared, &changes, START).await?,
                        UpdateOutcome::Applied
                    );
                }
                _ => {
                    let own = new_key();
                    store.create(&own, &record(json!({}), Some("ada"))).await?;
                    for expected in 1..=2 {
                        let outcome = store
                            .increment(&own, "n", 1, touch_at(START), START)
                            .await?;
                        assert_eq!(outcome, IncrementOutcome::Value(expected));
                    }
                    assert!(store.delete(&own).await?);
                }
            }
            Ok::<(), StoreError>(())
        });
    }
    while let Some(joined) = writers.join_next().await {
        if let Err(error) = joined.expect("writer did not panic") {
            panic!("a concurrent write failed: {error}");
        }
    }

    let data = store.load(&shared, START).await.unwrap().unwrap().data;
    assert_eq!(data["n"], json!(WRITERS / 4));
    assert_eq!(data["quoted \"n\""], json!(WRITERS / 4));
    for writer in (2..WRITERS).step_by(4) {
        assert_eq!(data[&format!("key {writer}")], json!(writer));
    }
    assert_eq!(
        store
            .list_user_sessions("ada", START, None, 10)
            .await
            .unwrap()
            .sessions
            .len(),
        1
    );
}

//! Cleanup at scale: 100,000 expired rows and 1,000 live sessions, two concurrent cleaners and
//! live traffic. Exactly the expired rows go, every live session keeps its data, and no
//! operation fails (a deadlock would surface as an error).

#![cfg(feature = "postgres")]

use std::sync::Arc;

use crate::support::postgres::{admin_pool, connect, drop_table};
use crate::support::{record_at, touch_at};
use serde_json::json;
use sessile::{
    ChangeSet, Clock, IncrementOutcome, Record, SessionId, Store, StoreKey, SystemClock, Timestamp,
    UpdateOutcome,
};
use sessile_sql::PostgresStore;

const TABLE: &str = "cleanup";
const EXPIRED: i64 = 100_000;
const LIVE: usize = 1_000;
const BATCH: u32 = 1_000;
const TRAFFIC_TASKS: usize = 4;

fn live_record(index: usize, now: Timestamp) -> Record {
    let mut record = record_at(now, json!({"index": index}));
    record.user = Some(format!("cleanup-user-{}", index % 10));
    record
}

/// Deletes batches until one finds nothing left to take; how many it deleted.
async fn clean(store: PostgresStore, now: Timestamp) -> u64 {
    let mut deleted = 0;
    loop {
        let batch = store
            .delete_expired(now, BATCH)
            .await
            .expect("a cleanup batch must not fail (no deadlock, no timeout)");
        assert!(batch <= u64::from(BATCH), "a batch deleted over its limit");
        if batch == 0 {
            return deleted;
        }
        deleted += batch;
    }
}

/// Updates and increments every live session in `keys`; each must apply.
async fn traffic(store: PostgresStore, keys: Arc<Vec<StoreKey>>, task: usize) {
    for key in keys.iter().skip(task).step_by(TRAFFIC_TASKS) {
        let now = SystemClock.now();
        let touch = touch_at(now);
        let mut changes = ChangeSet::default();
        changes.set("seen_by", json!(task));
        changes.touch = Some(touch);
        assert_eq!(
            store.update(key, &changes, now).await.expect("live update"),
            UpdateOutcome::Applied
        );
        assert_eq!(
            store
                .increment(key, "hits", 1, touch, now)
                .await
                .expect("live increment"),
            IncrementOutcome::Value(1)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cleaners_delete_exactly_the_expired_rows_beside_live_traffic() {
    let admin = admin_pool().await;
    drop_table(&admin, TABLE).await;
    let store = connect(TABLE, PostgresStore::options().max_connections(8)).await;

    // Expired an hour ago or more, oldest first; keys are 32 bytes from the row number, which
    // cannot collide with the SHA-256 keys of the live sessions in practice.
    sqlx::query(&format!(
        "INSERT INTO {} (\"key\", data, created_at, last_seen, idle_deadline, \
             absolute_deadline, expires_at) \
         SELECT decode(lpad(to_hex(i), 64, '0'), 'hex'), jsonb_build_object('expired', i), \
             at - interval '2 hours', at - interval '2 hours', at, at + interval '1 day', at \
         FROM generate_series(1, $1::int8) AS i, \
             LATERAL (SELECT now() - interval '1 hour' - i * interval '1 second' AS at) AS t",
        store.table()
    ))
    .bind(EXPIRED)
    .execute(&admin)
    .await
    .expect("insert the expired rows");

    let now = SystemClock.now();
    let mut keys = Vec::with_capacity(LIVE);
    for index in 0..LIVE {
        let key = SessionId::generate().store_key();
        store
            .create(&key, &live_record(index, now))
            .await
            .expect("create a live session");
        keys.push(key);
    }
    let keys = Arc::new(keys);

    let cutoff = SystemClock.now();
    let cleaners = [
        tokio::spawn(clean(store.clone(), cutoff)),
        tokio::spawn(clean(store.clone(), cutoff)),
    ];
    let mut writers = tokio::task::JoinSet::new();
    for task in 0..TRAFFIC_TASKS {
        writers.spawn(traffic(store.clone(), keys.clone(), task));
    }
    let mut deleted = 0;
    for cleaner in cleaners {
        deleted += cleaner.await.expect("cleaner task");
    }
    while let Some(writer) = writers.join_next().await {
        writer.expect("traffic task");
    }

    assert_eq!(
        deleted, EXPIRED as u64,
        "the cleaners together deleted each expired row once"
    );
    let remaining: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", store.table()))
        .fetch_one(&admin)
        .await
        .expect("count the rows");
    assert_eq!(remaining, LIVE as i64, "exactly the live sessions remain");
    let check = SystemClock.now();
    for (index, key) in keys.iter().enumerate() {
        let record = store
            .load(key, check)
            .await
            .expect("load")
            .unwrap_or_else(|| panic!("live session {index} was deleted"));
        assert_eq!(record.data.get("index"), Some(&json!(index)));
        assert_eq!(record.data.get("hits"), Some(&json!(1)));
        assert_eq!(
            record.data.get("seen_by"),
            Some(&json!(index % TRAFFIC_TASKS))
        );
    }
    drop_table(&admin, TABLE).await;
}

//! Cleanup on MySQL/MariaDB: 100,000 expired rows, 1,000 live sessions under traffic, two
//! cleaners at once (as two app instances would run them). Exactly the expired rows go, the
//! live ones keep every change, no operation fails, and InnoDB reports no deadlock.

#![cfg(feature = "mysql")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::mysql::{connect, drop_table};
use crate::support::{record_at, touch_at};
use sessile::cleanup::Cleanup;
use sessile::{
    ChangeSet, Clock, CreateOutcome, IncrementOutcome, SessionId, Store, StoreKey, SystemClock,
    UpdateOutcome,
};
use sessile_sql::{MySqlStore, MySqlStoreOptions};
use tokio::task::JoinSet;

const TABLE: &str = "sessile_cleanup";
const EXPIRED: i64 = 100_000;
const LIVE: usize = 1_000;
const HOUR_MS: i64 = 3_600_000;

async fn count(store: &MySqlStore, condition: &str, now: i64) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM `{TABLE}` WHERE {condition}"))
        .bind(now)
        .fetch_one(store.pool())
        .await
        .expect("count rows")
}

/// InnoDB's count of deadlocks since the server started. The store retries a deadlocked
/// statement (three attempts in all), so the counter, not an error, shows whether the cleaners
/// deadlocked at all.
async fn deadlocks(store: &MySqlStore) -> u64 {
    let (_, value): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
        .fetch_one(store.pool())
        .await
        .expect("read the deadlock counter");
    value.parse().expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cleaners_delete_exactly_the_expired_rows_under_live_traffic() {
    let _turn = crate::exclusive().await;
    let setup = connect(MySqlStoreOptions::new(), TABLE).await;
    drop_table(&setup, TABLE).await;
    setup.migrate().await.expect("create the test table");
    let now = SystemClock.now();

    // 100,000 expired rows in one statement: digits cross-joined five times (a recursive CTE
    // over all 100,000 would hit MySQL's default recursion depth of 1,000).
    sqlx::query(&format!(
        "INSERT INTO `{TABLE}` (`key`, data, user_id, created_at, last_seen, idle_deadline, \
             absolute_deadline, expires_at, persistent, device) \
         WITH RECURSIVE digit (d) AS (SELECT 0 UNION ALL SELECT d + 1 FROM digit WHERE d < 9) \
         SELECT UNHEX(SHA2(CONCAT('expired-', n), 256)), '{{\"old\": true}}', NULL, \
             ? - 2 * {HOUR_MS} - n, ? - 2 * {HOUR_MS}, ? - 1 - n, ? + {HOUR_MS}, ? - 1 - n, \
             FALSE, '{{}}' \
         FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n \
               FROM digit a, digit b, digit c, digit e, digit f) numbers"
    ))
    .bind(now.as_millis())
    .bind(now.as_millis())
    .bind(now.as_millis())
    .bind(now.as_millis())
    .bind(now.as_millis())
    .execute(setup.pool())
    .await
    .expect("insert the expired rows");
    assert_eq!(
        count(&setup, "expires_at <= ?", now.as_millis()).await,
        EXPIRED
    );

    let mut live: Vec<StoreKey> = Vec::with_capacity(LIVE);
    for _ in 0..LIVE {
        let key = SessionId::generate().store_key();
        let record = record_at(now, serde_json::json!({"live": true}));
        assert_eq!(
            setup
                .create(&key, &record)
                .await
                .expect("create a live session"),
            CreateOutcome::Created
        );
        live.push(key);
    }
    let live = Arc::new(live);

    // Live traffic until both cleaners are done: every session gets an update and increments.
    let deadlocks_before = deadlocks(&setup).await;
    let cleaning = Arc::new(AtomicBool::new(true));
    let mut traffic = JoinSet::new();
    for worker in 0..4 {
        let store = connect(MySqlStoreOptions::new().max_connections(2), TABLE).await;
        let (live, cleaning) = (live.clone(), cleaning.clone());
        traffic.spawn(async move {
            let mut rounds = 0_u64;
            loop {
                for key in live.iter().skip(worker).step_by(4) {
                    let at = SystemClock.now();
                    let touch = touch_at(at);
                    let mut changes = ChangeSet::default();
                    changes.touch = Some(touch);
                    changes.set("seen", serde_json::json!(true));
                    let updated = store.update(key, &changes, at).await;
                    assert_eq!(
                        updated.expect("update a live session"),
                        UpdateOutcome::Applied
                    );
                    let incremented = store.increment(key, "hits", 1, touch, at).await;
                    assert!(matches!(
                        incremented.expect("increment a live session"),
                        IncrementOutcome::Value(_)
                    ));
                }
                rounds += 1;
                if !cleaning.load(Ordering::Acquire) {
                    return rounds;
                }
            }
        });
    }

    let mut cleaners = JoinSet::new();
    for _ in 0..2 {
        let store: Arc<dyn Store> =
            Arc::new(connect(MySqlStoreOptions::new().max_connections(2), TABLE).await);
        cleaners.spawn(async move {
            let cleanup = Cleanup::new(store).batch_size(1_000);
            let mut deleted = 0;
            loop {
                let pass = cleanup.run_once().await.expect("a cleanup pass");
                deleted += pass;
                if pass == 0 {
                    return deleted;
                }
            }
        });
    }
    let mut deleted = 0;
    while let Some(cleaner) = cleaners.join_next().await {
        deleted += cleaner.expect("a cleaner task");
    }
    cleaning.store(false, Ordering::Release);
    while let Some(rounds) = traffic.join_next().await {
        assert!(rounds.expect("a traffic task") >= 1);
    }

    assert_eq!(
        deadlocks(&setup).await,
        deadlocks_before,
        "cleaners and live traffic must not deadlock (not even once, retried)"
    );
    let after = SystemClock.now().as_millis();
    assert_eq!(
        deleted, EXPIRED as u64,
        "the cleaners together delete each expired row once"
    );
    assert_eq!(count(&setup, "expires_at <= ?", after).await, 0);
    assert_eq!(count(&setup, "expires_at > ?", after).await, LIVE as i64);
    for key in live.iter() {
        let record = setup
            .load(key, SystemClock.now())
            .await
            .expect("load a live session")
            .expect("a live session survives cleanup");
        assert_eq!(record.data.get("seen"), Some(&serde_json::json!(true)));
        assert!(record.data.get("hits").and_then(|hits| hits.as_i64()) >= Some(1));
    }
}

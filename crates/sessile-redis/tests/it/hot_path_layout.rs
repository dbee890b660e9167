//! What the slimmed hot-path scripts must still get right, checked on the standalone Redis
//! (`REDIS_URL`) and, for the arithmetic, on the Cluster too: increments stay exact past the
//! precision of Lua's doubles (the script adds small integers itself and leaves large ones to
//! `HINCRBY`), and a touch moves the hash's `PEXPIREAT` while the index entries keep their
//! score, the absolute deadline.

use crate::common;

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{json, Value};
use sessile::{
    ChangeSet, Clock, CreateOutcome, IncrementOutcome, Record, SessionData, SessionId, Store,
    StoreKey, SystemClock, Timestamp, Touch, UpdateOutcome,
};
use sessile_redis::RedisStore;

const IDLE: Duration = Duration::from_secs(30 * 60);
const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);

fn record(at: Timestamp, data: Value, user: Option<&str>) -> Record {
    let data: SessionData = serde_json::from_value(data).expect("an object");
    let mut record = Record::new(at, at + IDLE, at + ABSOLUTE);
    record.data = data;
    record.user = user.map(str::to_owned);
    record
}

fn touch(at: Timestamp) -> Touch {
    Touch::new(at, at + IDLE)
}

async fn created(store: &RedisStore, record: &Record) -> StoreKey {
    let key = SessionId::generate().store_key();
    assert_eq!(
        store.create(&key, record).await.expect("create"),
        CreateOutcome::Created
    );
    key
}

async fn increment(store: &RedisStore, key: &StoreKey, field: &str, by: i64, at: Timestamp) -> i64 {
    match store
        .increment(key, field, by, touch(at), at)
        .await
        .expect("increment")
    {
        IncrementOutcome::Value(value) => value,
        other => panic!("increment of {field:?} by {by}: {other:?}"),
    }
}

async fn increments_are_exact(store: RedisStore) {
    let t = SystemClock.now();
    // 2^53 + 1 is the first integer a double cannot hold.
    let beyond_doubles: i64 = 9_007_199_254_740_993;
    let key = created(
        &store,
        &record(
            t,
            json!({
                "below": 999_999_999_999_998_i64,
                "negative": -999_999_999_999_999_i64,
                "beyond": beyond_doubles,
                "near_max": i64::MAX - 1,
            }),
            None,
        ),
    )
    .await;
    let at = t + Duration::from_secs(1);
    // Within the script's own arithmetic, then across its boundary (16 digits: HINCRBY).
    assert_eq!(
        increment(&store, &key, "below", 1, at).await,
        999_999_999_999_999
    );
    assert_eq!(
        increment(&store, &key, "below", 1, at).await,
        1_000_000_000_000_000
    );
    assert_eq!(
        increment(&store, &key, "below", 1, at).await,
        1_000_000_000_000_001
    );
    assert_eq!(
        increment(&store, &key, "negative", -1, at).await,
        -1_000_000_000_000_000
    );
    assert_eq!(
        increment(&store, &key, "beyond", 2, at).await,
        beyond_doubles + 2
    );
    assert_eq!(increment(&store, &key, "near_max", 1, at).await, i64::MAX);
    assert_eq!(
        store
            .increment(&key, "near_max", 1, touch(at), at)
            .await
            .expect("increment"),
        IncrementOutcome::NotAnInteger,
        "an overflow is refused"
    );
    // A large step on a small value goes through HINCRBY too.
    assert_eq!(
        increment(&store, &key, "fresh", 1, at).await,
        1,
        "an absent key counts as 0"
    );
    assert_eq!(
        increment(&store, &key, "fresh", beyond_doubles, at).await,
        beyond_doubles + 1
    );

    let loaded = store
        .load(&key, at)
        .await
        .expect("load")
        .expect("the session is live");
    assert_eq!(loaded.data["below"], json!(1_000_000_000_000_001_i64));
    assert_eq!(loaded.data["negative"], json!(-1_000_000_000_000_000_i64));
    assert_eq!(loaded.data["beyond"], json!(beyond_doubles + 2));
    assert_eq!(loaded.data["near_max"], json!(i64::MAX));
    assert_eq!(loaded.data["fresh"], json!(beyond_doubles + 1));
    assert_eq!(loaded.last_seen, at, "every increment applies its touch");
}

#[test]
fn standalone_increments_are_exact_past_double_precision() {
    sessile::testkit::__private::run(async {
        increments_are_exact(common::standalone_store(&common::run_prefix("hot_path")).await).await;
    });
}

#[test]
fn cluster_increments_are_exact_past_double_precision() {
    sessile::testkit::__private::run(async {
        increments_are_exact(common::cluster_store(&common::run_prefix("hot_path")).await).await;
    });
}

/// The hash's expiry (`PEXPIRETIME`) and the scores of its entries in the expiry index and its
/// user's index.
async fn expiry_and_scores(
    connection: &mut redis::aio::MultiplexedConnection,
    store: &RedisStore,
    prefix: &str,
    key: &StoreKey,
    user: &str,
) -> (i64, Option<i64>, Option<i64>) {
    let hash_expiry: i64 = redis::cmd("PEXPIRETIME")
        .arg(store.session_key(key))
        .query_async(connection)
        .await
        .expect("PEXPIRETIME");
    let expiry_score: Option<i64> = connection
        .zscore(format!("{prefix}expiry"), key.to_hex())
        .await
        .expect("ZSCORE expiry");
    let user_score: Option<i64> = connection
        .zscore(store.user_index_key(user), key.to_hex())
        .await
        .expect("ZSCORE user");
    (hash_expiry, expiry_score, user_score)
}

#[test]
fn touches_move_the_expiry_but_not_the_index_scores() {
    sessile::testkit::__private::run(async {
        let prefix = common::run_prefix("hot_path_layout");
        let store = common::standalone_store(&prefix).await;
        let client = redis::Client::open(common::standalone_url()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("a raw connection to Redis");
        let t = SystemClock.now();
        let user = format!(
            "layout-{}",
            &SessionId::generate().store_key().to_hex()[..12]
        );
        let original = record(t, json!({"n": 1}), Some(&user));
        let absolute = original.absolute_deadline.as_millis();
        let key = created(&store, &original).await;
        assert_eq!(
            expiry_and_scores(&mut connection, &store, &prefix, &key, &user).await,
            (
                original.idle_deadline.as_millis(),
                Some(absolute),
                Some(absolute)
            ),
            "a new session expires at its idle deadline; both indexes score its absolute deadline"
        );

        let later = t + Duration::from_secs(60);
        increment(&store, &key, "n", 1, later).await;
        assert_eq!(
            expiry_and_scores(&mut connection, &store, &prefix, &key, &user).await,
            ((later + IDLE).as_millis(), Some(absolute), Some(absolute)),
            "an increment moves the expiry, not the index scores"
        );

        let even_later = t + Duration::from_secs(120);
        let mut changes = ChangeSet::default();
        changes.set("theme", json!("dark"));
        changes.touch = Some(touch(even_later));
        assert_eq!(
            store
                .update(&key, &changes, even_later)
                .await
                .expect("update"),
            UpdateOutcome::Applied
        );
        assert_eq!(
            expiry_and_scores(&mut connection, &store, &prefix, &key, &user).await,
            (
                (even_later + IDLE).as_millis(),
                Some(absolute),
                Some(absolute)
            ),
            "an update moves the expiry, not the index scores"
        );

        assert!(store.delete(&key).await.expect("delete"));

        // Near the end of its life the idle deadline is capped by the absolute one.
        let mut short_lived = record(t, json!({"n": 1}), Some(&user));
        short_lived.absolute_deadline = t + Duration::from_secs(10 * 60);
        let short_absolute = short_lived.absolute_deadline.as_millis();
        let key = created(&store, &short_lived).await;
        increment(&store, &key, "n", 1, later).await;
        assert_eq!(
            expiry_and_scores(&mut connection, &store, &prefix, &key, &user).await,
            (short_absolute, Some(short_absolute), Some(short_absolute)),
            "the expiry never passes the absolute deadline"
        );
        let loaded = store.load(&key, later).await.expect("load").expect("live");
        assert_eq!(loaded.idle_deadline, short_lived.absolute_deadline);
        assert_eq!(loaded.last_seen, later);
        assert_eq!(loaded.data["n"], json!(2));
        assert!(store.delete(&key).await.expect("delete"));
    });
}

/// A user index written by the older layout scored entries by the idle deadline at the last
/// write; touches no longer move scores, so such a score can pass while the session lives on.
/// Listing must keep the session (and score it by its absolute deadline from then on).
#[test]
fn a_live_session_behind_a_passed_user_index_score_stays_listed() {
    sessile::testkit::__private::run(async {
        let prefix = common::run_prefix("hot_path_migration");
        let store = common::standalone_store(&prefix).await;
        let client = redis::Client::open(common::standalone_url()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("a raw connection to Redis");
        let t = SystemClock.now();
        let user = format!(
            "migrated-{}",
            &SessionId::generate().store_key().to_hex()[..12]
        );
        let live = record(t, json!({}), Some(&user));
        let key = created(&store, &live).await;
        let index = store.user_index_key(&user);
        let passed_score = (t - Duration::from_secs(60)).as_millis();
        let _: i64 = connection
            .zadd(&index, key.to_hex(), passed_score)
            .await
            .expect("ZADD an old-layout score");

        let listed = store
            .list_user_sessions(&user, t, None, 10)
            .await
            .expect("list_user_sessions")
            .sessions;
        assert_eq!(
            listed
                .iter()
                .map(|summary| summary.key.clone())
                .collect::<Vec<_>>(),
            vec![key.clone()],
            "a live session stays listed whatever its entry's score"
        );
        let score: Option<i64> = connection
            .zscore(&index, key.to_hex())
            .await
            .expect("ZSCORE");
        assert_eq!(score, Some(live.absolute_deadline.as_millis()));

        // A dead session behind a passed score is dropped from the index.
        assert!(store.delete(&key).await.expect("delete"));
        let _: i64 = connection
            .zadd(&index, key.to_hex(), passed_score)
            .await
            .expect("ZADD a stale entry");
        assert!(store
            .list_user_sessions(&user, t, None, 10)
            .await
            .expect("list_user_sessions")
            .sessions
            .is_empty());
        let score: Option<i64> = connection
            .zscore(&index, key.to_hex())
            .await
            .expect("ZSCORE");
        assert_eq!(score, None, "the stale entry is pruned");
    });
}

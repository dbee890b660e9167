//! The per-user limit on Redis beyond the conformance cases: that an evicted session leaves
//! the user index too, checked on the tie-break (equally recent sessions: the smallest key goes
//! first; a conformance case of its own, `user_limit_breaks_last_seen_ties_by_the_smallest_key`),
//! which the Lua script applies itself on a standalone server and `UserLimit::decide` applies on
//! a Cluster; and the Cluster's lease, which a sign-in gives back, and which a holder that never
//! gave it back (a crash) blocks only until it lapses.

use crate::common;

use std::time::{Duration, Instant};

use sessile::limit::{LimitPolicy, UserLimit};
use sessile::testkit::__private::run;
use sessile::{
    Clock, CreateOutcome, Record, SessionId, Store, StoreError, StoreKey, SystemClock, Timestamp,
};
use sessile_redis::{Mode, RedisStore};

const HOUR: Duration = Duration::from_secs(3600);

fn signed_in(user: &str, at: Timestamp) -> Record {
    let mut record = Record::new(at, at + HOUR, at + 2 * HOUR);
    record.user = Some(user.to_owned());
    record.last_seen = at;
    record
}

fn fresh_user() -> String {
    format!("limit-user-{:016x}", rand::random::<u64>())
}

fn fresh_key() -> StoreKey {
    SessionId::generate().store_key()
}

/// One command on the store's server (or Cluster) outside the store.
async fn raw<T: redis::FromRedisValue>(store: &RedisStore, command: &redis::Cmd) -> T {
    match store.mode() {
        Mode::Standalone => {
            let client = redis::Client::open(common::standalone_url()).expect("redis url");
            let mut connection = client
                .get_multiplexed_async_connection()
                .await
                .expect("a raw connection to Redis");
            command.query_async(&mut connection).await.expect("command")
        }
        Mode::Cluster => {
            let client =
                redis::cluster::ClusterClient::new(common::cluster_urls()).expect("cluster urls");
            let mut connection = client
                .get_async_connection()
                .await
                .expect("a raw connection to the Cluster");
            command.query_async(&mut connection).await.expect("command")
        }
    }
}

/// Three sessions seen in the same millisecond and a limit of three: the fourth sign-in evicts
/// the one with the smallest key, only that one, and its index entry with it.
async fn ties_evict_the_smallest_key(store: RedisStore) {
    let (user, at) = (fresh_user(), SystemClock.now());
    let limit = UserLimit::new(3, LimitPolicy::EvictLeastRecentlyUsed);
    let mut keys: Vec<StoreKey> = (0..4).map(|_| fresh_key()).collect();
    for key in &keys {
        let record = signed_in(&user, at);
        let outcome = store.create_within_limit(key, &record, &limit).await;
        assert_eq!(outcome.expect("create"), CreateOutcome::Created);
    }
    let fourth = keys.pop().expect("four keys");
    keys.sort();
    assert!(
        store.load(&keys[0], at).await.expect("load").is_none(),
        "the smallest key of the equally recent sessions is evicted"
    );
    for key in [&keys[1], &keys[2], &fourth] {
        assert!(store.load(key, at).await.expect("load").is_some());
    }
    let members: Vec<String> = raw(
        &store,
        redis::cmd("ZRANGE")
            .arg(store.user_index_key(&user))
            .arg(0)
            .arg(-1),
    )
    .await;
    assert!(
        !members.contains(&keys[0].to_hex()),
        "the evicted session leaves the user index"
    );
}

#[test]
fn standalone_limit_ties_evict_the_smallest_key() {
    run(async {
        let store = common::standalone_store(&common::run_prefix("limit")).await;
        ties_evict_the_smallest_key(store).await;
    });
}

#[test]
fn cluster_limit_ties_evict_the_smallest_key() {
    run(async {
        let store = common::cluster_store(&common::run_prefix("limit")).await;
        ties_evict_the_smallest_key(store).await;
    });
}

/// The lease key of `user` under `prefix` (the crate keeps its name private).
fn lease_key(prefix: &str, user: &str) -> String {
    format!("{prefix}user-lease:{{{user}}}")
}

/// A lease someone else holds (a crashed holder's) makes a sign-in wait until it lapses, then
/// the sign-in goes through and gives its own lease back; one that outlives the statement
/// timeout fails the sign-in as unavailable, and nothing is written.
#[test]
fn cluster_limit_lease_of_a_crashed_holder_only_delays() {
    run(async {
        let prefix = common::run_prefix("limit");
        let store = common::cluster_store(&prefix).await;
        let limit = UserLimit::new(3, LimitPolicy::Refuse);
        let (user, at) = (fresh_user(), SystemClock.now());
        let lease = lease_key(&prefix, &user);
        let set_lease = |millis: u64| {
            let mut set = redis::cmd("SET");
            set.arg(&lease)
                .arg("a crashed holder")
                .arg("PX")
                .arg(millis);
            set
        };
        let _: () = raw(&store, &set_lease(400)).await;
        let started = Instant::now();
        let key = fresh_key();
        let record = signed_in(&user, at);
        let outcome = store.create_within_limit(&key, &record, &limit).await;
        assert_eq!(outcome.expect("create"), CreateOutcome::Created);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "the sign-in waited for the lease ({:?})",
            started.elapsed()
        );
        let held: i64 = raw(&store, redis::cmd("EXISTS").arg(&lease)).await;
        assert_eq!(held, 0, "the sign-in gave its lease back");

        let impatient =
            common::cluster_store_with_timeout(&prefix, Duration::from_millis(300)).await;
        let _: () = raw(&store, &set_lease(10_000)).await;
        let blocked = fresh_key();
        let record = signed_in(&user, at);
        match impatient
            .create_within_limit(&blocked, &record, &limit)
            .await
        {
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("a sign-in behind a held lease answered {other:?}"),
        }
        assert!(store.load(&blocked, at).await.expect("load").is_none());
        let _: i64 = raw(&store, redis::cmd("DEL").arg(&lease)).await;
    });
}

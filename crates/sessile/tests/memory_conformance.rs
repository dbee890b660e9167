//! The store conformance suite on `MemoryStore`, plus the guarantees only a memory store makes:
//! expired entries are freed without being looked up, and the capacity bound evicts.
//!
//! The `corrupt_record_is_reported` case does not apply: `MemoryStore` keeps typed records and
//! cannot hold undecodable data.

use std::time::Duration;

use serde_json::json;
use sessile::{
    ChangeSet, Clock, MemoryStore, Record, SessionId, Store, StoreKey, SystemClock, Timestamp,
    Touch,
};

sessile::store_conformance!(async { MemoryStore::new() }, keeps_expired);

const MINUTE: Duration = Duration::from_secs(60);

fn record(at: Timestamp, lifetime: Duration) -> Record {
    Record::new(at, at + lifetime, at + 12 * 60 * MINUTE)
}

fn key() -> StoreKey {
    SessionId::generate().store_key()
}

async fn create_all(store: &MemoryStore, at: Timestamp, lifetime: Duration, count: usize) {
    for _ in 0..count {
        let outcome = store.create(&key(), &record(at, lifetime)).await.unwrap();
        assert_eq!(outcome, sessile::CreateOutcome::Created);
    }
}

#[tokio::test]
async fn writes_of_other_keys_free_expired_entries() {
    let store = MemoryStore::new();
    let t = SystemClock.now();
    let live = key();
    store.create(&live, &record(t, 60 * MINUTE)).await.unwrap();
    create_all(&store, t, MINUTE, 5).await;
    assert_eq!(
        store.len(),
        6,
        "expired entries stay until something frees them"
    );

    let mut changes = ChangeSet::default();
    changes.set("k", json!(1));
    let at = t + 2 * MINUTE;
    store.update(&live, &changes, at).await.unwrap();
    assert_eq!(
        store.len(),
        1,
        "an update of another key frees expired entries"
    );

    create_all(&store, at, MINUTE, 3).await;
    assert_eq!(store.len(), 4);
    let at = at + 2 * MINUTE;
    let touch = Touch::new(at, at + 60 * MINUTE);
    store.increment(&live, "n", 1, touch, at).await.unwrap();
    assert_eq!(
        store.len(),
        1,
        "an increment of another key frees expired entries"
    );

    create_all(&store, at, MINUTE, 3).await;
    let later = at + 2 * MINUTE;
    store.create(&key(), &record(later, MINUTE)).await.unwrap();
    assert_eq!(store.len(), 2, "a create frees expired entries");
}

#[tokio::test]
async fn a_full_store_evicts_the_session_closest_to_expiry() {
    let store = MemoryStore::new().with_capacity(3);
    let t = SystemClock.now();
    let (soonest, middle, latest, newcomer) = (key(), key(), key(), key());
    store
        .create(&middle, &record(t, 20 * MINUTE))
        .await
        .unwrap();
    store
        .create(&soonest, &record(t, 10 * MINUTE))
        .await
        .unwrap();
    store
        .create(&latest, &record(t, 30 * MINUTE))
        .await
        .unwrap();
    assert_eq!(store.len(), 3);

    store
        .create(&newcomer, &record(t, 15 * MINUTE))
        .await
        .unwrap();
    assert_eq!(store.len(), 3, "the capacity bound holds");
    assert!(
        store.load(&soonest, t).await.unwrap().is_none(),
        "the soonest to expire is evicted"
    );
    for survivor in [&middle, &latest, &newcomer] {
        assert!(store.load(survivor, t).await.unwrap().is_some());
    }
}

//! The store conformance cases: each is a guarantee of the [`Store`] contract, checked against
//! a store the caller made.
//!
//! [`crate::store_conformance!`] turns every case into a test of its own; call a case directly to
//! run it under your own harness:
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! sessile::testkit::cases::round_trip_keeps_every_field(sessile::MemoryStore::new()).await;
//! # });
//! ```
//!
//! Every case works on fresh random keys and user names and passes explicit `now` values (no
//! sleeping), so cases can run in parallel against one shared table that also holds other data.
//! Ordinary cases use times around the real current time; the one case that calls
//! [`Store::delete_expired`] works twenty years in the past, so its cutoff reaches no other case's
//! records. Cases panic with a message naming the broken guarantee.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::change::{ChangeSet, Touch};
use crate::id::{SessionId, StoreKey};
use crate::record::Deadline;
use crate::record::{Device, Record, SessionData, SessionSummary};
use crate::store::{
    CreateOutcome, IncrementOutcome, Lookup, RotateOutcome, ScannedSession, Store, StoreError,
    UpdateOutcome,
};
use crate::time::{Clock, SystemClock, Timestamp};

pub use super::grace_cases::*;
pub use super::lifetime_cases::{
    change_set_sets_and_takes_back_own_lifetime, own_idle_timeout_moves_every_touch,
    revocations_keep_a_not_before_per_user,
};
pub use super::limit_cases::*;
pub use super::operation_cases::*;

pub(crate) const MINUTE: Duration = Duration::from_secs(60);
pub(crate) const HOUR: Duration = Duration::from_secs(60 * 60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
pub(crate) const IDLE: Duration = Duration::from_secs(30 * 60);
const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
pub(crate) const CONCURRENT_WRITERS: usize = 200;

/// The current time on a whole second, so layouts that keep deadlines in seconds (a Node
/// layout's `expires` column) store every deadline a case uses exactly.
pub(crate) fn now() -> Timestamp {
    let millis = SystemClock.now().as_millis();
    Timestamp::from_millis(millis - millis.rem_euclid(1000))
}

/// A key for a fresh random id in the form foreign (Node) ids take, so it carries its id in
/// clear for the layouts that store under it; sessile's own stores use its digest as always.
pub(crate) fn fresh_key() -> StoreKey {
    let id = SessionId::generate().encode();
    SessionId::foreign(&id)
        .expect("a base64url id is a valid foreign id")
        .store_key()
}

pub(crate) fn fresh_user() -> String {
    format!("conformance-{}", &fresh_key().to_hex()[..16])
}

pub(crate) fn one_ms() -> Duration {
    Duration::from_millis(1)
}

/// A record created at `at` with the default 30-minute idle and 12-hour absolute deadlines.
pub(crate) fn record_at(at: Timestamp) -> Record {
    Record {
        data: SessionData::new(),
        user: None,
        created_at: at,
        last_seen: at,
        idle_deadline: at + IDLE,
        absolute_deadline: at + ABSOLUTE,
        persistent: false,
        device: Device::default(),
        idle_timeout: None,
    }
}

pub(crate) fn touch_at(at: Timestamp) -> Touch {
    Touch {
        last_seen: at,
        idle_deadline: at + IDLE,
    }
}

pub(crate) fn data(value: Value) -> SessionData {
    match value {
        Value::Object(map) => map,
        other => panic!("test data must be a JSON object, got {other}"),
    }
}

/// `changes` with the touch every engine commit carries.
pub(crate) fn touched(mut changes: ChangeSet, at: Timestamp) -> ChangeSet {
    changes.touch = Some(touch_at(at));
    changes
}

pub(crate) fn setting(key: &str, value: Value, at: Timestamp) -> ChangeSet {
    let mut changes = ChangeSet::default();
    changes.set(key, value);
    touched(changes, at)
}

pub(crate) async fn create<S: Store + ?Sized>(store: &S, key: &StoreKey, record: &Record) {
    let outcome = store.create(key, record).await.expect("create failed");
    assert_eq!(
        outcome,
        CreateOutcome::Created,
        "create of a fresh random key must insert the record"
    );
}

pub(crate) async fn load<S: Store + ?Sized>(
    store: &S,
    key: &StoreKey,
    at: Timestamp,
) -> Option<Record> {
    store.load(key, at).await.expect("load failed")
}

pub(crate) async fn load_live<S: Store + ?Sized>(
    store: &S,
    key: &StoreKey,
    at: Timestamp,
) -> Record {
    load(store, key, at)
        .await
        .expect("a live record must load before its deadlines")
}

pub(crate) async fn update<S: Store + ?Sized>(
    store: &S,
    key: &StoreKey,
    changes: &ChangeSet,
    at: Timestamp,
) -> UpdateOutcome {
    store.update(key, changes, at).await.expect("update failed")
}

pub(crate) async fn increment<S: Store + ?Sized>(
    store: &S,
    key: &StoreKey,
    field: &str,
    by: i64,
    at: Timestamp,
) -> IncrementOutcome {
    store
        .increment(key, field, by, touch_at(at), at)
        .await
        .expect("increment failed")
}

pub(crate) async fn rotate<S: Store + ?Sized>(
    store: &S,
    from: &StoreKey,
    to: &StoreKey,
    changes: &ChangeSet,
    at: Timestamp,
) -> RotateOutcome {
    store
        .rotate(from, to, changes, at)
        .await
        .expect("rotate failed")
}

/// Every live session of `user`, paged through two at a time, so every case that lists also
/// checks that pages join up.
pub(crate) async fn list<S: Store + ?Sized>(
    store: &S,
    user: &str,
    at: Timestamp,
) -> Vec<SessionSummary> {
    list_in_pages(store, user, at, 2).await
}

async fn list_in_pages<S: Store + ?Sized>(
    store: &S,
    user: &str,
    at: Timestamp,
    limit: u32,
) -> Vec<SessionSummary> {
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let page = store
            .list_user_sessions(user, at, cursor.as_deref(), limit)
            .await
            .expect("list_user_sessions failed");
        assert!(
            page.sessions.len() <= limit as usize,
            "a listing page held {} sessions, over its limit of {limit}",
            page.sessions.len()
        );
        listed.extend(page.sessions);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return listed,
        }
    }
    panic!("a user listing never ended");
}

fn keys_of(summaries: &[SessionSummary]) -> Vec<StoreKey> {
    summaries
        .iter()
        .map(|summary| summary.key.clone())
        .collect()
}

async fn lookup<S: Store + ?Sized>(store: &S, key: &StoreKey, at: Timestamp) -> Lookup {
    store.lookup(key, at).await.expect("lookup failed")
}

/// Records past their idle deadline, their absolute deadline, both, and an idle deadline a
/// touch clamped to the absolute one, each with the deadline that ended it and when to look.
async fn expired_records<S: Store>(
    store: &S,
) -> Vec<(&'static str, StoreKey, Timestamp, Deadline)> {
    let t = now();
    let clamped = fresh_key();
    let record = Record {
        absolute_deadline: t + HOUR,
        ..record_at(t)
    };
    create(store, &clamped, &record).await;
    for at in [t + 20 * MINUTE, t + 45 * MINUTE] {
        let touch = touched(ChangeSet::default(), at);
        assert_eq!(
            update(store, &clamped, &touch, at).await,
            UpdateOutcome::Applied
        );
    }
    // Created after the updates, which may free records expired by its time (the memory store
    // frees a few on every write).
    let idle = fresh_key();
    create(store, &idle, &record_at(t)).await;
    vec![
        ("idle too long", idle.clone(), t + IDLE, Deadline::Idle),
        (
            "past both deadlines",
            idle,
            t + ABSOLUTE,
            Deadline::Absolute,
        ),
        (
            "idle deadline clamped to the absolute one",
            clamped,
            t + HOUR,
            Deadline::Absolute,
        ),
    ]
}

/// [`Store::lookup`] never answers `Live` for an expired record: it is `Expired` with the deadline
/// that passed (the absolute one when both have, or when a touch clamped the idle deadline to
/// it) or, in a store that drops records at their deadline, `Missing`. A live record is `Live`,
/// the record [`Store::load`] returns; a key never written, or deleted, is `Missing`.
pub async fn lookup_tells_live_expired_and_missing<S: Store>(store: S) {
    let t = now();
    let live = fresh_key();
    let record = record_at(t);
    create(&store, &live, &record).await;
    assert_eq!(
        lookup(&store, &live, t + IDLE - one_ms()).await,
        Lookup::Live(record.clone()),
        "a live record must be looked up as the record `create` stored"
    );
    assert_eq!(load(&store, &live, t).await, Some(record));
    assert_eq!(
        lookup(&store, &fresh_key(), t).await,
        Lookup::Missing,
        "a key never written must be missing"
    );
    assert!(store.delete(&live).await.expect("delete failed"));
    assert_eq!(
        lookup(&store, &live, t).await,
        Lookup::Missing,
        "a deleted record must be missing"
    );
    for (what, key, at, deadline) in expired_records(&store).await {
        match lookup(&store, &key, at).await {
            Lookup::Missing => {}
            Lookup::Expired(reported) => assert_eq!(
                reported, deadline,
                "a record {what} must be reported expired by the {deadline:?} deadline"
            ),
            Lookup::Live(_) => panic!("a record {what} must never be looked up as live"),
            Lookup::Forwarded { .. } => panic!("a record {what} was never rotated"),
        }
        assert_eq!(
            load(&store, &key, at).await,
            None,
            "a record {what} must not load"
        );
    }
}

/// For stores that keep expired records until cleanup (`keeps_expired`): [`Store::lookup`]
/// reports an expired record as `Expired` with the deadline that ended it, not `Missing`, so the
/// engine's events tell an expired session from one that never existed or was deleted.
pub async fn lookup_names_the_deadline_of_an_expired_record<S: Store>(store: S) {
    for (what, key, at, deadline) in expired_records(&store).await {
        assert_eq!(
            lookup(&store, &key, at).await,
            Lookup::Expired(deadline),
            "a record {what} must be reported expired by the {deadline:?} deadline"
        );
    }
}

/// Every field of a record, including the optional ones, reads back exactly as written; a key
/// never written reads as `None`.
pub async fn round_trip_keeps_every_field<S: Store>(store: S) {
    let t = now();
    let full_key = fresh_key();
    let full = Record {
        data: data(json!({
            "text": "hello",
            "number": 42,
            "negative": -7,
            "fraction": 2.5,
            "flag": true,
            "nothing": null,
            "list": [1, "two", {"three": 3}],
            "nested": {"deeper": {"deepest": [true, false]}},
        })),
        user: Some(fresh_user()),
        created_at: t - 5 * MINUTE,
        last_seen: t,
        idle_deadline: t + IDLE,
        absolute_deadline: t - 5 * MINUTE + ABSOLUTE,
        persistent: true,
        device: Device {
            user_agent: Some("Firefox on Linux".to_owned()),
            ip: Some("2001:db8::7".to_owned()),
        },
        idle_timeout: None,
    };
    create(&store, &full_key, &full).await;
    assert_eq!(
        load(&store, &full_key, t).await,
        Some(full.clone()),
        "a record must read back with every field as written"
    );

    let bare_key = fresh_key();
    let bare = Record {
        device: Device {
            user_agent: Some("curl".to_owned()),
            ip: None,
        },
        ..record_at(t)
    };
    create(&store, &bare_key, &bare).await;
    assert_eq!(
        load(&store, &bare_key, t).await,
        Some(bare),
        "a record without user, ip or data must read back as written"
    );
    assert_eq!(
        load(&store, &full_key, t).await,
        Some(full),
        "creating one record must not change another"
    );
    assert_eq!(
        load(&store, &fresh_key(), t).await,
        None,
        "an unknown key loads as None"
    );
}

/// A record is live strictly before its idle deadline and gone from it on; a touch moves the
/// idle deadline forward.
pub async fn idle_deadline_expires_record<S: Store>(store: S) {
    let t = now();
    let untouched = fresh_key();
    let record = record_at(t);
    create(&store, &untouched, &record).await;
    assert_eq!(
        load(&store, &untouched, t + IDLE - one_ms()).await,
        Some(record)
    );
    assert_eq!(
        load(&store, &untouched, t + IDLE).await,
        None,
        "a record must not load once `now` reaches its idle deadline"
    );
    assert_eq!(load(&store, &untouched, t + 2 * IDLE).await, None);

    let touched_key = fresh_key();
    create(&store, &touched_key, &record_at(t)).await;
    let touch_only = touched(ChangeSet::default(), t + 20 * MINUTE);
    assert_eq!(
        update(&store, &touched_key, &touch_only, t + 20 * MINUTE).await,
        UpdateOutcome::Applied
    );
    let loaded = load(&store, &touched_key, t + IDLE + 10 * MINUTE)
        .await
        .expect("a touch must move the idle deadline forward");
    assert_eq!(loaded.last_seen, t + 20 * MINUTE);
    assert_eq!(loaded.idle_deadline, t + 20 * MINUTE + IDLE);
    assert_eq!(loaded.created_at, t, "a touch keeps created_at");
    assert_eq!(
        load(&store, &touched_key, t + 20 * MINUTE + IDLE).await,
        None
    );
}

/// Touches by `update` and `increment` never move the idle deadline past the absolute one, and
/// the record dies at its absolute deadline however active it is.
pub async fn absolute_deadline_caps_every_touch<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let record = Record {
        absolute_deadline: t + HOUR,
        ..record_at(t)
    };
    create(&store, &key, &record).await;

    let at = t + 20 * MINUTE;
    assert_eq!(
        update(&store, &key, &setting("step", json!(1), at), at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(load_live(&store, &key, at).await.idle_deadline, at + IDLE);
    let at = t + 45 * MINUTE;
    assert_eq!(
        update(&store, &key, &setting("step", json!(2), at), at).await,
        UpdateOutcome::Applied
    );
    let loaded = load_live(&store, &key, at).await;
    assert_eq!(
        loaded.idle_deadline,
        t + HOUR,
        "a touch past the absolute deadline is clamped to it"
    );
    assert_eq!(
        loaded.absolute_deadline,
        t + HOUR,
        "the absolute deadline never moves"
    );

    let at = t + 59 * MINUTE;
    assert_eq!(
        increment(&store, &key, "hits", 1, at).await,
        IncrementOutcome::Value(1)
    );
    let loaded = load_live(&store, &key, t + HOUR - one_ms()).await;
    assert_eq!(
        loaded.idle_deadline,
        t + HOUR,
        "increment clamps its touch too"
    );
    assert_eq!(loaded.last_seen, at);

    assert_eq!(
        load(&store, &key, t + HOUR).await,
        None,
        "a record must not load once `now` reaches its absolute deadline"
    );
    let late = t + HOUR + MINUTE;
    assert_eq!(
        update(&store, &key, &setting("step", json!(3), late), late).await,
        UpdateOutcome::Gone,
        "an update past the absolute deadline must find nothing"
    );
}

/// An expired record is never updated, incremented or rotated: each reports `Gone`, writes
/// nothing and creates nothing.
pub async fn expired_record_is_never_changed<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let record = Record {
        data: data(json!({"a": 1})),
        ..record_at(t)
    };
    create(&store, &key, &record).await;
    let late = t + IDLE + MINUTE;

    assert_eq!(
        update(&store, &key, &setting("a", json!(2), late), late).await,
        UpdateOutcome::Gone,
        "update of an expired record"
    );
    assert_eq!(
        increment(&store, &key, "a", 1, late).await,
        IncrementOutcome::Gone,
        "increment of an expired record"
    );
    let target = fresh_key();
    assert_eq!(
        rotate(&store, &key, &target, &setting("a", json!(3), late), late).await,
        RotateOutcome::Gone,
        "rotate of an expired record"
    );
    assert_eq!(load(&store, &target, late).await, None);
    assert_eq!(
        load(&store, &target, t).await,
        None,
        "rotating an expired record must not create the target"
    );
    // Looking back to a time the record was live shows it unchanged, unless cleanup freed it.
    match load(&store, &key, t).await {
        None => {}
        Some(seen) => assert_eq!(seen, record, "an expired record must never be changed"),
    }
    assert_eq!(load(&store, &key, late).await, None);
}

/// After `delete`, every write reports `Gone` and nothing exists again under either key.
pub async fn deleted_session_is_never_resurrected<S: Store>(store: S) {
    let t = now();
    let user = fresh_user();
    let key = fresh_key();
    let record = Record {
        data: data(json!({"cart": [1, 2]})),
        user: Some(user.clone()),
        ..record_at(t)
    };
    create(&store, &key, &record).await;
    assert!(
        store.delete(&key).await.expect("delete failed"),
        "delete of a live record"
    );

    let at = t + MINUTE;
    assert_eq!(
        update(&store, &key, &setting("cart", json!([3]), at), at).await,
        UpdateOutcome::Gone,
        "update after delete must not recreate the record"
    );
    assert_eq!(
        increment(&store, &key, "hits", 1, at).await,
        IncrementOutcome::Gone,
        "increment after delete must not recreate the record"
    );
    let target = fresh_key();
    assert_eq!(
        rotate(&store, &key, &target, &setting("x", json!(1), at), at).await,
        RotateOutcome::Gone,
        "rotate after delete must not create the target"
    );
    assert_eq!(
        load(&store, &key, at).await,
        None,
        "nothing under the deleted key"
    );
    assert_eq!(
        load(&store, &target, at).await,
        None,
        "nothing under the rotation target"
    );
    assert!(
        list(&store, &user, at).await.is_empty(),
        "nothing in the user's index"
    );
    assert!(
        !store.delete(&key).await.expect("delete failed"),
        "a second delete finds nothing"
    );
    assert!(!store.delete(&target).await.expect("delete failed"));
}

/// 200 concurrent updates, each setting its own key, all persist; a key every writer sets ends
/// with one of the written values.
pub async fn concurrent_updates_of_different_keys_all_persist<S: Store>(store: S) {
    let store = Arc::new(store);
    let t = now();
    let key = fresh_key();
    create(&*store, &key, &record_at(t)).await;
    let at = t + MINUTE;

    let mut writers = JoinSet::new();
    for writer in 0..CONCURRENT_WRITERS {
        let store = store.clone();
        let key = key.clone();
        writers.spawn(async move {
            let mut changes = ChangeSet::default();
            changes.set(format!("key-{writer}"), json!(writer));
            changes.set("last", json!(writer));
            let changes = touched(changes, at);
            store.update(&key, &changes, at).await
        });
    }
    while let Some(joined) = writers.join_next().await {
        let outcome = joined
            .expect("update task panicked")
            .expect("update failed");
        assert_eq!(outcome, UpdateOutcome::Applied);
    }

    let loaded = load_live(&*store, &key, at).await;
    for writer in 0..CONCURRENT_WRITERS {
        assert_eq!(
            loaded.data.get(&format!("key-{writer}")),
            Some(&json!(writer)),
            "concurrent updates of different keys must all persist (lost key-{writer})"
        );
    }
    let last = loaded.data.get("last").and_then(Value::as_u64);
    assert!(
        last.is_some_and(|last| last < CONCURRENT_WRITERS as u64),
        "a key written by every writer holds one of their values, got {last:?}"
    );
    assert_eq!(loaded.data.len(), CONCURRENT_WRITERS + 1);
}

/// 200 concurrent increments by one add 200, and each returns a distinct value.
pub async fn concurrent_increments_add_up<S: Store>(store: S) {
    let store = Arc::new(store);
    let t = now();
    let key = fresh_key();
    create(&*store, &key, &record_at(t)).await;
    let at = t + MINUTE;

    let mut incrementers = JoinSet::new();
    for _ in 0..CONCURRENT_WRITERS {
        let store = store.clone();
        let key = key.clone();
        incrementers.spawn(async move { store.increment(&key, "hits", 1, touch_at(at), at).await });
    }
    let mut seen = BTreeSet::new();
    while let Some(joined) = incrementers.join_next().await {
        match joined
            .expect("increment task panicked")
            .expect("increment failed")
        {
            IncrementOutcome::Value(value) => {
                assert!(
                    seen.insert(value),
                    "two increments returned the same value {value}"
                )
            }
            other => panic!("increment of a live record returned {other:?}"),
        }
    }
    let expected: BTreeSet<i64> = (1..=CONCURRENT_WRITERS as i64).collect();
    assert_eq!(seen, expected, "each increment returns the value after it");
    let loaded = load_live(&*store, &key, at).await;
    assert_eq!(loaded.data.get("hits"), Some(&json!(CONCURRENT_WRITERS)));
}

/// Concurrent increments of many sessions at once, as a store that commits increments together
/// (in batches) sees them, each get their own outcome: every session's increments return
/// distinct values and add up exactly, whatever else shares their commit; increments of
/// deleted, expired and missing sessions are `Gone` and create nothing; increments of a string
/// or a fraction are `NotAnInteger` and change nothing; increments that would pass `i64::MAX`
/// are refused while the others on the same session apply; the touch is applied and capped by
/// the absolute deadline.
pub async fn concurrent_increments_of_many_sessions_get_their_own_outcomes<S: Store>(store: S) {
    increments_of_many_sessions(store, true).await;
}

/// The body of [`concurrent_increments_of_many_sessions_get_their_own_outcomes`]; with
/// `absolute_deadlines` false (layouts that keep one deadline only, such as the Node formats),
/// no session's absolute deadline falls before the touch, so the cap is not checked.
pub(crate) async fn increments_of_many_sessions<S: Store>(store: S, absolute_deadlines: bool) {
    const COUNTED: usize = 8;
    const ROUNDS: i64 = 25;
    const SIDE_ROUNDS: i64 = 5;
    const NEAR_MAX_TRIES: i64 = 10;
    let store = Arc::new(store);
    let t = now();
    let at = t + MINUTE;
    let capped = t + 10 * MINUTE;

    // Counted sessions: "n" absent, null or an integer to start from; "m" absent.
    let counted: Vec<StoreKey> = (0..COUNTED).map(|_| fresh_key()).collect();
    for (index, key) in counted.iter().enumerate() {
        let start = match index {
            0 => json!({}),
            1 => json!({"n": null}),
            _ => json!({"n": -(index as i64) * 1000, "keep": "x"}),
        };
        let record = Record {
            data: data(start),
            // One session's absolute deadline comes before the touch's idle deadline.
            absolute_deadline: if index == 0 && absolute_deadlines {
                capped
            } else {
                t + ABSOLUTE
            },
            ..record_at(t)
        };
        create(&*store, key, &record).await;
    }
    let start = |index: usize| if index < 2 { 0 } else { -(index as i64) * 1000 };

    let deleted = fresh_key();
    create(&*store, &deleted, &record_at(t)).await;
    assert!(store.delete(&deleted).await.expect("delete failed"));
    let expired = fresh_key();
    create(&*store, &expired, &record_at(t - HOUR)).await;
    let missing = fresh_key();
    let gone = [deleted, expired, missing];

    let not_integers: Vec<(StoreKey, Value)> = [json!("7"), json!(1.5)]
        .into_iter()
        .map(|value| (fresh_key(), value))
        .collect();
    for (key, value) in &not_integers {
        let record = Record {
            data: data(json!({"n": value})),
            ..record_at(t)
        };
        create(&*store, key, &record).await;
    }

    let near_max = fresh_key();
    let record = Record {
        data: data(json!({"n": i64::MAX - 3})),
        ..record_at(t)
    };
    create(&*store, &near_max, &record).await;

    // Every increment at once, interleaved so that each batch a store forms mixes outcomes.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    enum Target {
        Counted(usize, &'static str),
        Gone(usize),
        NotInteger(usize),
        NearMax,
    }
    let mut jobs = Vec::new();
    for round in 0..ROUNDS {
        for index in 0..COUNTED {
            jobs.push(Target::Counted(index, "n"));
            if round < SIDE_ROUNDS {
                jobs.push(Target::Counted(index, "m"));
            }
        }
        if round < SIDE_ROUNDS {
            jobs.extend((0..gone.len()).map(Target::Gone));
            jobs.extend((0..not_integers.len()).map(Target::NotInteger));
        }
        if round < NEAR_MAX_TRIES {
            jobs.push(Target::NearMax);
        }
    }
    let mut incrementers = JoinSet::new();
    for target in jobs {
        let store = store.clone();
        let key = match target {
            Target::Counted(index, _) => counted[index].clone(),
            Target::Gone(index) => gone[index].clone(),
            Target::NotInteger(index) => not_integers[index].0.clone(),
            Target::NearMax => near_max.clone(),
        };
        let field = match target {
            Target::Counted(_, field) => field,
            _ => "n",
        };
        incrementers.spawn(async move {
            let outcome = store.increment(&key, field, 1, touch_at(at), at).await;
            (target, outcome)
        });
    }

    let mut values: std::collections::BTreeMap<Target, Vec<i64>> = Default::default();
    let mut refused: std::collections::BTreeMap<Target, i64> = Default::default();
    while let Some(joined) = incrementers.join_next().await {
        let (target, outcome) = joined.expect("increment task panicked");
        let outcome = outcome.expect("increment failed");
        match (target, outcome) {
            (Target::Counted(..) | Target::NearMax, IncrementOutcome::Value(value)) => {
                values.entry(target).or_default().push(value)
            }
            (Target::Gone(_), IncrementOutcome::Gone)
            | (Target::NotInteger(_) | Target::NearMax, IncrementOutcome::NotAnInteger) => {
                *refused.entry(target).or_default() += 1
            }
            (target, outcome) => panic!("increment of {target:?} returned {outcome:?}"),
        }
    }

    for (index, key) in counted.iter().enumerate() {
        for (field, rounds, from) in [("n", ROUNDS, start(index)), ("m", SIDE_ROUNDS, 0)] {
            let mut returned = values
                .remove(&Target::Counted(index, field))
                .unwrap_or_default();
            returned.sort_unstable();
            let expected: Vec<i64> = (from + 1..=from + rounds).collect();
            assert_eq!(
                returned, expected,
                "the increments of {field:?} on session {index} must each return the value after \
                 it, whatever other sessions they were committed with"
            );
        }
        let loaded = load_live(&*store, key, at).await;
        assert_eq!(loaded.data.get("n"), Some(&json!(start(index) + ROUNDS)));
        assert_eq!(loaded.data.get("m"), Some(&json!(SIDE_ROUNDS)));
        if index >= 2 {
            assert_eq!(
                loaded.data.get("keep"),
                Some(&json!("x")),
                "other keys stay"
            );
        }
        assert_eq!(loaded.last_seen, at, "increments apply their touch");
        let idle_deadline = if index == 0 && absolute_deadlines {
            capped
        } else {
            at + IDLE
        };
        assert_eq!(
            loaded.idle_deadline, idle_deadline,
            "the touch of an increment is capped by the absolute deadline"
        );
    }

    for (index, key) in gone.iter().enumerate() {
        assert_eq!(refused.get(&Target::Gone(index)), Some(&SIDE_ROUNDS));
        assert_eq!(
            load(&*store, key, at).await,
            None,
            "increments of a deleted, expired or missing session must create nothing"
        );
    }
    for (index, (key, value)) in not_integers.iter().enumerate() {
        assert_eq!(refused.get(&Target::NotInteger(index)), Some(&SIDE_ROUNDS));
        let loaded = load_live(&*store, key, at).await;
        assert_eq!(
            loaded.data,
            data(json!({"n": value})),
            "refused increments must change nothing"
        );
    }

    let mut returned = values.remove(&Target::NearMax).unwrap_or_default();
    returned.sort_unstable();
    assert_eq!(
        returned,
        [i64::MAX - 2, i64::MAX - 1, i64::MAX],
        "increments up to i64::MAX apply"
    );
    assert_eq!(
        refused.get(&Target::NearMax),
        Some(&(NEAR_MAX_TRIES - 3)),
        "increments past i64::MAX are refused"
    );
    let loaded = load_live(&*store, &near_max, at).await;
    assert_eq!(loaded.data.get("n"), Some(&json!(i64::MAX)));
}

/// `increment` follows [`crate::change::incremented`]: absent and null count as 0; strings
/// (even numeric ones), fractions and overflow are `NotAnInteger` and change nothing. It applies
/// its touch.
pub async fn increment_follows_the_integer_rule<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let original = data(json!({
        "text": "x",
        "numeric_text": "5",
        "fraction": 1.5,
        "max": i64::MAX,
        "null": null,
        "negative": -3,
        "flag": true,
        "min": i64::MIN,
        // Past 2^53, where a double (Lua, JavaScript) can no longer hold every integer.
        "big": 9_007_199_254_740_993_i64,
    }));
    let record = Record {
        data: original.clone(),
        ..record_at(t)
    };
    create(&store, &key, &record).await;
    let at = t + 20 * MINUTE;

    assert_eq!(
        increment(&store, &key, "absent", 5, at).await,
        IncrementOutcome::Value(5)
    );
    assert_eq!(
        increment(&store, &key, "absent", -2, at).await,
        IncrementOutcome::Value(3)
    );
    assert_eq!(
        increment(&store, &key, "negative", 3, at).await,
        IncrementOutcome::Value(0)
    );
    assert_eq!(
        increment(&store, &key, "null", 2, at).await,
        IncrementOutcome::Value(2)
    );
    assert_eq!(
        increment(&store, &key, "big", 1, at).await,
        IncrementOutcome::Value(9_007_199_254_740_994),
        "increments past 2^53 must stay exact"
    );
    assert_eq!(
        increment(&store, &key, "min", -1, at).await,
        IncrementOutcome::NotAnInteger,
        "i64::MIN - 1 overflows"
    );
    for field in ["text", "numeric_text", "fraction", "max", "flag"] {
        assert_eq!(
            increment(&store, &key, field, 1, at).await,
            IncrementOutcome::NotAnInteger,
            "increment of {field:?} ({}) must be NotAnInteger",
            original[field]
        );
    }

    let loaded = load(&store, &key, t + IDLE + MINUTE)
        .await
        .expect("increment must apply its touch");
    assert_eq!(loaded.last_seen, at);
    let mut expected = original;
    expected.insert("absent".into(), json!(3));
    expected.insert("negative".into(), json!(0));
    expected.insert("null".into(), json!(2));
    expected.insert("big".into(), json!(9_007_199_254_740_994_i64));
    assert_eq!(
        loaded.data, expected,
        "refused increments must change nothing"
    );
}

/// `rotate` moves the record to the new key with the changes applied, keeping data, user,
/// device, `created_at` and the absolute deadline; the old key is dead for every operation and
/// the user's index follows the move.
pub async fn rotate_keeps_data_and_deadlines<S: Store>(store: S) {
    let t = now();
    let user = fresh_user();
    let from = fresh_key();
    let record = Record {
        data: data(json!({"a": 1, "b": 2})),
        user: Some(user.clone()),
        created_at: t - HOUR,
        absolute_deadline: t - HOUR + ABSOLUTE,
        persistent: true,
        device: Device {
            user_agent: Some("Safari on iOS".to_owned()),
            ip: None,
        },
        ..record_at(t)
    };
    create(&store, &from, &record).await;

    let at = t + MINUTE;
    let mut changes = ChangeSet::default();
    changes.set("c", json!(3));
    changes.remove("b");
    let changes = touched(changes, at);
    let to = fresh_key();
    assert_eq!(
        rotate(&store, &from, &to, &changes, at).await,
        RotateOutcome::Rotated
    );

    let mut expected = record;
    changes
        .apply_to(&mut expected)
        .expect("plain changes apply");
    assert_eq!(
        load(&store, &to, at).await,
        Some(expected),
        "the rotated record keeps everything, with the changes applied"
    );
    assert_eq!(
        load(&store, &from, at).await,
        None,
        "the old key is dead after rotate"
    );
    assert_eq!(
        update(&store, &from, &setting("a", json!(9), at), at).await,
        UpdateOutcome::Gone
    );
    assert_eq!(
        increment(&store, &from, "a", 1, at).await,
        IncrementOutcome::Gone
    );
    assert_eq!(
        keys_of(&list(&store, &user, at).await),
        vec![to.clone()],
        "the user's index lists the new key only"
    );
    assert_eq!(load_live(&store, &to, at).await.data["a"], json!(1));
}

/// A rotation onto a key that holds a live record reports `Collision` and changes neither.
pub async fn rotate_collision_changes_nothing<S: Store>(store: S) {
    let t = now();
    let (from, taken) = (fresh_key(), fresh_key());
    let from_record = Record {
        data: data(json!({"owner": "from"})),
        ..record_at(t)
    };
    let taken_record = Record {
        data: data(json!({"owner": "taken"})),
        ..record_at(t)
    };
    create(&store, &from, &from_record).await;
    create(&store, &taken, &taken_record).await;

    let at = t + MINUTE;
    assert_eq!(
        rotate(&store, &from, &taken, &setting("x", json!(1), at), at).await,
        RotateOutcome::Collision,
        "rotate onto a live key"
    );
    assert_eq!(
        load(&store, &from, at).await,
        Some(from_record),
        "the source is untouched"
    );
    assert_eq!(
        load(&store, &taken, at).await,
        Some(taken_record),
        "the target is untouched"
    );
}

/// `update` changes persistence, device and user as the change set says, and a change set with
/// only a touch (the engine's periodic refresh) moves just the activity times.
pub async fn update_changes_metadata_and_touch<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let mut expected = Record {
        data: data(json!({"keep": "me"})),
        user: Some(fresh_user()),
        ..record_at(t)
    };
    create(&store, &key, &expected).await;

    let at = t + MINUTE;
    let changes = touched(
        ChangeSet {
            persistent: Some(true),
            device: Some(Device {
                user_agent: Some("Edge on Windows".to_owned()),
                ip: Some("192.0.2.1".to_owned()),
            }),
            ..ChangeSet::default()
        },
        at,
    );
    assert_eq!(
        update(&store, &key, &changes, at).await,
        UpdateOutcome::Applied
    );
    changes
        .apply_to(&mut expected)
        .expect("plain changes apply");
    assert_eq!(load(&store, &key, at).await, Some(expected.clone()));

    let at = t + 2 * MINUTE;
    let changes = touched(
        ChangeSet {
            user: Some(None),
            persistent: Some(false),
            ..ChangeSet::default()
        },
        at,
    );
    assert_eq!(
        update(&store, &key, &changes, at).await,
        UpdateOutcome::Applied
    );
    changes
        .apply_to(&mut expected)
        .expect("plain changes apply");
    assert_eq!(load(&store, &key, at).await, Some(expected.clone()));

    let at = t + 10 * MINUTE;
    let touch_only = touched(ChangeSet::default(), at);
    assert_eq!(
        update(&store, &key, &touch_only, at).await,
        UpdateOutcome::Applied
    );
    touch_only.apply_to(&mut expected).expect("a touch applies");
    assert_eq!(
        load(&store, &key, at).await,
        Some(expected),
        "a touch-only update moves last_seen and the idle deadline, nothing else"
    );
}

/// The per-user listing shows only the user's live sessions, oldest first, with their summaries.
pub async fn user_index_lists_live_sessions_oldest_first<S: Store>(store: S) {
    let t = now();
    let (user, other_user) = (fresh_user(), fresh_user());
    let owned = |created: Timestamp, user: &str| Record {
        data: data(json!({"secret": "not in summaries"})),
        user: Some(user.to_owned()),
        device: Device {
            user_agent: Some(format!("agent {}", created.as_millis())),
            ip: None,
        },
        ..record_at(created)
    };
    let expired_key = fresh_key();
    let expired = Record {
        idle_deadline: t - HOUR + MINUTE,
        ..owned(t - HOUR, &user)
    };
    let sessions = [
        (fresh_key(), owned(t - 3 * MINUTE, &user)),
        (fresh_key(), owned(t - 2 * MINUTE, &user)),
        (fresh_key(), owned(t - MINUTE, &user)),
    ];
    let other_key = fresh_key();
    let other = owned(t, &other_user);

    create(&store, &expired_key, &expired).await;
    // Created newest first, so insertion order cannot pass for creation order.
    for (key, record) in sessions.iter().rev() {
        create(&store, key, record).await;
    }
    create(&store, &other_key, &other).await;

    let listed = list(&store, &user, t).await;
    let expected: Vec<SessionSummary> = sessions
        .iter()
        .map(|(key, record)| SessionSummary::of(key.clone(), record))
        .collect();
    assert_eq!(
        listed, expected,
        "the listing holds the user's live sessions only, oldest first"
    );
    assert_eq!(
        list(&store, &other_user, t).await,
        vec![SessionSummary::of(other_key, &other)]
    );
    assert!(list(&store, &fresh_user(), t).await.is_empty());
    assert_eq!(
        keys_of(&list(&store, &user, t - 3 * MINUTE + IDLE).await),
        vec![sessions[1].0.clone(), sessions[2].0.clone()],
        "a session drops out of the listing when it expires"
    );
}

/// `delete_user_sessions` deletes the user's sessions except `keep`, counts them, and leaves
/// other users alone; `delete` drops a session from the index.
pub async fn delete_user_sessions_keeps_one<S: Store>(store: S) {
    let t = now();
    let (user, other_user) = (fresh_user(), fresh_user());
    let owned = |user: &str| Record {
        user: Some(user.to_owned()),
        ..record_at(t)
    };
    let (first, kept, third) = (fresh_key(), fresh_key(), fresh_key());
    for key in [&first, &kept, &third] {
        create(&store, key, &owned(&user)).await;
    }
    let other_key = fresh_key();
    create(&store, &other_key, &owned(&other_user)).await;

    let deleted = store
        .delete_user_sessions(&user, Some(&kept))
        .await
        .expect("delete_user_sessions failed");
    assert_eq!(deleted, 2, "all of the user's sessions but the kept one");
    assert_eq!(load(&store, &first, t).await, None);
    assert_eq!(load(&store, &third, t).await, None);
    assert!(
        load(&store, &kept, t).await.is_some(),
        "the kept session survives"
    );
    assert!(
        load(&store, &other_key, t).await.is_some(),
        "other users are untouched"
    );
    assert_eq!(keys_of(&list(&store, &user, t).await), vec![kept.clone()]);

    let deleted = store
        .delete_user_sessions(&user, None)
        .await
        .expect("delete_user_sessions failed");
    assert_eq!(deleted, 1);
    assert_eq!(load(&store, &kept, t).await, None);
    assert!(list(&store, &user, t).await.is_empty());
    let nobody = fresh_user();
    assert_eq!(
        store
            .delete_user_sessions(&nobody, None)
            .await
            .expect("delete_user_sessions failed"),
        0
    );

    assert!(store.delete(&other_key).await.expect("delete failed"));
    assert!(
        list(&store, &other_user, t).await.is_empty(),
        "delete removes the session from the user's index"
    );
}

/// Changing the user with `update` moves the session between users' listings; a stale index
/// entry never lets the old user's revocation delete the session.
pub async fn user_change_moves_session_between_users<S: Store>(store: S) {
    let t = now();
    let (alice, bob) = (fresh_user(), fresh_user());
    let key = fresh_key();
    let record = Record {
        user: Some(alice.clone()),
        ..record_at(t)
    };
    create(&store, &key, &record).await;

    let at = t + MINUTE;
    let to_bob = touched(
        ChangeSet {
            user: Some(Some(bob.clone())),
            ..ChangeSet::default()
        },
        at,
    );
    assert_eq!(
        update(&store, &key, &to_bob, at).await,
        UpdateOutcome::Applied
    );
    assert!(
        list(&store, &alice, at).await.is_empty(),
        "the session left alice's listing"
    );
    assert_eq!(keys_of(&list(&store, &bob, at).await), vec![key.clone()]);
    assert_eq!(
        load_live(&store, &key, at).await.user.as_deref(),
        Some(bob.as_str())
    );
    assert_eq!(
        store
            .delete_user_sessions(&alice, None)
            .await
            .expect("delete_user_sessions failed"),
        0,
        "revoking alice must not delete a session that now belongs to bob"
    );
    assert!(load(&store, &key, at).await.is_some());

    let signed_out = touched(
        ChangeSet {
            user: Some(None),
            ..ChangeSet::default()
        },
        at,
    );
    assert_eq!(
        update(&store, &key, &signed_out, at).await,
        UpdateOutcome::Applied
    );
    assert!(
        list(&store, &bob, at).await.is_empty(),
        "signing out leaves every listing"
    );
    assert_eq!(load_live(&store, &key, at).await.user, None);

    let back_to_alice = touched(
        ChangeSet {
            user: Some(Some(alice.clone())),
            ..ChangeSet::default()
        },
        at,
    );
    assert_eq!(
        update(&store, &key, &back_to_alice, at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(keys_of(&list(&store, &alice, at).await), vec![key]);
    assert!(list(&store, &bob, at).await.is_empty());
}

/// `delete_expired` deletes only records expired (by either deadline) before its `now`, at most
/// `limit` per call, and a caller looping until a call returns less than `limit` gets them all.
///
/// It works twenty years in the past so its cutoff reaches no other test's records. Its
/// surviving records stay live in real time too, so a real-time cleanup running at the same
/// time does not disturb it; a real-time cleanup could still take some of its expired records
/// before the first batch, so do not run one against the same table concurrently.
pub async fn delete_expired_removes_only_expired_in_batches<S: Store>(store: S) {
    const LIMIT: u32 = 3;
    let real_now = now();
    let base = real_now - 20 * 365 * DAY;
    let cutoff = base + DAY;

    let mut expired = Vec::new();
    for _ in 0..7 {
        let key = fresh_key();
        let record = Record {
            idle_deadline: base + HOUR,
            ..record_at(base)
        };
        create(&store, &key, &record).await;
        expired.push(key);
    }
    let absolute_expired = fresh_key();
    let record = Record {
        idle_deadline: real_now + DAY,
        absolute_deadline: base + 2 * HOUR,
        ..record_at(base)
    };
    create(&store, &absolute_expired, &record).await;
    expired.push(absolute_expired);

    let mut live = Vec::new();
    for _ in 0..2 {
        let key = fresh_key();
        let record = Record {
            idle_deadline: real_now + DAY,
            absolute_deadline: real_now + DAY,
            user: Some(fresh_user()),
            ..record_at(base)
        };
        create(&store, &key, &record).await;
        live.push(key);
    }

    let first = store
        .delete_expired(cutoff, LIMIT)
        .await
        .expect("delete_expired failed");
    assert_eq!(
        first,
        u64::from(LIMIT),
        "with more expired records than the limit, one call deletes exactly `limit`"
    );
    let mut total = first;
    let mut calls = 1;
    loop {
        let deleted = store
            .delete_expired(cutoff, LIMIT)
            .await
            .expect("delete_expired failed");
        assert!(
            deleted <= u64::from(LIMIT),
            "one call deleted {deleted}, over the limit"
        );
        total += deleted;
        calls += 1;
        if deleted < u64::from(LIMIT) {
            break;
        }
        assert!(calls < 1_000, "delete_expired keeps reporting full batches");
    }
    assert!(
        total >= expired.len() as u64,
        "the batches deleted {total} records, fewer than the {} this case expired",
        expired.len()
    );

    for key in &expired {
        assert!(
            !store.delete(key).await.expect("delete failed"),
            "an expired record survived delete_expired"
        );
    }
    for key in &live {
        assert!(
            load(&store, key, cutoff).await.is_some(),
            "delete_expired deleted a record that was live at its `now`"
        );
        assert!(store.delete(key).await.expect("delete failed"));
    }
}

/// [`Store::count_live`] counts the sessions live at its `now` and no expired one, or is
/// [`StoreError::Unsupported`]. The case's sessions expire a century ahead, at a random second
/// (other cases and runs share the store), and it counts by differences over their window:
/// three live at its start, two a moment later, none after the last deadline.
pub async fn count_live_counts_live_sessions_only<S: Store>(store: S) {
    let start = now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let spread = u32::from_be_bytes(fresh_key().as_bytes()[..4].try_into().unwrap());
    let start = start + Duration::from_secs(u64::from(spread % 300_000_000));
    let after = |seconds: u64| start + Duration::from_secs(seconds);
    match store.count_live(after(40)).await {
        Err(StoreError::Unsupported(_)) => return,
        other => {
            other.expect("count_live failed");
        }
    }
    let created_at = now();
    let mut keys = Vec::new();
    for seconds in [10, 20, 30] {
        let key = fresh_key();
        let record = Record {
            idle_deadline: after(seconds),
            absolute_deadline: after(seconds),
            ..record_at(created_at)
        };
        create(&store, &key, &record).await;
        keys.push(key);
    }
    let count = |at: Timestamp| {
        let store = &store;
        async move { store.count_live(at).await.expect("count_live failed") }
    };
    // Sessions past the window (another run's) may come and go meanwhile: count again until
    // the baseline held still around the window's counts.
    let mut attempts = 0;
    let (at_start, mid_window, at_last) = loop {
        let beyond = count(after(40)).await;
        let counts = (
            count(start).await,
            count(after(15)).await,
            count(after(30)).await,
        );
        attempts += 1;
        if count(after(40)).await == beyond || attempts == 20 {
            break (
                counts.0 - beyond.min(counts.0),
                counts.1 - beyond.min(counts.1),
                counts.2 - beyond.min(counts.2),
            );
        }
    };
    assert_eq!(at_start, 3, "count_live missed sessions live at its `now`");
    assert_eq!(
        mid_window, 2,
        "count_live counted a session expired at its `now`"
    );
    assert_eq!(
        at_last, 0,
        "count_live counted a session whose deadline is its `now` (expired)"
    );
    for key in &keys {
        assert!(store.delete(key).await.expect("delete failed"));
    }
}

/// [`Store::list_user_sessions`] pages through a user's live sessions oldest first (creation
/// time, then key): across pages each session that stays live is listed exactly once, in
/// order, whatever is created or deleted between pages; a page never exceeds its limit; a
/// cursor the store never gave is an error, not a page.
pub async fn user_listing_pages_hold_each_session_once_oldest_first<S: Store>(store: S) {
    const LIMIT: u32 = 3;
    let t = now();
    let user = fresh_user();
    let owned = |created: Timestamp| Record {
        user: Some(user.clone()),
        ..record_at(created)
    };
    let mut expected: Vec<(StoreKey, Record)> = (0..8u64)
        .map(|n| {
            // Two sessions share a creation time: the key breaks the tie.
            let created = t - Duration::from_millis(1000 * (8 - n.min(6)));
            (fresh_key(), owned(created))
        })
        .collect();
    // Created in an order that is neither creation order nor its reverse.
    for index in [3, 0, 7, 5, 1, 6, 2, 4] {
        let (key, record) = &expected[index];
        create(&store, key, record).await;
    }
    let other = fresh_key();
    create(&store, &other, &record_at(t)).await;
    expected.sort_by(|(a_key, a), (b_key, b)| (a.created_at, a_key).cmp(&(b.created_at, b_key)));

    let mut listed: Vec<SessionSummary> = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 0.. {
        assert!(page_number < 1_000, "the listing never ends");
        let page = store
            .list_user_sessions(&user, t, cursor.as_deref(), LIMIT)
            .await
            .expect("list_user_sessions failed");
        assert!(
            page.sessions.len() <= LIMIT as usize,
            "a listing page held {} sessions, over its limit of {LIMIT}",
            page.sessions.len()
        );
        listed.extend(page.sessions);
        // Sessions of the same user come and go between pages: ours are neither lost nor
        // listed twice.
        let passing = fresh_key();
        create(&store, &passing, &owned(t - 7 * MINUTE)).await;
        assert!(store.delete(&passing).await.expect("delete failed"));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let listed_keys = keys_of(&listed);
    let expected_keys: Vec<StoreKey> = expected.iter().map(|(key, _)| key.clone()).collect();
    assert_eq!(
        listed_keys, expected_keys,
        "pages must list each live session of the user once, oldest first"
    );
    assert_eq!(
        listed[0],
        SessionSummary::of(expected[0].0.clone(), &expected[0].1),
        "a listed session's summary is its record's"
    );
    assert!(
        store
            .list_user_sessions(&user, t, Some("no cursor of this store"), LIMIT)
            .await
            .is_err(),
        "a cursor the store never gave must be refused"
    );
}

/// [`Store::scan`] pages through every session: each of this case's live sessions exactly once,
/// with its user, times and device, however many sessions are created and deleted between
/// pages; a deleted session never; no page over the limit.
pub async fn scan_reports_every_session_exactly_once<S: Store>(store: S) {
    scan_exactly_once(store, |summary| summary).await;
}

/// The scan case, comparing what `kept` leaves of each summary (all of it, or the part a
/// Node layout keeps).
pub(crate) async fn scan_exactly_once<S: Store>(
    store: S,
    kept: impl Fn(SessionSummary) -> SessionSummary,
) {
    const LIMIT: u32 = 4;
    let t = now();
    let user = fresh_user();
    let mut expected = Vec::new();
    for n in 0..7u32 {
        let key = fresh_key();
        let mut record = Record {
            user: (n % 2 == 0).then(|| user.clone()),
            ..record_at(t + Duration::from_millis(u64::from(n) * 1000))
        };
        if n == 3 {
            record.device = Device::new(Some("Firefox on Linux".into()), None);
        }
        create(&store, &key, &record).await;
        expected.push((key, record));
    }
    let deleted = fresh_key();
    create(&store, &deleted, &record_at(t)).await;
    assert!(store.delete(&deleted).await.expect("delete failed"));

    let mut seen: Vec<ScannedSession> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0u32;
    loop {
        let page = store
            .scan(cursor.as_deref(), LIMIT)
            .await
            .expect("scan failed");
        assert!(
            page.sessions.len() <= LIMIT as usize,
            "a scan page held {} sessions, over its limit of {LIMIT}",
            page.sessions.len()
        );
        seen.extend(page.sessions);
        // Sessions come and go between pages; the scan must neither lose nor repeat ours.
        let passing = fresh_key();
        create(&store, &passing, &record_at(t)).await;
        assert!(store.delete(&passing).await.expect("delete failed"));
        pages += 1;
        assert!(pages < 1_000_000, "scan never ends");
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    for (key, record) in &expected {
        let found: Vec<&ScannedSession> = seen
            .iter()
            .filter(|session| session.summary.key == *key)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "a live session appeared {} times in a scan, not once",
            found.len()
        );
        assert_eq!(found[0].user, record.user, "a scan lost a session's user");
        assert_eq!(
            kept(found[0].summary.clone()),
            kept(SessionSummary::of(key.clone(), record)),
            "a scan changed a session's times or device"
        );
    }
    assert!(
        !seen.iter().any(|session| session.summary.key == deleted),
        "a scan reported a deleted session"
    );
    for (key, _) in &expected {
        assert!(store.delete(key).await.expect("delete failed"));
    }
}

/// `clear` and `set` in one change set: the old keys go, the new ones stay; `remove` of an
/// absent key is harmless.
pub async fn clear_and_set_in_one_change_set<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let record = Record {
        data: data(json!({"a": 1, "b": 2, "c": 3})),
        ..record_at(t)
    };
    create(&store, &key, &record).await;
    let at = t + MINUTE;

    let mut changes = ChangeSet::default();
    changes.clear();
    changes.set("c", json!(30));
    changes.set("d", json!({"four": 4}));
    changes.remove("never-there");
    let changes = touched(changes, at);
    assert_eq!(
        update(&store, &key, &changes, at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        load_live(&store, &key, at).await.data,
        data(json!({"c": 30, "d": {"four": 4}})),
        "clear drops every earlier key, then the set keys apply"
    );

    let mut changes = ChangeSet::default();
    changes.set("a", json!("back"));
    changes.remove("c");
    assert_eq!(
        update(&store, &key, &touched(changes, at), at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        load_live(&store, &key, at).await.data,
        data(json!({"a": "back", "d": {"four": 4}}))
    );

    let mut changes = ChangeSet::default();
    changes.clear();
    assert_eq!(
        update(&store, &key, &touched(changes, at), at).await,
        UpdateOutcome::Applied
    );
    assert!(
        load_live(&store, &key, at).await.data.is_empty(),
        "clear alone empties the data"
    );
}

/// Keys that stores might mistake for syntax (JSON paths, SQL, Lua patterns).
const AWKWARD_KEYS: [&str; 14] = [
    "",
    "ключ",
    "quote\"d",
    "single'quote",
    "back\\slash",
    "dot.ted",
    "$dollar",
    "$.path[0]",
    "emoji 🎉👩‍👩‍👧",
    "{braces}",
    "percent%_under",
    "tab\tnew\nline",
    "' OR '1'='1",
    "%s %d {} ?",
];

/// Keys and values with quotes, backslashes, dots, `$`, emoji, control characters and the empty
/// string survive create, update, remove and increment.
pub async fn unicode_keys_and_values_round_trip<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let mut initial = SessionData::new();
    for (index, awkward) in AWKWARD_KEYS.iter().enumerate() {
        initial.insert(
            (*awkward).to_owned(),
            json!(format!("{awkward} → value {index} ✓")),
        );
    }
    initial.insert(
        "nested".to_owned(),
        json!({"inner.key": "x\"y\\z", "$": [1, "🎉", {"'": "\u{1F600}"}]}),
    );
    let record = Record {
        data: initial.clone(),
        user: Some(format!("{} ✓ \"quoted\" 'user'", fresh_user())),
        ..record_at(t)
    };
    create(&store, &key, &record).await;
    assert_eq!(
        load(&store, &key, t).await,
        Some(record.clone()),
        "awkward data must round-trip"
    );

    let at = t + MINUTE;
    let mut changes = ChangeSet::default();
    let mut expected = initial;
    for (index, awkward) in AWKWARD_KEYS.iter().enumerate() {
        let value = json!({"n": index, "key": awkward});
        changes.set(*awkward, value.clone());
        expected.insert((*awkward).to_owned(), value);
    }
    changes.remove("nested");
    expected.remove("nested");
    assert_eq!(
        update(&store, &key, &touched(changes, at), at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        load_live(&store, &key, at).await.data,
        expected,
        "awkward keys must be updated as plain keys"
    );
    assert_eq!(
        keys_of(&list(&store, record.user.as_deref().unwrap_or_default(), at).await),
        vec![key.clone()],
        "a user name with quotes and non-ASCII characters is indexed"
    );

    let counter = "zähler.$\"'🎉";
    assert_eq!(
        increment(&store, &key, counter, 1, at).await,
        IncrementOutcome::Value(1)
    );
    assert_eq!(
        increment(&store, &key, counter, 1, at).await,
        IncrementOutcome::Value(2)
    );
    assert_eq!(
        increment(&store, &key, "", 7, at).await,
        IncrementOutcome::NotAnInteger
    );
    let mut changes = ChangeSet::default();
    changes.set("", json!(10));
    assert_eq!(
        update(&store, &key, &touched(changes, at), at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        increment(&store, &key, "", 7, at).await,
        IncrementOutcome::Value(17)
    );

    let loaded = load_live(&store, &key, at).await.data;
    assert_eq!(loaded.get(counter), Some(&json!(2)));
    assert_eq!(
        loaded.get(""),
        Some(&json!(17)),
        "the empty key is a key like any other"
    );
    assert_eq!(loaded.get("dot.ted"), expected.get("dot.ted"));
    assert_eq!(loaded.len(), AWKWARD_KEYS.len() + 1);
}

/// A 100 KB value (mixed ASCII and multi-byte characters) survives create and update.
pub async fn large_value_round_trips<S: Store>(store: S) {
    const SIZE: usize = 100 * 1024;
    let t = now();
    let key = fresh_key();
    let pattern = "large value ✓ é 🎉 \"q\" \\ ";
    let large: String = pattern.chars().cycle().take(SIZE).collect();
    assert!(large.len() >= SIZE);
    let record = Record {
        data: data(json!({"large": large})),
        ..record_at(t)
    };
    create(&store, &key, &record).await;
    assert_eq!(
        load(&store, &key, t).await,
        Some(record),
        "a 100 KB value must round-trip"
    );

    let at = t + MINUTE;
    let items: Vec<String> = (0..1_000).map(|i| format!("{i:0>100}")).collect();
    assert_eq!(
        update(&store, &key, &setting("list", json!(items), at), at).await,
        UpdateOutcome::Applied
    );
    let loaded = load_live(&store, &key, at).await;
    assert_eq!(loaded.data.get("large"), Some(&json!(large)));
    assert_eq!(loaded.data.get("list"), Some(&json!(items)));
}

/// `create` on a key holding a live record reports `Collision` and overwrites nothing.
pub async fn create_collides_with_live_key<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let original = Record {
        data: data(json!({"owner": "first"})),
        user: Some(fresh_user()),
        ..record_at(t)
    };
    create(&store, &key, &original).await;
    let intruder = Record {
        data: data(json!({"owner": "second"})),
        user: Some(fresh_user()),
        ..record_at(t + MINUTE)
    };
    assert_eq!(
        store.create(&key, &intruder).await.expect("create failed"),
        CreateOutcome::Collision,
        "create must never overwrite a live record"
    );
    assert_eq!(load(&store, &key, t + MINUTE).await, Some(original));
    assert!(list(
        &store,
        intruder.user.as_deref().unwrap_or_default(),
        t + MINUTE
    )
    .await
    .is_empty());
}

/// `create` on a key whose record has expired (its "now" is the new record's `last_seen`) may
/// replace it or report `Collision`, as the trait allows; either way the store stays
/// consistent: the new record is what loads after `Created`, nothing loads after `Collision`.
pub async fn create_over_expired_key_is_consistent<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let old_user = fresh_user();
    let old = Record {
        data: data(json!({"generation": 1})),
        user: Some(old_user.clone()),
        ..record_at(t)
    };
    create(&store, &key, &old).await;

    let later = t + IDLE + HOUR;
    let new_user = fresh_user();
    let new = Record {
        data: data(json!({"generation": 2})),
        user: Some(new_user.clone()),
        ..record_at(later)
    };
    match store.create(&key, &new).await.expect("create failed") {
        CreateOutcome::Created => {
            assert_eq!(
                load(&store, &key, later).await,
                Some(new),
                "the replacement loads"
            );
            assert_eq!(keys_of(&list(&store, &new_user, later).await), vec![key]);
        }
        CreateOutcome::Collision => {
            assert_eq!(
                load(&store, &key, later).await,
                None,
                "the expired record stays dead"
            );
        }
        CreateOutcome::Refused => panic!("a create without a limit answered Refused"),
    }
    assert!(
        list(&store, &old_user, later).await.is_empty(),
        "the expired record's user lists nothing"
    );
}

/// A live record under a fresh key, overwritten by `corrupt` with data the store cannot decode.
async fn corrupt_record<S, F, Fut>(store: &Arc<S>, corrupt: F, at: Timestamp) -> StoreKey
where
    S: Store,
    F: FnOnce(Arc<S>, StoreKey) -> Fut,
    Fut: Future<Output = ()>,
{
    let key = fresh_key();
    let record = Record {
        data: data(json!({"about": "to be corrupted", "n": 41})),
        user: Some(fresh_user()),
        ..record_at(at)
    };
    create(&**store, &key, &record).await;
    corrupt(store.clone(), key.clone()).await;
    key
}

/// A record the store cannot decode makes `load` fail with [`StoreError::Corrupt`] (the engine
/// then starts a fresh session), and `delete` still removes it.
///
/// `corrupt` receives the store and the key of a live record this case created, and must
/// overwrite that record with undecodable data in the store's own format.
pub async fn corrupt_record_is_reported<S, F, Fut>(store: S, corrupt: F)
where
    S: Store,
    F: FnOnce(Arc<S>, StoreKey) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = Arc::new(store);
    let t = now();
    let key = corrupt_record(&store, corrupt, t).await;

    match store.load(&key, t).await {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("load of an undecodable record must be Err(Corrupt), got {other:?}"),
    }
    match store.lookup(&key, t).await {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("lookup of an undecodable record must be Err(Corrupt), got {other:?}"),
    }
    store
        .delete(&key)
        .await
        .expect("delete of a corrupt record must work");
    assert_eq!(
        load(&*store, &key, t).await,
        None,
        "a deleted corrupt record is gone"
    );
}

/// Whether a write to a corrupt record answered as the contract allows: `Err(Corrupt)` (the
/// engine treats the record as no session) or an outcome. A store that writes only the fields
/// it is asked to may not see the corruption elsewhere in the record and apply the change; that
/// is fine, since the next load reports it. Any other error fails the request on every try,
/// for as long as the record lives.
fn assert_no_store_failure<T: std::fmt::Debug>(operation: &str, answer: Result<T, StoreError>) {
    if let Err(error) = &answer {
        assert!(
            matches!(error, StoreError::Corrupt(_)),
            "{operation} of an undecodable record must answer Err(Corrupt) or an outcome, \
             never another error: got {answer:?}"
        );
    }
}

/// `update` of an undecodable record answers `Err(Corrupt)`, `Gone` or `Applied`, never another
/// error, and the record stays deletable.
pub async fn update_of_corrupt_record_is_no_failure<S, F, Fut>(store: S, corrupt: F)
where
    S: Store,
    F: FnOnce(Arc<S>, StoreKey) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = Arc::new(store);
    let t = now();
    let key = corrupt_record(&store, corrupt, t).await;
    let answer = store
        .update(
            &key,
            &setting("theme", json!("dark"), t + one_ms()),
            t + one_ms(),
        )
        .await;
    assert_no_store_failure("update", answer);
    store
        .delete(&key)
        .await
        .expect("delete of a corrupt record must work");
}

/// `increment` of an undecodable record answers `Err(Corrupt)`, `Gone` or the value counted
/// from the stored integer, never another error, `NotAnInteger` or a value made up, and the
/// record stays deletable.
pub async fn increment_of_corrupt_record_is_no_failure<S, F, Fut>(store: S, corrupt: F)
where
    S: Store,
    F: FnOnce(Arc<S>, StoreKey) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = Arc::new(store);
    let t = now();
    let key = corrupt_record(&store, corrupt, t).await;
    let answer = store
        .increment(&key, "n", 1, touch_at(t + one_ms()), t + one_ms())
        .await;
    match answer {
        Ok(IncrementOutcome::NotAnInteger) => panic!(
            "increment of an undecodable record's integer must not be NotAnInteger: the \
             request would fail on every try"
        ),
        Ok(IncrementOutcome::Value(value)) => assert_eq!(
            value, 42,
            "an increment a store applies counts from the stored integer (41), or the store \
             answers Err(Corrupt) or Gone"
        ),
        _ => {}
    }
    assert_no_store_failure("increment", answer);
    store
        .delete(&key)
        .await
        .expect("delete of a corrupt record must work");
}

/// `rotate` of an undecodable record answers `Err(Corrupt)`, `Gone` or `Rotated`, never another
/// error; the old key never serves a session afterwards, and both keys stay deletable.
pub async fn rotate_of_corrupt_record_is_no_failure<S, F, Fut>(store: S, corrupt: F)
where
    S: Store,
    F: FnOnce(Arc<S>, StoreKey) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = Arc::new(store);
    let t = now();
    let key = corrupt_record(&store, corrupt, t).await;
    let to = fresh_key();
    let answer = store
        .rotate(
            &key,
            &to,
            &setting("theme", json!("dark"), t + one_ms()),
            t + one_ms(),
        )
        .await;
    let rotated = matches!(answer, Ok(RotateOutcome::Rotated));
    assert_no_store_failure("rotate", answer);
    if rotated {
        let old = store.load(&key, t + one_ms()).await;
        assert!(
            !matches!(old, Ok(Some(_))),
            "a rotated record's old key is dead, got {old:?}"
        );
    }
    for key in [&key, &to] {
        store
            .delete(key)
            .await
            .expect("delete of a corrupt record must work");
    }
}

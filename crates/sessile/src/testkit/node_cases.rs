//! The conformance cases for stores that keep a Node package's layout (`sessile-node`): the
//! guarantees such a layout can keep, checked on what it stores — the data, the user and the
//! idle deadline. A Node document has no creation time, absolute deadline or device, and no
//! per-user index; the cases do not ask for them (and [`user_index_is_unsupported`] checks the
//! layout says so instead of pretending).
//!
//! [`crate::node_layout_conformance!`] turns every case into a test; the keys carry plain ids
//! ([`crate::StoreKey::plain`]), as keys of Node ids do. Times are whole seconds, so layouts
//! that store seconds (koa-generic-session-sequelize's `expires`) keep them exactly.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! // Any store works where a Node layout does: the cases only ask for what Node layouts keep.
//! sessile::testkit::node_cases::round_trip_keeps_data_user_and_deadline(sessile::MemoryStore::new()).await;
//! # });
//! ```

use serde_json::json;

use super::cases::{
    create, data, fresh_key, fresh_user, increment, load, load_live, now, one_ms, record_at,
    rotate, scan_exactly_once, setting, touched, update, HOUR, IDLE, MINUTE,
};
pub use super::lifetime_cases::{own_lifetime_is_unsupported, revocations_are_unsupported};
pub use super::limit_cases::per_user_limit_is_unsupported;
use crate::change::{ChangeSet, Forward};
use crate::record::{Record, SessionData, SessionSummary};
use crate::store::{
    CreateOutcome, IncrementOutcome, Lookup, RotateOutcome, Store, StoreError, UpdateOutcome,
};

/// The parts of a record a Node layout keeps.
fn kept(record: &Record) -> (SessionData, Option<String>, i64) {
    (
        record.data.clone(),
        record.user.clone(),
        record.expires_at().as_millis(),
    )
}

/// Data (awkward keys, nested values, non-ASCII, 100 KB), user and idle deadline read back as
/// written; a key never written reads as `None`.
pub async fn round_trip_keeps_data_user_and_deadline<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let large: String = "large ✓ é 🎉 \"q\" \\ "
        .chars()
        .cycle()
        .take(100 * 1024)
        .collect();
    let record = Record {
        data: data(json!({
            "": "empty key",
            "ключ": "значение",
            "a.b": {"$": [1, "🎉", {"'": "\u{1F600}"}]},
            "n": 9_007_199_254_740_993_i64,
            "f": 0.1,
            "flag": true,
            "nothing": null,
            "large": large,
        })),
        user: Some(format!("{} ✓ \"quoted\"", fresh_user())),
        ..record_at(t)
    };
    create(&store, &key, &record).await;
    let loaded = load_live(&store, &key, t).await;
    assert_eq!(
        kept(&loaded),
        kept(&record),
        "data, user and deadline round-trip"
    );
    assert_eq!(
        load(&store, &fresh_key(), t).await,
        None,
        "an unknown key is None"
    );
}

/// A record dies at its idle deadline; a touch moves the deadline forward.
pub async fn idle_deadline_expires_record<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    create(&store, &key, &record_at(t)).await;
    assert!(load(&store, &key, t + IDLE - one_ms()).await.is_some());
    assert_eq!(
        load(&store, &key, t + IDLE).await,
        None,
        "a record must not load once `now` reaches its idle deadline"
    );

    let touched_key = fresh_key();
    create(&store, &touched_key, &record_at(t)).await;
    let at = t + 20 * MINUTE;
    assert_eq!(
        update(&store, &touched_key, &touched(ChangeSet::default(), at), at).await,
        UpdateOutcome::Applied
    );
    let loaded = load(&store, &touched_key, t + IDLE + 10 * MINUTE)
        .await
        .expect("a touch must move the idle deadline forward");
    assert_eq!(loaded.expires_at(), at + IDLE);
    assert_eq!(load(&store, &touched_key, at + IDLE).await, None);
}

/// Writes to an expired record report `Gone` and change nothing; rotating it creates nothing.
pub async fn expired_record_is_never_changed<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    create(
        &store,
        &key,
        &Record {
            data: data(json!({"a": 1})),
            ..record_at(t)
        },
    )
    .await;
    let late = t + IDLE + MINUTE;
    assert_eq!(
        update(&store, &key, &setting("a", json!(2), late), late).await,
        UpdateOutcome::Gone
    );
    assert_eq!(
        increment(&store, &key, "a", 1, late).await,
        IncrementOutcome::Gone
    );
    let target = fresh_key();
    assert_eq!(
        rotate(&store, &key, &target, &setting("a", json!(3), late), late).await,
        RotateOutcome::Gone
    );
    assert_eq!(load(&store, &target, t).await, None, "no rotation target");
    if let Some(seen) = load(&store, &key, t).await {
        assert_eq!(
            seen.data,
            data(json!({"a": 1})),
            "an expired record is never changed"
        );
    }
}

/// After `delete`, every write reports `Gone` and nothing exists under either key.
pub async fn deleted_session_is_never_resurrected<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let record = Record {
        data: data(json!({"cart": [1, 2]})),
        user: Some(fresh_user()),
        ..record_at(t)
    };
    create(&store, &key, &record).await;
    assert!(store.delete(&key).await.expect("delete failed"));
    let at = t + MINUTE;
    assert_eq!(
        update(&store, &key, &setting("cart", json!([3]), at), at).await,
        UpdateOutcome::Gone,
        "update after delete must not recreate the record"
    );
    assert_eq!(
        increment(&store, &key, "hits", 1, at).await,
        IncrementOutcome::Gone
    );
    let target = fresh_key();
    assert_eq!(
        rotate(&store, &key, &target, &setting("x", json!(1), at), at).await,
        RotateOutcome::Gone
    );
    assert_eq!(load(&store, &key, at).await, None);
    assert_eq!(load(&store, &target, at).await, None);
    assert!(!store.delete(&key).await.expect("delete failed"));
}

/// Rotation moves data and user to the new key with the changes applied; the old key is dead.
pub async fn rotate_moves_data_and_user<S: Store>(store: S) {
    let t = now();
    let (from, to) = (fresh_key(), fresh_key());
    let user = fresh_user();
    let record = Record {
        data: data(json!({"a": 1})),
        user: Some(user.clone()),
        ..record_at(t)
    };
    create(&store, &from, &record).await;
    let at = t + MINUTE;
    assert_eq!(
        rotate(&store, &from, &to, &setting("b", json!(2), at), at).await,
        RotateOutcome::Rotated
    );
    let moved = load_live(&store, &to, at).await;
    assert_eq!(moved.data, data(json!({"a": 1, "b": 2})));
    assert_eq!(moved.user.as_deref(), Some(user.as_str()));
    assert_eq!(
        moved.expires_at(),
        at + IDLE,
        "the rotation's touch applies"
    );
    assert_eq!(load(&store, &from, at).await, None, "the old key is dead");
    assert_eq!(
        update(&store, &from, &setting("c", json!(3), at), at).await,
        UpdateOutcome::Gone
    );
}

/// A Node layout keeps no rotation grace: its Node app, reading the same store, could not
/// follow a forward pointer (it would see a session without data under the old id), and the
/// Node packages kill the old id at once. A rotation asked to leave a pointer leaves none: the
/// old key is `Missing`, so the engine treats the old id as ended, as the Node app does.
pub async fn rotation_keeps_no_forward_pointer<S: Store>(store: S) {
    let t = now();
    let (from, to) = (fresh_key(), fresh_key());
    create(&store, &from, &record_at(t)).await;
    let mut changes = touched(ChangeSet::default(), t);
    changes.forward = Some(Forward::new(vec![7; 40], t + MINUTE));
    assert_eq!(
        rotate(&store, &from, &to, &changes, t).await,
        RotateOutcome::Rotated
    );
    assert_eq!(
        store.lookup(&from, t).await.expect("lookup failed"),
        Lookup::Missing,
        "a Node layout keeps no forward pointer"
    );
    assert!(load(&store, &to, t).await.is_some());
}

/// Rotating onto a live key, or creating over one, reports `Collision` and changes neither.
pub async fn collisions_change_nothing<S: Store>(store: S) {
    let t = now();
    let (from, taken) = (fresh_key(), fresh_key());
    create(
        &store,
        &from,
        &Record {
            data: data(json!({"owner": "from"})),
            ..record_at(t)
        },
    )
    .await;
    create(
        &store,
        &taken,
        &Record {
            data: data(json!({"owner": "taken"})),
            ..record_at(t)
        },
    )
    .await;
    let at = t + MINUTE;
    assert_eq!(
        rotate(&store, &from, &taken, &setting("x", json!(1), at), at).await,
        RotateOutcome::Collision
    );
    let intruder = Record {
        data: data(json!({"owner": "intruder"})),
        ..record_at(at)
    };
    assert_eq!(
        store
            .create(&taken, &intruder)
            .await
            .expect("create failed"),
        CreateOutcome::Collision
    );
    assert_eq!(
        load_live(&store, &from, at).await.data,
        data(json!({"owner": "from"}))
    );
    assert_eq!(
        load_live(&store, &taken, at).await.data,
        data(json!({"owner": "taken"}))
    );
}

/// Signing in and out through `update` changes the stored user.
pub async fn user_changes_persist<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    create(&store, &key, &record_at(t)).await;
    let at = t + MINUTE;
    let user = fresh_user();
    let changes = ChangeSet {
        user: Some(Some(user.clone())),
        ..ChangeSet::default()
    };
    assert_eq!(
        update(&store, &key, &touched(changes, at), at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        load_live(&store, &key, at).await.user.as_deref(),
        Some(user.as_str())
    );
    let changes = ChangeSet {
        user: Some(None),
        ..ChangeSet::default()
    };
    assert_eq!(
        update(&store, &key, &touched(changes, at), at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(load_live(&store, &key, at).await.user, None, "signed out");
}

/// A layout without a per-user index says so with [`StoreError::Unsupported`] rather than
/// answering with an empty list.
pub async fn user_index_is_unsupported<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let user = fresh_user();
    create(
        &store,
        &key,
        &Record {
            user: Some(user.clone()),
            ..record_at(t)
        },
    )
    .await;
    assert!(matches!(
        store.list_user_sessions(&user, t, None, 100).await,
        Err(StoreError::Unsupported(_))
    ));
    assert!(matches!(
        store.delete_user_sessions(&user, None).await,
        Err(StoreError::Unsupported(_))
    ));
    assert!(load(&store, &key, t).await.is_some(), "nothing was revoked");
}

/// A layout with a per-user index (a Sequelize table with a user column) lists the user's live
/// sessions and revokes them (all, or all but one), following sign-in, sign-out and rotation
/// in the same write; another user's sessions are never touched.
pub async fn user_index_lists_and_revokes<S: Store>(store: S) {
    let t = now();
    let (user, other) = (fresh_user(), fresh_user());
    let owned = |user: &str| Record {
        user: Some(user.to_owned()),
        ..record_at(t)
    };
    let listed = |sessions: Vec<crate::SessionSummary>| {
        let mut keys: Vec<String> = sessions
            .into_iter()
            .map(|summary| format!("{:?}", summary.key))
            .collect();
        keys.sort();
        keys
    };
    let names = |keys: &[&crate::StoreKey]| {
        let mut names: Vec<String> = keys.iter().map(|key| format!("{key:?}")).collect();
        names.sort();
        names
    };
    let (a, b, short) = (fresh_key(), fresh_key(), fresh_key());
    create(&store, &a, &owned(&user)).await;
    create(&store, &b, &owned(&user)).await;
    create(
        &store,
        &short,
        &Record {
            idle_deadline: t + MINUTE,
            ..owned(&user)
        },
    )
    .await;
    let theirs = fresh_key();
    create(&store, &theirs, &owned(&other)).await;
    let at = t + 2 * MINUTE;
    assert_eq!(
        listed(super::cases::list(&store, &user, at).await),
        names(&[&a, &b]),
        "the user's live sessions, not the expired one, not another user's"
    );

    // Sign-in and sign-out through `update`, and rotation, move the index with the record.
    let anonymous = fresh_key();
    create(&store, &anonymous, &record_at(t)).await;
    let sign_in = ChangeSet {
        user: Some(Some(user.clone())),
        ..touched(ChangeSet::default(), at)
    };
    assert_eq!(
        update(&store, &anonymous, &sign_in, at).await,
        UpdateOutcome::Applied
    );
    let sign_out = ChangeSet {
        user: Some(None),
        ..touched(ChangeSet::default(), at)
    };
    assert_eq!(
        update(&store, &a, &sign_out, at).await,
        UpdateOutcome::Applied
    );
    let rotated = fresh_key();
    assert_eq!(
        rotate(&store, &b, &rotated, &touched(ChangeSet::default(), at), at).await,
        RotateOutcome::Rotated
    );
    assert_eq!(
        listed(super::cases::list(&store, &user, at).await),
        names(&[&anonymous, &rotated])
    );

    // Revoke all but one, then all.
    let revoked = store
        .delete_user_sessions(&user, Some(&anonymous))
        .await
        .expect("delete_user_sessions");
    assert!(revoked >= 1, "revoked {revoked}");
    assert_eq!(load(&store, &rotated, at).await, None);
    assert!(load(&store, &anonymous, at).await.is_some(), "kept");
    assert_eq!(
        listed(super::cases::list(&store, &user, at).await),
        names(&[&anonymous])
    );
    store
        .delete_user_sessions(&user, None)
        .await
        .expect("delete_user_sessions");
    assert_eq!(load(&store, &anonymous, at).await, None);
    assert!(listed(super::cases::list(&store, &user, at).await).is_empty());
    assert!(
        load(&store, &a, at).await.is_some(),
        "signed out: not the user's"
    );
    assert!(load(&store, &theirs, at).await.is_some(), "another user's");
}

/// `delete_expired` frees expired records and keeps live ones. Run only for layouts whose store
/// does not expire records by itself (`sweeps_expired` in [`crate::node_layout_conformance!`]).
pub async fn delete_expired_removes_only_expired<S: Store>(store: S) {
    // Twenty years back, so the sweep reaches no other case's records in a shared table.
    let base = now() - 20 * 365 * 24 * HOUR;
    let expired: Vec<_> = (0..5).map(|_| fresh_key()).collect();
    for key in &expired {
        create(&store, key, &record_at(base)).await;
    }
    // Written "at" the same old time (a store may free what is expired at a write's time), but
    // live until tomorrow.
    let live = fresh_key();
    let tomorrow = now() + 24 * HOUR;
    let live_record = Record {
        idle_deadline: tomorrow,
        absolute_deadline: tomorrow,
        ..record_at(base)
    };
    create(&store, &live, &live_record).await;
    let sweep_at = base + IDLE + MINUTE;
    let mut freed = 0;
    loop {
        let batch = store
            .delete_expired(sweep_at, 2)
            .await
            .expect("delete_expired failed");
        assert!(batch <= 2, "a sweep batch is bounded by its limit");
        freed += batch;
        if batch < 2 {
            break;
        }
    }
    assert!(
        freed >= expired.len() as u64,
        "every expired record is freed"
    );
    for key in &expired {
        assert_eq!(
            load(&store, key, base).await,
            None,
            "an expired record is gone"
        );
    }
    assert!(
        load(&store, &live, now()).await.is_some(),
        "live records stay"
    );
}

/// [`super::cases::concurrent_increments_of_many_sessions_get_their_own_outcomes`] on a layout
/// with one deadline: every outcome and sum is checked, the cap by an absolute deadline the
/// layout does not keep is not.
pub async fn concurrent_increments_of_many_sessions_get_their_own_outcomes<S: Store>(store: S) {
    super::cases::increments_of_many_sessions(store, false).await;
}

/// [`Store::scan`] pages through every session of the layout, each exactly once with its user
/// and deadline (a Node document keeps no creation time or device), however many sessions come
/// and go between pages; a deleted one never. For the layouts that can list their sessions
/// (the `scans` option of [`crate::node_layout_conformance!`]).
pub async fn scan_reports_every_session_exactly_once<S: Store>(store: S) {
    scan_exactly_once(store, |summary| {
        let never = crate::time::Timestamp::from_millis(0);
        SessionSummary::new(
            summary.key,
            never,
            never,
            summary.expires_at,
            Default::default(),
        )
    })
    .await;
}

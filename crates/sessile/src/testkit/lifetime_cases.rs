//! Conformance cases for a session's own lifetime (issue 17): an idle timeout kept in the
//! record, which every write that moves the idle deadline uses, the blind ones included, and an
//! absolute deadline a change set may move. Node layouts keep one `maxAge` for every session
//! and answer [`StoreError::Unsupported`] instead.

use std::time::Duration;

use serde_json::json;

use super::cases::{
    create, fresh_key, fresh_user, increment, load_live, now, record_at, rotate, touched, update,
    HOUR, IDLE, MINUTE,
};
use crate::change::ChangeSet;
use crate::record::{Deadline, Record};
use crate::store::{IncrementOutcome, Lookup, RotateOutcome, Store, StoreError, UpdateOutcome};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// Longer than the suite's default idle timeout, so a store that ignores it is seen at once.
const REMEMBERED: Duration = Duration::from_secs(7 * 24 * 60 * 60);

fn remembered_record(at: crate::time::Timestamp) -> Record {
    Record {
        user: Some(fresh_user()),
        idle_timeout: Some(REMEMBERED),
        idle_deadline: at + REMEMBERED,
        absolute_deadline: at + 30 * DAY,
        persistent: true,
        ..record_at(at)
    }
}

/// A record's own idle timeout reads back as written, and every touch moves its idle deadline
/// by it, not by the touch's default: a touch-only update, an update with data, an increment
/// and a rotation, none of which loaded the record first. A record without one keeps following
/// the touch's deadline.
pub async fn own_idle_timeout_moves_every_touch<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let record = remembered_record(t);
    create(&store, &key, &record).await;
    assert_eq!(
        load_live(&store, &key, t).await,
        record,
        "a record's own idle timeout must read back as written"
    );
    let plain = fresh_key();
    create(&store, &plain, &record_at(t)).await;

    let at = t + MINUTE;
    let touch_only = touched(ChangeSet::default(), at);
    assert_eq!(
        update(&store, &key, &touch_only, at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        update(&store, &plain, &touch_only, at).await,
        UpdateOutcome::Applied
    );
    let loaded = load_live(&store, &key, at).await;
    assert_eq!(
        (loaded.idle_deadline, loaded.idle_timeout),
        (at + REMEMBERED, Some(REMEMBERED)),
        "a blind touch must move the idle deadline by the record's own idle timeout"
    );
    assert_eq!(
        load_live(&store, &plain, at).await.idle_deadline,
        at + IDLE,
        "a record without its own idle timeout follows the touch's deadline"
    );

    let at = t + 2 * MINUTE;
    let mut changes = ChangeSet::default();
    changes.set("theme", json!("dark"));
    let changes = touched(changes, at);
    assert_eq!(
        update(&store, &key, &changes, at).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        load_live(&store, &key, at).await.idle_deadline,
        at + REMEMBERED,
        "an update with data must move the idle deadline by the record's own idle timeout"
    );

    let at = t + 3 * MINUTE;
    assert_eq!(
        increment(&store, &key, "visits", 1, at).await,
        IncrementOutcome::Value(1)
    );
    assert_eq!(
        load_live(&store, &key, at).await.idle_deadline,
        at + REMEMBERED,
        "an increment must move the idle deadline by the record's own idle timeout"
    );

    // Past the default idle window of the last write, inside its own.
    let later = at + IDLE + MINUTE;
    assert!(
        matches!(
            store.lookup(&key, later).await.expect("lookup failed"),
            Lookup::Live(_)
        ),
        "a session with a longer own idle timeout must outlive the default idle window"
    );

    let to = fresh_key();
    let rotation = touched(ChangeSet::default(), later);
    assert_eq!(
        rotate(&store, &key, &to, &rotation, later).await,
        RotateOutcome::Rotated
    );
    let rotated = load_live(&store, &to, later).await;
    assert_eq!(
        (rotated.idle_deadline, rotated.idle_timeout),
        (later + REMEMBERED, Some(REMEMBERED)),
        "a rotation keeps the record's own idle timeout and touches by it"
    );
}

/// A change set gives a session its own idle timeout and absolute deadline, and takes the
/// timeout back, exactly as [`ChangeSet::apply_to`] defines (the timeout first, then the touch
/// by it); a sign-in that takes it back in the same update lands on the default deadline.
pub async fn change_set_sets_and_takes_back_own_lifetime<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    let mut expected = Record {
        user: Some(fresh_user()),
        ..record_at(t)
    };
    create(&store, &key, &expected).await;

    let at = t + MINUTE;
    let changes = touched(
        ChangeSet {
            idle_timeout: Some(Some(REMEMBERED)),
            absolute_deadline: Some(t + 30 * DAY),
            persistent: Some(true),
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
    assert_eq!(expected.idle_deadline, at + REMEMBERED);
    assert_eq!(
        load_live(&store, &key, at).await,
        expected,
        "setting an own idle timeout and absolute deadline must store both and touch by the \
         new timeout"
    );

    let at = t + 2 * MINUTE;
    let changes = touched(
        ChangeSet {
            user: Some(Some(fresh_user())),
            idle_timeout: Some(None),
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
    assert_eq!(expected.idle_deadline, at + IDLE);
    assert_eq!(
        load_live(&store, &key, at).await,
        expected,
        "taking the own idle timeout back must touch by the default again"
    );

    // An absolute deadline moved before `now` ends the session by it.
    let at = t + 3 * MINUTE;
    let changes = touched(
        ChangeSet {
            absolute_deadline: Some(t + 4 * MINUTE),
            ..ChangeSet::default()
        },
        at,
    );
    assert_eq!(
        update(&store, &key, &changes, at).await,
        UpdateOutcome::Applied
    );
    let loaded = load_live(&store, &key, at).await;
    assert_eq!(
        (loaded.absolute_deadline, loaded.idle_deadline),
        (t + 4 * MINUTE, t + 4 * MINUTE),
        "a shorter absolute deadline clamps the idle deadline of the same touch"
    );
    let ended = store
        .lookup(&key, t + 4 * MINUTE)
        .await
        .expect("lookup failed");
    assert!(
        matches!(ended, Lookup::Missing | Lookup::Expired(Deadline::Absolute)),
        "the moved absolute deadline must end the session, got {ended:?}"
    );
    assert!(store
        .load(&key, t + HOUR)
        .await
        .expect("load failed")
        .is_none());
}

/// A Node layout keeps one `maxAge` for every session: a change set that gives a session its
/// own idle timeout or absolute deadline answers [`StoreError::Unsupported`] and writes
/// nothing, while one that takes a timeout back (every sign-in carries that) applies.
pub async fn own_lifetime_is_unsupported<S: Store>(store: S) {
    let t = now();
    let key = fresh_key();
    create(&store, &key, &record_at(t)).await;
    let at = t + MINUTE;
    for changes in [
        ChangeSet {
            idle_timeout: Some(Some(REMEMBERED)),
            ..ChangeSet::default()
        },
        ChangeSet {
            absolute_deadline: Some(t + 30 * DAY),
            ..ChangeSet::default()
        },
    ] {
        let mut changes = touched(changes, at);
        changes.set("written", json!(true));
        let answer = store.update(&key, &changes, at).await;
        assert!(
            matches!(answer, Err(StoreError::Unsupported(_))),
            "a Node layout must refuse an own lifetime as Unsupported, got {answer:?}"
        );
    }
    assert!(
        !load_live(&store, &key, at)
            .await
            .data
            .contains_key("written"),
        "a refused change set writes nothing"
    );
    let mut signs_in = touched(
        ChangeSet {
            user: Some(Some(fresh_user())),
            idle_timeout: Some(None),
            ..ChangeSet::default()
        },
        at,
    );
    signs_in.set("written", json!(true));
    assert_eq!(
        update(&store, &key, &signs_in, at).await,
        UpdateOutcome::Applied,
        "taking back a timeout the layout never kept is no refusal"
    );
}

/// A [`crate::revocation::StoreRevocations`] on the store keeps one "not before" time per user:
/// none before a revocation, the latest after several, none for another user, and gone once
/// its horizon has passed.
pub async fn revocations_keep_a_not_before_per_user<S: Store>(store: S) {
    use crate::revocation::{RevocationList, StoreRevocations};
    let revocations = StoreRevocations::new(store, HOUR);
    let (user, other) = (fresh_user(), fresh_user());
    let t = now();
    assert_eq!(
        revocations.not_before(&user, t).await.expect("lookup"),
        None
    );
    revocations.revoke(&user, t).await.expect("revoke");
    assert_eq!(
        revocations
            .not_before(&user, t + MINUTE)
            .await
            .expect("lookup"),
        Some(t)
    );
    revocations
        .revoke(&user, t + 2 * MINUTE)
        .await
        .expect("revoke again");
    assert_eq!(
        revocations
            .not_before(&user, t + 3 * MINUTE)
            .await
            .expect("lookup"),
        Some(t + 2 * MINUTE),
        "a later revocation moves the time"
    );
    assert_eq!(
        revocations
            .not_before(&other, t + 3 * MINUTE)
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        revocations
            .not_before(&user, t + 2 * MINUTE + HOUR)
            .await
            .expect("lookup"),
        None,
        "a revocation is kept for its horizon only"
    );
}

/// A Node layout cannot keep a revocation record (it would need its own lifetime): revoking
/// answers [`StoreError::Unsupported`].
pub async fn revocations_are_unsupported<S: Store>(store: S) {
    use crate::revocation::{RevocationList, StoreRevocations};
    let revocations = StoreRevocations::new(store, HOUR);
    let answer = revocations.revoke(&fresh_user(), now()).await;
    assert!(
        matches!(answer, Err(StoreError::Unsupported(_))),
        "got {answer:?}"
    );
}

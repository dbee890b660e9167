//! Conformance cases for the per-user session limit ([`UserLimit`]): counted, evicted or
//! refused in the same atomic operation as the sign-in, on all three ways a session signs in
//! (a new session, an update, a rotation).

use std::sync::Arc;

use tokio::task::JoinSet;

use crate::change::ChangeSet;
use crate::id::StoreKey;
use crate::limit::{LimitPolicy, UserLimit};
use crate::record::Record;
use crate::store::{
    CreateOutcome, RotateOutcome, Store, StoreError, UpdateOutcome, PER_USER_LIMIT,
};
use crate::time::Timestamp;

use super::cases::{
    create, data, fresh_key, fresh_user, list, load, now, record_at, rotate, touched, update,
    CONCURRENT_WRITERS, HOUR, IDLE, MINUTE,
};

/// The limit of the concurrency cases: what the "N = 3" asks for.
const CONCURRENT_LIMIT: u32 = 3;

fn signed_in(user: &str, at: Timestamp) -> Record {
    let mut record = record_at(at);
    record.user = Some(user.to_owned());
    record
}

/// A change set that signs `user` in at `at` under `limit`, as the engine commits one.
fn signing_in(user: &str, limit: UserLimit, at: Timestamp) -> ChangeSet {
    let mut changes = touched(ChangeSet::default(), at);
    changes.user = Some(Some(user.to_owned()));
    changes.user_limit = Some(limit);
    changes
}

async fn create_within<S: Store + ?Sized>(
    store: &S,
    key: &StoreKey,
    record: &Record,
    limit: UserLimit,
) -> CreateOutcome {
    store
        .create_within_limit(key, record, &limit)
        .await
        .expect("create_within_limit failed")
}

/// The keys of `user`'s live sessions at `at`, sorted.
async fn live_keys<S: Store + ?Sized>(store: &S, user: &str, at: Timestamp) -> Vec<StoreKey> {
    let mut keys: Vec<StoreKey> = list(store, user, at)
        .await
        .into_iter()
        .map(|summary| summary.key)
        .collect();
    keys.sort();
    keys
}

fn sorted(mut keys: Vec<StoreKey>) -> Vec<StoreKey> {
    keys.sort();
    keys
}

/// Under the limit every sign-in goes through; at it, a new session's sign-in evicts the
/// user's least recently used session (earliest `last_seen`: a touch makes a session recent),
/// sessions already expired do not count, and other users' sessions are never touched.
pub async fn user_limit_evicts_the_least_recently_used<S: Store>(store: S) {
    let t = now();
    let (user, bystander) = (fresh_user(), fresh_user());
    let limit = UserLimit::new(3, LimitPolicy::EvictLeastRecentlyUsed);
    // An expired session of the user's: it must not count against the limit.
    let mut expired = signed_in(&user, t);
    expired.idle_deadline = t + MINUTE;
    create(&store, &fresh_key(), &expired).await;
    let other = fresh_key();
    create(&store, &other, &signed_in(&bystander, t)).await;

    let later = t + 2 * MINUTE;
    let keys: Vec<StoreKey> = (0..3).map(|_| fresh_key()).collect();
    for (n, key) in keys.iter().enumerate() {
        let at = later + MINUTE * n as u32;
        assert_eq!(
            create_within(&store, key, &signed_in(&user, at), limit).await,
            CreateOutcome::Created,
            "sign-in {n} is within the limit (an expired session does not count)"
        );
    }
    // The first session is used again: the second is now the least recently used.
    let used = later + 5 * MINUTE;
    assert_eq!(
        update(&store, &keys[0], &touched(ChangeSet::default(), used), used).await,
        UpdateOutcome::Applied
    );
    let fourth = fresh_key();
    let at = later + 6 * MINUTE;
    assert_eq!(
        create_within(&store, &fourth, &signed_in(&user, at), limit).await,
        CreateOutcome::Created
    );
    assert_eq!(
        live_keys(&store, &user, at).await,
        sorted(vec![keys[0].clone(), keys[2].clone(), fourth]),
        "the sign-in past the limit evicts the least recently used session, only that one"
    );
    assert!(
        load(&store, &keys[1], at).await.is_none(),
        "an evicted session is gone for good"
    );
    assert!(
        load(&store, &other, at).await.is_some(),
        "another user's session is never evicted"
    );
}

/// Sessions last used at the same moment are evicted smallest key first (the keys' bytes), so
/// every store evicts the same session for the same data.
pub async fn user_limit_breaks_last_seen_ties_by_the_smallest_key<S: Store>(store: S) {
    let t = now();
    let user = fresh_user();
    let limit = UserLimit::new(2, LimitPolicy::EvictLeastRecentlyUsed);
    let tied = sorted(vec![fresh_key(), fresh_key()]);
    for key in &tied {
        create(&store, key, &signed_in(&user, t)).await;
    }
    let newest = fresh_key();
    let at = t + MINUTE;
    assert_eq!(
        create_within(&store, &newest, &signed_in(&user, at), limit).await,
        CreateOutcome::Created
    );
    assert_eq!(
        live_keys(&store, &user, at).await,
        sorted(vec![tied[1].clone(), newest]),
        "of two sessions last used at the same moment, the smaller key is evicted"
    );
}

/// With the `Refuse` policy, a new session's sign-in at the limit writes nothing and answers
/// `Refused`; a sign-out elsewhere makes room again. A collision is a collision, not a refusal.
pub async fn user_limit_refuses_a_new_session_past_it<S: Store>(store: S) {
    let t = now();
    let user = fresh_user();
    let limit = UserLimit::new(2, LimitPolicy::Refuse);
    let (first, second, third) = (fresh_key(), fresh_key(), fresh_key());
    for key in [&first, &second] {
        assert_eq!(
            create_within(&store, key, &signed_in(&user, t), limit).await,
            CreateOutcome::Created
        );
    }
    assert_eq!(
        create_within(&store, &first, &signed_in(&user, t), limit).await,
        CreateOutcome::Collision,
        "a taken key is a collision, whatever the limit"
    );
    let at = t + MINUTE;
    assert_eq!(
        create_within(&store, &third, &signed_in(&user, at), limit).await,
        CreateOutcome::Refused
    );
    assert!(
        load(&store, &third, at).await.is_none(),
        "a refused sign-in writes nothing"
    );
    assert_eq!(
        live_keys(&store, &user, at).await,
        sorted(vec![first.clone(), second.clone()])
    );
    assert!(store.delete(&first).await.expect("delete failed"));
    assert_eq!(
        create_within(&store, &third, &signed_in(&user, at), limit).await,
        CreateOutcome::Created,
        "a sign-out makes room for the next sign-in"
    );
    // A record without a user is a plain create: no limit applies to anonymous sessions.
    assert_eq!(
        create_within(&store, &fresh_key(), &record_at(at), limit).await,
        CreateOutcome::Created
    );
}

/// A sign-in by rotation (the engine's usual one) and by an update count the user's other
/// sessions, never the signing-in one: evicting makes room, refusing writes nothing and leaves
/// the session where it was, anonymous.
pub async fn user_limit_applies_to_sign_ins_by_rotation_and_update<S: Store>(store: S) {
    let t = now();
    let user = fresh_user();
    let evict = UserLimit::new(1, LimitPolicy::EvictLeastRecentlyUsed);
    let refuse = UserLimit::new(1, LimitPolicy::Refuse);
    let existing = fresh_key();
    create(&store, &existing, &signed_in(&user, t)).await;

    // Refused rotation: nothing moves.
    let (anonymous, to) = (fresh_key(), fresh_key());
    create(&store, &anonymous, &record_at(t)).await;
    let at = t + MINUTE;
    assert_eq!(
        rotate(&store, &anonymous, &to, &signing_in(&user, refuse, at), at).await,
        RotateOutcome::Refused
    );
    assert!(
        load(&store, &to, at).await.is_none(),
        "a refused rotation writes nothing"
    );
    let stayed = load(&store, &anonymous, at)
        .await
        .expect("a refused rotation leaves the session under its old key");
    assert_eq!(stayed.user, None, "and nobody signed in on it");

    // Refused update: nothing changes.
    assert_eq!(
        update(&store, &anonymous, &signing_in(&user, refuse, at), at).await,
        UpdateOutcome::Refused
    );
    assert_eq!(
        load(&store, &anonymous, at).await.map(|record| record.user),
        Some(None)
    );

    // Evicting rotation: the existing session goes, the rotated one is the user's only one.
    assert_eq!(
        rotate(&store, &anonymous, &to, &signing_in(&user, evict, at), at).await,
        RotateOutcome::Rotated
    );
    assert_eq!(live_keys(&store, &user, at).await, vec![to.clone()]);

    // Signing the same session in again (an update of the one session the user has) counts
    // no other session: nothing to evict or refuse.
    assert_eq!(
        update(&store, &to, &signing_in(&user, refuse, at), at).await,
        UpdateOutcome::Applied
    );
    // An evicting update signs another session in and the rotated one out.
    let second = fresh_key();
    create(&store, &second, &record_at(at)).await;
    let later = at + MINUTE;
    assert_eq!(
        update(&store, &second, &signing_in(&user, evict, later), later).await,
        UpdateOutcome::Applied
    );
    assert_eq!(live_keys(&store, &user, later).await, vec![second]);
}

/// A rotation onto a key whose record has expired, a plain one and one that signs a user in
/// under a limit, replaces that record or reports `Collision`, as `create` over an expired key
/// may: after `Rotated` the moved session loads under the new key with its own data and none of
/// the expired record's, and nothing under the old key; after `Collision` nothing loads under
/// the new key and the session stays under the old one.
pub async fn rotation_onto_an_expired_key_is_consistent<S: Store>(store: S) {
    let t = now();
    let later = t + IDLE + HOUR;
    let user = fresh_user();
    let limit = UserLimit::new(1, LimitPolicy::Refuse);
    let plain = touched(ChangeSet::default(), later);
    for (kind, changes) in [
        ("plain", plain),
        ("limited", signing_in(&user, limit, later)),
    ] {
        let (from, to) = (fresh_key(), fresh_key());
        let mut expired = record_at(t);
        expired.data = data(serde_json::json!({"expired": true}));
        create(&store, &to, &expired).await;
        let mut live = record_at(later);
        live.data = data(serde_json::json!({"live": true}));
        create(&store, &from, &live).await;
        match rotate(&store, &from, &to, &changes, later).await {
            RotateOutcome::Rotated => {
                let moved = load(&store, &to, later)
                    .await
                    .unwrap_or_else(|| panic!("{kind}: the rotated session loads"));
                assert_eq!(moved.data, live.data, "{kind}: with its own data only");
                assert!(
                    load(&store, &from, later).await.is_none(),
                    "{kind}: nothing stays under the old key"
                );
            }
            RotateOutcome::Collision => {
                assert!(
                    load(&store, &to, later).await.is_none(),
                    "{kind}: the expired record stays dead"
                );
                assert!(
                    load(&store, &from, later).await.is_some(),
                    "{kind}: the session stays under its old key"
                );
            }
            other => panic!("{kind}: a rotation onto an expired key answered {other:?}"),
        }
    }
}

/// 200 concurrent sign-ins of one user with a limit of 3, half as new sessions and half by
/// rotation of anonymous ones: with eviction every sign-in goes through and exactly 3 sessions
/// live at the end; with refusal exactly 3 go through and the other 197 are refused. A store
/// that counts and writes in two steps lets many through.
pub async fn concurrent_sign_ins_leave_exactly_the_limit<S: Store>(store: S) {
    let store = Arc::new(store);
    for policy in [LimitPolicy::EvictLeastRecentlyUsed, LimitPolicy::Refuse] {
        let t = now();
        let user = fresh_user();
        let limit = UserLimit::new(CONCURRENT_LIMIT, policy);
        let mut anonymous = Vec::new();
        for _ in 0..CONCURRENT_WRITERS / 2 {
            let key = fresh_key();
            create(&*store, &key, &record_at(t)).await;
            anonymous.push(key);
        }
        let at = t + MINUTE;
        let mut sign_ins = JoinSet::new();
        for n in 0..CONCURRENT_WRITERS {
            let (store, user) = (store.clone(), user.clone());
            let from = anonymous.get(n / 2).cloned().filter(|_| n % 2 == 0);
            sign_ins.spawn(async move {
                let to = fresh_key();
                let admitted = match from {
                    Some(from) => {
                        let changes = signing_in(&user, limit, at);
                        match store.rotate(&from, &to, &changes, at).await? {
                            RotateOutcome::Rotated => true,
                            RotateOutcome::Refused => false,
                            other => panic!("a sign-in by rotation answered {other:?}"),
                        }
                    }
                    None => match store
                        .create_within_limit(&to, &signed_in(&user, at), &limit)
                        .await?
                    {
                        CreateOutcome::Created => true,
                        CreateOutcome::Refused => false,
                        other => panic!("a sign-in by a new session answered {other:?}"),
                    },
                };
                Ok::<_, StoreError>((admitted, to))
            });
        }
        let mut admitted = Vec::new();
        while let Some(joined) = sign_ins.join_next().await {
            let (through, key) = joined
                .expect("sign-in task panicked")
                .expect("a sign-in failed");
            if through {
                admitted.push(key);
            }
        }
        let live = live_keys(&*store, &user, at).await;
        assert_eq!(
            live.len(),
            CONCURRENT_LIMIT as usize,
            "{policy:?}: {CONCURRENT_WRITERS} concurrent sign-ins with a limit of \
             {CONCURRENT_LIMIT} left {} live sessions",
            live.len()
        );
        match policy {
            LimitPolicy::Refuse => assert_eq!(
                sorted(admitted),
                live,
                "refusing: exactly the admitted sign-ins are live"
            ),
            _ => {
                assert_eq!(
                    admitted.len(),
                    CONCURRENT_WRITERS,
                    "evicting: every sign-in goes through"
                );
                assert!(live.iter().all(|key| admitted.contains(key)));
            }
        }
    }
}

/// A layout without a per-user index (the Node layouts) cannot count a user's sessions: a
/// limited create, update or rotation answers `Unsupported` and writes nothing.
pub async fn per_user_limit_is_unsupported<S: Store>(store: S) {
    let t = now();
    let user = fresh_user();
    let limit = UserLimit::new(3, LimitPolicy::Refuse);
    let key = fresh_key();
    let mut record = signed_in(&user, t);
    record.data.insert("a".into(), serde_json::json!(1));
    let unsupported = |answer: Result<String, StoreError>, what: &str| match answer {
        Err(StoreError::Unsupported(reason)) => assert_eq!(reason, PER_USER_LIMIT),
        other => panic!("{what} under a per-user limit answered {other:?}, not Unsupported"),
    };
    unsupported(
        store
            .create_within_limit(&key, &record, &limit)
            .await
            .map(|outcome| format!("{outcome:?}")),
        "a create",
    );
    assert!(
        load(&store, &key, t).await.is_none(),
        "an unsupported create writes nothing"
    );

    let anonymous = fresh_key();
    let mut plain = record_at(t);
    plain.data.insert("a".into(), serde_json::json!(1));
    create(&store, &anonymous, &plain).await;
    let changes = signing_in(&user, limit, t);
    unsupported(
        store
            .update(&anonymous, &changes, t)
            .await
            .map(|outcome| format!("{outcome:?}")),
        "an update",
    );
    unsupported(
        store
            .rotate(&anonymous, &fresh_key(), &changes, t)
            .await
            .map(|outcome| format!("{outcome:?}")),
        "a rotation",
    );
    let kept = load(&store, &anonymous, t)
        .await
        .expect("an unsupported sign-in leaves the session");
    assert_eq!(kept.user, None, "and signs nobody in");
}

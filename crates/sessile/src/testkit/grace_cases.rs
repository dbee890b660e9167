//! Conformance cases for the rotation grace window: the forward pointer a rotation leaves under
//! the old key ([`crate::Forward`], [`Lookup::Forwarded`]).

use std::time::Duration;

use serde_json::json;

use crate::change::{ChangeSet, Forward};
use crate::id::StoreKey;
use crate::store::{IncrementOutcome, Lookup, RotateOutcome, Store, UpdateOutcome};
use crate::time::Timestamp;

use super::cases::{
    create, fresh_key, fresh_user, increment, load, load_live, now, record_at, rotate, setting,
    touched, MINUTE,
};

/// The grace the cases ask for: longer than any case takes, so only the explicit `now` values
/// decide whether a pointer has lapsed (Redis also drops it at this real deadline).
const GRACE: Duration = Duration::from_secs(60);

/// Sealed bytes as the engine would store them: opaque to the store, any length, any byte.
fn sealed_bytes() -> Vec<u8> {
    let mut bytes = fresh_key().as_bytes().to_vec();
    bytes.extend_from_slice(&[0, 255, b'"', b'\\', 0x80, b'\n']);
    bytes.extend_from_slice(fresh_key().as_bytes());
    bytes
}

fn forwarding(changes: ChangeSet, sealed_id: &[u8], until: Timestamp) -> ChangeSet {
    ChangeSet {
        forward: Some(Forward::new(sealed_id.to_vec(), until)),
        ..changes
    }
}

async fn lookup<S: Store + ?Sized>(store: &S, key: &StoreKey, at: Timestamp) -> Lookup {
    store.lookup(key, at).await.expect("lookup failed")
}

/// A rotation with a forward pointer leaves it under the old key, in the same atomic
/// operation: until its deadline `lookup` of the old key answers `Forwarded` with the new key
/// and the sealed bytes exactly as given, and from the deadline on `Missing`.
pub async fn rotation_leaves_a_forward_pointer_for_the_grace<S: Store>(store: S) {
    let t = now();
    let user = fresh_user();
    let (from, to) = (fresh_key(), fresh_key());
    let mut record = record_at(t);
    record.user = Some(user.clone());
    record.data.insert("a".into(), json!(1));
    create(&store, &from, &record).await;

    let until = t + GRACE;
    let sealed = sealed_bytes();
    let changes = forwarding(setting("b", json!(2), t), &sealed, until);
    assert_eq!(
        rotate(&store, &from, &to, &changes, t).await,
        RotateOutcome::Rotated
    );
    assert_eq!(
        lookup(&store, &from, t).await,
        Lookup::Forwarded {
            to: to.clone(),
            sealed_id: sealed.clone()
        },
        "the old key leads to the new one during the grace"
    );
    assert_eq!(
        lookup(&store, &from, until - Duration::from_millis(1)).await,
        Lookup::Forwarded {
            to: to.clone(),
            sealed_id: sealed
        },
        "the pointer lasts until its deadline"
    );
    assert_eq!(
        lookup(&store, &from, until).await,
        Lookup::Missing,
        "the pointer lapses at its deadline: the old id is dead"
    );
    let moved = load_live(&store, &to, t).await;
    assert_eq!(moved.data["a"], json!(1));
    assert_eq!(moved.data["b"], json!(2));
}

/// A forward pointer is no session: loading, updating, incrementing or rotating the old key
/// finds nothing (the engine follows the pointer itself), the user's listing shows only the new
/// key, and a rotation without a pointer leaves nothing behind.
pub async fn forward_pointer_is_no_session<S: Store>(store: S) {
    let t = now();
    let user = fresh_user();
    let (from, to) = (fresh_key(), fresh_key());
    let mut record = record_at(t);
    record.user = Some(user.clone());
    create(&store, &from, &record).await;
    let changes = forwarding(touched(ChangeSet::default(), t), &sealed_bytes(), t + GRACE);
    assert_eq!(
        rotate(&store, &from, &to, &changes, t).await,
        RotateOutcome::Rotated
    );

    let at = t + MINUTE / 2;
    assert_eq!(load(&store, &from, at).await, None, "load of a pointer");
    assert_eq!(
        store
            .update(&from, &setting("x", json!(1), at), at)
            .await
            .expect("update failed"),
        UpdateOutcome::Gone,
        "update of a pointer"
    );
    assert_eq!(
        increment(&store, &from, "n", 1, at).await,
        IncrementOutcome::Gone,
        "increment of a pointer"
    );
    assert_eq!(
        rotate(
            &store,
            &from,
            &fresh_key(),
            &touched(ChangeSet::default(), at),
            at
        )
        .await,
        RotateOutcome::Gone,
        "rotation of a pointer"
    );
    let listed: Vec<StoreKey> = super::cases::list(&store, &user, at)
        .await
        .into_iter()
        .map(|summary| summary.key)
        .collect();
    assert_eq!(
        listed,
        vec![to.clone()],
        "the listing shows the new key only"
    );
    assert!(
        !load_live(&store, &to, at).await.data.contains_key("x"),
        "nothing written through the pointer"
    );

    // Without a pointer the old key is dead at once, as before.
    let (plain_from, plain_to) = (fresh_key(), fresh_key());
    create(&store, &plain_from, &record_at(t)).await;
    let plain = touched(ChangeSet::default(), t);
    assert_eq!(
        rotate(&store, &plain_from, &plain_to, &plain, t).await,
        RotateOutcome::Rotated
    );
    assert_eq!(lookup(&store, &plain_from, t).await, Lookup::Missing);
}

/// `delete` of the old key removes its pointer (sign-out through an old id ends the grace), and
/// deleting the session it leads to leaves a pointer to nothing, which the engine treats as no
/// session.
pub async fn delete_removes_a_forward_pointer<S: Store>(store: S) {
    let t = now();
    let (from, to) = (fresh_key(), fresh_key());
    create(&store, &from, &record_at(t)).await;
    let changes = forwarding(touched(ChangeSet::default(), t), &sealed_bytes(), t + GRACE);
    assert_eq!(
        rotate(&store, &from, &to, &changes, t).await,
        RotateOutcome::Rotated
    );
    store.delete(&to).await.expect("delete failed");
    assert_eq!(
        load(&store, &to, t).await,
        None,
        "the session the pointer led to is gone"
    );
    store.delete(&from).await.expect("delete failed");
    assert_eq!(
        lookup(&store, &from, t).await,
        Lookup::Missing,
        "delete of the old key removes its pointer"
    );
}

/// A rotation that finds the old record gone writes no pointer either: a signed-out session is
/// never reached through one.
pub async fn rotation_of_a_gone_session_leaves_no_pointer<S: Store>(store: S) {
    let t = now();
    let (from, to) = (fresh_key(), fresh_key());
    create(&store, &from, &record_at(t)).await;
    store.delete(&from).await.expect("delete failed");
    let changes = forwarding(touched(ChangeSet::default(), t), &sealed_bytes(), t + GRACE);
    assert_eq!(
        rotate(&store, &from, &to, &changes, t).await,
        RotateOutcome::Gone
    );
    assert_eq!(lookup(&store, &from, t).await, Lookup::Missing);
    assert_eq!(lookup(&store, &to, t).await, Lookup::Missing);
}

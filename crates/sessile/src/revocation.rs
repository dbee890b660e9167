//! Revocable client-side sessions: a per-user "not before" time that a sealed-cookie session is
//! checked against on load, so signing a user out everywhere reaches cookies the server never
//! stored. One lookup per request that opens a signed-in cookie session; anonymous ones cost
//! nothing.
//!
//! A cookie session is self-contained: without this check a copied cookie stays valid until
//! its idle or absolute deadline, whatever the server does (see [`crate::SealedCookies`]).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::change::{ChangeSet, Touch};
use crate::id::StoreKey;
use crate::record::Record;
use crate::store::{CreateOutcome, Store, StoreError, UpdateOutcome};
use crate::time::Timestamp;

/// Where the per-user "not before" times live. Sessions of `user` created before the time are
/// revoked. [`StoreRevocations`] keeps them in any [`Store`]; implement it over an app's own
/// table or cache the same way.
///
/// ```
/// use std::time::Duration;
/// use sessile::revocation::{RevocationList, StoreRevocations};
/// use sessile::{MemoryStore, Timestamp};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let revocations = StoreRevocations::new(MemoryStore::new(), Duration::from_secs(12 * 3600));
/// let at = Timestamp::from_millis(1_700_000_000_000);
/// assert_eq!(revocations.not_before("ada", at).await?, None);
/// revocations.revoke("ada", at).await?;
/// assert_eq!(revocations.not_before("ada", at).await?, Some(at));
/// # Ok::<(), sessile::StoreError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait RevocationList: Send + Sync + 'static {
    /// The time before which `user`'s sessions were created revoked, if any (asked at `now`).
    async fn not_before(&self, user: &str, now: Timestamp)
        -> Result<Option<Timestamp>, StoreError>;

    /// Revokes every session of `user` created before `at`.
    async fn revoke(&self, user: &str, at: Timestamp) -> Result<(), StoreError>;
}

/// A [`RevocationList`] kept in a session store, one record per revoked user under a key
/// derived from the user's name (SHA-256 of a fixed prefix and the name, so it can collide
/// with no session's key). Each record lives for `horizon`, the longest a session can live
/// (the absolute lifetime, or the longest [`crate::Session::set_lifetime`] the app sets):
/// every session created before the revocation has ended by then, so the record may go.
///
/// The records count as sessions in the store's `scan` and `count_live`; give the list a store
/// of its own (another table or key prefix) to keep them out of session counts.
pub struct StoreRevocations<S> {
    store: S,
    horizon: Duration,
}

/// The data key of the "not before" time in a revocation record.
const NOT_BEFORE: &str = "not_before";

impl<S: Store> StoreRevocations<S> {
    /// Revocations in `store`, each kept for `horizon`.
    pub fn new(store: S, horizon: Duration) -> Self {
        Self { store, horizon }
    }

    fn key(user: &str) -> StoreKey {
        let mut hasher = Sha256::new();
        hasher.update(b"sessile revocation\0");
        hasher.update(user.as_bytes());
        StoreKey::from_bytes(hasher.finalize().into())
    }
}

#[async_trait]
impl<S: Store> RevocationList for StoreRevocations<S> {
    async fn not_before(
        &self,
        user: &str,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let Some(record) = self.store.load(&Self::key(user), now).await? else {
            return Ok(None);
        };
        match record.data.get(NOT_BEFORE).and_then(Value::as_i64) {
            Some(millis) => Ok(Some(Timestamp::from_millis(millis))),
            None => Err(StoreError::Corrupt(format!(
                "revocation record of {user:?} holds no {NOT_BEFORE} time"
            ))),
        }
    }

    async fn revoke(&self, user: &str, at: Timestamp) -> Result<(), StoreError> {
        let key = Self::key(user);
        let until = at + self.horizon;
        let mut changes = ChangeSet::default();
        changes.set(NOT_BEFORE, at.as_millis().into());
        changes.absolute_deadline = Some(until);
        changes.touch = Some(Touch::new(at, until));
        // An update keeps one record per user; a create when there is none. A create that
        // collides met a concurrent revocation, which the update then overwrites with this one.
        for _ in 0..2 {
            if self.store.update(&key, &changes, at).await? == UpdateOutcome::Applied {
                return Ok(());
            }
            let mut record = Record::new(at, until, until);
            record
                .data
                .insert(NOT_BEFORE.to_owned(), at.as_millis().into());
            if self.store.create(&key, &record).await? == CreateOutcome::Created {
                return Ok(());
            }
        }
        Err(StoreError::Backend(
            "the revocation record kept changing while it was written".into(),
        ))
    }
}

//! Takeover: the end of a migration. A legacy app (a Node app on one of the Node layouts) is
//! switched off, and its users move to sessile's own layout as they come back, without a
//! logout: the legacy cookie is accepted once, the session moves into the native store under a
//! new sessile id, and the legacy record and cookie are removed.
//!
//! [`Takeover`] holds the secret that names each legacy session's native successor:
//! the new id is HMAC-SHA256(secret, legacy id), so every request (and the batch form) that
//! moves one legacy session agrees on where it goes. That is what makes the move safe under
//! concurrent requests of one user: whichever request creates the native record first wins, the
//! others find it under the same id and apply their changes to it, so there is never a second
//! native session, and the legacy record is deleted only once the native one exists.
//!
//! - [`TakeoverIds`] reads the native cookie first, else the legacy one; a legacy id is moved at
//!   the end of the request that uses the session (the engine rotates it to
//!   [`IdCodec::takeover`]'s id); the response removes the legacy cookie(s) and sets the native
//!   one.
//! - [`TakeoverStore`] serves legacy keys from the legacy store (falling back on the successor
//!   once moved), everything else from the native store, and performs the move
//!   ([`TakeoverStore::take_over`], also the batch form for sessions nobody revisits).
//!
//! ```
//! use std::sync::Arc;
//! use sessile::takeover::{Takeover, TakeoverIds, TakeoverStore};
//! use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
//!
//! let takeover = Takeover::new(&[9u8; 32])?;
//! let legacy_store = Arc::new(MemoryStore::new()); // the Node layout's store
//! let native_store = Arc::new(MemoryStore::new());
//! let legacy_ids = Arc::new(SignedIds::new(Keys::generate())); // the Node codec
//! let ids = TakeoverIds::new(takeover.clone(), SignedIds::new(Keys::generate()), legacy_ids);
//! let store = TakeoverStore::new(takeover, native_store, legacy_store, Config::default());
//! let manager = SessionManager::new(store, ids, Config::default());
//! # let _ = manager;
//! # Ok::<(), sessile::KeyError>(())
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue};
use sha2::Sha256;

use crate::change::ChangeSet;
use crate::codec::{HeaderList, IdCodec, PresentedId};
use crate::config::Config;
use crate::id::{SessionId, StoreKey};
use crate::keys::KeyError;
use crate::limit::UserLimit;
use crate::record::Record;
use crate::store::{
    CreateOutcome, IncrementOutcome, Lookup, RotateOutcome, Store, StoreError, UpdateOutcome,
};
use crate::time::Timestamp;
use crate::Touch;

/// The shortest takeover secret: 32 bytes, as for [`crate::Key::from_secret`].
const MIN_SECRET_LEN: usize = 32;

/// Names each legacy session's native successor (see the module docs). Keep the secret like
/// a signing key: with it and a legacy id, anyone could compute the successor's id.
#[derive(Clone)]
pub struct Takeover {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Takeover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Takeover(..)")
    }
}

impl Takeover {
    /// A takeover keyed by `secret` (at least 32 bytes).
    ///
    /// ```
    /// use sessile::takeover::Takeover;
    /// use sessile::SessionId;
    /// let takeover = Takeover::new(&[1u8; 32])?;
    /// let legacy = SessionId::foreign("koa:sess:abc").unwrap();
    /// let native = takeover.successor(&legacy).unwrap();
    /// assert_eq!(Some(native.clone()), takeover.successor(&legacy));
    /// assert_eq!(native.encode().len(), 43);
    /// assert!(takeover.successor(&native).is_none(), "native ids do not move");
    /// assert!(Takeover::new(b"short").is_err());
    /// # Ok::<(), sessile::KeyError>(())
    /// ```
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort(secret.len()));
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| {
            // HMAC takes any key length; this cannot happen.
            KeyError::TooShort(secret.len())
        })?;
        Ok(Self { mac })
    }

    /// The native id the legacy session `legacy` moves to; `None` for a native id.
    pub fn successor(&self, legacy: &SessionId) -> Option<SessionId> {
        let key = legacy.store_key();
        let plain = key.plain()?;
        let mut mac = self.mac.clone();
        mac.update(b"sessile takeover v1\0");
        mac.update(plain.as_bytes());
        let bytes = mac.finalize().into_bytes();
        SessionId::decode(&URL_SAFE_NO_PAD.encode(bytes))
    }

    fn successor_key(&self, legacy: &StoreKey) -> Option<StoreKey> {
        let id = SessionId::foreign(legacy.plain()?)?;
        self.successor(&id).map(|id| id.store_key())
    }
}

/// The id codec of takeover mode: sessile's own cookie first, else the legacy app's, whose
/// sessions move on first use (see the module docs).
pub struct TakeoverIds {
    takeover: Takeover,
    native: Arc<dyn IdCodec>,
    legacy: Arc<dyn IdCodec>,
}

impl TakeoverIds {
    /// Native ids come from `native` (say [`crate::SignedIds`]); `legacy` reads the legacy
    /// app's cookie (a Node codec). Both must read the same header (`Cookie`).
    pub fn new(takeover: Takeover, native: impl IdCodec, legacy: impl IdCodec) -> Self {
        Self {
            takeover,
            native: Arc::new(native),
            legacy: Arc::new(legacy),
        }
    }
}

impl IdCodec for TakeoverIds {
    fn header(&self) -> &HeaderName {
        self.native.header()
    }

    fn generate(&self) -> SessionId {
        self.native.generate()
    }

    fn read(&self, values: &[HeaderValue]) -> PresentedId {
        match self.native.read(values) {
            PresentedId::Absent => {}
            valid @ PresentedId::Valid { .. } => return valid,
            refused => {
                // A refused native cookie does not hide a legacy one that verifies.
                if let valid @ PresentedId::Valid { .. } = self.legacy.read(values) {
                    return valid;
                }
                return refused;
            }
        }
        match self.legacy.read(values) {
            // Moving re-issues the cookie anyway: no separate re-signing.
            PresentedId::Valid { id, .. } => PresentedId::Valid { id, stale: false },
            other => other,
        }
    }

    fn issue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList {
        if id.store_key().plain().is_some() {
            return self.legacy.issue(id, record, now);
        }
        // The native cookie, and the legacy cookie's removal: once moved, the legacy id is
        // dead, and a browser must not keep presenting it.
        let mut headers = self.legacy.removal();
        headers.extend(self.native.issue(id, record, now));
        headers
    }

    fn reissue(&self, id: &SessionId, record: &Record, now: Timestamp) -> HeaderList {
        if id.store_key().plain().is_some() {
            return self.legacy.reissue(id, record, now);
        }
        self.native.reissue(id, record, now)
    }

    fn removal(&self) -> HeaderList {
        let mut headers = self.legacy.removal();
        headers.extend(self.native.removal());
        headers
    }

    fn renews_on_write(&self) -> bool {
        self.native.renews_on_write()
    }

    fn clears_refused(&self) -> bool {
        self.native.clears_refused()
    }

    fn takeover(&self, id: &SessionId) -> Option<SessionId> {
        self.takeover.successor(id)
    }
}

/// The store of takeover mode: legacy keys in the legacy store (or, once moved, their
/// successor in the native one), everything else in the native store.
pub struct TakeoverStore {
    takeover: Takeover,
    native: Arc<dyn Store>,
    legacy: Arc<dyn Store>,
    config: Config,
}

impl TakeoverStore {
    /// Moves legacy sessions from `legacy` to `native`. `config` gives a moved session sessile's
    /// absolute lifetime (counted from the move: the legacy record has no creation time).
    pub fn new(takeover: Takeover, native: impl Store, legacy: impl Store, config: Config) -> Self {
        Self {
            takeover,
            native: Arc::new(native),
            legacy: Arc::new(legacy),
            config,
        }
    }

    /// Moves the legacy session `legacy` into the native store with `changes` applied, under its
    /// successor id, and deletes the legacy record once the native one exists; the successor's
    /// id, or `None` when there is no such live session in either store. Safe to run
    /// concurrently for one session (requests, a batch): the first creates, the others apply
    /// their changes to what it created. The batch form: call it with each legacy id the admin
    /// lists (the id travels nowhere; a user who comes back with the legacy cookie finds the
    /// session under the same successor).
    ///
    /// # Errors
    ///
    /// The stores' errors; a native id is [`StoreError::Backend`].
    pub async fn take_over(
        &self,
        legacy: &SessionId,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<Option<SessionId>, StoreError> {
        let successor = self.takeover.successor(legacy).ok_or_else(|| {
            StoreError::Backend("takeover moves legacy (foreign) ids only".into())
        })?;
        Ok(
            match self.move_legacy(legacy, &successor, changes, now).await? {
                RotateOutcome::Rotated => Some(successor),
                _ => None,
            },
        )
    }

    /// The move of [`TakeoverStore::take_over`], telling a session gone from one whose
    /// sign-in the native store's per-user limit refused ([`ChangeSet::user_limit`]: the
    /// native create counts the user's sessions, and nothing moves when it refuses).
    async fn move_legacy(
        &self,
        legacy: &SessionId,
        successor: &SessionId,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        let (from, to) = (legacy.store_key(), successor.store_key());
        let moved = match self.legacy.load(&from, now).await? {
            Some(mut record) => {
                changes.apply_to(&mut record).map_err(StoreError::from)?;
                record.absolute_deadline = now + self.config.absolute_lifetime();
                let created = match &changes.user_limit {
                    Some(limit) if record.user.is_some() => {
                        self.native.create_within_limit(&to, &record, limit).await?
                    }
                    _ => self.native.create(&to, &record).await?,
                };
                match created {
                    CreateOutcome::Created => RotateOutcome::Rotated,
                    CreateOutcome::Refused => return Ok(RotateOutcome::Refused),
                    // Another request moved it first: this one's changes go on top.
                    _ => self.apply_to_successor(&to, changes, now).await?,
                }
            }
            // Moved already (by another request or a batch), or gone.
            None => self.apply_to_successor(&to, changes, now).await?,
        };
        if moved == RotateOutcome::Rotated {
            self.legacy.delete(&from).await?;
        }
        Ok(moved)
    }

    async fn apply_to_successor(
        &self,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        Ok(match self.native.update(to, changes, now).await? {
            UpdateOutcome::Applied => RotateOutcome::Rotated,
            UpdateOutcome::Refused => RotateOutcome::Refused,
            _ => RotateOutcome::Gone,
        })
    }

    fn is_legacy(key: &StoreKey) -> bool {
        key.plain().is_some()
    }
}

#[async_trait]
impl Store for TakeoverStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(match self.lookup(key, now).await? {
            Lookup::Live(record) => Some(record),
            _ => None,
        })
    }

    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        if !Self::is_legacy(key) {
            return self.native.lookup(key, now).await;
        }
        match self.legacy.lookup(key, now).await? {
            Lookup::Missing => match self.takeover.successor_key(key) {
                // Moved meanwhile (a concurrent request, a batch): its successor.
                Some(successor) => self.native.lookup(&successor, now).await,
                None => Ok(Lookup::Missing),
            },
            found => Ok(found),
        }
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        // New sessions are native: the codec generates native ids.
        self.native.create(key, record).await
    }

    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        self.native.create_within_limit(key, record, limit).await
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        if !Self::is_legacy(key) {
            return self.native.update(key, changes, now).await;
        }
        match self.legacy.update(key, changes, now).await? {
            UpdateOutcome::Gone => match self.takeover.successor_key(key) {
                Some(successor) => self.native.update(&successor, changes, now).await,
                None => Ok(UpdateOutcome::Gone),
            },
            applied => Ok(applied),
        }
    }

    /// A rotation from a legacy key to its successor is the move ([`TakeoverStore::take_over`]);
    /// any other rotation stays in its store.
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        if !Self::is_legacy(from) {
            return self.native.rotate(from, to, changes, now).await;
        }
        let legacy = from
            .plain()
            .and_then(SessionId::foreign)
            .ok_or_else(|| StoreError::Backend("not a legacy id".into()))?;
        if self.takeover.successor_key(from).as_ref() != Some(to) {
            return self.legacy.rotate(from, to, changes, now).await;
        }
        let successor = self
            .takeover
            .successor(&legacy)
            .ok_or_else(|| StoreError::Backend("not a legacy id".into()))?;
        self.move_legacy(&legacy, &successor, changes, now).await
    }

    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        if !Self::is_legacy(key) {
            return self.native.increment(key, field, by, touch, now).await;
        }
        match self.legacy.increment(key, field, by, touch, now).await? {
            IncrementOutcome::Gone => match self.takeover.successor_key(key) {
                Some(successor) => {
                    self.native
                        .increment(&successor, field, by, touch, now)
                        .await
                }
                None => Ok(IncrementOutcome::Gone),
            },
            outcome => Ok(outcome),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        if !Self::is_legacy(key) {
            return self.native.delete(key).await;
        }
        let legacy = self.legacy.delete(key).await?;
        let moved = match self.takeover.successor_key(key) {
            Some(successor) => self.native.delete(&successor).await?,
            None => false,
        };
        Ok(legacy || moved)
    }

    /// The user's native sessions (moved ones included); legacy sessions not moved yet are not
    /// listed (the legacy layouts keep no per-user index).
    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<crate::store::UserSessionsPage, StoreError> {
        self.native
            .list_user_sessions(user, now, cursor, limit)
            .await
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        self.native.delete_user_sessions(user, keep).await
    }

    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let native = self.native.delete_expired(now, limit).await?;
        let legacy = self.legacy.delete_expired(now, limit).await?;
        Ok(native + legacy)
    }

    fn name(&self) -> &'static str {
        "takeover"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use serde_json::json;
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3600);

    fn legacy_record(at: Timestamp, user: &str) -> Record {
        let mut record = Record::new(at, at + HOUR, Timestamp::from_millis(i64::MAX));
        record.user = Some(user.to_owned());
        record.data.insert("n".into(), json!(1));
        record
    }

    fn stores() -> (Arc<MemoryStore>, Arc<MemoryStore>, Arc<TakeoverStore>) {
        let (native, legacy) = (Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
        let takeover = Takeover::new(&[3u8; 32]).unwrap();
        let store = TakeoverStore::new(takeover, native.clone(), legacy.clone(), Config::default());
        (native, legacy, Arc::new(store))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_moves_of_one_session_make_one_native_session_with_every_change() {
        let (native, legacy, store) = stores();
        let at = Timestamp::from_millis(1_700_000_000_000);
        let id = SessionId::foreign("koa:sess:concurrent").unwrap();
        legacy
            .create(&id.store_key(), &legacy_record(at, "ada"))
            .await
            .unwrap();
        let mut moves = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (store, id) = (store.clone(), id.clone());
            moves.spawn(async move {
                let mut changes = ChangeSet::default();
                changes.set(format!("k{i}"), json!(i));
                changes.touch = Some(Touch::new(at, at + HOUR));
                store.take_over(&id, &changes, at).await
            });
        }
        let mut successors = Vec::new();
        while let Some(moved) = moves.join_next().await {
            successors.push(moved.unwrap().unwrap().expect("moved or found moved"));
        }
        successors.dedup();
        assert_eq!(successors.len(), 1, "one successor for every move");
        assert!(legacy.load(&id.store_key(), at).await.unwrap().is_none());
        let listed = native
            .list_user_sessions("ada", at, None, 10)
            .await
            .unwrap()
            .sessions;
        assert_eq!(listed.len(), 1, "one native session: {listed:?}");
        let record = native
            .load(&successors[0].store_key(), at)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.data["n"], 1);
        for i in 0..16 {
            assert_eq!(record.data[&format!("k{i}")], i, "the change of move {i}");
        }
    }

    #[tokio::test]
    async fn a_batch_moved_session_is_found_by_its_legacy_id() {
        let (_native, legacy, store) = stores();
        let at = Timestamp::from_millis(1_700_000_000_000);
        let id = SessionId::foreign("sess:batch").unwrap();
        legacy
            .create(&id.store_key(), &legacy_record(at, "bo"))
            .await
            .unwrap();
        let moved = store
            .take_over(&id, &ChangeSet::default(), at)
            .await
            .unwrap();
        assert!(moved.is_some());
        match store.lookup(&id.store_key(), at).await.unwrap() {
            Lookup::Live(record) => assert_eq!(record.user.as_deref(), Some("bo")),
            other => panic!("the moved session is served by its legacy id: {other:?}"),
        }
        let missing = SessionId::foreign("sess:never").unwrap();
        assert_eq!(
            store
                .take_over(&missing, &ChangeSet::default(), at)
                .await
                .unwrap(),
            None
        );
        assert!(matches!(
            store
                .take_over(&SessionId::generate(), &ChangeSet::default(), at)
                .await,
            Err(StoreError::Backend(_))
        ));
    }
}

//! A store in process memory: for tests, development and single-process apps.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::change::{incremented, ChangeSet, Touch};
use crate::document::OperationError;
use crate::id::StoreKey;
use crate::record::{Record, SessionSummary};
use crate::store::{
    CreateOutcome, IncrementOutcome, Lookup, RotateOutcome, ScanPage, ScannedSession, Store,
    StoreError, UpdateOutcome,
};
use crate::time::Timestamp;

/// How many expired entries one write frees on its way, so memory is reclaimed without waiting
/// for lookups of those keys and without one write paying for a large backlog.
const EXPIRED_FREED_PER_WRITE: usize = 16;

/// A concurrent in-memory store.
///
/// Every operation is atomic under one lock. Expired entries are freed by writes (a few at a
/// time, oldest first) and by [`Store::delete_expired`]. With a capacity bound, creating a
/// session in a full store evicts the anonymous session (nobody signed in) closest to expiry,
/// and a signed-in one only when no anonymous session is left: a flood of anonymous writes
/// (a crawler, a script posting forms) cannot sign users out.
///
/// ```
/// use sessile::MemoryStore;
/// let store = MemoryStore::new().with_capacity(10_000);
/// # let _ = store;
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    capacity: Option<usize>,
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<StoreKey, Record, KeyHashing>,
    by_expiry: BTreeSet<(Timestamp, StoreKey)>,
    /// The anonymous sessions of `by_expiry`, which a full store evicts first.
    anonymous_by_expiry: BTreeSet<(Timestamp, StoreKey)>,
    by_user: HashMap<String, HashSet<StoreKey, KeyHashing>>,
    /// Forward pointers rotations left under old keys (rotation grace): where the session went,
    /// the sealed new id, and until when.
    forwards: HashMap<StoreKey, Forwarding, KeyHashing>,
}

#[derive(Debug)]
struct Forwarding {
    to: StoreKey,
    sealed_id: Vec<u8>,
    until: Timestamp,
}

/// How many forward pointers may pile up before a rotation sweeps the lapsed ones: they live a
/// few seconds, so a sweep is rare and short.
const FORWARDS_BEFORE_SWEEP: usize = 1024;

/// Hashing for store keys, which are SHA-256 digests of ids: foldhash, seeded per process, costs
/// a fraction of SipHash on every lookup; the keys are not chosen by clients (none reaches the
/// map unsigned) and the seed keeps their placement unpredictable anyway.
type KeyHashing = foldhash::fast::RandomState;

impl Inner {
    fn live(&self, key: &StoreKey, now: Timestamp) -> Option<&Record> {
        self.records.get(key).filter(|record| record.is_live(now))
    }

    fn insert(&mut self, key: StoreKey, record: Record) {
        self.remove(&key);
        self.by_expiry.insert((record.expires_at(), key.clone()));
        match &record.user {
            Some(user) => {
                self.by_user
                    .entry(user.clone())
                    .or_default()
                    .insert(key.clone());
            }
            None => {
                self.anonymous_by_expiry
                    .insert((record.expires_at(), key.clone()));
            }
        }
        self.records.insert(key, record);
    }

    fn remove(&mut self, key: &StoreKey) -> Option<Record> {
        let record = self.records.remove(key)?;
        self.by_expiry.remove(&(record.expires_at(), key.clone()));
        if record.user.is_none() {
            self.anonymous_by_expiry
                .remove(&(record.expires_at(), key.clone()));
        }
        if let Some(user) = &record.user {
            if let Some(keys) = self.by_user.get_mut(user) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_user.remove(user);
                }
            }
        }
        Some(record)
    }

    fn free_expired(&mut self, now: Timestamp, limit: usize) -> u64 {
        // The common case on every write: nothing has expired.
        if self
            .by_expiry
            .first()
            .is_none_or(|(expires_at, _)| *expires_at > now)
        {
            return 0;
        }
        let expired: Vec<StoreKey> = self
            .by_expiry
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .take(limit)
            .map(|(_, key)| key.clone())
            .collect();
        for key in &expired {
            self.remove(key);
        }
        expired.len() as u64
    }

    /// Applies `changes` to the live record under `key`, moving it to `to`.
    fn apply(
        &mut self,
        key: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<bool, OperationError> {
        if key == to && changes.user.is_none() {
            // Same key, same user: change the record where it is (one lookup, no move), and
            // its expiry entry only if the expiry moved.
            let mut applied = Ok(());
            let live = self.change_in_place(key, now, |record| applied = changes.apply_to(record));
            return applied.map(|()| live);
        }
        if self.live(key, now).is_none() {
            return Ok(false);
        }
        let mut record = self.remove(key).expect("checked live above");
        if let Err(refused) = changes.apply_to(&mut record) {
            // A refused change set leaves the record as it was, where it was.
            self.insert(key.clone(), record);
            return Err(refused);
        }
        self.insert(to.clone(), record);
        Ok(true)
    }
}

impl Inner {
    /// Runs `change` on the live record under `key`, which must keep its user, then moves its
    /// expiry index entry if its expiry changed. Whether there was a live record.
    fn change_in_place(
        &mut self,
        key: &StoreKey,
        now: Timestamp,
        change: impl FnOnce(&mut Record),
    ) -> bool {
        let Some(record) = self
            .records
            .get_mut(key)
            .filter(|record| record.is_live(now))
        else {
            return false;
        };
        let expired_at = record.expires_at();
        change(record);
        let expires_at = record.expires_at();
        if expires_at != expired_at {
            self.by_expiry.remove(&(expired_at, key.clone()));
            self.by_expiry.insert((expires_at, key.clone()));
            if record.user.is_none() {
                self.anonymous_by_expiry.remove(&(expired_at, key.clone()));
                self.anonymous_by_expiry.insert((expires_at, key.clone()));
            }
        }
        true
    }
}

impl MemoryStore {
    /// An unbounded store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bounds the number of sessions; a create in a full store evicts the anonymous session
    /// closest to expiry, or the signed-in one closest to expiry when none is anonymous.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessile::{MemoryStore, Record, SessionId, Store, Timestamp};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new().with_capacity(2);
    /// let at = Timestamp::from_millis(0);
    /// let mut signed_in = Record::new(at, at + Duration::from_secs(60), at + Duration::from_secs(60));
    /// signed_in.user = Some("ada".into());
    /// let ada = SessionId::generate().store_key();
    /// store.create(&ada, &signed_in).await.unwrap();
    /// for _ in 0..100 {
    ///     let later = Record::new(at, at + Duration::from_secs(600), at + Duration::from_secs(600));
    ///     store.create(&SessionId::generate().store_key(), &later).await.unwrap();
    /// }
    /// assert_eq!(store.len(), 2);
    /// assert!(store.load(&ada, at).await.unwrap().is_some());
    /// # });
    /// ```
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// How many records are held, expired ones not yet freed included.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether no records are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way later
        // operations trust, so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self, now: Timestamp) -> MutexGuard<'_, Inner> {
        let mut inner = self.lock();
        inner.free_expired(now, EXPIRED_FREED_PER_WRITE);
        inner
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(self.lock().live(key, now).cloned())
    }

    /// An expired record stays until a write frees it or cleanup runs; until then it is
    /// `Expired`, afterwards `Missing`.
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        let inner = self.lock();
        Ok(match inner.records.get(key) {
            None => match inner.forwards.get(key) {
                Some(forward) if now < forward.until => Lookup::Forwarded {
                    to: forward.to.clone(),
                    sealed_id: forward.sealed_id.clone(),
                },
                _ => Lookup::Missing,
            },
            Some(record) => match record.expired_by(now) {
                None => Lookup::Live(record.clone()),
                Some(deadline) => Lookup::Expired(deadline),
            },
        })
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        let now = record.last_seen;
        let mut inner = self.write(now);
        if inner.live(key, now).is_some() {
            return Ok(CreateOutcome::Collision);
        }
        if let Some(capacity) = self.capacity {
            while inner.records.len() >= capacity {
                let soonest = inner
                    .anonymous_by_expiry
                    .first()
                    .or_else(|| inner.by_expiry.first())
                    .map(|(_, key)| key.clone());
                let Some(soonest) = soonest else {
                    break;
                };
                inner.remove(&soonest);
            }
        }
        inner.insert(key.clone(), record.clone());
        Ok(CreateOutcome::Created)
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let applied = self.write(now).apply(key, key, changes, now)?;
        Ok(if applied {
            UpdateOutcome::Applied
        } else {
            UpdateOutcome::Gone
        })
    }

    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        let mut inner = self.write(now);
        if inner.live(to, now).is_some() {
            return Ok(RotateOutcome::Collision);
        }
        Ok(if inner.apply(from, to, changes, now)? {
            if let Some(forward) = &changes.forward {
                if inner.forwards.len() >= FORWARDS_BEFORE_SWEEP {
                    inner.forwards.retain(|_, lapsed| now < lapsed.until);
                }
                inner.forwards.insert(
                    from.clone(),
                    Forwarding {
                        to: to.clone(),
                        sealed_id: forward.sealed_id.clone(),
                        until: forward.until,
                    },
                );
            }
            RotateOutcome::Rotated
        } else {
            RotateOutcome::Gone
        })
    }

    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let mut inner = self.write(now);
        let mut outcome = IncrementOutcome::Gone;
        inner.change_in_place(key, now, |record| {
            let Some(value) = incremented(record.data.get(field), by) else {
                outcome = IncrementOutcome::NotAnInteger;
                return;
            };
            match record.data.get_mut(field) {
                Some(current) => *current = value.into(),
                None => {
                    record.data.insert(field.to_owned(), value.into());
                }
            }
            // `ChangeSet::apply_to`'s rule for a touch, without building a change set per call.
            record.last_seen = touch.last_seen;
            record.idle_deadline = touch
                .idle_deadline_for(record.idle_timeout)
                .min(record.absolute_deadline);
            outcome = IncrementOutcome::Value(value);
        });
        Ok(outcome)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let forwarded = inner.forwards.remove(key).is_some();
        Ok(inner.remove(key).is_some() || forwarded)
    }

    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let inner = self.lock();
        let mut sessions: Vec<SessionSummary> = inner
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|key| {
                inner
                    .live(key, now)
                    .map(|r| SessionSummary::of(key.clone(), r))
            })
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
        Ok(sessions)
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let doomed: Vec<StoreKey> = inner
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter(|key| Some(*key) != keep)
            .cloned()
            .collect();
        for key in &doomed {
            inner.remove(key);
        }
        Ok(doomed.len() as u64)
    }

    /// Lapsed forward pointers go too, uncounted: they were never sessions.
    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        inner.forwards.retain(|_, forward| now < forward.until);
        Ok(inner.free_expired(now, limit as usize))
    }

    /// Every record less the expired ones, which lead the expiry index: as cheap as the
    /// expired records cleanup has not freed yet are few.
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let inner = self.lock();
        let expired = inner
            .by_expiry
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .count();
        Ok((inner.records.len() - expired) as u64)
    }

    /// In key order, the cursor being the last key's hex: each page walks the whole map, which
    /// is fine for the operator's tools this serves and costs the request path nothing.
    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        let after = match cursor {
            None => None,
            Some(text) => Some(StoreKey::from_hex(text).ok_or_else(|| {
                StoreError::Backend(format!("not a memory store scan cursor: {text:?}").into())
            })?),
        };
        let inner = self.lock();
        let mut keys: Vec<&StoreKey> = inner
            .records
            .keys()
            .filter(|key| after.as_ref().is_none_or(|after| *key > after))
            .collect();
        keys.sort_unstable();
        let limit = (limit as usize).max(1);
        let next = (keys.len() > limit).then(|| keys[limit - 1].to_hex());
        let sessions = keys
            .into_iter()
            .take(limit)
            .map(|key| {
                let record = &inner.records[key];
                ScannedSession::new(SessionSummary::of(key.clone(), record), record.user.clone())
            })
            .collect();
        Ok(ScanPage::new(sessions, next))
    }
}

//! A store in process memory: for tests, development and single-process apps.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::change::{ChangeSet, Touch};
use crate::document::OperationError;
use crate::id::StoreKey;
use crate::limit::{LimitDecision, UserLimit};
use crate::record::{Record, SessionSummary};
use crate::store::{
    CreateOutcome, IncrementOutcome, Lookup, RotateOutcome, ScanPage, ScannedSession, Store,
    StoreError, UpdateOutcome, UserCursor, UserSessionsPage,
};
use crate::time::Timestamp;

mod entry;
mod records;

use entry::{Digest, Entry};
use records::Records;

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
    records: Records,
    /// The anonymous sessions by expiry, which a full store evicts first. Every record is in
    /// exactly one of the two expiry indexes, so none pays for two entries.
    anonymous_by_expiry: BTreeSet<(Timestamp, Digest)>,
    /// The signed-in sessions by expiry.
    signed_in_by_expiry: BTreeSet<(Timestamp, Digest)>,
    by_user: HashMap<Box<str>, HashSet<Digest, KeyHashing>>,
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
    fn live(&self, key: &Digest, now: Timestamp) -> Option<&Entry> {
        self.records.get(key).filter(|entry| entry.is_live(now))
    }

    fn by_expiry(&mut self, signed_in: bool) -> &mut BTreeSet<(Timestamp, Digest)> {
        if signed_in {
            &mut self.signed_in_by_expiry
        } else {
            &mut self.anonymous_by_expiry
        }
    }

    fn insert(&mut self, key: Digest, entry: Entry) {
        self.remove(&key);
        let signed_in = entry.user().is_some();
        self.by_expiry(signed_in).insert((entry.expires_at(), key));
        if let Some(user) = entry.user() {
            match self.by_user.get_mut(user) {
                Some(keys) => {
                    keys.insert(key);
                }
                None => {
                    self.by_user.insert(user.into(), HashSet::from_iter([key]));
                }
            }
        }
        self.records.insert(key, entry);
    }

    fn remove(&mut self, key: &Digest) -> Option<Entry> {
        let entry = self.records.remove(key)?;
        let signed_in = entry.user().is_some();
        self.by_expiry(signed_in)
            .remove(&(entry.expires_at(), *key));
        if let Some(user) = entry.user() {
            if let Some(keys) = self.by_user.get_mut(user) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_user.remove(user);
                }
            }
        }
        Some(entry)
    }

    /// The key of the record that expired first, if one has expired by `now`.
    fn first_expired(&self, now: Timestamp) -> Option<Digest> {
        let first = match (
            self.anonymous_by_expiry.first(),
            self.signed_in_by_expiry.first(),
        ) {
            (Some(anonymous), Some(signed_in)) => Some(anonymous.min(signed_in)),
            (anonymous, signed_in) => anonymous.or(signed_in),
        };
        first
            .filter(|(expires_at, _)| *expires_at <= now)
            .map(|(_, key)| *key)
    }

    fn free_expired(&mut self, now: Timestamp, limit: usize) -> u64 {
        let mut freed = 0;
        while freed < limit {
            let Some(key) = self.first_expired(now) else {
                break;
            };
            self.remove(&key);
            freed += 1;
        }
        freed as u64
    }

    /// A per-user limit on a sign-in of `user` at `now`: the user's live sessions other than
    /// `signing_in` (the keys the signing-in session lives under) are counted, and
    /// [`UserLimit::decide`] answers. `None`: refused; else the keys to evict once the write
    /// has succeeded (a refused document operation evicts nobody).
    fn admit(
        &self,
        user: &str,
        signing_in: &[&Digest],
        limit: &UserLimit,
        now: Timestamp,
    ) -> Option<Vec<Digest>> {
        let others: Vec<(Timestamp, Digest)> = self
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter(|key| !signing_in.contains(key))
            .filter_map(|key| self.live(key, now).map(|entry| (entry.last_seen(), *key)))
            .collect();
        match limit.decide(others) {
            LimitDecision::Refuse => None,
            LimitDecision::Admit { evict } => Some(evict),
        }
    }

    /// [`Inner::admit`] for the sign-in `changes` make, if they carry one and a limit, on the
    /// live session under `from` moving to `to`; no sign-in, or no such session, evicts nobody.
    fn admit_changes(
        &self,
        from: &Digest,
        to: &Digest,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Option<Vec<Digest>> {
        match (&changes.user, &changes.user_limit) {
            (Some(Some(user)), Some(limit)) if self.live(from, now).is_some() => {
                self.admit(user, &[from, to], limit, now)
            }
            _ => Some(Vec::new()),
        }
    }

    fn evict(&mut self, keys: &[Digest]) {
        for key in keys {
            self.remove(key);
        }
    }

    /// Applies `changes` to the live record under `key`, moving it to `to`.
    fn apply(
        &mut self,
        key: &Digest,
        to: &Digest,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<bool, OperationError> {
        if key == to && changes.user.is_none() {
            // Same key, same user: change the record where it is (one lookup, no move), and
            // its expiry entry only if the expiry moved.
            let mut applied = Ok(());
            let live = self.change_in_place(key, now, |entry| {
                applied = entry.change(|record| changes.apply_to(record));
            });
            return applied.map(|()| live);
        }
        if self.live(key, now).is_none() {
            return Ok(false);
        }
        let mut record = self.remove(key).expect("checked live above").into_record();
        if let Err(refused) = changes.apply_to(&mut record) {
            // A refused change set leaves the record as it was, where it was.
            self.insert(*key, Entry::from_record(record));
            return Err(refused);
        }
        self.insert(*to, Entry::from_record(record));
        Ok(true)
    }

    /// Runs `change` on the live record under `key`, which must keep its user, then moves its
    /// expiry index entry if its expiry changed. Whether there was a live record.
    fn change_in_place(
        &mut self,
        key: &Digest,
        now: Timestamp,
        change: impl FnOnce(&mut Entry),
    ) -> bool {
        let Some(entry) = self.records.get_mut(key).filter(|entry| entry.is_live(now)) else {
            return false;
        };
        let expired_at = entry.expires_at();
        change(entry);
        let expires_at = entry.expires_at();
        let signed_in = entry.user().is_some();
        if expires_at != expired_at {
            let index = self.by_expiry(signed_in);
            index.remove(&(expired_at, *key));
            index.insert((expires_at, *key));
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

    /// [`Store::create`] under the lock a caller holds: the capacity bound's eviction, then
    /// the insert.
    fn create_in(&self, inner: &mut Inner, key: &StoreKey, record: &Record) -> CreateOutcome {
        let now = record.last_seen;
        if inner.live(key.as_bytes(), now).is_some() {
            return CreateOutcome::Collision;
        }
        if let Some(capacity) = self.capacity {
            while inner.records.len() >= capacity {
                let soonest = inner
                    .anonymous_by_expiry
                    .first()
                    .or_else(|| inner.signed_in_by_expiry.first())
                    .map(|(_, key)| *key);
                let Some(soonest) = soonest else {
                    break;
                };
                inner.remove(&soonest);
            }
        }
        inner.insert(*key.as_bytes(), Entry::from_record(record.clone()));
        CreateOutcome::Created
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(self.lock().live(key.as_bytes(), now).map(Entry::to_record))
    }

    /// An expired record stays until a write frees it or cleanup runs; until then it is
    /// `Expired`, afterwards `Missing`.
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        let inner = self.lock();
        Ok(match inner.records.get(key.as_bytes()) {
            None => match inner.forwards.get(key) {
                Some(forward) if now < forward.until => Lookup::Forwarded {
                    to: forward.to.clone(),
                    sealed_id: forward.sealed_id.clone(),
                },
                _ => Lookup::Missing,
            },
            Some(entry) => match entry.expired_by(now) {
                None => Lookup::Live(entry.to_record()),
                Some(deadline) => Lookup::Expired(deadline),
            },
        })
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        let mut inner = self.write(record.last_seen);
        Ok(self.create_in(&mut inner, key, record))
    }

    /// Counts, evicts and inserts under the one lock.
    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        let now = record.last_seen;
        let mut inner = self.write(now);
        if let Some(user) = &record.user {
            if inner.live(key.as_bytes(), now).is_some() {
                return Ok(CreateOutcome::Collision);
            }
            let Some(evicted) = inner.admit(user, &[key.as_bytes()], limit, now) else {
                return Ok(CreateOutcome::Refused);
            };
            inner.evict(&evicted);
        }
        Ok(self.create_in(&mut inner, key, record))
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let key = key.as_bytes();
        let mut inner = self.write(now);
        let Some(evicted) = inner.admit_changes(key, key, changes, now) else {
            return Ok(UpdateOutcome::Refused);
        };
        let applied = inner.apply(key, key, changes, now)?;
        inner.evict(&evicted);
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
        if inner.live(to.as_bytes(), now).is_some() {
            return Ok(RotateOutcome::Collision);
        }
        let Some(evicted) = inner.admit_changes(from.as_bytes(), to.as_bytes(), changes, now)
        else {
            return Ok(RotateOutcome::Refused);
        };
        Ok(
            if inner.apply(from.as_bytes(), to.as_bytes(), changes, now)? {
                inner.evict(&evicted);
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
            },
        )
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
        inner.change_in_place(key.as_bytes(), now, |entry| {
            outcome = entry.increment(field, by, touch);
        });
        Ok(outcome)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let forwarded = inner.forwards.remove(key).is_some();
        Ok(inner.remove(key.as_bytes()).is_some() || forwarded)
    }

    /// Through the user's own key set, sorted per page: no other user's sessions are read.
    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<UserSessionsPage, StoreError> {
        let after = cursor.map(UserCursor::parse).transpose()?;
        let inner = self.lock();
        let mut sessions: Vec<SessionSummary> = inner
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|key| inner.live(key, now).map(|entry| entry.summary(key)))
            .filter(|summary| {
                after
                    .as_ref()
                    .is_none_or(|after| after.precedes(summary.created_at, &summary.key))
            })
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.key).cmp(&(b.created_at, &b.key)));
        Ok(UserSessionsPage::from_read(sessions, limit))
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let keep = keep.map(StoreKey::as_bytes);
        let doomed: Vec<Digest> = inner
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter(|key| Some(*key) != keep)
            .copied()
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

    /// Every record less the expired ones, which lead the expiry indexes: as cheap as the
    /// expired records cleanup has not freed yet are few.
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let inner = self.lock();
        let expired = [&inner.anonymous_by_expiry, &inner.signed_in_by_expiry]
            .into_iter()
            .map(|index| {
                index
                    .iter()
                    .take_while(|(expires_at, _)| *expires_at <= now)
                    .count()
            })
            .sum::<usize>();
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
        let after = after.as_ref().map(StoreKey::as_bytes);
        let inner = self.lock();
        let mut keys: Vec<&Digest> = inner
            .records
            .keys()
            .filter(|key| after.is_none_or(|after| *key > after))
            .collect();
        keys.sort_unstable();
        let limit = (limit as usize).max(1);
        let next = (keys.len() > limit).then(|| StoreKey::from_bytes(*keys[limit - 1]).to_hex());
        let sessions = keys
            .into_iter()
            .take(limit)
            .filter_map(|key| {
                let entry = inner.records.get(key)?;
                Some(ScannedSession::new(
                    entry.summary(key),
                    entry.user().map(str::to_owned),
                ))
            })
            .collect();
        Ok(ScanPage::new(sessions, next))
    }
}

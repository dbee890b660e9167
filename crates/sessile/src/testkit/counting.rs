//! A store wrapper that counts calls, to assert how much I/O a request costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use crate::change::{ChangeSet, Touch};
use crate::id::StoreKey;
use crate::limit::UserLimit;
use crate::record::Record;
use crate::store::{
    CreateOutcome, IncrementOutcome, Lookup, RotateOutcome, ScanPage, Store, StoreError,
    UpdateOutcome,
};
use crate::time::Timestamp;

/// How many times each [`Store`] method was called: a snapshot taken by [`CountingStore::counts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
/// `load` counts [`Store::load`] and [`Store::lookup`] together: each is the one read of a
/// session.
#[allow(missing_docs)] // one field per `Store` method, named after it
pub struct StoreCalls {
    pub load: u64,
    pub create: u64,
    pub update: u64,
    pub rotate: u64,
    pub increment: u64,
    pub delete: u64,
    pub list_user_sessions: u64,
    pub delete_user_sessions: u64,
    pub delete_expired: u64,
    pub scan: u64,
}

impl StoreCalls {
    /// Calls of every method together.
    pub fn total(&self) -> u64 {
        self.load + self.writes() + self.list_user_sessions + self.scan
    }

    /// Calls that may change the store: everything except `load`, `list_user_sessions` and
    /// `scan`.
    pub fn writes(&self) -> u64 {
        self.create
            + self.update
            + self.rotate
            + self.increment
            + self.delete
            + self.delete_user_sessions
            + self.delete_expired
    }
}

#[derive(Debug, Default)]
struct Counters {
    load: AtomicU64,
    create: AtomicU64,
    update: AtomicU64,
    rotate: AtomicU64,
    increment: AtomicU64,
    delete: AtomicU64,
    list_user_sessions: AtomicU64,
    delete_user_sessions: AtomicU64,
    delete_expired: AtomicU64,
    scan: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::SeqCst);
}

/// Wraps a store and counts calls per method; everything else is passed through unchanged.
///
/// Clones share the store and the counters, so a test hands one clone to
/// [`crate::SessionManager::new`] and keeps another to read [`CountingStore::counts`].
/// A call is counted when it starts, so a call that never finishes is counted too.
///
/// ```
/// use sessile::testkit::CountingStore;
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = CountingStore::new(MemoryStore::new());
/// let ids = SignedIds::new(Keys::generate());
/// let manager = SessionManager::new(store.clone(), ids, Config::default());
///
/// let session = manager.start(&http::HeaderMap::new(), None);
/// session.insert("theme", "dark").unwrap();
/// session.finish().await.unwrap();
///
/// assert_eq!(store.counts().create, 1);
/// assert_eq!(store.counts().total(), 1);
/// store.reset();
/// assert_eq!(store.counts().total(), 0);
/// assert_eq!(store.inner().len(), 1); // the wrapped MemoryStore
/// # });
/// ```
#[derive(Debug)]
pub struct CountingStore<S> {
    store: Arc<S>,
    counters: Arc<Counters>,
}

impl<S> Clone for CountingStore<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<S: Store> CountingStore<S> {
    /// Wraps `store`, with every count at zero.
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
            counters: Arc::default(),
        }
    }

    /// The wrapped store, for inspecting it directly (direct calls are not counted).
    pub fn inner(&self) -> &S {
        &self.store
    }

    /// The calls so far.
    pub fn counts(&self) -> StoreCalls {
        let c = &self.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        StoreCalls {
            load: read(&c.load),
            create: read(&c.create),
            update: read(&c.update),
            rotate: read(&c.rotate),
            increment: read(&c.increment),
            delete: read(&c.delete),
            list_user_sessions: read(&c.list_user_sessions),
            delete_user_sessions: read(&c.delete_user_sessions),
            delete_expired: read(&c.delete_expired),
            scan: read(&c.scan),
        }
    }

    /// Sets every count back to zero, typically after a test's setup.
    pub fn reset(&self) {
        let c = &self.counters;
        for counter in [
            &c.load,
            &c.create,
            &c.update,
            &c.rotate,
            &c.increment,
            &c.delete,
            &c.list_user_sessions,
            &c.delete_user_sessions,
            &c.delete_expired,
            &c.scan,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl<S: Store> Store for CountingStore<S> {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        bump(&self.counters.load);
        self.store.load(key, now).await
    }

    /// Counted as a `load`: both are the one read of a session.
    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        bump(&self.counters.load);
        self.store.lookup(key, now).await
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        bump(&self.counters.create);
        self.store.create(key, record).await
    }

    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        bump(&self.counters.create);
        self.store.create_within_limit(key, record, limit).await
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        bump(&self.counters.update);
        self.store.update(key, changes, now).await
    }

    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        bump(&self.counters.rotate);
        self.store.rotate(from, to, changes, now).await
    }

    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        bump(&self.counters.increment);
        self.store.increment(key, field, by, touch, now).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        bump(&self.counters.delete);
        self.store.delete(key).await
    }

    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<crate::store::UserSessionsPage, StoreError> {
        bump(&self.counters.list_user_sessions);
        self.store
            .list_user_sessions(user, now, cursor, limit)
            .await
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        bump(&self.counters.delete_user_sessions);
        self.store.delete_user_sessions(user, keep).await
    }

    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        bump(&self.counters.delete_expired);
        self.store.delete_expired(now, limit).await
    }

    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        bump(&self.counters.scan);
        self.store.scan(cursor, limit).await
    }

    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.store.count_live(now).await
    }
}

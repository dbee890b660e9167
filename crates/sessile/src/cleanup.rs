//! Background deletion of expired records, for stores that do not expire records by themselves.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::change::{ChangeSet, Touch};
use crate::config::DEFAULT_STORE_TIMEOUT;
use crate::id::StoreKey;
use crate::limit::UserLimit;
use crate::record::Record;
use crate::store::{
    bounded, CreateOutcome, IncrementOutcome, Lookup, RotateOutcome, ScanPage, Store, StoreError,
    UpdateOutcome,
};
use crate::time::{Clock, SystemClock, Timestamp};

/// Deletes expired records in bounded batches, on an interval, forever.
///
/// A failed pass is logged and retried with exponential backoff (up to `max_backoff`); the task
/// never stops on a store error. Every batch is bounded by a timeout (the default store timeout,
/// 5 s): a store that stops answering fails the pass as `Unavailable`, which is logged and
/// retried like any other error, instead of stalling the task silently forever. Several app instances may run it against one database at once:
/// each batch is one store operation and stores delete by key, so they only share the work.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sessile::{cleanup::Cleanup, MemoryStore, Store};
/// # async fn run() {
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let task = Cleanup::new(store).every(Duration::from_secs(60)).spawn();
/// # task.abort();
/// # }
/// ```
#[derive(Clone)]
pub struct Cleanup {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    batch_size: u32,
    max_backoff: Duration,
    timeout: Duration,
}

impl Cleanup {
    /// A cleanup of `store`: every 5 minutes, 1,000 records per batch, backoff up to 5 minutes.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            interval: Duration::from_secs(300),
            batch_size: 1_000,
            max_backoff: Duration::from_secs(300),
            timeout: DEFAULT_STORE_TIMEOUT,
        }
    }

    /// Sets the bound on each batch (one store call); past it the pass fails as `Unavailable`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the time between passes.
    pub fn every(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets how many records one store operation deletes at most.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Sets the clock that decides what has expired.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the longest wait after repeated failures.
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// One pass: deletes batches until a batch comes back short. Returns how many were deleted,
    /// or the first batch's error (`Unavailable` for one that outlasted the timeout). After a
    /// pass it sets the `sessile_sessions_live` gauge when the store can count
    /// ([`Store::count_live`]).
    pub async fn run_once(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let started = Instant::now();
        let mut deleted = 0;
        loop {
            let batch = bounded(
                self.timeout,
                self.store.delete_expired(now, self.batch_size),
            );
            let batch = batch.await.inspect_err(cleanup_failed)?;
            metrics::counter!("sessile_cleanup_deleted_total").increment(batch);
            deleted += batch;
            if batch < u64::from(self.batch_size) {
                metrics::histogram!("sessile_cleanup_pass_seconds")
                    .record(started.elapsed().as_secs_f64());
                self.count_live().await;
                return Ok(deleted);
            }
            // Let live traffic have the store between batches.
            tokio::task::yield_now().await;
        }
    }

    /// Sets `sessile_sessions_live` when the store counts cheaply. A failed count is logged
    /// and leaves the gauge as it was: the pass itself succeeded.
    async fn count_live(&self) {
        match bounded(self.timeout, self.store.count_live(self.clock.now())).await {
            Ok(live) => {
                metrics::gauge!("sessile_sessions_live", "store" => self.store.name())
                    .set(live as f64);
            }
            Err(StoreError::Unsupported(_)) => {}
            Err(error) => tracing::warn!(%error, "counting live sessions failed"),
        }
    }

    /// Runs passes forever on the current Tokio runtime.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run_forever().await })
    }

    async fn run_forever(self) {
        let mut failures: u32 = 0;
        loop {
            let wait = match self.run_once().await {
                Ok(deleted) => {
                    if deleted > 0 {
                        tracing::debug!(deleted, "expired sessions deleted");
                    }
                    failures = 0;
                    self.interval
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let backoff = self.backoff(failures);
                    tracing::warn!(%error, failures, retry_in = ?backoff, "session cleanup failed");
                    backoff
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(16);
        Duration::from_secs(1)
            .saturating_mul(1 << exponent)
            .min(self.max_backoff)
            .min(self.interval.max(Duration::from_secs(1)))
    }
}

/// A store wrapper that runs one bounded cleanup batch after every `n`th write, in the
/// background: the request that triggers it does not wait for it. This is the Node session
/// stores' `gcFrequency`, for deployments that cannot run a [`Cleanup`] task (serverless, or
/// instances that only live while they serve requests). It is off unless a store is wrapped.
///
/// Writes are commits and increments (`create`, `update`, `rotate`, `increment`). Each trigger
/// deletes at most `batch_size` expired records in one [`Store::delete_expired`] call, bounded by
/// a timeout (the default store timeout, 5 s); while a batch is still running, further triggers
/// are skipped rather than queued, so a burst of traffic never piles up cleanups. Errors and
/// timeouts are logged and otherwise ignored: the next trigger tries again (a hung batch cannot
/// keep later ones skipped). Outside a Tokio runtime no cleanup is spawned.
///
/// ```
/// use sessile::cleanup::CleanupEvery;
/// use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
///
/// // Every 100th write deletes up to 500 expired sessions.
/// let store = CleanupEvery::new(MemoryStore::new(), 100).batch_size(500);
/// let manager = SessionManager::new(store, SignedIds::new(Keys::generate()), Config::default());
/// # let _ = manager;
/// ```
pub struct CleanupEvery<S> {
    store: Arc<S>,
    every: u64,
    batch_size: u32,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    writes: AtomicU64,
    running: Arc<AtomicBool>,
}

impl<S: Store> CleanupEvery<S> {
    /// Wraps `store` so that every `every`th write (at least 1) triggers a batch of up to 1,000
    /// deletions.
    pub fn new(store: S, every: u32) -> Self {
        Self {
            store: Arc::new(store),
            every: u64::from(every.max(1)),
            batch_size: 1_000,
            timeout: DEFAULT_STORE_TIMEOUT,
            clock: Arc::new(SystemClock),
            writes: AtomicU64::new(0),
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Sets how many records one triggered batch deletes at most.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Sets the clock that decides what has expired.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the bound on each triggered batch.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.store
    }

    fn count_write(&self) {
        let writes = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        if writes % self.every != 0 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let running = RunningFlag(self.running.clone());
        let store = self.store.clone();
        let now = self.clock.now();
        let (batch_size, timeout) = (self.batch_size, self.timeout);
        runtime.spawn(async move {
            let _running = running;
            let started = Instant::now();
            match bounded(timeout, store.delete_expired(now, batch_size)).await {
                Ok(deleted) => {
                    metrics::counter!("sessile_cleanup_deleted_total").increment(deleted);
                    metrics::histogram!("sessile_cleanup_pass_seconds")
                        .record(started.elapsed().as_secs_f64());
                    if deleted > 0 {
                        tracing::debug!(deleted, "expired sessions deleted");
                    }
                }
                Err(error) => {
                    cleanup_failed(&error);
                    tracing::warn!(%error, "session cleanup batch failed");
                }
            }
        });
    }
}

/// Counts a failed cleanup batch by its error's kind.
fn cleanup_failed(error: &StoreError) {
    metrics::counter!(
        "sessile_store_errors_total",
        "store" => "cleanup",
        "operation" => "delete_expired",
        "kind" => crate::telemetry::error_kind(error)
    )
    .increment(1);
}

/// Clears the "a batch is running" flag when the batch's task ends, however it ends.
struct RunningFlag(Arc<AtomicBool>);

impl Drop for RunningFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[async_trait]
impl<S: Store> Store for CleanupEvery<S> {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        self.store.load(key, now).await
    }

    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        self.store.lookup(key, now).await
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        let outcome = self.store.create(key, record).await;
        self.count_write();
        outcome
    }

    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        let outcome = self.store.create_within_limit(key, record, limit).await;
        self.count_write();
        outcome
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        let outcome = self.store.update(key, changes, now).await;
        self.count_write();
        outcome
    }

    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        let outcome = self.store.rotate(from, to, changes, now).await;
        self.count_write();
        outcome
    }

    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        let outcome = self.store.increment(key, field, by, touch, now).await;
        self.count_write();
        outcome
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.store.delete(key).await
    }

    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<crate::store::UserSessionsPage, StoreError> {
        self.store
            .list_user_sessions(user, now, cursor, limit)
            .await
    }

    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        self.store.delete_user_sessions(user, keep).await
    }

    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.store.delete_expired(now, limit).await
    }

    async fn scan(&self, cursor: Option<&str>, limit: u32) -> Result<ScanPage, StoreError> {
        self.store.scan(cursor, limit).await
    }

    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.store.count_live(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Device, Record};
    use crate::time::Timestamp;
    use crate::{MemoryStore, SessionId};

    fn record(expires_at: i64) -> Record {
        Record {
            data: Default::default(),
            user: None,
            created_at: Timestamp::from_millis(0),
            last_seen: Timestamp::from_millis(0),
            idle_deadline: Timestamp::from_millis(expires_at),
            absolute_deadline: Timestamp::from_millis(expires_at),
            persistent: false,
            device: Device::default(),
            idle_timeout: None,
        }
    }

    #[tokio::test]
    async fn a_pass_deletes_every_expired_record_in_batches_and_keeps_live_ones() {
        let store = Arc::new(MemoryStore::new());
        for _ in 0..25 {
            store
                .create(&SessionId::generate().store_key(), &record(10))
                .await
                .unwrap();
        }
        let live = SessionId::generate().store_key();
        store.create(&live, &record(1_000)).await.unwrap();
        let clock = crate::ManualClock::new(Timestamp::from_millis(500));
        let cleanup = Cleanup::new(store.clone())
            .batch_size(10)
            .with_clock(Arc::new(clock));
        assert_eq!(cleanup.run_once().await.unwrap(), 25);
        assert_eq!(store.len(), 1);
        assert!(store
            .load(&live, Timestamp::from_millis(500))
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn every_nth_write_runs_one_bounded_batch_in_the_background() {
        let clock = crate::ManualClock::new(Timestamp::from_millis(500));
        let store = CleanupEvery::new(MemoryStore::new(), 3)
            .batch_size(4)
            .with_clock(Arc::new(clock));
        for _ in 0..10 {
            store
                .inner()
                .create(&SessionId::generate().store_key(), &record(10))
                .await
                .unwrap();
        }
        // The writes happen at 5 ms, before anything expires (the memory store frees records
        // that expired by a write's time); the cleanup's clock says 500 ms.
        let live = SessionId::generate().store_key();
        let mut touch = ChangeSet::default();
        touch.set("n", serde_json::json!(1));
        store.create(&live, &record(1_000)).await.unwrap();
        store
            .update(&live, &touch, Timestamp::from_millis(5))
            .await
            .unwrap();
        // Two writes: no cleanup yet, and none is pending.
        tokio::task::yield_now().await;
        assert_eq!(store.inner().len(), 11);
        assert!(!store.running.load(Ordering::Acquire));

        // The third write triggers one batch of at most 4, without waiting for it.
        store
            .update(&live, &touch, Timestamp::from_millis(5))
            .await
            .unwrap();
        while store.running.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        assert_eq!(store.inner().len(), 7);

        for _ in 0..3 {
            store
                .update(&live, &touch, Timestamp::from_millis(5))
                .await
                .unwrap();
        }
        while store.running.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        assert_eq!(store.inner().len(), 3);
        assert!(store
            .load(&live, Timestamp::from_millis(500))
            .await
            .unwrap()
            .is_some());
    }

    /// A store whose `delete_expired` never answers, counting the calls.
    #[cfg(feature = "testkit")]
    fn hanging() -> Arc<crate::testkit::CountingStore<crate::testkit::HangingStore>> {
        Arc::new(crate::testkit::CountingStore::new(
            crate::testkit::HangingStore,
        ))
    }

    // The clock is Tokio's paused one: it jumps to the next timer whenever every task waits, so
    // timeouts and backoffs pass in no real time and nothing depends on the machine's speed.
    #[cfg(feature = "testkit")]
    #[tokio::test(start_paused = true)]
    async fn a_hung_store_fails_the_pass_as_unavailable() {
        let store = hanging();
        let cleanup = Cleanup::new(store.clone()).timeout(Duration::from_secs(5));
        let pass = tokio::time::timeout(Duration::from_secs(3600), cleanup.run_once());
        let error = pass.await.expect("the pass ends").unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
        assert_eq!(store.counts().delete_expired, 1);
    }

    #[cfg(feature = "testkit")]
    #[tokio::test(start_paused = true)]
    async fn the_task_retries_a_hung_store_with_backoff() {
        let store = hanging();
        let task = Cleanup::new(store.clone())
            .every(Duration::from_secs(60))
            .max_backoff(Duration::from_secs(8))
            .spawn();
        // Timeouts of 5 s and backoffs of 1, 2, 4, 8, 8... s: a few tries within two minutes.
        tokio::time::sleep(Duration::from_secs(120)).await;
        task.abort();
        assert!(store.counts().delete_expired >= 5, "{:?}", store.counts());
    }

    #[cfg(feature = "testkit")]
    #[tokio::test(start_paused = true)]
    async fn a_hung_triggered_batch_does_not_keep_later_ones_skipped() {
        let store = CleanupEvery::new(
            crate::testkit::CountingStore::new(crate::testkit::HangingStore),
            1,
        )
        .timeout(Duration::from_secs(5));
        store.count_write();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(
            !store.running.load(Ordering::Acquire),
            "the hung batch still counts as running"
        );
        store.count_write();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(store.inner().counts().delete_expired, 2);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cleanup = Cleanup::new(Arc::new(MemoryStore::new()))
            .every(Duration::from_secs(600))
            .max_backoff(Duration::from_secs(30));
        assert_eq!(cleanup.backoff(1), Duration::from_secs(1));
        assert_eq!(cleanup.backoff(3), Duration::from_secs(4));
        assert_eq!(cleanup.backoff(40), Duration::from_secs(30));
    }
}

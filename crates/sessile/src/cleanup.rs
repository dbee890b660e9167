//! Background deletion of expired records, for stores that do not expire records by themselves.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Store, StoreError};
use crate::time::{Clock, SystemClock};

/// Deletes expired records in bounded batches, on an interval, forever.
///
/// A failed pass is logged and retried with exponential backoff (up to `max_backoff`); the task
/// never stops on a store error. Several app instances may run it against one database at once:
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
        }
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

    /// One pass: deletes batches until a batch comes back short. Returns how many were deleted.
    pub async fn run_once(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let mut deleted = 0;
        loop {
            let batch = self.store.delete_expired(now, self.batch_size).await?;
            deleted += batch;
            if batch < u64::from(self.batch_size) {
                return Ok(deleted);
            }
            // Let live traffic have the store between batches.
            tokio::task::yield_now().await;
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

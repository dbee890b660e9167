//! A store that never answers, to test the store timeout.

use async_trait::async_trait;

use crate::change::{ChangeSet, Touch};
use crate::id::StoreKey;
use crate::limit::UserLimit;
use crate::record::Record;
use crate::store::{
    CreateOutcome, IncrementOutcome, RotateOutcome, Store, StoreError, UpdateOutcome,
};
use crate::time::Timestamp;

/// A store whose every call stays pending forever, like a database that accepted the connection
/// and then went silent. Pair it with [`crate::ConfigBuilder::store_timeout`] to check that requests
/// fail with an "unavailable" error instead of hanging.
///
/// ```
/// use std::time::Duration;
/// use sessile::testkit::HangingStore;
/// use sessile::{Config, Keys, SessionManager, SignedIds};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = Config::builder()
///     .store_timeout(Duration::from_millis(10))
///     .build()
///     .expect("10 ms is a valid store timeout");
/// let manager = SessionManager::new(HangingStore, SignedIds::new(Keys::generate()), config);
/// let session = manager.start(&http::HeaderMap::new(), None);
/// session.insert("k", 1).unwrap();
/// let error = session.finish().await.unwrap_err(); // the create never answers
/// assert!(error.is_unavailable());
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HangingStore;

async fn never<T>() -> T {
    std::future::pending().await
}

#[async_trait]
impl Store for HangingStore {
    async fn load(&self, _key: &StoreKey, _now: Timestamp) -> Result<Option<Record>, StoreError> {
        never().await
    }

    async fn create(&self, _key: &StoreKey, _record: &Record) -> Result<CreateOutcome, StoreError> {
        never().await
    }

    async fn create_within_limit(
        &self,
        _key: &StoreKey,
        _record: &Record,
        _limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        never().await
    }

    async fn update(
        &self,
        _key: &StoreKey,
        _changes: &ChangeSet,
        _now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        never().await
    }

    async fn rotate(
        &self,
        _from: &StoreKey,
        _to: &StoreKey,
        _changes: &ChangeSet,
        _now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        never().await
    }

    async fn increment(
        &self,
        _key: &StoreKey,
        _field: &str,
        _by: i64,
        _touch: Touch,
        _now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        never().await
    }

    async fn delete(&self, _key: &StoreKey) -> Result<bool, StoreError> {
        never().await
    }

    async fn list_user_sessions(
        &self,
        _user: &str,
        _now: Timestamp,
        _cursor: Option<&str>,
        _limit: u32,
    ) -> Result<crate::store::UserSessionsPage, StoreError> {
        never().await
    }

    async fn delete_user_sessions(
        &self,
        _user: &str,
        _keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        never().await
    }

    async fn delete_expired(&self, _now: Timestamp, _limit: u32) -> Result<u64, StoreError> {
        never().await
    }
}

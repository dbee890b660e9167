//! Temporary database files for the SQLite tests: one directory per store, removed on drop.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sessile::limit::UserLimit;
use sessile::store::{Lookup, ScanPage};
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, Record, RotateOutcome, SessionId, Store,
    StoreError, StoreKey, Timestamp, Touch, UpdateOutcome,
};
use sessile_sql::{SqliteStore, SqliteStoreOptions};

/// A fresh directory under the system temp dir, deleted with everything in it on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "sessile-sql-test-{}",
            SessionId::generate().encode()
        ));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn database(&self) -> PathBuf {
        self.0.join("sessions.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A [`SqliteStore`] on a file in its own [`TempDir`], which goes away with the store.
#[derive(Debug)]
pub struct TempSqliteStore {
    // Fields drop in order: the pool before the directory it lives in.
    pub store: SqliteStore,
    pub dir: TempDir,
}

impl TempSqliteStore {
    pub async fn open() -> Self {
        Self::open_with(SqliteStore::options()).await
    }

    pub async fn open_with(options: SqliteStoreOptions) -> Self {
        let dir = TempDir::new();
        let store = options
            .open(dir.database())
            .await
            .expect("open a SQLite store in a temporary directory");
        Self { store, dir }
    }
}

#[async_trait]
impl Store for TempSqliteStore {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        self.store.load(key, now).await
    }

    async fn lookup(&self, key: &StoreKey, now: Timestamp) -> Result<Lookup, StoreError> {
        self.store.lookup(key, now).await
    }

    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.store.create(key, record).await
    }

    async fn create_within_limit(
        &self,
        key: &StoreKey,
        record: &Record,
        limit: &UserLimit,
    ) -> Result<CreateOutcome, StoreError> {
        self.store.create_within_limit(key, record, limit).await
    }

    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        self.store.update(key, changes, now).await
    }

    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
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
        self.store.increment(key, field, by, touch, now).await
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
    ) -> Result<sessile::UserSessionsPage, StoreError> {
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

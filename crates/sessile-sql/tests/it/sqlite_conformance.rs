//! The store conformance suite on SQLite: every case on a fresh database file of its own.

#![cfg(feature = "sqlite")]

use std::sync::Arc;

use crate::support::sqlite::TempSqliteStore;
use sessile::StoreKey;

/// Corrupts a record the way a foreign or older writer would: device metadata stored as the
/// raw User-Agent string instead of a JSON object. (`data` cannot hold invalid JSON: the table
/// checks it with `json_valid`.)
async fn store_device_as_plain_text(store: Arc<TempSqliteStore>, key: StoreKey) {
    let changed = sqlx::query("UPDATE sessile_sessions SET device = ? WHERE \"key\" = ?")
        .bind("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        .bind(key.as_bytes().as_slice())
        .execute(store.store.pool())
        .await
        .expect("overwrite the device column")
        .rows_affected();
    assert_eq!(changed, 1, "the record to corrupt exists");
}

sessile::store_conformance!(
    async { TempSqliteStore::open().await },
    corrupt = store_device_as_plain_text,
    keeps_expired,
);

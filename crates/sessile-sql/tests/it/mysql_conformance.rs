//! The store conformance suite on MySQL/MariaDB (`MYSQL_URL`, default the local MariaDB). The
//! cases run in parallel, each with its own pool, on one table of their own.

#![cfg(feature = "mysql")]

use std::sync::Arc;

use crate::support::mysql::connect;
use sessile::StoreKey;
use sessile_sql::{MySqlStore, MySqlStoreOptions};

const TABLE: &str = "sessile_conformance";

async fn store() -> MySqlStore {
    connect(MySqlStoreOptions::new().max_connections(4), TABLE).await
}

/// Corrupts a record the way a foreign writer could: data that is valid JSON (the column checks
/// that) but not an object.
async fn store_data_as_an_array(store: Arc<MySqlStore>, key: StoreKey) {
    let changed = sqlx::query(&format!("UPDATE `{TABLE}` SET data = ? WHERE `key` = ?"))
        .bind("[\"not\", \"an\", \"object\"]")
        .bind(key.as_bytes().as_slice())
        .execute(store.pool())
        .await
        .expect("overwrite the data column")
        .rows_affected();
    assert_eq!(changed, 1, "the record to corrupt exists");
}

sessile::store_conformance!(store(), corrupt = store_data_as_an_array, keeps_expired);

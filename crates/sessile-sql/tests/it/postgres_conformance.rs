//! The store conformance suite on PostgreSQL. Cases run in parallel against one table (they
//! use fresh random keys and users, so they never see each other's rows), which also exercises
//! concurrent migrations at startup.

#![cfg(feature = "postgres")]

use std::sync::Arc;

use crate::support::postgres::connect;
use sessile::StoreKey;
use sessile_sql::PostgresStore;

const TABLE: &str = "conformance";

async fn make_store() -> PostgresStore {
    connect(TABLE, PostgresStore::options().max_connections(8)).await
}

/// Corrupts a record the way a foreign or older writer would: device metadata stored as the
/// raw User-Agent string (a JSON string) instead of an object. (`data` cannot hold anything
/// but a JSON object: the column is `jsonb` with a check.)
async fn store_device_as_plain_text(store: Arc<PostgresStore>, key: StoreKey) {
    let sql = format!(
        "UPDATE {} SET device = to_jsonb($1::text) WHERE \"key\" = $2",
        store.table()
    );
    let changed = sqlx::query(&sql)
        .bind("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        .bind(key.as_bytes().as_slice())
        .execute(store.pool())
        .await
        .expect("overwrite the device column")
        .rows_affected();
    assert_eq!(changed, 1, "the record to corrupt exists");
}

sessile::store_conformance!(
    make_store(),
    corrupt = store_device_as_plain_text,
    keeps_expired,
);

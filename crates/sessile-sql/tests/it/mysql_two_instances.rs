//! Two app instances, each with its own pool and session layer, share one MySQL/MariaDB table:
//! concurrent requests for one session, spread across both over real HTTP, lose nothing.

#![cfg(feature = "mysql")]

use crate::support::http::{two_instances_share_one_session, STORE_TIMEOUT};
use crate::support::mysql::{connect, drop_table, spawn_instance};
use sessile::Keys;
use sessile_sql::MySqlStoreOptions;

const TABLE: &str = "sessile_two_instances";
const REQUESTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_session_without_losing_changes() {
    let setup = connect(MySqlStoreOptions::new(), TABLE).await;
    drop_table(&setup, TABLE).await;
    setup.migrate().await.expect("create the test table");

    let keys = Keys::generate();
    let options = MySqlStoreOptions::new()
        .max_connections(8)
        .statement_timeout(STORE_TIMEOUT);
    let instances = [
        spawn_instance(options.clone(), TABLE, keys.clone()).await,
        spawn_instance(options, TABLE, keys).await,
    ];
    two_instances_share_one_session(&instances, REQUESTS).await;
}

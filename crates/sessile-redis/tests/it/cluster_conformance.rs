//! The sessile store conformance suite against the Redis Cluster that `scripts/services` starts
//! on ports 7000-7005 (`REDIS_CLUSTER_URLS` overrides).

use crate::common;

sessile::store_conformance!(
    common::cluster_store(&common::run_prefix("cluster")),
    corrupt = |store, key| async move { common::write_garbage(&store, key).await },
);

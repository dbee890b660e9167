//! The Node-layout conformance suite (`sessile::node_layout_conformance!`) against every Redis
//! layout of `sessile_redis::node::NodeRedisStore`, on the Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`; `scripts/services` starts it). Keys carry a per-layout prefix of
//! their own, so other test binaries sharing the server never see them.

#![cfg(feature = "node")]

use crate::common;
// The Node fixture (the npm apps and their driver) lives with sessile-node's interop tests.
use crate::node_support as support;

use std::sync::Arc;
use std::time::Duration;

use common::connect_node;
use sessile::StoreKey;
use sessile_node::record_json::{NodeJson, NodeShape};
use sessile_redis::node::NodeRedisStore;
use support::redis_url;

const MAX_AGE: Duration = Duration::from_secs(30 * 60);

async fn store(shape: NodeShape, prefix: &str) -> NodeRedisStore {
    connect_node(NodeRedisStore::builder(NodeJson::new(shape, MAX_AGE)).key_prefix(prefix)).await
}

/// Overwrites the session's document with text no Node package could parse, keeping its TTL.
async fn write_garbage(store: Arc<NodeRedisStore>, key: StoreKey) {
    let redis_key = store.redis_key(&key).expect("a Node id");
    let client = redis::Client::open(redis_url()).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("a Redis connection");
    let _: () = redis::cmd("SET")
        .arg(&redis_key)
        .arg("{\"cookie\": not json")
        .arg("KEEPTTL")
        .query_async(&mut connection)
        .await
        .expect("SET garbage");
}

mod koa_session {
    use super::*;
    sessile::node_layout_conformance!(
        store(
            NodeShape::KoaSession,
            "sessile-test:conformance:koa-session:"
        ),
        corrupt = write_garbage,
    );
}

mod generic_session {
    use super::*;
    sessile::node_layout_conformance!(
        store(
            NodeShape::GenericSession,
            "sessile-test:conformance:generic:"
        ),
        corrupt = write_garbage,
    );
}

mod session_minimal {
    use super::*;
    sessile::node_layout_conformance!(
        store(
            NodeShape::SessionMinimal,
            "sessile-test:conformance:minimal:"
        ),
        corrupt = write_garbage,
    );
}

mod express {
    use super::*;
    sessile::node_layout_conformance!(
        store(NodeShape::Express, "sessile-test:conformance:express:"),
        corrupt = write_garbage,
    );
}

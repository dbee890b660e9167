//! How `sessile_redis::node::NodeRedisStore` fails: an unreachable or silent server is
//! `Unavailable` (503, never a hang), a sessile id is refused, and a document no Node package
//! could parse is `Corrupt`, which the engine turns into a fresh session and a `corrupt` event.
//!
//! Needs Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`; `scripts/services` starts it).

#![cfg(feature = "node")]

use crate::common;
// The Node fixture (the npm apps and their driver) lives with sessile-node's interop tests.
use crate::node_support as support;

use std::sync::Arc;
use std::time::Duration;

use common::connect_node;
use serde_json::json;
use sessile::testkit::RecordingEvents;
use sessile::{Config, Event, SessionId, SessionManager, Store, StoreError, Timestamp};
use sessile_axum::testkit::TestServer;
use sessile_node::ids::{KoaIdStyle, KoaIds};
use sessile_node::keygrip::Keygrip;
use sessile_node::record_json::{NodeJson, NodeShape};
use sessile_redis::node::NodeRedisStore;
use support::{redis_url, Browser};

const MAX_AGE: Duration = Duration::from_secs(60);

fn builder() -> sessile_redis::node::NodeRedisStoreBuilder {
    NodeRedisStore::builder(NodeJson::new(NodeShape::KoaSession, MAX_AGE))
}

async fn connect(prefix: &str) -> NodeRedisStore {
    connect_node(builder().key_prefix(prefix)).await
}

/// Connecting to `port` on the loopback host within `timeout` fails as unavailable.
async fn assert_unavailable(port: u16, timeout: Duration) {
    let result = builder()
        .acquire_timeout(timeout)
        .statement_timeout(timeout)
        .connect(&format!("redis://127.0.0.1:{port}"))
        .await;
    assert!(
        matches!(
            result,
            Err(sessile_redis::Error::Connect(StoreError::Unavailable(_)))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    assert_unavailable(port, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_silent_server_is_unavailable_within_the_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    assert_unavailable(port, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn sessile_ids_are_refused() {
    let store = connect("sessile-it:errors:ids:").await;
    let key = SessionId::generate().store_key();
    let result = store.load(&key, Timestamp::from_millis(0)).await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    let result = store.delete(&key).await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
}

#[tokio::test]
async fn a_corrupt_document_becomes_a_fresh_session_and_an_event() {
    let prefix = format!("sessile-it:{}:corrupt:", std::process::id());
    let store = Arc::new(connect("").await);
    let events = RecordingEvents::new();
    let config = Config::builder()
        .idle_timeout(MAX_AGE)
        .events(events.clone())
        .build()
        .unwrap();
    let ids = KoaIds::new(
        "koa.sess",
        Keygrip::new(["k1"]).unwrap(),
        KoaIdStyle::Uuid {
            prefix: prefix.clone(),
        },
    );
    let manager = SessionManager::new(store, ids, config);
    let rust = TestServer::start(support::rust_app(manager)).await;
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a Redis connection");
    let keys = |redis: &mut redis::aio::MultiplexedConnection| {
        let mut redis = redis.clone();
        let pattern = format!("{prefix}*");
        async move {
            let mut keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut redis)
                .await
                .expect("KEYS");
            keys.sort();
            keys
        }
    };

    let browser = Browser::new();
    browser.get(&rust.url("/login?user=ivy")).await;
    let written = keys(&mut redis).await;
    assert_eq!(written.len(), 1, "one session under {prefix}: {written:?}");
    let _: () = redis::cmd("SET")
        .arg(&written[0])
        .arg("{\"user\":")
        .arg("KEEPTTL")
        .query_async(&mut redis)
        .await
        .expect("SET garbage");

    let seen = browser.whoami(&rust.url("/whoami")).await;
    assert_eq!((seen.user, seen.data), (None, json!({})), "a fresh session");
    assert_eq!(
        events.count(|event| matches!(event, Event::Corrupt { .. })),
        1,
        "one corrupt event: {:?}",
        events.events()
    );
    // The fresh session works as any other.
    browser.get(&rust.url("/set?k=a&v=b")).await;
    let seen = browser.whoami(&rust.url("/whoami")).await;
    assert_eq!((seen.user, seen.data), (None, json!({"a": "b"})));
}

/// A Node-layout store pointed at one node of the Redis Cluster (Node apps have been deployed
/// that way): keys outside that node's slots answer `MOVED`, which its standalone connection
/// does not follow. That is the Cluster moving under the store, so it is `Unavailable` and a
/// 503, as on the native store, never a 500. Needs the Cluster `scripts/services` starts.
#[tokio::test]
async fn a_cluster_redirection_is_unavailable_and_answers_503() {
    // Any live node (another test may have stopped one for a failover).
    let mut live = None;
    for node in common::cluster_urls() {
        if let Ok(store) = builder().key_prefix("").connect(&node).await {
            live = Some((node, store));
            break;
        }
    }
    let (node, store) = live.unwrap_or_else(|| {
        panic!(
            "cannot reach the Redis Cluster at {:?}; start it with `scripts/services`",
            common::cluster_urls()
        )
    });
    let mut direct = redis::Client::open(node.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to the Cluster node");
    // An id whose key the node does not serve: it answers MOVED for it.
    let prefix = format!("sessile-it:{}:moved:", std::process::id());
    let mut id = None;
    for attempt in 0..256 {
        let candidate = format!("{prefix}{attempt}");
        let answer: redis::RedisResult<Option<String>> = redis::cmd("GET")
            .arg(&candidate)
            .query_async(&mut direct)
            .await;
        if answer.is_err_and(|error| error.kind() == redis::ErrorKind::Moved) {
            id = Some(candidate);
            break;
        }
    }
    let id = id.expect("one of 256 keys lives in another node's slots");

    let key = SessionId::foreign(&id).expect("a Node id").store_key();
    let loaded = store.load(&key, Timestamp::from_millis(0)).await;
    assert!(
        matches!(loaded, Err(StoreError::Unavailable(_))),
        "MOVED is unavailable: {loaded:?}"
    );

    let keys = Keygrip::new(["k1"]).unwrap();
    let signature = keys.sign(&format!("koa.sess={id}"));
    let ids = KoaIds::new("koa.sess", keys, KoaIdStyle::Uuid { prefix });
    let config = Config::builder().idle_timeout(MAX_AGE).build().unwrap();
    let manager = SessionManager::new(Arc::new(store), ids, config);
    let rust = TestServer::start(support::rust_app(manager)).await;
    let response = reqwest::Client::new()
        .get(rust.url("/whoami"))
        .header("cookie", format!("koa.sess={id}; koa.sess.sig={signature}"))
        .send()
        .await
        .expect("the app answers");
    assert_eq!(response.status(), 503, "{:?}", response.text().await);
}

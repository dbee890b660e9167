//! Shared by the test binaries: server addresses, connecting (failing loudly, never skipping),
//! per-run key prefixes, garbage writers and a small axum app.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use redis::AsyncCommands;
use sessile::{Config, CookieConfig, Keys, SessionData, SessionManager, SignedIds, StoreKey};
use sessile_axum::{Error, Session, SessionLayer};
use sessile_redis::{Mode, RedisStore};

/// The standalone server: `REDIS_URL`, or the machine's Redis.
pub fn standalone_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The Cluster's nodes: `REDIS_CLUSTER_URLS` (comma-separated), or the six nodes
/// `scripts/services` starts on ports 7000-7005.
pub fn cluster_urls() -> Vec<String> {
    match std::env::var("REDIS_CLUSTER_URLS") {
        Ok(urls) => urls.split(',').map(|url| url.trim().to_owned()).collect(),
        Err(_) => (7000..=7005)
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect(),
    }
}

/// A key prefix unique to this run of this test binary, so runs never see each other's keys.
pub fn run_prefix(binary: &str) -> String {
    static SUFFIX: OnceLock<String> = OnceLock::new();
    let suffix = SUFFIX.get_or_init(|| format!("{:016x}", rand::random::<u64>()));
    format!("sessile-test:{binary}:{suffix}:")
}

pub async fn standalone_store(prefix: &str) -> RedisStore {
    RedisStore::builder()
        .key_prefix(prefix)
        .connect(&standalone_url())
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach Redis at {} ({error}); start it with `scripts/services`",
                standalone_url()
            )
        })
}

pub async fn cluster_store(prefix: &str) -> RedisStore {
    cluster_store_with_timeout(prefix, sessile_redis::DEFAULT_TIMEOUT).await
}

pub async fn cluster_store_with_timeout(prefix: &str, timeout: Duration) -> RedisStore {
    RedisStore::builder()
        .key_prefix(prefix)
        .acquire_timeout(timeout)
        .statement_timeout(timeout)
        .cluster(cluster_urls())
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach the Redis Cluster at {:?} ({error}); start it with \
                 `scripts/services` (or `scripts/services redis-cluster`)",
                cluster_urls()
            )
        })
}

/// Overwrites one data field of the session under `key` with text that is not JSON.
pub async fn write_garbage(store: &RedisStore, key: StoreKey) {
    let hash = store.session_key(&key);
    let garbage = "{not json";
    match store.mode() {
        Mode::Standalone => {
            let client = redis::Client::open(standalone_url()).expect("redis url");
            let mut connection = client
                .get_multiplexed_async_connection()
                .await
                .expect("a raw connection to Redis");
            let _: () = connection
                .hset(&hash, "d:about", garbage)
                .await
                .expect("HSET garbage");
        }
        Mode::Cluster => {
            let client = redis::cluster::ClusterClient::new(cluster_urls()).expect("cluster urls");
            let mut connection = client
                .get_async_connection()
                .await
                .expect("a raw connection to the Cluster");
            let _: () = connection
                .hset(&hash, "d:about", garbage)
                .await
                .expect("HSET garbage");
        }
    }
}

/// A session manager whose cookies work over plain http (the tests talk to loopback).
pub fn manager(store: RedisStore, keys: Keys, store_timeout: Duration) -> SessionManager {
    SessionManager::new(
        store,
        SignedIds::new(keys).with_cookie(CookieConfig::builder().secure(false).build().unwrap()),
        Config::builder()
            .store_timeout(store_timeout)
            .build()
            .unwrap(),
    )
}

async fn write_key(session: Session, Path(name): Path<String>) -> Result<&'static str, Error> {
    session.insert(&name, true)?;
    Ok("ok")
}

async fn increment(session: Session) -> Result<Json<i64>, Error> {
    Ok(Json(session.increment("hits", 1).await?))
}

async fn data(session: Session) -> Result<Json<SessionData>, Error> {
    Ok(Json(session.data().await?))
}

/// `POST /keys/{name}` sets `name = true`; `POST /incr` increments `hits`; `GET /data` shows
/// the session's data.
pub fn app(manager: SessionManager) -> Router {
    Router::new()
        .route("/keys/{name}", post(write_key))
        .route("/incr", post(increment))
        .route("/data", get(data))
        .layer(SessionLayer::new(manager))
}

/// Serves `app` on an ephemeral loopback port; returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address: SocketAddr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the test app serves");
    });
    format!("http://{address}")
}

/// The `name=value` pair of the response's session cookie, for sending back by hand.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("id=") && pair.len() > 3)
        .map(str::to_owned)
}

/// Runs `redis-cli args...`; its output, or `None` when it failed to run or connect.
pub fn redis_cli(args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("redis-cli")
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

/// Waits (polling, at most `attempts` × 200 ms) until `check` holds.
pub async fn eventually(what: &str, attempts: usize, mut check: impl FnMut() -> bool) {
    for _ in 0..attempts {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("gave up waiting until {what}");
}

/// Full recovery, in the same app: 50 requests, each a fresh session written and then
/// incremented, every one answered 200.
pub async fn assert_full_recovery(client: &reqwest::Client, url: &str, when: &str) {
    for n in 0..50 {
        let response = client
            .post(format!("{url}/keys/after-{n}"))
            .send()
            .await
            .expect("the app answers");
        assert_eq!(response.status(), 200, "request {n} {when}");
        let cookie = session_cookie(&response).expect("a session cookie");
        let response = client
            .post(format!("{url}/incr"))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .expect("the app answers");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "1");
    }
}

/// A Node-layout store from `builder` on the standalone server; fails the test with a hint when
/// Redis is not running.
#[cfg(feature = "node")]
pub async fn connect_node(
    builder: sessile_redis::node::NodeRedisStoreBuilder,
) -> sessile_redis::node::NodeRedisStore {
    builder
        .connect(&standalone_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is not reachable at {}: {e}; start it with `scripts/services`",
                standalone_url()
            )
        })
}

//! Redis round trips per request of the benchmark endpoints, counted by the server itself: the
//! commands clients send, as `MONITOR` reports them (commands that a Lua script runs inside the
//! server are no round trip and are left out). The server is a private `redis-server` this test
//! starts on a free port, so that no other client's commands are counted.

#![cfg(feature = "redis")]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use futures_util::StreamExt;
use http::{header, Request, StatusCode};
use sessile::Keys;
use sessile_bench::{Settings, StoreKind};
use tower::ServiceExt;

/// A `redis-server` owned by this test: no persistence, stopped on drop.
struct PrivateRedis {
    child: Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot run redis-server ({error}); install it with `scripts/services`")
            });
        let redis = Self {
            child,
            url: format!("redis://127.0.0.1:{port}/0"),
        };
        for _ in 0..100 {
            if redis.connection().await.is_ok() {
                return redis;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the private redis-server on port {port} did not accept connections");
    }

    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url.as_str())?
            .get_multiplexed_async_connection()
            .await
    }

    /// Starts `MONITOR` on its own connection: from now on the server echoes every command.
    async fn monitor(&self) -> Monitored {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        // The monitor connection sends MONITOR itself.
        let monitor = client.get_async_monitor().await.unwrap();
        Monitored {
            lines: Box::pin(monitor.into_on_message::<String>()),
            marker: self.connection().await.unwrap(),
            markers_sent: 0,
        }
    }
}

/// The commands a Redis server reports through `MONITOR`.
struct Monitored {
    lines: std::pin::Pin<Box<dyn futures_util::Stream<Item = String> + Send>>,
    marker: redis::aio::MultiplexedConnection,
    markers_sent: u64,
}

impl Monitored {
    /// The commands clients sent since the last call, by name; commands a Lua script ran inside
    /// the server are left out, since they cost no round trip.
    async fn client_commands(&mut self) -> BTreeMap<String, u64> {
        self.markers_sent += 1;
        let marker = format!("sessile-bench-marker-{}", self.markers_sent);
        let _: String = redis::cmd("ECHO")
            .arg(&marker)
            .query_async(&mut self.marker)
            .await
            .unwrap();
        let mut seen = BTreeMap::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next())
                .await
                .expect("MONITOR echoes the marker")
                .expect("the MONITOR connection stays open");
            if line.contains(&marker) {
                return seen;
            }
            if let Some(name) = client_command(&line) {
                *seen.entry(name).or_insert(0) += 1;
            }
        }
    }
}

/// The command name of a `MONITOR` line sent by a client, e.g. `evalsha` from
/// `1700000000.123456 [0 127.0.0.1:5000] "EVALSHA" "ab12" "1"`; `None` for a script's commands
/// (`[0 lua]`) and for anything unparsable.
fn client_command(line: &str) -> Option<String> {
    let (source, rest) = line.split_once(" [")?.1.split_once("] ")?;
    if source.ends_with(" lua") {
        return None;
    }
    let name = rest.strip_prefix('"')?.split('"').next()?;
    Some(name.to_ascii_lowercase())
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(app: &Router, path: &str, cookie: Option<&str>) -> (StatusCode, Option<String>) {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = response.headers().get(header::SET_COOKIE).map(|value| {
        value
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    });
    (response.status(), cookie)
}

fn commands(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .map(|(name, calls)| ((*name).to_owned(), *calls))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_costs_at_most_one_redis_round_trip() {
    let redis = PrivateRedis::start().await;
    let settings =
        Settings::from_lookup(|name| (name == "REDIS_URL").then(|| redis.url.clone())).unwrap();
    let manager = sessile_bench::manager(StoreKind::Redis, &settings, Keys::generate())
        .await
        .unwrap();
    let app = sessile_bench::router(manager);
    let mut monitored = redis.monitor().await;

    let (status, cookie) = get(&app, "/count", None).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.expect("a new session's first /count sets the cookie");
    assert_eq!(
        monitored.client_commands().await,
        commands(&[("evalsha", 1)]),
        "creating a session"
    );

    let cases = [
        ("/plain", commands(&[])),
        ("/count", commands(&[("evalsha", 1)])),
        ("/set?k=k1", commands(&[("evalsha", 1)])),
        ("/keys?n=10", commands(&[("hgetall", 1)])),
    ];
    for (path, expected) in cases {
        let (status, _) = get(&app, path, Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(monitored.client_commands().await, expected, "{path}");
    }
}

#[test]
fn monitor_lines_name_client_commands_only() {
    assert_eq!(
        client_command(r#"1700000000.123456 [0 127.0.0.1:5000] "EVALSHA" "ab12" "1""#).as_deref(),
        Some("evalsha")
    );
    assert_eq!(
        client_command(r#"1700000000.123456 [9 lua] "hset" "k" "v""#),
        None
    );
    assert_eq!(client_command("OK"), None);
}

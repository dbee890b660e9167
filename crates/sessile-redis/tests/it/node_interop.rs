//! Interop on one Redis: real Node apps (tests/node/koa-redis-app.js, express-redis-app.js, run
//! with the real npm packages) and a Rust app on `sessile_redis::node::NodeRedisStore` serve the
//! same sessions to one browser, in both directions, for three stacks:
//!
//! - koa-session in external-store mode + koa-redis (key = the id, `_expire`, TTL maxAge + 10 s);
//! - koa-generic-session + koa-redis (key `<prefix><sid>`, `cookie` object, signed `koa.sid`);
//! - koa-session-minimal + koa-redis (key `koa:sess:<sid>`, the data alone);
//! - express-session + connect-redis 9 (key `<prefix><sid>`, `cookie` object).
//!
//! Each test uses a key prefix of its own (koa-session's id `prefix`, koa-generic-session's and
//! connect-redis's `prefix`;
//! koa-session-minimal's keys are random 32-character ids under its fixed `koa:sess:`), so test
//! binaries sharing the server never collide.
//!
//! The test's browser keeps every cookie it is given, expired or not (as a client replaying an
//! old cookie would), so expiry and logout are checked in the stores, never in the cookie jar.
//!
//! Needs Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`; `scripts/services` starts it)
//! and the fixture's node_modules (`npm ci --prefix crates/sessile-node/tests/node`).

#![cfg(feature = "node")]

use crate::common;
// The Node fixture (the npm apps and their driver) lives with sessile-node's interop tests.
use crate::node_support as support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sessile::codec::IdCodec;
use sessile::{Clock, Config, ConfigBuilder, ManualClock, SessionManager, Timestamp};
use sessile_axum::testkit::TestServer;
use sessile_node::express_session::Secrets;
use sessile_node::ids::{ExpressIds, KoaIdStyle, KoaIds, NodeCookie};
use sessile_node::keygrip::Keygrip;
use sessile_node::record_json::{NodeJson, NodeShape};
use sessile_redis::node::NodeRedisStore;
use support::{redis_url, NodeApp};

const MINUTE: Duration = Duration::from_secs(60);
/// The maxAge of the expiry tests, and how long they wait: past the deadline, past the TTL
/// Node rounds up to whole seconds.
const SHORT: Duration = Duration::from_secs(2);
const PAST_SHORT: Duration = Duration::from_millis(3_500);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// A "remember me" session's own maxAge.
const THIRTY_DAYS: Duration = Duration::from_secs(30 * 86_400);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    KoaSession,
    Generic,
    Minimal,
    Express,
}

impl Stack {
    fn shape(self) -> NodeShape {
        match self {
            Stack::KoaSession => NodeShape::KoaSession,
            Stack::Generic => NodeShape::GenericSession,
            Stack::Minimal => NodeShape::SessionMinimal,
            Stack::Express => NodeShape::Express,
        }
    }

    /// The request header that sets the Node app's keys / secrets for one request.
    fn key_header(self) -> &'static str {
        match self {
            Stack::KoaSession | Stack::Generic | Stack::Minimal => "x-test-keys",
            Stack::Express => "x-test-secrets",
        }
    }

    fn cookie_name(self) -> &'static str {
        match self {
            Stack::KoaSession => "koa.sess",
            Stack::Generic => "koa.sid",
            Stack::Minimal => "koa:sess",
            Stack::Express => "connect.sid",
        }
    }

    /// The Rust side's id codec, matching the Node app's cookie.
    fn ids(self, keys: &[&str], prefix: &str) -> Arc<dyn IdCodec> {
        match self {
            Stack::KoaSession => Arc::new(KoaIds::new(
                "koa.sess",
                Keygrip::new(keys.iter().copied()).expect("keys"),
                KoaIdStyle::Uuid {
                    prefix: prefix.to_owned(),
                },
            )),
            Stack::Generic => Arc::new(KoaIds::generic_session(
                Keygrip::new(keys.iter().copied()).expect("keys"),
            )),
            // The fixture sets `cookie.maxAge`, so its cookie expires with the session.
            Stack::Minimal => Arc::new(KoaIds::session_minimal().with_cookie(NodeCookie {
                expiring: true,
                ..NodeCookie::default()
            })),
            Stack::Express => Arc::new(ExpressIds::new(
                Secrets::new(keys.iter().copied()).expect("secrets"),
            )),
        }
    }

    /// The Redis key prefix in front of the plain id (koa-session's is inside the id).
    fn store_prefix(self, prefix: &str) -> String {
        match self {
            Stack::KoaSession => String::new(),
            Stack::Minimal => "koa:sess:".to_owned(),
            Stack::Generic | Stack::Express => prefix.to_owned(),
        }
    }

    /// The Redis key of the session whose id cookie holds `value`.
    fn redis_key(self, value: &str, prefix: &str) -> String {
        let id = match self {
            Stack::KoaSession | Stack::Generic | Stack::Minimal => value.to_owned(),
            Stack::Express => {
                let decoded = percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .expect("a UTF-8 cookie");
                let signed = decoded.strip_prefix("s:").expect("an s: cookie");
                signed.rsplit_once('.').expect("a signed id").0.to_owned()
            }
        };
        format!("{}{id}", self.store_prefix(prefix))
    }

    /// The default keys of the fixture apps.
    fn default_keys(self) -> &'static [&'static str] {
        match self {
            Stack::KoaSession | Stack::Generic | Stack::Minimal => &["k1"],
            Stack::Express => &["s1"],
        }
    }
}

/// A browser whose jar keeps every cookie it is given until a response deletes it (empty value
/// or an epoch `expires`), ignoring expiry dates: the stores must refuse dead sessions by
/// themselves.
struct Jar {
    http: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
    /// The `Set-Cookie` lines of the last response.
    last: Mutex<Vec<String>>,
}

impl Jar {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("a reqwest client"),
            cookies: Mutex::new(BTreeMap::new()),
            last: Mutex::new(Vec::new()),
        }
    }

    /// The `expires` attribute of the last response's cookie `name`, as written.
    fn last_expires(&self, name: &str) -> Option<String> {
        let last = self.last.lock().unwrap();
        let line = last
            .iter()
            .find(|line| line.starts_with(&format!("{name}=")))?;
        line.split(';').find_map(|attribute| {
            let (key, value) = attribute.trim().split_once('=')?;
            key.eq_ignore_ascii_case("expires")
                .then(|| value.to_owned())
        })
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    fn snapshot(&self) -> BTreeMap<String, String> {
        self.cookies.lock().unwrap().clone()
    }

    fn restore(&self, cookies: BTreeMap<String, String>) {
        *self.cookies.lock().unwrap() = cookies;
    }

    async fn get(&self, url: &str, extra: &[(&str, String)]) -> String {
        let mut request = self.http.get(url);
        let header = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !header.is_empty() {
            request = request.header("cookie", header);
        }
        for (name, value) in extra {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        self.last.lock().unwrap().clear();
        for set_cookie in response.headers().get_all("set-cookie") {
            let line = set_cookie.to_str().expect("an ASCII Set-Cookie");
            self.last.lock().unwrap().push(line.to_owned());
            let mut parts = line.split(';');
            let (name, value) = parts
                .next()
                .and_then(|pair| pair.split_once('='))
                .expect("name=value");
            let deleted = value.is_empty()
                || parts.any(|attribute| {
                    let attribute = attribute.trim().to_ascii_lowercase();
                    attribute.starts_with("expires=") && attribute.contains("1970")
                });
            let mut cookies = self.cookies.lock().unwrap();
            if deleted {
                cookies.remove(name.trim());
            } else {
                cookies.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        let body = response.text().await.expect("a response body");
        assert_eq!(status, 200, "GET {url} answered {status}: {body}");
        body
    }

    async fn whoami(&self, url: &str, extra: &[(&str, String)]) -> (Option<String>, Value) {
        let body = self.get(url, extra).await;
        let value: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {body:?}: {e}"));
        (
            value["user"].as_str().map(str::to_owned),
            value["data"].clone(),
        )
    }
}

/// One stack: the Node app, the Redis store and a way to make Rust apps with any keys.
struct World {
    stack: Stack,
    prefix: String,
    max_age: Duration,
    node: NodeApp,
    store: Arc<NodeRedisStore>,
    redis: redis::aio::MultiplexedConnection,
}

impl World {
    async fn start(stack: Stack, test: &str, max_age: Duration) -> Self {
        let prefix = format!("sessile-it:{}:{test}:", std::process::id());
        let max_age_ms = max_age.as_millis().to_string();
        let node = match stack {
            Stack::KoaSession => NodeApp::start(
                "koa-redis-app.js",
                &[
                    ("MODE", "koa-session"),
                    ("MAX_AGE", &max_age_ms),
                    ("PREFIX", &prefix),
                    ("REDIS_URL", &redis_url()),
                ],
            ),
            Stack::Generic => NodeApp::start(
                "koa-redis-app.js",
                &[
                    ("MODE", "generic"),
                    ("MAX_AGE", &max_age_ms),
                    ("PREFIX", &prefix),
                    ("REDIS_URL", &redis_url()),
                ],
            ),
            Stack::Minimal => NodeApp::start(
                "koa-redis-app.js",
                &[
                    ("MODE", "minimal"),
                    ("MAX_AGE", &max_age_ms),
                    ("REDIS_URL", &redis_url()),
                ],
            ),
            Stack::Express => NodeApp::start(
                "express-redis-app.js",
                &[
                    ("MAX_AGE", &max_age_ms),
                    ("PREFIX", &prefix),
                    ("REDIS_URL", &redis_url()),
                ],
            ),
        };
        let store = common::connect_node(
            NodeRedisStore::builder(NodeJson::new(stack.shape(), max_age))
                .key_prefix(stack.store_prefix(&prefix)),
        )
        .await;
        let redis = redis::Client::open(redis_url())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("a Redis connection");
        World {
            stack,
            prefix,
            max_age,
            node,
            store: Arc::new(store),
            redis,
        }
    }

    /// A Rust app on the shared store whose id cookies are signed with `keys` (the first signs),
    /// with the routes of `support::rust_app` plus `/rotate` (a new id for the session).
    async fn rust(&self, keys: &[&str]) -> TestServer {
        self.rust_with(keys, Config::builder().idle_timeout(self.max_age))
            .await
    }

    /// [`World::rust`] with the configuration `config` builds.
    async fn rust_with(&self, keys: &[&str], config: ConfigBuilder) -> TestServer {
        let config = config.build().unwrap();
        let manager = SessionManager::new(
            self.store.clone(),
            self.stack.ids(keys, &self.prefix),
            config,
        );
        TestServer::start(support::rust_app_with_rotate(manager)).await
    }

    /// The Node app's request headers for `keys`.
    fn node_keys(&self, keys: &[&str]) -> Vec<(&'static str, String)> {
        vec![(self.stack.key_header(), json!(keys).to_string())]
    }

    fn default_node_keys(&self) -> Vec<(&'static str, String)> {
        self.node_keys(self.stack.default_keys())
    }

    /// The Redis key of the session `jar` holds.
    fn key_of(&self, jar: &Jar) -> String {
        let value = jar
            .cookie(self.stack.cookie_name())
            .unwrap_or_else(|| panic!("the browser holds no {} cookie", self.stack.cookie_name()));
        self.stack.redis_key(&value, &self.prefix)
    }

    /// The document under `key` and its remaining TTL in ms.
    async fn stored(&self, key: &str) -> Option<(Value, i64)> {
        let mut redis = self.redis.clone();
        let (text, pttl): (Option<String>, i64) = redis::pipe()
            .atomic()
            .get(key)
            .pttl(key)
            .query_async(&mut redis)
            .await
            .expect("GET + PTTL");
        text.map(|text| {
            let document = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{key} holds {text:?}, not JSON: {e}"));
            (document, pttl)
        })
    }

    /// Checks the document under `key` has the package's shape (the same bookkeeping keys —
    /// `_expire`, `_maxAge`, `cookie` and the `cookie` object's keys — as `model`, a document the
    /// Node side wrote, and a string `user`) and a TTL as the package sets
    /// it: maxAge (+ 10 s for koa-session), give or take how long the test took since.
    async fn assert_layout(&self, key: &str, model: &Value) {
        let (document, pttl) = self
            .stored(key)
            .await
            .unwrap_or_else(|| panic!("no session under {key}"));
        let shape_of = |document: &Value| {
            let mut keys: Vec<String> = document
                .as_object()
                .expect("a JSON object")
                .keys()
                .filter(|key| key.starts_with('_') || *key == "cookie")
                .cloned()
                .collect();
            keys.sort();
            let mut cookie: Vec<String> = document["cookie"]
                .as_object()
                .map(|cookie| cookie.keys().cloned().collect())
                .unwrap_or_default();
            cookie.sort();
            (keys, cookie)
        };
        assert_eq!(
            shape_of(&document),
            shape_of(model),
            "{key}: {document} is not shaped like the Node package's {model}"
        );
        assert!(
            document["user"].is_string(),
            "{key}: {document} has no user"
        );
        let max_age = i64::try_from(self.max_age.as_millis()).unwrap();
        let expected = match self.stack {
            Stack::KoaSession => max_age + 10_000,
            Stack::Generic | Stack::Minimal | Stack::Express => max_age,
        };
        // Node rounds its TTL up to whole seconds; the test's own steps take a few seconds at
        // most against a 60-second maxAge.
        assert!(
            pttl > expected - 10_000 && pttl <= expected + 1_000,
            "{key}: TTL {pttl} ms, expected about {expected} ms"
        );
    }

    /// When the key expires (`PEXPIRETIME`, ms since the epoch).
    async fn expire_time(&self, key: &str) -> i64 {
        redis::cmd("PEXPIRETIME")
            .arg(key)
            .query_async(&mut self.redis.clone())
            .await
            .expect("PEXPIRETIME")
    }

    /// What the store keeps 10 s longer than the session (koa-session's store grace).
    fn grace_ms(&self) -> i64 {
        if self.stack == Stack::KoaSession {
            10_000
        } else {
            0
        }
    }

    /// Checks that a Rust write at `at` kept the session's lifetime `max_age`: the document's
    /// own maxAge (where the package keeps one) and expiry, the key's expiry, and the `expires`
    /// of the cookie the response carried all say `at + max_age`.
    async fn assert_rust_wrote(&self, jar: &Jar, key: &str, at: Timestamp, max_age: Duration) {
        let max_age_ms = i64::try_from(max_age.as_millis()).unwrap();
        let deadline = at.as_millis() + max_age_ms;
        let (document, _) = self.stored(key).await.expect("the session is stored");
        assert_eq!(
            own_max_age(self.stack, &document),
            (self.stack != Stack::Minimal).then_some(max_age_ms),
            "{key}: {document}"
        );
        match self.stack {
            Stack::KoaSession => assert_eq!(document["_expire"], deadline, "{document}"),
            Stack::Express => assert_eq!(
                document["cookie"]["expires"],
                sessile_node::to_iso_string(deadline).unwrap(),
                "{document}"
            ),
            Stack::Generic | Stack::Minimal => {}
        }
        assert_eq!(
            self.expire_time(key).await,
            deadline + self.grace_ms(),
            "{key}'s expiry"
        );
        assert_eq!(
            jar.last_expires(self.stack.cookie_name()),
            Some(sessile_node::to_utc_string(deadline)),
            "the cookie Rust sent expires with the session"
        );
    }

    async fn exists(&self, key: &str) -> bool {
        self.stored(key).await.is_some()
    }
}

/// The session's own maxAge as its document keeps it (ms): koa-session's `_maxAge`,
/// koa-generic-session's `cookie.maxAge`, express-session's `cookie.originalMaxAge`;
/// koa-session-minimal keeps none.
fn own_max_age(stack: Stack, document: &Value) -> Option<i64> {
    match stack {
        Stack::KoaSession => document["_maxAge"].as_i64(),
        Stack::Generic => document["cookie"]["maxAge"].as_i64(),
        Stack::Express => document["cookie"]["originalMaxAge"].as_i64(),
        Stack::Minimal => None,
    }
}

/// A clock standing at the wall clock's now, for a Rust app whose time the test moves.
fn clock_at_now() -> ManualClock {
    ManualClock::new(sessile::SystemClock.now())
}

/// A session Node gave its own 30-day maxAge (the app's is one day) keeps it through a Rust
/// read, a Rust write and a Rust touch eight days later, on both sides. koa-session-minimal
/// keeps no lifetime per session: there the app's maxAge is 30 days, and Rust keeps it.
async fn own_lifetime_survives_rust(stack: Stack) {
    let app_max_age = if stack == Stack::Minimal {
        THIRTY_DAYS
    } else {
        DAY
    };
    let world = World::start(stack, "own-life", app_max_age).await;
    let clock = clock_at_now();
    let rust = world
        .rust_with(
            stack.default_keys(),
            // sessile's own sliding expiry (the guide's configuration touches nothing).
            sessile_node::config(app_max_age)
                .touch_throttle(0.25)
                .clock(clock.clone()),
        )
        .await;
    let node_keys = world.default_node_keys();
    let thirty_ms = i64::try_from(THIRTY_DAYS.as_millis()).unwrap();

    let jar = Jar::new();
    jar.get(
        &world
            .node
            .url(&format!("/login?user=erin&remember={thirty_ms}")),
        &node_keys,
    )
    .await;
    jar.whoami(&world.node.url("/whoami"), &node_keys).await;
    let key = world.key_of(&jar);
    let (document, pttl) = world.stored(&key).await.expect("Node stored the session");
    assert_eq!(
        own_max_age(stack, &document),
        (stack != Stack::Minimal).then_some(thirty_ms),
        "{document}"
    );
    let expected = thirty_ms + world.grace_ms();
    assert!(
        pttl > expected - 10_000 && pttl <= expected + 1_000,
        "Node's TTL {pttl} ms, expected about {expected} ms"
    );

    // Rust reads it: the user, and no write (a touch is due only after a quarter of 30 days).
    assert_eq!(
        jar.whoami(&rust.url("/whoami"), &[]).await.0,
        Some("erin".to_owned())
    );
    // Rust writes: the deadline moves by the session's 30 days, not the app's one day.
    clock.advance(HOUR);
    jar.get(&rust.url("/set?k=a&v=1"), &[]).await;
    world
        .assert_rust_wrote(&jar, &key, clock.now(), THIRTY_DAYS)
        .await;
    // Eight days later a read-only request touches the session: 30 days again from then.
    clock.advance(8 * DAY);
    assert_eq!(
        jar.whoami(&rust.url("/whoami"), &[]).await,
        (Some("erin".to_owned()), json!({"a": "1"}))
    );
    world
        .assert_rust_wrote(&jar, &key, clock.now(), THIRTY_DAYS)
        .await;

    // Node still serves it, and its next write keeps the 30 days.
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &node_keys).await,
        (Some("erin".to_owned()), json!({"a": "1"}))
    );
    jar.get(&world.node.url("/set?k=b&v=2"), &node_keys).await;
    let (document, pttl) = world.stored(&key).await.expect("still stored");
    assert_eq!(
        own_max_age(stack, &document),
        (stack != Stack::Minimal).then_some(thirty_ms),
        "{document}"
    );
    assert!(
        pttl > expected - 10_000 && pttl <= expected + 1_000,
        "Node's TTL after its write {pttl} ms, expected about {expected} ms"
    );
}

/// With the guide's configuration (`sessile_node::config`), a one-day maxAge gives a session
/// Rust creates one day, not sessile's 12-hour default absolute lifetime: in the store, in the
/// document and on the cookie, and the session still lives 13 hours later.
async fn one_day_is_not_cut_at_twelve_hours(stack: Stack) {
    let world = World::start(stack, "one-day", DAY).await;
    let clock = clock_at_now();
    let rust = world
        .rust_with(
            stack.default_keys(),
            sessile_node::config(DAY).clock(clock.clone()),
        )
        .await;
    let jar = Jar::new();
    jar.get(&rust.url("/login?user=finn"), &[]).await;
    let key = world.key_of(&jar);
    world.assert_rust_wrote(&jar, &key, clock.now(), DAY).await;
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &world.default_node_keys())
            .await
            .0,
        Some("finn".to_owned())
    );
    clock.advance(13 * HOUR);
    assert_eq!(
        jar.whoami(&rust.url("/whoami"), &[]).await.0,
        Some("finn".to_owned()),
        "alive 13 hours after sign-in"
    );
}

/// Sign in on one side, change data and sign out on the other, both ways; the Rust side writes
/// the keys, documents and TTLs the Node package writes.
async fn both_directions(stack: Stack) {
    let world = World::start(stack, "both", MINUTE).await;
    let rust = world.rust(stack.default_keys()).await;
    let node_keys = world.default_node_keys();

    // Node signs in; Rust sees the user.
    let jar = Jar::new();
    jar.get(&world.node.url("/login?user=alice"), &node_keys)
        .await;
    // koa-session-minimal writes without waiting; Node's next request on the same Redis
    // connection comes after the write.
    jar.whoami(&world.node.url("/whoami"), &node_keys).await;
    let node_key = world.key_of(&jar);
    let (node_document, _) = world
        .stored(&node_key)
        .await
        .unwrap_or_else(|| panic!("the Node app wrote no {node_key}"));
    world.assert_layout(&node_key, &node_document).await;
    assert_eq!(
        jar.whoami(&rust.url("/whoami"), &[]).await,
        (Some("alice".to_owned()), json!({})),
        "Rust sees the user Node signed in"
    );
    // Rust changes data; Node sees it.
    jar.get(&rust.url("/set?k=color&v=blue"), &[]).await;
    assert_eq!(world.key_of(&jar), node_key, "same session, same key");
    world.assert_layout(&node_key, &node_document).await;
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &node_keys).await,
        (Some("alice".to_owned()), json!({"color": "blue"})),
        "Node sees Rust's change"
    );
    // Rust signs out; Node sees no session, even for a replayed cookie.
    let cookies = jar.snapshot();
    jar.get(&rust.url("/logout"), &[]).await;
    assert!(!world.exists(&node_key).await, "logout deletes {node_key}");
    jar.restore(cookies);
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &node_keys).await,
        (None, json!({})),
        "Node sees no session after Rust's logout"
    );

    // Rust signs in; Node sees the user.
    let jar = Jar::new();
    jar.get(&rust.url("/login?user=bob"), &[]).await;
    let rust_key = world.key_of(&jar);
    assert_ne!(rust_key, node_key);
    world.assert_layout(&rust_key, &node_document).await;
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &node_keys).await,
        (Some("bob".to_owned()), json!({})),
        "Node sees the user Rust signed in"
    );
    // Node changes data; Rust sees it.
    jar.get(&world.node.url("/set?k=lang&v=rust"), &node_keys)
        .await;
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &node_keys).await,
        (Some("bob".to_owned()), json!({"lang": "rust"}))
    );
    assert_eq!(
        jar.whoami(&rust.url("/whoami"), &[]).await,
        (Some("bob".to_owned()), json!({"lang": "rust"})),
        "Rust sees Node's change"
    );
    // Node signs out; Rust sees no session, even for a replayed cookie.
    let cookies = jar.snapshot();
    jar.get(&world.node.url("/logout"), &node_keys).await;
    // koa-session-minimal deletes without waiting; Node's next request on the same Redis
    // connection comes after the deletion.
    jar.whoami(&world.node.url("/whoami"), &node_keys).await;
    assert!(!world.exists(&rust_key).await, "logout deletes {rust_key}");
    jar.restore(cookies);
    assert_eq!(
        jar.whoami(&rust.url("/whoami"), &[]).await,
        (None, json!({})),
        "Rust sees no session after Node's logout"
    );
}

/// Keys rotated on one side ([new, old]) while the other still has [old]: the rotated side
/// accepts the other's cookies and signs with the new key, which the other side accepts once it
/// rotates too.
async fn key_rotation(stack: Stack) {
    let world = World::start(stack, "keys", MINUTE).await;
    let (new, old) = match stack {
        Stack::Express => ("s-new", "s-old"),
        Stack::KoaSession | Stack::Generic | Stack::Minimal => ("k-new", "k-old"),
    };
    let rust_rotated = world.rust(&[new, old]).await;
    let rust_old = world.rust(&[old]).await;
    let rust_new = world.rust(&[new]).await;

    // Rust rotated, Node on [old].
    let jar = Jar::new();
    jar.get(
        &world.node.url("/login?user=carol"),
        &world.node_keys(&[old]),
    )
    .await;
    assert_eq!(
        jar.whoami(&rust_rotated.url("/whoami"), &[]).await.0,
        Some("carol".to_owned()),
        "Rust with [new, old] accepts Node's [old] cookie"
    );
    jar.get(&rust_rotated.url("/set?k=x&v=1"), &[]).await;
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &world.node_keys(&[new]))
            .await,
        (Some("carol".to_owned()), json!({"x": "1"})),
        "Rust with [new, old] re-signed with the new key, which Node accepts once rotated"
    );

    // Node rotated, Rust on [old].
    let jar = Jar::new();
    jar.get(&rust_old.url("/login?user=dave"), &[]).await;
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &world.node_keys(&[new, old]))
            .await
            .0,
        Some("dave".to_owned()),
        "Node with [new, old] accepts Rust's [old] cookie"
    );
    jar.get(
        &world.node.url("/set?k=y&v=2"),
        &world.node_keys(&[new, old]),
    )
    .await;
    assert_eq!(
        jar.whoami(&rust_new.url("/whoami"), &[]).await,
        (Some("dave".to_owned()), json!({"y": "2"})),
        "Node with [new, old] signed with the new key, which Rust accepts once rotated"
    );
}

/// Rust gives the session a new id: one script writes the new key and deletes the old; Node
/// follows the new cookie and refuses the old one.
async fn id_rotation(stack: Stack) {
    let world = World::start(stack, "rotate", MINUTE).await;
    let rust = world.rust(stack.default_keys()).await;
    let node_keys = world.default_node_keys();

    let jar = Jar::new();
    jar.get(&world.node.url("/login?user=erin"), &node_keys)
        .await;
    jar.get(&world.node.url("/set?k=cart&v=3"), &node_keys)
        .await;
    jar.whoami(&world.node.url("/whoami"), &node_keys).await;
    let old_key = world.key_of(&jar);
    let (model, _) = world.stored(&old_key).await.expect("Node's session");
    let old_cookies = jar.snapshot();

    jar.get(&rust.url("/rotate"), &[]).await;
    let new_key = world.key_of(&jar);
    assert_ne!(new_key, old_key, "a new id");
    assert!(!world.exists(&old_key).await, "the old key is gone");
    world.assert_layout(&new_key, &model).await;
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &node_keys).await,
        (Some("erin".to_owned()), json!({"cart": "3"})),
        "Node finds the session under its new id"
    );
    jar.restore(old_cookies);
    assert_eq!(
        jar.whoami(&world.node.url("/whoami"), &node_keys).await,
        (None, json!({})),
        "the old id is dead for Node"
    );
    assert_eq!(
        jar.whoami(&rust.url("/whoami"), &[]).await,
        (None, json!({})),
        "the old id is dead for Rust"
    );
}

/// With maxAge 2 s, a session signed in on either side is gone on both once 2 s have passed
/// without activity, whatever cookie the browser still sends.
async fn expiry(stack: Stack) {
    let world = World::start(stack, "expiry", SHORT).await;
    let rust = world.rust(stack.default_keys()).await;
    let node_keys = world.default_node_keys();

    let from_node = Jar::new();
    from_node
        .get(&world.node.url("/login?user=gina"), &node_keys)
        .await;
    from_node
        .whoami(&world.node.url("/whoami"), &node_keys)
        .await;
    let from_rust = Jar::new();
    from_rust.get(&rust.url("/login?user=hank"), &[]).await;
    let keys = [world.key_of(&from_node), world.key_of(&from_rust)];
    for key in &keys {
        assert!(world.exists(key).await, "{key} was written");
    }

    tokio::time::sleep(PAST_SHORT).await;

    if stack == Stack::KoaSession {
        // koa-session's keys outlive `_expire` by 10 s: here both sides go by `_expire`.
        for key in &keys {
            assert!(world.exists(key).await, "{key} is still in Redis");
        }
    }
    for (jar, user) in [(&from_node, "gina"), (&from_rust, "hank")] {
        // Node first: it never clears the cookie of an expired session, so Rust gets it too.
        assert_eq!(
            jar.whoami(&world.node.url("/whoami"), &node_keys).await,
            (None, json!({})),
            "{user}'s expired session is gone for Node"
        );
        assert_eq!(
            jar.whoami(&rust.url("/whoami"), &[]).await,
            (None, json!({})),
            "{user}'s expired session is gone for Rust"
        );
    }
}

#[tokio::test]
async fn koa_session_store_mode_both_directions() {
    both_directions(Stack::KoaSession).await;
}

#[tokio::test]
async fn koa_session_store_mode_key_rotation() {
    key_rotation(Stack::KoaSession).await;
}

#[tokio::test]
async fn koa_session_store_mode_id_rotation() {
    id_rotation(Stack::KoaSession).await;
}

#[tokio::test]
async fn koa_session_store_mode_expiry() {
    expiry(Stack::KoaSession).await;
}

#[tokio::test]
async fn koa_generic_session_both_directions() {
    both_directions(Stack::Generic).await;
}

#[tokio::test]
async fn koa_generic_session_key_rotation() {
    key_rotation(Stack::Generic).await;
}

#[tokio::test]
async fn koa_generic_session_id_rotation() {
    id_rotation(Stack::Generic).await;
}

#[tokio::test]
async fn koa_generic_session_expiry() {
    expiry(Stack::Generic).await;
}

#[tokio::test]
async fn koa_session_minimal_both_directions() {
    both_directions(Stack::Minimal).await;
}

// koa-session-minimal's cookie is unsigned (the package forces `signed: false`): there are no
// keys to rotate.

#[tokio::test]
async fn koa_session_minimal_id_rotation() {
    id_rotation(Stack::Minimal).await;
}

#[tokio::test]
async fn koa_session_minimal_expiry() {
    expiry(Stack::Minimal).await;
}

#[tokio::test]
async fn express_connect_redis_both_directions() {
    both_directions(Stack::Express).await;
}

#[tokio::test]
async fn express_connect_redis_secret_rotation() {
    key_rotation(Stack::Express).await;
}

#[tokio::test]
async fn express_connect_redis_id_rotation() {
    id_rotation(Stack::Express).await;
}

#[tokio::test]
async fn express_connect_redis_expiry() {
    expiry(Stack::Express).await;
}

#[tokio::test]
async fn koa_session_store_mode_own_lifetime() {
    own_lifetime_survives_rust(Stack::KoaSession).await;
}

#[tokio::test]
async fn koa_session_store_mode_one_day() {
    one_day_is_not_cut_at_twelve_hours(Stack::KoaSession).await;
}

#[tokio::test]
async fn koa_generic_session_own_lifetime() {
    own_lifetime_survives_rust(Stack::Generic).await;
}

#[tokio::test]
async fn koa_generic_session_one_day() {
    one_day_is_not_cut_at_twelve_hours(Stack::Generic).await;
}

#[tokio::test]
async fn koa_session_minimal_own_lifetime() {
    own_lifetime_survives_rust(Stack::Minimal).await;
}

#[tokio::test]
async fn koa_session_minimal_one_day() {
    one_day_is_not_cut_at_twelve_hours(Stack::Minimal).await;
}

#[tokio::test]
async fn express_connect_redis_own_lifetime() {
    own_lifetime_survives_rust(Stack::Express).await;
}

#[tokio::test]
async fn express_connect_redis_one_day() {
    one_day_is_not_cut_at_twelve_hours(Stack::Express).await;
}

/// Takeover (the Node app switched off): a session a real koa-generic-session app created on
/// Redis is served by Rust in takeover mode; two concurrent requests with the Node cookie move it
/// once into sessile's own Redis layout under one new sessile id, with the same data and user,
/// the Node record and the Node cookie removed, and it is listed in the user's sessions.
#[tokio::test]
async fn takeover_moves_a_node_session_into_sessiles_own_layout() {
    use sessile::takeover::{Takeover, TakeoverIds, TakeoverStore};
    use sessile::{Keys, SignedIds, Store};

    let stack = Stack::Generic;
    let world = World::start(stack, "takeover", MINUTE).await;
    let node_keys = world.default_node_keys();
    let user = format!("taken-{}", std::process::id());
    let jar = Jar::new();
    jar.get(&world.node.url(&format!("/login?user={user}")), &node_keys)
        .await;
    jar.get(&world.node.url("/set?k=color&v=blue"), &node_keys)
        .await;
    let node_key = world.key_of(&jar);
    assert!(world.exists(&node_key).await);

    let native = Arc::new(common::standalone_store(&format!("{}native:", world.prefix)).await);
    let takeover = Takeover::new(&[7u8; 32]).unwrap();
    let config = || sessile_node::config(MINUTE).build().unwrap();
    let store = TakeoverStore::new(
        takeover.clone(),
        native.clone(),
        world.store.clone(),
        config(),
    );
    let ids = TakeoverIds::new(
        takeover,
        SignedIds::new(Keys::generate()),
        stack.ids(stack.default_keys(), &world.prefix),
    );
    let rust =
        TestServer::start(support::rust_app(SessionManager::new(store, ids, config()))).await;

    // Two requests at once with the Node cookie: both served, one native session.
    let url = rust.url("/whoami");
    let (first, second) = tokio::join!(jar.whoami(&url, &[]), jar.whoami(&url, &[]));
    let expected = (Some(user.clone()), json!({"color": "blue"}));
    assert_eq!(first, expected);
    assert_eq!(second, expected);
    assert!(!world.exists(&node_key).await, "the Node record is gone");
    assert_eq!(jar.cookie("koa.sid"), None, "the Node cookie was removed");
    assert!(
        jar.cookie("__Host-id").is_some(),
        "the sessile cookie was set"
    );
    let sessions = native
        .list_user_sessions(&user, sessile::SystemClock.now(), None, 10)
        .await
        .unwrap()
        .sessions;
    assert_eq!(sessions.len(), 1, "one native session: {sessions:?}");

    // The native session serves the next requests, with its data and user.
    jar.get(&rust.url("/set?k=size&v=L"), &[]).await;
    assert_eq!(
        jar.whoami(&url, &[]).await,
        (Some(user.clone()), json!({"color": "blue", "size": "L"}))
    );
    let key = sessions[0].key.clone();
    let record = native
        .load(&key, sessile::SystemClock.now())
        .await
        .unwrap()
        .expect("the native record");
    assert_eq!(record.user.as_deref(), Some(user.as_str()));
}

//! Node-exact HTTP behaviour (issue 13, point 2): for every case the Node packages tell apart,
//! the engine on a Node codec answers the same `Set-Cookie` lines, in the same order, and
//! leaves the same documents (exact JSON text) in the store as the real package did.
//!
//! The expected values are `tests/node/http-vectors.json`, produced by running the real
//! packages (`gen-http-vectors.js`, fixed clock, fixed keys and ids). Each scenario is replayed
//! here step by step: the same clock, the same keys, the request's very `Cookie` header, the
//! same action; the koa-session cookie mode through [`KoaCookieSessions`], every store mode
//! through its id codec and [`NodeRedisStore`] (the koa-redis / connect-redis layout, on the
//! local Redis under a prefix of this run's own).
//!
//! Every case matches exactly with the packages' defaults; sessile's safer habits are options
//! (docs/moving-from-node.md), which these scenarios leave off.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{header, HeaderMap, HeaderName, HeaderValue};
use redis::AsyncCommands;
use serde::Deserialize;
use sessile::codec::{IdCodec, PresentedId};
use sessile::{Clock, ManualClock, Record, SessionId, SessionManager, Timestamp};
use sessile_node::express_session::Secrets;
use sessile_node::ids::{ExpressIds, KoaIds, NodeCookie};
use sessile_node::keygrip::Keygrip;
use sessile_node::koa_cookie::KoaCookieSessions;
use sessile_node::record_json::{NodeJson, NodeShape};
use sessile_redis::node::NodeRedisStore;

use crate::support::{fixture, redis_url};

#[derive(Debug, Deserialize)]
struct Vectors {
    scenarios: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
struct Scenario {
    stack: String,
    setting: String,
    case: String,
    sessile: Options,
    store_prefix: Option<String>,
    issued_ids: Vec<String>,
    steps: Vec<Step>,
}

/// What the Rust side sets to match the Node app's options.
#[derive(Debug, Deserialize)]
struct Options {
    max_age_ms: u64,
    signed: bool,
    expiring: bool,
    session_max_age: bool,
    renew: bool,
    /// koa-session without `maxAge`.
    default_max_age: bool,
    /// The keys of the app's `cookie` option, in its order (koa-generic-session stores them
    /// first).
    app_cookie_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Step {
    action: String,
    now: i64,
    keys: Vec<String>,
    cookie: Option<String>,
    set_cookies: Vec<String>,
    documents: BTreeMap<String, String>,
}

/// What one step answered and left, on either side.
#[derive(Debug, PartialEq)]
struct Outcome {
    set_cookies: Vec<String>,
    documents: BTreeMap<String, String>,
}

fn vectors() -> Vectors {
    let path = fixture().join("http-vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run gen-http-vectors.js)", path.display()));
    serde_json::from_str(&text).expect("http-vectors.json parses")
}

/// The Node app's ids, in the order it issued them: the Rust side issues the same, so the
/// cookies and store keys can be compared byte for byte.
#[derive(Clone)]
struct FixedIds<C> {
    inner: C,
    ids: Arc<Mutex<VecDeque<String>>>,
}

impl<C: IdCodec> IdCodec for FixedIds<C> {
    fn header(&self) -> &HeaderName {
        self.inner.header()
    }

    fn generate(&self) -> SessionId {
        let next = self
            .ids
            .lock()
            .unwrap()
            .pop_front()
            .expect("the Rust side issued more ids than the Node app");
        SessionId::foreign(&next).expect("the vector's ids are cookie-safe")
    }

    fn read(&self, values: &[HeaderValue]) -> PresentedId {
        self.inner.read(values)
    }

    fn issue(
        &self,
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Vec<(HeaderName, HeaderValue)> {
        self.inner.issue(id, record, now)
    }

    fn reissue(
        &self,
        id: &SessionId,
        record: &Record,
        now: Timestamp,
    ) -> Vec<(HeaderName, HeaderValue)> {
        self.inner.reissue(id, record, now)
    }

    fn removal(&self) -> Vec<(HeaderName, HeaderValue)> {
        self.inner.removal()
    }

    fn renews_on_write(&self) -> bool {
        self.inner.renews_on_write()
    }

    fn clears_refused(&self) -> bool {
        self.inner.clears_refused()
    }

    fn refusal(&self) -> Vec<(HeaderName, HeaderValue)> {
        self.inner.refusal()
    }

    fn clears_dead(&self) -> bool {
        self.inner.clears_dead()
    }

    fn clears_destroyed(&self) -> bool {
        self.inner.clears_destroyed()
    }
}

fn shape(stack: &str) -> NodeShape {
    match stack {
        "koa-session store" => NodeShape::KoaSession,
        "koa-generic-session" => NodeShape::GenericSession,
        "koa-session-minimal" => NodeShape::SessionMinimal,
        "express-session" => NodeShape::Express,
        other => panic!("no store stack {other:?}"),
    }
}

fn node_cookie(options: &Options) -> NodeCookie {
    NodeCookie {
        expiring: options.expiring && !options.session_max_age,
        ..NodeCookie::default()
    }
}

fn keygrip(keys: &[String]) -> Keygrip {
    Keygrip::new(keys.iter().map(String::as_str)).expect("keys")
}

/// The manager for one step of `scenario` (the step's keys), on `clock`.
fn manager(
    scenario: &Scenario,
    keys: &[String],
    store: Option<&NodeRedisStore>,
    ids: &Arc<Mutex<VecDeque<String>>>,
    clock: &ManualClock,
) -> SessionManager {
    let options = &scenario.sessile;
    let max_age = Duration::from_millis(options.max_age_ms);
    let mut config = sessile_node::config(max_age).clock(clock.clone());
    if options.renew {
        // koa-session's `renew`: saved once less than half the lifetime is left.
        config = config.touch_throttle(0.5);
    }
    let config = config.build().expect("a configuration");
    let Some(store) = store else {
        let mut codec = KoaCookieSessions::new(keygrip(keys), max_age)
            .with_cookie(node_cookie(options))
            .expect("cookie options")
            .with_signed(options.signed);
        if options.session_max_age {
            codec = codec.with_session_max_age();
        }
        if options.default_max_age {
            codec = codec.with_default_max_age();
        }
        return SessionManager::client_side(codec, config);
    };
    let store = store.clone();
    let ids = ids.clone();
    match scenario.stack.as_str() {
        "koa-session store" => {
            let mut inner = KoaIds::koa_session(keygrip(keys))
                .with_cookie(node_cookie(options))
                .with_signed(options.signed);
            if options.default_max_age {
                inner = inner.with_default_max_age();
            }
            SessionManager::new(store, FixedIds { inner, ids }, config)
        }
        "koa-generic-session" => {
            let inner = KoaIds::generic_session(keygrip(keys))
                .with_cookie(node_cookie(options))
                .with_signed(options.signed);
            SessionManager::new(store, FixedIds { inner, ids }, config)
        }
        "koa-session-minimal" => {
            let inner = KoaIds::session_minimal().with_cookie(node_cookie(options));
            SessionManager::new(store, FixedIds { inner, ids }, config)
        }
        "express-session" => {
            let secrets = Secrets::new(keys.iter().map(String::as_str)).expect("secrets");
            let inner = ExpressIds::new(secrets).with_cookie(node_cookie(options));
            SessionManager::new(store, FixedIds { inner, ids }, config)
        }
        other => panic!("no store stack {other:?}"),
    }
}

async fn store_for(scenario: &Scenario, prefix: &str) -> NodeRedisStore {
    let options = &scenario.sessile;
    let max_age = Duration::from_millis(options.max_age_ms);
    let mut json = NodeJson::new(shape(&scenario.stack), max_age)
        .with_cookie(node_cookie(options))
        .with_app_cookie_keys(&options.app_cookie_keys)
        .with_signed(options.signed);
    if options.session_max_age {
        json = json.with_session_max_age();
    }
    NodeRedisStore::builder(json)
        .key_prefix(prefix)
        .connect(&redis_url())
        .await
        .expect("Redis is up (scripts/services)")
}

/// The documents under `prefix` live at `now` (the keys expire at absolute times on the test's
/// clock, which Redis's own clock has not reached), by the key the Node package passes its
/// store.
async fn documents(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    package_prefix: &str,
    now: Timestamp,
) -> BTreeMap<String, String> {
    let keys: Vec<String> = redis.keys(format!("{prefix}*")).await.expect("KEYS");
    let mut out = BTreeMap::new();
    for key in keys {
        let (text, expire_at): (Option<String>, i64) = redis::pipe()
            .get(&key)
            .cmd("PEXPIRETIME")
            .arg(&key)
            .query_async(redis)
            .await
            .expect("GET, PEXPIRETIME");
        let live = expire_at < 0 || expire_at > now.as_millis();
        if let (Some(text), true) = (text, live) {
            out.insert(format!("{package_prefix}{}", &key[prefix.len()..]), text);
        }
    }
    out
}

/// One request of the Rust side: the step's Cookie header, the step's action, the commit.
async fn request(manager: &SessionManager, step: &Step) -> Vec<String> {
    let mut headers = HeaderMap::new();
    if let Some(cookie) = &step.cookie {
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(cookie).expect("a header"),
        );
    }
    let session = manager.start(&headers, None);
    match step.action.as_str() {
        "login" => {
            session.insert("name", "Zoë ☃ 日本語 😀").unwrap();
            session.insert("n", 42).unwrap();
            session.set_user(Some("alice"));
        }
        "change" => {
            session.insert("n", 43).unwrap();
            session.insert("theme", "dark").unwrap();
        }
        "read" => {
            session.data().await.expect("the session reads");
        }
        "logout" => session.destroy(),
        other => panic!("no action {other:?}"),
    }
    let response = session.finish().await.expect("the commit succeeds");
    response
        .headers
        .iter()
        .filter(|(name, _)| *name == header::SET_COOKIE)
        .map(|(_, value)| value.to_str().unwrap().to_owned())
        .collect()
}

/// Replays `scenario`; the steps whose outcome differs from Node's, with both outcomes.
async fn replay(scenario: &Scenario, run: &str) -> Vec<(usize, Outcome, Outcome)> {
    let package_prefix = scenario.store_prefix.clone().unwrap_or_default();
    let prefix = format!("{run}{package_prefix}");
    let store = match &scenario.store_prefix {
        Some(_) => Some(store_for(scenario, &prefix).await),
        None => None,
    };
    let client = redis::Client::open(redis_url()).unwrap();
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is up (scripts/services)");
    let ids = Arc::new(Mutex::new(scenario.issued_ids.iter().cloned().collect()));
    let clock = ManualClock::new(Timestamp::from_millis(scenario.steps[0].now));
    let mut differing = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let behind = step.now - clock.now().as_millis();
        clock.advance(Duration::from_millis(
            u64::try_from(behind).expect("steps go forward"),
        ));
        let manager = manager(scenario, &step.keys, store.as_ref(), &ids, &clock);
        let set_cookies = request(&manager, step).await;
        let documents = if store.is_some() {
            documents(&mut redis, &prefix, &package_prefix, clock.now()).await
        } else {
            BTreeMap::new()
        };
        let rust = Outcome {
            set_cookies,
            documents,
        };
        let node = Outcome {
            set_cookies: step.set_cookies.clone(),
            documents: step.documents.clone(),
        };
        if rust != node {
            differing.push((index, node, rust));
        }
    }
    let keys: Vec<String> = redis.keys(format!("{prefix}*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = redis.del(keys).await.unwrap();
    }
    differing
}

/// Replays every scenario of `case` and checks each step against Node's.
fn check_case(case: &str) {
    let vectors = vectors();
    let scenarios: Vec<&Scenario> = vectors
        .scenarios
        .iter()
        .filter(|s| s.case == case)
        .collect();
    assert!(!scenarios.is_empty(), "the vectors cover {case}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = format!("sessile-nodehttp:{}:{case}:", std::process::id());
    let mut report = Vec::new();
    for (n, scenario) in scenarios.iter().enumerate() {
        let differing = runtime.block_on(replay(scenario, &format!("{run}{n}:")));
        for (step, node, rust) in differing {
            report.push(format!(
                "{} | {} | {case}, step {step} ({}):\n  node {node:?}\n  rust {rust:?}",
                scenario.stack, scenario.setting, scenario.steps[step].action
            ));
        }
    }
    assert!(report.is_empty(), "\n{}", report.join("\n"));
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                check_case(stringify!($case));
            }
        )*
    };
}

cases!(
    first_save,
    later_save,
    read_only,
    touch,
    renew_boundary,
    stale_key,
    rotated_secret,
    refused_cookie,
    missing_signature,
    expired_cookie,
    destroy,
    saves,
);

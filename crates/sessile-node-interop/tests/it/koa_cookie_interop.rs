//! koa-session cookie mode, live: a real Koa app (koa 3, koa-session 7, tests/node/koa-cookie-app.js)
//! and a sessile app using [`KoaCookieSessions`] share one browser's `koa.sess` cookies.
//!
//! Both sides run on a fixed clock: the Node app reads `x-test-now` (sent with every request),
//! the Rust app a [`ManualClock`]. The clock starts at the real time, because the browser's cookie
//! jar drops cookies whose `expires` lies in the real past.
//!
//! Needs the fixture's node_modules: `npm ci --prefix crates/sessile-node/tests/node`.

use std::time::Duration;

use crate::support::{rust_app, Browser, NodeApp, Whoami};
use serde_json::json;
use sessile::testkit::RecordingEvents;
use sessile::{Clock, Config, Event, ManualClock, RejectReason, SessionManager};
use sessile_axum::testkit::TestServer;
use sessile_node::keygrip::Keygrip;
use sessile_node::koa_cookie::KoaCookieSessions;

const MAX_AGE: Duration = Duration::from_secs(3600);
const MAX_AGE_MS: &str = "3600000";

/// One browser, a Koa app and a fixed clock both sides read.
struct World {
    node: NodeApp,
    browser: Browser,
    clock: ManualClock,
    /// Both apps use koa-session's `maxAge: 'session'`.
    session_max_age: bool,
}

impl World {
    /// The Koa app with `keys` as `app.keys` and `maxAge` one hour.
    fn start(keys: &[&str]) -> Self {
        Self::start_with(keys, MAX_AGE_MS)
    }

    /// The Koa app with `keys` and `max_age` (milliseconds, or `session`) as `maxAge`.
    fn start_with(keys: &[&str], max_age: &str) -> Self {
        let keys = serde_json::to_string(keys).unwrap();
        let node = NodeApp::start(
            "koa-cookie-app.js",
            &[("KOA_KEYS", keys.as_str()), ("MAX_AGE", max_age)],
        );
        Self {
            node,
            browser: Browser::new(),
            clock: ManualClock::starting_now(),
            session_max_age: max_age == "session",
        }
    }

    /// A sessile app keeping sessions in koa-session cookies under `keys`, on the world's clock.
    async fn rust(&self, keys: &[&str], events: &RecordingEvents) -> TestServer {
        let mut codec =
            KoaCookieSessions::new(Keygrip::new(keys.iter().copied()).unwrap(), MAX_AGE);
        if self.session_max_age {
            codec = codec.with_session_max_age();
        }
        let config = Config::builder()
            .idle_timeout(MAX_AGE)
            .clock(self.clock.clone())
            .events(events.clone())
            .build()
            .unwrap();
        TestServer::start(rust_app(SessionManager::client_side(codec, config))).await
    }

    /// GETs `path` on the Koa app at the world's time, with `keys` instead of its own if given.
    async fn node(&self, path: &str, keys: Option<&[&str]>) -> String {
        let now = self.clock.now().as_millis().to_string();
        let keys = keys.map(|keys| serde_json::to_string(keys).unwrap());
        let mut headers = vec![("x-test-now", now.as_str())];
        if let Some(keys) = &keys {
            headers.push(("x-test-keys", keys.as_str()));
        }
        let url = self.node.url(path);
        let (status, body) = self.browser.get_with(&url, &headers).await;
        assert_eq!(status, 200, "GET {url} answered {status}: {body}");
        body
    }

    /// A sessile app on koa-session cookies for a Koa app whose `maxAge` is `max_age`, with the
    /// guide's configuration (`sessile_node::config`: no absolute lifetime) and sessile's own
    /// sliding expiry (the guide's configuration touches nothing, as koa-session without
    /// `renew`).
    async fn rust_node_profile(&self, keys: &[&str], max_age: Duration) -> TestServer {
        let codec = KoaCookieSessions::new(Keygrip::new(keys.iter().copied()).unwrap(), max_age);
        let config = sessile_node::config(max_age)
            .touch_throttle(0.25)
            .clock(self.clock.clone())
            .build()
            .unwrap();
        TestServer::start(rust_app(SessionManager::client_side(codec, config))).await
    }

    /// The session's lifetime as koa-session reads it from the cookie: its maxAge and its
    /// `_expire` (ms).
    async fn node_lifetime(&self) -> (Option<i64>, Option<i64>) {
        let body = self.node("/whoami", None).await;
        let value: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        (value["maxAge"].as_i64(), value["expire"].as_i64())
    }

    async fn node_whoami(&self, keys: Option<&[&str]>) -> Whoami {
        let body = self.node("/whoami", keys).await;
        let value: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        Whoami {
            user: value["user"].as_str().map(str::to_owned),
            data: value["data"].clone(),
        }
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

fn whoami(user: Option<&str>, data: serde_json::Value) -> Whoami {
    Whoami {
        user: user.map(str::to_owned),
        data,
    }
}

#[tokio::test]
async fn node_signs_in_rust_writes_and_signs_out() {
    let world = World::start(&["k1"]);
    let events = RecordingEvents::new();
    let rust = world.rust(&["k1"], &events).await;

    world.node("/login?user=alice", None).await;
    assert_eq!(
        world.browser.whoami(&rust.url("/whoami")).await,
        whoami(Some("alice"), json!({}))
    );

    world.browser.get(&rust.url("/set?k=color&v=blue")).await;
    assert_eq!(
        world.node_whoami(None).await,
        whoami(Some("alice"), json!({"color": "blue"}))
    );

    world.browser.get(&rust.url("/logout")).await;
    assert_eq!(world.node_whoami(None).await, whoami(None, json!({})));
    assert_eq!(
        world.browser.whoami(&rust.url("/whoami")).await,
        whoami(None, json!({}))
    );
    // Removed from the browser (Koa's removal cookies), not merely refused: the logout's
    // `Destroyed` (and the sign-out it is) are the last events that are not loads or creates.
    assert_eq!(
        events.count(|e| !matches!(
            e,
            Event::Loaded { .. }
                | Event::Created { .. }
                | Event::Destroyed { .. }
                | Event::SignedOut { .. }
        )),
        0,
        "{:?}",
        events.events()
    );
}

#[tokio::test]
async fn rust_signs_in_node_writes_and_signs_out() {
    let world = World::start(&["k1"]);
    let events = RecordingEvents::new();
    let rust = world.rust(&["k1"], &events).await;

    world.browser.get(&rust.url("/login?user=bob")).await;
    assert_eq!(
        world.node_whoami(None).await,
        whoami(Some("bob"), json!({}))
    );

    world.node("/set?k=theme&v=dark", None).await;
    assert_eq!(
        world.browser.whoami(&rust.url("/whoami")).await,
        whoami(Some("bob"), json!({"theme": "dark"}))
    );

    world.node("/logout", None).await;
    assert_eq!(
        world.browser.whoami(&rust.url("/whoami")).await,
        whoami(None, json!({}))
    );
    assert_eq!(world.node_whoami(None).await, whoami(None, json!({})));
    // Node's removal cookies took both cookies out of the browser: nothing was refused.
    assert_eq!(
        events.count(|e| !matches!(
            e,
            Event::Loaded { .. } | Event::Created { .. } | Event::SignedIn { .. }
        )),
        0,
        "{:?}",
        events.events()
    );
}

#[tokio::test]
async fn both_sides_write_the_same_cookies_for_the_same_session() {
    let world = World::start(&["k1"]);
    let set_cookies = login_set_cookies(&world).await;
    assert_eq!(set_cookies[0].len(), 2, "{:?}", set_cookies[0]);
    assert_eq!(set_cookies[0], set_cookies[1], "Node's, then Rust's");
}

/// koa-session's `maxAge: 'session'`: the same browser-session cookies (`"_session": true`, no
/// `expires`) from both sides, and a session either side writes stays that way on the other.
#[tokio::test]
async fn browser_session_cookies_of_max_age_session_match_and_round_trip() {
    let world = World::start_with(&["k1"], "session");
    let set_cookies = login_set_cookies(&world).await;
    assert_eq!(set_cookies[0].len(), 2, "{:?}", set_cookies[0]);
    assert_eq!(set_cookies[0], set_cookies[1], "Node's, then Rust's");
    assert!(
        !set_cookies[1][0].contains("expires"),
        "{:?}",
        set_cookies[1]
    );
    let value = set_cookies[1][0]
        .strip_prefix("koa.sess=")
        .and_then(|rest| rest.split(';').next())
        .unwrap();
    let json = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, value).unwrap(),
    )
    .unwrap();
    assert_eq!(json, r#"{"user":"alice","_session":true}"#);

    let events = RecordingEvents::new();
    let rust = world.rust(&["k1"], &events).await;
    world.node("/login?user=alice", None).await;
    world.browser.get(&rust.url("/set?k=color&v=blue")).await;
    world.node("/set?k=size&v=large", None).await;
    world.advance(3 * MAX_AGE);
    let expected = whoami(Some("alice"), json!({"color": "blue", "size": "large"}));
    assert_eq!(world.node_whoami(None).await, expected);
    assert_eq!(world.browser.whoami(&rust.url("/whoami")).await, expected);
}

/// The `Set-Cookie` lines of a sign-in as alice from scratch (no cookie jar) at the same
/// instant: the Node app's, then a sessile app's on the world's settings.
async fn login_set_cookies(world: &World) -> Vec<Vec<String>> {
    let rust = world.rust(&["k1"], &RecordingEvents::new()).await;
    let now = world.clock.now().as_millis().to_string();
    // No cookie jar: each side signs a visitor in from scratch at the same instant.
    let client = reqwest::Client::new();
    let mut set_cookies = Vec::new();
    for (url, headers) in [
        (
            world.node.url("/login?user=alice"),
            vec![("x-test-now", now.as_str())],
        ),
        (rust.url("/login?user=alice"), vec![]),
    ] {
        let mut request = client.get(&url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let lines: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        set_cookies.push(lines);
    }
    set_cookies
}

#[tokio::test]
async fn rust_honours_a_rotation_of_its_own_keys() {
    // Node still signs with the old key; Rust has rotated to [new, old].
    let world = World::start(&["old"]);
    let events = RecordingEvents::new();
    let rotated = world.rust(&["new", "old"], &events).await;
    let new_only = world.rust(&["new"], &events).await;
    let old_only = world.rust(&["old"], &events).await;

    world.node("/login?user=carol", None).await;
    // Accepted under the older key and written again under the first one.
    assert_eq!(
        world.browser.whoami(&rotated.url("/whoami")).await,
        whoami(Some("carol"), json!({}))
    );
    assert_eq!(
        world.browser.whoami(&new_only.url("/whoami")).await,
        whoami(Some("carol"), json!({}))
    );
    // Node, once rotated the same way, reads what Rust re-signed.
    assert_eq!(
        world.node_whoami(Some(&["new", "old"])).await,
        whoami(Some("carol"), json!({}))
    );
    // The old key alone no longer opens it: refused, and cleared.
    assert_eq!(
        world.browser.whoami(&old_only.url("/whoami")).await,
        whoami(None, json!({}))
    );
    assert_eq!(
        events.count(|e| *e
            == Event::Rejected {
                reason: RejectReason::Unsealable,
                client_ip: None,
            }),
        1,
        "{:?}",
        events.events()
    );
    assert_eq!(world.node_whoami(Some(&["new", "old"])).await.user, None);
}

#[tokio::test]
async fn node_honours_a_rotation_of_its_keys() {
    // Rust still signs with the old key; Node has rotated to [new, old].
    let world = World::start(&["new", "old"]);
    let events = RecordingEvents::new();
    let old_only = world.rust(&["old"], &events).await;
    let new_only = world.rust(&["new"], &events).await;

    world.browser.get(&old_only.url("/login?user=dave")).await;
    // Node accepts the old signature and re-signs `koa.sess.sig` under the new key.
    assert_eq!(
        world.node_whoami(None).await,
        whoami(Some("dave"), json!({}))
    );
    assert_eq!(
        world.browser.whoami(&new_only.url("/whoami")).await,
        whoami(Some("dave"), json!({}))
    );
    // A Rust app rotated the same way keeps writing it, and Node keeps reading it.
    let rotated = world.rust(&["new", "old"], &events).await;
    world.browser.get(&rotated.url("/set?k=lang&v=fr")).await;
    assert_eq!(
        world.node_whoami(None).await,
        whoami(Some("dave"), json!({"lang": "fr"}))
    );
}

#[tokio::test]
async fn a_session_node_wrote_expires_on_both_sides() {
    let world = World::start(&["k1"]);
    let events = RecordingEvents::new();
    let rust = world.rust(&["k1"], &events).await;

    world.node("/login?user=erin", None).await;
    world.advance(Duration::from_secs(60));
    assert_eq!(
        world.browser.whoami(&rust.url("/whoami")).await.user,
        Some("erin".into())
    );
    // koa-session's `_expire < now`: alive at the very millisecond, gone one later.
    world.advance(MAX_AGE - Duration::from_secs(60));
    assert_eq!(world.node_whoami(None).await.user, Some("erin".into()));
    world.advance(Duration::from_millis(1));
    assert_eq!(world.node_whoami(None).await, whoami(None, json!({})));
    assert_eq!(
        world.browser.whoami(&rust.url("/whoami")).await,
        whoami(None, json!({}))
    );
    assert_eq!(
        events.count(|e| matches!(e, Event::Expired { .. })),
        1,
        "{:?}",
        events.events()
    );
}

#[tokio::test]
async fn a_session_rust_wrote_expires_on_both_sides() {
    let world = World::start(&["k1"]);
    let events = RecordingEvents::new();
    let rust = world.rust(&["k1"], &events).await;

    world.browser.get(&rust.url("/login?user=frank")).await;
    world.advance(MAX_AGE);
    assert_eq!(world.node_whoami(None).await.user, Some("frank".into()));
    world.advance(Duration::from_millis(1));
    assert_eq!(world.node_whoami(None).await, whoami(None, json!({})));
    assert_eq!(
        world.browser.whoami(&rust.url("/whoami")).await,
        whoami(None, json!({}))
    );
    assert_eq!(
        events.count(|e| matches!(e, Event::Expired { .. })),
        1,
        "{:?}",
        events.events()
    );
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
const DAY_MS: i64 = 86_400_000;
const THIRTY_DAYS_MS: i64 = 30 * DAY_MS;

/// A session given its own 30-day maxAge on Node (the app's is one day) keeps it through a Rust
/// read, a Rust write and a Rust touch eight days later (`_maxAge` and `_expire` in the cookie),
/// and on Node's next write; a session Rust creates lives the app's one day, not 12 hours.
#[tokio::test]
async fn each_sessions_own_max_age_survives_rust_and_one_day_is_not_cut_at_12_hours() {
    let world = World::start_with(&["k1"], &DAY_MS.to_string());
    let rust = world.rust_node_profile(&["k1"], DAY).await;
    let at = |clock: &ManualClock| clock.now().as_millis();

    world
        .node(
            &format!("/login?user=alice&remember={THIRTY_DAYS_MS}"),
            None,
        )
        .await;
    assert_eq!(
        world.node_lifetime().await,
        (
            Some(THIRTY_DAYS_MS),
            Some(at(&world.clock) + THIRTY_DAYS_MS)
        )
    );
    world.advance(HOUR);
    assert_eq!(
        world
            .browser
            .whoami(&rust.url("/whoami"))
            .await
            .user
            .as_deref(),
        Some("alice")
    );
    world.browser.get(&rust.url("/set?k=a&v=1")).await;
    assert_eq!(
        world.node_lifetime().await,
        (
            Some(THIRTY_DAYS_MS),
            Some(at(&world.clock) + THIRTY_DAYS_MS)
        ),
        "a Rust write keeps the session's 30 days"
    );
    world.advance(8 * DAY);
    assert_eq!(
        world.browser.whoami(&rust.url("/whoami")).await,
        whoami(Some("alice"), json!({"a": "1"}))
    );
    assert_eq!(
        world.node_lifetime().await,
        (
            Some(THIRTY_DAYS_MS),
            Some(at(&world.clock) + THIRTY_DAYS_MS)
        ),
        "a Rust touch eight days later moves the deadline by 30 days"
    );
    world.advance(HOUR);
    world.node("/set?k=b&v=2", None).await;
    assert_eq!(
        world.node_lifetime().await,
        (
            Some(THIRTY_DAYS_MS),
            Some(at(&world.clock) + THIRTY_DAYS_MS)
        ),
        "Node keeps the 30 days"
    );

    world.browser.get(&rust.url("/logout")).await;
    world.browser.get(&rust.url("/login?user=bob")).await;
    assert_eq!(
        world.node_lifetime().await,
        (Some(DAY_MS), Some(at(&world.clock) + DAY_MS)),
        "a session Rust creates lives one day"
    );
    world.advance(13 * HOUR);
    assert_eq!(
        world
            .browser
            .whoami(&rust.url("/whoami"))
            .await
            .user
            .as_deref(),
        Some("bob"),
        "alive after 13 hours"
    );
    assert_eq!(world.node_whoami(None).await.user.as_deref(), Some("bob"));
}

//! The walk every store takes: sign in through the manager, then list, count, revoke and clean
//! up with the binary, with requests running meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{COOKIE, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderValue};
use sessile::{
    Clock, Config, Keys, Record, SessionId, SessionManager, SignedIds, Store, StoreKey, SystemClock,
};

use crate::support::{sessile, Fixture};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// A browser: its cookie, and the store key of the session it carries.
struct Browser {
    cookie: String,
    key: StoreKey,
}

impl Browser {
    fn short(&self) -> String {
        self.key.to_hex()[..12].to_owned()
    }
}

fn headers(cookie: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(USER_AGENT, HeaderValue::from_static(FIREFOX));
    if let Some(cookie) = cookie {
        headers.insert(
            COOKIE,
            HeaderValue::from_str(cookie).expect("a cookie header"),
        );
    }
    headers
}

/// A request that signs `user` in (or, without a user, only stores a value).
async fn sign_in(manager: &SessionManager, user: Option<&str>) -> Browser {
    let session = manager.start(&headers(None), None);
    session.insert("theme", "dark").expect("insert");
    session.set_user(user);
    let response = session.finish().await.expect("commit the new session");
    let mut response_headers = HeaderMap::new();
    response.apply_to(&mut response_headers);
    let set_cookie = response_headers
        .get(SET_COOKIE)
        .expect("a new session sets its cookie")
        .to_str()
        .expect("ASCII");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    // The cookie's value is `<id>.<signature>`; the test reads the id only to know the key.
    let (_, value) = cookie.split_once('=').expect("name=value");
    let (id, _) = value.split_once('.').expect("a signed id");
    let key = SessionId::decode(id).expect("an id").store_key();
    Browser { cookie, key }
}

/// The user the browser's cookie is signed in as now, through a request.
async fn user_of(manager: &SessionManager, browser: &Browser) -> Option<String> {
    let session = manager.start(&headers(Some(&browser.cookie)), None);
    let user = session.user().await.expect("read the session");
    session.finish().await.expect("finish");
    user
}

/// A record whose deadlines passed an hour ago.
async fn expired(store: &Arc<dyn Store>, user: Option<&str>) -> StoreKey {
    let now = SystemClock.now();
    let created = now - Duration::from_secs(3 * 3600);
    let mut record = Record::new(
        created,
        now - Duration::from_secs(3600),
        now - Duration::from_secs(3600),
    );
    record.user = user.map(str::to_owned);
    let key = SessionId::generate().store_key();
    store.create(&key, &record).await.expect("create");
    key
}

pub async fn walk(fixture: Fixture) {
    let migrated = sessile(&fixture.args, &["migrate"]);
    assert_eq!(migrated.code, 0, "migrate: {}", migrated.stderr);
    let store = fixture.store().await;
    let manager = SessionManager::new(
        Arc::clone(&store),
        SignedIds::new(Keys::generate()),
        Config::default(),
    );

    let alice: Vec<Browser> = [
        sign_in(&manager, Some("alice")).await,
        sign_in(&manager, Some("alice")).await,
        sign_in(&manager, Some("alice")).await,
    ]
    .into();
    let bob = sign_in(&manager, Some("bob")).await;
    let anonymous = [sign_in(&manager, None).await, sign_in(&manager, None).await];
    let mut expired_keys = Vec::new();
    for user in [Some("dave"), Some("carol"), None, None] {
        expired_keys.push(expired(&store, user).await);
    }

    // sessions: alice's three live ones, by their short keys, oldest first.
    let listed = sessile(&fixture.args, &["--json", "sessions", "alice"]);
    assert_eq!(listed.code, 0, "sessions: {}", listed.stderr);
    let keys: Vec<&str> = listed.json["sessions"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|session| session["key"].as_str().expect("a key"))
        .collect();
    let mut expected: Vec<String> = alice.iter().map(Browser::short).collect();
    let mut sorted = keys.iter().map(|key| key.to_string()).collect::<Vec<_>>();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "alice's live sessions");
    // One page at a time: --limit 2 then the printed cursor give the same three, once each.
    let first = sessile(
        &fixture.args,
        &["--json", "sessions", "alice", "--limit", "2"],
    );
    assert_eq!(first.code, 0, "sessions --limit: {}", first.stderr);
    let cursor = first.json["next"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    let rest = sessile(
        &fixture.args,
        &[
            "--json", "sessions", "alice", "--limit", "2", "--cursor", &cursor,
        ],
    );
    assert_eq!(rest.code, 0, "sessions --cursor: {}", rest.stderr);
    assert_eq!(rest.json["next"], serde_json::Value::Null, "the last page");
    let paged: Vec<&str> = [&first, &rest]
        .iter()
        .flat_map(|page| page.json["sessions"].as_array().expect("a list"))
        .map(|session| session["key"].as_str().expect("a key"))
        .collect();
    assert_eq!(
        paged, keys,
        "pages join into the whole listing, in its order"
    );
    let text_page = sessile(&fixture.args, &["sessions", "alice", "--limit", "2"]);
    assert!(
        text_page
            .stdout
            .contains(&format!("more: --cursor {cursor}")),
        "{}",
        text_page.stdout
    );
    let dave = sessile(&fixture.args, &["--json", "sessions", "dave"]);
    assert_eq!(
        dave.json["sessions"],
        serde_json::json!([]),
        "never an expired session"
    );
    assert_eq!(listed.json["sessions"][0]["device"], "Firefox on Linux");
    let text = sessile(&fixture.args, &["sessions", "bob"]);
    assert!(text.stdout.starts_with("KEY "), "{}", text.stdout);
    assert!(text.stdout.contains(&bob.short()), "{}", text.stdout);
    assert!(!text.stdout.contains(&bob.cookie), "never an id");

    // stats: what was created.
    let stats = sessile(&fixture.args, &["--json", "stats", "--top", "1"]);
    assert_eq!(stats.code, 0, "stats: {}", stats.stderr);
    assert_eq!(stats.json["live"], 6, "{}", stats.json);
    assert_eq!(stats.json["anonymous"], 2);
    assert_eq!(stats.json["users"], 2);
    assert_eq!(
        stats.json["top_users"],
        serde_json::json!([{ "user": "alice", "sessions": 3 }])
    );
    assert_eq!(
        stats.json["age"][0]["sessions"], 6,
        "all created under a minute ago"
    );
    assert_eq!(stats.json["idle"][0]["sessions"], 6);
    let expired_seen = if fixture.expires_by_itself() { 0 } else { 4 };
    assert_eq!(stats.json["expired"], expired_seen);

    // revoke: the old cookie then loads nothing.
    assert_eq!(user_of(&manager, &alice[0]).await.as_deref(), Some("alice"));
    let revoked = sessile(&fixture.args, &["--json", "revoke", &alice[0].short()]);
    assert_eq!(revoked.code, 0, "revoke: {}", revoked.stderr);
    assert_eq!(revoked.json["user"], "alice");
    assert_eq!(user_of(&manager, &alice[0]).await, None);
    let again = sessile(&fixture.args, &["revoke", &alice[0].short()]);
    assert_eq!(
        again.code, 3,
        "a revoked session is not found: {}",
        again.stderr
    );

    // revoke-user --except: the kept session stays signed in, the other one is gone.
    let everywhere = sessile(
        &fixture.args,
        &[
            "--json",
            "revoke-user",
            "alice",
            "--except",
            &alice[1].short(),
        ],
    );
    assert_eq!(everywhere.code, 0, "revoke-user: {}", everywhere.stderr);
    assert_eq!(everywhere.json["revoked"], 1, "{}", everywhere.json);
    assert_eq!(everywhere.json["kept"], alice[1].short());
    assert_eq!(user_of(&manager, &alice[1]).await.as_deref(), Some("alice"));
    assert_eq!(user_of(&manager, &alice[2]).await, None);

    // gc with live traffic: exactly the expired sessions go.
    let dry = sessile(&fixture.args, &["--json", "gc", "--dry-run"]);
    assert_eq!(dry.code, 0, "gc --dry-run: {}", dry.stderr);
    assert_eq!(dry.json["expired"], expired_seen);
    let running = Arc::new(AtomicBool::new(true));
    let requests = Arc::new(AtomicU64::new(0));
    let traffic = {
        let (manager, running, requests) = (manager.clone(), running.clone(), requests.clone());
        let cookies: Vec<String> = [&bob, &anonymous[0], &anonymous[1], &alice[1]]
            .iter()
            .map(|browser| browser.cookie.clone())
            .collect();
        tokio::spawn(async move {
            while running.load(Ordering::SeqCst) || requests.load(Ordering::SeqCst) == 0 {
                for cookie in &cookies {
                    let session = manager.start(&headers(Some(cookie)), None);
                    session
                        .increment("visits", 1)
                        .await
                        .expect("a live session counts");
                    session.finish().await.expect("finish");
                    requests.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    let args = fixture.args.clone();
    let gc = tokio::task::spawn_blocking(move || sessile(&args, &["--json", "gc", "--batch", "1"]))
        .await
        .expect("gc ran");
    running.store(false, Ordering::SeqCst);
    traffic.await.expect("the requests during gc all succeeded");
    assert_eq!(gc.code, 0, "gc: {}", gc.stderr);
    assert_eq!(
        gc.json["deleted"], 4,
        "the four expired sessions: {}",
        gc.json
    );
    assert!(requests.load(Ordering::SeqCst) > 0);
    for key in &expired_keys {
        assert!(
            !store.delete(key).await.expect("delete"),
            "an expired session survived gc"
        );
    }
    for browser in [&bob, &anonymous[0], &anonymous[1], &alice[1]] {
        let session = manager.start(&headers(Some(&browser.cookie)), None);
        assert!(
            session
                .get::<i64>("visits")
                .await
                .expect("read")
                .is_some_and(|n| n > 0),
            "a live session lost its data to gc"
        );
        session.finish().await.expect("finish");
    }
    let after = sessile(&fixture.args, &["--json", "stats"]);
    assert_eq!(after.json["live"], 4);
    assert_eq!(after.json["expired"], 0);
    fixture.drop_table().await;
}

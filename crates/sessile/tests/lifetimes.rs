//! A session's own lifetime and the bounds of anonymous sessions, through `SessionManager`:
//! "remember me" gives a session its own idle timeout and lifetime, which blind writes honour;
//! anonymous sessions get the shorter anonymous idle timeout until a sign-in; a bounded memory
//! store evicts anonymous sessions first. Time comes from a `ManualClock`; nothing sleeps.

use std::sync::Arc;
use std::time::Duration;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use sessile::limit::LimitPolicy;
use sessile::{
    Config, Keys, ManualClock, MemoryStore, Record, ResponseHeaders, SealedCookies, Session,
    SessionManager, SignedIds, Store, StoreError, StoreKey, Timestamp,
};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

struct Harness {
    store: Arc<MemoryStore>,
    clock: ManualClock,
    manager: SessionManager,
}

impl Harness {
    fn new(store: MemoryStore) -> Self {
        let store = Arc::new(store);
        let clock = ManualClock::new(START);
        let config = Config::builder().clock(clock.clone()).build().unwrap();
        let ids = SignedIds::new(Keys::generate());
        let manager = SessionManager::new(Arc::clone(&store), ids, config);
        Self {
            store,
            clock,
            manager,
        }
    }

    fn start(&self, cookie: Option<&str>) -> Session {
        self.manager.start(&request(cookie), None)
    }

    async fn record(&self, key: &StoreKey) -> Option<Record> {
        self.store.load(key, self.clock.now()).await.unwrap()
    }
}

trait Now {
    fn now(&self) -> Timestamp;
}

impl Now for ManualClock {
    fn now(&self) -> Timestamp {
        sessile::Clock::now(self)
    }
}

fn request(cookie: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(cookie) = cookie {
        headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    }
    headers
}

/// The `name=value` of the response's `Set-Cookie`, if it sets one.
fn cookie_of(response: &ResponseHeaders) -> Option<String> {
    response
        .headers
        .iter()
        .find(|(name, _)| *name == SET_COOKIE)
        .map(|(_, value)| {
            let text = value.to_str().unwrap();
            text.split(';').next().unwrap().to_owned()
        })
}

#[tokio::test]
async fn anonymous_sessions_get_the_shorter_idle_timeout_until_sign_in() {
    let h = Harness::new(MemoryStore::new());
    let session = h.start(None);
    session.insert("cart", 1).unwrap();
    let cookie = cookie_of(&session.finish().await.unwrap()).unwrap();
    let key = h.store.scan(None, 1).await.unwrap().sessions[0]
        .summary
        .key
        .clone();
    let anonymous = h.record(&key).await.unwrap();
    assert_eq!(
        anonymous.idle_timeout,
        Some(sessile::config::DEFAULT_ANONYMOUS_IDLE_TIMEOUT)
    );
    assert_eq!(anonymous.idle_deadline, START + 15 * MINUTE);

    // A blind increment of the anonymous session keeps to its own timeout.
    h.clock.advance(10 * MINUTE);
    let session = h.start(Some(&cookie));
    assert_eq!(session.increment("visits", 1).await.unwrap(), 1);
    session.finish().await.unwrap();
    let touched = h.record(&key).await.unwrap();
    assert_eq!(touched.idle_deadline, START + 25 * MINUTE);

    // Signing in returns the session to the manager's 30 minutes (under a new id).
    h.clock.advance(MINUTE);
    let session = h.start(Some(&cookie));
    session.set_user(Some("ada"));
    let cookie = cookie_of(&session.finish().await.unwrap()).unwrap();
    let key = h.store.scan(None, 1).await.unwrap().sessions[0]
        .summary
        .key
        .clone();
    let signed_in = h.record(&key).await.unwrap();
    assert_eq!(signed_in.user.as_deref(), Some("ada"));
    assert_eq!(signed_in.idle_timeout, None);
    assert_eq!(signed_in.idle_deadline, START + 41 * MINUTE);

    // And 20 quiet minutes no longer end it.
    h.clock.advance(20 * MINUTE);
    let session = h.start(Some(&cookie));
    assert_eq!(session.user().await.unwrap().as_deref(), Some("ada"));
}

#[tokio::test]
async fn remember_me_gives_the_session_its_own_idle_timeout_and_lifetime() {
    let h = Harness::new(MemoryStore::new());
    let session = h.start(None);
    session.set_user(Some("ada"));
    session.set_persistent(true);
    session.set_idle_timeout(Some(7 * DAY));
    session.set_lifetime(30 * DAY);
    let response = session.finish().await.unwrap();
    let set_cookie = response
        .headers
        .iter()
        .find(|(name, _)| *name == SET_COOKIE)
        .unwrap()
        .1
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains(&format!("Max-Age={}", (30 * DAY).as_secs())),
        "the persistent cookie follows the session's own lifetime: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let key = h.store.scan(None, 1).await.unwrap().sessions[0]
        .summary
        .key
        .clone();
    let record = h.record(&key).await.unwrap();
    assert_eq!(record.idle_timeout, Some(7 * DAY));
    assert_eq!(record.idle_deadline, START + 7 * DAY);
    assert_eq!(record.absolute_deadline, START + 30 * DAY);

    // Six quiet days later (far past the manager's 30 minutes and 12 hours) it is there, and
    // a blind increment moves its idle deadline by its own seven days.
    h.clock.advance(6 * DAY);
    let session = h.start(Some(&cookie));
    assert_eq!(session.increment("visits", 1).await.unwrap(), 1);
    session.finish().await.unwrap();
    let record = h.record(&key).await.unwrap();
    assert_eq!(record.idle_deadline, START + 13 * DAY);

    // Its lifetime still ends it, however active.
    for _ in 0..4 {
        h.clock.advance(6 * DAY);
        let session = h.start(Some(&cookie));
        session.touch();
        session.finish().await.unwrap();
    }
    h.clock.advance(6 * DAY);
    let session = h.start(Some(&cookie));
    assert_eq!(session.user().await.unwrap(), None, "30 days are over");
}

#[tokio::test]
async fn a_sealed_cookie_keeps_its_own_idle_timeout() {
    let clock = ManualClock::new(START);
    let config = Config::builder().clock(clock.clone()).build().unwrap();
    let manager = SessionManager::client_side(SealedCookies::new(Keys::generate()), config);
    let session = manager.start(&HeaderMap::new(), None);
    session.set_user(Some("ada"));
    session.set_idle_timeout(Some(DAY));
    let cookie = cookie_of(&session.finish().await.unwrap()).unwrap();
    clock.advance(10 * 60 * MINUTE);
    let session = manager.start(&request(Some(&cookie)), None);
    assert_eq!(
        session.user().await.unwrap().as_deref(),
        Some("ada"),
        "10 quiet hours are inside the cookie's own day (and its 12-hour lifetime)"
    );
}

/// 10,000 anonymous writes into a memory store bounded at 1,000 sessions evict none of the
/// 50 signed-in users (the flood evicted all 50 with 100 creates).
#[tokio::test]
async fn an_anonymous_flood_evicts_no_signed_in_session() {
    let h = Harness::new(MemoryStore::new().with_capacity(1_000));
    let mut users = Vec::new();
    for n in 0..50 {
        let session = h.start(None);
        session.set_user(Some(&format!("user-{n}")));
        users.push(cookie_of(&session.finish().await.unwrap()).unwrap());
    }
    // The anonymous sessions come later, so they expire after every signed-in one: the old
    // rule (the session closest to expiry goes first) would evict the users.
    h.clock.advance(MINUTE);
    for _ in 0..10_000 {
        let session = h.start(None);
        session.increment("count", 1).await.unwrap();
        session.finish().await.unwrap();
    }
    assert_eq!(h.store.len(), 1_000);
    for (n, cookie) in users.iter().enumerate() {
        let session = h.start(Some(cookie));
        assert_eq!(
            session.user().await.unwrap(),
            Some(format!("user-{n}")),
            "user-{n} must still be signed in"
        );
    }
}

#[tokio::test]
async fn a_commit_over_the_size_limit_writes_nothing() {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(START);
    let config = Config::builder()
        .clock(clock.clone())
        .max_session_bytes(Some(1_000))
        .build()
        .unwrap();
    let manager = SessionManager::new(Arc::clone(&store), SignedIds::new(Keys::generate()), config);
    // A new session over the bound: no record, no cookie.
    let session = manager.start(&HeaderMap::new(), None);
    session.insert("note", "x".repeat(2_000)).unwrap();
    let error = session.finish().await.unwrap_err();
    assert!(
        matches!(
            error,
            sessile::SessionError::SessionTooLarge { limit: 1_000, .. }
        ),
        "{error:?}"
    );
    assert_eq!(error.response().0, http::StatusCode::PAYLOAD_TOO_LARGE);
    assert!(store.is_empty());

    // An existing session that a read-then-write would take over it keeps what it had.
    let session = manager.start(&HeaderMap::new(), None);
    session.insert("note", "x".repeat(600)).unwrap();
    let cookie = cookie_of(&session.finish().await.unwrap()).unwrap();
    let session = manager.start(&request(Some(&cookie)), None);
    session.get::<String>("note").await.unwrap();
    session.insert("more", "y".repeat(600)).unwrap();
    assert!(matches!(
        session.finish().await,
        Err(sessile::SessionError::SessionTooLarge { .. })
    ));
    // A blind write is measured by what it writes: over the bound alone, refused.
    let session = manager.start(&request(Some(&cookie)), None);
    session.insert("blind", "z".repeat(1_200)).unwrap();
    assert!(matches!(
        session.finish().await,
        Err(sessile::SessionError::SessionTooLarge { .. })
    ));
    let session = manager.start(&request(Some(&cookie)), None);
    let data = session.data().await.unwrap();
    assert_eq!(
        data.len(),
        1,
        "only the first note was ever written: {data:?}"
    );
}

#[tokio::test]
async fn a_per_user_limit_on_cookie_sessions_refuses_the_sign_in_it_cannot_count() {
    let config = Config::builder()
        .max_sessions_per_user(3, LimitPolicy::EvictLeastRecentlyUsed)
        .build()
        .unwrap();
    let manager = SessionManager::client_side(SealedCookies::new(Keys::generate()), config);
    // Anonymous cookie sessions are unaffected.
    let session = manager.start(&HeaderMap::new(), None);
    session.insert("theme", "dark").unwrap();
    let cookie = cookie_of(&session.finish().await.unwrap()).unwrap();
    // A sign-in, on a new cookie session or an existing one, cannot be counted: refused
    // with Unsupported (500), never let through past the limit.
    for presented in [None, Some(cookie.as_str())] {
        let session = manager.start(&request(presented), None);
        session.set_user(Some("ada"));
        let error = session.finish().await.unwrap_err();
        assert!(
            matches!(
                error,
                sessile::SessionError::Store(StoreError::Unsupported(reason))
                    if reason == sessile::store::PER_USER_LIMIT
            ),
            "{error:?}"
        );
        assert_eq!(error.response().0, http::StatusCode::INTERNAL_SERVER_ERROR);
    }
}

#[tokio::test]
async fn a_refused_sign_in_answers_403_and_leaves_the_session_as_it_was() {
    let store = Arc::new(MemoryStore::new());
    let config = Config::builder()
        .max_sessions_per_user(1, LimitPolicy::Refuse)
        .build()
        .unwrap();
    let manager = SessionManager::new(Arc::clone(&store), SignedIds::new(Keys::generate()), config);
    let session = manager.start(&HeaderMap::new(), None);
    session.set_user(Some("ada"));
    session.finish().await.unwrap();

    // A visitor with an anonymous session signs in as the same user: refused, and the
    // anonymous session keeps its data, nobody signed in on it.
    let session = manager.start(&HeaderMap::new(), None);
    session.insert("cart", 3).unwrap();
    let cookie = cookie_of(&session.finish().await.unwrap()).unwrap();
    let session = manager.start(&request(Some(&cookie)), None);
    session.set_user(Some("ada"));
    let error = session.finish().await.unwrap_err();
    assert!(
        matches!(error, sessile::SessionError::TooManySessions),
        "{error:?}"
    );
    assert_eq!(error.response().0, http::StatusCode::FORBIDDEN);
    let session = manager.start(&request(Some(&cookie)), None);
    assert_eq!(session.user().await.unwrap(), None);
    assert_eq!(session.get::<i64>("cart").await.unwrap(), Some(3));
    assert_eq!(store.len(), 2);
}

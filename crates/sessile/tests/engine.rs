//! Engine behaviour through `SessionManager` and `Session`: store calls per request, hostile
//! input, key rotation, expiry, the logout race, the cookie store, the header transport and the
//! store timeout. Time comes from a `ManualClock`; nothing sleeps.

use std::time::Duration;

use cookie::Cookie;
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use sessile::testkit::{CountingStore, HangingStore, RecordingEvents};
use sessile::{
    ChangeSet, CreateOutcome, IncrementOutcome, RotateOutcome, StoreError, StoreKey, Touch,
    UpdateOutcome,
};
use sessile::{
    Clock, CommitOutcome, Config, ConfigBuilder, CookieConfig, Event, EventSink, Key, Keys,
    ManualClock, MemoryStore, Record, RejectReason, ResponseHeaders, SealedCookies, Session,
    SessionError, SessionId, SessionManager, SignedIds, Store, Timestamp,
};

const MINUTE: Duration = Duration::from_secs(60);
const COOKIE_NAME: &str = "__Host-id";
const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// A manager over a counting memory store, with a manual clock and recorded events.
struct Harness {
    store: CountingStore<MemoryStore>,
    clock: ManualClock,
    events: RecordingEvents,
    /// The keys the manager's ids are signed with.
    keys: Keys,
    manager: SessionManager,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(Keys::generate(), |config| config)
    }

    fn with_config(keys: Keys, tweak: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        Self::with_codec(keys, |ids| ids, tweak)
    }

    fn with_codec(
        keys: Keys,
        codec: impl FnOnce(SignedIds) -> SignedIds,
        tweak: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> Self {
        let store = CountingStore::new(MemoryStore::new());
        let clock = ManualClock::new(START);
        let events = RecordingEvents::new();
        // The anonymous idle timeout is the signed-in one here, so the cases about the idle
        // timeout hold for every session; `lifetimes.rs` covers the shorter anonymous one.
        let config = tweak(
            Config::builder()
                .clock(clock.clone())
                .events(events.clone())
                .anonymous_idle_timeout(sessile::config::DEFAULT_IDLE_TIMEOUT),
        )
        .build()
        .unwrap();
        let ids = codec(SignedIds::new(keys.clone()));
        let manager = SessionManager::new(store.clone(), ids, config);
        Self {
            store,
            clock,
            events,
            keys,
            manager,
        }
    }

    /// Another manager on the same store, clock and events, with other keys.
    fn manager_with_keys(&self, keys: Keys) -> SessionManager {
        let config = Config::builder()
            .clock(self.clock.clone())
            .events(self.events.clone())
            .build()
            .unwrap();
        SessionManager::new(self.store.clone(), SignedIds::new(keys), config)
    }

    /// Creates a session holding `name = "ada"` and returns its cookie value; counts and events
    /// start from zero afterwards.
    async fn existing_session(&self) -> String {
        let session = self.manager.start(&HeaderMap::new(), None);
        session.insert("name", "ada").unwrap();
        let value = issued_value(&session.finish().await.unwrap());
        self.store.reset();
        self.events.clear();
        value
    }
}

fn cookie_request(value: &str) -> HeaderMap {
    raw_cookie_request(&format!("{COOKIE_NAME}={value}"))
}

fn raw_cookie_request(line: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(line).unwrap());
    headers
}

/// The single `Set-Cookie` of a response, parsed.
fn set_cookie(response: &ResponseHeaders) -> Cookie<'static> {
    let values: Vec<&HeaderValue> = response
        .headers
        .iter()
        .filter(|(name, _)| name == SET_COOKIE)
        .map(|(_, value)| value)
        .collect();
    assert_eq!(values.len(), 1, "expected one Set-Cookie in {response:?}");
    Cookie::parse(values[0].to_str().unwrap().to_owned()).unwrap()
}

/// The cookie value a response hands out (not a removal).
fn issued_value(response: &ResponseHeaders) -> String {
    let cookie = set_cookie(response);
    assert!(
        !is_removal(&cookie),
        "expected a session cookie, got a removal"
    );
    cookie.value().to_owned()
}

fn is_removal(cookie: &Cookie<'_>) -> bool {
    cookie.value().is_empty() && cookie.max_age() == Some(cookie::time::Duration::ZERO)
}

fn assert_removal(response: &ResponseHeaders) {
    let cookie = set_cookie(response);
    assert!(
        is_removal(&cookie),
        "expected a removal cookie, got {cookie}"
    );
}

fn signed(keys: &Keys, name: &str, id: &SessionId) -> String {
    let encoded = id.encode();
    format!("{encoded}.{}", keys.sign(name, &encoded))
}

// ---------------------------------------------------------------------------------------------
// Store calls per request

#[tokio::test]
async fn an_untouched_session_costs_no_store_call() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&value), None);
    let response = session.finish().await.unwrap();
    assert!(response.is_empty());
    assert_eq!(h.store.counts().total(), 0);
}

#[tokio::test]
async fn an_untouched_session_never_looks_at_its_cookie() {
    let h = Harness::new();
    // A forged value: were it checked, the check would emit a `Rejected` event.
    let forged = format!("{}.{}", "A".repeat(43), "B".repeat(43));
    let session = h.manager.start(&cookie_request(&forged), None);
    let response = session.finish().await.unwrap();
    assert!(response.is_empty());
    assert!(h.events.events().is_empty(), "{:?}", h.events.events());

    // The same forged value, used: checked, rejected, and still no store call.
    let session = h.manager.start(&cookie_request(&forged), None);
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
    assert_eq!(
        h.events
            .count(|event| matches!(event, sessile::Event::Rejected { .. })),
        1
    );
    assert_eq!(h.store.counts().total(), 0);
}

#[tokio::test]
async fn a_read_inside_the_throttle_window_costs_one_load() {
    let h = Harness::new();
    let value = h.existing_session().await;
    h.clock.advance(5 * MINUTE);
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    assert_eq!(session.get::<String>("other").await.unwrap(), None);
    assert!(session.finish().await.unwrap().is_empty());
    let counts = h.store.counts();
    assert_eq!((counts.load, counts.writes()), (1, 0), "{counts:?}");
}

#[tokio::test]
async fn a_read_after_the_throttle_window_touches_once() {
    let h = Harness::new();
    let value = h.existing_session().await;
    // The default throttle is a quarter of the 30-minute idle timeout.
    h.clock.advance(8 * MINUTE);
    let session = h.manager.start(&cookie_request(&value), None);
    let key = session.current_key().unwrap();
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    let response = session.finish().await.unwrap();
    assert!(
        response.is_empty(),
        "a touch of a browser-session cookie sends no cookie"
    );
    let counts = h.store.counts();
    assert_eq!(
        (counts.load, counts.update, counts.total()),
        (1, 1, 2),
        "{counts:?}"
    );
    let record = h
        .store
        .inner()
        .load(&key, h.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.last_seen, h.clock.now());
    assert_eq!(record.idle_deadline, h.clock.now() + 30 * MINUTE);
}

#[tokio::test]
async fn a_write_after_a_read_costs_one_load_and_one_update() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    session.insert("theme", "dark").unwrap();
    assert!(session.finish().await.unwrap().is_empty());
    let counts = h.store.counts();
    assert_eq!(
        (counts.load, counts.update, counts.total()),
        (1, 1, 2),
        "{counts:?}"
    );

    let next = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        next.get::<String>("theme").await.unwrap().as_deref(),
        Some("dark")
    );
    assert_eq!(
        next.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
}

#[tokio::test]
async fn document_operations_commit_blind_in_one_update_and_refuse_as_a_whole() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&value), None);
    session.push("cart.items", "apple").unwrap();
    session.increment_in_commit("visits", 2).unwrap();
    session.rename("name", "first_name").unwrap();
    session.commit().await.unwrap();
    let counts = h.store.counts();
    assert_eq!((counts.update, counts.total()), (1, 1), "{counts:?}");
    let stored = session
        .stored_data()
        .await
        .unwrap()
        .expect("a stored session");
    assert_eq!(stored["cart"], serde_json::json!({"items": ["apple"]}));
    assert_eq!(stored["visits"], 2);
    assert_eq!(stored["first_name"], "ada");
    assert!(!stored.contains_key("name"));

    // A push to a string refuses the commit: an error answered 500, nothing written.
    let refused = h.manager.start(&cookie_request(&value), None);
    refused.insert("theme", "dark").unwrap();
    refused.push("first_name", "x").unwrap();
    let error = refused.finish().await.expect_err("a push to a string");
    assert!(matches!(error, SessionError::Operation(_)), "{error:?}");
    assert_eq!(error.response().0, http::StatusCode::INTERNAL_SERVER_ERROR);
    let after = h.manager.start(&cookie_request(&value), None);
    let data = after.data().await.unwrap();
    assert_eq!(data, stored, "the refused commit wrote nothing");

    // Reads in the request see its operations; an immediate increment of a key they touch
    // joins them in order.
    let reading = h.manager.start(&cookie_request(&value), None);
    reading.pull("cart.items", "apple").unwrap();
    reading.push("cart.items", "pear").unwrap();
    reading.increment_in_commit("visits", 1).unwrap();
    assert_eq!(reading.increment("visits", 10).await.unwrap(), 13);
    let cart: serde_json::Value = reading.get("cart").await.unwrap().unwrap();
    assert_eq!(cart["items"], serde_json::json!(["pear"]));
    reading.finish().await.unwrap();
    let last = h.manager.start(&cookie_request(&value), None);
    assert_eq!(last.get::<i64>("visits").await.unwrap(), Some(13));
}

#[tokio::test]
async fn a_blind_write_costs_one_update() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&value), None);
    session.insert("theme", "dark").unwrap();
    session.finish().await.unwrap();
    let counts = h.store.counts();
    assert_eq!((counts.update, counts.total()), (1, 1), "{counts:?}");
}

#[tokio::test]
async fn an_increment_alone_costs_exactly_one_store_call() {
    let h = Harness::new();
    let value = h.existing_session().await;
    for expected in 1..=2 {
        h.clock.advance(10 * MINUTE);
        let session = h.manager.start(&cookie_request(&value), None);
        assert_eq!(session.increment("visits", 1).await.unwrap(), expected);
        assert!(session.finish().await.unwrap().is_empty());
    }
    let counts = h.store.counts();
    assert_eq!(
        (counts.increment, counts.total()),
        (2, 2),
        "one call per request, even when a touch is due: {counts:?}"
    );

    h.store.reset();
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    assert_eq!(session.increment("visits", 1).await.unwrap(), 3);
    assert_eq!(session.get::<i64>("visits").await.unwrap(), Some(3));
    session.finish().await.unwrap();
    let counts = h.store.counts();
    assert_eq!(
        (counts.load, counts.increment, counts.total()),
        (1, 1, 2),
        "the increment's touch makes a commit-time touch unnecessary: {counts:?}"
    );
}

#[tokio::test]
async fn a_new_session_with_data_costs_one_create_and_sets_a_safe_cookie() {
    let h = Harness::new();
    let session = h.manager.start(&HeaderMap::new(), None);
    session.insert("name", "ada").unwrap();
    assert_eq!(session.increment("visits", 1).await.unwrap(), 1);
    let response = session.finish().await.unwrap();
    let counts = h.store.counts();
    assert_eq!((counts.create, counts.total()), (1, 1), "{counts:?}");

    let cookie = set_cookie(&response);
    assert_eq!(cookie.name(), COOKIE_NAME);
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    assert_eq!(
        cookie.max_age(),
        None,
        "a browser-session cookie by default"
    );
    assert!(h.events.count(|e| matches!(e, Event::Created { .. })) == 1);

    let mut headers = HeaderMap::new();
    response.apply_to(&mut headers);
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(headers[VARY], "Cookie");
}

#[tokio::test]
async fn a_new_empty_session_costs_nothing_and_sends_nothing() {
    let h = Harness::new();
    let session = h.manager.start(&HeaderMap::new(), None);
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
    assert_eq!(session.user().await.unwrap(), None);
    let response = session.finish().await.unwrap();
    assert!(response.is_empty());
    assert_eq!(h.store.counts().total(), 0);
    let mut headers = HeaderMap::new();
    response.apply_to(&mut headers);
    assert!(
        headers.is_empty(),
        "no Cache-Control or Vary without a session header"
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile input: never a panic, never a store call

/// Reads the session the request presents and checks it behaves as a fresh one without asking
/// the store anything.
async fn assert_fresh_without_io(h: &Harness, manager: &SessionManager, headers: &HeaderMap) {
    h.store.reset();
    let session = manager.start(headers, None);
    assert!(session.current_key().is_none());
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
    assert_eq!(session.user().await.unwrap(), None);
    let response = session.finish().await.unwrap();
    // A cookie that did not verify is none of this server's business: it is not cleared (it
    // may be another app's, or planted to make the response delete something).
    assert!(
        response.is_empty(),
        "a refused id got {:?} for {headers:?}",
        response.headers
    );
    session_destroying_clears_nothing(manager, headers).await;
    assert_eq!(
        h.store.counts().total(),
        0,
        "the store was asked about {headers:?}"
    );
}

/// A logout on a request whose cookie is refused: nothing to delete, no cookie to clear.
async fn session_destroying_clears_nothing(manager: &SessionManager, headers: &HeaderMap) {
    let session = manager.start(headers, None);
    session.destroy();
    let response = session.finish().await.unwrap();
    assert!(
        response.is_empty(),
        "a logout with a refused id got {:?} for {headers:?}",
        response.headers
    );
}

#[tokio::test]
async fn malformed_cookies_become_fresh_sessions_without_io() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let (encoded, signature) = value.split_once('.').unwrap();
    let other_keys = Keys::generate();
    let never_issued = SessionId::generate();

    let mut invalid_utf8 = HeaderMap::new();
    invalid_utf8.insert(
        COOKIE,
        HeaderValue::from_bytes(b"__Host-id=\xc3\x28\xff\xfe.abc").unwrap(),
    );
    assert_fresh_without_io(&h, &h.manager, &invalid_utf8).await;

    let malformed = [
        String::new(),
        "x".repeat(10 * 1024),
        format!("{value}{}", "A".repeat(10 * 1024)),
        value[..value.len() - 1].to_owned(),
        encoded.to_owned(),
        format!("{encoded}."),
        format!("{signature}.{encoded}x"),
        format!("{encoded}.{signature}=="),
        format!("{}.{signature}", &encoded[1..]),
        value.replace('.', ":"),
        never_issued.encode(),
        format!("{}.", never_issued.encode()),
        "é".repeat(43),
    ];
    for bad in &malformed {
        assert_fresh_without_io(&h, &h.manager, &cookie_request(bad)).await;
    }
    assert_fresh_without_io(&h, &h.manager, &raw_cookie_request(COOKIE_NAME)).await;

    let mut flipped = signature.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let badly_signed = [
        format!("{encoded}.{}", String::from_utf8(flipped).unwrap()),
        signed(&other_keys, COOKIE_NAME, &never_issued),
        signed(
            &other_keys,
            COOKIE_NAME,
            &SessionId::decode(encoded).unwrap(),
        ),
        signed(&h.keys, "another-name", &never_issued),
    ];
    h.events.clear();
    for bad in &badly_signed {
        assert_fresh_without_io(&h, &h.manager, &cookie_request(bad)).await;
    }
    assert_eq!(
        h.events.count(|e| *e
            == Event::Rejected {
                reason: RejectReason::BadSignature,
                client_ip: None,
            }),
        // Each is presented twice: to a handler that reads, and to one that logs out.
        2 * badly_signed.len()
    );

    // The genuine cookie still works afterwards.
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
}

fn run_blocking(future: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future);
}

/// Bytes a `HeaderValue` accepts: visible ASCII, space, tab and obs-text.
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            0x20u8..0x7f,
            0x80u8..=0xff,
            Just(b'\t'),
            Just(b';'),
            Just(b'=')
        ],
        0..max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_cookie_headers_never_panic_or_reach_the_store(
        prefix in prop_oneof![Just(Vec::new()), Just(b"__Host-id=".to_vec()), Just(b"a=b; __Host-id=".to_vec())],
        bytes in header_bytes(300),
    ) {
        let line = [prefix, bytes].concat();
        let value = HeaderValue::from_bytes(&line).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, value);
        run_blocking(async {
            let h = Harness::new();
            assert_fresh_without_io(&h, &h.manager, &headers).await;
        });
    }

    #[test]
    fn id_shaped_values_with_forged_signatures_never_reach_the_store(
        id in "[A-Za-z0-9_-]{43}",
        signature in "[A-Za-z0-9_-]{43}",
    ) {
        run_blocking(async {
            let h = Harness::new();
            assert_fresh_without_io(&h, &h.manager, &cookie_request(&format!("{id}.{signature}"))).await;
        });
    }

    #[test]
    fn random_bytes_around_the_session_cookie_never_hide_it(
        before in header_bytes(120),
        after in header_bytes(120),
    ) {
        run_blocking(async {
            let h = Harness::new();
            let value = h.existing_session().await;
            // Whatever precedes ends at a `;`, as another cookie would.
            let line = [before, format!("; {COOKIE_NAME}={value}; ").into_bytes(), after].concat();
            let mut headers = HeaderMap::new();
            headers.insert(COOKIE, HeaderValue::from_bytes(&line).unwrap());
            let session = h.manager.start(&headers, None);
            assert_eq!(session.get::<String>("name").await.unwrap().as_deref(), Some("ada"));
        });
    }

    #[test]
    fn random_id_headers_never_panic_or_reach_the_store(bytes in header_bytes(200)) {
        let value = HeaderValue::from_bytes(&bytes).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("x-session"), value);
        run_blocking(async {
            let h = Harness::with_codec(
                Keys::generate(),
                |ids| ids.with_header(HeaderName::from_static("x-session")),
                |config| config,
            );
            assert_fresh_without_io(&h, &h.manager, &headers).await;
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Key rotation

#[tokio::test]
async fn a_cookie_signed_by_a_retired_key_is_accepted_and_reissued() {
    let (old, new) = (Key::generate(), Key::generate());
    let h = Harness::with_config(Keys::new(vec![old.clone()]).unwrap(), |config| config);
    let old_value = h.existing_session().await;
    let rotated = h.manager_with_keys(Keys::new(vec![new.clone(), old]).unwrap());
    let new_only = h.manager_with_keys(Keys::new(vec![new]).unwrap());

    let untouched = rotated.start(&cookie_request(&old_value), None);
    assert!(
        untouched.finish().await.unwrap().is_empty(),
        "an unread session is not re-issued: that would need a load"
    );

    let session = rotated.start(&cookie_request(&old_value), None);
    let key = session.current_key().unwrap();
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    let new_value = issued_value(&session.finish().await.unwrap());
    assert_ne!(new_value, old_value);
    assert_eq!(
        new_value.split_once('.').unwrap().0,
        old_value.split_once('.').unwrap().0,
        "re-issuing keeps the id and changes the signature"
    );
    let counts = h.store.counts();
    assert_eq!((counts.load, counts.writes()), (1, 0), "{counts:?}");

    let session = new_only.start(&cookie_request(&new_value), None);
    assert_eq!(session.current_key(), Some(key));
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    assert!(
        session.finish().await.unwrap().is_empty(),
        "signed by the current key already"
    );

    assert_fresh_without_io(&h, &new_only, &cookie_request(&old_value)).await;
}

// ---------------------------------------------------------------------------------------------
// Expiry through the engine

#[tokio::test]
async fn activity_extends_the_idle_deadline_and_inactivity_ends_the_session() {
    let h = Harness::new();
    let value = h.existing_session().await;
    for _ in 0..3 {
        h.clock.advance(29 * MINUTE);
        let session = h.manager.start(&cookie_request(&value), None);
        assert_eq!(
            session.get::<String>("name").await.unwrap().as_deref(),
            Some("ada"),
            "each read within the idle timeout keeps the session alive"
        );
        session.finish().await.unwrap();
    }
    assert_eq!(
        h.store.counts().update,
        3,
        "every read past the throttle touched"
    );

    h.clock.advance(30 * MINUTE);
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
    assert_removal(&session.finish().await.unwrap());
    assert_eq!(h.events.count(|e| matches!(e, Event::Expired { .. })), 1);
}

#[tokio::test]
async fn touches_never_extend_past_the_absolute_lifetime() {
    let h = Harness::with_config(Keys::generate(), |config| {
        config.absolute_lifetime(60 * MINUTE)
    });
    let value = h.existing_session().await;
    let key = h
        .manager
        .start(&cookie_request(&value), None)
        .current_key()
        .unwrap();
    for _ in 0..2 {
        h.clock.advance(20 * MINUTE);
        let session = h.manager.start(&cookie_request(&value), None);
        session.insert("step", 1).unwrap();
        session.finish().await.unwrap();
    }
    let record = h
        .store
        .inner()
        .load(&key, h.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.idle_deadline,
        START + 60 * MINUTE,
        "the touch is clamped"
    );
    assert_eq!(record.absolute_deadline, START + 60 * MINUTE);

    h.clock.advance(19 * MINUTE);
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    session.finish().await.unwrap();

    h.clock.advance(MINUTE);
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap(),
        None,
        "the absolute lifetime ends an active session"
    );
    session.insert("after", true).unwrap();
    let response = session.finish().await.unwrap();
    let fresh_value = issued_value(&response);
    let fresh = h.manager.start(&cookie_request(&fresh_value), None);
    assert_ne!(
        fresh.current_key(),
        Some(key),
        "writes after expiry start a new session"
    );
    assert_eq!(fresh.get::<String>("name").await.unwrap(), None);
    assert_eq!(fresh.get::<bool>("after").await.unwrap(), Some(true));
}

#[tokio::test]
async fn rotation_moves_the_session_and_keeps_its_creation_time() {
    let h = Harness::new();
    let old_value = h.existing_session().await;
    let old_key = h
        .manager
        .start(&cookie_request(&old_value), None)
        .current_key()
        .unwrap();
    h.clock.advance(10 * MINUTE);

    let session = h.manager.start(&cookie_request(&old_value), None);
    session.set_user(Some("ada"));
    session.rotate_id();
    let new_value = issued_value(&session.finish().await.unwrap());
    let counts = h.store.counts();
    assert_eq!(
        (counts.load, counts.rotate, counts.total()),
        (1, 1, 2),
        "{counts:?}"
    );

    let now = h.clock.now();
    assert!(h.store.inner().load(&old_key, now).await.unwrap().is_none());
    let session = h.manager.start(&cookie_request(&new_value), None);
    let new_key = session.current_key().unwrap();
    assert_ne!(new_key, old_key);
    let record = h.store.inner().load(&new_key, now).await.unwrap().unwrap();
    assert_eq!(record.created_at, START, "rotation keeps created_at");
    assert_eq!(record.absolute_deadline, START + 12 * 60 * MINUTE);
    assert_eq!(record.last_seen, now);
    assert_eq!(record.user.as_deref(), Some("ada"));
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );

    // Past the rotation grace (rotation_grace, below, for the window itself).
    h.clock.advance(Config::default().rotation_grace());
    let stale = h.manager.start(&cookie_request(&old_value), None);
    assert_eq!(
        stale.get::<String>("name").await.unwrap(),
        None,
        "the old id is dead"
    );
    assert_eq!(
        h.events.count(|e| matches!(e, Event::Rotated { .. })),
        1,
        "{:?}",
        h.events.events()
    );
}

// ---------------------------------------------------------------------------------------------
// The logout race

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_finishing_after_a_logout_never_resurrect_the_session() {
    const REQUESTS: usize = 50;
    let h = Harness::new();
    let value = h.existing_session().await;

    let mut in_flight = Vec::new();
    for _ in 0..REQUESTS {
        let session = h.manager.start(&cookie_request(&value), None);
        assert_eq!(
            session.get::<String>("name").await.unwrap().as_deref(),
            Some("ada")
        );
        in_flight.push(session);
    }
    let logout = h.manager.start(&cookie_request(&value), None);
    logout.destroy();
    assert_removal(&logout.finish().await.unwrap());
    assert!(h.store.inner().is_empty());

    let mut finishing = tokio::task::JoinSet::new();
    for (index, session) in in_flight.into_iter().enumerate() {
        finishing.spawn(async move {
            session.insert(&format!("late-{index}"), index).unwrap();
            session.finish().await
        });
    }
    while let Some(joined) = finishing.join_next().await {
        let response = joined.unwrap().unwrap();
        assert_removal(&response);
    }
    assert!(
        h.store.inner().is_empty(),
        "a late commit recreated the session"
    );
    assert_eq!(h.store.counts().create, 0);
    assert_eq!(
        h.events.count(|e| matches!(e, Event::Interrupted { .. })),
        REQUESTS
    );
    assert_eq!(h.events.count(|e| matches!(e, Event::Destroyed { .. })), 1);
}

// ---------------------------------------------------------------------------------------------
// The cookie store

struct CookieHarness {
    clock: ManualClock,
    events: RecordingEvents,
}

impl CookieHarness {
    fn new() -> Self {
        Self {
            clock: ManualClock::new(START),
            events: RecordingEvents::new(),
        }
    }

    fn manager(&self, keys: Keys, name: &str) -> SessionManager {
        let config = Config::builder()
            .clock(self.clock.clone())
            .events(self.events.clone())
            .build()
            .unwrap();
        let cookie = CookieConfig::builder().name(name).build().unwrap();
        SessionManager::client_side(SealedCookies::new(keys).with_cookie(cookie), config)
    }
}

fn named_cookie_request(name: &str, value: &str) -> HeaderMap {
    raw_cookie_request(&format!("{name}={value}"))
}

async fn cookie_session(manager: &SessionManager, name: &str) -> String {
    let session = manager.start(&HeaderMap::new(), None);
    session.insert("name", "ada").unwrap();
    let response = session.finish().await.unwrap();
    let cookie = set_cookie(&response);
    assert_eq!(cookie.name(), name);
    cookie.value().to_owned()
}

#[tokio::test]
async fn cookie_store_round_trips_and_updates() {
    let h = CookieHarness::new();
    let manager = h.manager(Keys::generate(), "id");
    let value = cookie_session(&manager, "id").await;
    assert!(!value.contains("ada"), "the cookie is encrypted");

    let session = manager.start(&named_cookie_request("id", &value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    assert_eq!(session.increment("visits", 2).await.unwrap(), 2);
    let updated = issued_value(&session.finish().await.unwrap());

    let session = manager.start(&named_cookie_request("id", &updated), None);
    assert_eq!(session.get::<i64>("visits").await.unwrap(), Some(2));
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    assert!(
        session.finish().await.unwrap().is_empty(),
        "an unchanged read sends nothing"
    );
}

#[tokio::test]
async fn cookie_store_refuses_tampered_values() {
    let h = CookieHarness::new();
    let manager = h.manager(Keys::generate(), "id");
    let value = cookie_session(&manager, "id").await;
    let middle = value.len() / 2;
    let mut bytes = value.into_bytes();
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();

    let session = manager.start(&named_cookie_request("id", &tampered), None);
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
    assert_eq!(
        h.events.count(|e| *e
            == Event::Rejected {
                reason: RejectReason::Unsealable,
                client_ip: None,
            }),
        1
    );
    // A cookie that does not open was not verified: no response clears it.
    assert!(session.finish().await.unwrap().is_empty());
    session_destroying_clears_nothing(&manager, &named_cookie_request("id", &tampered)).await;
}

#[tokio::test]
async fn cookie_store_refuses_expired_cookies() {
    let h = CookieHarness::new();
    let manager = h.manager(Keys::generate(), "id");
    let value = cookie_session(&manager, "id").await;
    h.clock.advance(31 * MINUTE);
    let session = manager.start(&named_cookie_request("id", &value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap(),
        None,
        "a replayed cookie is dead past its sealed idle deadline"
    );
    assert_removal(&session.finish().await.unwrap());
    assert_eq!(
        h.events.count(|e| matches!(
            e,
            Event::Expired {
                deadline: sessile::Deadline::Idle,
                ..
            }
        )),
        1
    );
}

#[tokio::test]
async fn cookie_store_reseals_under_the_current_key() {
    let (old, new) = (Key::generate(), Key::generate());
    let h = CookieHarness::new();
    let old_manager = h.manager(Keys::new(vec![old.clone()]).unwrap(), "id");
    let rotated = h.manager(Keys::new(vec![new.clone(), old]).unwrap(), "id");
    let new_only = h.manager(Keys::new(vec![new]).unwrap(), "id");
    let old_value = cookie_session(&old_manager, "id").await;

    let session = rotated.start(&named_cookie_request("id", &old_value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    let resealed = issued_value(&session.finish().await.unwrap());

    let session = new_only.start(&named_cookie_request("id", &resealed), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    let session = new_only.start(&named_cookie_request("id", &old_value), None);
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
}

#[tokio::test]
async fn cookie_store_reports_a_cookie_over_the_browser_limit() {
    let h = CookieHarness::new();
    let manager = h.manager(Keys::generate(), "id");
    let session = manager.start(&HeaderMap::new(), None);
    session.insert("bio", "x".repeat(5_000)).unwrap();
    match session.finish().await {
        Err(SessionError::CookieTooLarge { size, limit }) => {
            assert_eq!(limit, 4096);
            assert!(size > limit);
        }
        other => panic!("expected CookieTooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn cookie_store_binds_the_cookie_name() {
    let h = CookieHarness::new();
    let keys = Keys::generate();
    let first = h.manager(keys.clone(), "first");
    let second = h.manager(keys, "second");
    let value = cookie_session(&first, "first").await;

    let session = second.start(&named_cookie_request("second", &value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap(),
        None,
        "a value sealed for one cookie name does not open under another"
    );
    let session = first.start(&named_cookie_request("first", &value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
}

// ---------------------------------------------------------------------------------------------
// The header transport

#[tokio::test]
async fn the_header_transport_carries_the_id_in_both_directions() {
    let header = HeaderName::from_static("x-session");
    let h = Harness::with_codec(
        Keys::generate(),
        |ids| ids.with_header(header.clone()),
        |config| config,
    );
    let session = h.manager.start(&HeaderMap::new(), None);
    session.insert("name", "ada").unwrap();
    let response = session.finish().await.unwrap();
    assert_eq!(response.headers.len(), 1);
    let (name, value) = &response.headers[0];
    assert_eq!(name, header);
    let value = value.to_str().unwrap().to_owned();

    let mut request = HeaderMap::new();
    request.insert(header.clone(), HeaderValue::from_str(&value).unwrap());
    let session = h.manager.start(&request, None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    assert!(session.finish().await.unwrap().is_empty());

    h.store.reset();
    let as_cookie = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        as_cookie.get::<String>("name").await.unwrap(),
        None,
        "with the header transport a cookie is not a session id"
    );
    assert_eq!(h.store.counts().total(), 0);

    let session = h.manager.start(&request, None);
    session.destroy();
    let response = session.finish().await.unwrap();
    assert_eq!(response.headers.len(), 1);
    assert_eq!(response.headers[0].0, header);
    assert_eq!(
        response.headers[0].1, "",
        "an empty header ends the session client-side"
    );
    assert!(h.store.inner().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Store timeout

#[tokio::test(start_paused = true)]
async fn a_store_that_never_answers_fails_as_unavailable() {
    let keys = Keys::generate();
    let config = Config::builder()
        .store_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let manager = SessionManager::new(HangingStore, SignedIds::new(keys.clone()), config);
    let value = signed(&keys, COOKIE_NAME, &SessionId::generate());

    let session = manager.start(&cookie_request(&value), None);
    let error = session.get::<String>("name").await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");

    let session = manager.start(&cookie_request(&value), None);
    let error = session.increment("visits", 1).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");

    let session = manager.start(&HeaderMap::new(), None);
    session.insert("name", "ada").unwrap();
    let error = session.finish().await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
}

#[tokio::test]
async fn cookie_store_keeps_writes_made_without_a_read() {
    let h = CookieHarness::new();
    let manager = h.manager(Keys::generate(), "id");
    let value = cookie_session(&manager, "id").await;

    let session = manager.start(&named_cookie_request("id", &value), None);
    session.insert("theme", "dark").unwrap();
    session.set_user(Some("ada"));
    let updated = issued_value(&session.finish().await.unwrap());

    let session = manager.start(&named_cookie_request("id", &updated), None);
    assert_eq!(
        session.get::<String>("theme").await.unwrap().as_deref(),
        Some("dark")
    );
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
    assert_eq!(session.user().await.unwrap().as_deref(), Some("ada"));
}

#[tokio::test]
async fn cookie_store_rotates_without_a_read() {
    let h = CookieHarness::new();
    let manager = h.manager(Keys::generate(), "id");
    let value = cookie_session(&manager, "id").await;

    let session = manager.start(&named_cookie_request("id", &value), None);
    session.rotate_id();
    let rotated = issued_value(&session.finish().await.unwrap());
    assert_eq!(h.events.count(|e| matches!(e, Event::Rotated { .. })), 1);
    let session = manager.start(&named_cookie_request("id", &rotated), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
}

// ---------------------------------------------------------------------------------------------
// Strict ids, persistence, increments racing a logout

#[tokio::test]
async fn a_validly_signed_id_the_server_never_issued_is_never_adopted() {
    let h = Harness::new();
    let keys = h.keys.clone();
    let planted = signed(&keys, COOKIE_NAME, &SessionId::generate());

    let session = h.manager.start(&cookie_request(&planted), None);
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
    session.insert("name", "mallory's victim").unwrap();
    let issued = issued_value(&session.finish().await.unwrap());
    assert_ne!(
        issued.split_once('.').unwrap().0,
        planted.split_once('.').unwrap().0,
        "a fresh id replaces the planted one"
    );

    h.store.reset();
    let blind = h.manager.start(&cookie_request(&planted), None);
    blind.insert("name", "blind write").unwrap();
    assert_removal(&blind.finish().await.unwrap());
    assert_eq!(
        h.store.counts().create,
        0,
        "a blind write never creates the planted id"
    );
    assert_eq!(h.store.inner().len(), 1);
}

#[tokio::test]
async fn a_persistent_session_gets_a_cookie_that_lasts_until_the_absolute_deadline() {
    let h = Harness::new();
    let value = h.existing_session().await;
    h.clock.advance(20 * MINUTE);
    let session = h.manager.start(&cookie_request(&value), None);
    session.set_persistent(true);
    let cookie = set_cookie(&session.finish().await.unwrap());
    assert_eq!(cookie.value(), value, "the same id, re-issued");
    assert_eq!(
        cookie.max_age(),
        Some(cookie::time::Duration::minutes(12 * 60 - 20)),
        "the 12-hour lifetime minus the 20 minutes already used"
    );

    let session = h.manager.start(&cookie_request(&value), None);
    session.set_persistent(false);
    let cookie = set_cookie(&session.finish().await.unwrap());
    assert_eq!(cookie.max_age(), None, "back to a browser-session cookie");
}

/// Every kind of request against a session that a logout elsewhere deletes while it runs: what
/// the commit reports, and what it sends.
#[tokio::test]
async fn a_write_lost_to_a_logout_elsewhere_is_reported_as_dropped() {
    let h = Harness::new();
    let logout = |value: String| {
        let manager = h.manager.clone();
        async move {
            let session = manager.start(&cookie_request(&value), None);
            session.destroy();
            assert_eq!(
                session.finish().await.unwrap().outcome(),
                CommitOutcome::Ended
            );
        }
    };

    // A write without a read (the case that answered 200 and dropped the write silently).
    let value = h.existing_session().await;
    let blind = h.manager.start(&cookie_request(&value), None);
    blind.insert("theme", "dark").unwrap();
    logout(value).await;
    let response = blind.finish().await.unwrap();
    assert_eq!(response.outcome(), CommitOutcome::Dropped);
    assert_removal(&response);

    // A read, then a write; a sign-in (a rotation); a forced touch.
    let writes: [fn(&Session); 3] = [
        |session| session.insert("theme", "dark").unwrap(),
        |session| session.set_user(Some("ada")),
        |session| session.touch(),
    ];
    for write in writes {
        let value = h.existing_session().await;
        let session = h.manager.start(&cookie_request(&value), None);
        session.get::<String>("name").await.unwrap();
        write(&session);
        logout(value).await;
        let response = session.finish().await.unwrap();
        assert_eq!(response.outcome(), CommitOutcome::Dropped);
        assert_removal(&response);
    }

    // An increment answers `Gone` itself; a write after it is dropped at commit.
    let value = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&value), None);
    session.get::<String>("name").await.unwrap();
    logout(value).await;
    assert!(matches!(
        session.increment("n", 1).await,
        Err(SessionError::Gone)
    ));
    session.insert("after", true).unwrap();
    assert_eq!(
        session.finish().await.unwrap().outcome(),
        CommitOutcome::Dropped
    );

    // Nothing of the request lost: a read whose activity write finds the session gone, and an
    // increment the handler was told about.
    let value = h.existing_session().await;
    let reader = h.manager.start(&cookie_request(&value), None);
    let counter = h.manager.start(&cookie_request(&value), None);
    h.clock.advance(MINUTE * 10); // past the touch throttle
    reader.get::<String>("name").await.unwrap();
    counter.get::<String>("name").await.unwrap();
    logout(value).await;
    let response = reader.finish().await.unwrap();
    assert_eq!(response.outcome(), CommitOutcome::Ended);
    assert_removal(&response);
    assert!(counter.increment("n", 1).await.is_err());
    assert_eq!(
        counter.finish().await.unwrap().outcome(),
        CommitOutcome::Ended
    );
    assert!(h.store.inner().is_empty(), "no session was recreated");
}

/// `Session::commit` from the handler: one store operation, the headers kept for the adapter,
/// the session finished afterwards; `discard` drops uncommitted changes.
#[tokio::test]
async fn a_handler_commit_keeps_its_headers_for_the_adapter() {
    let h = Harness::new();
    let session = h.manager.start(&HeaderMap::new(), None);
    session.insert("name", "ada").unwrap();
    assert_eq!(session.commit().await.unwrap(), CommitOutcome::Saved);
    assert_eq!(h.store.counts().create, 1);
    // Everything after the commit is refused: nothing of it could reach the store.
    assert!(matches!(
        session.commit().await,
        Err(SessionError::Finished)
    ));
    assert!(matches!(
        session.insert("late", true),
        Err(SessionError::Finished)
    ));
    // An adapter that only knows `finish` gets the commit's headers, without a second commit.
    let value = issued_value(&session.finish().await.unwrap());
    assert_eq!(h.store.counts().total(), 1);
    assert!(session.take_committed().is_none(), "taken once");

    // Discarded: the changes are never stored, and no clone can commit them later.
    let session = h.manager.start(&cookie_request(&value), None);
    session.insert("theme", "dark").unwrap();
    let clone = session.clone();
    session.discard();
    assert!(matches!(clone.finish().await, Err(SessionError::Finished)));
    assert!(matches!(clone.commit().await, Err(SessionError::Finished)));
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(session.get::<String>("theme").await.unwrap(), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
}

/// What each ordinary commit reports.
#[tokio::test]
async fn commits_report_what_they_did() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let outcome = |session: Session| async move { session.finish().await.unwrap().outcome() };

    let untouched = h.manager.start(&cookie_request(&value), None);
    assert_eq!(outcome(untouched).await, CommitOutcome::Unchanged);
    let read = h.manager.start(&cookie_request(&value), None);
    read.get::<String>("name").await.unwrap();
    assert_eq!(outcome(read).await, CommitOutcome::Unchanged);
    let written = h.manager.start(&cookie_request(&value), None);
    written.insert("theme", "dark").unwrap();
    assert_eq!(outcome(written).await, CommitOutcome::Saved);
    let created = h.manager.start(&HeaderMap::new(), None);
    created.insert("theme", "dark").unwrap();
    assert_eq!(outcome(created).await, CommitOutcome::Saved);
    let destroyed = h.manager.start(&cookie_request(&value), None);
    destroyed.destroy();
    assert_eq!(outcome(destroyed).await, CommitOutcome::Ended);
}

#[tokio::test]
async fn an_increment_after_a_logout_reports_gone_and_clears_the_cookie() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );

    let logout = h.manager.start(&cookie_request(&value), None);
    logout.destroy();
    logout.finish().await.unwrap();

    assert!(matches!(
        session.increment("visits", 1).await,
        Err(SessionError::Gone)
    ));
    assert_removal(&session.finish().await.unwrap());
    assert!(h.store.inner().is_empty());
    assert_eq!(
        h.events.count(|e| matches!(e, Event::Interrupted { .. })),
        1
    );
}

#[tokio::test]
async fn a_session_kept_past_its_request_reports_finished_instead_of_panicking() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&value), None);
    let kept = session.clone();
    session.insert("theme", "dark").unwrap();
    session.finish().await.unwrap();
    h.store.reset();

    // A handler that moved a clone into a spawned task: every use after the request is a typed
    // error, never a panic, and nothing reaches the store or a response any more.
    let outcome = tokio::spawn(async move {
        assert!(matches!(
            kept.get::<String>("name").await,
            Err(SessionError::Finished)
        ));
        assert!(matches!(kept.data().await, Err(SessionError::Finished)));
        assert!(matches!(kept.user().await, Err(SessionError::Finished)));
        assert!(matches!(
            kept.user_sessions().await,
            Err(SessionError::Finished)
        ));
        assert!(matches!(
            kept.revoke_others().await,
            Err(SessionError::Finished)
        ));
        assert!(matches!(
            kept.insert("late", 1),
            Err(SessionError::Finished)
        ));
        assert!(matches!(
            kept.increment("visits", 1).await,
            Err(SessionError::Finished)
        ));
        kept.remove("name");
        kept.clear();
        kept.rotate_id();
        kept.set_user(Some("mallory"));
        kept.set_persistent(true);
        kept.destroy();
        assert_eq!(kept.current_key(), None);
        assert!(!kept.finish_unused());
        assert!(matches!(kept.finish().await, Err(SessionError::Finished)));
    })
    .await;
    assert!(outcome.is_ok(), "the task panicked: {outcome:?}");
    assert_eq!(h.store.counts().total(), 0);
    assert!(!SessionError::Finished.is_unavailable());

    let next = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        next.get::<String>("theme").await.unwrap().as_deref(),
        Some("dark")
    );
    assert_eq!(next.get::<i64>("late").await.unwrap(), None);
    assert_eq!(next.user().await.unwrap(), None);
}

#[tokio::test]
async fn finishing_twice_reports_finished() {
    let h = Harness::new();
    let session = h.manager.start(&HeaderMap::new(), None);
    session.insert("theme", "dark").unwrap();
    assert!(!session.finish().await.unwrap().is_empty());
    assert!(matches!(
        session.finish().await,
        Err(SessionError::Finished)
    ));
    assert_eq!(h.store.counts().create, 1);
}

#[tokio::test]
async fn requests_that_only_read_or_increment_finish_without_a_commit() {
    let h = Harness::new();
    let value = h.existing_session().await;

    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(session.increment("visits", 1).await.unwrap(), 1);
    assert!(
        session.finish_unused(),
        "the store has the increment already"
    );
    assert!(matches!(
        session.get::<i64>("visits").await,
        Err(SessionError::Finished)
    ));

    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(session.get::<i64>("visits").await.unwrap(), Some(1));
    assert!(session.finish_unused(), "a read inside the throttle window");

    h.clock.advance(8 * MINUTE);
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(session.get::<i64>("visits").await.unwrap(), Some(1));
    assert!(!session.finish_unused(), "a touch is due");
    assert!(session.finish().await.unwrap().is_empty());

    let session = h.manager.start(&cookie_request(&value), None);
    session.insert("theme", "dark").unwrap();
    assert!(!session.finish_unused(), "a write to commit");
    session.finish().await.unwrap();

    let counts = h.store.counts();
    assert_eq!(
        (counts.increment, counts.load, counts.update, counts.total()),
        (1, 2, 2, 5),
        "{counts:?}"
    );
}

#[tokio::test]
async fn the_id_is_found_in_any_of_several_cookie_headers() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let mut headers = HeaderMap::new();
    headers.append(COOKIE, HeaderValue::from_static("theme=dark"));
    headers.append(
        COOKIE,
        HeaderValue::from_str(&format!("{COOKIE_NAME}={value}")).unwrap(),
    );
    headers.append(COOKIE, HeaderValue::from_static("lang=fr"));
    let session = h.manager.start(&headers, None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );

    // A forged id in an earlier line is one candidate among others: the genuine one wins.
    let mut headers = HeaderMap::new();
    let forged = format!("{}.{}", "A".repeat(43), "B".repeat(43));
    headers.append(
        COOKIE,
        HeaderValue::from_str(&format!("{COOKIE_NAME}={forged}")).unwrap(),
    );
    headers.append(
        COOKIE,
        HeaderValue::from_str(&format!("{COOKIE_NAME}={value}")).unwrap(),
    );
    let session = h.manager.start(&headers, None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
}

#[tokio::test]
async fn the_default_cookie_is_a_host_cookie_whenever_it_is_secure() {
    let h = Harness::new();
    let session = h.manager.start(&HeaderMap::new(), None);
    session.insert("name", "ada").unwrap();
    let cookie = set_cookie(&session.finish().await.unwrap());
    assert_eq!(cookie.name(), "__Host-id");
    assert_eq!(
        (cookie.secure(), cookie.path(), cookie.domain()),
        (Some(true), Some("/"), None)
    );
    assert!(CookieConfig::default().warnings().is_empty());

    // Without Secure the prefix would make browsers drop the cookie: plain-http development
    // gets `id`, and the warning about Secure alone.
    let plain = CookieConfig::builder().secure(false).build().unwrap();
    assert_eq!(plain.name(), "id");
    assert_eq!(plain.warnings().len(), 1, "{:?}", plain.warnings());
    // A name the app chose stays as it is.
    let named = CookieConfig::builder()
        .name("sid")
        .secure(false)
        .build()
        .unwrap();
    assert_eq!(named.name(), "sid");
}

#[tokio::test]
async fn extreme_times_in_a_stored_record_never_panic_a_request() {
    let h = Harness::new();
    let keys = h.keys.clone();
    let far = Timestamp::from_millis(i64::MAX);
    let extremes = [
        Timestamp::from_millis(i64::MIN),
        Timestamp::from_millis(i64::MAX),
        START,
    ];
    for last_seen in extremes {
        for created_at in extremes {
            let id = SessionId::generate();
            let record = {
                let mut record = Record::new(created_at, far, far);
                record.last_seen = last_seen;
                record.persistent = true;
                record
            };
            h.store.create(&id.store_key(), &record).await.unwrap();
            let cookie = cookie_request(&signed(&keys, COOKIE_NAME, &id));
            // A read (is a touch due?), a write, a persistence change and a rotation, each of
            // which computes with the stored times and the cookie's lifetime.
            let session = h.manager.start(&cookie, None);
            session.data().await.unwrap();
            session.finish().await.unwrap();
            let session = h.manager.start(&cookie, None);
            session.insert("k", 1).unwrap();
            session.set_persistent(true);
            session.finish().await.unwrap();
            let session = h.manager.start(&cookie, None);
            session.data().await.unwrap();
            session.rotate_id();
            session.set_persistent(false);
            session.finish().await.unwrap();
        }
    }
}

#[tokio::test]
async fn destroy_clears_only_a_cookie_the_request_presented() {
    let h = Harness::new();
    let cookies = CookieHarness::new();
    let managers = [
        h.manager.clone(),
        cookies.manager(Keys::generate(), COOKIE_NAME),
    ];
    for manager in &managers {
        // A cross-site `POST /logout` from a page that holds no session of this site.
        let session = manager.start(&HeaderMap::new(), None);
        session.destroy();
        let response = session.finish().await.unwrap();
        assert!(response.is_empty(), "{response:?}");
        // Destroyed twice, or after a read: still nothing to clear.
        let session = manager.start(&raw_cookie_request("theme=dark"), None);
        session.data().await.unwrap();
        session.destroy();
        session.destroy();
        assert!(session.finish().await.unwrap().is_empty());
    }
    // With a session, the cookie goes.
    let value = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&value), None);
    session.destroy();
    assert_removal(&session.finish().await.unwrap());
}

/// A memory store whose records under `corrupt` cannot be decoded, as a database row written by
/// an older release or by hand would be.
struct CorruptRecords {
    inner: MemoryStore,
    corrupt: std::sync::Mutex<Vec<StoreKey>>,
}

impl CorruptRecords {
    fn check(&self, key: &StoreKey) -> Result<(), StoreError> {
        match self.corrupt.lock().unwrap().contains(key) {
            true => Err(StoreError::Corrupt("undecodable test record".into())),
            false => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Store for CorruptRecords {
    async fn load(&self, key: &StoreKey, now: Timestamp) -> Result<Option<Record>, StoreError> {
        self.check(key)?;
        self.inner.load(key, now).await
    }
    async fn create(&self, key: &StoreKey, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.inner.create(key, record).await
    }
    async fn update(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        self.check(key)?;
        self.inner.update(key, changes, now).await
    }
    async fn rotate(
        &self,
        from: &StoreKey,
        to: &StoreKey,
        changes: &ChangeSet,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        self.check(from)?;
        self.inner.rotate(from, to, changes, now).await
    }
    async fn increment(
        &self,
        key: &StoreKey,
        field: &str,
        by: i64,
        touch: Touch,
        now: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        self.check(key)?;
        self.inner.increment(key, field, by, touch, now).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }
    async fn list_user_sessions(
        &self,
        user: &str,
        now: Timestamp,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<sessile::UserSessionsPage, StoreError> {
        self.inner
            .list_user_sessions(user, now, cursor, limit)
            .await
    }
    async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&StoreKey>,
    ) -> Result<u64, StoreError> {
        self.inner.delete_user_sessions(user, keep).await
    }
    async fn delete_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.inner.delete_expired(now, limit).await
    }
}

#[tokio::test]
async fn a_corrupt_record_is_no_session_on_every_path() {
    let store = std::sync::Arc::new(CorruptRecords {
        inner: MemoryStore::new(),
        corrupt: Default::default(),
    });
    let events = RecordingEvents::new();
    let config = Config::builder().events(events.clone()).build().unwrap();
    let manager = SessionManager::new(store.clone(), SignedIds::new(Keys::generate()), config);
    let session = manager.start(&HeaderMap::new(), None);
    session.insert("n", 41).unwrap();
    let value = issued_value(&session.finish().await.unwrap());
    let id = SessionId::decode(value.split_once('.').unwrap().0).unwrap();
    store.corrupt.lock().unwrap().push(id.store_key());

    // A read, and an increment without a read: both a fresh session, never an error.
    let session = manager.start(&cookie_request(&value), None);
    assert_eq!(session.get::<i64>("n").await.unwrap(), None);
    session.finish().await.unwrap();
    events.clear();
    let session = manager.start(&cookie_request(&value), None);
    assert_eq!(session.increment("n", 1).await.unwrap(), 1);
    let fresh = issued_value(&session.finish().await.unwrap());
    assert_ne!(fresh, value);
    assert_eq!(events.count(|e| matches!(e, Event::Corrupt { .. })), 1);
    // The new session works.
    let session = manager.start(&cookie_request(&fresh), None);
    assert_eq!(session.increment("n", 1).await.unwrap(), 2);
    session.finish().await.unwrap();

    // A write without a read: the update finds the record undecodable, and the write goes to
    // a new session instead of failing the request on every try.
    let corrupt = |value: &str| {
        let id = SessionId::decode(value.split_once('.').unwrap().0).unwrap();
        store.corrupt.lock().unwrap().push(id.store_key());
    };
    corrupt(&fresh);
    events.clear();
    let session = manager.start(&cookie_request(&fresh), None);
    session.insert("theme", "dark").unwrap();
    let written = issued_value(&session.finish().await.unwrap());
    assert_ne!(written, fresh);
    assert_eq!(events.count(|e| matches!(e, Event::Corrupt { .. })), 1);
    let session = manager.start(&cookie_request(&written), None);
    let data = session.data().await.unwrap();
    assert_eq!(data.len(), 1, "only the write: {data:?}");
    assert_eq!(data["theme"], "dark");

    // A sign-in whose rotation finds the record undecodable (it turned so after this request
    // loaded it): the signed-in user gets a new session.
    corrupt(&written);
    events.clear();
    session.set_user(Some("alice"));
    let signed_in = issued_value(&session.finish().await.unwrap());
    assert_ne!(signed_in, written);
    assert_eq!(events.count(|e| matches!(e, Event::Corrupt { .. })), 1);
    let session = manager.start(&cookie_request(&signed_in), None);
    assert_eq!(session.user().await.unwrap().as_deref(), Some("alice"));
}

#[tokio::test]
async fn the_validity_hook_applies_to_blind_writes_and_increments() {
    let h = Harness::new();
    let valid = |record: &Record| record.data.get("banned").is_none();
    let manager = h.manager.clone().with_validity_check(valid);
    let refused = {
        let session = manager.start(&HeaderMap::new(), None);
        session.insert("banned", true).unwrap();
        session.insert("n", 5).unwrap();
        issued_value(&session.finish().await.unwrap())
    };
    let key = SessionId::decode(refused.split_once('.').unwrap().0)
        .unwrap()
        .store_key();
    let stored = || async { h.store.load(&key, h.clock.now()).await.unwrap().unwrap() };
    let before = stored().await;
    h.clock.advance(MINUTE * 10);

    // A write without a read: a new session holds it; the refused one is neither written nor
    // touched.
    let session = manager.start(&cookie_request(&refused), None);
    session.insert("written", true).unwrap();
    let fresh = issued_value(&session.finish().await.unwrap());
    assert_ne!(fresh, refused);
    // An increment: counted in a new session, not in the refused one.
    let session = manager.start(&cookie_request(&refused), None);
    assert_eq!(session.increment("n", 1).await.unwrap(), 1);
    session.finish().await.unwrap();
    let after = stored().await;
    assert_eq!(after.data, before.data);
    assert_eq!(
        after.idle_deadline, before.idle_deadline,
        "the refused session was kept alive"
    );
    assert_eq!(
        h.events.count(|e| matches!(e, Event::Invalidated { .. })),
        2
    );
}

#[tokio::test]
async fn signing_in_rotates_the_id_and_renews_the_csrf_secret() {
    let csrf = sessile::csrf::Csrf::masked();
    for manager in [
        Harness::new().manager,
        CookieHarness::new().manager(Keys::generate(), COOKIE_NAME),
    ] {
        // An attacker's anonymous session, with a CSRF token rendered for it, planted in the
        // victim's browser.
        let session = manager.start(&HeaderMap::new(), None);
        let token = csrf.token(&session).await.unwrap();
        let planted = issued_value(&session.finish().await.unwrap());

        // The victim signs in on it; the handler neither reads nor rotates.
        let session = manager.start(&cookie_request(&planted), None);
        session.set_user(Some("alice"));
        let signed_in = issued_value(&session.finish().await.unwrap());
        assert_ne!(signed_in, planted, "the signed-in id is the planted one");

        let session = manager.start(&cookie_request(&signed_in), None);
        assert_eq!(session.user().await.unwrap().as_deref(), Some("alice"));
        assert!(
            !csrf.verify(&session, &token).await.unwrap(),
            "the old CSRF token still verifies"
        );
        session.finish().await.unwrap();
    }
    // The server-side planted id is dead once the rotation grace is over (during it, it leads
    // to the signed-in session: the price of the grace, ARCHITECTURE.md "Rotation grace").
    let h = Harness::new();
    let planted = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&planted), None);
    session.set_user(Some("alice"));
    let signed_in = issued_value(&session.finish().await.unwrap());
    h.clock.advance(Config::default().rotation_grace());
    let session = h.manager.start(&cookie_request(&planted), None);
    assert_eq!(session.user().await.unwrap(), None);
    // Signing out rotates too; an app may opt out.
    let session = h.manager.start(&cookie_request(&signed_in), None);
    session.set_user(None);
    assert_ne!(issued_value(&session.finish().await.unwrap()), signed_in);
    let h = Harness::with_config(Keys::generate(), |config| config.rotate_on_sign_in(false));
    let planted = h.existing_session().await;
    let session = h.manager.start(&cookie_request(&planted), None);
    session.set_user(Some("alice"));
    assert!(session.finish().await.unwrap().is_empty());
}

#[tokio::test]
async fn setting_the_signed_in_user_again_keeps_the_id_and_the_csrf_secret() {
    let csrf = sessile::csrf::Csrf::masked();
    let h = Harness::new();
    let session = h.manager.start(&HeaderMap::new(), None);
    session.set_user(Some("alice"));
    let signed_in = issued_value(&session.finish().await.unwrap());
    let session = h.manager.start(&cookie_request(&signed_in), None);
    let token = csrf.token(&session).await.unwrap();
    session.finish().await.unwrap();

    // An app that sets the user on every request, blind and after a read.
    for read_first in [false, true] {
        let session = h.manager.start(&cookie_request(&signed_in), None);
        if read_first {
            assert_eq!(session.user().await.unwrap().as_deref(), Some("alice"));
        }
        session.set_user(Some("alice"));
        let response = session.finish().await.unwrap();
        assert!(response.is_empty(), "the same user re-issued the cookie");
    }
    let session = h.manager.start(&cookie_request(&signed_in), None);
    assert_eq!(session.user().await.unwrap().as_deref(), Some("alice"));
    assert!(
        csrf.verify(&session, &token).await.unwrap(),
        "setting the same user dropped the CSRF secret"
    );
    session.finish().await.unwrap();
}

/// The response to a request presenting `line`, after a read and a write of the session.
async fn read_and_write(
    manager: &SessionManager,
    headers: &HeaderMap,
) -> (Option<String>, ResponseHeaders) {
    let session = manager.start(headers, None);
    let name = session.get::<String>("name").await.unwrap();
    session.insert("seen", true).unwrap();
    (name, session.finish().await.unwrap())
}

#[tokio::test]
async fn a_planted_cookie_of_the_same_name_never_hides_or_clears_the_real_one() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let forged = format!("{}.{}", "A".repeat(43), "B".repeat(43));
    let other_keys = signed(&Keys::generate(), COOKIE_NAME, &SessionId::generate());
    for planted in ["garbage", "", forged.as_str(), other_keys.as_str()] {
        for line in [
            format!("{COOKIE_NAME}={planted}; {COOKIE_NAME}={value}"),
            format!("{COOKIE_NAME}={value}; {COOKIE_NAME}={planted}"),
            format!("theme=dark; {COOKIE_NAME}=\"{planted}\"; lang=fr; {COOKIE_NAME}={value}"),
        ] {
            h.store.reset();
            let (name, response) = read_and_write(&h.manager, &raw_cookie_request(&line)).await;
            assert_eq!(name.as_deref(), Some("ada"), "{line}");
            assert!(
                response.is_empty(),
                "{line}: the response touched the cookie: {response:?}"
            );
            assert_eq!(
                (h.store.counts().load, h.store.counts().update),
                (1, 1),
                "{line}"
            );
        }
    }
    // Planted cookies alone are refused without a store call, as before.
    h.store.reset();
    let (name, _) = read_and_write(
        &h.manager,
        &raw_cookie_request(&format!("{COOKIE_NAME}=x; {COOKIE_NAME}={forged}")),
    )
    .await;
    assert_eq!(name, None);
    assert_eq!(h.store.counts().load, 0);
}

#[tokio::test]
async fn a_planted_cookie_of_the_same_name_never_hides_a_cookie_store_session() {
    let h = CookieHarness::new();
    let manager = h.manager(Keys::generate(), COOKIE_NAME);
    let value = cookie_session(&manager, COOKIE_NAME).await;
    let foreign = cookie_session(&h.manager(Keys::generate(), COOKIE_NAME), COOKIE_NAME).await;
    for planted in ["garbage", foreign.as_str()] {
        for line in [
            format!("{COOKIE_NAME}={planted}; {COOKIE_NAME}={value}"),
            format!("{COOKIE_NAME}={value}; {COOKIE_NAME}={planted}"),
        ] {
            let session = manager.start(&raw_cookie_request(&line), None);
            assert_eq!(
                session.get::<String>("name").await.unwrap().as_deref(),
                Some("ada"),
                "{line}"
            );
            assert!(session.finish().await.unwrap().is_empty(), "{line}");
        }
    }
}

#[tokio::test]
async fn bytes_outside_ascii_elsewhere_in_the_cookie_header_never_hide_the_session() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let plain = Harness::with_codec(
        Keys::generate(),
        |ids| ids.with_cookie(CookieConfig::builder().secure(false).build().unwrap()),
        |config| config,
    );
    let plain_value = {
        let session = plain.manager.start(&HeaderMap::new(), None);
        session.insert("name", "ada").unwrap();
        issued_value(&session.finish().await.unwrap())
    };
    for (h, name, value) in [(&h, COOKIE_NAME, &value), (&plain, "id", &plain_value)] {
        for line in [
            format!("other=caf\u{e9}; {name}={value}").into_bytes(),
            [
                b"a=\xff\xfe; ".as_slice(),
                format!("{name}={value}").as_bytes(),
            ]
            .concat(),
            [
                format!("{name}={value}; ").as_bytes(),
                b"b=\xc3\x28; c=\x80".as_slice(),
            ]
            .concat(),
            [b"\xff; ".as_slice(), format!("{name}={value}").as_bytes()].concat(),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(COOKIE, HeaderValue::from_bytes(&line).unwrap());
            let (got, response) = read_and_write(&h.manager, &headers).await;
            assert_eq!(
                got.as_deref(),
                Some("ada"),
                "{}",
                String::from_utf8_lossy(&line)
            );
            assert!(response.is_empty(), "{response:?}");
        }
    }
}

#[tokio::test]
async fn the_validity_check_on_the_manager_discards_refused_sessions() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let manager = h
        .manager
        .clone()
        .with_validity_check(|record| record.data.get("name") != Some(&"ada".into()));
    let session = manager.start(&cookie_request(&value), None);
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
    assert_removal(&session.finish().await.unwrap());
    assert_eq!(
        h.events
            .count(|event| matches!(event, sessile::Event::Invalidated { .. })),
        1
    );

    // The manager the check was added to is a copy: the original still accepts the session.
    let session = h.manager.start(&cookie_request(&value), None);
    assert_eq!(
        session.get::<String>("name").await.unwrap().as_deref(),
        Some("ada")
    );
}

#[tokio::test]
async fn the_before_save_hook_runs_only_on_requests_with_changes() {
    let h = Harness::new();
    let value = h.existing_session().await;
    let manager = h.manager.clone().with_before_save(|session| {
        session.insert("saved", true).unwrap();
    });

    let untouched = manager.start(&cookie_request(&value), None);
    assert!(untouched.finish_unused());
    let read = manager.start(&cookie_request(&value), None);
    read.get::<String>("name").await.unwrap();
    assert!(read.finish().await.unwrap().is_empty());
    let check = h.manager.start(&cookie_request(&value), None);
    assert_eq!(check.get::<bool>("saved").await.unwrap(), None);
    check.finish().await.unwrap();

    // A removal on a visitor without a session plans nothing, but the hook may add data: it runs.
    let visitor = manager.start(&HeaderMap::new(), None);
    visitor.remove("cart");
    assert!(!visitor.finish_unused());
    let fresh = issued_value(&visitor.finish().await.unwrap());
    let check = h.manager.start(&cookie_request(&fresh), None);
    assert_eq!(check.get::<bool>("saved").await.unwrap(), Some(true));
    check.finish().await.unwrap();

    let writer = manager.start(&cookie_request(&value), None);
    writer.insert("theme", "dark").unwrap();
    writer.finish().await.unwrap();
    let check = h.manager.start(&cookie_request(&value), None);
    assert_eq!(check.get::<bool>("saved").await.unwrap(), Some(true));
    assert_eq!(
        check.get::<String>("theme").await.unwrap().as_deref(),
        Some("dark")
    );
}

#[tokio::test]
async fn is_new_tells_a_new_visitor_from_a_returning_session() {
    let h = Harness::new();
    let visitor = h.manager.start(&HeaderMap::new(), None);
    assert!(visitor.is_new().await.unwrap());
    assert!(visitor.finish_unused());

    let value = h.existing_session().await;
    let returning = h.manager.start(&cookie_request(&value), None);
    assert!(!returning.is_new().await.unwrap());
    returning.destroy();
    assert!(
        returning.is_new().await.unwrap(),
        "destroyed: writes start anew"
    );
    returning.finish().await.unwrap();

    let gone = h.manager.start(&cookie_request(&value), None);
    assert!(
        gone.is_new().await.unwrap(),
        "the destroyed session is no session"
    );
    gone.finish().await.unwrap();
}

#[tokio::test]
async fn touch_writes_the_activity_time_inside_the_throttle_window() {
    let h = Harness::new();
    let value = h.existing_session().await;
    h.clock.advance(MINUTE);

    let session = h.manager.start(&cookie_request(&value), None);
    session.touch();
    assert!(!session.finish_unused());
    let key = session.current_key().unwrap();
    assert!(
        session.finish().await.unwrap().is_empty(),
        "a touch changes no cookie"
    );
    let counts = h.store.counts();
    assert_eq!((counts.update, counts.total()), (1, 1), "{counts:?}");
    let record = h.store.inner().load(&key, h.clock.now()).await.unwrap();
    assert_eq!(record.unwrap().idle_deadline, h.clock.now() + 30 * MINUTE);

    // Without it, a request inside the window writes nothing.
    h.store.reset();
    let session = h.manager.start(&cookie_request(&value), None);
    session.get::<String>("name").await.unwrap();
    assert!(session.finish_unused());
    assert_eq!(h.store.counts().update, 0);
}

#[tokio::test]
async fn save_writes_an_unchanged_session_and_hands_its_cookie_out_again() {
    let h = Harness::new();
    let value = h.existing_session().await;

    let session = h.manager.start(&cookie_request(&value), None);
    session.save();
    assert!(!session.finish_unused());
    let response = session.finish().await.unwrap();
    assert_eq!(issued_value(&response), value, "the same id, sent again");
    let counts = h.store.counts();
    assert_eq!(
        (counts.load, counts.update, counts.total()),
        (1, 1, 2),
        "{counts:?}"
    );

    // A new session is stored even empty.
    h.store.reset();
    let visitor = h.manager.start(&HeaderMap::new(), None);
    visitor.save();
    let created = issued_value(&visitor.finish().await.unwrap());
    assert_eq!(h.store.counts().create, 1);
    let back = h.manager.start(&cookie_request(&created), None);
    assert!(!back.is_new().await.unwrap());
    assert!(back.data().await.unwrap().is_empty());
}

#[tokio::test]
async fn save_and_touch_reseal_a_cookie_store_session() {
    let manager =
        SessionManager::client_side(SealedCookies::new(Keys::generate()), Config::default());
    let first = manager.start(&HeaderMap::new(), None);
    first.save();
    let cookie = set_cookie(&first.finish().await.unwrap());
    let request = named_cookie_request(cookie.name(), cookie.value());
    for force in [sessile::Session::touch, sessile::Session::save] {
        let session = manager.start(&request, None);
        force(&session);
        assert!(!session.finish().await.unwrap().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Events that tell what happened

/// The events of one request that reads `value`'s session.
async fn events_of_a_read(h: &Harness, value: &str) -> Vec<Event> {
    h.events.clear();
    let session = h.manager.start(&cookie_request(value), None);
    assert_eq!(session.get::<String>("name").await.unwrap(), None);
    session.finish().await.unwrap();
    h.events.events()
}

fn tag_of(h: &Harness, value: &str) -> String {
    let key = h.manager.start(&cookie_request(value), None).current_key();
    key.expect("a validly signed cookie").log_tag()
}

#[tokio::test]
async fn a_missing_session_is_missed_and_an_expired_one_names_its_deadline() {
    let h = Harness::with_config(Keys::generate(), |config| {
        config.absolute_lifetime(60 * MINUTE)
    });
    // Signed out elsewhere: the id verifies, the store holds nothing.
    let signed_out = h.existing_session().await;
    let logout = h.manager.start(&cookie_request(&signed_out), None);
    logout.destroy();
    logout.finish().await.unwrap();
    let tag = tag_of(&h, &signed_out);
    assert_eq!(
        events_of_a_read(&h, &signed_out).await,
        [Event::Missed { tag }]
    );

    // Active every 20 minutes until the absolute lifetime ends it.
    let active = h.existing_session().await;
    let mut idle = None;
    for _ in 0..2 {
        h.clock.advance(20 * MINUTE);
        let session = h.manager.start(&cookie_request(&active), None);
        session.insert("step", 1).unwrap();
        session.finish().await.unwrap();
        // Idle from minute 20 for the whole idle timeout. (Created after the first write:
        // the memory store frees expired records on writes, after which they are missing.)
        idle.get_or_insert(h.existing_session().await);
    }
    let idle = idle.unwrap();
    h.clock.advance(10 * MINUTE);
    h.store.reset();
    let tag = tag_of(&h, &idle);
    assert_eq!(
        events_of_a_read(&h, &idle).await,
        [Event::Expired {
            tag,
            deadline: sessile::Deadline::Idle
        }]
    );
    h.clock.advance(10 * MINUTE);
    let tag = tag_of(&h, &active);
    assert_eq!(
        events_of_a_read(&h, &active).await,
        [Event::Expired {
            tag,
            deadline: sessile::Deadline::Absolute
        }]
    );
    assert_eq!(
        h.store.counts().total(),
        2,
        "one read per request, as before"
    );
}

#[tokio::test]
async fn an_increment_on_a_session_gone_before_the_request_names_why() {
    let h = Harness::new();
    let signed_out = h.existing_session().await;
    let logout = h.manager.start(&cookie_request(&signed_out), None);
    logout.destroy();
    logout.finish().await.unwrap();
    let tag = tag_of(&h, &signed_out);
    h.events.clear();
    h.store.reset();
    let session = h.manager.start(&cookie_request(&signed_out), None);
    assert_eq!(session.increment("visits", 1).await.unwrap(), 1);
    session.finish().await.unwrap();
    assert_eq!(
        h.events.count(|e| *e == Event::Missed { tag: tag.clone() }),
        1
    );
    assert_eq!(h.events.count(|e| matches!(e, Event::Expired { .. })), 0);
    let counts = h.store.counts();
    assert_eq!(
        (counts.increment, counts.load, counts.create),
        (1, 1, 1),
        "the increment, one read that names why it found nothing, the new session"
    );
}

#[tokio::test]
async fn a_rejected_id_carries_the_client_ip_only_when_the_app_keeps_addresses() {
    let client: std::net::IpAddr = "203.0.113.7".parse().unwrap();
    for keeps_addresses in [false, true] {
        let h = Harness::with_config(Keys::generate(), |config| config.record_ip(keeps_addresses));
        let session = h
            .manager
            .start(&cookie_request("not-a-session-id"), Some(client));
        session.get::<String>("name").await.unwrap();
        session.finish().await.unwrap();
        assert_eq!(
            h.events.events(),
            [Event::Rejected {
                reason: RejectReason::Malformed,
                client_ip: keeps_addresses.then_some(client),
            }]
        );
    }
}

/// Log lines written through a `tracing` subscriber, kept in memory.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    /// Runs `f` with a subscriber writing every level from `debug` up into this log.
    fn during(&self, f: impl FnOnce()) {
        let log = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .with_writer(move || log.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
    }

    /// The lines written at `level` (`"INFO"`, `"DEBUG"`).
    fn lines_at(&self, level: &str) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .filter(|line| line.trim_start().starts_with(level))
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn ten_thousand_rejected_ids_log_at_debug_and_sum_up_in_one_info_line_a_minute() {
    let log = CapturedLog::default();
    let clock = ManualClock::new(START);
    let rejected = |reason| Event::Rejected {
        reason,
        client_ip: None,
    };
    log.during(|| {
        let events = sessile::TracingEvents::with_summary(MINUTE, clock.clone());
        // The first rejection is summed up at once, so an operator sees it.
        events.emit(&rejected(RejectReason::BadSignature));
        for _ in 0..9_999 {
            events.emit(&rejected(RejectReason::Malformed));
        }
        clock.advance(MINUTE - Duration::from_millis(1));
        events.emit(&Event::Loaded {
            tag: "abcd1234".into(),
        });
        assert_eq!(
            log.lines_at("INFO").len(),
            1,
            "one info line within the minute"
        );
        clock.advance(Duration::from_millis(1));
        events.emit(&Event::Loaded {
            tag: "abcd1234".into(),
        });
        events.emit(&rejected(RejectReason::Unsealable));
        drop(events);
    });
    let info = log.lines_at("INFO");
    assert_eq!(info.len(), 3, "{info:#?}");
    assert!(
        info[0].contains("1 session ids rejected")
            && info[0].contains("bad signature: 1")
            && info[0].contains("malformed: 0"),
        "{}",
        info[0]
    );
    assert!(
        info[1].contains("9999 session ids rejected in the last 60 s")
            && info[1].contains("malformed: 9999"),
        "{}",
        info[1]
    );
    // Dropped before the next minute: what was still counted is written then.
    assert!(info[2].contains("unsealable: 1"), "{}", info[2]);
    let debug = log.lines_at("DEBUG");
    assert_eq!(
        debug
            .iter()
            .filter(|line| line.contains("session id rejected"))
            .count(),
        10_001,
        "every rejection has its debug line"
    );
}

/// A request on `value`'s session (or a new one) that runs `handler` and returns the cookie it
/// hands out, if any.
async fn request_with(
    h: &Harness,
    value: Option<&str>,
    handler: impl AsyncFnOnce(&sessile::Session),
) -> Option<String> {
    let headers = value.map(cookie_request).unwrap_or_default();
    let session = h.manager.start(&headers, None);
    handler(&session).await;
    let response = session.finish().await.unwrap();
    let cookie = (!response.is_empty()).then(|| set_cookie(&response));
    cookie
        .filter(|cookie| !is_removal(cookie))
        .map(|c| c.value().to_owned())
}

/// No event names an id: each event's text is free of every cookie value and id given out.
fn assert_no_event_names_an_id(h: &Harness, values: &[&str]) {
    for event in h.events.events() {
        let text = format!("{event:?}");
        for value in values {
            let id = value.split('.').next().unwrap();
            assert!(!text.contains(id), "{text} names the id {id}");
        }
    }
}

#[tokio::test]
async fn sign_in_and_sign_out_are_events_that_name_the_user() {
    let h = Harness::new();
    let signed_in = |tag: String, user: &str| Event::SignedIn {
        tag,
        user: user.into(),
    };
    let is_sign = |e: &Event| matches!(e, Event::SignedIn { .. } | Event::SignedOut { .. });
    let signs = || -> Vec<Event> { h.events.events().into_iter().filter(is_sign).collect() };

    // A visitor signs in: a new session with a user.
    let ada = request_with(&h, None, async |s| s.set_user(Some("ada")))
        .await
        .unwrap();
    assert_eq!(signs(), [signed_in(tag_of(&h, &ada), "ada")]);

    // The same user again is no sign-in; a switch of user is one (on the rotated id).
    h.events.clear();
    let same = request_with(&h, Some(&ada), async |s| s.set_user(Some("ada"))).await;
    assert_eq!(same, None, "nothing changed");
    let bob = request_with(&h, Some(&ada), async |s| s.set_user(Some("bob")))
        .await
        .unwrap();
    assert_eq!(signs(), [signed_in(tag_of(&h, &bob), "bob")]);

    // Clearing the user signs bob out, named since the commit read the record.
    h.events.clear();
    let anonymous = request_with(&h, Some(&bob), async |s| s.set_user(None))
        .await
        .unwrap();
    assert_eq!(
        signs(),
        [Event::SignedOut {
            tag: tag_of(&h, &anonymous),
            user: Some("bob".into()),
        }]
    );

    // Destroying a session someone is signed in on, after reading it, signs them out; without
    // a read the user is not known and the session's end is the `Destroyed` event alone.
    let carol = request_with(&h, None, async |s| s.set_user(Some("carol")))
        .await
        .unwrap();
    h.events.clear();
    request_with(&h, Some(&carol), async |s| {
        assert_eq!(s.user().await.unwrap().as_deref(), Some("carol"));
        s.destroy();
    })
    .await;
    let tag = tag_of(&h, &carol);
    assert_eq!(
        signs(),
        [Event::SignedOut {
            tag: tag.clone(),
            user: Some("carol".into()),
        }]
    );
    assert!(h.events.events().contains(&Event::Destroyed { tag }));
    let dave = request_with(&h, None, async |s| s.set_user(Some("dave")))
        .await
        .unwrap();
    h.events.clear();
    request_with(&h, Some(&dave), async |s| s.destroy()).await;
    assert_eq!(signs(), []);
    assert_eq!(h.events.count(|e| matches!(e, Event::Destroyed { .. })), 1);
    assert_no_event_names_an_id(&h, &[&ada, &bob, &anonymous, &carol, &dave]);
}

#[tokio::test]
async fn a_blind_sign_out_is_an_event_without_the_user() {
    let h = Harness::with_config(Keys::generate(), |config| config.rotate_on_sign_in(false));
    let ada = request_with(&h, None, async |s| s.set_user(Some("ada")))
        .await
        .unwrap();
    h.events.clear();
    h.store.reset();
    request_with(&h, Some(&ada), async |s| s.set_user(None)).await;
    assert_eq!(
        h.events.events(),
        [Event::SignedOut {
            tag: tag_of(&h, &ada),
            user: None,
        }]
    );
    assert_eq!(
        h.store.counts().total(),
        1,
        "one blind update, no read for the event"
    );
}

#[tokio::test]
async fn revocations_are_events_that_name_the_user_and_the_sessions_by_tag() {
    let h = Harness::new();
    let mut devices = Vec::new();
    for _ in 0..3 {
        let value = request_with(&h, None, async |s| s.set_user(Some("ada")))
            .await
            .unwrap();
        devices.push(value);
    }
    let [here, phone, laptop] = [&devices[0], &devices[1], &devices[2]];
    let phone_key = h
        .manager
        .start(&cookie_request(phone), None)
        .current_key()
        .unwrap();

    h.events.clear();
    request_with(&h, Some(here), async |s| {
        assert!(s.revoke(&phone_key).await.unwrap());
        assert_eq!(s.revoke_others().await.unwrap(), 1, "the laptop");
    })
    .await;
    assert_eq!(
        h.events.events(),
        [
            Event::Loaded {
                tag: tag_of(&h, here)
            },
            Event::Revoked {
                tag: phone_key.log_tag(),
                user: "ada".into(),
            },
            Event::RevokedOthers {
                user: "ada".into(),
                count: 1,
                kept: Some(tag_of(&h, here)),
            },
        ]
    );

    // Revoking a session that is not one of the user's is no revocation.
    h.events.clear();
    request_with(&h, Some(here), async |s| {
        assert!(!s.revoke(&phone_key).await.unwrap());
    })
    .await;
    assert_eq!(h.events.count(|e| matches!(e, Event::Revoked { .. })), 0);

    h.events.clear();
    assert_eq!(h.manager.delete_user_sessions("ada").await.unwrap(), 1);
    assert_eq!(
        h.events.events(),
        [Event::UserSessionsDeleted {
            user: "ada".into(),
            count: 1,
        }]
    );
    assert_no_event_names_an_id(&h, &[here, phone, laptop]);

    let cookies =
        SessionManager::client_side(SealedCookies::new(Keys::generate()), Config::default());
    assert!(matches!(
        cookies.delete_user_sessions("ada").await,
        Err(SessionError::Store(StoreError::Unsupported(_)))
    ));
}

#[tokio::test]
async fn the_listing_marks_the_session_of_the_request_as_current() {
    let h = Harness::new();
    let mut cookies = Vec::new();
    for _device in 0..2 {
        let session = h.manager.start(&HeaderMap::new(), None);
        session.set_user(Some("ada"));
        cookies.push(issued_value(&session.finish().await.unwrap()));
    }

    for cookie in &cookies {
        let session = h.manager.start(&cookie_request(cookie), None);
        let listed = session.user_sessions().await.unwrap();
        let current: Vec<_> = listed.iter().filter(|s| s.current).collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(current.len(), 1, "{listed:?}");
        assert_eq!(Some(&current[0].key), session.current_key().as_ref());
        session.finish().await.unwrap();
    }

    // The store's own answer never marks one: only the request knows which session it is.
    let listed = h
        .store
        .list_user_sessions("ada", START, None, 10)
        .await
        .unwrap()
        .sessions;
    assert!(listed.iter().all(|s| !s.current), "{listed:?}");

    // One page at a time, the current one marked on the page that holds it.
    let session = h.manager.start(&cookie_request(&cookies[1]), None);
    let first = session.user_sessions_page(None, 1).await.unwrap();
    let second = session
        .user_sessions_page(first.next.as_deref(), 1)
        .await
        .unwrap();
    assert_eq!((first.sessions.len(), second.sessions.len()), (1, 1));
    assert!(second.next.is_none(), "two sessions make two pages");
    let marked = [&first, &second].map(|page| page.sessions[0].current);
    assert_eq!(
        marked.iter().filter(|current| **current).count(),
        1,
        "{marked:?}"
    );
    assert!(matches!(
        session.user_sessions_page(Some("garbage"), 1).await,
        Err(SessionError::Store(_))
    ));
    session.finish().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Rotation grace

/// The value and store key behind a cookie value.
fn key_of(h: &Harness, value: &str) -> StoreKey {
    h.manager
        .start(&cookie_request(value), None)
        .current_key()
        .unwrap()
}

/// Signs `ada` in on the session `value` names; the new cookie value.
async fn sign_in(h: &Harness, value: &str) -> String {
    let login = h.manager.start(&cookie_request(value), None);
    login.set_user(Some("ada"));
    let new_value = issued_value(&login.finish().await.unwrap());
    assert_ne!(new_value, value, "signing in rotates the id");
    new_value
}

#[tokio::test]
async fn requests_with_the_old_id_during_the_grace_land_in_the_rotated_session() {
    let h = Harness::new();
    let old_value = h.existing_session().await;
    let new_value = sign_in(&h, &old_value).await;
    let new_key = key_of(&h, &new_value);
    h.clock.advance(Duration::from_secs(1));

    // A blind write with the old id (no read first): it lands in the rotated session, and the
    // response hands out the new id.
    let blind = h.manager.start(&cookie_request(&old_value), None);
    blind.insert("theme", "dark").unwrap();
    assert_eq!(issued_value(&blind.finish().await.unwrap()), new_value);

    // An increment with the old id adds to the rotated session, no new anonymous session.
    let counter = h.manager.start(&cookie_request(&old_value), None);
    assert_eq!(counter.increment("count", 1).await.unwrap(), 1);
    assert_eq!(issued_value(&counter.finish().await.unwrap()), new_value);

    // A read with the old id sees the signed-in session and gets its cookie.
    let reader = h.manager.start(&cookie_request(&old_value), None);
    assert_eq!(reader.user().await.unwrap().as_deref(), Some("ada"));
    assert_eq!(
        reader.get::<String>("theme").await.unwrap().as_deref(),
        Some("dark")
    );
    assert_eq!(issued_value(&reader.finish().await.unwrap()), new_value);

    let record = h.store.inner().load(&new_key, h.clock.now()).await.unwrap();
    let record = record.expect("the rotated session lives");
    assert_eq!(record.data["count"], 1);
    assert_eq!(record.data["theme"], "dark");
    assert_eq!(h.store.inner().len(), 1, "no session was created");
    assert_eq!(h.store.counts().create, 0);

    // After the window the old id is dead, as without a grace.
    h.clock.advance(Config::default().rotation_grace());
    let late = h.manager.start(&cookie_request(&old_value), None);
    assert_eq!(late.user().await.unwrap(), None);
    assert_removal(&late.finish().await.unwrap());
    let late = h.manager.start(&cookie_request(&old_value), None);
    late.insert("theme", "light").unwrap();
    let response = late.finish().await.unwrap();
    assert_removal(&response);
    assert_eq!(
        response.outcome(),
        CommitOutcome::Dropped,
        "a late write is dropped"
    );
    let record = h.store.inner().load(&new_key, h.clock.now()).await.unwrap();
    assert_eq!(record.unwrap().data["theme"], "dark");
}

#[tokio::test]
async fn concurrent_sign_ins_from_one_browser_all_end_signed_in() {
    let h = Harness::new();
    let old_value = h.existing_session().await;
    // Five logins loaded the anonymous session before any of them committed.
    let mut logins = Vec::new();
    for _ in 0..5 {
        let login = h.manager.start(&cookie_request(&old_value), None);
        assert_eq!(login.user().await.unwrap(), None);
        login.set_user(Some("ada"));
        login.insert("signed_in_by", "login").unwrap();
        logins.push(login);
    }
    let mut values = Vec::new();
    for login in logins {
        values.push(issued_value(&login.finish().await.unwrap()));
    }
    // The first rotated; the others followed it and hand out the same id.
    assert!(values.iter().all(|value| *value == values[0]), "{values:?}");
    let session = h.manager.start(&cookie_request(&values[4]), None);
    assert_eq!(session.user().await.unwrap().as_deref(), Some("ada"));
    assert_eq!(h.store.inner().len(), 1);
    assert_eq!(h.events.count(|e| matches!(e, Event::Rotated { .. })), 1);
    assert_eq!(
        h.events.count(|e| matches!(e, Event::Interrupted { .. })),
        0
    );
}

#[tokio::test]
async fn logging_out_ends_the_grace() {
    // Through the new id: the old one then leads nowhere.
    let h = Harness::new();
    let old_value = h.existing_session().await;
    let new_value = sign_in(&h, &old_value).await;
    let logout = h.manager.start(&cookie_request(&new_value), None);
    logout.destroy();
    assert_removal(&logout.finish().await.unwrap());
    let stale = h.manager.start(&cookie_request(&old_value), None);
    assert_eq!(stale.user().await.unwrap(), None);
    assert_removal(&stale.finish().await.unwrap());
    assert!(h.store.inner().is_empty());

    // Through the old id, during the grace: the rotated session ends too.
    let h = Harness::new();
    let old_value = h.existing_session().await;
    let new_value = sign_in(&h, &old_value).await;
    let logout = h.manager.start(&cookie_request(&old_value), None);
    logout.destroy();
    assert_removal(&logout.finish().await.unwrap());
    let after = h.manager.start(&cookie_request(&new_value), None);
    assert_eq!(after.user().await.unwrap(), None);
    assert!(h.store.inner().is_empty(), "nothing left to resurrect");

    // Revoking the user's sessions ends it as well.
    let h = Harness::new();
    let old_value = h.existing_session().await;
    sign_in(&h, &old_value).await;
    let revoked = h
        .store
        .inner()
        .delete_user_sessions("ada", None)
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    let stale = h.manager.start(&cookie_request(&old_value), None);
    assert_eq!(stale.user().await.unwrap(), None);
    stale.insert("x", 1).unwrap();
    let fresh = issued_value(&stale.finish().await.unwrap());
    let anonymous = h.manager.start(&cookie_request(&fresh), None);
    assert_eq!(
        anonymous.user().await.unwrap(),
        None,
        "never signed in again"
    );
}

#[tokio::test]
async fn without_a_grace_the_old_id_dies_at_once() {
    let h = Harness::with_config(Keys::generate(), |config| {
        config.rotation_grace(Duration::ZERO)
    });
    let old_value = h.existing_session().await;
    sign_in(&h, &old_value).await;
    let stale = h.manager.start(&cookie_request(&old_value), None);
    assert_eq!(stale.get::<String>("name").await.unwrap(), None);
    assert_removal(&stale.finish().await.unwrap());
}

#[tokio::test]
async fn a_forward_pointer_opens_only_with_the_old_id() {
    // The store holds the new id sealed under a key derived from the old one; what it can see
    // (the new key and the sealed bytes) names no id a client could present.
    let h = Harness::new();
    let old_value = h.existing_session().await;
    let old_key = key_of(&h, &old_value);
    let new_value = sign_in(&h, &old_value).await;
    let new_key = key_of(&h, &new_value);
    let lookup = h
        .store
        .inner()
        .lookup(&old_key, h.clock.now())
        .await
        .unwrap();
    let sessile::store::Lookup::Forwarded { to, sealed_id } = lookup else {
        panic!("expected a forward pointer, got {lookup:?}");
    };
    assert_eq!(to, new_key);
    let new_id = new_value.split('.').next().unwrap();
    assert!(!sealed_id
        .windows(new_id.len())
        .any(|w| w == new_id.as_bytes()));
    assert!(!sealed_id.windows(32).any(|w| w == new_key.as_bytes()));
}

//! What a client-side (sealed cookie) session guarantees after sign-out: a copied cookie
//! replayed lives no longer than its sealed absolute deadline, and with a revocation list
//! `revoke_user` refuses every copy; `Clear-Site-Data` on destroy when configured. Time comes
//! from a `ManualClock`; nothing sleeps.

use std::time::Duration;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use sessile::revocation::StoreRevocations;
use sessile::testkit::RecordingEvents;
use sessile::{
    Config, Event, Keys, ManualClock, MemoryStore, ResponseHeaders, SealedCookies, SessionManager,
    Timestamp,
};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);
const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn request(cookie: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    headers
}

fn cookie_of(response: &ResponseHeaders) -> Option<String> {
    response
        .headers
        .iter()
        .find(|(name, _)| *name == SET_COOKIE)
        .map(|(_, value)| {
            value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .filter(|cookie| !cookie.ends_with('='))
}

fn manager(clock: &ManualClock, events: &RecordingEvents) -> SessionManager {
    let config = Config::builder()
        .clock(clock.clone())
        .events(events.clone())
        .build()
        .unwrap();
    SessionManager::client_side(SealedCookies::new(Keys::generate()), config)
}

async fn sign_in(manager: &SessionManager) -> String {
    let session = manager.start(&HeaderMap::new(), None);
    session.set_user(Some("ada"));
    cookie_of(&session.finish().await.unwrap()).unwrap()
}

/// The replay: a copy of the cookie, replayed every 25 minutes after sign-out, is
/// re-sealed with fresh idle deadlines but never past the absolute deadline sealed at sign-in
/// (12 hours by default): the first replay after it is refused.
#[tokio::test]
async fn a_replayed_copy_never_outlives_its_sealed_absolute_deadline() {
    let clock = ManualClock::new(START);
    let events = RecordingEvents::new();
    let manager = manager(&clock, &events);
    let mut copy = sign_in(&manager).await;
    // The real user signs out; the copy lives on.
    let session = manager.start(&request(&copy), None);
    session.destroy();
    session.finish().await.unwrap();

    let mut replays = 0;
    loop {
        clock.advance(25 * MINUTE);
        let session = manager.start(&request(&copy), None);
        session.touch();
        let user = session.user().await.unwrap();
        let response = session.finish().await.unwrap();
        if user.is_none() {
            break;
        }
        replays += 1;
        copy = cookie_of(&response).expect("a touched live session is re-sealed");
    }
    // 28 replays at 25-minute steps end inside the 12 hours; the 29th, at 12 h 5 min, is refused.
    assert_eq!(replays, 28);
    assert!(clock_now(&clock) >= START + 12 * HOUR);
    assert!(clock_now(&clock) < START + 12 * HOUR + 25 * MINUTE);
}

fn clock_now(clock: &ManualClock) -> Timestamp {
    sessile::Clock::now(clock)
}

/// With a revocation list, `revoke_user` refuses every cookie of the user created before it,
/// a copy included; a sign-in after it works; anonymous cookies are never looked up.
#[tokio::test]
async fn revoke_user_refuses_every_earlier_cookie_of_the_user() {
    let clock = ManualClock::new(START);
    let events = RecordingEvents::new();
    let revocations = StoreRevocations::new(MemoryStore::new(), 12 * HOUR);
    let manager = manager(&clock, &events).with_revocations(revocations);
    let laptop = sign_in(&manager).await;
    let copy = laptop.clone();
    clock.advance(MINUTE);

    assert_eq!(manager.revoke_user("ada").await.unwrap(), 0);
    clock.advance(MINUTE);
    for cookie in [&laptop, &copy] {
        let session = manager.start(&request(cookie), None);
        assert_eq!(session.user().await.unwrap(), None, "revoked");
    }
    assert!(events
        .events()
        .iter()
        .any(|event| matches!(event, Event::Invalidated { .. })));

    // A blind write on a revoked cookie starts over instead of keeping the user.
    let session = manager.start(&request(&copy), None);
    session.insert("after", true).unwrap();
    let fresh = cookie_of(&session.finish().await.unwrap()).unwrap();
    let session = manager.start(&request(&fresh), None);
    assert_eq!(session.user().await.unwrap(), None);

    let again = sign_in(&manager).await;
    let session = manager.start(&request(&again), None);
    assert_eq!(session.user().await.unwrap().as_deref(), Some("ada"));
}

#[tokio::test]
async fn cookie_sessions_cannot_be_revoked_without_a_list() {
    let clock = ManualClock::new(START);
    let manager = manager(&clock, &RecordingEvents::new());
    let error = manager.revoke_user("ada").await.unwrap_err();
    assert!(matches!(
        error,
        sessile::SessionError::Store(sessile::StoreError::Unsupported(_))
    ));
}

#[tokio::test]
async fn destroy_clears_site_data_only_when_configured() {
    let clock = ManualClock::new(START);
    for clear in [false, true] {
        let config = Config::builder()
            .clock(clock.clone())
            .clear_site_data_on_destroy(clear)
            .build()
            .unwrap();
        let manager = SessionManager::client_side(SealedCookies::new(Keys::generate()), config);
        let cookie = sign_in(&manager).await;
        let session = manager.start(&request(&cookie), None);
        session.destroy();
        let response = session.finish().await.unwrap();
        let header = response
            .headers
            .iter()
            .find(|(name, _)| name.as_str() == "clear-site-data")
            .map(|(_, value)| value.to_str().unwrap().to_owned());
        assert_eq!(header, clear.then(|| "\"cookies\"".to_owned()));
    }
}

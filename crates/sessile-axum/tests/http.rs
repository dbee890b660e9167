//! The layer over real HTTP on loopback: concurrency, logout races, timeouts, headers and the
//! number of store calls per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::routing::{get, post};
use axum::{Json, Router};
use reqwest::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sessile::testkit::{CountingStore, HangingStore};
use sessile::{
    Config, Keys, MemoryStore, SealedCookies, SessionId, SessionManager, SignedIds, Store,
    StoreKey, Timestamp,
};
use sessile_axum::{Error, Session, SessionLayer};
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;

/// The default session cookie name (the tests send cookies by hand, so `Secure` stays on).
const COOKIE_NAME: &str = "__Host-id";

/// The app on a loopback port, with a client.
struct TestServer {
    server: sessile_axum::testkit::TestServer,
    client: reqwest::Client,
}

impl TestServer {
    async fn start(router: Router) -> Self {
        Self {
            server: sessile_axum::testkit::TestServer::start(router).await,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    async fn send(&self, method: reqwest::Method, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, format!("{COOKIE_NAME}={cookie}"));
        }
        request.send().await.unwrap()
    }

    /// A request carrying `line` as its whole `Cookie` header, bytes as given.
    async fn send_cookie_line(&self, method: reqwest::Method, path: &str, line: &[u8]) -> Response {
        let value = reqwest::header::HeaderValue::from_bytes(line).unwrap();
        let request = self
            .client
            .request(method, self.url(path))
            .header(COOKIE, value);
        request.send().await.unwrap()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send(reqwest::Method::GET, path, cookie).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send(reqwest::Method::POST, path, cookie).await
    }
}

/// What a response did to the session cookie.
#[derive(Debug, PartialEq, Eq)]
enum CookieChange {
    Set(String),
    Removed,
}

fn session_cookie_changes(response: &Response) -> Vec<CookieChange> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap())
        .filter_map(|line| {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            (name.trim() == COOKIE_NAME).then(|| {
                if value.is_empty() {
                    assert!(
                        line.contains("Max-Age=0"),
                        "a removal expires at once: {line}"
                    );
                    CookieChange::Removed
                } else {
                    CookieChange::Set(value.to_owned())
                }
            })
        })
        .collect()
}

/// The one cookie value the response hands out; fails the test otherwise.
fn issued_cookie(response: &Response) -> String {
    match session_cookie_changes(response).as_slice() {
        [CookieChange::Set(value)] => value.clone(),
        other => panic!("expected one session cookie with a value, got {other:?}"),
    }
}

fn store_key_of(cookie: &str) -> StoreKey {
    let (encoded, _signature) = cookie.split_once('.').unwrap();
    SessionId::decode(encoded).unwrap().store_key()
}

fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Timestamp::from_millis(i64::try_from(millis).unwrap())
}

/// sessile's signed ids under `keys`, in the default cookie.
fn ids(keys: Keys) -> SignedIds {
    SignedIds::new(keys)
}

/// Routes that exercise one session operation each.
fn routes() -> Router {
    async fn start(session: Session) -> Result<&'static str, Error> {
        session.insert("started", true)?;
        Ok("started")
    }
    async fn set(
        session: Session,
        Query(query): Query<HashMap<String, String>>,
    ) -> Result<&'static str, Error> {
        let key = query.get("k").map(String::as_str).unwrap_or("unnamed");
        session.insert(key, true)?;
        Ok("set")
    }
    async fn data(session: Session) -> Result<Json<Value>, Error> {
        Ok(Json(json!({
            "user": session.user().await?,
            "data": session.data().await?,
        })))
    }
    async fn read(session: Session) -> Result<String, Error> {
        let started: Option<bool> = session.get("started").await?;
        Ok(format!("{started:?}"))
    }
    async fn read_write(session: Session) -> Result<&'static str, Error> {
        let _: Option<bool> = session.get("started").await?;
        session.insert("written", true)?;
        Ok("ok")
    }
    async fn write(session: Session) -> Result<&'static str, Error> {
        session.insert("written", true)?;
        Ok("ok")
    }
    async fn increment(
        session: Session,
        Query(query): Query<HashMap<String, String>>,
    ) -> Result<String, Error> {
        let key = query.get("k").map(String::as_str).unwrap_or("n");
        Ok(session.increment(key, 1).await?.to_string())
    }
    async fn login(session: Session) -> Result<&'static str, Error> {
        session.user().await?;
        session.rotate_id();
        session.set_user(Some("alice"));
        Ok("signed in")
    }
    async fn logout(session: Session) -> &'static str {
        session.destroy();
        "signed out"
    }
    async fn big(session: Session) -> Result<&'static str, Error> {
        session.insert("big", "x".repeat(8_000))?;
        Ok("too big for a cookie")
    }
    Router::new()
        .route("/start", post(start))
        .route("/set", post(set))
        .route("/data", get(data))
        .route("/read", get(read))
        .route("/read-write", post(read_write))
        .route("/write", post(write))
        .route("/increment", post(increment))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/big", post(big))
        .route("/untouched", get(|| async { "untouched" }))
}

fn app(manager: SessionManager) -> Router {
    routes().layer(SessionLayer::new(manager))
}

fn memory_app() -> (Router, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let manager = SessionManager::new(store.clone(), ids(Keys::generate()), Config::default());
    (app(manager), store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_of_different_keys_all_persist() {
    let (router, _store) = memory_app();
    let server = Arc::new(TestServer::start(router).await);
    let cookie = issued_cookie(&server.post("/start", None).await);

    let mut requests = JoinSet::new();
    for index in 0..200 {
        let server = server.clone();
        let cookie = cookie.clone();
        requests.spawn(async move {
            let response = server
                .post(&format!("/set?k=key{index}"), Some(&cookie))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(session_cookie_changes(&response), vec![]);
        });
    }
    while let Some(done) = requests.join_next().await {
        done.unwrap();
    }

    let body: Value = server
        .get("/data", Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    let data = body["data"].as_object().unwrap();
    for index in 0..200 {
        assert_eq!(
            data.get(&format!("key{index}")),
            Some(&json!(true)),
            "key{index} lost"
        );
    }
    assert_eq!(data.len(), 201, "200 keys and `started`: {data:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_add_up() {
    let (router, _store) = memory_app();
    let server = Arc::new(TestServer::start(router).await);
    let cookie = issued_cookie(&server.post("/start", None).await);

    let mut requests = JoinSet::new();
    for _ in 0..200 {
        let server = server.clone();
        let cookie = cookie.clone();
        requests.spawn(async move {
            let response = server.post("/increment", Some(&cookie)).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.text().await.unwrap().parse::<i64>().unwrap()
        });
    }
    let mut seen = Vec::new();
    while let Some(value) = requests.join_next().await {
        seen.push(value.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=200).collect::<Vec<i64>>(),
        "each increment sees its own total"
    );
    let body: Value = server
        .get("/data", Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["n"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_during_slow_writes_stays_logged_out() {
    const SLOW_REQUESTS: usize = 50;
    // Every slow request has loaded the session once all of them and the test meet here.
    let loaded = Arc::new(Barrier::new(SLOW_REQUESTS + 1));
    // The slow requests write only after the logout has completed and the test opens this.
    let release = Arc::new(Semaphore::new(0));

    let slow = {
        let loaded = loaded.clone();
        let release = release.clone();
        move |session: Session| async move {
            let user = session.user().await;
            // Meet the test even on failure, so a broken load fails the test instead of hanging it.
            loaded.wait().await;
            release.acquire().await.unwrap().forget();
            if user?.as_deref() != Some("alice") {
                return Ok::<_, Error>("did not see the live session");
            }
            session.insert("late", true)?;
            Ok("wrote late")
        }
    };
    let store = Arc::new(MemoryStore::new());
    let manager = SessionManager::new(store.clone(), ids(Keys::generate()), Config::default());
    let router = routes()
        .route("/slow", post(slow))
        .layer(SessionLayer::new(manager));
    let server = Arc::new(TestServer::start(router).await);

    let cookie = issued_cookie(&server.post("/login", None).await);
    let key = store_key_of(&cookie);
    assert!(store.load(&key, now()).await.unwrap().is_some());

    let mut slow_requests = JoinSet::new();
    for _ in 0..SLOW_REQUESTS {
        let server = server.clone();
        let cookie = cookie.clone();
        slow_requests.spawn(async move { server.post("/slow", Some(&cookie)).await });
    }
    loaded.wait().await;

    let logout = server.post("/logout", Some(&cookie)).await;
    assert_eq!(logout.status(), StatusCode::OK);
    assert_eq!(session_cookie_changes(&logout), vec![CookieChange::Removed]);
    assert!(store.load(&key, now()).await.unwrap().is_none());

    release.add_permits(SLOW_REQUESTS);
    let mut finished = 0;
    while let Some(response) = slow_requests.join_next().await {
        let response = response.unwrap();
        // The write was dropped: the client is told so, and the cookie is cleared.
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            session_cookie_changes(&response),
            vec![CookieChange::Removed],
            "a write after logout only clears the cookie"
        );
        assert_eq!(response.text().await.unwrap(), "session ended");
        finished += 1;
    }
    assert_eq!(finished, SLOW_REQUESTS);

    assert!(store.load(&key, now()).await.unwrap().is_none());
    assert!(store.is_empty(), "no record of the session was recreated");
    let after: Value = server
        .get("/data", Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, json!({"user": null, "data": {}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_by_a_logout_elsewhere_is_not_answered_as_a_success() {
    let store = Arc::new(MemoryStore::new());
    let manager = SessionManager::new(store.clone(), ids(Keys::generate()), Config::default());
    let server = TestServer::start(app(manager.clone())).await;
    let revoke = |cookie: &str| {
        let store = store.clone();
        let key = store_key_of(cookie);
        async move { assert!(store.delete(&key).await.unwrap()) }
    };

    // A write without a read, to a session revoked before it arrives: 409, cookie cleared,
    // nothing stored.
    let cookie = issued_cookie(&server.post("/start", None).await);
    revoke(&cookie).await;
    let write = server.post("/write", Some(&cookie)).await;
    assert_eq!(write.status(), StatusCode::CONFLICT);
    assert_eq!(session_cookie_changes(&write), vec![CookieChange::Removed]);
    assert_eq!(write.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(write.text().await.unwrap(), "session ended");
    assert!(store.is_empty(), "the write recreated nothing");

    // `Gone` from an increment, returned by a handler with `?`, is answered the same way.
    let gone = axum::response::IntoResponse::into_response(Error(sessile::SessionError::Gone));
    assert_eq!(gone.status().as_u16(), 409);

    // The app's own answer instead of the default: here the handler's response, unchanged.
    let keep = routes().layer(SessionLayer::new(manager).on_dropped_write(|response| response));
    let server = TestServer::start(keep).await;
    let cookie = issued_cookie(&server.post("/start", None).await);
    revoke(&cookie).await;
    let write = server.post("/write", Some(&cookie)).await;
    assert_eq!(write.status(), StatusCode::OK);
    assert_eq!(session_cookie_changes(&write), vec![CookieChange::Removed]);
    assert_eq!(write.text().await.unwrap(), "ok");
    assert!(store.is_empty());

    // Requests that lose nothing are answered as before: a read of a revoked session, and a
    // logout of one.
    let server = TestServer::start(app(SessionManager::new(
        store.clone(),
        ids(Keys::generate()),
        Config::default(),
    )))
    .await;
    let cookie = issued_cookie(&server.post("/start", None).await);
    revoke(&cookie).await;
    let read = server.get("/read", Some(&cookie)).await;
    assert_eq!(read.status(), StatusCode::OK);
    let logout = server.post("/logout", Some(&cookie)).await;
    assert_eq!(logout.status(), StatusCode::OK);
}

/// Routes for the manual-commit mode: each writes, then commits (or not) as its name says, and
/// answers with what the commit reported.
fn manual_routes() -> Router {
    async fn commit_once(session: Session) -> Result<String, Error> {
        session.insert("written", true)?;
        Ok(format!("{:?}", session.commit().await?))
    }
    async fn no_commit(session: Session) -> Result<&'static str, Error> {
        session.insert("written", true)?;
        Ok("not committed")
    }
    async fn commit_twice(session: Session) -> Result<String, Error> {
        session.insert("written", true)?;
        let first = session.commit().await?;
        let second = session.commit().await;
        Ok(format!("{first:?} then {second:?}"))
    }
    async fn handle_failure(session: Session) -> String {
        if let Err(error) = session.insert("written", true) {
            return format!("insert: {error}");
        }
        match session.commit().await {
            Ok(outcome) => format!("{outcome:?}"),
            Err(error) => format!("handled: unavailable={}", error.is_unavailable()),
        }
    }
    Router::new()
        .route("/commit", post(commit_once))
        .route("/no-commit", post(no_commit))
        .route("/commit-twice", post(commit_twice))
        .route("/handle-failure", post(handle_failure))
        .route(
            "/read",
            get(|session: Session| async move {
                let written: Option<bool> = session.get("written").await.map_err(Error)?;
                Ok::<_, Error>(format!("{written:?}"))
            }),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_commit_stores_only_what_the_handler_commits() {
    let store = CountingStore::new(MemoryStore::new());
    let manager = SessionManager::new(store.clone(), ids(Keys::generate()), Config::default());
    let router = manual_routes().layer(SessionLayer::new(manager).manual_commit());
    let server = TestServer::start(router).await;

    // Committed: stored once, the cookie set on the response.
    let committed = server.post("/commit", None).await;
    assert_eq!(committed.status(), StatusCode::OK);
    let cookie = issued_cookie(&committed);
    assert_eq!(committed.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(committed.text().await.unwrap(), "Saved");
    assert_eq!(store.counts().create, 1);
    assert_eq!(
        server
            .get("/read", Some(&cookie))
            .await
            .text()
            .await
            .unwrap(),
        "Some(true)"
    );

    // Not committed: nothing stored, no Set-Cookie.
    store.reset();
    let uncommitted = server.post("/no-commit", None).await;
    assert_eq!(uncommitted.status(), StatusCode::OK);
    assert!(uncommitted.headers().get(SET_COOKIE).is_none());
    assert!(uncommitted.headers().get(CACHE_CONTROL).is_none());
    assert_eq!(store.counts().total(), 0);
    let key = store_key_of(&cookie);
    let before = store.load(&key, now()).await.unwrap().unwrap();
    store.reset();
    let uncommitted = server.post("/no-commit", Some(&cookie)).await;
    assert!(uncommitted.headers().get(SET_COOKIE).is_none());
    assert_eq!(
        store.counts().total(),
        0,
        "an uncommitted write costs nothing"
    );
    assert_eq!(
        store.load(&key, now()).await.unwrap().unwrap().data,
        before.data
    );

    // A second commit in one request is an error; the first one's cookie is sent once.
    store.reset();
    let twice = server.post("/commit-twice", None).await;
    assert_eq!(session_cookie_changes(&twice).len(), 1);
    assert_eq!(store.counts().create, 1);
    let body = twice.text().await.unwrap();
    assert!(body.starts_with("Saved then Err(Finished"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_commits_answers_the_outcome_itself() {
    // A commit error, handled by the handler: its answer stands, no cookie.
    let manager = SessionManager::new(
        HangingStore,
        SignedIds::new(Keys::generate()),
        Config::builder()
            .store_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let router = manual_routes().layer(SessionLayer::new(manager).manual_commit());
    let server = TestServer::start(router).await;
    let failed = server.post("/handle-failure", None).await;
    assert_eq!(failed.status(), StatusCode::OK);
    assert!(failed.headers().get(SET_COOKIE).is_none());
    assert_eq!(failed.text().await.unwrap(), "handled: unavailable=true");

    // A dropped write, seen by the handler: its answer stands (no 409), the cookie is cleared.
    // The same without manual mode: a handler may commit early, and the layer does not
    // commit again.
    let store = Arc::new(MemoryStore::new());
    for layer in [
        SessionLayer::new(SessionManager::new(
            store.clone(),
            ids(Keys::generate()),
            Config::default(),
        )),
        SessionLayer::new(SessionManager::new(
            store.clone(),
            ids(Keys::generate()),
            Config::default(),
        ))
        .manual_commit(),
    ] {
        let server = TestServer::start(manual_routes().layer(layer)).await;
        let cookie = issued_cookie(&server.post("/commit", None).await);
        assert!(store.delete(&store_key_of(&cookie)).await.unwrap());
        let dropped = server.post("/handle-failure", Some(&cookie)).await;
        assert_eq!(dropped.status(), StatusCode::OK);
        assert_eq!(
            session_cookie_changes(&dropped),
            vec![CookieChange::Removed]
        );
        assert_eq!(dropped.text().await.unwrap(), "Dropped");
        assert!(store.is_empty());
    }
}

/// A cookie value signed with `keys`, for a session that a different store holds.
async fn signed_cookie(keys: &Keys) -> String {
    let manager = SessionManager::new(MemoryStore::new(), ids(keys.clone()), Config::default());
    let session = manager.start(&http::HeaderMap::new(), None);
    session.insert("started", true).unwrap();
    let mut headers = http::HeaderMap::new();
    session.finish().await.unwrap().apply_to(&mut headers);
    let line = headers[SET_COOKIE].to_str().unwrap();
    let pair = line.split(';').next().unwrap();
    pair.strip_prefix(&format!("{COOKIE_NAME}="))
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_store_answers_503() {
    let keys = Keys::generate();
    let cookie = signed_cookie(&keys).await;
    let manager = SessionManager::new(
        HangingStore,
        SignedIds::new(keys),
        Config::builder()
            .store_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let server = TestServer::start(app(manager)).await;

    // The handler's read times out and the handler returns the error.
    let read = server.get("/read", Some(&cookie)).await;
    assert_eq!(read.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(session_cookie_changes(&read), vec![]);
    assert_eq!(read.text().await.unwrap(), "session store unavailable");

    // The handler succeeds but the commit after it times out.
    let write = server.post("/write", None).await;
    assert_eq!(write.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(session_cookie_changes(&write), vec![]);
    assert_eq!(write.text().await.unwrap(), "session store unavailable");

    // A handler that never touches the session does not notice the store.
    let untouched = server.get("/untouched", Some(&cookie)).await;
    assert_eq!(untouched.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_session_failures_answer_500() {
    let (router, _store) = memory_app();
    let server = TestServer::start(router).await;
    let cookie = issued_cookie(&server.post("/start", None).await);
    let not_a_number = server.post("/increment?k=started", Some(&cookie)).await;
    assert_eq!(not_a_number.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(not_a_number.text().await.unwrap(), "session error");

    let manager =
        SessionManager::client_side(SealedCookies::new(Keys::generate()), Config::default());
    let server = TestServer::start(app(manager)).await;
    let too_big = server.post("/big", None).await;
    assert_eq!(too_big.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(session_cookie_changes(&too_big), vec![]);
    assert_eq!(too_big.text().await.unwrap(), "session error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_layer_answers_500() {
    let server = TestServer::start(routes()).await;
    let response = server.get("/read", None).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text().await.unwrap(), "session layer missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_responses_that_set_the_cookie_carry_cache_headers() {
    let (router, _store) = memory_app();
    let server = TestServer::start(router).await;

    let start = server.post("/start", None).await;
    let cookie = issued_cookie(&start);
    assert_eq!(start.headers()[CACHE_CONTROL], "no-store");
    assert!(start
        .headers()
        .get_all(VARY)
        .iter()
        .any(|value| value.to_str().unwrap().contains("Cookie")));
    let set_cookie = start.headers()[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }

    for (path, cookie) in [
        ("/untouched", None),
        ("/untouched", Some(cookie.as_str())),
        ("/read", None),
        ("/read", Some(cookie.as_str())),
    ] {
        let response = server.get(path, cookie).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers().get(SET_COOKIE).is_none(),
            "{path} with {cookie:?} set a cookie"
        );
        assert!(response.headers().get(CACHE_CONTROL).is_none());
        assert!(response.headers().get(VARY).is_none());
    }

    let logout = server.post("/logout", Some(&cookie)).await;
    assert_eq!(session_cookie_changes(&logout), vec![CookieChange::Removed]);
    assert_eq!(logout.headers()[CACHE_CONTROL], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_and_non_ascii_cookies_never_sign_the_user_out() {
    let (router, _store) = memory_app();
    let server = TestServer::start(router).await;
    let cookie = issued_cookie(&server.post("/start", None).await);
    let lines: [Vec<u8>; 4] = [
        format!("{COOKIE_NAME}=garbage; {COOKIE_NAME}={cookie}").into_bytes(),
        format!("{COOKIE_NAME}={cookie}; {COOKIE_NAME}=garbage").into_bytes(),
        [
            b"other=\xff\xfe; ".as_slice(),
            format!("{COOKIE_NAME}={cookie}").as_bytes(),
        ]
        .concat(),
        [
            format!("{COOKIE_NAME}={cookie}; ").as_bytes(),
            b"theme=caf\xc3\xa9".as_slice(),
        ]
        .concat(),
    ];
    for (index, line) in lines.iter().enumerate() {
        let path = format!("/set?k=k{index}");
        let response = server
            .send_cookie_line(reqwest::Method::POST, &path, line)
            .await;
        let shown = String::from_utf8_lossy(line);
        assert_eq!(response.status(), StatusCode::OK, "{shown}");
        assert_eq!(session_cookie_changes(&response), vec![], "{shown}");
    }
    let data: Value = server
        .get("/data", Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        data["data"],
        json!({"started": true, "k0": true, "k1": true, "k2": true, "k3": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_without_a_session_cookie_clears_nothing() {
    let (router, _store) = memory_app();
    let server = TestServer::start(router).await;
    // A cross-site form posting to /logout: the browser sends no SameSite=Lax cookie.
    let response = server.post("/logout", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(SET_COOKIE).is_none(), "{response:?}");
    assert!(response.headers().get(CACHE_CONTROL).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_cookie_is_never_cleared() {
    let (router, _store) = memory_app();
    let server = TestServer::start(router).await;
    let cookie = issued_cookie(&server.post("/start", None).await);
    let (encoded, _signature) = cookie.split_once('.').unwrap();
    let badly_signed = format!("{encoded}.{}", "A".repeat(43));
    // Malformed, badly signed, or planted by a sibling subdomain: not this server's to clear,
    // whether the handler reads the session or logs out.
    for refused in ["garbage", badly_signed.as_str()] {
        for (method, path) in [
            (reqwest::Method::GET, "/read"),
            (reqwest::Method::POST, "/logout"),
        ] {
            let response = server.send(method, path, Some(refused)).await;
            assert_eq!(response.status(), StatusCode::OK, "{path} with {refused}");
            assert!(
                response.headers().get(SET_COOKIE).is_none(),
                "{path} with {refused}: {response:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_calls_per_request() {
    let store = CountingStore::new(MemoryStore::new());
    let manager = SessionManager::new(store.clone(), ids(Keys::generate()), Config::default());
    let server = TestServer::start(app(manager)).await;
    let cookie = issued_cookie(&server.post("/start", None).await);
    assert_eq!(store.counts().create, 1);

    let cases: [(reqwest::Method, &str, Option<&str>, [u64; 4]); 7] = [
        // [load, update, increment, total]
        (reqwest::Method::GET, "/untouched", None, [0, 0, 0, 0]),
        (
            reqwest::Method::GET,
            "/untouched",
            Some(&cookie),
            [0, 0, 0, 0],
        ),
        (reqwest::Method::GET, "/read", None, [0, 0, 0, 0]),
        (reqwest::Method::GET, "/read", Some(&cookie), [1, 0, 0, 1]),
        (
            reqwest::Method::POST,
            "/read-write",
            Some(&cookie),
            [1, 1, 0, 2],
        ),
        (reqwest::Method::POST, "/write", Some(&cookie), [0, 1, 0, 1]),
        (
            reqwest::Method::POST,
            "/increment",
            Some(&cookie),
            [0, 0, 1, 1],
        ),
    ];
    for (method, path, cookie, [load, update, increment, total]) in cases {
        store.reset();
        let response = server.send(method, path, cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let counts = store.counts();
        let seen = [counts.load, counts.update, counts.increment, counts.total()];
        assert_eq!(
            seen,
            [load, update, increment, total],
            "{path} with cookie {}: {counts:?}",
            cookie.is_some()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_reaches_the_device_record() {
    let store = Arc::new(MemoryStore::new());
    let manager = SessionManager::new(
        store.clone(),
        SignedIds::new(Keys::generate()),
        Config::builder().record_ip(true).build().unwrap(),
    );
    let server = TestServer::start(app(manager)).await;
    let response = server.post("/login", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let sessions = store.list_user_sessions("alice", now()).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].device.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(sessions[0].key, store_key_of(&issued_cookie(&response)));
}

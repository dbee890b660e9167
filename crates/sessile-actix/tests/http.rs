//! The middleware over real HTTP on loopback: laziness, store calls per request, headers,
//! concurrency, malformed cookies, timeouts and error statuses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sessile::testkit::{CountingStore, HangingStore};
use sessile::{Config, Keys, MemoryStore, SealedCookies, SessionManager, SignedIds, Store};
use sessile_actix::{Error, Session, SessionMiddleware};
use tokio::task::JoinSet;

/// The default session cookie name (the tests send cookies by hand, so `Secure` stays on).
const COOKIE_NAME: &str = "__Host-id";

/// An actix-web server on a loopback port, in its own thread and actix system, with a client.
struct TestServer {
    address: SocketAddr,
    handle: ServerHandle,
    client: reqwest::Client,
}

impl TestServer {
    fn start(middleware: Option<SessionMiddleware>) -> Self {
        let (started, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(actix_web::middleware::Condition::new(
                            middleware.is_some(),
                            middleware.clone().unwrap_or_else(|| {
                                SessionMiddleware::new(SessionManager::new(
                                    MemoryStore::new(),
                                    SignedIds::new(Keys::generate()),
                                    Config::default(),
                                ))
                            }),
                        ))
                        .configure(routes)
                })
                .workers(2)
                .bind(("127.0.0.1", 0))
                .expect("bind an ephemeral loopback port");
                let address = server.addrs()[0];
                let server = server.run();
                started.send((address, server.handle())).unwrap();
                server.await.expect("the test server runs");
            });
        });
        let (address, handle) = address.recv().expect("the server thread starts");
        Self {
            address,
            handle,
            client: reqwest::Client::new(),
        }
    }

    fn with(manager: SessionManager) -> Self {
        Self::start(Some(SessionMiddleware::new(manager)))
    }

    async fn send(&self, method: Method, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.address));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, format!("{COOKIE_NAME}={cookie}"));
        }
        request.send().await.unwrap()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send(Method::GET, path, cookie).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send(Method::POST, path, cookie).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Sends the stop command at once; the server's thread ends with its system.
        drop(self.handle.stop(false));
    }
}

/// Routes that exercise one session operation each.
fn routes(config: &mut web::ServiceConfig) {
    async fn start(session: Session) -> Result<&'static str, Error> {
        session.insert("started", true)?;
        Ok("started")
    }
    async fn set(
        session: Session,
        query: web::Query<HashMap<String, String>>,
    ) -> Result<&'static str, Error> {
        let key = query.get("k").map(String::as_str).unwrap_or("unnamed");
        session.insert(key, true)?;
        Ok("set")
    }
    async fn data(session: Session) -> Result<HttpResponse, Error> {
        Ok(HttpResponse::Ok().json(json!({
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
        query: web::Query<HashMap<String, String>>,
    ) -> Result<String, Error> {
        let key = query.get("k").map(String::as_str).unwrap_or("n");
        Ok(session.increment(key, 1).await?.to_string())
    }
    async fn commit(session: Session) -> Result<String, Error> {
        session.insert("committed", true)?;
        Ok(format!("{:?}", session.commit().await?))
    }
    async fn logout(session: Session) -> &'static str {
        session.destroy();
        "signed out"
    }
    async fn big(session: Session) -> Result<&'static str, Error> {
        session.insert("big", "x".repeat(8_000))?;
        Ok("too big for a cookie")
    }
    config
        .route("/start", web::post().to(start))
        .route("/set", web::post().to(set))
        .route("/data", web::get().to(data))
        .route("/read", web::get().to(read))
        .route("/read-write", web::post().to(read_write))
        .route("/write", web::post().to(write))
        .route("/increment", web::post().to(increment))
        .route("/commit", web::post().to(commit))
        .route("/logout", web::post().to(logout))
        .route("/big", web::post().to(big))
        .route("/untouched", web::get().to(|| async { "untouched" }));
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

fn counting_server() -> (TestServer, CountingStore<MemoryStore>) {
    let store = CountingStore::new(MemoryStore::new());
    let manager = SessionManager::new(
        store.clone(),
        SignedIds::new(Keys::generate()),
        Config::default(),
    );
    (TestServer::with(manager), store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_calls_per_request() {
    let (server, store) = counting_server();
    let cookie = issued_cookie(&server.post("/start", None).await);
    assert_eq!(store.counts().create, 1);

    let cases: [(Method, &str, Option<&str>, [u64; 4]); 7] = [
        // [load, update, increment, total]
        (Method::GET, "/untouched", None, [0, 0, 0, 0]),
        (Method::GET, "/untouched", Some(&cookie), [0, 0, 0, 0]),
        (Method::GET, "/read", None, [0, 0, 0, 0]),
        (Method::GET, "/read", Some(&cookie), [1, 0, 0, 1]),
        (Method::POST, "/read-write", Some(&cookie), [1, 1, 0, 2]),
        (Method::POST, "/write", Some(&cookie), [0, 1, 0, 1]),
        (Method::POST, "/increment", Some(&cookie), [0, 0, 1, 1]),
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
async fn only_responses_that_set_the_cookie_carry_cache_headers() {
    let (server, _store) = counting_server();

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

    for (method, path) in [
        (Method::GET, "/untouched"),
        (Method::GET, "/read"),
        (Method::POST, "/write"),
    ] {
        let response = server.send(method, path, Some(&cookie)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(session_cookie_changes(&response), vec![], "{path}");
        assert!(!response.headers().contains_key(CACHE_CONTROL), "{path}");
        assert!(!response.headers().contains_key(VARY), "{path}");
    }

    let logout = server.post("/logout", Some(&cookie)).await;
    assert_eq!(session_cookie_changes(&logout), vec![CookieChange::Removed]);
    assert_eq!(logout.headers()[CACHE_CONTROL], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_of_different_keys_all_persist() {
    let (server, _store) = counting_server();
    let server = Arc::new(server);
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
    let (server, _store) = counting_server();
    let server = Arc::new(server);
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
async fn malformed_cookies_get_a_fresh_session_without_a_store_call() {
    let (server, store) = counting_server();
    let valid = issued_cookie(&server.post("/start", None).await);
    let (id, _signature) = valid.split_once('.').unwrap();
    let badly_signed = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for cookie in ["garbage", "", "a.b.c", &badly_signed] {
        store.reset();
        let read = server.get("/data", Some(cookie)).await;
        assert_eq!(read.status(), StatusCode::OK, "{cookie:?}");
        let body: Value = read.json().await.unwrap();
        assert_eq!(body["data"], json!({}), "{cookie:?}");
        assert_eq!(store.counts().total(), 0, "{cookie:?}");

        let write = server.post("/start", Some(cookie)).await;
        assert_eq!(write.status(), StatusCode::OK, "{cookie:?}");
        assert_ne!(issued_cookie(&write), valid, "{cookie:?}");
        let counts = store.counts();
        assert_eq!([counts.load, counts.create], [0, 1], "{cookie:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_store_answers_503() {
    let keys = Keys::generate();
    let cookie = {
        let manager = SessionManager::new(
            MemoryStore::new(),
            SignedIds::new(keys.clone()),
            Config::default(),
        );
        let session = manager.start(&http::HeaderMap::new(), None);
        session.insert("started", true).unwrap();
        let headers = session.finish().await.unwrap();
        let line = headers.headers[0].1.to_str().unwrap().to_owned();
        let pair = line.split(';').next().unwrap();
        pair.strip_prefix(&format!("{COOKIE_NAME}="))
            .unwrap()
            .to_owned()
    };
    let manager = SessionManager::new(
        HangingStore,
        SignedIds::new(keys),
        Config::builder()
            .store_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let server = TestServer::with(manager);

    // The handler's read times out and the handler returns the error.
    let read = server.get("/read", Some(&cookie)).await;
    assert_eq!(read.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(session_cookie_changes(&read), vec![]);
    assert_eq!(read.headers()[CACHE_CONTROL], "no-store");
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
    let (server, _store) = counting_server();
    let cookie = issued_cookie(&server.post("/start", None).await);
    // `started` holds `true`, which no increment can add to.
    let not_a_number = server.post("/increment?k=started", Some(&cookie)).await;
    assert_eq!(not_a_number.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(not_a_number.text().await.unwrap(), "session error");

    let manager =
        SessionManager::client_side(SealedCookies::new(Keys::generate()), Config::default());
    let server = TestServer::with(manager);
    let too_big = server.post("/big", None).await;
    assert_eq!(too_big.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(session_cookie_changes(&too_big), vec![]);
    assert_eq!(too_big.text().await.unwrap(), "session error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_middleware_answers_500() {
    let server = TestServer::start(None);
    let response = server.get("/read", None).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text().await.unwrap(), "session middleware missing");
}

fn store_key_of(cookie: &str) -> sessile::StoreKey {
    let (encoded, _signature) = cookie.split_once('.').unwrap();
    sessile::SessionId::decode(encoded).unwrap().store_key()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_by_a_logout_elsewhere_is_not_answered_as_a_success() {
    let store = Arc::new(MemoryStore::new());
    let manager = SessionManager::new(
        store.clone(),
        SignedIds::new(Keys::generate()),
        Config::default(),
    );
    let revoke = |cookie: &str| {
        let store = store.clone();
        let key = store_key_of(cookie);
        async move { assert!(store.delete(&key).await.unwrap()) }
    };

    // A write without a read, to a session revoked before it arrives: 409, cookie cleared,
    // nothing stored.
    let server = TestServer::with(manager.clone());
    let cookie = issued_cookie(&server.post("/start", None).await);
    revoke(&cookie).await;
    let write = server.post("/write", Some(&cookie)).await;
    assert_eq!(write.status(), StatusCode::CONFLICT);
    assert_eq!(session_cookie_changes(&write), vec![CookieChange::Removed]);
    assert_eq!(write.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(write.text().await.unwrap(), "session ended");
    assert!(store.is_empty(), "the write recreated nothing");

    // `Gone` from an increment, returned by a handler with `?`, is answered the same way.
    let gone = actix_web::ResponseError::error_response(&Error(sessile::SessionError::Gone));
    assert_eq!(gone.status().as_u16(), 409);

    // The app's own answer instead of the default: here the handler's response, unchanged.
    let keep = SessionMiddleware::new(manager).on_dropped_write(|response| response);
    let server = TestServer::start(Some(keep));
    let cookie = issued_cookie(&server.post("/start", None).await);
    revoke(&cookie).await;
    let write = server.post("/write", Some(&cookie)).await;
    assert_eq!(write.status(), StatusCode::OK);
    assert_eq!(session_cookie_changes(&write), vec![CookieChange::Removed]);
    assert_eq!(write.text().await.unwrap(), "ok");
    assert!(store.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_commit_stores_only_what_the_handler_commits() {
    let store = CountingStore::new(MemoryStore::new());
    let manager = SessionManager::new(
        store.clone(),
        SignedIds::new(Keys::generate()),
        Config::default(),
    );
    let server = TestServer::start(Some(SessionMiddleware::new(manager).manual_commit()));

    let not_committed = server.post("/start", None).await;
    assert_eq!(not_committed.status(), StatusCode::OK);
    assert_eq!(session_cookie_changes(&not_committed), vec![]);
    assert_eq!(store.counts().total(), 0);

    let committed = server.post("/commit", None).await;
    assert_eq!(committed.status(), StatusCode::OK);
    assert_eq!(committed.headers()[CACHE_CONTROL], "no-store");
    let cookie = issued_cookie(&committed);
    assert_eq!(committed.text().await.unwrap(), "Saved");
    assert_eq!(store.counts().create, 1);
    let body: Value = server
        .get("/data", Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"], json!({"committed": true}));
}

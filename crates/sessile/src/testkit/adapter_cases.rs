//! The adapter HTTP suite: what every framework adapter guarantees over real loopback HTTP,
//! whatever the framework. Run it with [`crate::adapter_http_suite!`]; each case is a `#[test]`
//! named after its function here.
//!
//! The adapter's test serves a small fixed contract with its own routing, middleware and
//! extractor: `GET /untouched` answers `untouched` without touching the session, and every
//! other path goes to [`Contract::respond`] with the request's session, its `Err` answered
//! through the adapter's error type. The suite builds the [`SessionManager`] of each case (a
//! counting, hanging or client-side store) and hands it to the adapter's serve function.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;

use crate::limit::LimitPolicy;
use crate::testkit::{CountingStore, HangingStore};
use crate::{
    Config, Keys, MemoryStore, SealedCookies, Session, SessionError, SessionId, SessionManager,
    SignedIds, Store, StoreKey, Timestamp,
};

/// The default session cookie name (the suite sends cookies by hand, so `Secure` stays on).
pub const COOKIE_NAME: &str = "__Host-id";
/// How many writers the logout race holds in flight.
const SLOW_REQUESTS: usize = 50;

/// The routes every adapter's test app serves; cloned into each request's handler.
#[derive(Clone)]
pub struct Contract {
    /// Every `/slow` request has loaded its session once all of them and the case meet here.
    loaded: Arc<Barrier>,
    /// `/slow` requests write only after the case opens this.
    release: Arc<Semaphore>,
}

impl Default for Contract {
    fn default() -> Self {
        Self::new()
    }
}

impl Contract {
    /// The contract's routes for one app (the suite makes one per case; an adapter's own tests
    /// can serve it too).
    pub fn new() -> Self {
        Self {
            loaded: Arc::new(Barrier::new(SLOW_REQUESTS + 1)),
            release: Arc::new(Semaphore::new(0)),
        }
    }

    /// Answers `path_and_query` (`/increment?k=n`) with `session`: the body of a 200, or the
    /// session error the adapter turns into its 503/409/500.
    ///
    /// # Panics
    ///
    /// On a path outside the contract: the suite never sends one.
    pub async fn respond(
        &self,
        path_and_query: &str,
        session: &Session,
    ) -> Result<String, SessionError> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let key = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("k="))
            .unwrap_or("n");
        match path {
            "/start" => session.insert("started", true).map(|()| "started".into()),
            "/set" => session.insert(key, true).map(|()| "set".into()),
            "/data" => Ok(
                json!({"user": session.user().await?, "data": session.data().await?}).to_string(),
            ),
            "/read" => Ok(format!("{:?}", session.get::<bool>("started").await?)),
            "/read-write" => {
                session.get::<bool>("started").await?;
                session.insert("written", true).map(|()| "ok".into())
            }
            "/write" => session.insert("written", true).map(|()| "ok".into()),
            "/increment" => Ok(session.increment(key, 1).await?.to_string()),
            "/login" => {
                session.user().await?;
                session.rotate_id();
                session.set_user(Some("alice"));
                Ok("signed in".into())
            }
            "/logout" => {
                session.destroy();
                Ok("signed out".into())
            }
            "/big" => session
                .insert("big", "x".repeat(8_000))
                .map(|()| "too big for a cookie".into()),
            "/slow" => {
                let user = session.user().await;
                // Meet the case even on failure, so a broken load fails it instead of hanging.
                self.loaded.wait().await;
                self.release
                    .acquire()
                    .await
                    .expect("the semaphore stays open")
                    .forget();
                if user?.as_deref() != Some("alice") {
                    return Ok("did not see the live session".into());
                }
                session.insert("late", true).map(|()| "wrote late".into())
            }
            other => panic!("{other} is not a route of the adapter HTTP contract"),
        }
    }
}

/// An adapter's app running on a loopback port, stopped when dropped.
pub struct TestApp {
    base: String,
    _running: Box<dyn Send + Sync>,
}

impl TestApp {
    /// The app listening on `address`; `running` (a server handle, a task guard) is dropped
    /// with it and should stop the server then.
    pub fn new(address: SocketAddr, running: impl Send + Sync + 'static) -> Self {
        Self {
            base: format!("http://{address}"),
            _running: Box::new(running),
        }
    }
}

/// A client of one [`TestApp`].
struct Client {
    app: TestApp,
    http: reqwest::Client,
}

impl Client {
    async fn start<F, Fut>(serve: &F, manager: SessionManager) -> (Self, Contract)
    where
        F: Fn(SessionManager, Contract) -> Fut,
        Fut: Future<Output = TestApp>,
    {
        let contract = Contract::new();
        let app = serve(manager, contract.clone()).await;
        let http = reqwest::Client::new();
        (Self { app, http }, contract)
    }

    async fn send(&self, method: Method, path: &str, cookie: Option<&str>) -> Response {
        let line = cookie.map(|cookie| format!("{COOKIE_NAME}={cookie}").into_bytes());
        self.send_cookie_line(method, path, line.as_deref()).await
    }

    /// A request carrying `line` as its whole `Cookie` header, bytes as given.
    async fn send_cookie_line(&self, method: Method, path: &str, line: Option<&[u8]>) -> Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.app.base));
        if let Some(line) = line {
            let value = reqwest::header::HeaderValue::from_bytes(line).expect("a header value");
            request = request.header(COOKIE, value);
        }
        request.send().await.expect("the app answers")
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send(Method::GET, path, cookie).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send(Method::POST, path, cookie).await
    }

    async fn data(&self, cookie: &str) -> Value {
        let text = self.get("/data", Some(cookie)).await.text().await.unwrap();
        serde_json::from_str(&text).expect("/data answers JSON")
    }
}

/// What a response did to the session cookie (helpers the adapters' own HTTP tests share).
#[derive(Debug, PartialEq, Eq)]
pub enum CookieChange {
    /// A cookie with this value.
    Set(String),
    /// A removal (empty, `Max-Age=0`).
    Removed,
}

/// What each `Set-Cookie` line for [`COOKIE_NAME`] does.
///
/// # Panics
///
/// On a line that is not text or has no `=`, and on a removal that does not expire at once.
pub fn session_cookie_changes(response: &Response) -> Vec<CookieChange> {
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

/// The one cookie value the response hands out.
///
/// # Panics
///
/// Unless the response sets exactly one session cookie, with a value.
pub fn issued_cookie(response: &Response) -> String {
    match session_cookie_changes(response).as_slice() {
        [CookieChange::Set(value)] => value.clone(),
        other => panic!("expected one session cookie with a value, got {other:?}"),
    }
}

/// POSTs `chunks` to `path` as a chunked urlencoded form with `cookie` as the whole `Cookie`
/// header, over a raw connection (HTTP clients send a known length when they can), and returns
/// the response's status line.
///
/// # Panics
///
/// If the server cannot be reached or the request cannot be written.
pub async fn chunked_form_post(
    address: SocketAddr,
    path: &str,
    cookie: &str,
    chunks: &[&[u8]],
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    // The server may answer and close before reading every chunk; what it sent is enough.
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    response.lines().next().unwrap_or_default().to_owned()
}

/// The store key of a signed id cookie's value (`<id>.<signature>`).
///
/// # Panics
///
/// On a value that is not a signed id.
pub fn store_key_of(cookie: &str) -> StoreKey {
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

fn counting_manager() -> (SessionManager, CountingStore<MemoryStore>) {
    let store = CountingStore::new(MemoryStore::new());
    let ids = SignedIds::new(Keys::generate());
    (
        SessionManager::new(store.clone(), ids, Config::default()),
        store,
    )
}

/// Store calls per request: untouched 0, read 1 load, write 1 update (a delta needs no load),
/// read-and-write 1 load + 1 update, increment 1.
pub async fn store_calls_per_request<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let (manager, store) = counting_manager();
    let (app, _) = Client::start(&serve, manager).await;
    let cookie = issued_cookie(&app.post("/start", None).await);
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
        let response = app.send(method, path, cookie).await;
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

/// `Cache-Control: no-store` and `Vary: Cookie` come with a cookie, and only with one.
pub async fn only_responses_that_set_the_cookie_carry_cache_headers<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let (app, _) = Client::start(&serve, counting_manager().0).await;
    let start = app.post("/start", None).await;
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

    for (method, path, cookie) in [
        (Method::GET, "/untouched", None),
        (Method::GET, "/untouched", Some(cookie.as_str())),
        (Method::GET, "/read", None),
        (Method::GET, "/read", Some(cookie.as_str())),
        (Method::POST, "/write", Some(cookie.as_str())),
    ] {
        let response = app.send(method, path, cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(session_cookie_changes(&response), vec![], "{path}");
        assert!(response.headers().get(CACHE_CONTROL).is_none(), "{path}");
        assert!(response.headers().get(VARY).is_none(), "{path}");
    }

    let logout = app.post("/logout", Some(&cookie)).await;
    assert_eq!(session_cookie_changes(&logout), vec![CookieChange::Removed]);
    assert_eq!(logout.headers()[CACHE_CONTROL], "no-store");
}

/// 200 concurrent requests on one session, each setting a different key, keep 200 keys.
pub async fn concurrent_writes_of_different_keys_all_persist<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let (app, _) = Client::start(&serve, counting_manager().0).await;
    let app = Arc::new(app);
    let cookie = issued_cookie(&app.post("/start", None).await);

    let mut requests = JoinSet::new();
    for index in 0..200 {
        let app = app.clone();
        let cookie = cookie.clone();
        requests.spawn(async move {
            let response = app.post(&format!("/set?k=key{index}"), Some(&cookie)).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(session_cookie_changes(&response), vec![]);
        });
    }
    while let Some(done) = requests.join_next().await {
        done.unwrap();
    }

    let body = app.data(&cookie).await;
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

/// 200 concurrent increments of one session end at 200, each seeing its own total.
pub async fn concurrent_increments_add_up<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let (app, _) = Client::start(&serve, counting_manager().0).await;
    let app = Arc::new(app);
    let cookie = issued_cookie(&app.post("/start", None).await);

    let mut requests = JoinSet::new();
    for _ in 0..200 {
        let app = app.clone();
        let cookie = cookie.clone();
        requests.spawn(async move {
            let response = app.post("/increment", Some(&cookie)).await;
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
    assert_eq!(app.data(&cookie).await["data"]["n"], 200);
}

/// A logout while 50 slow writers are in flight stays logged out: every writer is answered
/// 409 with only a removal cookie, and no record comes back.
pub async fn logout_during_slow_writes_stays_logged_out<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let store = Arc::new(MemoryStore::new());
    let ids = SignedIds::new(Keys::generate());
    let manager = SessionManager::new(store.clone(), ids, Config::default());
    let (app, contract) = Client::start(&serve, manager).await;
    let app = Arc::new(app);

    let cookie = issued_cookie(&app.post("/login", None).await);
    let key = store_key_of(&cookie);
    assert!(store.load(&key, now()).await.unwrap().is_some());

    let mut slow_requests = JoinSet::new();
    for _ in 0..SLOW_REQUESTS {
        let app = app.clone();
        let cookie = cookie.clone();
        slow_requests.spawn(async move { app.post("/slow", Some(&cookie)).await });
    }
    contract.loaded.wait().await;

    let logout = app.post("/logout", Some(&cookie)).await;
    assert_eq!(logout.status(), StatusCode::OK);
    assert_eq!(session_cookie_changes(&logout), vec![CookieChange::Removed]);
    assert!(store.load(&key, now()).await.unwrap().is_none());

    contract.release.add_permits(SLOW_REQUESTS);
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
    assert_eq!(app.data(&cookie).await, json!({"user": null, "data": {}}));
}

/// Malformed and badly signed cookies are a fresh session, found without a store call.
pub async fn malformed_cookies_get_a_fresh_session_without_a_store_call<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let (manager, store) = counting_manager();
    let (app, _) = Client::start(&serve, manager).await;
    let valid = issued_cookie(&app.post("/start", None).await);
    let (id, _signature) = valid.split_once('.').unwrap();
    let badly_signed = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for cookie in ["garbage", "", "a.b.c", &badly_signed] {
        store.reset();
        assert_eq!(app.data(cookie).await["data"], json!({}), "{cookie:?}");
        assert_eq!(store.counts().total(), 0, "{cookie:?}");

        let write = app.post("/start", Some(cookie)).await;
        assert_eq!(write.status(), StatusCode::OK, "{cookie:?}");
        assert_ne!(issued_cookie(&write), valid, "{cookie:?}");
        let counts = store.counts();
        assert_eq!([counts.load, counts.create], [0, 1], "{cookie:?}");
    }
}

/// A planted duplicate cookie or non-ASCII bytes elsewhere in the `Cookie` line never sign the
/// user out: the valid cookie is found and nothing is cleared.
pub async fn planted_and_non_ascii_cookies_never_sign_the_user_out<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let (app, _) = Client::start(&serve, counting_manager().0).await;
    let cookie = issued_cookie(&app.post("/start", None).await);
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
        let response = app.send_cookie_line(Method::POST, &path, Some(line)).await;
        let shown = String::from_utf8_lossy(line);
        assert_eq!(response.status(), StatusCode::OK, "{shown}");
        assert_eq!(session_cookie_changes(&response), vec![], "{shown}");
    }
    assert_eq!(
        app.data(&cookie).await["data"],
        json!({"started": true, "k0": true, "k1": true, "k2": true, "k3": true})
    );
}

/// A store that does not answer within the store timeout gives 503 "session store
/// unavailable", from a handler's read and from the commit after a handler; a handler that
/// never touches the session does not notice.
pub async fn a_hanging_store_answers_503<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let keys = Keys::generate();
    let cookie = {
        let ids = SignedIds::new(keys.clone());
        let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
        let session = manager.start(&http::HeaderMap::new(), None);
        session.insert("started", true).unwrap();
        let headers = session.finish().await.unwrap();
        let line = headers.headers[0].1.to_str().unwrap().to_owned();
        let pair = line.split(';').next().unwrap().to_owned();
        pair.strip_prefix(&format!("{COOKIE_NAME}="))
            .unwrap()
            .to_owned()
    };
    let config = Config::builder()
        .store_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let manager = SessionManager::new(HangingStore, SignedIds::new(keys), config);
    let (app, _) = Client::start(&serve, manager).await;

    // The handler's read times out and the handler returns the error.
    let read = app.get("/read", Some(&cookie)).await;
    assert_eq!(read.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(session_cookie_changes(&read), vec![]);
    assert_eq!(read.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(read.text().await.unwrap(), "session store unavailable");

    // The handler succeeds but the commit after it times out.
    let write = app.post("/write", None).await;
    assert_eq!(write.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(session_cookie_changes(&write), vec![]);
    assert_eq!(write.text().await.unwrap(), "session store unavailable");

    let untouched = app.get("/untouched", Some(&cookie)).await;
    assert_eq!(untouched.status(), StatusCode::OK);
}

/// Session failures other than an unavailable store are 500 "session error", from a
/// handler's operation and from the commit.
pub async fn other_session_failures_answer_500<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let (app, _) = Client::start(&serve, counting_manager().0).await;
    let cookie = issued_cookie(&app.post("/start", None).await);
    // `started` holds `true`, which no increment can add to.
    let not_a_number = app.post("/increment?k=started", Some(&cookie)).await;
    assert_eq!(not_a_number.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(not_a_number.text().await.unwrap(), "session error");

    let cookies = SealedCookies::new(Keys::generate());
    let manager = SessionManager::client_side(cookies, Config::default());
    let (app, _) = Client::start(&serve, manager).await;
    let too_big = app.post("/big", None).await;
    assert_eq!(too_big.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(session_cookie_changes(&too_big), vec![]);
    assert_eq!(too_big.text().await.unwrap(), "session error");
}

/// With `record_ip`, the client's address reaches the session's device record.
pub async fn the_client_address_reaches_the_device_record<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let store = Arc::new(MemoryStore::new());
    let config = Config::builder().record_ip(true).build().unwrap();
    let manager = SessionManager::new(store.clone(), SignedIds::new(Keys::generate()), config);
    let (app, _) = Client::start(&serve, manager).await;
    let response = app.post("/login", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let sessions = store
        .list_user_sessions("alice", now(), None, 10)
        .await
        .unwrap()
        .sessions;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].device.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(sessions[0].key, store_key_of(&issued_cookie(&response)));
}

/// A commit that would take a session over its size limit (here 4 KiB; `/big` writes 8,000
/// bytes) answers 413 "session too large", stores nothing and sets no cookie.
pub async fn a_session_over_its_size_limit_answers_413<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let store = Arc::new(MemoryStore::new());
    let config = Config::builder()
        .max_session_bytes(Some(4 * 1024))
        .build()
        .unwrap();
    let manager = SessionManager::new(store.clone(), SignedIds::new(Keys::generate()), config);
    let (app, _) = Client::start(&serve, manager).await;
    let too_big = app.post("/big", None).await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(session_cookie_changes(&too_big), vec![]);
    assert_eq!(too_big.text().await.unwrap(), SessionError::TOO_LARGE_BODY);
    assert!(store.is_empty(), "nothing was stored");
}

/// Under a per-user limit of one session: with `Refuse`, a second sign-in of the same user
/// answers 403 with [`SessionError::TOO_MANY_SESSIONS_BODY`], sets no cookie and stores
/// nothing, and the first browser stays signed in; with `EvictLeastRecentlyUsed`, it goes
/// through and the first browser's session is gone.
pub async fn a_sign_in_past_the_user_limit_is_refused_or_evicts<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    let signed_in_user = |body: String| -> Value {
        serde_json::from_str::<Value>(&body).expect("/data answers JSON")["user"].clone()
    };
    for policy in [LimitPolicy::Refuse, LimitPolicy::EvictLeastRecentlyUsed] {
        let store = Arc::new(MemoryStore::new());
        let config = Config::builder()
            .max_sessions_per_user(1, policy)
            .build()
            .unwrap();
        let manager = SessionManager::new(store.clone(), SignedIds::new(Keys::generate()), config);
        let (app, _) = Client::start(&serve, manager).await;
        let first = app.post("/login", None).await;
        assert_eq!(first.status(), StatusCode::OK);
        let first_cookie = issued_cookie(&first);

        let second = app.post("/login", None).await;
        let first_user = signed_in_user(
            app.get("/data", Some(&first_cookie))
                .await
                .text()
                .await
                .unwrap(),
        );
        match policy {
            LimitPolicy::Refuse => {
                assert_eq!(second.status(), StatusCode::FORBIDDEN);
                assert_eq!(session_cookie_changes(&second), vec![]);
                assert_eq!(
                    second.text().await.unwrap(),
                    SessionError::TOO_MANY_SESSIONS_BODY
                );
                assert_eq!(
                    first_user,
                    json!("alice"),
                    "the first browser stays signed in"
                );
            }
            _ => {
                assert_eq!(second.status(), StatusCode::OK);
                let second_cookie = issued_cookie(&second);
                assert_eq!(
                    first_user,
                    Value::Null,
                    "the least recently used is signed out"
                );
                let second_user = signed_in_user(
                    app.get("/data", Some(&second_cookie))
                        .await
                        .text()
                        .await
                        .unwrap(),
                );
                assert_eq!(second_user, json!("alice"));
            }
        }
        assert_eq!(store.len(), 1, "{policy:?}: one session is stored");
    }
}

/// With `clear_site_data_on_destroy`, the sign-out response carries
/// `Clear-Site-Data: "cookies"` beside the removal cookie; without it, and on other
/// responses, there is none.
pub async fn logout_clears_site_data_when_configured<F, Fut>(serve: F)
where
    F: Fn(SessionManager, Contract) -> Fut,
    Fut: Future<Output = TestApp>,
{
    for clear in [true, false] {
        let config = Config::builder()
            .clear_site_data_on_destroy(clear)
            .build()
            .unwrap();
        let manager =
            SessionManager::new(MemoryStore::new(), SignedIds::new(Keys::generate()), config);
        let (app, _) = Client::start(&serve, manager).await;
        let login = app.post("/login", None).await;
        assert!(login.headers().get("clear-site-data").is_none());
        let cookie = issued_cookie(&login);
        let logout = app.post("/logout", Some(&cookie)).await;
        assert_eq!(logout.status(), StatusCode::OK);
        assert_eq!(session_cookie_changes(&logout), vec![CookieChange::Removed]);
        let header = logout
            .headers()
            .get("clear-site-data")
            .map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(
            header,
            clear.then(|| "\"cookies\"".to_owned()),
            "clear: {clear}"
        );
    }
}

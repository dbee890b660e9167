//! The layer over real HTTP on loopback: the adapter HTTP suite of `sessile::testkit`
//! (concurrency, logout races, timeouts, headers, malformed cookies, store calls per request;
//! every case a test named after it), then what only this adapter has: its options, a handler's
//! own commit, refused cookies and its answer without the layer.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use axum::routing::{get, post};
use axum::Router;
use reqwest::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};
use sessile::testkit::adapter_cases::{
    issued_cookie, session_cookie_changes, store_key_of, Contract, CookieChange, TestApp,
    COOKIE_NAME,
};
use sessile::testkit::{CountingStore, HangingStore};
use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds, Store, Timestamp};
use sessile_axum::{Error, Session, SessionLayer};

sessile::adapter_http_suite!(serve);

async fn serve(manager: SessionManager, contract: Contract) -> TestApp {
    let contract_route = move |session: Session, uri: Uri| async move {
        let path = uri.path_and_query().map_or("/", |path| path.as_str());
        Ok::<_, Error>(contract.respond(path, &session).await?)
    };
    let router = Router::new()
        .route("/untouched", get(|| async { "untouched" }))
        .fallback(contract_route)
        .layer(SessionLayer::new(manager));
    let server = sessile_axum::testkit::TestServer::start(router).await;
    TestApp::new(server.address(), server)
}

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

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send(reqwest::Method::GET, path, cookie).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send(reqwest::Method::POST, path, cookie).await
    }
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
    async fn read(session: Session) -> Result<String, Error> {
        let started: Option<bool> = session.get("started").await?;
        Ok(format!("{started:?}"))
    }
    async fn write(session: Session) -> Result<&'static str, Error> {
        session.insert("written", true)?;
        Ok("ok")
    }
    async fn logout(session: Session) -> &'static str {
        session.destroy();
        "signed out"
    }
    Router::new()
        .route("/start", post(start))
        .route("/read", get(read))
        .route("/write", post(write))
        .route("/logout", post(logout))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_layer_answers_500() {
    let server = TestServer::start(routes()).await;
    let response = server.get("/read", None).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text().await.unwrap(), "session layer missing");
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

//! The middleware over real HTTP on loopback: the adapter HTTP suite of `sessile::testkit`
//! (every case a test named after it), then what only this adapter has: its options and its
//! answer without the middleware.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpServer};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sessile::csrf::Guard;
use sessile::testkit::adapter_cases::{
    chunked_form_post, issued_cookie, session_cookie_changes, store_key_of, Contract, CookieChange,
    TestApp, COOKIE_NAME,
};
use sessile::testkit::CountingStore;
use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds, Store};
use sessile_actix::csrf::{CsrfMiddleware, CsrfToken, REJECTED_BODY, TOO_LARGE_BODY};
use sessile_actix::{Error, Session, SessionMiddleware};

sessile::adapter_http_suite!(serve);

async fn serve(manager: SessionManager, contract: Contract) -> TestApp {
    let server = TestServer::start(Some(SessionMiddleware::new(manager)), None, contract);
    TestApp::new(server.address, server)
}

/// An actix-web server on a loopback port, in its own thread and actix system, with a client.
struct TestServer {
    address: SocketAddr,
    handle: ServerHandle,
    client: reqwest::Client,
}

impl TestServer {
    /// Serves the contract's routes, `/commit` and the CSRF routes, behind `middleware` and
    /// `csrf` (inside it) if there are.
    fn start(
        middleware: Option<SessionMiddleware>,
        csrf: Option<CsrfMiddleware>,
        contract: Contract,
    ) -> Self {
        let (started, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(actix_web::middleware::Condition::new(
                            csrf.is_some(),
                            csrf.clone().unwrap_or_default(),
                        ))
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
                        .app_data(web::Data::new(contract.clone()))
                        .route("/untouched", web::get().to(|| async { "untouched" }))
                        .route("/commit", web::post().to(commit))
                        .route("/form", web::get().to(form_page))
                        .route("/form", web::post().to(form_submit))
                        .route("/webhooks/in", web::post().to(|| async { "hooked" }))
                        .default_service(web::to(contract_route))
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

    fn with(middleware: SessionMiddleware) -> Self {
        Self::start(Some(middleware), None, Contract::new())
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

/// Every path but `/untouched` and `/commit`: the suite's contract.
async fn contract_route(
    session: Session,
    request: HttpRequest,
    contract: web::Data<Contract>,
) -> Result<String, Error> {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    Ok(contract.respond(path, &session).await?)
}

async fn form_page(CsrfToken(token): CsrfToken) -> String {
    token
}

/// Echoes the form the handler extracts, to show the CSRF check left the body intact.
async fn form_submit(form: web::Form<Vec<(String, String)>>) -> String {
    let fields: Vec<String> = form
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    fields.join("&")
}

async fn commit(session: Session) -> Result<String, Error> {
    session.insert("committed", true)?;
    Ok(format!("{:?}", session.commit().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_middleware_answers_500() {
    let server = TestServer::start(None, None, Contract::new());
    let response = server.get("/read", None).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text().await.unwrap(), "session middleware missing");
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
    let server = TestServer::with(SessionMiddleware::new(manager.clone()));
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
    let server = TestServer::with(keep);
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
    let server = TestServer::with(SessionMiddleware::new(manager).manual_commit());

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

const FORM: &str = "application/x-www-form-urlencoded";

fn csrf_server(guard: Guard) -> TestServer {
    let manager = SessionManager::new(
        MemoryStore::new(),
        SignedIds::new(Keys::generate()),
        Config::default(),
    );
    TestServer::start(
        Some(SessionMiddleware::new(manager)),
        Some(CsrfMiddleware::new(guard)),
        Contract::new(),
    )
}

impl TestServer {
    /// GETs the form page: its token and the session cookie it was issued for.
    async fn token(&self, cookie: Option<&str>) -> (String, String) {
        let page = self.get("/form", cookie).await;
        assert_eq!(page.status(), StatusCode::OK);
        let cookie = match cookie {
            Some(cookie) => cookie.to_owned(),
            None => issued_cookie(&page),
        };
        (page.text().await.unwrap(), cookie)
    }

    async fn submit(&self, cookie: &str, header_token: Option<&str>, form: &str) -> Response {
        let mut request = self
            .client
            .post(format!("http://{}/form", self.address))
            .header(COOKIE, format!("{COOKIE_NAME}={cookie}"))
            .header(CONTENT_TYPE, FORM)
            .body(form.to_owned());
        if let Some(token) = header_token {
            request = request.header("x-csrf-token", token);
        }
        request.send().await.unwrap()
    }
}

async fn assert_rejected(response: Response) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(response.text().await.unwrap(), REJECTED_BODY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_unsafe_methods_need_a_token_and_safe_ones_do_not() {
    let server = csrf_server(Guard::new());
    let (token, cookie) = server.token(None).await;
    assert_eq!(
        server.get("/read", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    assert_rejected(server.submit(&cookie, None, "a=1").await).await;
    assert_rejected(server.submit(&cookie, Some("forged"), "a=1").await).await;
    let accepted = server.submit(&cookie, Some(&token), "a=1").await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(accepted.text().await.unwrap(), "a=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_a_form_field_token_passes_and_the_handler_still_reads_the_form() {
    let server = csrf_server(Guard::new());
    let (token, cookie) = server.token(None).await;
    let body = format!("name=ada&_csrf={token}&x=%2B");
    let response = server.submit(&cookie, None, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        format!("name=ada&_csrf={token}&x=+")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_a_token_from_another_session_is_rejected() {
    let server = csrf_server(Guard::new());
    let (_, cookie) = server.token(None).await;
    let (other_token, _) = server.token(None).await;
    assert_rejected(server.submit(&cookie, Some(&other_token), "a=1").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_an_oversized_form_body_is_refused_with_413() {
    let server = csrf_server(Guard::new().with_body_limit(16));
    let (_, cookie) = server.token(None).await;
    let response = server
        .submit(&cookie, None, "padding=0123456789abcdef")
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.text().await.unwrap(), TOO_LARGE_BODY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_exempt_paths_pass_without_a_token() {
    let server = csrf_server(Guard::new().exempt_prefix("/webhooks/"));
    let hooked = server.post("/webhooks/in", None).await;
    assert_eq!(hooked.status(), StatusCode::OK);
    assert_eq!(hooked.text().await.unwrap(), "hooked");
    assert_rejected(server.post("/commit", None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_without_the_session_middleware_unsafe_requests_fail_loudly() {
    let server = TestServer::start(None, Some(CsrfMiddleware::default()), Contract::new());
    let response = server.post("/webhooks/in", None).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.text().await.unwrap(),
        sessile_actix::MISSING_MIDDLEWARE_BODY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_a_chunked_form_is_bounded_too() {
    let server = csrf_server(Guard::new().with_body_limit(1024));
    let (token, cookie) = server.token(None).await;
    let cookie = format!("{COOKIE_NAME}={cookie}");
    let field = format!("_csrf={token}&a=");
    let filler = vec![b'a'; 600];
    let chunks: [&[u8]; 3] = [field.as_bytes(), &filler, &filler];
    let status = chunked_form_post(server.address, "/form", &cookie, &chunks).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    let status = chunked_form_post(server.address, "/form", &cookie, &chunks[..2]).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
}

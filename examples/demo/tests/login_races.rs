//! The two login races seen from outside (issue 17), over real HTTP against the demo on SQLite,
//! with one browser's cookie jar: five simultaneous sign-ins, and a sign-in beside a background
//! `POST /api/count`. Before rotation grace, requests still carrying the pre-login id after one
//! of them rotated answered with a removal cookie or a new anonymous id, and whichever response
//! arrived last could sign the browser out or lose its count. Every round must end signed in,
//! with every count the server acknowledged in the signed-in session.

mod common;

use std::sync::{Arc, Mutex};

use reqwest::header::COOKIE;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sessile::{Config, SessionManager, Store};
use sessile_sql::SqliteStore;

use common::{client, csrf_token, ids, login_form, session_cookie, CookieChange, TempDb};

const ROUNDS: usize = 100;
const PARALLEL_LOGINS: usize = 5;

/// One browser: a client and the one session cookie its jar holds, updated by each response in
/// the order the responses arrive, as a browser's jar is.
#[derive(Clone)]
struct Browser {
    client: reqwest::Client,
    base: String,
    jar: Arc<Mutex<Option<String>>>,
}

impl Browser {
    fn new(base: String) -> Self {
        Self {
            client: client(),
            base,
            jar: Arc::default(),
        }
    }

    fn cookie(&self) -> Option<String> {
        self.jar.lock().unwrap().clone()
    }

    /// Sends a request with the jar's cookie as it is now, and files the response's cookie.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> (Response, Option<CookieChange>) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = self.cookie() {
            request = request.header(COOKIE, format!("id={cookie}"));
        }
        let response = build(request).send().await.unwrap();
        let change = session_cookie(&response);
        let mut jar = self.jar.lock().unwrap();
        match &change {
            Some(CookieChange::Set(value)) => *jar = Some(value.clone()),
            Some(CookieChange::Removed) => *jar = None,
            None => {}
        }
        (response, change)
    }

    async fn csrf_token(&self) -> String {
        let (response, _) = self.send(reqwest::Method::GET, "/api/csrf", |r| r).await;
        csrf_token(response).await
    }

    async fn login(&self, user: &str, token: &str) -> (StatusCode, Option<CookieChange>) {
        let form = login_form(user, token);
        let (response, change) = self
            .send(reqwest::Method::POST, "/login", |r| r.form(&form))
            .await;
        (response.status(), change)
    }

    async fn count(&self, token: &str) -> (StatusCode, Option<i64>, Option<CookieChange>) {
        let (response, change) = self
            .send(reqwest::Method::POST, "/api/count", |r| {
                r.header("x-csrf-token", token)
            })
            .await;
        let status = response.status();
        let count = if status == StatusCode::OK {
            let body: Value = response.json().await.unwrap();
            body["count"].as_i64()
        } else {
            None
        };
        (status, count, change)
    }

    /// The signed-in user and the session's data, as `GET /api/session` answers.
    async fn session(&self) -> (Option<String>, Value) {
        let (response, change) = self.send(reqwest::Method::GET, "/api/session", |r| r).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_ne!(change, Some(CookieChange::Removed));
        let body: Value = response.json().await.unwrap();
        (
            body["user"].as_str().map(str::to_owned),
            body["data"].clone(),
        )
    }
}

/// The demo on SQLite (a temporary file), as `main.rs` builds it, on a loopback port.
async fn demo() -> (sessile_axum::testkit::TestServer, TempDb) {
    let db = TempDb::new();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db.0).await.unwrap());
    let config = Config::builder().record_ip(true).build().unwrap();
    let manager = SessionManager::new(store, ids(), config);
    let server = sessile_axum::testkit::TestServer::start(sessile_demo::app(manager)).await;
    (server, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_simultaneous_logins_from_one_browser_end_signed_in() {
    let (server, _db) = demo().await;
    let mut refused = 0;
    for round in 0..ROUNDS {
        let browser = Browser::new(server.url(""));
        let token = browser.csrf_token().await;
        let user = format!("ada-{round}");
        let mut logins = tokio::task::JoinSet::new();
        for _ in 0..PARALLEL_LOGINS {
            let (browser, token, user) = (browser.clone(), token.clone(), user.clone());
            logins.spawn(async move { browser.login(&user, &token).await });
        }
        let mut issued = Vec::new();
        while let Some(joined) = logins.join_next().await {
            let (status, change) = joined.unwrap();
            match status {
                StatusCode::SEE_OTHER => {}
                // A login that arrived after another one signed in carries the pre-login
                // token, which sign-in renewed: refused, but never signing the browser out.
                StatusCode::FORBIDDEN => refused += 1,
                other => panic!("round {round}: login answered {other}"),
            }
            match change {
                Some(CookieChange::Set(value)) => issued.push(value),
                Some(CookieChange::Removed) => {
                    panic!("round {round}: a login answered with a removal cookie")
                }
                None => {}
            }
        }
        assert!(
            !issued.is_empty(),
            "round {round}: no login issued a cookie"
        );
        assert!(
            issued.iter().all(|value| *value == issued[0]),
            "round {round}: the logins handed the browser different ids: {issued:?}"
        );
        let (signed_in, _) = browser.session().await;
        assert_eq!(
            signed_in.as_deref(),
            Some(user.as_str()),
            "round {round}: the browser must end signed in"
        );
    }
    eprintln!(
        "{ROUNDS} rounds of {PARALLEL_LOGINS} simultaneous logins: all signed in; \
         {refused} logins refused for their pre-login CSRF token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_beside_a_background_count_ends_signed_in_and_loses_no_count() {
    let (server, _db) = demo().await;
    let (mut landed, mut cleared, mut refused) = (0, 0, 0);
    for round in 0..ROUNDS {
        let browser = Browser::new(server.url(""));
        let token = browser.csrf_token().await;
        let user = format!("grace-{round}");
        let login = {
            let (browser, token, user) = (browser.clone(), token.clone(), user.clone());
            tokio::spawn(async move { browser.login(&user, &token).await })
        };
        let count = {
            let (browser, token) = (browser.clone(), token.clone());
            tokio::spawn(async move { browser.count(&token).await })
        };
        let (login_status, login_cookie) = login.await.unwrap();
        let (count_status, count, count_cookie) = count.await.unwrap();
        assert_eq!(login_status, StatusCode::SEE_OTHER, "round {round}");
        let Some(CookieChange::Set(signed_in_id)) = login_cookie else {
            panic!("round {round}: the login issued no cookie: {login_cookie:?}");
        };
        let (user_now, data) = browser.session().await;
        assert_eq!(
            user_now.as_deref(),
            Some(user.as_str()),
            "round {round}: the browser must end signed in"
        );
        match (count_status, count_cookie) {
            (_, Some(CookieChange::Removed)) => {
                panic!("round {round}: the count answered with a removal cookie")
            }
            (_, Some(CookieChange::Set(value))) if value != signed_in_id => {
                panic!("round {round}: the count handed out another id than the login's")
            }
            // Landed in the signed-in session (through the old id's forward pointer): kept.
            (StatusCode::OK, Some(CookieChange::Set(_))) => {
                landed += 1;
                assert_eq!(
                    data["count"].as_i64(),
                    count,
                    "round {round}: the count the server acknowledged is lost"
                );
            }
            // Landed in the anonymous session before the sign-in rotated it: sign-in starts
            // clean (the demo clears the anonymous data), so it is gone by design.
            (StatusCode::OK, None) => {
                cleared += 1;
                assert_eq!(data.get("count"), None, "round {round}");
            }
            // Arrived after the sign-in renewed the CSRF secret: refused, nothing counted.
            (StatusCode::FORBIDDEN, _) => {
                refused += 1;
                assert_eq!(data.get("count"), None, "round {round}");
            }
            (other, _) => panic!("round {round}: the count answered {other}"),
        }
    }
    eprintln!(
        "{ROUNDS} rounds of a login beside a count: all signed in; count kept in the signed-in \
         session {landed}, counted before sign-in (cleared by it) {cleared}, refused for its \
         pre-login CSRF token {refused}"
    );
}

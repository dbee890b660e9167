//! The demo router over real HTTP on loopback, on SQLite (a temporary file) and in memory.

mod common;

use std::sync::Arc;

use axum::Router;
use reqwest::header::{COOKIE, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sessile::{Config, MemoryStore, SessionManager, Store};
use sessile_sql::SqliteStore;
use tokio::task::JoinSet;

use common::{client, csrf_token, ids, session_cookie, CookieChange, TempDb};

/// The demo on a loopback port, with a client that does not follow redirects.
struct TestServer {
    server: sessile_axum::testkit::TestServer,
    client: reqwest::Client,
}

impl TestServer {
    async fn start(router: Router) -> Self {
        Self {
            server: sessile_axum::testkit::TestServer::start(router).await,
            client: client(),
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.server.url(path));
        match cookie {
            Some(cookie) => request.header(COOKIE, format!("id={cookie}")),
            None => request,
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        self.request(reqwest::Method::GET, path, cookie)
            .send()
            .await
            .unwrap()
    }

    /// A CSRF token for the session of `cookie`, and the cookie of the session it belongs to
    /// (a new one when the request had none).
    async fn csrf(&self, cookie: Option<&str>) -> (String, String) {
        let response = self.get("/api/csrf", cookie).await;
        let cookie = match session_cookie(&response) {
            Some(CookieChange::Set(value)) => value,
            Some(CookieChange::Removed) => panic!("GET /api/csrf removed the cookie"),
            None => cookie
                .expect("GET /api/csrf without a session must create one")
                .to_owned(),
        };
        (csrf_token(response).await, cookie)
    }

    /// POST with a fresh token of the cookie's session in `x-csrf-token`.
    async fn post(&self, path: &str, cookie: Option<&str>) -> Response {
        let (token, cookie) = self.csrf(cookie).await;
        self.request(reqwest::Method::POST, path, Some(&cookie))
            .header("x-csrf-token", token)
            .send()
            .await
            .unwrap()
    }

    /// POST with `token` in `x-csrf-token` (or none), as a client that kept an old token would.
    async fn post_with_token(&self, path: &str, cookie: &str, token: Option<&str>) -> Response {
        let request = self.request(reqwest::Method::POST, path, Some(cookie));
        let request = match token {
            Some(token) => request.header("x-csrf-token", token),
            None => request,
        };
        request.send().await.unwrap()
    }

    /// POST a form with a fresh token of the cookie's session in its `_csrf` field.
    async fn post_form(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Response {
        let (token, cookie) = self.csrf(cookie).await;
        let mut fields = form.to_vec();
        fields.push(("_csrf", &token));
        self.request(reqwest::Method::POST, path, Some(&cookie))
            .form(&fields)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str, cookie: Option<&str>) -> Value {
        let response = self.get(path, cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// Signs in and returns the new session cookie.
    async fn login(&self, user: &str, cookie: Option<&str>) -> String {
        let response = self.post_form("/login", cookie, &[("user", user)]).await;
        assert_see_home(&response);
        match session_cookie(&response) {
            Some(CookieChange::Set(value)) => value,
            other => panic!("login must issue a cookie, got {other:?}"),
        }
    }
}

fn assert_see_home(response: &Response) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/");
}

async fn sqlite_server() -> (TestServer, Arc<dyn Store>, TempDb) {
    let db = TempDb::new();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db.0).await.unwrap());
    let manager = SessionManager::new(store.clone(), ids(), Config::default());
    (
        TestServer::start(sessile_demo::app(manager)).await,
        store,
        db,
    )
}

async fn memory_server() -> (TestServer, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let manager = SessionManager::new(store.clone(), ids(), Config::default());
    (TestServer::start(sessile_demo::app(manager)).await, store)
}

async fn count_concurrently(server: Arc<TestServer>) {
    let cookie = server.login("counter", None).await;
    let mut requests = JoinSet::new();
    for _ in 0..200 {
        let server = server.clone();
        let cookie = cookie.clone();
        requests.spawn(async move {
            let response = server.post("/api/count", Some(&cookie)).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(session_cookie(&response), None);
            let body: Value = response.json().await.unwrap();
            body["count"].as_i64().unwrap()
        });
    }
    let mut counts = Vec::new();
    while let Some(count) = requests.join_next().await {
        counts.push(count.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=200).collect::<Vec<i64>>());
    let session = server.json("/api/session", Some(&cookie)).await;
    assert_eq!(session, json!({"user": "counter", "data": {"count": 200}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_counts_on_sqlite_end_at_200() {
    let (server, _store, _db) = sqlite_server().await;
    count_concurrently(Arc::new(server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_counts_in_memory_end_at_200() {
    let (server, _store) = memory_server().await;
    count_concurrently(Arc::new(server)).await;
}

async fn walk(server: &TestServer) {
    let signed_out = server.json("/api/session", None).await;
    assert_eq!(signed_out, json!({"user": null, "data": {}}));

    let cookie = server.login("alice", None).await;
    for expected in 1..=2 {
        let response = server.post("/api/count", Some(&cookie)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "count": expected }));
    }
    let session = server.json("/api/session", Some(&cookie)).await;
    assert_eq!(session, json!({"user": "alice", "data": {"count": 2}}));

    let sessions = server.json("/api/sessions", Some(&cookie)).await;
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let row = &sessions[0];
    assert_eq!(row["current"], true);
    assert_eq!(row["key"].as_str().unwrap().len(), 64);
    assert_eq!(row["device"]["user_agent"], "Firefox on Linux");
    for field in ["created_at", "last_seen", "expires_at"] {
        assert!(row[field].as_i64().unwrap() > 0, "{field}: {row}");
    }

    let logout = server.post("/logout", Some(&cookie)).await;
    assert_see_home(&logout);
    // The session ends; a new, empty one carries the "You signed out." message to the page.
    match session_cookie(&logout) {
        Some(CookieChange::Set(value)) => {
            assert_ne!(value, cookie);
            let after = server.json("/api/session", Some(&value)).await;
            assert_eq!(after, json!({"user": null, "data": {}}));
        }
        other => panic!("logout must replace the cookie, got {other:?}"),
    }

    let after = server.get("/api/session", Some(&cookie)).await;
    assert_eq!(session_cookie(&after), Some(CookieChange::Removed));
    let after: Value = after.json().await.unwrap();
    assert_eq!(after, json!({"user": null, "data": {}}));
    assert_eq!(server.json("/api/sessions", Some(&cookie)).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walk_on_sqlite() {
    let (server, _store, _db) = sqlite_server().await;
    walk(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walk_in_memory() {
    let (server, _store) = memory_server().await;
    walk(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_starts_clean_with_a_new_id_and_csrf_secret() {
    let (server, _store, _db) = sqlite_server().await;
    let (anonymous_token, anonymous) = server.csrf(None).await;
    let count = server
        .post_with_token("/api/count", &anonymous, Some(&anonymous_token))
        .await;
    assert_eq!(count.status(), StatusCode::OK);

    let signed_in = server.login("bob", Some(&anonymous)).await;
    assert_ne!(signed_in, anonymous, "sign-in must issue a new id");
    let session = server.json("/api/session", Some(&signed_in)).await;
    assert_eq!(
        session,
        json!({"user": "bob", "data": {}}),
        "nothing of the anonymous session reaches the signed-in user"
    );
    // For the rotation grace (5 s) the pre-login id leads to the signed-in session and hands
    // out its id, so requests the browser had in flight keep it signed in; after that it is
    // dead (the engine tests advance a clock past the window; this server's clock is real).
    let old = server.get("/api/session", Some(&anonymous)).await;
    assert_eq!(
        session_cookie(&old),
        Some(CookieChange::Set(signed_in.clone())),
        "the pre-login id hands out the signed-in one during the grace"
    );
    let old: Value = old.json().await.unwrap();
    assert_eq!(old["user"], "bob");
    let stale = server
        .post_with_token("/api/count", &signed_in, Some(&anonymous_token))
        .await;
    assert_eq!(
        stale.status(),
        StatusCode::FORBIDDEN,
        "a token from before sign-in must not work after it"
    );

    // Signing in over another user's session takes none of their data.
    let bobs_count = server.post("/api/count", Some(&signed_in)).await;
    assert_eq!(bobs_count.status(), StatusCode::OK);
    let mallory = server.login("mallory", Some(&signed_in)).await;
    assert_eq!(
        server.json("/api/session", Some(&mallory)).await,
        json!({"user": "mallory", "data": {}})
    );
    assert_eq!(
        server
            .json("/api/sessions", Some(&mallory))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let logout = server.post("/logout", Some(&mallory)).await;
    assert_see_home(&logout);
    // Signing in again with the dead cookie starts a fresh session rather than failing.
    let again = server.login("mallory", Some(&mallory)).await;
    let session = server.json("/api/session", Some(&again)).await;
    assert_eq!(session, json!({"user": "mallory", "data": {}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_sessions() {
    let (server, _store, _db) = sqlite_server().await;
    let laptop = server.login("carol", None).await;
    let phone = server.login("carol", None).await;
    let tablet = server.login("carol", None).await;
    let other_user = server.login("dave", None).await;

    let sessions = server.json("/api/sessions", Some(&laptop)).await;
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(
        sessions.iter().filter(|row| row["current"] == true).count(),
        1
    );
    let phone_key = {
        let phone_view = server.json("/api/sessions", Some(&phone)).await;
        let current = phone_view
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["current"] == true)
            .unwrap()
            .clone();
        current["key"].as_str().unwrap().to_owned()
    };

    let revoke = server
        .post_form("/sessions/revoke", Some(&laptop), &[("key", &phone_key)])
        .await;
    assert_see_home(&revoke);
    assert_eq!(
        server.json("/api/session", Some(&phone)).await["user"],
        Value::Null
    );
    assert_eq!(
        server
            .json("/api/sessions", Some(&laptop))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Another user cannot revoke carol's session by its key.
    let laptop_key = server.json("/api/sessions", Some(&laptop)).await[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = server
        .post_form(
            "/sessions/revoke",
            Some(&other_user),
            &[("key", &laptop_key)],
        )
        .await;
    assert_see_home(&foreign);
    assert_eq!(
        server.json("/api/session", Some(&laptop)).await["user"],
        "carol"
    );

    let garbage = server
        .post_form("/sessions/revoke", Some(&laptop), &[("key", "not-a-key")])
        .await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);

    let others = server.post("/sessions/revoke-others", Some(&laptop)).await;
    assert_see_home(&others);
    assert_eq!(
        server.json("/api/session", Some(&tablet)).await["user"],
        Value::Null
    );
    assert_eq!(
        server.json("/api/session", Some(&laptop)).await["user"],
        "carol"
    );
    assert_eq!(
        server.json("/api/session", Some(&other_user)).await["user"],
        "dave"
    );
    let remaining = server.json("/api/sessions", Some(&laptop)).await;
    assert_eq!(remaining.as_array().unwrap().len(), 1);
    assert_eq!(remaining[0]["current"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_escape_user_text() {
    let (server, _store) = memory_server().await;
    let signed_out = server.get("/", None).await;
    assert_eq!(signed_out.status(), StatusCode::OK);
    let page = signed_out.text().await.unwrap();
    assert!(page.contains(r#"action="/login""#), "{page}");

    let name = r#"<script>alert("x")</script>&'"#;
    let cookie = server.login(name, None).await;
    let count = server.post("/count", Some(&cookie)).await;
    assert_see_home(&count);
    let home = server.get("/", Some(&cookie)).await;
    assert_eq!(home.status(), StatusCode::OK);
    assert_eq!(home.headers()["cache-control"], "no-store");
    let page = home.text().await.unwrap();
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"),
        "{page}"
    );
    assert!(
        page.contains(r#"id="count">1<"#),
        "the counter shows 1: {page}"
    );
    assert!(page.contains("This device"), "{page}");
    for action in ["/count", "/sessions/revoke", "/logout"] {
        assert!(
            page.contains(&format!(r#"action="{action}""#)),
            "{action}: {page}"
        );
    }
    assert_eq!(
        page.matches(r#"method="post""#).count(),
        page.matches(r#"name="_csrf""#).count(),
        "every form that changes something carries a CSRF token: {page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sign_in_names_are_refused() {
    let (server, _store) = memory_server().await;
    let (_, visitor) = server.csrf(None).await;
    for name in ["", "   ", &"x".repeat(65)] {
        let response = server
            .post_form("/login", Some(&visitor), &[("user", name)])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(session_cookie(&response), None);
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"class="flash problem""#), "{page}");
        assert!(
            page.contains(r#"action="/login""#),
            "the form is shown again: {page}"
        );
    }
    assert_eq!(
        server.json("/api/session", Some(&visitor)).await,
        json!({"user": null, "data": {}}),
        "the visitor is still signed out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_requests_need_a_token_of_their_own_session() {
    let (server, _store) = memory_server().await;
    let victim = server.login("victim", None).await;
    let attacker = server.login("attacker", None).await;
    let (attackers_token, _) = server.csrf(Some(&attacker)).await;

    for path in ["/api/count", "/count", "/sessions/revoke-others", "/logout"] {
        for token in [None, Some("forged"), Some(attackers_token.as_str())] {
            let response = server.post_with_token(path, &victim, token).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
            assert_eq!(session_cookie(&response), None, "{path} {token:?}");
        }
    }
    // A form without its `_csrf` field is refused too, with a page saying what happened.
    let form = server
        .request(reqwest::Method::POST, "/login", Some(&victim))
        .form(&[("user", "mallory")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    let page = form.text().await.unwrap();
    assert!(page.contains("<h1>This form has expired</h1>"), "{page}");
    // The API keeps the library's plain answer.
    let api = server.post_with_token("/api/count", &victim, None).await;
    assert_eq!(api.text().await.unwrap(), sessile_axum::csrf::REJECTED_BODY);

    assert_eq!(
        server.json("/api/session", Some(&victim)).await,
        json!({"user": "victim", "data": {}}),
        "nothing reached the victim's session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_requests_from_another_origin_are_refused_even_with_a_valid_token() {
    let (server, _store) = memory_server().await;
    let victim = server.login("victim", None).await;
    let own_origin = server.server.url("/").trim_end_matches('/').to_owned();
    let refused: [(&str, &str); 5] = [
        ("sec-fetch-site", "same-site"),
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://127.0.0.1:1"),
        ("origin", "http://localhost:1"),
        ("origin", "null"),
    ];
    for (name, value) in refused {
        let (token, _) = server.csrf(Some(&victim)).await;
        let response = server
            .request(reqwest::Method::POST, "/count", Some(&victim))
            .header("x-csrf-token", token)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert_eq!(session_cookie(&response), None);
        let page = response.text().await.unwrap();
        assert!(page.contains("<h1>Request refused</h1>"), "{page}");
    }
    let (token, _) = server.csrf(Some(&victim)).await;
    let same_origin = server
        .request(reqwest::Method::POST, "/api/count", Some(&victim))
        .header("x-csrf-token", token)
        .header("origin", &own_origin)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::OK);
    assert_eq!(
        same_origin.json::<Value>().await.unwrap(),
        json!({"count": 1})
    );
}

/// GET / for `cookie` and its HTML.
async fn home_page(server: &TestServer, cookie: &str) -> String {
    let response = server.get("/", Some(cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_leaves_a_message_for_the_next_page() {
    let (server, _store) = memory_server().await;
    let laptop = server.login("erin", None).await;
    let page = home_page(&server, &laptop).await;
    assert!(page.contains("Signed in as erin."), "{page}");
    let page = home_page(&server, &laptop).await;
    assert!(!page.contains("Signed in as erin."), "shown once: {page}");

    assert_see_home(&server.post_form("/count", Some(&laptop), &[]).await);
    let page = home_page(&server, &laptop).await;
    assert!(page.contains("Counted: you have clicked 1 time."), "{page}");

    let phone = server.login("erin", None).await;
    let phone_key = server.json("/api/sessions", Some(&phone)).await[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = server
        .post_form("/sessions/revoke", Some(&laptop), &[("key", &phone_key)])
        .await;
    assert_see_home(&revoke);
    let page = home_page(&server, &laptop).await;
    assert!(
        page.contains("Signed out Firefox on Linux (signed in "),
        "{page}"
    );
    let page = home_page(&server, &phone).await;
    assert!(
        page.contains("You are signed out: this browser&#39;s session was ended"),
        "the revoked device is told why: {page}"
    );

    server.login("erin", None).await;
    server.login("erin", None).await;
    assert_see_home(
        &server
            .post_form("/sessions/revoke-others", Some(&laptop), &[])
            .await,
    );
    let page = home_page(&server, &laptop).await;
    assert!(page.contains("Signed out 2 other sessions."), "{page}");
    assert!(
        page.contains("This is the only browser where you are signed in."),
        "{page}"
    );

    let logout = server.post_form("/logout", Some(&laptop), &[]).await;
    let Some(CookieChange::Set(visitor)) = session_cookie(&logout) else {
        panic!("logout must replace the cookie");
    };
    let page = home_page(&server, &visitor).await;
    assert!(page.contains("You signed out."), "{page}");
    assert!(page.contains(r#"action="/login""#), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_this_very_session_asks_first() {
    let (server, _store) = memory_server().await;
    let cookie = server.login("frank", None).await;
    let key = server.json("/api/sessions", Some(&cookie)).await[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = home_page(&server, &cookie).await;
    assert!(
        page.contains(r#"<form method="get" action="/sessions/revoke">"#),
        "this device's row asks on a page of its own: {page}"
    );

    let unconfirmed = server
        .post_form("/sessions/revoke", Some(&cookie), &[("key", &key)])
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::SEE_OTHER);
    let confirm_url = format!("/sessions/revoke?key={key}");
    assert_eq!(unconfirmed.headers()[LOCATION], confirm_url.as_str());
    assert_eq!(
        server.json("/api/session", Some(&cookie)).await["user"],
        "frank"
    );

    let confirm = server.get(&confirm_url, Some(&cookie)).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let page = confirm.text().await.unwrap();
    assert!(page.contains("<h1>Sign out of this device?</h1>"), "{page}");
    assert!(page.contains(r#"name="confirm" value="yes""#), "{page}");
    assert!(page.contains(r#"<a href="/">Cancel"#), "{page}");

    let confirmed = server
        .post_form(
            "/sessions/revoke",
            Some(&cookie),
            &[("key", &key), ("confirm", "yes")],
        )
        .await;
    assert_see_home(&confirmed);
    assert_eq!(
        server.json("/api/session", Some(&cookie)).await["user"],
        Value::Null
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_pages_with_a_heading_and_a_way_back() {
    let (server, _store) = memory_server().await;
    let not_found = server.get("/no-such-page", None).await;
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    assert!(not_found.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = not_found.text().await.unwrap();
    assert!(page.contains("<h1>Page not found</h1>"), "{page}");
    assert!(page.contains(r#"href="/">Back to the demo"#), "{page}");

    let wrong_method = server.get("/logout", None).await;
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers()["allow"], "POST");
    let page = wrong_method.text().await.unwrap();
    assert!(
        page.contains("<h1>This page can&#39;t be opened that way</h1>"),
        "{page}"
    );
    assert!(page.contains(r#"href="/">Back to the demo"#), "{page}");

    let cookie = server.login("grace", None).await;
    let garbage = server
        .post_form("/sessions/revoke", Some(&cookie), &[("key", "not-a-key")])
        .await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let page = garbage.text().await.unwrap();
    assert!(
        page.contains("<h1>That is not one of your sessions</h1>"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stylesheet_and_the_icon_are_served() {
    let (server, _store) = memory_server().await;
    for (path, content_type) in [
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/svg+xml"),
    ] {
        let response = server.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(session_cookie(&response), None, "{path} needs no session");
        assert!(!response.text().await.unwrap().is_empty(), "{path}");
    }
    let page = server.get("/", None).await.text().await.unwrap();
    assert!(
        page.contains(r#"<link rel="icon" href="/favicon.svg""#),
        "{page}"
    );
    assert!(
        page.contains(r#"<link rel="stylesheet" href="/style.css">"#),
        "{page}"
    );
}

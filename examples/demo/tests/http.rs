//! The demo router over real HTTP on loopback, on SQLite (a temporary file) and in memory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::Router;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sessile::{Config, CookieConfig, Keys, MemoryStore, SessionManager, SignedIds, Store};
use sessile_sql::SqliteStore;
use tokio::task::JoinSet;

/// The demo on a loopback port, with a client that does not follow redirects.
struct TestServer {
    server: sessile_axum::testkit::TestServer,
    client: reqwest::Client,
}

impl TestServer {
    async fn start(router: Router) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0")
            .build()
            .unwrap();
        Self {
            server: sessile_axum::testkit::TestServer::start(router).await,
            client,
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

    async fn post(&self, path: &str, cookie: Option<&str>) -> Response {
        self.request(reqwest::Method::POST, path, cookie)
            .send()
            .await
            .unwrap()
    }

    async fn post_form(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Response {
        self.request(reqwest::Method::POST, path, cookie)
            .form(form)
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

#[derive(Debug, PartialEq, Eq)]
enum CookieChange {
    Set(String),
    Removed,
}

/// What the response did to the `id` cookie; fails on more than one change.
fn session_cookie(response: &Response) -> Option<CookieChange> {
    let mut changes = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| {
            let line = value.to_str().unwrap();
            let (name, value) = line.split(';').next().unwrap().split_once('=').unwrap();
            (name.trim() == "id").then(|| {
                if value.is_empty() {
                    CookieChange::Removed
                } else {
                    CookieChange::Set(value.to_owned())
                }
            })
        })
        .collect::<Vec<_>>();
    assert!(changes.len() <= 1, "several session cookies: {changes:?}");
    changes.pop()
}

fn assert_see_home(response: &Response) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/");
}

/// The demo's ids: its cookie works over plain http.
fn ids() -> SignedIds {
    SignedIds::new(Keys::generate())
        .with_cookie(CookieConfig::builder().secure(false).build().unwrap())
}

/// A SQLite file in the temp directory, deleted with its journal files when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sessile-demo-test-{}-{}.sqlite",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let db = TempDb(std::env::temp_dir().join(name));
        db.remove_files();
        db
    }

    fn remove_files(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove_files();
    }
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
    assert_eq!(session_cookie(&logout), Some(CookieChange::Removed));

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
async fn login_rotates_the_id_and_replaces_a_stale_cookie() {
    let (server, _store, _db) = sqlite_server().await;
    let anonymous = {
        let response = server.post("/api/count", None).await;
        match session_cookie(&response) {
            Some(CookieChange::Set(value)) => value,
            other => panic!("a first count creates a session, got {other:?}"),
        }
    };
    let signed_in = server.login("bob", Some(&anonymous)).await;
    assert_ne!(signed_in, anonymous, "sign-in must issue a new id");
    let session = server.json("/api/session", Some(&signed_in)).await;
    assert_eq!(
        session,
        json!({"user": "bob", "data": {"count": 1}}),
        "data survives rotation"
    );
    let old = server.json("/api/session", Some(&anonymous)).await;
    assert_eq!(old["user"], Value::Null, "the pre-login id is dead");

    let logout = server.post("/logout", Some(&signed_in)).await;
    assert_see_home(&logout);
    // Signing in again with the dead cookie starts a fresh session rather than failing.
    let again = server.login("bob", Some(&signed_in)).await;
    let session = server.json("/api/session", Some(&again)).await;
    assert_eq!(session, json!({"user": "bob", "data": {}}));
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
        page.contains("<strong>1</strong>"),
        "the counter shows 1: {page}"
    );
    assert!(page.contains("(this one)"), "{page}");
    for action in [
        "/count",
        "/sessions/revoke",
        "/sessions/revoke-others",
        "/logout",
    ] {
        assert!(
            page.contains(&format!(r#"action="{action}""#)),
            "{action}: {page}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sign_in_names_are_refused() {
    let (server, store) = memory_server().await;
    for name in ["", "   ", &"x".repeat(65)] {
        let response = server.post_form("/login", None, &[("user", name)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(session_cookie(&response), None);
    }
    let now = sessile::Timestamp::from_millis(i64::MAX / 2);
    assert_eq!(
        store.delete_expired(now, 1000).await.unwrap(),
        0,
        "no session was created"
    );
}

//! Shared by the interop tests: a real Node app in a child process, a Rust app on the same
//! loopback host, and a "browser" whose cookie jar both see (cookies ignore ports, so one jar
//! for 127.0.0.1 serves both apps, as one domain would in production).
//!
//! Every Node fixture app (tests/node/*.js) answers the same routes as [`rust_app`]:
//! - `GET /login?user=U` signs U in (`session.user = U`);
//! - `GET /set?k=K&v=V` sets one data key (string value);
//! - `GET /whoami` answers `{"user": <string|null>, "data": {...}}` (data without the package's
//!   own bookkeeping and without `user`);
//! - `GET /logout` ends the session.
//!
//! A Node app prints one JSON line `{"port": N}` once it listens and exits when its stdin closes.

#![allow(dead_code)] // each test binary uses the part it needs

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sessile::SessionManager;
use sessile_axum::{Session, SessionLayer};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The fixture folder with package.json, the lock file and the Node apps.
pub fn fixture() -> PathBuf {
    // Also included by the Node-layout tests of sessile-sql and sessile-redis, which sit beside
    // this crate.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sessile-node/tests/node")
}

/// A Node app running `tests/node/<script>`; killed when dropped, whatever the test did.
pub struct NodeApp {
    child: Child,
    _stdin: Option<ChildStdin>,
    port: u16,
}

impl NodeApp {
    /// Starts `script` with `env` and waits for its `{"port": N}` line. Fails (never skips) when
    /// Node or the fixture's packages are missing.
    pub fn start(script: &str, env: &[(&str, &str)]) -> Self {
        let fixture = fixture();
        assert!(
            fixture.join("node_modules/koa").is_dir(),
            "the Node fixture is not installed: run `npm ci --prefix crates/sessile-node/tests/node` \
             (scripts/test does) before running these tests"
        );
        let mut command = Command::new("node");
        command
            .arg(script)
            .current_dir(&fixture)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node {script}` (is Node.js installed?): {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let mut app = NodeApp {
            child,
            _stdin: stdin,
            port: 0,
        };
        let line = receiver
            .recv_timeout(STARTUP_TIMEOUT)
            .unwrap_or_else(|_| panic!("`node {script}` did not report its port"));
        let ready: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| {
            panic!("`node {script}` printed {line:?} instead of its port: {e}")
        });
        app.port = ready["port"]
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or_else(|| panic!("`node {script}` printed no port: {line:?}"));
        app
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for NodeApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser: a cookie jar shared by every app on 127.0.0.1.
pub struct Browser {
    client: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// An empty cookie jar.
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .timeout(Duration::from_secs(20))
                .build()
                .expect("a reqwest client"),
        }
    }

    /// GETs `url` with the jar's cookies (and `extra` headers), keeps the response's cookies,
    /// and returns the status and the body.
    pub async fn get_with(&self, url: &str, extra: &[(&str, &str)]) -> (u16, String) {
        let mut request = self.client.get(url);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let body = response.text().await.expect("a response body");
        (status, body)
    }

    /// GETs `url`, expecting 200.
    pub async fn get(&self, url: &str) -> String {
        let (status, body) = self.get_with(url, &[]).await;
        assert_eq!(status, 200, "GET {url} answered {status}: {body}");
        body
    }

    /// GETs `url`'s `/whoami`-style JSON answer.
    pub async fn whoami(&self, url: &str) -> Whoami {
        let body = self.get(url).await;
        let value: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {body:?}: {e}"));
        Whoami {
            user: value["user"].as_str().map(str::to_owned),
            data: value["data"].clone(),
        }
    }
}

/// A `/whoami` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Whoami {
    /// The signed-in user.
    pub user: Option<String>,
    /// The session's data (an object; empty without a session).
    pub data: Value,
}

#[derive(serde::Deserialize)]
struct UserQuery {
    user: String,
}

#[derive(serde::Deserialize)]
struct SetQuery {
    k: String,
    v: String,
}

/// The Rust side of every interop test: the same routes as the Node fixture apps, on `manager`.
pub fn rust_app(manager: SessionManager) -> Router {
    Router::new()
        .route(
            "/login",
            get(
                |Session(session): Session, Query(query): Query<UserQuery>| async move {
                    session.set_user(Some(&query.user));
                    "ok"
                },
            ),
        )
        .route(
            "/set",
            get(
                |Session(session): Session, Query(query): Query<SetQuery>| async move {
                    session
                        .insert(&query.k, query.v)
                        .expect("a string serializes");
                    "ok"
                },
            ),
        )
        .route(
            "/whoami",
            get(|Session(session): Session| async move {
                let user = session.user().await?;
                let data = session.data().await?;
                Ok::<_, sessile_axum::Error>(Json(json!({ "user": user, "data": data })))
            }),
        )
        .route(
            "/logout",
            get(|Session(session): Session| async move {
                session.destroy();
                "bye"
            }),
        )
        .route(
            "/clear",
            get(|Session(session): Session| async move {
                session.clear();
                "cleared"
            }),
        )
        .layer(SessionLayer::new(manager))
}

/// [`rust_app`] plus `GET /rotate`, which gives the session a new id.
pub fn rust_app_with_rotate(manager: SessionManager) -> Router {
    let rotate = Router::new()
        .route(
            "/rotate",
            get(|Session(session): Session| async move {
                session.rotate_id();
                "ok"
            }),
        )
        .layer(SessionLayer::new(manager.clone()));
    rust_app(manager).merge(rotate)
}

/// The Redis server the Redis tests share: `REDIS_URL`, default redis://127.0.0.1:6379.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

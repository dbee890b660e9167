//! What the demo's HTTP tests share: the client a browser would be, the session cookie a
//! response sets, the CSRF token sequence of a sign-in, the demo's ids and a temporary SQLite
//! file.

#![allow(dead_code)] // each test binary uses the part it needs

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use reqwest::header::SET_COOKIE;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sessile::{CookieConfig, Keys, SignedIds};

/// A client that does not follow redirects, with a desktop browser's user agent.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0")
        .build()
        .unwrap()
}

/// The demo's ids: its cookie works over plain http.
pub fn ids() -> SignedIds {
    SignedIds::new(Keys::generate())
        .with_cookie(CookieConfig::builder().secure(false).build().unwrap())
}

/// What one response did to the session cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieChange {
    Set(String),
    Removed,
}

/// What the response did to the `id` cookie; fails on more than one change.
pub fn session_cookie(response: &Response) -> Option<CookieChange> {
    let mut changes = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| {
            let line = value.to_str().unwrap();
            let (name, value) = line.split(';').next().unwrap().split_once('=').unwrap();
            (name.trim() == "id").then(|| match value {
                "" => CookieChange::Removed,
                value => CookieChange::Set(value.to_owned()),
            })
        })
        .collect::<Vec<_>>();
    assert!(changes.len() <= 1, "several session cookies: {changes:?}");
    changes.pop()
}

/// The sign-in sequence, step one: the token of `GET /api/csrf`'s answer (never cached).
pub async fn csrf_token(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK, "GET /api/csrf");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Step two: the `POST /login` form for `user`, with the token in its `_csrf` field.
pub fn login_form<'a>(user: &'a str, token: &'a str) -> [(&'a str, &'a str); 2] {
    [("user", user), ("_csrf", token)]
}

/// A SQLite file in the temp directory, deleted with its journal files when dropped.
pub struct TempDb(pub PathBuf);

impl TempDb {
    pub fn new() -> Self {
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

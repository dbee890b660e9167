//! `GET /metrics` of the demo binary after a scripted walk: every metric the README's table
//! documents, with the counts the walk makes. The binary runs in its own process, so its
//! process-wide metrics recorder sees this walk only.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

/// The demo binary on a free port with a fresh database; killed on drop.
struct Demo {
    child: Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Demo {
    fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("sessile-demo-metrics-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sessile-demo"))
            .env("PORT", "0")
            .env("SESSILE_DB", dir.join("demo.sqlite"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo binary");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut url = None;
        for line in stdout.lines() {
            let line = line.expect("the demo's log");
            if let Some(at) = line.find("sessile demo on http://") {
                url = Some(line[at + "sessile demo on ".len()..].trim().to_owned());
                break;
            }
        }
        Self {
            child,
            url: url.expect("the demo logs its address"),
            dir,
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A browser: the session cookie it holds, if any.
struct Browser<'a> {
    demo: &'a Demo,
    client: Client,
    cookie: Option<String>,
}

impl Browser<'_> {
    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        form: Option<&[(&str, &str)]>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.demo.url));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.expect("the demo answers");
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        response
    }

    async fn token(&mut self) -> String {
        let response = self
            .send(reqwest::Method::GET, "/api/csrf", None, None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }
}

/// The value of the sample `name{labels}` (labels as rendered, sorted as the exporter sorts
/// them), or `None` when the scrape does not have it.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().unwrap())
    })
}

#[tokio::test]
async fn metrics_count_a_scripted_walk() {
    let demo = Demo::start();
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut browser = Browser {
        demo: &demo,
        client: client.clone(),
        cookie: None,
    };

    // The demo's cleanup task runs a pass when it starts; the walk waits for it, so that pass
    // counts an empty table whatever the scheduling (it ends by setting the live gauge).
    let mut started_up = false;
    for _ in 0..400 {
        let scrape = client
            .get(format!("{}/metrics", demo.url))
            .send()
            .await
            .expect("the demo answers")
            .text()
            .await
            .unwrap();
        if scrape.contains("sessile_sessions_live{") {
            started_up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        started_up,
        "the demo's start-up cleanup pass never set the live gauge"
    );

    // A first token creates the session (created 1, no load).
    let token = browser.token().await;
    // Sign-in: the CSRF check loads the session (live 1), the commit rotates it (rotations 1).
    let response = browser
        .send(
            reqwest::Method::POST,
            "/login",
            Some(&token),
            Some(&[("user", "alice")]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // A new token after sign-in (live 2), three counts (live 3-5, increments applied 3).
    let token = browser.token().await;
    for expected in 1..=3 {
        let response = browser
            .send(reqwest::Method::POST, "/api/count", Some(&token), None)
            .await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["count"], expected);
    }
    // Reading the session (live 6).
    let response = browser
        .send(reqwest::Method::GET, "/api/session", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let signed_in = browser.cookie.clone();
    // A forged cookie is refused before any store call (rejected malformed 1).
    let mut forger = Browser {
        demo: &demo,
        client: client.clone(),
        cookie: Some("id=forged".into()),
    };
    forger
        .send(reqwest::Method::GET, "/api/session", None, None)
        .await;
    // Sign-out: the CSRF check loads (live 7), the session is destroyed (destroys 1) and the
    // "you signed out" message starts a new one (created 2).
    let response = browser
        .send(reqwest::Method::POST, "/logout", Some(&token), None)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // The old cookie names a session the store no longer holds (missing 1).
    let mut old = Browser {
        demo: &demo,
        client: client.clone(),
        cookie: signed_in,
    };
    let body: Value = old
        .send(reqwest::Method::GET, "/api/session", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["user"], Value::Null);

    let scrape = client
        .get(format!("{}/metrics", demo.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let expected = [
        ("sessile_loads_total{outcome=\"live\"}", 7.0),
        ("sessile_loads_total{outcome=\"missing\"}", 1.0),
        ("sessile_loads_total{outcome=\"expired\"}", 0.0),
        ("sessile_loads_total{outcome=\"corrupt\"}", 0.0),
        ("sessile_commits_total{outcome=\"created\"}", 2.0),
        ("sessile_commits_total{outcome=\"applied\"}", 0.0),
        ("sessile_commits_total{outcome=\"gone\"}", 0.0),
        ("sessile_commits_total{outcome=\"collision\"}", 0.0),
        ("sessile_increments_total{outcome=\"applied\"}", 3.0),
        ("sessile_increments_total{outcome=\"gone\"}", 0.0),
        ("sessile_increments_total{outcome=\"not_an_integer\"}", 0.0),
        ("sessile_rotations_total", 1.0),
        ("sessile_destroys_total", 1.0),
        ("sessile_rejected_ids_total{reason=\"malformed\"}", 1.0),
        ("sessile_rejected_ids_total{reason=\"bad_signature\"}", 0.0),
        ("sessile_rejected_ids_total{reason=\"unsealable\"}", 0.0),
        // One store call per load, create, rotation, increment and delete above.
        (
            "sessile_store_call_seconds_count{store=\"SqliteStore\",operation=\"lookup\"}",
            8.0,
        ),
        (
            "sessile_store_call_seconds_count{store=\"SqliteStore\",operation=\"create\"}",
            2.0,
        ),
        (
            "sessile_store_call_seconds_count{store=\"SqliteStore\",operation=\"rotate\"}",
            1.0,
        ),
        (
            "sessile_store_call_seconds_count{store=\"SqliteStore\",operation=\"increment\"}",
            3.0,
        ),
        (
            "sessile_store_call_seconds_count{store=\"SqliteStore\",operation=\"delete\"}",
            1.0,
        ),
        (
            "sessile_store_call_seconds_count{store=\"SqliteStore\",operation=\"update\"}",
            0.0,
        ),
        // The demo's cleanup task runs a pass when it starts, on an empty table.
        ("sessile_cleanup_deleted_total", 0.0),
        ("sessile_cleanup_pass_seconds_count", 1.0),
        // That pass counted the live sessions: none yet (the next pass is a minute away).
        ("sessile_sessions_live{store=\"SqliteStore\"}", 0.0),
    ];
    for (series, value) in expected {
        assert_eq!(
            sample(&scrape, series),
            Some(value),
            "{series} in the scrape:\n{scrape}"
        );
    }
    assert!(
        !scrape.contains("sessile_store_errors_total"),
        "no store call failed, so no error series exists yet:\n{scrape}"
    );
}

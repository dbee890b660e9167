//! Restarts the PostgreSQL server under a steady load of requests: requests during the outage
//! answer 503, nothing panics, every request after the restart succeeds, and every session
//! committed before the outage survives.
//!
//! One test in its own binary, since it stops the server every other test uses. It needs to run
//! `pg_ctlcluster` (as root or the `postgres` user) on the machine that runs the server.

#![cfg(feature = "postgres")]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::http::{app, get_text, serve, session_cookie};
use crate::support::postgres::connect;
use sessile::{Config, CookieConfig, Keys, SessionManager, SignedIds};
use sessile_sql::PostgresStore;

const SESSIONS: usize = 20;
const LOAD_TASKS: usize = 2;
const OUTAGE_PROBES: usize = 10;
const REQUESTS_AFTER_RESTART: usize = 50;
/// Caps the steady load, whatever happens to the rest of the test.
const MAX_LOAD_REQUESTS: usize = 5_000;

const BEFORE: u8 = 0;
const RESTARTING: u8 = 1;
const AFTER: u8 = 2;
const DONE: u8 = 3;

/// The installed PostgreSQL cluster (`<version> main`), restarted on drop if the test stopped
/// it, so a failing test never leaves the server down.
struct Cluster {
    version: String,
    stopped: bool,
}

impl Cluster {
    fn find() -> Self {
        let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
            .expect(
                "/etc/postgresql lists the installed PostgreSQL clusters; \
                 install and start one with `scripts/services`",
            )
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        versions.sort_by_key(|version| version.parse::<u32>().unwrap_or(0));
        let version = versions
            .pop()
            .expect("a PostgreSQL cluster under /etc/postgresql; run `scripts/services`");
        Self {
            version,
            stopped: false,
        }
    }

    fn control(&self, action: &str) -> std::process::ExitStatus {
        Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.version, "main", action])
            .status()
            .expect("run pg_ctlcluster")
    }

    fn stop(&mut self) {
        self.stopped = true;
        assert!(self.control("stop").success(), "pg_ctlcluster stop failed");
    }

    fn start(&mut self) {
        assert!(
            self.control("start").success(),
            "pg_ctlcluster start failed"
        );
        self.stopped = false;
        for _ in 0..120 {
            let ready = Command::new("pg_isready")
                .args(["-h", "127.0.0.1", "-p", "5432"])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("PostgreSQL did not accept connections after pg_ctlcluster start");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stopped {
            let _ = self.control("start");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_under_load_gives_503_then_recovers_without_losing_sessions() {
    let _turn = crate::exclusive().await;
    let mut cluster = Cluster::find();
    let store = connect(
        "fault",
        PostgresStore::options()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(1))
            .statement_timeout(Duration::from_secs(1)),
    )
    .await;
    let ids = SignedIds::new(Keys::generate())
        .with_cookie(CookieConfig::builder().secure(false).build().unwrap());
    let config = Config::builder()
        .store_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let base = format!(
        "http://{}",
        serve(app(SessionManager::new(store.clone(), ids, config))).await
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");

    let mut cookies = Vec::new();
    for _ in 0..SESSIONS {
        let response = client
            .get(format!("{base}/count"))
            .send()
            .await
            .expect("the app answers");
        assert_eq!(response.status(), 200);
        cookies.push(session_cookie(&response).expect("a new session sets its cookie"));
    }
    let cookies = Arc::new(cookies);

    let phase = Arc::new(AtomicU8::new(BEFORE));
    let mut load = tokio::task::JoinSet::new();
    for task in 0..LOAD_TASKS {
        let (client, base, cookies, phase) =
            (client.clone(), base.clone(), cookies.clone(), phase.clone());
        load.spawn(async move {
            let mut seen = Vec::new();
            for index in (task..MAX_LOAD_REQUESTS).step_by(LOAD_TASKS) {
                let sent_in = phase.load(Ordering::SeqCst);
                if sent_in == DONE {
                    break;
                }
                let cookie = &cookies[index % cookies.len()];
                let (status, _) = get_text(&client, &format!("{base}/count"), Some(cookie)).await;
                seen.push((sent_in, status));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    phase.store(RESTARTING, Ordering::SeqCst);
    tokio::task::block_in_place(|| cluster.stop());
    let mut probes = tokio::task::JoinSet::new();
    for index in 0..OUTAGE_PROBES {
        let (client, base, cookies) = (client.clone(), base.clone(), cookies.clone());
        probes.spawn(async move {
            if index == 0 {
                get_text(&client, &format!("{base}/set?k=new"), None).await
            } else {
                get_text(&client, &format!("{base}/count"), Some(&cookies[index])).await
            }
        });
    }
    while let Some(probe) = probes.join_next().await {
        let (status, body) = probe.expect("probe task");
        assert_eq!(
            status, 503,
            "a request while the server is down answers 503, got {status}: {body}"
        );
    }
    tokio::task::block_in_place(|| cluster.start());
    phase.store(AFTER, Ordering::SeqCst);

    for attempt in 0..REQUESTS_AFTER_RESTART {
        let cookie = &cookies[attempt % cookies.len()];
        let (status, body) = get_text(&client, &format!("{base}/count"), Some(cookie)).await;
        assert_eq!(
            status, 200,
            "request {attempt} after the restart must succeed, got {status}: {body}"
        );
    }
    phase.store(DONE, Ordering::SeqCst);

    let mut statuses = Vec::new();
    while let Some(seen) = load.join_next().await {
        statuses.extend(seen.expect("load task"));
    }
    for (sent_in, status) in &statuses {
        match sent_in {
            &BEFORE | &AFTER => assert_eq!(
                *status, 200,
                "requests before the stop and after the restart succeed"
            ),
            _ => assert!(
                [200, 503].contains(status),
                "a request during the restart answers 200 or 503, got {status}"
            ),
        }
    }
    assert!(
        statuses.iter().any(|&(sent_in, _)| sent_in == BEFORE),
        "the load ran before the outage"
    );

    for cookie in cookies.iter() {
        let (status, body) = get_text(&client, &format!("{base}/get"), Some(cookie)).await;
        assert_eq!(status, 200);
        let count: i64 = body
            .parse()
            .unwrap_or_else(|_| panic!("a session committed before the outage is gone: {body}"));
        assert!(count >= 1);
    }
    store.pool().close().await;
}

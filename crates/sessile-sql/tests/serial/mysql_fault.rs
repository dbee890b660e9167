//! The MariaDB server stops and starts again under a steady load: requests during the outage get
//! 503, nothing panics, every request after the restart succeeds, and every session committed
//! before the outage is still there.
//!
//! This test stops the local MariaDB (`start-stop-daemon`, as `scripts/services` starts it), so
//! it needs root and must be the only test in its binary. A guard starts the server again however
//! the test ends.

#![cfg(feature = "mysql")]

use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::http::{get_text, new_session};
use crate::support::mysql::{connect, drop_table, spawn_instance};
use sessile::Keys;
use sessile_sql::MySqlStoreOptions;
use tokio::task::JoinSet;

const TABLE: &str = "sessile_fault";
const MARIADBD: &str = "/usr/sbin/mariadbd";
/// The plain server's pid file (Debian's `my.cnf`): start-stop-daemon matches it, so the TLS-only
/// MariaDB that `scripts/services` runs beside it is left alone.
const PIDFILE: &str = "/run/mysqld/mysqld.pid";

/// Where the server is when a request starts or ends.
const UP: u8 = 0;
const STOPPING: u8 = 1;
const DOWN: u8 = 2;
const STARTING: u8 = 3;
const BACK: u8 = 4;

fn server_answers() -> bool {
    Command::new("mariadb-admin")
        .args(["ping", "--silent"])
        .output()
        .is_ok_and(|output| output.status.success())
}

fn run(command: &mut Command) {
    let status = command.status().expect("run start-stop-daemon");
    assert!(status.success(), "{command:?} failed: {status}");
}

async fn wait_until(answers: bool) {
    for _ in 0..240 {
        if tokio::task::spawn_blocking(server_answers)
            .await
            .expect("ping task")
            == answers
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "MariaDB did not {} within a minute",
        if answers { "start" } else { "stop" }
    );
}

fn start_server() {
    let _ = std::fs::create_dir_all("/run/mysqld");
    let _ = Command::new("chown")
        .args(["mysql:mysql", "/run/mysqld"])
        .status();
    run(Command::new("start-stop-daemon").args([
        "--start",
        "--oknodo",
        "--background",
        "--pidfile",
        PIDFILE,
        "--exec",
        MARIADBD,
    ]));
}

fn stop_server() {
    run(Command::new("start-stop-daemon").args([
        "--stop",
        "--oknodo",
        "--retry",
        "30",
        "--pidfile",
        PIDFILE,
        "--exec",
        MARIADBD,
    ]));
}

/// Starts MariaDB again when dropped, whether the test passed or panicked.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        start_server();
        for _ in 0..240 {
            if server_answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        eprintln!("MariaDB did not come back; run scripts/services");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_with_503_during_a_restart_and_succeed_after() {
    let _turn = crate::exclusive().await;
    let setup = connect(MySqlStoreOptions::new(), TABLE).await;
    drop_table(&setup, TABLE).await;
    setup.migrate().await.expect("create the test table");
    setup.pool().close().await;

    let options = MySqlStoreOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(1))
        .statement_timeout(Duration::from_secs(1));
    let base = spawn_instance(options, TABLE, Keys::generate()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");

    // Sessions committed before the outage, each counted to 3; the load uses others.
    let mut committed = Vec::new();
    for _ in 0..10 {
        let cookie = new_session(&client, &base).await;
        for _ in 0..3 {
            let (status, _) = get_text(&client, &format!("{base}/count"), Some(&cookie)).await;
            assert_eq!(status, 200, "count before the outage");
        }
        committed.push(cookie);
    }

    let phase = Arc::new(AtomicU8::new(UP));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let mut load = JoinSet::new();
    for _ in 0..3 {
        let cookie = new_session(&client, &base).await;
        let (client, base, phase, outcomes) = (
            client.clone(),
            base.clone(),
            phase.clone(),
            outcomes.clone(),
        );
        load.spawn(async move {
            while phase.load(Ordering::Acquire) != BACK {
                let started = phase.load(Ordering::Acquire);
                let (status, _) = get_text(&client, &format!("{base}/count"), Some(&cookie)).await;
                let ended = phase.load(Ordering::Acquire);
                outcomes
                    .lock()
                    .expect("outcomes")
                    .push((started, ended, status));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let guard = RestartOnDrop;
    phase.store(STOPPING, Ordering::Release);
    tokio::task::spawn_blocking(stop_server)
        .await
        .expect("stop task");
    wait_until(false).await;
    phase.store(DOWN, Ordering::Release);

    // While the server is down, reads, increments and new sessions all get 503.
    let probe = &committed[0];
    for path in ["/get", "/count", "/set?k=during"] {
        for _ in 0..3 {
            let (status, _) = get_text(&client, &format!("{base}{path}"), Some(probe)).await;
            assert_eq!(status, 503, "{path} during the outage");
        }
    }
    let (status, _) = get_text(&client, &format!("{base}/set?k=new"), None).await;
    assert_eq!(status, 503, "creating a session during the outage");
    tokio::time::sleep(Duration::from_millis(500)).await;

    phase.store(STARTING, Ordering::Release);
    tokio::task::spawn_blocking(start_server)
        .await
        .expect("start task");
    wait_until(true).await;
    phase.store(BACK, Ordering::Release);
    drop(guard);

    while let Some(task) = load.join_next().await {
        task.expect("a load task");
    }
    let outcomes = outcomes.lock().expect("outcomes").clone();
    assert!(
        outcomes
            .iter()
            .any(|&(started, ended, _)| started == DOWN && ended == DOWN),
        "the load ran during the outage"
    );
    for &(started, ended, status) in &outcomes {
        assert!(
            status == 200 || status == 503,
            "only success or 503, never {status}"
        );
        if started == UP && ended == UP {
            assert_eq!(status, 200, "before the outage");
        }
        if started == DOWN && ended == DOWN {
            assert_eq!(status, 503, "during the outage");
        }
    }

    // After the restart the pool recovers by itself: every request succeeds.
    for index in 0..50 {
        let cookie = &committed[index % committed.len()];
        let (status, _) = get_text(&client, &format!("{base}/keys"), Some(cookie)).await;
        assert_eq!(status, 200, "request {index} after the restart");
    }
    for cookie in &committed {
        let (status, count) = get_text(&client, &format!("{base}/get"), Some(cookie)).await;
        assert_eq!(status, 200);
        assert_eq!(
            count, "3",
            "a session committed before the outage keeps its data"
        );
    }
}

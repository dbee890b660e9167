//! Restarts the standalone Redis while an app runs a steady, bounded load against it: every
//! request during the outage is a 503 (never a 500, a panic or a dropped connection), and the
//! same app serves 200s again once Redis is back, without being restarted.
//!
//! Redis here keeps nothing on disk (`--save ""`), so sessions committed before the restart are
//! gone after it: the test asserts recovery, not survival.

use crate::common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sessile::Keys;

// Requests are judged by the phase they started and ended in; the phase moves to STOPPING
// before the shutdown and to RESTARTED before the restart, so BEFORE-only requests saw Redis up
// and OUTAGE-only requests saw it down.
const BEFORE: u8 = 0;
const STOPPING: u8 = 1;
const OUTAGE: u8 = 2;
const RESTARTED: u8 = 3;
const WORKERS: usize = 4;

fn redis_is_up() -> bool {
    common::redis_cli(&["-p", "6379", "ping"]).is_some_and(|reply| reply.trim() == "PONG")
}

fn start_redis() {
    // The daemon must not inherit this process's open files: run under `flock`, it would hold
    // the test lock for as long as it runs, and nothing could take the lock exclusively again
    // (`scripts/services`, which the Cluster failover test runs, closes them the same way).
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(concat!(
            r#"for fd in /proc/$$/fd/*; do fd=${fd##*/}; "#,
            r#"if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi; "#,
            r#"done; exec redis-server "$@""#
        ))
        .arg("bash")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ])
        .status()
        .expect("run redis-server");
    assert!(status.success(), "redis-server failed to start");
}

/// Brings Redis back whatever happens to the test, so later tests find it running.
struct RestartRedisOnDrop;

impl Drop for RestartRedisOnDrop {
    fn drop(&mut self) {
        if !redis_is_up() {
            start_redis();
            for _ in 0..50 {
                if redis_is_up() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// One finished request: the phase when it started and when it ended, and its status.
type Outcome = (u8, u8, u16);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_under_load_gives_503_then_recovers() {
    let _turn = crate::exclusive().await;
    assert!(
        redis_is_up(),
        "Redis is not running on 127.0.0.1:6379; start it with `scripts/services`"
    );
    let _guard = RestartRedisOnDrop;
    let store = sessile_redis::RedisStore::builder()
        .key_prefix(common::run_prefix("fault"))
        .acquire_timeout(Duration::from_millis(300))
        .statement_timeout(Duration::from_millis(300))
        .connect(&common::standalone_url())
        .await
        .expect("connect to Redis");
    let manager = common::manager(store, Keys::generate(), Duration::from_millis(500));
    let url = common::serve(common::app(manager)).await;
    let client = reqwest::Client::new();

    let phase = Arc::new(AtomicU8::new(BEFORE));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicU8::new(0));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (client, url) = (client.clone(), url.clone());
        let (phase, outcomes, stop) = (phase.clone(), outcomes.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while stop.load(Ordering::SeqCst) == 0 {
                n += 1;
                let started = phase.load(Ordering::SeqCst);
                // No cookie: each request creates a session, one store write.
                let response = client
                    .post(format!("{url}/keys/w{worker}-{n}"))
                    .send()
                    .await
                    .expect("the app answers every request, even during the outage");
                let ended = phase.load(Ordering::SeqCst);
                outcomes.lock().expect("outcomes lock").push((
                    started,
                    ended,
                    response.status().as_u16(),
                ));
                // A steady, bounded load: at most WORKERS requests in flight, paced.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let count_in = |wanted: u8| {
        let outcomes = outcomes.lock().expect("outcomes lock");
        outcomes
            .iter()
            .filter(|(s, e, _)| *s == wanted && *e == wanted)
            .count()
    };

    common::eventually("20 requests succeed before the outage", 100, || {
        count_in(BEFORE) >= 20
    })
    .await;

    phase.store(STOPPING, Ordering::SeqCst);
    let _ = common::redis_cli(&["-p", "6379", "shutdown", "nosave"]);
    common::eventually("Redis is down", 50, || !redis_is_up()).await;
    phase.store(OUTAGE, Ordering::SeqCst);
    common::eventually("40 requests run during the outage", 300, || {
        count_in(OUTAGE) >= 40
    })
    .await;

    // The phase flips first: a request that ends after this may already see Redis again.
    phase.store(RESTARTED, Ordering::SeqCst);
    start_redis();
    common::eventually("Redis is back", 50, redis_is_up).await;
    common::eventually("a request succeeds after the restart", 150, || {
        outcomes
            .lock()
            .expect("outcomes lock")
            .iter()
            .any(|(s, _, status)| *s == RESTARTED && *status == 200)
    })
    .await;
    stop.store(1, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("load worker");
    }

    let outcomes = outcomes.lock().expect("outcomes lock").clone();
    for (started, ended, status) in &outcomes {
        assert!(
            *status == 200 || *status == 503,
            "only 200 or 503, never {status} (started in phase {started}, ended in {ended})"
        );
        if *started == BEFORE && *ended == BEFORE {
            assert_eq!(*status, 200, "before the outage every request succeeds");
        }
        if *started == OUTAGE && *ended == OUTAGE {
            assert_eq!(*status, 503, "during the outage every request is a 503");
        }
    }

    // Full recovery, in the same app: 50 requests, each a fresh session and a write.
    common::assert_full_recovery(&client, &url, "after recovery").await;
}

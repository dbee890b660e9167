//! Kills one primary of the Redis Cluster while an app runs a steady load against it: requests
//! answer 200 or 503 meanwhile (never a 500, a panic or a dropped connection), and once the
//! primary's replica has taken over the same app serves 200s again. The killed node is then
//! started again and rejoins as a replica, leaving the Cluster healthy for later runs.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sessile::Keys;

const SERVICES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/services");
const PORTS: [u16; 6] = [7000, 7001, 7002, 7003, 7004, 7005];
const BEFORE: u8 = 0;
const KILLING: u8 = 1;

fn cli(port: u16, args: &[&str]) -> Option<String> {
    let port = port.to_string();
    let mut all = vec!["-p", port.as_str()];
    all.extend_from_slice(args);
    common::redis_cli(&all)
}

/// `cluster_state:ok` as seen by `port`.
fn cluster_ok_at(port: u16) -> bool {
    cli(port, &["cluster", "info"]).is_some_and(|info| info.contains("cluster_state:ok"))
}

/// The port of a live primary that serves slots, from `port`'s view of the Cluster.
fn a_primary(port: u16) -> Option<u16> {
    let nodes = cli(port, &["cluster", "nodes"])?;
    nodes.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let flags = fields.get(2)?;
        let serves_slots = fields.len() > 8;
        if flags.contains("master") && !flags.contains("fail") && serves_slots {
            let address = fields.get(1)?.split('@').next()?;
            address.rsplit(':').next()?.parse().ok()
        } else {
            None
        }
    })
}

fn start_cluster_nodes() {
    let status = std::process::Command::new(SERVICES)
        .arg("redis-cluster")
        .status()
        .expect("run scripts/services redis-cluster");
    assert!(status.success(), "scripts/services redis-cluster failed");
}

/// Starts any killed node again (it rejoins from its nodes.conf), whatever happens to the test.
struct RestartNodesOnDrop;

impl Drop for RestartNodesOnDrop {
    fn drop(&mut self) {
        if PORTS.iter().any(|port| cli(*port, &["ping"]).is_none()) {
            start_cluster_nodes();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_primary_fails_over_and_requests_recover() {
    let _turn = crate::exclusive().await;
    assert!(
        PORTS.iter().all(|port| cluster_ok_at(*port)),
        "the Redis Cluster on ports 7000-7005 is not healthy; start it with `scripts/services`"
    );
    let _guard = RestartNodesOnDrop;
    let store = common::cluster_store_with_timeout(
        &common::run_prefix("failover"),
        Duration::from_millis(500),
    )
    .await;
    let manager = common::manager(store, Keys::generate(), Duration::from_secs(1));
    let url = common::serve(common::app(manager)).await;
    let client = reqwest::Client::new();

    let phase = Arc::new(AtomicU8::new(BEFORE));
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<(u8, u16)>>> = Arc::default();
    let mut workers = Vec::new();
    for worker in 0..2 {
        let (client, url) = (client.clone(), url.clone());
        let (phase, stop, outcomes) = (phase.clone(), stop.clone(), outcomes.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let started = phase.load(Ordering::SeqCst);
                // No cookie: each request creates a session in a random slot, so the load
                // reaches every primary.
                let response = client
                    .post(format!("{url}/keys/w{worker}-{n}"))
                    .send()
                    .await
                    .expect("the app answers every request, even during the failover");
                let ended = phase.load(Ordering::SeqCst);
                let status = response.status().as_u16();
                outcomes
                    .lock()
                    .expect("outcomes lock")
                    .push((started.max(ended), status));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let successes_since = |from: usize| {
        let outcomes = outcomes.lock().expect("outcomes lock");
        outcomes
            .iter()
            .skip(from)
            .filter(|(_, status)| *status == 200)
            .count()
    };
    common::eventually("20 requests succeed before the failover", 100, || {
        successes_since(0) >= 20
    })
    .await;

    let victim = a_primary(7000)
        .or_else(|| a_primary(7001))
        .expect("the Cluster has a primary");
    let survivor = *PORTS
        .iter()
        .find(|port| **port != victim)
        .expect("another node");
    phase.store(KILLING, Ordering::SeqCst);
    let _ = cli(victim, &["shutdown", "nosave"]);
    common::eventually("the killed primary is down", 50, || {
        cli(victim, &["ping"]).is_none()
    })
    .await;
    common::eventually(
        "a replica took over (cluster_state:ok without the killed node)",
        150,
        || {
            cluster_ok_at(survivor)
                && cli(survivor, &["cluster", "nodes"]).is_some_and(|nodes| {
                    nodes
                        .lines()
                        .any(|line| line.contains(&format!(":{victim}@")) && line.contains("fail"))
                })
        },
    )
    .await;
    // Recovered means every slot is served again: 20 requests in a row answered 200, each in a
    // random slot. Ten successes in all could come from the surviving primaries alone while the
    // app's view of the killed primary's slots is still being refreshed.
    let mark = outcomes.lock().expect("outcomes lock").len();
    common::eventually(
        "20 requests in a row succeed after the failover",
        150,
        || {
            let outcomes = outcomes.lock().expect("outcomes lock");
            let since = outcomes.get(mark..).unwrap_or_default();
            since.len() >= 20
                && since[since.len() - 20..]
                    .iter()
                    .all(|(_, status)| *status == 200)
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("load worker");
    }
    for (phase, status) in outcomes.lock().expect("outcomes lock").iter() {
        assert!(
            *status == 200 || *status == 503,
            "only 200 or 503, never {status}"
        );
        if *phase == BEFORE {
            assert_eq!(*status, 200, "before the failover every request succeeds");
        }
    }

    // Full recovery in the same app: 50 fresh sessions spread over all slots, each written and
    // then incremented.
    common::assert_full_recovery(&client, &url, "after the failover").await;

    // Bring the killed node back: it rejoins as a replica of the node that replaced it.
    start_cluster_nodes();
    common::eventually("the restarted node is a replica", 150, || {
        cli(victim, &["role"]).is_some_and(|role| role.starts_with("slave"))
    })
    .await;
    common::eventually("every node sees cluster_state:ok", 150, || {
        PORTS.iter().all(|port| cluster_ok_at(*port))
    })
    .await;
}

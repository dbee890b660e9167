//! Two app instances, each with its own connection to the Redis Cluster, share one session over
//! real HTTP on loopback: concurrent commits of different keys all persist and concurrent
//! increments add up.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use sessile::{Keys, SessionData};
use tokio::task::JoinSet;

const REQUESTS: usize = 200;
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

struct TwoApps {
    urls: [String; 2],
    client: reqwest::Client,
    cookie: String,
}

impl TwoApps {
    async fn start() -> Self {
        let prefix = common::run_prefix("two-apps");
        let keys = Keys::generate();
        let mut urls = Vec::new();
        for _ in 0..2 {
            let store = common::cluster_store(&prefix).await;
            let manager = common::manager(store, keys.clone(), STORE_TIMEOUT);
            urls.push(common::serve(common::app(manager)).await);
        }
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{}/keys/started", urls[0]))
            .send()
            .await
            .expect("the first app answers");
        assert_eq!(response.status(), 200);
        let cookie = common::session_cookie(&response).expect("a new session sets its cookie");
        Self {
            urls: [urls[0].clone(), urls[1].clone()],
            client,
            cookie,
        }
    }

    /// Sends `REQUESTS` concurrent POSTs to `path(i)`, alternating between the two apps; the
    /// response bodies in completion order.
    async fn concurrent_posts(&self, path: impl Fn(usize) -> String) -> Vec<String> {
        let mut requests = JoinSet::new();
        for i in 0..REQUESTS {
            let request = self
                .client
                .post(format!("{}{}", self.urls[i % 2], path(i)))
                .header(reqwest::header::COOKIE, &self.cookie);
            requests.spawn(async move {
                let response = request.send().await.expect("the app answers");
                assert_eq!(response.status(), 200, "every concurrent request succeeds");
                response.text().await.expect("a body")
            });
        }
        let mut bodies = Vec::new();
        while let Some(body) = requests.join_next().await {
            bodies.push(body.expect("request task"));
        }
        bodies
    }

    async fn data(&self, app: usize) -> SessionData {
        let response = self
            .client
            .get(format!("{}/data", self.urls[app]))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await
            .expect("the app answers");
        assert_eq!(response.status(), 200);
        response.json().await.expect("session data as JSON")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_different_key_writes_through_two_apps_all_persist() {
    let apps = TwoApps::start().await;
    apps.concurrent_posts(|i| format!("/keys/key-{i}")).await;

    for app in 0..2 {
        let data = apps.data(app).await;
        let written: BTreeSet<&String> = data.keys().filter(|k| k.starts_with("key-")).collect();
        assert_eq!(
            written.len(),
            REQUESTS,
            "app {app} sees every one of the {REQUESTS} concurrently written keys"
        );
        assert_eq!(data.len(), REQUESTS + 1, "the 200 keys plus the first one");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_through_two_apps_add_up() {
    let apps = TwoApps::start().await;
    let bodies = apps.concurrent_posts(|_| "/incr".to_owned()).await;

    let values: BTreeSet<i64> = bodies
        .iter()
        .map(|body| body.parse().expect("an integer body"))
        .collect();
    let expected: BTreeSet<i64> = (1..=REQUESTS as i64).collect();
    assert_eq!(values, expected, "each increment saw a distinct new value");
    for app in 0..2 {
        assert_eq!(
            apps.data(app).await.get("hits"),
            Some(&serde_json::json!(REQUESTS)),
            "the counter ends at {REQUESTS} as seen by app {app}"
        );
    }
}

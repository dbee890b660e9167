//! Two app instances, each with its own pool and session layer, share one MySQL/MariaDB table:
//! concurrent requests for one session, spread across both over real HTTP, lose nothing.

#![cfg(feature = "mysql")]

mod mysql_common;

use std::collections::BTreeSet;

use mysql_common::{connect, drop_table, new_session, spawn_instance};
use sessile::Keys;
use sessile_sql::MySqlStoreOptions;
use tokio::task::JoinSet;

const TABLE: &str = "sessile_two_instances";
const REQUESTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_session_without_losing_changes() {
    let setup = connect(MySqlStoreOptions::new(), TABLE).await;
    drop_table(&setup, TABLE).await;
    setup.migrate().await.expect("create the test table");

    let keys = Keys::generate();
    let options = MySqlStoreOptions::new().max_connections(8);
    let instances = [
        spawn_instance(options.clone(), TABLE, keys.clone()).await,
        spawn_instance(options, TABLE, keys).await,
    ];
    let client = reqwest::Client::new();
    let cookie = new_session(&client, &instances[0]).await;

    // Every request sets its own key of the one session, half through each instance.
    let mut requests = JoinSet::new();
    for index in 0..REQUESTS {
        let url = format!("{}/set?k=key{index}", instances[index % 2]);
        let (client, cookie) = (client.clone(), cookie.clone());
        requests.spawn(async move {
            let response = client.get(url).header("cookie", cookie).send().await;
            response.expect("a response").status()
        });
    }
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.expect("the request task"), 200);
    }
    let stored: BTreeSet<String> = client
        .get(format!("{}/keys", instances[1]))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("list the keys")
        .json()
        .await
        .expect("the keys as JSON");
    let expected: BTreeSet<String> = (0..REQUESTS)
        .map(|index| format!("key{index}"))
        .chain(["seed".to_owned()])
        .collect();
    assert_eq!(stored, expected, "every concurrent key write must persist");

    // Concurrent increments through both instances: each sees a distinct value, the last 200.
    let mut requests = JoinSet::new();
    for index in 0..REQUESTS {
        let url = format!("{}/count", instances[index % 2]);
        let (client, cookie) = (client.clone(), cookie.clone());
        requests.spawn(async move {
            let response = client.get(url).header("cookie", cookie).send().await;
            let response = response.expect("a response");
            assert_eq!(response.status(), 200);
            response.text().await.expect("the count").parse::<i64>()
        });
    }
    let mut seen = BTreeSet::new();
    while let Some(count) = requests.join_next().await {
        seen.insert(count.expect("the request task").expect("a number"));
    }
    assert_eq!(
        seen,
        (1..=REQUESTS as i64).collect(),
        "every increment returns a distinct value"
    );
    let count = client
        .get(format!("{}/get", instances[0]))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("read the count")
        .text()
        .await
        .expect("the count");
    assert_eq!(count, REQUESTS.to_string());
}

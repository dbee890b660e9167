//! PostgreSQL store behaviour beyond the conformance suite: two app instances sharing one
//! database over real HTTP, the statement timeout, migrations and name validation.

#![cfg(feature = "postgres")]

mod postgres_common;

use std::collections::BTreeSet;
use std::time::Duration;

use postgres_common::{admin_pool, app, connect, database_url, drop_table, serve, TEST_SCHEMA};
use serde_json::json;
use sessile::{
    ChangeSet, Clock, Config, Device, Keys, Record, SessionId, SessionManager, Store, StoreError,
    SystemClock, UpdateOutcome,
};
use sessile_sql::{Error, PostgresStore};

const WRITERS: usize = 200;

/// Two instances (each its own pool and session layer) behind two loopback ports.
async fn two_instances(table: &str) -> (PostgresStore, [String; 2]) {
    let keys = Keys::generate();
    let mut bases = Vec::new();
    let mut first_store = None;
    for _ in 0..2 {
        let store = connect(table, PostgresStore::options()).await;
        first_store.get_or_insert_with(|| store.clone());
        let manager = SessionManager::new(store, Config::new(keys.clone()).with_secure(false));
        let address = serve(app(manager)).await;
        bases.push(format!("http://{address}"));
    }
    let bases = [bases[0].clone(), bases[1].clone()];
    (first_store.expect("two stores"), bases)
}

/// Starts a session on the first instance; its cookie.
async fn start_session(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/set?k=started"))
        .send()
        .await
        .expect("request to the test app");
    assert_eq!(response.status(), 200);
    postgres_common::session_cookie(&response).expect("a new session sets its cookie")
}

async fn get_text(client: &reqwest::Client, url: String, cookie: &str) -> (u16, String) {
    let response = client
        .get(url)
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("request to the test app");
    let status = response.status().as_u16();
    (status, response.text().await.expect("response body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_session_without_losing_writes() {
    let (store, bases) = two_instances("two_instances").await;
    let client = reqwest::Client::new();

    let cookie = start_session(&client, &bases[0]).await;
    let mut requests = tokio::task::JoinSet::new();
    for index in 0..WRITERS {
        let (client, cookie) = (client.clone(), cookie.clone());
        let url = format!("{}/set?k=key{index}", bases[index % 2]);
        requests.spawn(async move { get_text(&client, url, &cookie).await });
    }
    while let Some(result) = requests.join_next().await {
        assert_eq!(result.expect("request task").0, 200, "every set succeeds");
    }
    let (status, count) = get_text(&client, format!("{}/keys", bases[1]), &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(
        count,
        (WRITERS + 1).to_string(),
        "all {WRITERS} keys (and the first) persist"
    );

    let cookie = start_session(&client, &bases[1]).await;
    let mut requests = tokio::task::JoinSet::new();
    for index in 0..WRITERS {
        let (client, cookie) = (client.clone(), cookie.clone());
        let url = format!("{}/count", bases[index % 2]);
        requests.spawn(async move { get_text(&client, url, &cookie).await });
    }
    let mut values = BTreeSet::new();
    while let Some(result) = requests.join_next().await {
        let (status, body) = result.expect("request task");
        assert_eq!(status, 200, "every increment succeeds");
        values.insert(body.parse::<i64>().expect("an increment returns a number"));
    }
    assert_eq!(
        values,
        (1..=WRITERS as i64).collect::<BTreeSet<_>>(),
        "each increment saw its own value"
    );
    let (status, count) = get_text(&client, format!("{}/get", bases[0]), &cookie).await;
    assert_eq!((status, count.as_str()), (200, "200"));
    store.pool().close().await;
}

fn fresh_record() -> Record {
    let now = SystemClock.now();
    Record {
        data: serde_json::from_value(json!({"a": 1})).expect("an object"),
        user: None,
        created_at: now,
        last_seen: now,
        idle_deadline: now + Duration::from_secs(1800),
        absolute_deadline: now + Duration::from_secs(3600),
        persistent: false,
        device: Device::default(),
    }
}

#[tokio::test]
async fn a_statement_over_the_timeout_is_unavailable_and_the_store_recovers() {
    let store = connect(
        "statement_timeout",
        PostgresStore::options().statement_timeout(Duration::from_millis(300)),
    )
    .await;
    let key = SessionId::generate().store_key();
    store.create(&key, &fresh_record()).await.expect("create");

    // Another connection holds the row lock, so the update waits until its statement timeout.
    let admin = admin_pool().await;
    let mut blocker = admin.begin().await.expect("begin");
    sqlx::query(&format!(
        "SELECT 1 FROM {} WHERE \"key\" = $1 FOR UPDATE",
        store.table()
    ))
    .bind(key.as_bytes().as_slice())
    .execute(&mut *blocker)
    .await
    .expect("lock the row");
    let mut changes = ChangeSet::default();
    changes.set("b", json!(2));
    let now = SystemClock.now();
    match store.update(&key, &changes, now).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("a statement timeout must be Unavailable, got {other:?}"),
    }

    blocker.rollback().await.expect("release the lock");
    assert_eq!(
        store.update(&key, &changes, now).await.expect("update"),
        UpdateOutcome::Applied
    );
    let loaded = store.load(&key, now).await.expect("load").expect("live");
    assert_eq!(loaded.data.get("b"), Some(&json!(2)));
}

#[tokio::test]
async fn migrations_run_once_even_when_instances_start_together() {
    const TABLE: &str = "migrations";
    let admin = admin_pool().await;
    drop_table(&admin, TABLE).await;

    let unmigrated = connect(TABLE, PostgresStore::options().migrate_on_connect(false)).await;
    let table_exists = || async {
        sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("{TEST_SCHEMA}.{TABLE}"))
            .fetch_one(&admin)
            .await
            .expect("look the table up")
    };
    assert!(
        !table_exists().await,
        "migrate_on_connect(false) creates nothing"
    );

    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        starts.spawn(async { connect(TABLE, PostgresStore::options()).await });
    }
    while let Some(store) = starts.join_next().await {
        store.expect("start task").pool().close().await;
    }
    unmigrated
        .migrate()
        .await
        .expect("migrating again is a no-op");
    assert!(table_exists().await);
    let versions: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM \"{TEST_SCHEMA}\".\"{TABLE}_schema_versions\" ORDER BY version"
    ))
    .fetch_all(&admin)
    .await
    .expect("read the versions");
    assert_eq!(versions, vec![1], "each version is recorded once");

    let key = SessionId::generate().store_key();
    let record = fresh_record();
    unmigrated.create(&key, &record).await.expect("create");
    assert_eq!(
        unmigrated
            .load(&key, record.last_seen)
            .await
            .expect("load")
            .map(|loaded| loaded.data),
        Some(record.data)
    );
}

#[tokio::test]
async fn names_that_are_not_plain_identifiers_are_refused_before_connecting() {
    for (schema, table) in [
        (None, "sessions\"; DROP TABLE users; --"),
        (None, ""),
        (Some("bad schema"), "sessions"),
    ] {
        let mut options = PostgresStore::options().table(table);
        if let Some(schema) = schema {
            options = options.schema(schema);
        }
        // The port is closed: only a refusal before connecting can answer with InvalidName.
        match options
            .connect("postgres://postgres@127.0.0.1:1/test")
            .await
        {
            Err(Error::InvalidName { .. }) => {}
            other => panic!("{schema:?}.{table:?} must be refused, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unreachable_server_fails_to_connect() {
    // Nothing listens on port 1; this does not depend on the test server, but uses its URL's
    // user and database so it exercises the same path as a misconfigured port.
    let mut url: reqwest::Url = database_url().parse().expect("DATABASE_URL is a URL");
    url.set_port(Some(1)).expect("a port can be set");
    match PostgresStore::options()
        .acquire_timeout(Duration::from_millis(300))
        .connect(url.as_str())
        .await
    {
        Err(Error::Connect(_)) => {}
        other => panic!("connecting to a closed port must fail with Connect, got {other:?}"),
    }
}

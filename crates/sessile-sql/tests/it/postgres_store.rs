//! PostgreSQL store behaviour beyond the conformance suite: two app instances sharing one
//! database over real HTTP, the statement timeout, increment batches, migrations and name
//! validation.

#![cfg(feature = "postgres")]

use std::time::Duration;

use crate::support::http::{spawn_instance, two_instances_share_one_session, STORE_TIMEOUT};
use crate::support::postgres::{admin_pool, connect, database_url, drop_table, TEST_SCHEMA};
use crate::support::record_at;
use serde_json::json;
use sessile::{
    ChangeSet, Clock, CreateOutcome, IncrementOutcome, Keys, Record, SessionId, Store, StoreError,
    SystemClock, Touch, UpdateOutcome,
};
use sessile_sql::{Error, PostgresStore};

const WRITERS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_session_without_losing_writes() {
    const TABLE: &str = "two_instances";
    let keys = Keys::generate();
    let options = || PostgresStore::options().statement_timeout(STORE_TIMEOUT);
    let first = connect(TABLE, options()).await;
    let second = connect(TABLE, options()).await;
    let instances = [
        spawn_instance(first.clone(), keys.clone()).await,
        spawn_instance(second, keys).await,
    ];
    two_instances_share_one_session(&instances, WRITERS).await;
    first.pool().close().await;
}

fn fresh_record() -> Record {
    record_at(SystemClock.now(), json!({"a": 1}))
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

/// Increments committed together: a batch held up by a row lock until its statement timeout
/// fails each of its increments as `Unavailable` and writes nothing for them, every other
/// increment is applied exactly once, and the store recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_increment_batch_is_unavailable_and_writes_nothing() {
    const SESSIONS: usize = 20;
    let store = connect(
        "increment_batches",
        PostgresStore::options().statement_timeout(Duration::from_millis(500)),
    )
    .await;
    let keys: Vec<_> = (0..SESSIONS)
        .map(|_| SessionId::generate().store_key())
        .collect();
    for key in &keys {
        store.create(key, &fresh_record()).await.expect("create");
    }
    let admin = admin_pool().await;
    let mut blocker = admin.begin().await.expect("begin");
    sqlx::query(&format!(
        "SELECT 1 FROM {} WHERE \"key\" = $1 FOR UPDATE",
        store.table()
    ))
    .bind(keys[0].as_bytes().as_slice())
    .execute(&mut *blocker)
    .await
    .expect("lock the row");

    let now = SystemClock.now();
    let touch = Touch::new(now, now + Duration::from_secs(60));
    let mut increments = tokio::task::JoinSet::new();
    for round in 0..3 {
        for (index, key) in keys.iter().enumerate() {
            let store = store.clone();
            let key = key.clone();
            increments.spawn(async move {
                let outcome = store.increment(&key, "n", 1, touch, now).await;
                (round, index, outcome)
            });
        }
    }
    let mut applied = [0_i64; SESSIONS];
    let mut unavailable = 0;
    while let Some(joined) = increments.join_next().await {
        let (round, index, outcome) = joined.expect("no increment panics");
        match outcome {
            Ok(IncrementOutcome::Value(_)) => applied[index] += 1,
            Err(StoreError::Unavailable(_)) => unavailable += 1,
            other => panic!("increment {round} of session {index}: {other:?}"),
        }
    }
    assert_eq!(
        applied[0], 0,
        "the locked session's increments all time out"
    );
    assert!(unavailable >= 3);
    blocker.rollback().await.expect("release the lock");

    for (index, key) in keys.iter().enumerate() {
        let loaded = store.load(key, now).await.expect("load").expect("live");
        let stored = loaded.data.get("n").cloned().unwrap_or(json!(0));
        assert_eq!(
            stored,
            json!(applied[index]),
            "session {index} holds exactly the increments that reported a value"
        );
        assert_eq!(
            store
                .increment(key, "n", 1, touch, now)
                .await
                .expect("recovered"),
            IncrementOutcome::Value(applied[index] + 1)
        );
    }
}

#[tokio::test]
async fn migration_sql_run_by_another_tool_creates_a_table_the_store_serves() {
    const TABLE: &str = "own_tool_migrations";
    let admin = admin_pool().await;
    drop_table(&admin, TABLE).await;
    let options = PostgresStore::options()
        .schema(TEST_SCHEMA)
        .table(TABLE)
        .migrate_on_connect(false);
    // A `&str` without arguments goes over the simple query protocol: every statement runs.
    sqlx::Executor::execute(&admin, options.migration_sql().unwrap().as_str())
        .await
        .expect("the migration SQL runs as it is");
    let store = connect(TABLE, options).await;
    let key = SessionId::generate().store_key();
    let record = fresh_record();
    assert_eq!(
        store.create(&key, &record).await.expect("create"),
        CreateOutcome::Created
    );
    store
        .migrate()
        .await
        .expect("a later migrate only records the version");
    drop_table(&admin, TABLE).await;
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
    assert_eq!(versions, vec![1, 2, 3], "each version is recorded once");

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
async fn a_closed_port_fails_to_connect_with_connection_refused() {
    // Nothing listens on port 1; this does not depend on the test server, but uses its URL's
    // user and database so it exercises the same path as a misconfigured port. The default
    // acquire timeout: the pool used to retry until it and report a bare PoolTimedOut.
    let mut url: reqwest::Url = database_url().parse().expect("DATABASE_URL is a URL");
    url.set_port(Some(1)).expect("a port can be set");
    match PostgresStore::options().connect(url.as_str()).await {
        Err(error @ Error::Connect(_)) => {
            let message = error.to_string();
            assert!(
                message.contains("Connection refused") && !message.contains("timed out"),
                "the cause must survive: {message}"
            );
        }
        other => panic!("connecting to a closed port must fail with Connect, got {other:?}"),
    }
}

/// Counts the PostgreSQL notices sqlx logs (target `sqlx::postgres::notice`) on this thread.
#[derive(Clone, Default)]
struct NoticeLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for NoticeLog {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "sqlx::postgres::notice"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{value:?} "));
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

// Current-thread runtime: sqlx reads the server's answers in the calling task, so the notices
// reach this thread's subscriber.
#[tokio::test]
async fn a_restart_on_a_migrated_table_logs_no_notice() {
    const TABLE: &str = "restart_notices";
    drop_table(&admin_pool().await, TABLE).await;
    let notices = NoticeLog::default();
    let _guard = tracing::subscriber::set_default(notices.clone());

    // A DDL statement that finds its object in place does notice: the log sees it.
    let pool = admin_pool().await;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{TEST_SCHEMA}\""))
        .execute(&pool)
        .await
        .expect("the test schema");
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{TEST_SCHEMA}\""))
        .execute(&pool)
        .await
        .expect("the test schema again");
    let seen = std::mem::take(&mut *notices.0.lock().unwrap());
    assert!(
        seen.iter().any(|notice| notice.contains("already exists")),
        "the notice log must see a notice: {seen:?}"
    );

    connect(TABLE, PostgresStore::options()).await; // creates the table
    connect(TABLE, PostgresStore::options()).await; // a restart
    connect(TABLE, PostgresStore::options()).await; // and another
    let seen = notices.0.lock().unwrap().clone();
    assert!(seen.is_empty(), "starting logged notices: {seen:?}");
}

//! Running the built `sessile` and reaching the same stores through the library.
//!
//! Servers come from `DATABASE_URL`, `MYSQL_URL`, `REDIS_URL` and `REDIS_CLUSTER_URLS`, as in
//! the store crates' tests (defaults: the servers `scripts/services` starts). A test that cannot
//! reach one fails, naming that command.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use sessile::Store;
use sessile_redis::RedisStore;
use sessile_sql::{MySqlStoreOptions, PostgresStoreOptions, SqliteStoreOptions};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout as JSON, `Null` when it is not JSON.
    pub json: Value,
}

/// Runs `sessile` with the store arguments, then the command's.
pub fn sessile<S: AsRef<str>>(store: &[S], command: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_sessile"))
        .args(store.iter().map(AsRef::as_ref))
        .args(command)
        .env_remove("SESSILE_STORE")
        .output()
        .expect("run the sessile binary");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    Run {
        code: output.status.code().expect("sessile exited by itself"),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A random name part, so runs and tests never share a table or prefix.
fn unique() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// Where a test's sessions live.
pub enum Backend {
    Sqlite(PathBuf),
    Postgres { url: String, table: String },
    MySql { url: String, table: String },
    Redis { urls: Vec<String>, prefix: String },
}

pub struct Fixture {
    /// The `--store ...` arguments naming the store for the binary.
    pub args: Vec<String>,
    pub backend: Backend,
}

impl Fixture {
    /// Whether Redis drops sessions at their deadline by itself (so a scan never sees them
    /// expired and `gc` removes only their index entries).
    pub fn expires_by_itself(&self) -> bool {
        matches!(self.backend, Backend::Redis { .. })
    }

    /// The same store through the library (after `sessile migrate` made its table).
    pub async fn store(&self) -> Arc<dyn Store> {
        match &self.backend {
            Backend::Sqlite(path) => Arc::new(
                SqliteStoreOptions::new()
                    .migrate_on_connect(false)
                    .open(path)
                    .await
                    .expect("open the test's SQLite file"),
            ),
            Backend::Postgres { url, table } => Arc::new(
                PostgresStoreOptions::new()
                    .table(table)
                    .migrate_on_connect(false)
                    .connect(url)
                    .await
                    .unwrap_or_else(|error| unreachable_server("PostgreSQL", url, error)),
            ),
            Backend::MySql { url, table } => Arc::new(
                MySqlStoreOptions::new()
                    .table(table)
                    .migrate_on_connect(false)
                    .connect(url)
                    .await
                    .unwrap_or_else(|error| unreachable_server("MariaDB", url, error)),
            ),
            Backend::Redis { urls, prefix } => {
                let builder = RedisStore::builder().key_prefix(prefix);
                let store = if urls.len() > 1 {
                    builder.cluster(urls.clone()).await
                } else {
                    builder.connect(&urls[0]).await
                };
                Arc::new(store.unwrap_or_else(|error| unreachable_server("Redis", &urls[0], error)))
            }
        }
    }

    /// Drops the test's table (SQL servers; SQLite files go with their directory, Redis keys
    /// expire with their sessions).
    pub async fn drop_table(&self) {
        match &self.backend {
            Backend::Postgres { url, table } => {
                let pool = sqlx::PgPool::connect(url)
                    .await
                    .expect("connect to PostgreSQL");
                for name in [table.clone(), format!("{table}_schema_versions")] {
                    sqlx::query(&format!("DROP TABLE IF EXISTS \"{name}\""))
                        .execute(&pool)
                        .await
                        .expect("drop the test table");
                }
            }
            Backend::MySql { url, table } => {
                let pool = sqlx::MySqlPool::connect(url)
                    .await
                    .expect("connect to MariaDB");
                for name in [table.clone(), format!("{table}_schema_versions")] {
                    sqlx::query(&format!("DROP TABLE IF EXISTS `{name}`"))
                        .execute(&pool)
                        .await
                        .expect("drop the test table");
                }
            }
            Backend::Sqlite(_) | Backend::Redis { .. } => {}
        }
    }
}

fn unreachable_server(what: &str, url: &str, error: impl std::fmt::Display) -> ! {
    panic!("cannot use {what} at {url} ({error}); start it with `scripts/services`")
}

pub fn sqlite_fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("sessile-cli-{}", unique()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let path = dir.join("sessions.db");
    Fixture {
        args: vec!["--store".into(), format!("sqlite:{}", path.display())],
        backend: Backend::Sqlite(path),
    }
}

pub async fn postgres_fixture() -> Fixture {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into());
    let table = format!("cli_{}", unique());
    Fixture {
        args: vec![
            "--store".into(),
            url.clone(),
            "--table".into(),
            table.clone(),
        ],
        backend: Backend::Postgres { url, table },
    }
}

pub async fn mysql_fixture() -> Fixture {
    let url =
        std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let table = format!("cli_{}", unique());
    Fixture {
        args: vec![
            "--store".into(),
            url.clone(),
            "--table".into(),
            table.clone(),
        ],
        backend: Backend::MySql { url, table },
    }
}

pub async fn redis_fixture(cluster: bool) -> Fixture {
    let urls: Vec<String> = if cluster {
        match std::env::var("REDIS_CLUSTER_URLS") {
            Ok(urls) => urls.split(',').map(|url| url.trim().to_owned()).collect(),
            Err(_) => (7000..=7005)
                .map(|port| format!("redis://127.0.0.1:{port}"))
                .collect(),
        }
    } else {
        vec![std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())]
    };
    let prefix = format!("sessile-test:cli:{}:", unique());
    let mut args = Vec::new();
    for url in &urls {
        args.extend(["--store".to_owned(), url.clone()]);
    }
    args.extend(["--prefix".to_owned(), prefix.clone()]);
    Fixture {
        args,
        backend: Backend::Redis { urls, prefix },
    }
}

/// Creates the fixture's SQLite file and fills it with `count` sessions that expired long ago,
/// in one statement (a create per row would take minutes through the store's single writer).
pub async fn insert_expired_sqlite_rows(fixture: &Fixture, count: u32) {
    let migrated = sessile(&fixture.args, &["migrate"]);
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    let Backend::Sqlite(path) = &fixture.backend else {
        panic!("a SQLite fixture")
    };
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .expect("open the test's SQLite file");
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
         INSERT INTO sessile_sessions (\"key\", data, user_id, created_at, last_seen, \
             idle_deadline, absolute_deadline, expires_at) \
         SELECT randomblob(32), '{}', 'user-' || (i % 100), 1000, 1000, 2000, 3000, 2000 FROM n",
    )
    .bind(count)
    .execute(&pool)
    .await
    .expect("insert expired rows");
    pool.close().await;
}

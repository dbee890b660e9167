//! `anonymous-flood <memory|sqlite|postgres|mysql|redis> [N]`: what N anonymous writes (default
//! 10,000, each a new visitor's `increment("count", 1)`, as the demo's `POST /api/count`)
//! cost a store, through the engine: the store's growth per anonymous session (memory: process
//! RSS; SQLite: file pages; PostgreSQL and MariaDB: the table's size with its indexes; Redis:
//! `used_memory`), and for `memory` whether 50 signed-in users survive the flood in a store
//! bounded at 1,000 sessions. Prints one line of `key=value` pairs; BENCHMARKS.md has the
//! numbers. Servers at the test URLs (`POSTGRES_URL`, `MYSQL_URL`, `REDIS_URL` override them).

use std::process::ExitCode;
use std::sync::Arc;

use http::HeaderMap;
use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds, Store};

const USERS: usize = 50;
const CAPACITY: usize = 1_000;

type Outcome = Result<(), Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(store) = args.next() else {
        eprintln!("usage: anonymous-flood <memory|sqlite|postgres|mysql|redis> [N]");
        return ExitCode::from(2);
    };
    let writes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    match runtime.block_on(run(&store, writes)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("anonymous-flood: {error}");
            ExitCode::from(1)
        }
    }
}

fn url(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

/// `writes` anonymous visitors, each one increment of a new session, committed.
async fn flood(manager: &SessionManager, writes: usize) -> Result<(), sessile::SessionError> {
    for _ in 0..writes {
        let session = manager.start(&HeaderMap::new(), None);
        session.increment("count", 1).await?;
        session.finish().await?;
    }
    Ok(())
}

fn manager(store: impl Store) -> SessionManager {
    SessionManager::new(store, SignedIds::new(Keys::generate()), Config::default())
}

fn per_session(before: u64, after: u64, writes: usize) -> f64 {
    (after.saturating_sub(before)) as f64 / writes as f64
}

async fn run(store: &str, writes: usize) -> Outcome {
    match store {
        "memory" => memory(writes).await,
        "sqlite" => sqlite(writes).await,
        "postgres" => postgres(writes).await,
        "mysql" => mysql(writes).await,
        "redis" => redis(writes).await,
        other => Err(format!("unknown store {other:?}").into()),
    }
}

/// Resident set size of this process, from `/proc/self/statm` (pages of 4 KiB).
fn rss_bytes() -> Result<u64, Box<dyn std::error::Error>> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or("no RSS in /proc/self/statm")?
        .parse()?;
    Ok(pages * 4096)
}

async fn memory(writes: usize) -> Outcome {
    // Growth: an unbounded store.
    let store = Arc::new(MemoryStore::new());
    let manager = manager(Arc::clone(&store));
    let before = rss_bytes()?;
    flood(&manager, writes).await?;
    let after = rss_bytes()?;
    let grown = per_session(before, after, writes);

    // Eviction: 50 users, then the flood, in a store bounded at 1,000 sessions.
    let bounded = Arc::new(MemoryStore::new().with_capacity(CAPACITY));
    let manager = manager_of(&bounded);
    let mut users = Vec::new();
    for n in 0..USERS {
        let session = manager.start(&HeaderMap::new(), None);
        session.set_user(Some(&format!("user-{n}")));
        users.push(cookie(&session.finish().await?)?);
    }
    flood(&manager, writes).await?;
    let mut signed_in = 0;
    for cookie in &users {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, cookie.parse()?);
        if manager.start(&headers, None).user().await?.is_some() {
            signed_in += 1;
        }
    }
    println!(
        "store=memory writes={writes} sessions={} rss_bytes_per_session={grown:.0} \
         bounded_capacity={CAPACITY} bounded_len={} signed_in_users_left={signed_in}/{USERS}",
        store.len(),
        bounded.len(),
    );
    Ok(())
}

fn manager_of(store: &Arc<MemoryStore>) -> SessionManager {
    manager(Arc::clone(store))
}

fn cookie(response: &sessile::ResponseHeaders) -> Result<String, Box<dyn std::error::Error>> {
    let (_, value) = response
        .headers
        .iter()
        .find(|(name, _)| *name == http::header::SET_COOKIE)
        .ok_or("no cookie issued")?;
    Ok(value
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned())
}

async fn sqlite(writes: usize) -> Outcome {
    let directory = std::env::temp_dir().join(format!("anonymous-flood-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    let path = directory.join("sessions.db");
    let store = sessile_sql::SqliteStore::open(&path).await?;
    let pool = store.pool().clone();
    let pages = || async {
        let count: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&pool)
            .await?;
        let size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&pool)
            .await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await?;
        Ok::<u64, sqlx::Error>((count * size) as u64)
    };
    let before = pages().await?;
    let manager = manager(store);
    flood(&manager, writes).await?;
    // Checkpointed, so the pages are in the main file.
    pages().await?;
    let after = pages().await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessile_sessions")
        .fetch_one(&pool)
        .await?;
    println!(
        "store=sqlite writes={writes} rows={rows} file_bytes_per_row={:.0}",
        per_session(before, after, writes)
    );
    std::fs::remove_dir_all(&directory)?;
    Ok(())
}

async fn postgres(writes: usize) -> Outcome {
    let url = url("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let table = format!("flood_{}", std::process::id());
    let store = sessile_sql::PostgresStore::options()
        .table(&table)
        .connect(&url)
        .await?;
    let pool = store.pool().clone();
    let size = || async {
        sqlx::query(&format!("VACUUM {table}"))
            .execute(&pool)
            .await?;
        let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
            .bind(&table)
            .fetch_one(&pool)
            .await?;
        Ok::<u64, sqlx::Error>(bytes as u64)
    };
    let before = size().await?;
    let manager = manager(store);
    flood(&manager, writes).await?;
    let after = size().await?;
    println!(
        "store=postgres writes={writes} table_bytes_per_row={:.0} (table, toast and indexes)",
        per_session(before, after, writes)
    );
    for name in [table.clone(), format!("{table}_schema_versions")] {
        sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
            .execute(&pool)
            .await?;
    }
    Ok(())
}

async fn mysql(writes: usize) -> Outcome {
    let url = url("MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
    let table = format!("flood_{}", std::process::id());
    let store = sessile_sql::MySqlStore::options()
        .table(&table)
        .connect(&url)
        .await?;
    let pool = store.pool().clone();
    let size = || async {
        sqlx::query(&format!("ANALYZE TABLE `{table}`"))
            .execute(&pool)
            .await?;
        let bytes: i64 = sqlx::query_scalar(
            "SELECT CAST(data_length + index_length AS SIGNED) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
        )
        .bind(&table)
        .fetch_one(&pool)
        .await?;
        Ok::<u64, sqlx::Error>(bytes as u64)
    };
    let before = size().await?;
    let manager = manager(store);
    flood(&manager, writes).await?;
    let after = size().await?;
    println!(
        "store=mysql writes={writes} table_bytes_per_row={:.0} (InnoDB data and indexes, \
         after ANALYZE TABLE)",
        per_session(before, after, writes)
    );
    sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`"))
        .execute(&pool)
        .await?;
    sqlx::query("DELETE FROM sessile_schema_versions WHERE table_name = ?")
        .bind(&table)
        .execute(&pool)
        .await?;
    Ok(())
}

async fn redis(writes: usize) -> Outcome {
    let url = url("REDIS_URL", "redis://127.0.0.1:6379");
    let prefix = format!("flood{}:", std::process::id());
    let store = sessile_redis::RedisStore::builder()
        .key_prefix(&prefix)
        .connect(&url)
        .await?;
    let client = redis::Client::open(url.as_str())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let used = |info: String| -> u64 {
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    };
    let before: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await?;
    let manager = manager(store);
    flood(&manager, writes).await?;
    let after: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await?;
    println!(
        "store=redis writes={writes} used_memory_bytes_per_session={:.0} (other clients' keys \
         change it too: run on a quiet server)",
        per_session(used(before), used(after), writes)
    );
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await?;
    for chunk in keys.chunks(500) {
        let _: i64 = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut connection)
            .await?;
    }
    Ok(())
}

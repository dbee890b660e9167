//! The tables `SequelizeStoreOptions::create_table` makes are the ones the Node packages' own
//! `sync()` makes (tests/node/sequelize-sync.js runs koa-generic-session-sequelize's and
//! connect-session-sequelize's), compared in each server's catalog; and the Rust store works on
//! the tables Node made, and refuses to start on a missing one.
//!
//! Servers: `DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test) and `MYSQL_URL`
//! (default mysql://root@127.0.0.1:3306/test); `scripts/services` starts them. Needs the
//! fixture's node_modules (`npm ci --prefix crates/sessile-node/tests/node`).

#![cfg(all(
    feature = "sequelize",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]

use std::process::Command;
use std::time::Duration;

use sessile::{CreateOutcome, Record, SessionId, Store, Timestamp};
use sessile_sql::sequelize::{Error, SequelizeStoreOptions};

const MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

/// `(rust url, Sequelize url, a plain pool)`.
async fn open(dialect: Dialect) -> (String, String, Raw) {
    match dialect {
        Dialect::Sqlite => {
            let path =
                std::env::temp_dir().join(format!("sessile-node-ddl-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let url = format!("sqlite://{}", path.display());
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                .await
                .unwrap();
            (url, format!("sqlite:{}", path.display()), Raw::Sqlite(pool))
        }
        Dialect::Postgres => {
            let url = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let pool = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {url}: {e}; start it with `scripts/services`")
            });
            (url.clone(), url, Raw::Postgres(pool))
        }
        Dialect::MySql => {
            let url = std::env::var("MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
            let pool = sqlx::MySqlPool::connect(&url).await.unwrap_or_else(|e| {
                panic!("MariaDB at {url}: {e}; start it with `scripts/services`")
            });
            (url.clone(), url, Raw::MySql(pool))
        }
    }
}

impl Raw {
    async fn drop_table(&self, table: &str) {
        let result = match self {
            Raw::Sqlite(pool) => sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`"))
                .execute(pool)
                .await
                .map(drop),
            Raw::Postgres(pool) => sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
                .execute(pool)
                .await
                .map(drop),
            Raw::MySql(pool) => sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`"))
                .execute(pool)
                .await
                .map(drop),
        };
        result.expect("drop table");
    }

    /// Everything the catalog says about `table` (columns, keys, indexes), as text.
    async fn describe(&self, table: &str) -> Vec<String> {
        match self {
            Raw::Sqlite(pool) => {
                let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                    "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY type, name",
                )
                .bind(table)
                .fetch_all(pool)
                .await
                .unwrap();
                rows.into_iter().map(|row| format!("{row:?}")).collect()
            }
            Raw::Postgres(pool) => {
                let columns: Vec<(String,)> = sqlx::query_as(
                    "SELECT concat_ws(' | ', ordinal_position::text, column_name::text, data_type::text, \
                     character_maximum_length::text, is_nullable::text, column_default::text) \
                     FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(pool)
                .await
                .unwrap();
                let indexes: Vec<(String,)> = sqlx::query_as(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
                     AND tablename = $1 ORDER BY indexname",
                )
                .bind(table)
                .fetch_all(pool)
                .await
                .unwrap();
                columns
                    .into_iter()
                    .chain(indexes)
                    .map(|(row,)| row)
                    .collect()
            }
            Raw::MySql(pool) => {
                let (_, create): (String, String) =
                    sqlx::query_as(&format!("SHOW CREATE TABLE `{table}`"))
                        .fetch_one(pool)
                        .await
                        .unwrap();
                vec![create]
            }
        }
    }

    async fn close(self) {
        match self {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
            Raw::MySql(pool) => pool.close().await,
        }
    }
}

fn node_sync(url: &str, koa_table: &str, express_table: &str) {
    let fixture =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sessile-node/tests/node");
    assert!(
        fixture.join("node_modules/sequelize").is_dir(),
        "the Node fixture is not installed: run `npm ci --prefix crates/sessile-node/tests/node`"
    );
    let output = Command::new("node")
        .arg("sequelize-sync.js")
        .current_dir(&fixture)
        .env("SEQ_URL", url)
        .env("KOA_TABLE", koa_table)
        .env("EXPRESS_TABLE", express_table)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` (is Node.js installed?): {e}"));
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("\"ok\""),
        "sequelize-sync.js failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn record(now: Timestamp) -> Record {
    let mut data = serde_json::Map::new();
    data.insert("n".into(), 1.into());
    let mut record = Record::new(
        now,
        Timestamp::from_millis(now.as_millis() + 3_600_000),
        Timestamp::from_millis(i64::MAX),
    );
    record.data = data;
    record.user = Some("alice".into());
    record.persistent = true;
    record
}

async fn ddl_matches_sequelize(dialect: Dialect) {
    let pid = std::process::id();
    let lower = format!("{dialect:?}").to_lowercase();
    let names = [
        format!("ddl_koa_node_{lower}_{pid}"),
        format!("ddl_exp_node_{lower}_{pid}"),
        format!("ddl_koa_rust_{lower}_{pid}"),
        format!("ddl_exp_rust_{lower}_{pid}"),
    ];
    let (rust_url, node_url, raw) = open(dialect).await;
    for name in &names {
        raw.drop_table(name).await;
    }
    let [koa_node, express_node, koa_rust, express_rust] = &names;

    // Without create_table, a missing table is an error at startup.
    match SequelizeStoreOptions::koa_generic_session(MAX_AGE)
        .table(koa_rust)
        .connect(&rust_url)
        .await
    {
        Err(Error::Table { table, .. }) => assert_eq!(&table, koa_rust),
        other => panic!("a missing table must fail the connect, got {other:?}"),
    }

    node_sync(&node_url, koa_node, express_node);
    let koa = SequelizeStoreOptions::koa_generic_session(MAX_AGE)
        .table(koa_rust)
        .migrate_on_connect(true)
        .connect(&rust_url)
        .await
        .expect("create the Koa table");
    let express = SequelizeStoreOptions::express_session(MAX_AGE)
        .table(express_rust)
        .migrate_on_connect(true)
        .connect(&rust_url)
        .await
        .expect("create the Express table");
    // Creating again is a no-op, as Sequelize's sync() is.
    SequelizeStoreOptions::koa_generic_session(MAX_AGE)
        .table(koa_rust)
        .migrate_on_connect(true)
        .connect(&rust_url)
        .await
        .expect("create the Koa table again")
        .close()
        .await;

    for (node, rust) in [(koa_node, koa_rust), (express_node, express_rust)] {
        let from_node: Vec<String> = raw
            .describe(node)
            .await
            .into_iter()
            .map(|line| line.replace(node.as_str(), rust))
            .collect();
        let from_rust = raw.describe(rust).await;
        assert!(!from_rust.is_empty(), "{rust} exists");
        assert_eq!(
            from_rust, from_node,
            "{dialect:?}: {rust} differs from Sequelize's"
        );
    }

    // The Rust store on the tables Node made.
    for (options, table) in [
        (
            SequelizeStoreOptions::koa_generic_session(MAX_AGE),
            koa_node,
        ),
        (
            SequelizeStoreOptions::express_session(MAX_AGE),
            express_node,
        ),
    ] {
        let store = options
            .table(table)
            .connect(&rust_url)
            .await
            .expect("the Node-made table is accepted");
        let now = Timestamp::from_millis(1_700_000_000_000);
        let key = SessionId::foreign("ddlcheck0123456789abcdefghijklmn")
            .unwrap()
            .store_key();
        assert_eq!(
            store.create(&key, &record(now)).await.unwrap(),
            CreateOutcome::Created
        );
        let back = store.load(&key, now).await.unwrap().expect("live");
        assert_eq!(back.user.as_deref(), Some("alice"));
        assert_eq!(back.data["n"], 1);
        assert_eq!(back.idle_deadline.as_millis(), now.as_millis() + 3_600_000);
        store.close().await;
        // A store that cannot reach its database reports it as unavailable (a 503), not as
        // a missing session.
        assert!(matches!(
            store.load(&key, now).await,
            Err(sessile::StoreError::Unavailable(_))
        ));
    }

    koa.close().await;
    express.close().await;
    for name in &names {
        raw.drop_table(name).await;
    }
    raw.close().await;
    if dialect == Dialect::Sqlite {
        let _ = std::fs::remove_file(rust_url.trim_start_matches("sqlite://"));
    }
}

#[tokio::test]
async fn sequelize_ddl_on_sqlite() {
    ddl_matches_sequelize(Dialect::Sqlite).await;
}

#[tokio::test]
async fn sequelize_ddl_on_postgres() {
    ddl_matches_sequelize(Dialect::Postgres).await;
}

#[tokio::test]
async fn sequelize_ddl_on_mariadb() {
    ddl_matches_sequelize(Dialect::MySql).await;
}

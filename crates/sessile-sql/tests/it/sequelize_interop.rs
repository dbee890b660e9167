//! Live interop on the Sequelize session tables: a real Koa app (koa-generic-session +
//! koa-generic-session-sequelize, tests/node/koa-sequelize-app.js) and a real Express app
//! (express-session + connect-session-sequelize, tests/node/express-sequelize-app.js) share one
//! browser's cookies and one table with a Rust app on `sessile_sql::sequelize::SequelizeStore`, on the
//! same SQLite file, on PostgreSQL and on MariaDB.
//!
//! Needs the fixture's node_modules (`npm ci --prefix crates/sessile-node/tests/node`) and the
//! servers: `DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test) and `MYSQL_URL`
//! (default mysql://root@127.0.0.1:3306/test); `scripts/services` starts them.
//!
//! Both sides run on one fixed clock: `sessile::ManualClock` in Rust, the `x-test-now` header
//! (Date.now) in Node. The clock starts at the real time, so the browser's cookie jar (which
//! expires cookies by the real clock) keeps every cookie the test needs.

#![cfg(all(
    feature = "sequelize",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]

// The Node fixture (the npm apps and their driver) lives with sessile-node's interop tests.
use crate::node_support as support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sessile::codec::IdCodec;
use sessile::{Clock, Config, ManualClock, SessionManager, Store, Timestamp};
use sessile_axum::testkit::TestServer;
use sessile_node::express_session::Secrets;
use sessile_node::ids::{ExpressIds, KoaIds, NodeCookie};
use sessile_node::keygrip::Keygrip;
use sessile_sql::sequelize::{ColumnKind, SequelizeStore, SequelizeStoreOptions};
use support::{rust_app_with_rotate, Browser, NodeApp};

const MAX_AGE: Duration = Duration::from_secs(3600);
const MAX_AGE_MS: i64 = 3_600_000;

// ------------------------------------------------------------------------------------------
// Databases

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

fn postgres_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// A table name no other test (or test binary) uses.
fn unique_table(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One database as both sides reach it, plus a plain connection for looking at the rows.
struct Database {
    dialect: Dialect,
    /// What the Rust store connects to.
    rust_url: String,
    /// What Sequelize connects to.
    node_url: String,
    raw: Raw,
    sqlite_file: Option<std::path::PathBuf>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

impl Database {
    async fn open(dialect: Dialect, name: &str) -> Self {
        match dialect {
            Dialect::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                let _ = std::fs::remove_file(&path);
                let rust_url = format!("sqlite://{}", path.display());
                let options: sqlx::sqlite::SqliteConnectOptions = rust_url.parse().unwrap();
                let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                    .await
                    .expect("open the SQLite file");
                Database {
                    dialect,
                    node_url: format!("sqlite:{}", path.display()),
                    rust_url,
                    raw: Raw::Sqlite(pool),
                    sqlite_file: Some(path),
                }
            }
            Dialect::Postgres => {
                let url = postgres_url();
                let pool = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {url}: {e} (start it with scripts/services or set DATABASE_URL)")
                });
                Database {
                    dialect,
                    rust_url: url.clone(),
                    node_url: url,
                    raw: Raw::Postgres(pool),
                    sqlite_file: None,
                }
            }
            Dialect::MySql => {
                let url = mysql_url();
                let pool = sqlx::MySqlPool::connect(&url).await.unwrap_or_else(|e| {
                    panic!(
                        "MariaDB at {url}: {e} (start it with scripts/services or set MYSQL_URL)"
                    )
                });
                Database {
                    dialect,
                    rust_url: url.clone(),
                    node_url: url,
                    raw: Raw::MySql(pool),
                    sqlite_file: None,
                }
            }
        }
    }

    fn quote(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("\"{name}\""),
            _ => format!("`{name}`"),
        }
    }

    async fn execute(&self, sql: &str) {
        let result = match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Raw::MySql(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn drop_table(&self, table: &str) {
        self.execute(&format!("DROP TABLE IF EXISTS {}", self.quote(table)))
            .await;
    }

    /// `(id, expires as the Rust side reads it: ms since the epoch)` of every row, by id.
    /// `expires_sql` turns the column into milliseconds in this dialect.
    async fn rows(&self, table: &str, id_column: &str, expires_ms_sql: &str) -> Vec<(String, i64)> {
        let sql = format!(
            "SELECT {}, {expires_ms_sql} FROM {} ORDER BY 1",
            self.quote(id_column),
            self.quote(table)
        );
        let result = match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_as(&sql).fetch_all(pool).await,
            Raw::Postgres(pool) => sqlx::query_as(&sql).fetch_all(pool).await,
            Raw::MySql(pool) => sqlx::query_as(&sql).fetch_all(pool).await,
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One text value.
    async fn text(&self, sql: &str) -> String {
        let result = match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Raw::MySql(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    async fn close(self) {
        match self.raw {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
            Raw::MySql(pool) => pool.close().await,
        }
        if let Some(path) = self.sqlite_file {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Shared pieces

/// The real time, rounded down to the second (the Koa table keeps seconds).
fn start_clock() -> ManualClock {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    ManualClock::new(Timestamp::from_millis(now / 1000 * 1000))
}

fn now_header(clock: &ManualClock) -> String {
    clock.now().as_millis().to_string()
}

fn config(clock: &ManualClock) -> Config {
    Config::builder()
        .idle_timeout(MAX_AGE)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// The shared routes plus `/rotate` (a new id for the same session).
async fn serve(manager: SessionManager) -> TestServer {
    TestServer::start(rust_app_with_rotate(manager)).await
}

/// What one side is: a Node app (with its per-request headers) or a Rust app.
struct Side<'a> {
    node: Option<(&'a NodeApp, &'a str, String)>,
    rust: Option<&'a TestServer>,
    clock: &'a ManualClock,
}

impl<'a> Side<'a> {
    /// A Node app whose key/secret list travels in `header` (`x-test-keys`/`x-test-secrets`).
    fn node(app: &'a NodeApp, header: &'a str, keys: &[&str], clock: &'a ManualClock) -> Self {
        Side {
            node: Some((app, header, serde_json::to_string(keys).unwrap())),
            rust: None,
            clock,
        }
    }

    fn rust(server: &'a TestServer, clock: &'a ManualClock) -> Self {
        Side {
            node: None,
            rust: Some(server),
            clock,
        }
    }

    async fn get(&self, browser: &Browser, path: &str) -> String {
        let now = now_header(self.clock);
        let (status, body) = match (&self.node, self.rust) {
            (Some((app, header, keys)), _) => {
                browser
                    .get_with(&app.url(path), &[("x-test-now", &now), (header, keys)])
                    .await
            }
            (None, Some(server)) => browser.get_with(&server.url(path), &[]).await,
            (None, None) => unreachable!(),
        };
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn whoami(&self, browser: &Browser) -> (Option<String>, serde_json::Value) {
        let body = self.get(browser, "/whoami").await;
        let value: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("/whoami: {body:?}: {e}"));
        (
            value["user"].as_str().map(str::to_owned),
            value["data"].clone(),
        )
    }

    async fn user(&self, browser: &Browser) -> Option<String> {
        self.whoami(browser).await.0
    }
}

fn some(user: &str) -> Option<String> {
    Some(user.to_owned())
}

/// One package's run on one database: a fresh table the Rust store creates (Sequelize's DDL;
/// the Node store's own sync() then finds it), the Node app on it, and Rust apps with the old
/// keys and with `[new, old]`.
struct Run {
    table: String,
    db: Database,
    clock: ManualClock,
    store: Arc<SequelizeStore>,
    node: NodeApp,
    rust_old: TestServer,
    rust_new: TestServer,
    /// The request header carrying the Node app's key list, and the old and new key.
    header: &'static str,
    keys: [&'static str; 2],
}

/// The four sides of a [`Run`].
struct Sides<'a> {
    node_old: Side<'a>,
    node_new: Side<'a>,
    rust: Side<'a>,
    rust_rotated: Side<'a>,
}

impl Run {
    async fn start(
        dialect: Dialect,
        options: SequelizeStoreOptions,
        app: &str,
        ids: fn(&[&str]) -> Arc<dyn IdCodec>,
        header: &'static str,
        keys: [&'static str; 2],
    ) -> Run {
        Self::start_with(dialect, options, app, ids, header, keys, MAX_AGE, config).await
    }

    /// [`Run::start`] with the Node app's `maxAge` and the Rust apps' configuration.
    #[allow(clippy::too_many_arguments)]
    async fn start_with(
        dialect: Dialect,
        options: SequelizeStoreOptions,
        app: &str,
        ids: fn(&[&str]) -> Arc<dyn IdCodec>,
        header: &'static str,
        keys: [&'static str; 2],
        max_age: Duration,
        config: fn(&ManualClock) -> Config,
    ) -> Run {
        let kind = app.split('-').next().unwrap_or(app);
        let table = unique_table(&format!("{kind}_{dialect:?}").to_lowercase());
        let db = Database::open(dialect, &table).await;
        db.drop_table(&table).await;
        let clock = start_clock();
        let store = Arc::new(
            options
                .table(&table)
                .migrate_on_connect(true)
                .connect(&db.rust_url)
                .await
                .expect("the Rust store"),
        );
        let node = NodeApp::start(
            app,
            &[
                ("SEQ_URL", &db.node_url),
                ("SEQ_TABLE", &table),
                ("MAX_AGE", &max_age.as_millis().to_string()),
            ],
        );
        let [old, new] = keys;
        let manager = |keys: &[&str]| {
            let store: Arc<dyn Store> = store.clone();
            SessionManager::new(store, ids(keys), config(&clock))
        };
        let rust_old = serve(manager(&[old])).await;
        let rust_new = serve(manager(&[new, old])).await;
        Run {
            table,
            db,
            clock,
            store,
            node,
            rust_old,
            rust_new,
            header,
            keys,
        }
    }

    /// A run on a table of the app's own (extra columns, timestamps): the Node app starts first
    /// and creates it with its store's sync(), with `env`; the Rust store connects to it
    /// (checking it has the columns it was told of).
    async fn start_node_first(
        dialect: Dialect,
        options: SequelizeStoreOptions,
        app: &str,
        ids: fn(&[&str]) -> Arc<dyn IdCodec>,
        header: &'static str,
        keys: [&'static str; 2],
        env: &[(&str, &str)],
    ) -> Run {
        let kind = app.split('-').next().unwrap_or(app);
        let table = unique_table(&format!("{kind}_app_{dialect:?}").to_lowercase());
        let db = Database::open(dialect, &table).await;
        db.drop_table(&table).await;
        let clock = start_clock();
        let mut node_env = vec![
            ("SEQ_URL", db.node_url.as_str()),
            ("SEQ_TABLE", table.as_str()),
        ];
        let max_age = MAX_AGE_MS.to_string();
        node_env.push(("MAX_AGE", &max_age));
        node_env.extend_from_slice(env);
        let node = NodeApp::start(app, &node_env);
        let store = Arc::new(
            options
                .table(&table)
                .connect(&db.rust_url)
                .await
                .expect("the Rust store on the Node app's table"),
        );
        let [old, new] = keys;
        let manager = |keys: &[&str]| {
            let store: Arc<dyn Store> = store.clone();
            SessionManager::new(store, ids(keys), config(&clock))
        };
        let rust_old = serve(manager(&[old])).await;
        let rust_new = serve(manager(&[new, old])).await;
        Run {
            table,
            db,
            clock,
            store,
            node,
            rust_old,
            rust_new,
            header,
            keys,
        }
    }

    fn sides(&self) -> Sides<'_> {
        let [old, new] = self.keys;
        Sides {
            node_old: Side::node(&self.node, self.header, &[old], &self.clock),
            node_new: Side::node(&self.node, self.header, &[new, old], &self.clock),
            rust: Side::rust(&self.rust_old, &self.clock),
            rust_rotated: Side::rust(&self.rust_new, &self.clock),
        }
    }

    async fn finish(self) {
        drop(self.node);
        self.store.close().await;
        self.db.drop_table(&self.table).await;
        self.db.close().await;
    }
}

/// One test per database running `$run(dialect)`, named `$sqlite`, `$postgres`, `$mariadb`.
macro_rules! on_every_database {
    ($run:ident, $sqlite:ident, $postgres:ident, $mariadb:ident $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $run(Dialect::Sqlite).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            $run(Dialect::Postgres).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $mariadb() {
            $run(Dialect::MySql).await;
        }
    };
}

/// Rust changes data → Node sees it; Node changes data → Rust sees both.
async fn both_change_data(rust: &Side<'_>, node: &Side<'_>, browser: &Browser, user: &str) {
    rust.get(browser, "/set?k=color&v=blue").await;
    assert_eq!(
        node.whoami(browser).await,
        (some(user), serde_json::json!({"color": "blue"}))
    );
    node.get(browser, "/set?k=lang&v=fr").await;
    assert_eq!(
        rust.whoami(browser).await,
        (
            some(user),
            serde_json::json!({"color": "blue", "lang": "fr"})
        )
    );
}

/// Bob, signed in on Rust: Node sees him and changes data → Rust sees it; Rust changes data →
/// Node sees both.
async fn node_then_rust_change_data(rust: &Side<'_>, node: &Side<'_>, browser: &Browser) {
    assert_eq!(node.user(browser).await, some("bob"));
    node.get(browser, "/set?k=theme&v=dark").await;
    assert_eq!(
        rust.whoami(browser).await,
        (some("bob"), serde_json::json!({"theme": "dark"}))
    );
    rust.get(browser, "/set?k=n&v=1").await;
    assert_eq!(
        node.whoami(browser).await,
        (some("bob"), serde_json::json!({"theme": "dark", "n": "1"}))
    );
}

/// Rust rotates the id: one row, under a new id, and Node follows the new cookie. Rust logs
/// out → Node sees no session, and the row is gone.
async fn rotate_then_log_out<Rows, Fut>(
    rust: &Side<'_>,
    node: &Side<'_>,
    browser: &Browser,
    user: &str,
    old_id: &str,
    rows: Rows,
) where
    Rows: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<(String, i64)>>,
{
    rust.get(browser, "/rotate").await;
    let rotated = rows().await;
    assert_eq!(rotated.len(), 1, "{rotated:?}");
    assert_ne!(rotated[0].0, old_id, "rotation moved the row");
    assert_eq!(node.user(browser).await, some(user));
    rust.get(browser, "/logout").await;
    assert_eq!(node.whoami(browser).await, (None, serde_json::json!({})));
    assert!(rows().await.is_empty());
}

/// Node logs out → Rust sees no session, and the row is gone.
async fn node_logs_out<Rows, Fut>(rust: &Side<'_>, node: &Side<'_>, browser: &Browser, rows: Rows)
where
    Rows: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<(String, i64)>>,
{
    node.get(browser, "/logout").await;
    assert_eq!(rust.whoami(browser).await, (None, serde_json::json!({})));
    assert!(rows().await.is_empty());
}

/// For the expiry checks: two browsers signed in on Node (as erin), then two on Rust (as fay).
/// (Separate browsers: a side that finds a dead session clears the cookie.)
async fn sign_in_four(node: &Side<'_>, rust: &Side<'_>) -> [Browser; 4] {
    let browsers = [
        Browser::new(),
        Browser::new(),
        Browser::new(),
        Browser::new(),
    ];
    node.get(&browsers[0], "/login?user=erin").await;
    node.get(&browsers[1], "/login?user=erin").await;
    rust.get(&browsers[2], "/login?user=fay").await;
    rust.get(&browsers[3], "/login?user=fay").await;
    browsers
}

// ------------------------------------------------------------------------------------------
// koa-generic-session + koa-generic-session-sequelize

/// The Koa table's `expires` in ms: whole seconds times 1000.
const KOA_EXPIRES_MS: &str = "expires * 1000";

fn koa_ids(keys: &[&str]) -> Arc<dyn IdCodec> {
    Arc::new(KoaIds::generic_session(Keygrip::new(keys).unwrap()))
}

async fn koa_interop(dialect: Dialect) {
    let run = Run::start(
        dialect,
        SequelizeStoreOptions::koa_generic_session(MAX_AGE),
        "koa-sequelize-app.js",
        koa_ids,
        "x-test-keys",
        ["k1", "k2"],
    )
    .await;
    let Sides {
        node_old,
        node_new,
        rust,
        rust_rotated,
    } = run.sides();
    let (clock, store) = (&run.clock, &run.store);
    let rows = || run.db.rows(&run.table, "id", KOA_EXPIRES_MS);

    // Sign in on Node → Rust sees the user; the row is koa-generic-session-sequelize's.
    let a = Browser::new();
    node_old.get(&a, "/login?user=alice").await;
    let t0 = clock.now().as_millis();
    let stored = rows().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].0.starts_with("koa:sess:"), "{stored:?}");
    assert_eq!(stored[0].1, (t0 + MAX_AGE_MS) / 1000 * 1000);
    assert_eq!(rust.user(&a).await, some("alice"));
    both_change_data(&rust, &node_old, &a, "alice").await;
    rotate_then_log_out(&rust, &node_old, &a, "alice", &stored[0].0, rows).await;

    // The reverse: sign in on Rust → Node sees the user; Node changes data → Rust sees it;
    // Node logs out → Rust sees no session.
    let b = Browser::new();
    rust.get(&b, "/login?user=bob").await;
    let stored = rows().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].0.starts_with("koa:sess:"), "{stored:?}");
    assert_eq!(
        stored[0].1,
        (clock.now().as_millis() + MAX_AGE_MS) / 1000 * 1000
    );
    node_then_rust_change_data(&rust, &node_old, &b).await;
    node_logs_out(&rust, &node_old, &b, rows).await;

    // Key rotation: Rust on [k2, k1] reads Node's k1 cookie (and re-signs it with k2), which
    // Node on [k2, k1] reads back; Node on [k2, k1] reads Rust's k1 cookie, and so on.
    let c = Browser::new();
    node_old.get(&c, "/login?user=carol").await;
    assert_eq!(rust_rotated.user(&c).await, some("carol"));
    assert_eq!(node_new.user(&c).await, some("carol"));
    assert_eq!(rust_rotated.user(&c).await, some("carol"));
    let d = Browser::new();
    rust.get(&d, "/login?user=dave").await;
    assert_eq!(node_new.user(&d).await, some("dave"));
    assert_eq!(rust_rotated.user(&d).await, some("dave"));
    // Without the new key, the re-signed cookie is refused (the rotation was real).
    assert_eq!(rust.user(&d).await, None);

    // Expiry: a session is live up to its deadline and dead at it, on both sides, whichever
    // side wrote it.
    clock.advance(Duration::from_secs(7200));
    let t1 = clock.now().as_millis();
    let [node_made_1, node_made_2, rust_made_1, rust_made_2] = sign_in_four(&node_old, &rust).await;
    clock.advance(MAX_AGE - Duration::from_secs(1));
    // Node reads without writing (unmodified sessions are not saved).
    assert_eq!(node_old.user(&node_made_1).await, some("erin"));
    assert_eq!(node_old.user(&rust_made_1).await, some("fay"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(clock.now().as_millis(), t1 + MAX_AGE_MS);
    assert_eq!(node_old.user(&node_made_1).await, None);
    assert_eq!(rust.user(&node_made_2).await, None);
    assert_eq!(node_old.user(&rust_made_1).await, None);
    assert_eq!(rust.user(&rust_made_2).await, None);
    // sessile's cleanup removes exactly the expired rows (the rotation browsers' sessions
    // expired long ago too).
    let live_before = rows().await.len();
    assert!(live_before >= 4, "{live_before}");
    let deleted = store
        .delete_expired(clock.now(), 1000)
        .await
        .expect("cleanup");
    assert_eq!(deleted as usize, live_before);
    assert!(rows().await.is_empty());

    run.finish().await;
}

on_every_database!(
    koa_interop,
    koa_generic_session_sequelize_on_sqlite,
    koa_generic_session_sequelize_on_postgres,
    koa_generic_session_sequelize_on_mariadb,
);

// ------------------------------------------------------------------------------------------
// express-session + connect-session-sequelize

fn express_expires_ms(dialect: Dialect) -> &'static str {
    match dialect {
        // Parsed in Rust below; here the text itself.
        Dialect::Sqlite => "0",
        Dialect::Postgres => "floor(EXTRACT(EPOCH FROM \"expires\") * 1000)::int8",
        Dialect::MySql => {
            "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', `expires`) DIV 1000 AS SIGNED)"
        }
    }
}

fn express_ids(secrets: &[&str]) -> Arc<dyn IdCodec> {
    Arc::new(ExpressIds::new(Secrets::new(secrets).unwrap()))
}

async fn express_interop(dialect: Dialect) {
    let run = Run::start(
        dialect,
        SequelizeStoreOptions::express_session(MAX_AGE),
        "express-sequelize-app.js",
        express_ids,
        "x-test-secrets",
        ["s1", "s2"],
    )
    .await;
    let Sides {
        node_old,
        node_new,
        rust,
        rust_rotated,
    } = run.sides();
    let (clock, store) = (&run.clock, &run.store);
    let (db_ref, table_ref) = (&run.db, &run.table);
    let rows = move || async move {
        let (db, table) = (db_ref, table_ref);
        let rows = db.rows(table, "sid", express_expires_ms(dialect)).await;
        if dialect != Dialect::Sqlite {
            return rows;
        }
        // SQLite keeps Sequelize's text form; both sides must write exactly it.
        let mut parsed = Vec::new();
        for (sid, _) in rows {
            let text = db
                .text(&format!(
                    "SELECT expires FROM `{table}` WHERE sid = '{sid}' AND typeof(expires) = 'text'"
                ))
                .await;
            let ms = sessile_node::parse_date(&text).expect("a Sequelize date");
            assert_eq!(
                sessile_node::to_sequelize_sqlite_date(ms).as_deref(),
                Some(text.as_str())
            );
            parsed.push((sid, ms));
        }
        parsed
    };
    // MariaDB's DATETIME keeps whole seconds.
    let deadline = |at: i64| match dialect {
        Dialect::MySql => (at + MAX_AGE_MS) / 1000 * 1000,
        _ => at + MAX_AGE_MS,
    };

    // Sign in on Node → Rust sees the user.
    let a = Browser::new();
    node_old.get(&a, "/login?user=alice").await;
    let stored = rows().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0.len(), 32, "uid-safe sid: {stored:?}");
    assert_eq!(stored[0].1, deadline(clock.now().as_millis()));
    assert_eq!(rust.user(&a).await, some("alice"));
    both_change_data(&rust, &node_old, &a, "alice").await;
    rotate_then_log_out(&rust, &node_old, &a, "alice", &stored[0].0, rows).await;

    // The reverse.
    let b = Browser::new();
    rust.get(&b, "/login?user=bob").await;
    let stored = rows().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].1, deadline(clock.now().as_millis()));
    assert_eq!(node_old.user(&b).await, some("bob"));
    node_old.get(&b, "/set?k=theme&v=dark").await;
    assert_eq!(
        rust.whoami(&b).await,
        (some("bob"), serde_json::json!({"theme": "dark"}))
    );
    node_logs_out(&rust, &node_old, &b, rows).await;

    // Secret rotation: Rust on [s2, s1] reads Node's s1 cookie; Node on [s2, s1] reads Rust's
    // s1 cookie and, when it writes, re-signs it with s2, which Rust on [s2, s1] reads.
    let c = Browser::new();
    node_old.get(&c, "/login?user=carol").await;
    assert_eq!(rust_rotated.user(&c).await, some("carol"));
    let d = Browser::new();
    rust.get(&d, "/login?user=dave").await;
    assert_eq!(node_new.user(&d).await, some("dave"));
    node_new.get(&d, "/set?k=resigned&v=yes").await;
    assert_eq!(
        rust_rotated.whoami(&d).await,
        (some("dave"), serde_json::json!({"resigned": "yes"}))
    );
    // Without the new secret the re-signed cookie is refused (the rotation was real).
    assert_eq!(rust.user(&d).await, None);

    // Expiry. sessile refuses an expired row at once; express-session does not look at expiry,
    // so on the Node side a session ends when the package's cleanup deletes the row (or when
    // sessile's does).
    clock.advance(Duration::from_secs(7200));
    let [node_made_1, node_made_2, rust_made_1, rust_made_2] = sign_in_four(&node_old, &rust).await;
    let deadline_t = clock.now().as_millis() + MAX_AGE_MS;
    clock.advance(MAX_AGE - Duration::from_secs(1));
    // Live just before the deadline (read through the store: a read through either app would
    // extend the session, express-session by `touch`, sessile by its touch throttle).
    let fresh: Vec<String> = rows()
        .await
        .into_iter()
        .filter(|(_, expires)| *expires == deadline(deadline_t - MAX_AGE_MS))
        .map(|(sid, _)| sid)
        .collect();
    assert_eq!(fresh.len(), 4, "{:?}", rows().await);
    for sid in &fresh {
        let key = sessile::SessionId::foreign(sid).unwrap().store_key();
        let record = store.load(&key, clock.now()).await.unwrap();
        assert!(record.is_some_and(|r| matches!(r.user.as_deref(), Some("erin" | "fay"))));
    }
    clock.advance(Duration::from_secs(1));
    // sessile: dead at the deadline, whoever wrote it, before any cleanup.
    assert_eq!(rust.user(&node_made_1).await, None);
    assert_eq!(rust.user(&rust_made_1).await, None);
    // Node: the package's own cleanup (`expires < now`) removes Node's and Rust's rows ...
    clock.advance(Duration::from_secs(1));
    node_old.get(&Browser::new(), "/gc").await;
    assert_eq!(node_old.user(&node_made_2).await, None);
    assert_eq!(node_old.user(&rust_made_2).await, None);
    assert!(rows().await.is_empty(), "{:?}", rows().await);
    // ... and sessile's cleanup does the same for the Node side.
    let e = Browser::new();
    node_old.get(&e, "/login?user=gus").await;
    clock.advance(MAX_AGE);
    assert_eq!(store.delete_expired(clock.now(), 100).await.unwrap(), 1);
    assert_eq!(node_old.user(&e).await, None);
    // The documented gap: before any cleanup, express-session serves an expired row and its
    // `touch` moves `expires` forward, so the session is live again for sessile too.
    let revived = Browser::new();
    node_old.get(&revived, "/login?user=hal").await;
    clock.advance(MAX_AGE + Duration::from_secs(1));
    assert_eq!(node_old.user(&revived).await, some("hal"));
    assert_eq!(rust.user(&revived).await, some("hal"));

    run.finish().await;
}

on_every_database!(
    express_interop,
    express_session_sequelize_on_sqlite,
    express_session_sequelize_on_postgres,
    express_session_sequelize_on_mariadb,
);

// ------------------------------------------------------------------------------------------
// Each session's own lifetime, and no 12-hour cap

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
const DAY_MS: i64 = 86_400_000;
const THIRTY_DAYS_MS: i64 = 30 * DAY_MS;

/// The guide's configuration for a one-day Node app, on the test clock, with sessile's own
/// sliding expiry (its default throttle; the guide's configuration touches nothing).
fn node_config(clock: &ManualClock) -> Config {
    sessile_node::config(DAY)
        .touch_throttle(0.25)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// A session signed in on Node with its own 30-day maxAge (the app's is one day) keeps it
/// through a Rust read, a Rust write and a Rust touch eight days later, and Node keeps it on
/// its next write; a session Rust creates lives the app's one day, not 12 hours. `own_max_age`
/// reads the session's lifetime out of its `data` column, `expires_ms` turns a deadline into
/// what the `expires` column holds.
async fn own_lifetimes(
    dialect: Dialect,
    express: bool,
    own_max_age: fn(&serde_json::Value) -> Option<i64>,
) {
    let (options, app, ids, header, keys, id_column) = if express {
        (
            SequelizeStoreOptions::express_session(DAY),
            "express-sequelize-app.js",
            express_ids as fn(&[&str]) -> Arc<dyn IdCodec>,
            "x-test-secrets",
            ["s1", "s2"],
            "sid",
        )
    } else {
        (
            SequelizeStoreOptions::koa_generic_session(DAY),
            "koa-sequelize-app.js",
            koa_ids as fn(&[&str]) -> Arc<dyn IdCodec>,
            "x-test-keys",
            ["k1", "k2"],
            "id",
        )
    };
    let run = Run::start_with(dialect, options, app, ids, header, keys, DAY, node_config).await;
    let Sides { node_old, rust, .. } = run.sides();
    let clock = &run.clock;
    // What the `expires` column holds for a deadline: Koa keeps seconds, MariaDB's DATETIME too.
    let column = |deadline: i64| {
        if !express || dialect == Dialect::MySql {
            deadline / 1000 * 1000
        } else {
            deadline
        }
    };
    let row = |sid_like: Option<String>| {
        let (db, table) = (&run.db, &run.table);
        async move {
            let expires_sql = if express {
                express_expires_ms(dialect)
            } else {
                KOA_EXPIRES_MS
            };
            let rows = db.rows(table, id_column, expires_sql).await;
            let (id, expires) = rows
                .into_iter()
                .find(|(id, _)| sid_like.as_ref().is_none_or(|want| id == want))
                .expect("the session's row");
            let q = db.quote(table);
            let idq = db.quote(id_column);
            let data = db
                .text(&format!("SELECT data FROM {q} WHERE {idq} = '{id}'"))
                .await;
            let expires = if express && dialect == Dialect::Sqlite {
                let text = db
                    .text(&format!("SELECT expires FROM {q} WHERE {idq} = '{id}'"))
                    .await;
                sessile_node::parse_date(&text).expect("a Sequelize date")
            } else {
                expires
            };
            let data: serde_json::Value = serde_json::from_str(&data).expect("JSON data");
            (id, expires, data)
        }
    };

    let a = Browser::new();
    node_old
        .get(&a, &format!("/login?user=alice&remember={THIRTY_DAYS_MS}"))
        .await;
    let (id, expires, data) = row(None).await;
    assert_eq!(own_max_age(&data), Some(THIRTY_DAYS_MS), "{data}");
    assert_eq!(expires, column(clock.now().as_millis() + THIRTY_DAYS_MS));
    let id = Some(id);

    // Rust reads (nothing due), writes, and eight days later touches: 30 days each time.
    clock.advance(HOUR);
    assert_eq!(rust.user(&a).await, some("alice"));
    rust.get(&a, "/set?k=a&v=1").await;
    let (_, expires, data) = row(id.clone()).await;
    assert_eq!(own_max_age(&data), Some(THIRTY_DAYS_MS), "{data}");
    assert_eq!(expires, column(clock.now().as_millis() + THIRTY_DAYS_MS));
    clock.advance(8 * DAY);
    assert_eq!(
        rust.whoami(&a).await,
        (some("alice"), serde_json::json!({"a": "1"}))
    );
    let (_, expires, data) = row(id.clone()).await;
    assert_eq!(own_max_age(&data), Some(THIRTY_DAYS_MS), "{data}");
    assert_eq!(expires, column(clock.now().as_millis() + THIRTY_DAYS_MS));

    // Node serves it and keeps the 30 days when it writes.
    clock.advance(HOUR);
    assert_eq!(
        node_old.whoami(&a).await,
        (some("alice"), serde_json::json!({"a": "1"}))
    );
    node_old.get(&a, "/set?k=b&v=2").await;
    let (_, expires, data) = row(id).await;
    assert_eq!(own_max_age(&data), Some(THIRTY_DAYS_MS), "{data}");
    assert_eq!(expires, column(clock.now().as_millis() + THIRTY_DAYS_MS));

    // A session Rust creates lives the app's one day, not sessile's 12-hour default.
    run.db
        .execute(&format!("DELETE FROM {}", run.db.quote(&run.table)))
        .await;
    let b = Browser::new();
    rust.get(&b, "/login?user=bob").await;
    let (_, expires, data) = row(None).await;
    assert_eq!(own_max_age(&data), Some(DAY_MS), "{data}");
    assert_eq!(expires, column(clock.now().as_millis() + DAY_MS));
    clock.advance(13 * HOUR);
    assert_eq!(rust.user(&b).await, some("bob"), "alive after 13 hours");
    assert_eq!(node_old.user(&b).await, some("bob"));

    run.finish().await;
}

async fn koa_own_lifetimes(dialect: Dialect) {
    own_lifetimes(dialect, false, |data| data["cookie"]["maxAge"].as_i64()).await;
}

async fn express_own_lifetimes(dialect: Dialect) {
    own_lifetimes(dialect, true, |data| {
        data["cookie"]["originalMaxAge"].as_i64()
    })
    .await;
}

on_every_database!(
    koa_own_lifetimes,
    koa_generic_session_sequelize_own_lifetimes_on_sqlite,
    koa_generic_session_sequelize_own_lifetimes_on_postgres,
    koa_generic_session_sequelize_own_lifetimes_on_mariadb,
);

on_every_database!(
    express_own_lifetimes,
    express_session_sequelize_own_lifetimes_on_sqlite,
    express_session_sequelize_own_lifetimes_on_postgres,
    express_session_sequelize_own_lifetimes_on_mariadb,
);

// ------------------------------------------------------------------------------------------
// Tables of the app's own: extendDefaultFields columns, timestamps, the per-user index

impl Database {
    /// One integer per row of `table` (by id), from the SQL expression `value`.
    async fn ints(&self, table: &str, id_column: &str, value: &str) -> Vec<(String, i64)> {
        let value = match self.dialect {
            Dialect::Postgres => format!("CAST({value} AS BIGINT)"),
            Dialect::MySql => format!("CAST({value} AS SIGNED)"),
            Dialect::Sqlite => value.to_owned(),
        };
        self.rows(table, id_column, &value).await
    }
}

/// connect-session-sequelize with `extendDefaultFields` filling a NOT NULL `userId` (the
/// package README's recipe, the app's own model): Rust writes the column on every write as the
/// package does, and the column is a per-user index both sides see.
async fn express_user_column(dialect: Dialect) {
    let run = Run::start_node_first(
        dialect,
        SequelizeStoreOptions::express_session(MAX_AGE).user_column("userId", ColumnKind::Text),
        "express-sequelize-app.js",
        express_ids,
        "x-test-secrets",
        ["s1", "s2"],
        &[("USER_COLUMN", "1")],
    )
    .await;
    let Sides { node_old, rust, .. } = run.sides();
    let (db, table) = (&run.db, &run.table);
    let user_of = |sid: String| async move {
        db.text(&format!(
            "SELECT {} FROM {} WHERE {} = '{sid}'",
            db.quote("userId"),
            db.quote(table),
            db.quote("sid")
        ))
        .await
    };
    let sids = || async { db.ints(table, "sid", "0").await };

    // Node signs alice in twice (two devices); the column holds her.
    let (a1, a2) = (Browser::new(), Browser::new());
    node_old.get(&a1, "/login?user=alice").await;
    node_old.get(&a2, "/login?user=alice").await;
    for (sid, _) in sids().await {
        assert_eq!(user_of(sid).await, "alice");
    }
    // Rust reads and writes one of them; the column still holds her.
    assert_eq!(rust.user(&a1).await, some("alice"));
    rust.get(&a1, "/set?k=theme&v=dark").await;
    // Rust signs bob in: the INSERT fills the NOT NULL column.
    let b = Browser::new();
    rust.get(&b, "/login?user=bob").await;
    assert_eq!(node_old.user(&b).await, some("bob"));
    let mut users = Vec::new();
    for (sid, _) in sids().await {
        users.push(user_of(sid).await);
    }
    users.sort();
    assert_eq!(users, ["alice", "alice", "bob"]);
    // An anonymous session cannot be stored in this table, on either side.
    let anonymous = Browser::new();
    let (status, _) = anonymous
        .get_with(&run.rust_old.url("/set?k=x&v=1"), &[])
        .await;
    assert_eq!(
        status, 500,
        "NOT NULL userId refuses a session without a user"
    );

    // The per-user index: alice's two sessions are listed; revoking all but the first signs
    // the second device out on Node too.
    let now = run.clock.now();
    let listed = run
        .store
        .list_user_sessions("alice", now, None, 10)
        .await
        .unwrap()
        .sessions;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        run.store
            .list_user_sessions("bob", now, None, 10)
            .await
            .unwrap()
            .sessions
            .len(),
        1
    );
    let keep_sid = {
        let mut alice_sids = Vec::new();
        for (sid, _) in sids().await {
            if user_of(sid.clone()).await == "alice" {
                alice_sids.push(sid);
            }
        }
        // a1's sid: the one whose data Rust changed.
        let mut kept = None;
        for sid in alice_sids {
            let data = db
                .text(&format!(
                    "SELECT data FROM {} WHERE {} = '{sid}'",
                    db.quote(table),
                    db.quote("sid")
                ))
                .await;
            if data.contains("dark") {
                kept = Some(sid);
            }
        }
        kept.expect("a1's row")
    };
    let keep = sessile::SessionId::foreign(&keep_sid).unwrap().store_key();
    assert_eq!(
        run.store
            .delete_user_sessions("alice", Some(&keep))
            .await
            .unwrap(),
        1
    );
    assert_eq!(node_old.user(&a1).await, some("alice"));
    assert_eq!(node_old.user(&a2).await, None, "revoked on Node too");
    assert_eq!(
        rust.user(&b).await,
        some("bob"),
        "another user's session stays"
    );

    run.finish().await;
}

on_every_database!(
    express_user_column,
    express_session_sequelize_user_column_on_sqlite,
    express_session_sequelize_user_column_on_postgres,
    express_session_sequelize_user_column_on_mariadb,
);

/// koa-generic-session-sequelize with `timestamps: true` (its sync() creates `createdAt` and
/// `updatedAt`, NOT NULL): Rust fills both on insert and `updatedAt` on every write.
async fn koa_timestamps(dialect: Dialect) {
    let run = Run::start_node_first(
        dialect,
        SequelizeStoreOptions::koa_generic_session(MAX_AGE).timestamps(true),
        "koa-sequelize-app.js",
        koa_ids,
        "x-test-keys",
        ["k1", "k2"],
        &[("TIMESTAMPS", "1")],
    )
    .await;
    let Sides { node_old, rust, .. } = run.sides();
    let (db, table) = (&run.db, &run.table);
    let stamped = || async {
        let created = db.quote("createdAt");
        let updated = db.quote("updatedAt");
        db.ints(
            table,
            "id",
            &format!("CASE WHEN {created} IS NOT NULL AND {updated} IS NOT NULL THEN 1 ELSE 0 END"),
        )
        .await
    };

    let a = Browser::new();
    node_old.get(&a, "/login?user=alice").await;
    assert_eq!(rust.user(&a).await, some("alice"));
    rust.get(&a, "/set?k=n&v=1").await;
    let b = Browser::new();
    rust.get(&b, "/login?user=bob").await;
    assert_eq!(node_old.user(&b).await, some("bob"));
    node_old.get(&b, "/set?k=m&v=2").await;
    assert_eq!(
        rust.whoami(&b).await,
        (some("bob"), serde_json::json!({"m": "2"}))
    );
    let rows = stamped().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|(_, stamped)| *stamped == 1), "{rows:?}");
    // A koa table without a user column keeps no per-user index.
    assert!(matches!(
        run.store
            .list_user_sessions("alice", run.clock.now(), None, 10)
            .await,
        Err(sessile::StoreError::Unsupported(_))
    ));

    run.finish().await;
}

on_every_database!(
    koa_timestamps,
    koa_generic_session_sequelize_timestamps_on_sqlite,
    koa_generic_session_sequelize_timestamps_on_postgres,
    koa_generic_session_sequelize_timestamps_on_mariadb,
);

// ------------------------------------------------------------------------------------------
// koa-session-minimal + koa-generic-session-sequelize's store

/// koa-session-minimal's cookie: `koa:sess`, unsigned (the package forces `signed: false`), with
/// the app's `maxAge`, so it expires with the session.
fn minimal_ids(_keys: &[&str]) -> Arc<dyn IdCodec> {
    Arc::new(KoaIds::session_minimal().with_cookie(NodeCookie {
        expiring: true,
        ..NodeCookie::default()
    }))
}

/// The one row's `data` column, parsed.
async fn only_document(db: &Database, table: &str) -> serde_json::Value {
    let text = db
        .text(&format!("SELECT data FROM {}", db.quote(table)))
        .await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The documents are the data alone (the user under `user`), both ways; emptying the session
/// deletes its row on either side, as koa-session-minimal's `ctx.session = {}` and `= null` do
/// (sessile's `destroy()`), and a row either side deleted is no session for the other.
async fn koa_minimal_interop(dialect: Dialect) {
    let run = Run::start(
        dialect,
        SequelizeStoreOptions::koa_session_minimal(MAX_AGE),
        "koa-minimal-sequelize-app.js",
        minimal_ids,
        // Unsigned cookies: no keys travel; the header is ignored.
        "x-test-keys",
        ["k1", "k2"],
    )
    .await;
    let Sides { node_old, rust, .. } = run.sides();
    let (clock, db, table) = (&run.clock, &run.db, &run.table);
    let rows = || db.rows(table, "id", KOA_EXPIRES_MS);

    // Node signs in: the row is the package's (prefix, whole seconds, the data alone); Rust
    // reads it, both change data, Rust rotates the id, and Rust's logout deletes the row.
    let a = Browser::new();
    node_old.get(&a, "/login?user=alice").await;
    let stored = rows().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].0.starts_with("koa:sess:"), "{stored:?}");
    assert_eq!(
        stored[0].0.len(),
        "koa:sess:".len() + 32,
        "uid-safe(24) sid"
    );
    assert_eq!(
        stored[0].1,
        (clock.now().as_millis() + MAX_AGE_MS) / 1000 * 1000
    );
    assert_eq!(
        only_document(db, table).await,
        serde_json::json!({"user": "alice"})
    );
    assert_eq!(rust.user(&a).await, some("alice"));
    both_change_data(&rust, &node_old, &a, "alice").await;
    assert_eq!(
        only_document(db, table).await,
        serde_json::json!({"user": "alice", "color": "blue", "lang": "fr"})
    );
    rotate_then_log_out(&rust, &node_old, &a, "alice", &stored[0].0, rows).await;

    // Rust signs in: the document Node would write; Node reads and changes it, Rust sees the
    // change; Node's `ctx.session = {}` deletes the row, and Rust finds no session.
    let b = Browser::new();
    clock.advance(Duration::from_secs(60));
    rust.get(&b, "/login?user=bob").await;
    let stored = rows().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].0.starts_with("koa:sess:"), "{stored:?}");
    assert_eq!(
        stored[0].1,
        (clock.now().as_millis() + MAX_AGE_MS) / 1000 * 1000
    );
    assert_eq!(
        only_document(db, table).await,
        serde_json::json!({"user": "bob"})
    );
    node_then_rust_change_data(&rust, &node_old, &b).await;
    node_old.get(&b, "/clear").await;
    assert!(
        rows().await.is_empty(),
        "ctx.session = {{}} deletes the row"
    );
    assert_eq!(rust.whoami(&b).await, (None, serde_json::json!({})));

    // A Rust `clear()` that leaves the session without keys deletes its row, as Node deletes
    // a session emptied by its handler; a `clear()` of a signed-in session keeps `user`, and
    // the row with it.
    let f = Browser::new();
    rust.get(&f, "/set?k=color&v=green").await;
    assert_eq!(
        only_document(db, table).await,
        serde_json::json!({"color": "green"})
    );
    rust.get(&f, "/clear").await;
    assert!(rows().await.is_empty(), "an emptied session is deleted");
    assert_eq!(node_old.whoami(&f).await, (None, serde_json::json!({})));
    let g = Browser::new();
    rust.get(&g, "/login?user=gina").await;
    rust.get(&g, "/set?k=color&v=green").await;
    rust.get(&g, "/clear").await;
    assert_eq!(
        only_document(db, table).await,
        serde_json::json!({"user": "gina"})
    );
    rust.get(&g, "/logout").await;
    assert!(rows().await.is_empty());

    // Node's `ctx.session = null` deletes a Rust-made row too.
    let c = Browser::new();
    rust.get(&c, "/login?user=carol").await;
    assert_eq!(node_old.user(&c).await, some("carol"));
    node_logs_out(&rust, &node_old, &c, rows).await;

    // Expiry by the `expires` column, on both sides: live up to the deadline, dead at it.
    let d = Browser::new();
    let e = Browser::new();
    node_old.get(&d, "/login?user=dave").await;
    rust.get(&e, "/login?user=erin").await;
    clock.advance(MAX_AGE - Duration::from_secs(1));
    // Read on Node, which writes nothing for an unchanged session (a Rust read now would
    // touch the session and move its deadline).
    assert_eq!(node_old.user(&d).await, some("dave"));
    assert_eq!(node_old.user(&e).await, some("erin"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(node_old.user(&d).await, None);
    assert_eq!(rust.user(&e).await, None);
    assert_eq!(
        run.store.delete_expired(clock.now(), 100).await.unwrap(),
        2,
        "sessile's cleanup removes both expired rows"
    );
    assert!(rows().await.is_empty());

    run.finish().await;
}

on_every_database!(
    koa_minimal_interop,
    koa_session_minimal_sequelize_on_sqlite,
    koa_session_minimal_sequelize_on_postgres,
    koa_session_minimal_sequelize_on_mariadb,
);

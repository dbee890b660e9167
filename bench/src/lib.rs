//! The load-test server behind `BENCHMARKS.md`: the peer harness's four endpoints, served by
//! [`sessile_axum`] (or by [`sessile_actix`], see [`actix`]) on any sessile store, so sessile is
//! measured with exactly the load and the lost-update probe that the peer libraries get.
//!
//! | endpoint | what it does with the session |
//! |---|---|
//! | `GET /plain` | nothing: the layer is installed but the handler never touches the session |
//! | `GET /count` | `increment("n", 1)`: one atomic store round trip, answered with the new value |
//! | `GET /set?k=KEY` | `insert(KEY, 1)`: a one-key delta committed after the handler |
//! | `GET /keys?n=N` | reads the session once and counts which of `k0 .. k{N-1}` it holds |
//!
//! ```
//! use sessile::{Config, Keys, MemoryStore, SessionManager, SignedIds};
//!
//! let ids = SignedIds::new(Keys::generate()).with_cookie(sessile_bench::cookie());
//! let manager = SessionManager::new(MemoryStore::new(), ids, Config::default());
//! let app: axum::Router = sessile_bench::router(manager);
//! # let _ = app;
//! ```

#![warn(missing_docs)]

pub mod actix;
pub mod fill;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use sessile::{
    Config, CookieConfig, Keys, MemoryStore, SealedCookies, SessionData, SessionManager, SignedIds,
    Store,
};
use sessile_axum::{Error, Session, SessionLayer};

/// How many keys `/keys` checks when the query names no `n`: the harness's lost-update probe
/// writes 200.
pub const DEFAULT_KEY_COUNT: u32 = 200;

/// The app: the four endpoints behind a [`SessionLayer`] of `manager`.
pub fn router(manager: SessionManager) -> Router {
    Router::new()
        .route("/plain", get(plain))
        .route("/count", get(count))
        .route("/set", get(set))
        .route("/keys", get(keys))
        .layer(SessionLayer::new(manager))
}

async fn plain() -> &'static str {
    "ok"
}

async fn count(session: Session) -> Result<String, Error> {
    Ok(session.increment("n", 1).await?.to_string())
}

#[derive(Deserialize)]
struct SetQuery {
    k: String,
}

async fn set(session: Session, Query(query): Query<SetQuery>) -> Result<&'static str, Error> {
    session.insert(&query.k, 1)?;
    Ok("ok")
}

#[derive(Deserialize)]
struct KeysQuery {
    n: Option<u32>,
}

async fn keys(session: Session, Query(query): Query<KeysQuery>) -> Result<String, Error> {
    let data = session.data().await?;
    let count = query.n.unwrap_or(DEFAULT_KEY_COUNT);
    Ok(held_keys(&data, count).to_string())
}

/// How many of the keys `k0 .. k{count-1}` `data` holds: the answer of `/keys`.
fn held_keys(data: &SessionData, count: u32) -> usize {
    let mut name = String::new();
    (0..count)
        .filter(|index| {
            name.clear();
            // Writing into a String cannot fail.
            let _ = write!(name, "k{index}");
            data.contains_key(&name)
        })
        .count()
}

/// The session stores the server can run on, named as on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// [`MemoryStore`]: process memory.
    Memory,
    /// [`SealedCookies`]: the whole session sealed in the cookie.
    Cookie,
    /// `sessile_sql::SqliteStore` on `$SQLITE_PATH`.
    Sqlite,
    /// `sessile_sql::PostgresStore` on `$DATABASE_URL` (feature `postgres`).
    Postgres,
    /// `sessile_sql::MySqlStore` on `$MYSQL_URL` (feature `mysql`).
    Mysql,
    /// `sessile_redis::RedisStore` on `$REDIS_URL` (feature `redis`).
    Redis,
}

impl StoreKind {
    /// Every store, in the order the command line lists them.
    pub const ALL: [StoreKind; 6] = [
        StoreKind::Cookie,
        StoreKind::Memory,
        StoreKind::Sqlite,
        StoreKind::Postgres,
        StoreKind::Mysql,
        StoreKind::Redis,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Cookie => "cookie",
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
            StoreKind::Mysql => "mysql",
            StoreKind::Redis => "redis",
        }
    }
}

impl FromStr for StoreKind {
    type Err = SetupError;

    /// ```
    /// use sessile_bench::StoreKind;
    /// assert_eq!("sqlite".parse::<StoreKind>().unwrap(), StoreKind::Sqlite);
    /// assert!("mongodb".parse::<StoreKind>().is_err());
    /// ```
    fn from_str(name: &str) -> Result<Self, SetupError> {
        StoreKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| SetupError::UnknownStore(name.to_owned()))
    }
}

/// Where the server listens and where its stores are, from the environment the harness sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `$PORT`, default 3000; the server binds 127.0.0.1 only.
    pub port: u16,
    /// `$SQLITE_PATH`; its folder is created when missing.
    pub sqlite_path: PathBuf,
    /// `$DATABASE_URL` (PostgreSQL).
    pub database_url: String,
    /// `$MYSQL_URL`.
    pub mysql_url: String,
    /// `$REDIS_URL`.
    pub redis_url: String,
    /// `$SESSILE_TABLE`: the SQL stores' table instead of their default, for a run that must
    /// not touch the tables tests use (the scale benchmark).
    pub table: Option<String>,
    /// `$REDIS_PREFIX`: the Redis store's key prefix instead of its default.
    pub redis_prefix: Option<String>,
    /// `$SQLITE_PRAGMAS`: extra `name=value` pragmas, comma-separated, for every connection of
    /// the SQLite store (an A/B of `cache_size` or `mmap_size` without a new build); the store
    /// is then opened on a pool set up like [`sessile_sql::SqliteStoreOptions::open`]'s.
    pub sqlite_pragmas: Vec<(String, String)>,
}

impl Settings {
    /// Reads the settings through `lookup` (the process environment in the server), falling
    /// back to the harness's loopback defaults.
    ///
    /// ```
    /// let settings = sessile_bench::Settings::from_lookup(|name| (name == "PORT").then(|| "3151".to_owned())).unwrap();
    /// assert_eq!(settings.port, 3151);
    /// assert_eq!(settings.redis_url, "redis://127.0.0.1:6379/9");
    /// assert!(settings.sqlite_pragmas.is_empty());
    ///
    /// let pragmas = |name: &str| {
    ///     (name == "SQLITE_PRAGMAS").then(|| "cache_size=-65536, mmap_size=0".to_owned())
    /// };
    /// let settings = sessile_bench::Settings::from_lookup(pragmas).unwrap();
    /// assert_eq!(
    ///     settings.sqlite_pragmas,
    ///     [("cache_size".to_owned(), "-65536".to_owned()), ("mmap_size".to_owned(), "0".to_owned())]
    /// );
    /// let bad = |name: &str| (name == "SQLITE_PRAGMAS").then(|| "cache_size".to_owned());
    /// assert!(sessile_bench::Settings::from_lookup(bad).is_err());
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SetupError> {
        let or = |name: &str, default: &str| lookup(name).unwrap_or_else(|| default.to_owned());
        let port = match lookup("PORT") {
            None => 3000,
            Some(text) => text.parse().map_err(|_| SetupError::BadPort(text))?,
        };
        Ok(Self {
            port,
            sqlite_path: or("SQLITE_PATH", "/tmp/peerbench-data/peerbench.sqlite").into(),
            database_url: or(
                "DATABASE_URL",
                "postgres://peerbench:peerbench@127.0.0.1:5432/peerbench",
            ),
            mysql_url: or(
                "MYSQL_URL",
                "mysql://peerbench:peerbench@127.0.0.1:3306/peerbench",
            ),
            redis_url: or("REDIS_URL", "redis://127.0.0.1:6379/9"),
            table: lookup("SESSILE_TABLE"),
            redis_prefix: lookup("REDIS_PREFIX"),
            sqlite_pragmas: match lookup("SQLITE_PRAGMAS") {
                None => Vec::new(),
                Some(text) => parse_pragmas(&text)?,
            },
        })
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SetupError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// `cache_size=-65536,mmap_size=268435456` as name/value pairs.
fn parse_pragmas(text: &str) -> Result<Vec<(String, String)>, SetupError> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(SetupError::BadPragma(pair.to_owned())),
        })
        .collect()
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The first argument names no store.
    #[error("unknown store {0:?}; expected one of cookie, memory, sqlite, postgres, mysql, redis")]
    UnknownStore(String),
    /// `$PORT` is not a port number.
    #[error("PORT={0:?} is not a port number")]
    BadPort(String),
    /// An entry of `$SQLITE_PRAGMAS` is not `name=value`.
    #[error("SQLITE_PRAGMAS entry {0:?} is not name=value")]
    BadPragma(String),
    /// The store exists but this binary was built without it.
    #[error(
        "store {store:?} is not compiled into this binary; build it with `--features {feature}`"
    )]
    NotCompiled {
        /// The store's name.
        store: &'static str,
        /// The cargo feature that brings it in.
        feature: &'static str,
    },
    /// The cookie store keeps sessions in the cookie: there is no store to open or fill.
    #[error("the cookie store has no server-side store")]
    NoStore,
    /// The store could not be opened or reached.
    #[error("cannot open the {store} store: {source}")]
    Store {
        /// The store's name.
        store: &'static str,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl SetupError {
    fn store(kind: StoreKind, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        SetupError::Store {
            store: kind.name(),
            source: Box::new(source),
        }
    }
}

/// The cookie every row runs with: the defaults except `Secure` (so named `id`), since the
/// harness speaks plain http on loopback.
pub fn cookie() -> CookieConfig {
    CookieConfig::builder()
        .secure(false)
        .build()
        .expect("the default cookie without Secure is valid")
}

/// Opens `kind` as the settings say (creating tables as needed) and returns its manager.
pub async fn manager(
    kind: StoreKind,
    settings: &Settings,
    keys: Keys,
) -> Result<SessionManager, SetupError> {
    if kind == StoreKind::Cookie {
        return Ok(SessionManager::client_side(
            SealedCookies::new(keys).with_cookie(cookie()),
            Config::default(),
        ));
    }
    let store = open_store(kind, settings).await?;
    Ok(manager_of(store, keys))
}

/// The manager of a server-side `store` opened beforehand (by [`open_store`], to fill it first).
pub fn manager_of(store: Arc<dyn Store>, keys: Keys) -> SessionManager {
    let ids = SignedIds::new(keys).with_cookie(cookie());
    SessionManager::new(store, ids, Config::default())
}

/// Opens the server-side store `kind` as the settings say, creating its table as needed. The
/// cookie store has none: [`SetupError::NoStore`].
pub async fn open_store(
    kind: StoreKind,
    settings: &Settings,
) -> Result<Arc<dyn Store>, SetupError> {
    match kind {
        StoreKind::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreKind::Cookie => Err(SetupError::NoStore),
        StoreKind::Sqlite => {
            if let Some(folder) = settings.sqlite_path.parent() {
                std::fs::create_dir_all(folder).map_err(|error| SetupError::store(kind, error))?;
            }
            let mut options = sessile_sql::SqliteStore::options();
            if let Some(table) = &settings.table {
                options = options.table(table);
            }
            let store = if settings.sqlite_pragmas.is_empty() {
                options.open(&settings.sqlite_path).await
            } else {
                options.from_pool(sqlite_pool(settings).await?).await
            }
            .map_err(|error| SetupError::store(kind, error))?;
            Ok(Arc::new(store))
        }
        StoreKind::Postgres => postgres(settings).await,
        StoreKind::Mysql => mysql(settings).await,
        StoreKind::Redis => redis(settings).await,
    }
}

/// The pool `SqliteStoreOptions::open` makes (WAL, `synchronous=NORMAL`, foreign keys, 5 s busy
/// timeout, 8 connections, 5 s acquire timeout, no test on checkout) plus `$SQLITE_PRAGMAS`.
async fn sqlite_pool(settings: &Settings) -> Result<sqlx::SqlitePool, SetupError> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let mut connect = SqliteConnectOptions::new()
        .filename(&settings.sqlite_path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(5));
    for (name, value) in &settings.sqlite_pragmas {
        connect = connect.pragma(name.clone(), value.clone());
    }
    SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .test_before_acquire(false)
        .connect_with(connect)
        .await
        .map_err(|error| SetupError::store(StoreKind::Sqlite, error))
}

#[cfg(feature = "postgres")]
async fn postgres(settings: &Settings) -> Result<Arc<dyn Store>, SetupError> {
    let mut options = sessile_sql::PostgresStore::options();
    if let Some(table) = &settings.table {
        options = options.table(table);
    }
    let store = options
        .connect(&settings.database_url)
        .await
        .map_err(|error| SetupError::store(StoreKind::Postgres, error))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_settings: &Settings) -> Result<Arc<dyn Store>, SetupError> {
    Err(SetupError::NotCompiled {
        store: "postgres",
        feature: "postgres",
    })
}

#[cfg(feature = "mysql")]
async fn mysql(settings: &Settings) -> Result<Arc<dyn Store>, SetupError> {
    let mut options = sessile_sql::MySqlStore::options();
    if let Some(table) = &settings.table {
        options = options.table(table);
    }
    let store = options
        .connect(&settings.mysql_url)
        .await
        .map_err(|error| SetupError::store(StoreKind::Mysql, error))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "mysql"))]
async fn mysql(_settings: &Settings) -> Result<Arc<dyn Store>, SetupError> {
    Err(SetupError::NotCompiled {
        store: "mysql",
        feature: "mysql",
    })
}

#[cfg(feature = "redis")]
async fn redis(settings: &Settings) -> Result<Arc<dyn Store>, SetupError> {
    let mut builder = sessile_redis::RedisStore::builder();
    if let Some(prefix) = &settings.redis_prefix {
        builder = builder.key_prefix(prefix);
    }
    let store = builder
        .connect(&settings.redis_url)
        .await
        .map_err(|error| SetupError::store(StoreKind::Redis, error))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
async fn redis(_settings: &Settings) -> Result<Arc<dyn Store>, SetupError> {
    Err(SetupError::NotCompiled {
        store: "redis",
        feature: "redis",
    })
}

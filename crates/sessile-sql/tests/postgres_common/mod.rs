//! Connecting the PostgreSQL tests to the server, and the axum app the HTTP tests run.
//!
//! The server comes from `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! A test that cannot reach it fails, naming the command that starts it: nothing skips.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use sessile::SessionManager;
use sessile_axum::{Error, Session, SessionLayer};
use sessile_sql::{PostgresStore, PostgresStoreOptions};
use sqlx::PgPool;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Schema of every table the tests create, so they never touch an application's tables.
pub const TEST_SCHEMA: &str = "sessile_test";

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

fn unreachable(error: impl std::fmt::Display) -> ! {
    panic!(
        "cannot use PostgreSQL at {} ({error}); start it with `scripts/services` \
         or point DATABASE_URL at a server",
        database_url()
    )
}

/// A store on `table` in the test schema, migrated.
pub async fn connect(table: &str, options: PostgresStoreOptions) -> PostgresStore {
    options
        .schema(TEST_SCHEMA)
        .table(table)
        .connect(&database_url())
        .await
        .unwrap_or_else(|error| unreachable(error))
}

/// A plain pool for the tests' own SQL.
pub async fn admin_pool() -> PgPool {
    PgPool::connect(&database_url())
        .await
        .unwrap_or_else(|error| unreachable(error))
}

/// Drops `table` (and its versions table) from the test schema, so a test starts from nothing.
pub async fn drop_table(pool: &PgPool, table: &str) {
    for name in [table.to_owned(), format!("{table}_schema_versions")] {
        sqlx::query(&format!(
            "DROP TABLE IF EXISTS \"{TEST_SCHEMA}\".\"{name}\""
        ))
        .execute(pool)
        .await
        .expect("drop a test table");
    }
}

async fn set(
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Result<&'static str, Error> {
    let key = query.get("k").map_or("", String::as_str);
    session.insert(key, true)?;
    Ok("set")
}

async fn count(session: Session) -> Result<String, Error> {
    Ok(session.increment("count", 1).await?.to_string())
}

async fn keys(session: Session) -> Result<String, Error> {
    Ok(session.data().await?.len().to_string())
}

async fn get_count(session: Session) -> Result<String, Error> {
    Ok(session
        .get::<i64>("count")
        .await?
        .map_or_else(|| "none".to_owned(), |count| count.to_string()))
}

/// The test app: `/set?k=` sets key `k`, `/count` increments `count` and returns it,
/// `/keys` returns how many keys the session holds, `/get` returns `count` (or `none`).
pub fn app(manager: SessionManager) -> Router {
    Router::new()
        .route("/set", get(set))
        .route("/count", get(count))
        .route("/keys", get(keys))
        .route("/get", get(get_count))
        .layer(SessionLayer::new(manager))
}

/// Serves `app` on a free loopback port; the server runs until the runtime stops.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("the bound address");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("serve the test app");
    });
    address
}

/// The `name=value` pair of the session cookie a response set, for the `cookie` header of the
/// next requests.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.contains('=') && !pair.ends_with('='))
        .map(str::to_owned)
}

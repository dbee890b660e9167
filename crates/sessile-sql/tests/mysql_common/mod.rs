//! Connecting the MySQL/MariaDB tests to the server named by `MYSQL_URL`.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::collections::HashMap;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use sessile::{Config, Keys, SessionManager};
use sessile_axum::{Error, Session, SessionLayer};
use sessile_sql::{MySqlStore, MySqlStoreOptions};

/// The server the tests use: `MYSQL_URL`, or the MariaDB that `scripts/services` starts.
pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// A store on `table`, connected with `options`; fails the test, naming the command that starts
/// the server, when it cannot connect.
pub async fn connect(options: MySqlStoreOptions, table: &str) -> MySqlStore {
    let url = mysql_url();
    match options.table_name(table).connect(&url).await {
        Ok(store) => store,
        Err(error) => panic!(
            "cannot connect to MySQL/MariaDB at {url} ({error}); start it with `scripts/services` \
             or point MYSQL_URL at a server"
        ),
    }
}

/// Drops `table` and its schema-version rows, so a test starts from nothing.
pub async fn drop_table(store: &MySqlStore, table: &str) {
    sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`"))
        .execute(store.pool())
        .await
        .expect("drop the test table");
    sqlx::query("DELETE FROM sessile_schema_versions WHERE table_name = ?")
        .bind(table)
        .execute(store.pool())
        .await
        .expect("forget the test table's schema versions");
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

async fn keys(session: Session) -> Result<Json<Vec<String>>, Error> {
    Ok(Json(session.data().await?.keys().cloned().collect()))
}

async fn get_count(session: Session) -> Result<String, Error> {
    Ok(session
        .get::<i64>("count")
        .await?
        .map_or_else(|| "none".to_owned(), |count| count.to_string()))
}

/// The test app: `/set?k=` sets key `k` to `true`, `/count` increments `count` and returns it,
/// `/keys` lists the session's keys, `/get` returns `count` (or `none`).
pub fn app(manager: SessionManager) -> Router {
    Router::new()
        .route("/set", get(set))
        .route("/count", get(count))
        .route("/keys", get(keys))
        .route("/get", get(get_count))
        .layer(SessionLayer::new(manager))
}

/// An app instance on its own pool of `table`, signing with `keys`, served on a free loopback
/// port until the runtime stops; its base URL.
pub async fn spawn_instance(options: MySqlStoreOptions, table: &str, keys: Keys) -> String {
    let store = connect(options, table).await;
    let manager = SessionManager::new(store, Config::new(keys).with_secure(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("the bound address");
    tokio::spawn(async move {
        axum::serve(listener, app(manager))
            .await
            .expect("serve the test app");
    });
    format!("http://{address}")
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
        .find(|pair| pair.starts_with("id=") && pair.len() > "id=".len())
        .map(str::to_owned)
}

/// A new session on `base`, created by setting key `seed`; its cookie.
pub async fn new_session(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/set?k=seed"))
        .send()
        .await
        .expect("create a session");
    assert_eq!(response.status(), 200, "creating the session");
    session_cookie(&response).expect("a new session sets its cookie")
}

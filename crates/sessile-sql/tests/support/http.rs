//! The axum app the HTTP tests run over a real store, and a client's view of it.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use sessile::{Config, CookieConfig, Keys, SessionManager, SignedIds, Store};
use sessile_axum::{Error, Session, SessionLayer};
use tokio::task::JoinSet;

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
/// `/keys` lists the session's keys as JSON, `/get` returns `count` (or `none`).
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

/// The bound on each store call in these apps, and on each statement of the stores the
/// two-instance tests give them. They test that no concurrent write is lost, not how long one
/// waits: 200 writes of one session's row run one after another in the database, and on a
/// loaded CI machine (commits waiting on a shared disk, a table dropped beside them) the last of
/// them can wait, pool queue included, longer than the default 5 s. The timeouts themselves are
/// tested by the store and fault tests.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(60);

/// An app instance on `store`, signing with `keys`, served on a free loopback port until the
/// runtime stops; its base URL.
pub async fn spawn_instance(store: impl Store, keys: Keys) -> String {
    let config = Config::builder()
        .store_timeout(STORE_TIMEOUT)
        .build()
        .expect("a valid config");
    let manager = SessionManager::new(
        store,
        SignedIds::new(keys).with_cookie(CookieConfig::builder().secure(false).build().unwrap()),
        config,
    );
    format!("http://{}", serve(app(manager)).await)
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

/// GETs `url` with the session `cookie`, if any; the status and the body.
pub async fn get_text(client: &reqwest::Client, url: &str, cookie: Option<&str>) -> (u16, String) {
    let mut request = client.get(url);
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    // A failed request (connection reset, no answer) would mean the app panicked or hung: the
    // clients' timeouts are far above every store timeout, so it is a failure, not a status.
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("the app answers every request: {url}: {error}"));
    let status = response.status().as_u16();
    (status, response.text().await.expect("response body"))
}

/// Two app instances, each with its own pool and session layer on one shared table, take
/// `requests` concurrent requests for one session, spread across both over real HTTP: every
/// key set persists, and every increment sees a value of its own.
pub async fn two_instances_share_one_session(instances: &[String; 2], requests: usize) {
    let client = reqwest::Client::new();

    // Every request sets its own key of the one session, half through each instance.
    let cookie = new_session(&client, &instances[0]).await;
    let mut sets = JoinSet::new();
    for index in 0..requests {
        let url = format!("{}/set?k=key{index}", instances[index % 2]);
        let (client, cookie) = (client.clone(), cookie.clone());
        sets.spawn(async move { (url.clone(), get_text(&client, &url, Some(&cookie)).await) });
    }
    while let Some(result) = sets.join_next().await {
        let (url, (status, body)) = result.expect("the request task");
        assert_eq!(status, 200, "every set succeeds: {url} answered {body:?}");
    }
    let (status, body) = get_text(&client, &format!("{}/keys", instances[1]), Some(&cookie)).await;
    assert_eq!(status, 200);
    let stored: BTreeSet<String> = serde_json::from_str(&body).expect("the keys as JSON");
    let expected: BTreeSet<String> = (0..requests)
        .map(|index| format!("key{index}"))
        .chain(["seed".to_owned()])
        .collect();
    assert_eq!(stored, expected, "every concurrent key write must persist");

    // Concurrent increments of a session started on the other instance, through both.
    let cookie = new_session(&client, &instances[1]).await;
    let mut increments = JoinSet::new();
    for index in 0..requests {
        let url = format!("{}/count", instances[index % 2]);
        let (client, cookie) = (client.clone(), cookie.clone());
        increments
            .spawn(async move { (url.clone(), get_text(&client, &url, Some(&cookie)).await) });
    }
    let mut seen = BTreeSet::new();
    while let Some(result) = increments.join_next().await {
        let (url, (status, body)) = result.expect("the request task");
        assert_eq!(
            status, 200,
            "every increment succeeds: {url} answered {body:?}"
        );
        seen.insert(body.parse::<i64>().expect("an increment returns a number"));
    }
    assert_eq!(
        seen,
        (1..=requests as i64).collect::<BTreeSet<_>>(),
        "every increment returns a distinct value"
    );
    let (status, count) = get_text(&client, &format!("{}/get", instances[0]), Some(&cookie)).await;
    assert_eq!((status, count), (200, requests.to_string()));
}

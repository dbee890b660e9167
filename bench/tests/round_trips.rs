//! Store round trips per request of the benchmark endpoints, counted with
//! `sessile::testkit::CountingStore`: the numbers BENCHMARKS.md quotes. The generic cases
//! (untouched, read, read-write, write, increment on any handler) are covered by
//! `crates/sessile-axum/tests/http.rs::store_calls_per_request`; this file pins the endpoints the
//! harness actually loads, and their answers under concurrency.

use axum::body::Body;
use axum::Router;
use http::{header, Request, StatusCode};
use sessile::testkit::{CountingStore, StoreCalls};
use sessile::{Config, Keys, MemoryStore, SealedCookies, SessionManager, SignedIds};
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    body: String,
    cookie: Option<String>,
}

async fn get(app: &Router, path: &str, cookie: Option<&str>) -> Answer {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let cookie = response.headers().get(header::SET_COOKIE).map(|value| {
        value
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    });
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    Answer {
        status,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
        cookie,
    }
}

fn counted_app() -> (Router, CountingStore<MemoryStore>) {
    let store = CountingStore::new(MemoryStore::new());
    let manager = SessionManager::new(
        store.clone(),
        SignedIds::new(Keys::generate()).with_cookie(sessile_bench::cookie()),
        Config::default(),
    );
    (sessile_bench::router(manager), store)
}

#[tokio::test]
async fn each_endpoint_costs_at_most_one_round_trip() {
    let (app, store) = counted_app();

    let first = get(&app, "/count", None).await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    let cookie = first
        .cookie
        .expect("a new session's first /count sets the cookie");
    assert_eq!(
        store.counts(),
        StoreCalls {
            create: 1,
            ..StoreCalls::default()
        },
        "a new session is created in one call, without a load"
    );

    // (path, expected body, expected calls, whether a cookie is sent back)
    let cases = [
        ("/plain", "ok", StoreCalls::default()),
        (
            "/count",
            "2",
            StoreCalls {
                increment: 1,
                ..StoreCalls::default()
            },
        ),
        (
            "/set?k=k7",
            "ok",
            StoreCalls {
                update: 1,
                ..StoreCalls::default()
            },
        ),
        (
            "/keys?n=10",
            "1",
            StoreCalls {
                load: 1,
                ..StoreCalls::default()
            },
        ),
    ];
    for (path, body, calls) in cases {
        store.reset();
        let answer = get(&app, path, Some(&cookie)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.body, body, "{path}");
        assert_eq!(store.counts(), calls, "{path}");
        assert_eq!(
            answer.cookie, None,
            "{path} on a live session sends no cookie"
        );
    }

    store.reset();
    let plain = get(&app, "/plain", None).await;
    assert_eq!((plain.body.as_str(), plain.cookie), ("ok", None));
    assert_eq!(
        store.counts(),
        StoreCalls::default(),
        "/plain without a cookie"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sets_and_counts_on_one_session_all_land() {
    const REQUESTS: usize = 200;
    let (app, _store) = counted_app();
    let cookie = get(&app, "/count", None).await.cookie.unwrap();

    let sets = (0..REQUESTS).map(|index| {
        let (app, cookie) = (app.clone(), cookie.clone());
        tokio::spawn(async move { get(&app, &format!("/set?k=k{index}"), Some(&cookie)).await })
    });
    for set in sets.collect::<Vec<_>>() {
        assert_eq!(set.await.unwrap().status, StatusCode::OK);
    }
    let keys = get(&app, &format!("/keys?n={REQUESTS}"), Some(&cookie)).await;
    assert_eq!(keys.body, REQUESTS.to_string());

    let counts = (0..REQUESTS).map(|_| {
        let (app, cookie) = (app.clone(), cookie.clone());
        tokio::spawn(async move { get(&app, "/count", Some(&cookie)).await })
    });
    for count in counts.collect::<Vec<_>>() {
        assert_eq!(count.await.unwrap().status, StatusCode::OK);
    }
    let last = get(&app, "/count", Some(&cookie)).await;
    assert_eq!(last.body, (REQUESTS + 2).to_string());
}

#[tokio::test]
async fn keys_without_n_checks_the_probe_s_200_keys() {
    let (app, _store) = counted_app();
    let cookie = get(&app, "/set?k=k199", None).await.cookie.unwrap();
    get(&app, "/set?k=k200", Some(&cookie)).await;
    assert_eq!(get(&app, "/keys", Some(&cookie)).await.body, "1");
    assert_eq!(get(&app, "/keys?n=201", Some(&cookie)).await.body, "2");
}

#[tokio::test]
async fn the_cookie_store_counts_in_the_cookie() {
    let manager = SessionManager::client_side(
        SealedCookies::new(Keys::generate()).with_cookie(sessile_bench::cookie()),
        Config::default(),
    );
    let app = sessile_bench::router(manager);
    let first = get(&app, "/count", None).await;
    let cookie = first.cookie.unwrap();
    let second = get(&app, "/count", Some(&cookie)).await;
    assert_eq!(second.body, "2");
    assert!(second.cookie.is_some(), "each write re-seals the cookie");
}

#[test]
fn store_names_round_trip_and_unknown_ones_are_refused() {
    for kind in sessile_bench::StoreKind::ALL {
        assert_eq!(
            kind.name().parse::<sessile_bench::StoreKind>().unwrap(),
            kind
        );
    }
    let error = "mongodb".parse::<sessile_bench::StoreKind>().unwrap_err();
    assert!(error.to_string().contains("unknown store \"mongodb\""));
}

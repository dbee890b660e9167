//! The actix-web rows (`sessile-bench actix-<store>`) serve the harness's contract as the axum
//! rows do: `/count` counts per session, `/set` and `/keys` agree, `/plain` leaves the session
//! alone.

use actix_web::http::header;
use actix_web::test as actix_test;
use actix_web::App;
use sessile::{Config, Keys, MemoryStore, SealedCookies, SessionManager, SignedIds};
use sessile_actix::SessionMiddleware;

fn managers() -> [SessionManager; 2] {
    [
        SessionManager::new(
            MemoryStore::new(),
            SignedIds::new(Keys::generate()).with_cookie(sessile_bench::cookie()),
            Config::default(),
        ),
        SessionManager::client_side(
            SealedCookies::new(Keys::generate()).with_cookie(sessile_bench::cookie()),
            Config::default(),
        ),
    ]
}

/// GETs `path` with the session cookie, keeps any cookie the answer sets (the cookie store sets
/// one on every write) and gives the body. (A macro: the request type is actix-http's.)
macro_rules! get {
    ($app:expr, $cookie:expr, $path:expr) => {{
        let mut request = actix_test::TestRequest::get().uri($path);
        if !$cookie.is_empty() {
            request = request.insert_header((header::COOKIE, $cookie.clone()));
        }
        let response = actix_test::call_service($app, request.to_request()).await;
        if let Some(issued) = response.headers().get(header::SET_COOKIE) {
            $cookie = issued
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
        }
        String::from_utf8(actix_test::read_body(response).await.to_vec()).unwrap()
    }};
}

#[test]
fn the_four_endpoints_keep_the_contract_on_memory_and_cookie() {
    actix_web::rt::System::new().block_on(async {
        for manager in managers() {
            let app = actix_test::init_service(
                App::new()
                    .wrap(SessionMiddleware::new(manager))
                    .configure(sessile_bench::actix::routes),
            )
            .await;
            let mut cookie = String::new();
            assert_eq!(get!(&app, cookie, "/count"), "1");
            assert!(!cookie.is_empty(), "a new session sets its cookie");
            assert_eq!(get!(&app, cookie, "/count"), "2");
            assert_eq!(get!(&app, cookie, "/plain"), "ok");
            assert_eq!(get!(&app, cookie, "/set?k=k3"), "ok");
            assert_eq!(get!(&app, cookie, "/keys?n=4"), "1");
            assert_eq!(get!(&app, cookie, "/keys?n=3"), "0");
            assert_eq!(get!(&app, cookie, "/count"), "3");
        }
    });
}
